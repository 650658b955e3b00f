"""Training a run: the trainer (deepinv's, extended through its hooks) and what it keeps: checkpoints,
random streams, precision, cost, the curves file, stop signals, progress output and W&B."""
