"""DataLoader workers: every dataset a run builds survives pickling, so workers started by spawn or
forkserver (joblib's worker processes, Python >= 3.14's default) get it, and a parallel sweep whose
jobs start workers trains every job."""

from __future__ import annotations

import pickle

import pytest
import torch
from conftest import assert_ok, launch
from torch.utils.data import DataLoader

from ssibench.data.fastmri import fastmri_slices
from ssibench.data.given_measurements import hdf5_measurements
from ssibench.data.ground_truth import without_ground_truth
from ssibench.data.mni152 import mni152_slices
from ssibench.data.pipeline import measurements
from ssibench.data.splits import random_split, slab_split
from ssibench.results import schema as results_io


def _same_items(a, b) -> None:
    assert len(a) == len(b)
    for i in (0, len(a) - 1):
        left, right = a[i], b[i]
        left, right = (left, right) if isinstance(left, tuple) else ((left,), (right,))
        for u, v in zip(left, right):
            if isinstance(u, dict):
                assert u.keys() == v.keys() and all(torch.equal(u[k], v[k]) for k in u)
            else:
                assert torch.equal(u, v) or (u.isnan().all() and v.isnan().all())


def _round_trip(dataset):
    copy = pickle.loads(pickle.dumps(dataset))
    _same_items(dataset, copy)
    return copy


def test_image_datasets_and_their_splits_survive_pickling(tmp_path):
    images = mni152_slices(tmp_path, img_size=32)
    _round_trip(images)
    for split in (slab_split(images), random_split(images)):
        for part in split:
            _round_trip(part)
    torch.save(torch.rand(5, 16, 16), tmp_path / "fastmri.pt")  # the prepared fastMRI file's layout
    _round_trip(fastmri_slices(tmp_path, "fastmri.pt"))


@pytest.mark.parametrize("physics", ["mri", "multicoil"])
def test_measurement_caches_and_given_measurements_survive_pickling(physics, make_cfg):
    held = measurements(make_cfg(f"physics={physics}", "trainer.device=cpu"))  # a validation set held out
    for dataset in (held.train, held.validation, held.test):
        copy = _round_trip(dataset)
        _round_trip(copy)  # a copy that has read (opened its file) pickles again
    # every training measurement, to compare with the given ones
    data = measurements(make_cfg(f"physics={physics}", "trainer.device=cpu", "split.val_fraction=0"))
    train, test = data.train, data.test
    given_train, given_test = hdf5_measurements(train.path)
    _same_items(_round_trip(without_ground_truth(given_train)), train)  # a self-supervised run's: x NaN
    _same_items(_round_trip(given_test), test)


@pytest.mark.parametrize("start_method", ["spawn", "forkserver"])
def test_workers_started_by_spawn_or_forkserver_read_the_cache(start_method, make_cfg):
    train = measurements(make_cfg("trainer.device=cpu")).train
    expected = list(DataLoader(train, batch_size=3))
    loader = DataLoader(train, batch_size=3, num_workers=2, multiprocessing_context=start_method)
    got = list(loader)
    assert len(got) == len(expected)
    for (x, y, params), (x_ref, y_ref, params_ref) in zip(got, expected):
        assert x.isnan().all() and x_ref.isnan().all() and x.shape == x_ref.shape  # the run's loss is mc
        assert torch.equal(y, y_ref) and torch.equal(params["mask"], params_ref["mask"])


def test_a_joblib_sweep_whose_jobs_start_loader_workers_trains_every_job(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    proc = launch(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "trainer.num_workers=2", "trainer.resident_data=false",
        "trainer.device=cpu",
        "debug=smoke", "loss=mc,sup", f"hydra.sweep.dir={sweep}", cwd=tmp_path, data_dir=data_dir,
    )
    assert_ok(proc)
    found = [results_io.read(path) for path in sweep.glob("*/results.json")]
    assert sorted(r["loss"] for r in found) == ["mc", "sup"]
    assert all(r["status"] == "ok" and r["metrics"]["PSNR"]["mean"] > 5 for r in found), found
