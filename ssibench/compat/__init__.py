"""Workarounds of library behaviours, one module per library, each naming what it fixes."""
