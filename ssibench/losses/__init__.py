"""Losses that deepinv lacks, one module each; every `loss=` choice is a YAML in conf/loss/."""
