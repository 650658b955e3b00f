"""``python -m ssibench``: the ``ssibench`` command (:mod:`ssibench.cli.commands`)."""

import sys

from ssibench.cli.commands import main

sys.exit(main())
