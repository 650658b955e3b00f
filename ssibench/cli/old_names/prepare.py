"""``python -m ssibench.prepare`` (ssibench 0.1): the same as ``ssibench prepare``."""

import sys

from ssibench.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
