"""Measurements given as they are (dataset=measurements, or a dataset marked `measurements: true`),
with or without ground truth."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from conftest import EXAMPLES, SELF_SUPERVISED, runnable

from ssibench.data.measurement_cache import cache_key, cache_path
from ssibench.data.pipeline import measurements
from ssibench.errors import InputError
from ssibench.folders import DataDir
from ssibench.results import schema as results_io
from ssibench.run import run


@pytest.fixture
def measurement_file(make_cfg, tmp_path):
    """``measurement_file(physics, ground_truth)``: the smoke run's simulated measurements in
    deepinv's HDF5 layout, copied; without ground truth its x_train/x_test are deleted."""

    def make(physics: str = "mri", ground_truth: bool = False) -> Path:
        cfg = make_cfg(f"physics={physics}", output_dir=tmp_path / "simulate")
        measurements(cfg)
        path = tmp_path / f"{physics}-{'x' if ground_truth else 'no-x'}.h5"
        shutil.copy(cache_path(DataDir(cfg.paths.data_dir), cache_key(cfg)), path)
        if not ground_truth:
            with h5py.File(path, "a") as f:
                del f["x_train"], f["x_test"]
        return path

    return make


def test_given_measurements_with_ground_truth_give_the_simulated_run(measurement_file, make_cfg, tmp_path):
    path = measurement_file("multicoil", ground_truth=True)
    simulated = run(make_cfg("physics=multicoil", output_dir=tmp_path / "simulated"))
    given = run(make_cfg("physics=multicoil", "dataset=measurements", f"dataset.path={path}", output_dir=tmp_path / "given"))
    assert given["dataset"] == "measurements" and given["status"] == "ok"
    for block in ("metrics", "zero_filled", "per_image", "n_test"):
        assert given[block] == simulated[block], block


SSL_SCENARIO = [(loss, "mri" if runnable(loss, "mri") else "noisy") for loss in SELF_SUPERVISED]


@pytest.mark.parametrize("loss,physics", SSL_SCENARIO, ids=[f"{l}-{p}" for l, p in SSL_SCENARIO])
def test_every_self_supervised_loss_trains_without_ground_truth(loss, physics, measurement_file, make_cfg, tmp_path):
    path = measurement_file(physics)
    results = run(make_cfg(f"loss={loss}", f"physics={physics}", "dataset=measurements", f"dataset.path={path}"))
    assert results_io.read(tmp_path / "run" / "results.json") == results
    assert results["status"] == "ok" and results["n_test"] == 4
    assert results["metrics"] == results["zero_filled"] == {} and "per_image" not in results
    assert results["reason"] == "the test data have no ground truth: PSNR, SSIM not computed"
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert rows and all(np.isfinite(float(v)) for row in rows for k, v in row.items() if k.startswith("train/"))
    assert not any(k.startswith("test/") or k.startswith("val/PSNR") for k in rows[0])
    # the ground-truth-free rule chooses on the held-out k-space; the oracle cannot, and says why
    kspace = [float(row["val/kspace"]) for row in rows]
    assert results["selection"]["val_kspace"]["epoch"] == int(np.argmin(kspace))
    assert results["selection"]["val_oracle"] is None
    assert results["selection"]["reasons"] == {"val_oracle": "the validation measurements have no ground truth"}
    state = torch.load(tmp_path / "run" / "checkpoints" / "ckp_last.pth.tar", weights_only=True)["state_dict"]
    assert all(torch.isfinite(w).all() for w in state.values())


def test_zero_filled_without_ground_truth_reports_no_metrics(measurement_file, make_cfg):
    results = run(make_cfg("loss=zero_filled", "dataset=measurements", f"dataset.path={measurement_file()}"))
    assert results["status"] == "ok" and results["metrics"] == {} and "no ground truth" in results["reason"]


def test_the_oracle_is_refused_without_ground_truth(measurement_file, make_cfg, tmp_path):
    with pytest.raises(ValueError, match="loss=sup needs ground truth, which the training data lack"):
        run(make_cfg("loss=sup", "dataset=measurements", f"dataset.path={measurement_file()}"))
    assert not (tmp_path / "run" / "results.json").exists()  # a single run's bad input leaves no record


def test_measurements_of_another_scenario_are_refused(measurement_file, make_cfg):
    path = measurement_file("mri")
    with pytest.raises(ValueError, match=r"measurements are \(2, 32, 32\) but physics=multicoil .* makes \(2, 4, 32, 32\)"):
        measurements(make_cfg("physics=multicoil", "dataset=measurements", f"dataset.path={path}"))


def test_ground_truth_for_some_test_images_only_is_refused(measurement_file, make_cfg):
    path = measurement_file(ground_truth=True)
    with h5py.File(path, "a") as f:
        f["x_test"][1] = np.nan
    with pytest.raises(ValueError, match="1 of 4 test measurements have no ground truth"):
        run(make_cfg("dataset=measurements", f"dataset.path={path}"))


def test_a_file_that_is_not_measurements_is_refused(measurement_file, make_cfg, tmp_path):
    with pytest.raises(InputError, match="nope.h5 not found: set dataset.path"):
        measurements(make_cfg("dataset=measurements", f"dataset.path={tmp_path / 'nope.h5'}"))
    path = measurement_file()
    with h5py.File(path, "a") as f:
        del f["y_test"]
    with pytest.raises(InputError, match="has no y_test: measurements must be in deepinv's HDF5Dataset layout"):
        measurements(make_cfg("dataset=measurements", f"dataset.path={path}"))


def test_a_measurement_dataset_class_is_split_and_trained(make_cfg, monkeypatch, data_dir):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    simulated = set((data_dir / "measurements").glob("*.h5"))
    overrides = ["~dataset", "+dataset._target_=my_parts.UndersampledEllipses", "+dataset.measurements=true"]
    results = run(make_cfg(*overrides, "loss=ei"))
    assert results["status"] == "ok" and results["dataset"] == "my_parts.UndersampledEllipses"
    assert results["n_test"] == 4 and results["metrics"] == {} and "no ground truth" in results["reason"]
    assert set((data_dir / "measurements").glob("*.h5")) == simulated  # used as given, not simulated
