"""Measurements resident on the training device: the same batches, in the same order, as the loader,
so a run's numbers do not depend on the path its data takes."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from conftest import trainer_for  # noqa: F401  (conftest first: it registers the schemas)
from ssibench.data import resident as resident_module
from ssibench.data.pipeline import measurements
from ssibench.data.resident import ResidentBatches, resident
from ssibench.run import run


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return torch.equal(a, b) or bool(a.isnan().all() and b.isnan().all())


@pytest.mark.parametrize("batch_size", [3, 4])  # no partial last batch, and one
def test_resident_batches_are_the_loaders_batches_in_the_loaders_order(batch_size, make_cfg):
    train = measurements(make_cfg("physics=multicoil")).train
    assert len(train) == 6  # debug=smoke's 8 training images, 2 held out for validation
    order_a, order_b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=order_a)
    batches = ResidentBatches(train, batch_size=batch_size, device="cpu", shuffle=True, generator=order_b)
    assert len(batches) == len(loader)
    for _ in range(2):  # two epochs: a new order each, drawn alike, as deepinv asks (len(loader) batches)
        pairs = zip(iter(loader), iter(batches))
        for _ in range(len(loader)):
            assert _same(*next(pairs))
            assert torch.equal(order_a.get_state(), order_b.get_state())


def test_a_run_gives_the_same_results_with_resident_data_or_a_loader(make_cfg, tmp_path):
    common = ("loss=ei", "epochs=3", "split.max_train=7")  # a partial last batch each epoch
    on = run(make_cfg(*common, "trainer.resident_data=true", output_dir=tmp_path / "resident"))
    off = run(make_cfg(*common, "trainer.resident_data=false", output_dir=tmp_path / "loader"))
    assert on["per_image"] == off["per_image"] and on["test_set"] == off["test_set"]


def test_auto_keeps_the_data_resident_only_when_it_fits(make_cfg, monkeypatch):
    data = measurements(make_cfg())
    assert resident("auto", [data.train, data.test], "cpu")  # a few hundred kB in this machine's RAM
    monkeypatch.setattr(resident_module, "usable_device_memory", lambda device: 1000)
    assert not resident("auto", [data.train, data.test], "cpu") and resident(True, [data.train], "cpu")
