"""``python -m ssibench.doctor`` (ssibench 0.1): the same as ``ssibench doctor``."""

import sys

from ssibench.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["doctor", *sys.argv[1:]]))
