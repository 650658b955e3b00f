"""``python -m ssibench.bench`` (ssibench 0.1): the same as ``ssibench bench``."""

import sys

from ssibench.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
