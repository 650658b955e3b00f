"""ssibench: a benchmark of self-supervised losses for accelerated MRI reconstruction.

Importing it registers what Hydra needs before any of the project's configs is composed
(:func:`ssibench.config.register`), and finds the module commands of ssibench 0.1 (``python -m
ssibench.doctor``, :mod:`ssibench.cli.old_names`); nothing else. A run starts at :mod:`ssibench.run`.
"""

from pathlib import Path

from ssibench.config import register

__version__ = "0.1.0"

register()
# `python -m ssibench.doctor` and the other module commands of 0.1 keep working: ssibench/cli/old_names/.
__path__.append(str(Path(__file__).parent / "cli" / "old_names"))
