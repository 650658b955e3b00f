"""``python -m ssibench.demo`` (ssibench 0.1): the same as ``ssibench demo-checkpoint``."""

import sys

from ssibench.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["demo-checkpoint", *sys.argv[1:]]))
