"""``python -m ssibench.<name>``, the module commands of ssibench 0.1, which scripts and papers cite.

``ssibench/__init__.py`` adds this folder to the package's path, so ``ssibench.doctor`` is found here
without a module of that name at the top of the package; each runs ``ssibench <name>``."""
