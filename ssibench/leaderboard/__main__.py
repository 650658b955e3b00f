"""``ssibench leaderboard``: see :mod:`ssibench.leaderboard.cli`."""

import sys

from ssibench.leaderboard.cli import main

sys.exit(main())
