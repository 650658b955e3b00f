"""One command: ``ssibench --help`` lists the subcommands, each runs, and the module commands of
ssibench 0.1 (``python -m ssibench.doctor`` ...) still work."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

from ssibench.cli.commands import COMMANDS, main


def _python(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_help_lists_every_subcommand_with_its_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    for name, (_, summary) in COMMANDS.items():
        assert name in shown and " ".join(summary.split()) in shown


def test_an_unknown_subcommand_is_one_line_naming_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["leaderbord"])
    assert exit_.value.code == 2
    assert "invalid choice: 'leaderbord'" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_subcommand_runs_its_tool(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: ssibench {name}")


# One module of 0.1 kept under its name and one renamed: the mechanism is the same for all (cli/old_names/);
# `python -m ssibench.leaderboard` is the leaderboard package's own (tests/leaderboard/test_leaderboard.py).
@pytest.mark.parametrize("old,new", [("doctor", "doctor"), ("demo", "demo-checkpoint")])
def test_the_module_commands_of_0_1_still_work(old, new):
    proc = _python("-m", f"ssibench.{old}", "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"usage: ssibench {new}")


def test_every_module_command_of_0_1_is_kept():
    kept = {path.stem for path in (ROOT / "ssibench" / "cli" / "old_names").glob("*.py")} - {"__init__"}
    assert kept == {"bench", "readme_results", "prepare", "doctor", "demo"}


def test_python_dash_m_ssibench_is_the_command():
    proc = _python("-m", "ssibench", "doctor", "--help")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: ssibench doctor")
