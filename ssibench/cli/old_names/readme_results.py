"""``python -m ssibench.readme_results`` (ssibench 0.1): the same as ``ssibench readme-results``."""

import sys

from ssibench.cli.commands import main

if __name__ == "__main__":
    sys.exit(main(["readme-results", *sys.argv[1:]]))
