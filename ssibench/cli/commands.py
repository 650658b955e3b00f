"""``ssibench``: one command whose subcommands are the project's tools (``ssibench --help`` lists them).

Runs and sweeps stay ``python launch.py`` (Hydra's app); everything else is ``ssibench <command>``,
and each command's ``--help`` says what it takes. The module commands of ssibench 0.1 (``python -m
ssibench.doctor`` ...) still work: :mod:`ssibench.cli.old_names`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module whose main(argv) runs it, what it does in one line)
COMMANDS = {
    "leaderboard": ("ssibench.leaderboard.cli", "rank the runs of sweeps: Markdown, CSV, figures, the static page"),
    "prepare": ("ssibench.data.prepare_fastmri", "make the paper's dataset file from fastMRI volumes"),
    "doctor": ("ssibench.cli.doctor", "check that this machine can run the benchmark, and where its data lives"),
    "bench": ("ssibench.tools.bench", "seconds per training step of each loss, against a bare deepinv Trainer"),
    "readme-results": ("ssibench.tools.readme_results", "run the embedded grid and write every table it measures"),
    "demo-checkpoint": ("ssibench.tools.demo_checkpoint", "make the MO-EI checkpoint that ckpt=demo loads"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(
        prog="ssibench",
        description="A benchmark of self-supervised losses for accelerated MRI reconstruction. "
        "Train and sweep with `python launch.py`; the other tools are these commands.",
        epilog="`ssibench <command> --help` says what a command takes.",
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, (_, summary) in COMMANDS.items():
        commands.add_parser(name, help=summary, add_help=False)
    if not argv or argv[0] not in COMMANDS:
        parser.parse_args(argv)  # --help, or an unknown command: argparse says so and exits
    module, _ = COMMANDS[argv[0]]
    code = importlib.import_module(module).main(argv[1:])
    return code if isinstance(code, int) else 0
