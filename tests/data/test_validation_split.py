"""The validation split: held out of the training images once they are measured, so the test set and
every remaining training measurement are the same as without it; ``split.val_fraction=0`` is the
protocol of the shipped leaderboard exactly."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import ROOT

from ssibench.data.pipeline import measurements
from ssibench.data.splits import random_split, slab_split
from ssibench.data.test_set_identity import same_values
from ssibench.errors import InputError
from ssibench.run import run


def test_a_slab_split_holds_out_the_last_images_of_each_training_slab():
    train, test = slab_split(list(range(60)), val_fraction=0.2)
    assert train.validation == [6, 7, 13, 19, 25, 31]  # slab 1 trains on 0-7, the others on 6 images each
    assert [train.indices[k] for k in train.validation] == [6, 7, 19, 31, 43, 55]  # each slab's last images
    without = slab_split(list(range(60)))
    assert train.indices == without[0].indices and test.indices == without[1].indices


def test_a_random_split_draws_its_validation_from_its_seed():
    train, test = random_split(list(range(60)), val_fraction=0.2, seed=3)
    again = random_split(list(range(60)), val_fraction=0.2, seed=3)[0]
    other = random_split(list(range(60)), val_fraction=0.2, seed=4)[0]
    assert len(train.validation) == 10 and train.validation == again.validation != other.validation
    without = random_split(list(range(60)), seed=3)
    assert train.indices == without[0].indices and test.indices == without[1].indices


@pytest.mark.parametrize("split", [slab_split, random_split])
def test_at_least_one_image_is_held_out_and_one_trains(split):
    assert split(list(range(60)))[0].validation == []
    assert len(split(list(range(60)), max_train=3, val_fraction=0.1)[0].validation) == 1
    with pytest.raises(InputError, match=r"split.val_fraction=0.9 holds out 2 of 2 training images, leaving none"):
        split(list(range(60)), max_train=2, val_fraction=0.9)
    with pytest.raises(InputError, match=r"split.val_fraction must be in \[0, 1\), got 1"):
        split(list(range(60)), val_fraction=1)


def test_the_test_set_and_the_remaining_training_measurements_do_not_change(make_cfg):
    without = measurements(make_cfg("loss=mc", "split.val_fraction=0"))
    held = measurements(make_cfg("loss=mc"))  # the default 0.2 of debug=smoke's 8 training images
    assert held.test_set == without.test_set and same_values(held.test_signature, without.test_signature)
    assert len(held.train) == 6 and len(held.validation) == 2 and held.validation_set not in (None, held.test_set)
    measured = [without.train[k][1] for k in range(len(without.train))]
    assert [torch.equal(held.train[k][1], measured[k]) for k in range(6)] == [True] * 6
    assert [torch.equal(held.validation[k][1], measured[6 + k]) for k in range(2)] == [True] * 2
    assert all(held.train[k][0].isnan().all() for k in range(6))  # the training data hold no ground truth
    assert all(torch.isfinite(held.validation[k][0]).all() for k in range(2))  # evaluation data keep theirs
    assert without.validation is None and type(without.train).__name__ == "PicklableHDF5Dataset"


def test_a_run_records_its_validation_set(make_cfg, tmp_path):
    results = run(make_cfg("loss=mc"))
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["n_val"] == on_disk["n_val"] == 2 and len(on_disk["validation_set"]) == 64
    assert run(make_cfg("loss=zero_filled", "split.val_fraction=0", output_dir=tmp_path / "none"))["n_val"] == 0


@pytest.mark.parametrize("val_fraction", ["0", "0.2"])
def test_the_validation_split_keeps_the_shipped_leaderboards_test_set(val_fraction, make_cfg):
    """The default scale's mri test set, seed 0, as the shipped runs record it (bits, or up to rounding),
    with or without a validation set."""
    shipped = json.loads((ROOT / "ssibench/leaderboard/embedded/mc_mri_seed0/results.json").read_text())
    data = measurements(make_cfg("loss=mc", f"split.val_fraction={val_fraction}", smoke=False))
    assert (data.validation is None) == (val_fraction == "0") and len(data.test) == shipped["n_test"]
    assert data.test_set == shipped["test_set"] or same_values(data.test_signature, shipped["test_signature"])
