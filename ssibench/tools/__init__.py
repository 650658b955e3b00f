"""Maintainer tools: benchmarks of speed, the README's measured tables, the demo checkpoint."""
