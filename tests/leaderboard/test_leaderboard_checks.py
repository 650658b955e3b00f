"""What the leaderboard checks of its input before ranking: test sets agreed on by fingerprint *and* by the
parameters that make them, each run counted once, and a results.json it cannot read named in one line."""

from __future__ import annotations

import copy
import csv
import json
import shutil

import numpy as np
import pytest
from selection_records import selection

from ssibench.folders import RunDir
from ssibench.leaderboard import shipped, test_sets  # the module: pytest would collect a test_* function imported
from ssibench.leaderboard.cli import main
from ssibench.results import schema as results_io

SHIPPED_RUN = shipped.EMBEDDED / "ei_mri_seed0"  # a real run of the README's leaderboard, only read
DEFAULT = results_io.read(shipped.EMBEDDED / "mc_mri_seed0" / "results.json")["config"]  # as a sweep records it


def _smoke(config: dict) -> dict:
    """``config`` as debug=smoke changes it: 32×32 images, 4 test images."""
    smoke = copy.deepcopy(config)
    smoke["img_size"], smoke["split"]["max_test"] = 32, 4
    return smoke


def _write(folder, loss, n_test=27, config=DEFAULT, test_set="a" * 64, seed=0):
    psnr = np.linspace(25, 30, n_test) + (loss == "sup")
    results = {
        "loss": loss, "label": loss.upper(), "kind": "supervised" if loss == "sup" else "self-supervised",
        "physics": "mri", "dataset": "mni152", "seed": seed, "epochs": 1, "status": "ok", "reason": None,
        "metrics": {"PSNR": {"mean": float(psnr.mean()), "std": float(psnr.std())}},
        "zero_filled": {"PSNR": {"mean": 20.0, "std": 1.0}}, "per_image": {"PSNR": psnr.tolist()},
        "n_test": n_test, "train_seconds": 1.0, "eval_seconds": 0.1, "device": "cpu",
        "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"}, "config": config,
    }
    results |= selection(results)
    if test_set is not None:
        results["test_set"] = test_set
    path = folder / f"{loss}_mri_seed{seed}"
    path.mkdir(parents=True)
    results_io.write(RunDir(path).results, results)
    return path


def _refused(capsys, *argv) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert len(error.splitlines()) == 1 and "Traceback" not in captured.err + captured.out, captured.err
    return error


def test_the_parameters_are_read_from_the_recorded_config_with_its_interpolations_resolved():
    parameters = test_sets.test_set_parameters(results_io.read(RunDir(SHIPPED_RUN).results))
    assert parameters["img_size"] == 64 and parameters["split.max_test"] is None and parameters["n_test"] == 27
    assert parameters["physics.generator.acceleration"] == 6  # ${physics.acceleration} in the recorded config
    assert "dataset.root" not in parameters and parameters["seed"] == 0  # the data's folder is not the data
    assert test_sets.test_set_parameters({"n_test": 4}) == {"n_test": 4}  # made before results recorded a config


def test_a_forged_fingerprint_that_the_runs_own_config_contradicts_is_refused_in_one_line(tmp_path, capsys):
    """A smoke run (32×32, 4 test images) whose results.json was given the shipped runs' test_set string."""
    forged = tmp_path / "forged"
    shutil.copytree(SHIPPED_RUN, forged)
    results = results_io.read(RunDir(forged).results)
    psnr = results["per_image"]["PSNR"][:4]
    results_io.write(RunDir(forged).results, results | {
        "config": _smoke(results["config"]), "n_test": 4, "per_image": {"PSNR": psnr},
        "metrics": {"PSNR": {"mean": float(np.mean(psnr)), "std": float(np.std(psnr))}},
    })  # fmt: skip
    error = _refused(capsys, forged, "--against", "embedded", "--out", tmp_path / "out")
    for part in (str(forged), "records the test set of the shipped runs of scenario mri, seed 0", "img_size 64 vs 32",
                 "split.max_test None vs 4", "n_test 27 vs 4", "default scale"):
        assert part in error, part
    assert not (tmp_path / "out").exists()

    # the same runs in a sweep of one's own, and against a sweep folder
    sweep = tmp_path / "sweep"
    honest = [_write(sweep, "mc"), _write(sweep, "sup")]
    smoke = _write(sweep, "vortex", n_test=4, config=_smoke(DEFAULT))  # listed after mc and sup
    error = _refused(capsys, sweep, "--out", tmp_path / "out")
    for part in (f"{honest[0]} and {smoke} record the same test set (aaaaaaaaaaaa)", "img_size 64 vs 32",
                 "split.max_test None vs 4", "n_test 27 vs 4", "leave that run out"):
        assert part in error, part
    shutil.move(smoke, tmp_path / "mine" / smoke.name)
    error = _refused(capsys, tmp_path / "mine", "--against", sweep, "--out", tmp_path / "out")
    assert "records the test set of the shipped runs" in error and "n_test 27 vs 4" in error
    assert not (tmp_path / "out").exists()


def test_runs_without_a_fingerprint_are_compared_by_their_parameters(tmp_path, capsys):
    _write(tmp_path, "mc", test_set=None)
    _write(tmp_path, "sup", test_set=None, n_test=4, config=_smoke(DEFAULT))
    error = _refused(capsys, tmp_path, "--out", tmp_path / "out")
    assert "were scored on different test sets: they differ in img_size 64 vs 32" in error and "n_test 27 vs 4" in error


def test_a_run_given_twice_counts_once_with_a_line_naming_it(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    mc, sup = _write(sweep, "mc"), _write(sweep, "sup")
    copied = tmp_path / "copied" / mc.name
    shutil.copytree(mc, copied)
    rerun = tmp_path / "rerun" / sup.name  # the same config, code and seed, run again into another folder
    rerun.parent.mkdir()
    shutil.copytree(sup, rerun)
    results_io.write(RunDir(rerun).results, results_io.read(RunDir(rerun).results) | {"train_seconds": 2.0})
    other_seed = _write(tmp_path / "seed1", "mc", seed=1, config=DEFAULT | {"seed": 1}, test_set="b" * 64)

    capsys.readouterr()
    given = [sweep, sweep, mc, copied.parent, rerun.parent, other_seed.parent]
    assert main([str(path) for path in given] + ["--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    twice = "was given twice (itself, or inside another folder given): counted once"
    assert printed.count(f"[leaderboard] {mc} {twice}") == 2  # as part of sweep, then alone
    assert f"[leaderboard] {sup} {twice}" in printed
    assert f"[leaderboard] {copied} is the same run as {mc} (a copy of it): left out, so that it counts once" in printed
    assert f"[leaderboard] {rerun} is the same run as {sup} (the same config, code, seed and status)" in printed
    with open(tmp_path / "out" / "leaderboard.csv") as f:
        seeds = {row["loss"]: row["n_seeds"] for row in csv.DictReader(f) if row["status"] == "ok"}
    assert seeds == {"mc": "2", "sup": "1", "zero_filled": "2"}  # seeds 0 and 1 of mc; each other run once


@pytest.mark.parametrize("damage", ["stray comma", "not the schema"])
def test_an_unreadable_results_json_is_named_in_one_line(tmp_path, capsys, damage):
    sweep, mine = tmp_path / "sweep", _write(tmp_path / "mine", "mc")
    _write(sweep, "mc")
    broken = RunDir(_write(sweep, "sup")).results
    text = broken.read_text()
    if damage == "stray comma":
        broken.write_text(text.replace('"loss": "sup",', '"loss": "sup",,'))
        reason = "(Expecting property name enclosed in double quotes: line "
    else:
        broken.write_text(json.dumps({key: value for key, value in json.loads(text).items() if key != "n_test"}))
        reason = "(results.json lacks 'n_test')"
    expected = f"{broken} is not a readable results.json {reason}"
    for argv in ([sweep], [mine, "--against", sweep]):  # given, or ranked against
        error = _refused(capsys, *argv, "--out", tmp_path / "out")
        assert expected in error and error.endswith("repair or restore it, or leave that run folder out"), error
    assert not (tmp_path / "out").exists()
