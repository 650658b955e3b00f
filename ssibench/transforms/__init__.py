"""Transforms for loss configs: ``compose`` (deepinv's ``*`` in YAML) and ``noise`` (noise of a random level)."""
