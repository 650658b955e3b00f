"""Turning a run's config into its objects: the parts it trains and scores (no I/O), and the scenarios."""
