"""The MNI152 dataset, the splits and the measurement cache."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_forked

from ssibench.data.measurement_cache import cache_key, cache_path
from ssibench.data.mni152 import build_mni152_slices, mni152_slices
from ssibench.data.splits import random_split, slab_split
from ssibench.folders import DataDir


def test_mni152_is_deterministic_and_normalised(tmp_path):
    a = mni152_slices(tmp_path / "a", img_size=32)
    b = mni152_slices(tmp_path / "b", img_size=32)
    assert len(a) == len(b) > 100  # the template has ~150 axial slices with brain in them
    assert torch.equal(a.x, b.x)
    x = a[len(a) // 2]
    assert x.shape == (2, 32, 32)
    assert torch.all(x[1] == 0)  # imaginary part
    assert x[0].min() >= 0 and x[0].max() == pytest.approx(1.0)


def test_mni152_file_is_rebuilt_when_its_parameters_change(tmp_path):
    small = mni152_slices(tmp_path, img_size=32)
    large = mni152_slices(tmp_path, img_size=48)
    strict = mni152_slices(tmp_path, img_size=32, min_foreground=0.3)
    assert large[0].shape == (2, 48, 48)
    assert len(strict) < len(small)
    assert len(list(tmp_path.glob("mni152_*.pt"))) == 3


def test_mni152_drops_empty_slices():
    slices = build_mni152_slices(32, min_foreground=0.05)
    assert ((slices > 0).float().mean(dim=(1, 2)) >= 0.04).all()


def _gaps(train, test):
    return min(abs(i - j) for i in train.indices for j in test.indices)


@pytest.mark.parametrize("n", [20, 155, 300])
def test_slab_split_has_no_neighbouring_slices(n):
    train, test = slab_split(list(range(n)), test_fraction=0.2, n_slabs=5, gap=2)
    assert not set(train.indices) & set(test.indices)
    assert _gaps(train, test) > 2  # gap=2: at least two slices between any train and test slice
    # the test slabs cover the whole stack, not one end of it
    assert min(test.indices) < n / 5 and max(test.indices) >= 4 * n / 5
    assert len(test) == pytest.approx(0.2 * n, abs=5)


def test_a_split_that_leaves_no_test_image_is_refused():
    with pytest.raises(ValueError, match="random_split of 3 images left an empty train or test set"):
        random_split(list(range(3)), test_fraction=0.2)


def test_splits_are_deterministic_and_limitable():
    a_train, a_test = random_split(list(range(50)), seed=0)
    b_train, b_test = random_split(list(range(50)), seed=0)
    assert a_train.indices == b_train.indices and a_test.indices == b_test.indices
    train, test = slab_split(list(range(50)), max_train=3, max_test=2)
    assert len(train) == 3 and len(test) == 2


DATA_CHANGES = [
    ("physics.acceleration=4",),
    ("physics=noisy",),
    ("physics=single",),
    ("physics=multicoil",),
    ("seed=1",),
    ("img_size=48",),
    ("split.gap=3",),
    ("dataset.min_foreground=0.1",),
]


@pytest.mark.parametrize("change", DATA_CHANGES, ids=[c[0] for c in DATA_CHANGES])
def test_cache_key_changes_with_what_determines_the_data(change, make_cfg):
    base = cache_path(DataDir("c"), cache_key(make_cfg()))
    assert cache_path(DataDir("c"), cache_key(make_cfg())) == base  # same config, same cache
    assert cache_path(DataDir("c"), cache_key(make_cfg(*change))) != base


@pytest.mark.parametrize("base,change", [("physics=noisy", "physics.sigma=0.2"), ("physics=multicoil", "physics.coils=8")])
def test_cache_key_changes_with_scenario_parameters(base, change, make_cfg):
    assert cache_path(DataDir("c"), cache_key(make_cfg(base))) != cache_path(DataDir("c"), cache_key(make_cfg(base, change)))


def test_cache_key_ignores_what_does_not_change_the_data(make_cfg):
    key = cache_path(DataDir("c"), cache_key(make_cfg()))
    assert cache_path(DataDir("c"), cache_key(make_cfg("loss=sup", "epochs=3", "trainer.optimizer.lr=0.01"))) == key


def test_measurements_are_simulated_once_and_reused(make_cfg, tmp_path):
    from ssibench.run import run

    first = run(make_cfg("loss=zero_filled", output_dir=tmp_path / "first"))
    cfg = make_cfg("loss=zero_filled", output_dir=tmp_path / "second")
    path = cache_path(DataDir(cfg.paths.data_dir), cache_key(cfg))
    stamp = path.stat().st_mtime_ns
    second = run(cfg)
    assert path.stat().st_mtime_ns == stamp
    assert second["zero_filled"] == first["zero_filled"]


def _ask_for_cache(data_dir: str, output_dir: str, report) -> None:
    """One of the processes of the test below: prepare the smoke measurements, report what it read."""
    import contextlib
    import hashlib
    import io

    from conftest import compose_cfg

    from ssibench.data.pipeline import measurements

    torch.set_num_threads(1)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        cfg = compose_cfg("debug=smoke", "physics=multicoil", data_dir=data_dir, output_dir=output_dir)
        measurements(cfg)
    path = cache_path(DataDir(cfg.paths.data_dir), cache_key(cfg))
    report.put((printed.getvalue(), hashlib.sha256(path.read_bytes()).hexdigest()))


def test_eight_processes_asking_for_one_new_cache_share_it(tmp_path):
    data_dir = tmp_path / "data"
    found = run_forked(_ask_for_cache, [(str(data_dir), str(tmp_path / f"out{i}")) for i in range(8)])
    assert sum("simulating measurements into" in printed for printed, _ in found) == 1  # one built it, under the lock
    assert len({digest for _, digest in found}) == 1  # all read the same bytes
    assert len(list((data_dir / "measurements").glob("measurements-*.h5"))) == 1
    assert not list((data_dir / "measurements").glob(".tmp-*"))


@pytest.mark.parametrize("damage", ["truncated", "other parameters"])
def test_a_damaged_or_foreign_cache_is_rebuilt_not_used(damage, make_cfg, tmp_path, capsys):
    from ssibench.data.pipeline import measurements

    cfg = make_cfg("physics=single", f"paths.data_dir={tmp_path / 'data'}")
    measurements(cfg)
    path = cache_path(DataDir(tmp_path / "data"), cache_key(cfg))
    good = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(good[: len(good) // 2])
    else:  # a cache file whose record says it was made with another acceleration
        sidecar = path.with_suffix(".json")
        record = json.loads(sidecar.read_text())
        record["key"]["physics"]["acceleration"] = 4
        sidecar.write_text(json.dumps(record))
    capsys.readouterr()
    train = measurements(cfg).train
    assert "rebuilding" in capsys.readouterr().out
    assert len(train) > 0 and path.read_bytes() == good  # the same simulation, made again
