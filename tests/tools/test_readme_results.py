"""The measured numbers of the README (its headline table) and of the site's page of the default
scale (every scenario's table, the default-scale table) are rewritten from one sweep, between their
markers, and nowhere else; the page's reST shows the runs' text as it is."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import docutils.core
import docutils.nodes
import numpy as np
import pytest
from conftest import trainer_for  # noqa: F401  (conftest first: it registers the schemas)
from selection_records import selection

from ssibench.leaderboard.markdown import escape
from ssibench.results import schema as results_io
from ssibench.tools import readme_results
from ssibench.tools.readme_results import TUNED


def _write(folder, loss, kind, physics, psnr, seed=0, label=None, trial=None, criterion=0.1):
    psnr = np.full(6, psnr) + np.linspace(0, 0.5, 6)
    results = {
        "loss": loss, "label": label or loss.upper(), "kind": kind, "physics": physics, "dataset": "mni152",
        "seed": seed, "epochs": 20, "status": "ok", "reason": None,
        "metrics": {"PSNR": {"mean": float(psnr.mean()), "std": float(psnr.std())}, "SSIM": {"mean": 0.5, "std": 0.1}},
        "zero_filled": {"PSNR": {"mean": 19.0, "std": 1.0}, "SSIM": {"mean": 0.4, "std": 0.1}},
        "per_image": {"PSNR": psnr.tolist(), "SSIM": [0.5] * 6}, "n_test": 6, "train_seconds": 60.0,
        "eval_seconds": 1.0, "device": "cpu", "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"},
        "cost": {"device": "CPU", "device_type": "cpu", "train_seconds": 60.0,
                 "steps": 540 if kind != "no-learning" else 0, "seconds_per_step": 0.11, "peak_memory_mb": 900.0},
        "test_set": f"{physics}-{seed}",
        "test_signature": {"y": {"shape": [6, 2, 8, 8], "norm": 1.0, "projections": [0.5] * 8}},
    }  # fmt: skip
    results |= selection(results)
    results["selection"]["val_kspace"]["criterion"] = criterion
    if trial is not None:  # a run of a tuning sweep
        results["config"] = {"tune": {"trial": trial, "trials": 4, "values": {"trainer.optimizer.lr": 10.0 ** -trial}}}
    path = folder / f"{loss}_{physics}_seed{seed}" / ("" if trial is None else f"trial{trial}")
    path.mkdir(parents=True)
    results_io.write(path / "results.json", results)


def _sections(names, rst: bool) -> str:
    """Each section between its markers: HTML comments in the README, reST comments on the page."""
    begin, end = ("<!-- readme_results:{} -->", "<!-- /readme_results:{} -->")
    if rst:
        begin, end = ".. readme_results:{}\n", ".. /readme_results:{}"
    return "".join(f"{begin.format(n)}\nold {n}\n\n{end.format(n)}\n\n" for n in names)


@pytest.fixture
def files(tmp_path, monkeypatch):
    sweep = tmp_path / "sweep"
    for physics in ("mri", "noisy"):
        _write(sweep, "zero_filled", "no-learning", physics, 19.0)
        _write(sweep, "mc", "self-supervised", physics, 19.2)
        _write(sweep, "sup", "supervised", physics, 26.0)
    record = {"command": "python launch.py -m +sweep=leaderboard seed=0", "wall_seconds": 3600.0, "exit_code": 0,
              "machine": "a CPU", "python": "3.11", "torch": "2", "date": "2026-11-28"}  # fmt: skip
    (sweep / readme_results.SWEEP_RECORD).write_text(json.dumps(record))
    readme, page = tmp_path / "README.md", tmp_path / "docs" / "default_scale.rst"
    page.parent.mkdir()
    readme_sections, page_sections = (*readme_results.README_SECTIONS, TUNED), (*readme_results.PAGE_SECTIONS, TUNED)
    readme.write_text(f"# Title\n\nkept before\n\n{_sections(readme_sections, rst=False)}kept after\n")
    page.write_text(f"Title\n=====\n\nkept before\n\n{_sections(page_sections, rst=True)}kept after\n")
    monkeypatch.setattr(readme_results, "README", readme)
    monkeypatch.setattr(readme_results, "PAGE", page)
    monkeypatch.setattr(readme_results, "FIGURES", tmp_path / "docs" / "embedded")
    monkeypatch.setattr(readme_results, "EMBEDDED", tmp_path / "shipped")  # never the package's own
    return readme, page, sweep


def _doctree(text: str):
    """The page as docutils parses it, with every problem it reports (warnings and up)."""
    tree = docutils.core.publish_doctree(text, settings_overrides={"report_level": 5, "halt_level": 5})
    problems = [m.astext() for m in tree.findall(docutils.nodes.system_message) if m["level"] >= 2]
    return tree, problems


def test_the_sections_are_rewritten_from_the_sweep_and_nothing_else(files):
    readme, page, sweep = files
    assert readme_results.main(["--sweep", str(sweep)]) == 0

    text = readme.read_text()  # the headline: scenario mri, its PSNR figure, no notes
    assert text.startswith("# Title\n\nkept before\n") and text.rstrip().endswith("kept after")
    assert "old headline" not in text and "20 epochs, seed 0, 60 minutes wall time in all" in text
    assert "### Scenario `mri` (mni152)" in text and "Scenario `noisy`" not in text
    assert "| 3 | SUP | 26.25 | 0.5000 | 1 |" in text and "Mean ± standard error over seeds" not in text
    assert "![psnr_mri](docs/embedded/psnr_mri.png)" in text and "reconstructions_" not in text

    text = page.read_text()  # every scenario, the notes, every figure, the default-scale table
    assert text.startswith("Title\n=====\n\nkept before\n") and text.rstrip().endswith("kept after")
    assert "old embedded-leaderboard" not in text and "old default-scale" not in text
    assert "Scenario ``mri`` (mni152)\n~~~~~~~~~~~~~~~~~~~~~~~~~\n" in text and "Scenario ``noisy`` (mni152)\n" in text
    assert "20 epochs, seed 0, 60 minutes wall time in all" in text and "Mean ± standard error over seeds" in text
    for command, *cells in (("python launch.py loss=sup", "26.25 ± 0.2", "0.500 ± 0.10", "20 epochs, 60 s, 540 steps"),
                           ("python launch.py loss=zero_filled", "19.25 ± 0.2", "0.500 ± 0.10", "none")):  # fmt: skip
        assert f"   * - ``{command}``\n" + "".join(f"     - {cell}\n" for cell in cells) in text
    assert ".. image:: embedded/psnr_mri.png\n" in text and ".. image:: embedded/psnr_noisy.png\n" in text
    assert (page.parent / "embedded" / "psnr_mri.png").is_file()
    tree, problems = _doctree(text)
    assert not problems, problems
    comments = {c.astext() for c in tree.findall(docutils.nodes.comment)}  # the markers: not shown on the page
    assert comments == {f"{end}readme_results:{n}" for n in (*readme_results.PAGE_SECTIONS, TUNED) for end in ("", "/")}

    before = readme.read_text(), page.read_text()
    assert readme_results.main(["--sweep", str(sweep)]) == 0  # again: the same text
    assert (readme.read_text(), page.read_text()) == before


def test_text_from_the_runs_shows_on_the_page_as_it_is(files):
    readme, page, sweep = files
    label = "1. *My* loss | x_ <y> \\ z::"  # a list, emphasis, a cell, a link, a literal block
    _write(sweep, "mine", "self-supervised", "mri", 20.0, label=label)
    assert readme_results.main(["--sweep", str(sweep)]) == 0
    tree, problems = _doctree(page.read_text())
    assert not problems, problems
    rows = [row for row in tree.findall(docutils.nodes.row) if len(row.children) > 2]
    assert label in [row.children[1].astext() for row in rows]
    assert f"| {escape(label)} | 20.25 |" in readme.read_text()  # the leaderboard's Markdown, as it escapes it


@pytest.mark.parametrize("which", ["README", "PAGE"])
def test_files_without_the_markers_are_left_alone(files, which):
    readme, page, sweep = files
    path = getattr(readme_results, which)
    path.write_text("# Title\n")
    before = readme.read_text(), page.read_text()
    name = "headline" if which == "README" else "embedded-leaderboard"
    with pytest.raises(SystemExit, match=f"{path.name} needs one (<!-- |\\.\\. )readme_results:{name}"):
        readme_results.main(["--sweep", str(sweep)])
    assert (readme.read_text(), page.read_text()) == before  # neither file
    assert not readme_results.EMBEDDED.exists() and not readme_results.FIGURES.exists()  # nor the runs, figures


def test_a_sweep_made_in_parts_adds_each_part_and_refuses_another_code(tmp_path, monkeypatch, capsys):
    """The shipped sweep may run in parts (``--run --into``): a stopped part (SIGTERM) is recorded as
    such and rewrites nothing; the next part adds its wall time; a part with other code is refused first."""
    sweep = tmp_path / "sweep"
    regenerated = []
    monkeypatch.setattr(readme_results, "regenerate", lambda *args: regenerated.append(args[0]))
    pause = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(3)); time.sleep(60)"
    monkeypatch.setattr(readme_results, "sweep_command", lambda *args: [sys.executable, "-c", pause, "x", "y"])
    threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM)).start()  # what a stopped job or a Ctrl-C sends
    assert readme_results.main(["--run", "--into", str(sweep), "--seeds", "0,1,2"]) == 130
    assert "continue the sweep with --run --into" in capsys.readouterr().out and not regenerated
    (part,) = json.loads((sweep / readme_results.SWEEP_RECORD).read_text())["parts"]
    assert part["stopped"] and part["exit_code"] == 3 and 1.5 < part["wall_seconds"] < 30  # the group got SIGTERM

    monkeypatch.setattr(readme_results, "sweep_command", lambda *args: [sys.executable, "-c", "", "x", "y"])
    assert readme_results.main(["--run", "--into", str(sweep), "--seeds", "0,1,2"]) == 0
    record = json.loads((sweep / readme_results.SWEEP_RECORD).read_text())
    assert [p["stopped"] for p in record["parts"]] == [True, False] and regenerated == [sweep]
    assert record["wall_seconds"] == pytest.approx(sum(p["wall_seconds"] for p in record["parts"]))

    before = (sweep / readme_results.SWEEP_RECORD).read_text()
    monkeypatch.setattr(readme_results, "sweep_code", lambda: "edited")
    with pytest.raises(SystemExit, match="begun with another code"):
        readme_results.main(["--run", "--into", str(sweep), "--seeds", "0,1,2"])
    assert (sweep / readme_results.SWEEP_RECORD).read_text() == before and regenerated == [sweep]


WORKER = """
import os, signal, sys, time
def stopping(signum, frame):  # a job that notes SIGTERM, stops at a step and hands the signal back
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.signal(signal.SIGTERM, stopping)
open(sys.argv[1], "w").write(str(os.getpid()))
while True:
    time.sleep(0.05)  # then idle, as a joblib worker between jobs
"""


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the worker's state in /proc (Linux)")
def test_a_stopped_part_leaves_no_idle_worker_behind(tmp_path):
    """launch.py ends at the first SIGTERM; its joblib workers outlive it, idle, unless the group is
    signalled until it is empty."""
    pid_file = tmp_path / "worker.pid"
    worker = [sys.executable, "-c", WORKER, str(pid_file)]
    launcher = f"import subprocess, time; subprocess.Popen({worker!r}); time.sleep(60)"  # dies at the first SIGTERM

    def stop_once_the_worker_runs():
        while not pid_file.is_file() or not pid_file.read_text():
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_the_worker_runs, daemon=True).start()
    exit_code, stopped = readme_results._run_until_stopped([sys.executable, "-c", launcher], dict(os.environ))
    assert stopped and exit_code == -signal.SIGTERM
    assert not _running(int(pid_file.read_text()))


def test_a_part_killed_outright_is_timed_by_the_next_from_the_files_it_wrote(tmp_path, monkeypatch):
    """A part killed before it could close its record (SIGKILL, the machine going down) stays open in
    it; the next part closes it, timed from its start to the last file the sweep wrote, and the sweep's
    wall time counts it. A sweep folder without a record is refused: its time cannot be known."""
    sweep = tmp_path / "sweep"
    monkeypatch.setattr(readme_results, "regenerate", lambda *args: None)

    def killed(command, env):  # the jobs write for 600 s, then the part dies without a word
        (sweep / "multirun.yaml").write_text("")
        os.utime(sweep / "multirun.yaml", (time.time() + 600, time.time() + 600))
        raise SystemExit("killed")

    monkeypatch.setattr(readme_results, "_run_until_stopped", killed)
    with pytest.raises(SystemExit, match="killed"):
        readme_results.main(["--run", "--into", str(sweep)])
    (part,) = json.loads((sweep / readme_results.SWEEP_RECORD).read_text())["parts"]
    assert part["open"]

    monkeypatch.setattr(readme_results, "_run_until_stopped", lambda command, env: (0, False))
    assert readme_results.main(["--run", "--into", str(sweep)]) == 0
    record = json.loads((sweep / readme_results.SWEEP_RECORD).read_text())
    assert [bool(p.get("killed")) for p in record["parts"]] == [True, False]
    killed_seconds = record["parts"][0]["wall_seconds"]
    assert 599 < killed_seconds < 610 and record["wall_seconds"] >= killed_seconds
    assert "2 parts; 1 killed" in readme_results._measured(record, [{"epochs": 20, "seed": 0}])
    cost = {"device_type": "cpu", "train_seconds": 60.0}
    moved = [{"epochs": 20, "seed": 0, "cost": {**cost, "device": cpu}} for cpu in ("AMD EPYC", "Xeon", "Xeon")]
    assert "the trained runs on AMD EPYC (1) and Xeon (2)" in readme_results._measured(record, moved)
    assert "several machines" not in readme_results._measured(record, moved[1:])

    (sweep / readme_results.SWEEP_RECORD).unlink()
    with pytest.raises(SystemExit, match="without readme_results.json"):
        readme_results.main(["--run", "--into", str(sweep)])
    assert not (sweep / readme_results.SWEEP_RECORD).exists()


def test_the_tuned_table_reports_each_trial_chosen_on_validation_in_its_own_section(files, tmp_path):
    readme, page, _ = files
    sweep = tmp_path / "tuned"
    # trial 1 has the lowest held-out k-space error; trial 2 the best test PSNR (what choosing on test would take)
    for trial, (criterion, psnr) in enumerate([(0.3, 21.0), (0.1, 20.0), (0.2, 23.0), (0.4, 19.0)]):
        _write(sweep, "mc", "self-supervised", "mri", psnr, trial=trial, criterion=criterion)
    _write(sweep, "zero_filled", "no-learning", "mri", 19.0, trial=0)
    record = {"command": "python launch.py -m +sweep=leaderboard physics=mri +tune=quasirandom tune.trials=4 seed=0",
              "wall_seconds": 600.0, "exit_code": 0, "machine": "a CPU", "python": "3.11", "torch": "2",
              "date": "2026-12-07"}  # fmt: skip
    (sweep / readme_results.SWEEP_RECORD).write_text(json.dumps(record))
    untouched = readme_results.replace_section(readme.read_text(), TUNED, "", readme)  # all but its section
    assert readme_results.main(["--tuned", "--sweep", str(sweep)]) == 0
    text = readme.read_text()
    assert "| MC | 20.25 | 0.5000 | 1 | 1 | trainer.optimizer.lr=0.1 |" in text and "Tuned: 4 trials" in text
    assert ": 5 jobs, 20 epochs" in text  # every trial ran, not only the chosen ones
    assert "old headline" in text and "old tuned" not in text  # its own section only
    assert readme_results.replace_section(text, TUNED, "", readme) == untouched
    tree, problems = _doctree(page.read_text())
    assert not problems and "old embedded-leaderboard" in page.read_text() and "Tuned: 4 trials" in page.read_text()
    with pytest.raises(SystemExit, match="holds no tuning sweep"):  # an untuned sweep given to --tuned
        readme_results.main(["--tuned", "--sweep", str(files[2])])
