"""Transforms for loss configs: ``compose`` (deepinv's ``*`` in YAML), ``noise`` (noise of a random
level) and ``cpab`` (the CPAB diffeomorphisms of MO-EI, integrated in batches)."""
