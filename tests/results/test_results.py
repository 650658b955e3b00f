"""The results.json schema rejects what a leaderboard could not use."""

from __future__ import annotations

import copy

import pytest

from ssibench.results import schema as results_io

VALID = {
    "loss": "mc", "label": "MC", "kind": "self-supervised", "physics": "mri", "dataset": "mni152", "seed": 0, "epochs": 1,
    "status": "ok", "reason": None,
    "metrics": {"PSNR": {"mean": 30.0, "std": 1.0}},
    "zero_filled": {"PSNR": {"mean": 28.0, "std": 1.0}},
    "n_test": 4, "train_seconds": 1.5, "eval_seconds": 0.1, "device": "cpu",
    "versions": {"ssibench": "0.1.0", "deepinv": "0.5.0", "torch": "2.0"},
    "test_signature": {"y": {"shape": [4, 2, 8, 8], "norm": 3.5, "projections": [0.25, -1.5]}},
}


def test_valid_results_round_trip(tmp_path):
    path = results_io.write(tmp_path / "results.json", VALID)
    assert results_io.read(path) == VALID
    assert not list(tmp_path.glob(".results.*"))  # the temporary file was renamed


@pytest.mark.parametrize(
    "edit",
    [
        lambda r: r.pop("metrics"),
        lambda r: r.update(status="done"),
        lambda r: r.update(kind="semi"),
        lambda r: r.update(seed="0"),
        lambda r: r.update(seed=True),
        lambda r: r["metrics"]["PSNR"].pop("std"),
        lambda r: r["metrics"]["PSNR"].update(mean=float("nan")),
        lambda r: r["versions"].pop("deepinv"),
        lambda r: r.update(test_signature={}),
        lambda r: r["test_signature"]["y"].pop("norm"),
        lambda r: r["test_signature"]["y"].update(projections=["0.25"]),
        lambda r: r.update(n_val=-1),
        lambda r: r.update(validation_set=3),
    ],
    ids=["no-metrics", "bad-status", "bad-kind", "str-seed", "bool-seed", "no-std", "nan-metric", "no-deepinv-version",
         "empty-signature", "signature-without-norm", "str-projection", "negative-n_val", "validation-set-not-str"],
)
def test_invalid_results_are_refused(edit, tmp_path):
    bad = copy.deepcopy(VALID)
    edit(bad)
    with pytest.raises(ValueError, match="results.json"):
        results_io.write(tmp_path / "results.json", bad)
    assert not (tmp_path / "results.json").exists()
