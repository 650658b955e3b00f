"""Scoring a trained model on the test set, and the reconstruction slice of the figures."""
