"""Maintainer tools: benchmarks of speed, the measured tables of the README and docs/default_scale.rst, the demo checkpoint."""
