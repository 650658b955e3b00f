"""Your own loss, dataset, model, physics and metric, defined outside the package (examples/my_parts.py),
plugged in the README's two ways: `_target_` overrides on the command line, and YAMLs in your own
config folder (examples/my_conf/) added with hydra.searchpath. One launch.py run per way."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch
from conftest import EXAMPLES, assert_ok, launch

from ssibench.results import schema as results_io

WAYS = {
    "target": [
        "~loss", "+loss.losses=[{_target_:my_parts.L1MCLoss}]", "+loss.label=L1-MC",
        "~dataset", "+dataset._target_=my_parts.Ellipses", "+dataset.img_size=${img_size}",
        "~model", "+model._target_=my_parts.ResidualCNN",
        "physics.operator._target_=my_parts.MaskedFFT",
        "+metrics.RelativeError._target_=my_parts.RelativeError",
    ],
    "searchpath": [
        f"hydra.searchpath=[file://{EXAMPLES / 'my_conf'}]",
        "loss=l1_mc", "dataset=ellipses", "model=residual_cnn", "physics=masked_fft", "metrics=with_relative_error",
    ],
}
# the dataset config each way gives (the measurement cache is keyed by it)
DATASETS = {
    "target": {"_target_": "my_parts.Ellipses", "img_size": 32},
    "searchpath": {"_target_": "my_parts.Ellipses", "n": 24, "img_size": 32},
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir) -> dict:
    found = {}
    for way, overrides in WAYS.items():
        cwd = tmp_path_factory.mktemp(way)
        assert_ok(launch("debug=smoke", *overrides, cwd=cwd, data_dir=data_dir))  # into outputs/, as the README's
        (out,) = [path.parent for path in cwd.glob("outputs/*/results.json")]
        found[way] = results_io.read(out / "results.json") | {"dir": out}
    return found


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("kind", ["loss", "dataset", "model", "physics", "metric"])
def test_your_own_part_plugs_in(kind, way, runs, data_dir):
    results = runs[way]
    assert results["status"] == "ok"
    if kind == "loss":
        assert results["label"] == "L1-MC" and results["kind"] == "self-supervised"
        assert results["loss"] == ("L1-MC" if way == "target" else "l1_mc")
        assert results["dir"].name.startswith("L1-MC_mri_seed0_" if way == "target" else "l1_mc_masked_fft_seed0_")
        rows = list(csv.DictReader(open(results["dir"] / "metrics.csv")))
        assert float(rows[0]["train/L1MCLoss"]) > 0
    elif kind == "dataset":
        assert results["dataset"] == ("my_parts.Ellipses" if way == "target" else "ellipses")
        assert results["n_test"] == 4
    elif kind == "model":
        state = torch.load(results["dir"] / "checkpoints" / "ckp_last.pth.tar", weights_only=True)["state_dict"]
        assert set(state) == {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}
        assert state["net.0.weight"].shape[0] == 8
    elif kind == "physics":
        # the measurements were simulated by the operator of my_parts (the cache records what made them)
        keys = [json.loads(p.read_text())["key"] for p in (data_dir / "measurements").glob("*.json")]
        (key,) = [k for k in keys if k["dataset"] == DATASETS[way]]
        assert key["physics"]["operator"]["_target_"] == "my_parts.MaskedFFT"
        assert results["physics"] == ("mri" if way == "target" else "masked_fft")
    elif kind == "metric":
        assert set(results["metrics"]) == set(results["zero_filled"]) == {"PSNR", "SSIM", "RelativeError"}
        assert 0 < results["metrics"]["RelativeError"]["mean"] < 2
        assert len(results["per_image"]["RelativeError"]) == results["n_test"]


def test_both_ways_build_the_same_run(runs):
    """The same parts by `_target_` or by YAML: the same data, weights and scores."""
    target, searchpath = runs["target"], runs["searchpath"]
    for block in ("metrics", "zero_filled"):
        for name, summary in target[block].items():
            assert math.isclose(summary["mean"], searchpath[block][name]["mean"], rel_tol=1e-6), (block, name)
