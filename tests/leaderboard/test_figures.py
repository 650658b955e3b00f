"""The reconstruction each run saves of a fixed test slice, and the leaderboard's figures."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from conftest import assert_picture
from selection_records import selection

from ssibench.evaluation.reconstruction import load_reconstruction
from ssibench.folders import RunDir
from ssibench.leaderboard.cli import main
from ssibench.leaderboard.figures import _mean_curve
from ssibench.leaderboard.run_curves import STABILITY_EPOCHS, read_curves, stability
from ssibench.results import schema as results_io
from ssibench.run import run


def _psnr(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / torch.mean((estimate - truth) ** 2)))


@pytest.mark.parametrize(("loss", "figure_slice", "index"), [("mc", "null", 2), ("zero_filled", "0", 0)])
def test_a_run_saves_the_slice_its_test_metrics_scored(make_cfg, tmp_path, loss, figure_slice, index):
    results = run(make_cfg(f"loss={loss}", f"figure_slice={figure_slice}"))
    saved = load_reconstruction(RunDir(tmp_path / "run").reconstruction)
    assert saved["index"] == index  # null: the middle of the 4 smoke test images
    for name in ("ground_truth", "zero_filled", "reconstruction"):
        image = saved[name]
        assert image.shape == (32, 32) and image.dtype == torch.float32 and torch.isfinite(image).all()
    assert saved["ground_truth"].max() > 0.5  # a brain slice, not an empty one
    # the saved image is the one the test scored (same mask, eval mode), and its PSNR is of these images
    psnr = saved["metrics"]["reconstruction"]["PSNR"]
    assert psnr == pytest.approx(results["per_image"]["PSNR"][index], abs=1e-3)
    assert psnr == pytest.approx(_psnr(saved["reconstruction"], saved["ground_truth"]), abs=1e-3)
    zero_filled_psnr = saved["metrics"]["zero_filled"]["PSNR"]
    assert zero_filled_psnr == pytest.approx(_psnr(saved["zero_filled"], saved["ground_truth"]), abs=1e-3)
    if loss == "zero_filled":
        assert torch.equal(saved["reconstruction"], saved["zero_filled"])
    else:
        assert not torch.allclose(saved["reconstruction"], saved["zero_filled"])


def test_a_figure_slice_outside_the_test_set_stops_before_training(make_cfg, tmp_path):
    with pytest.raises(ValueError, match="figure_slice=4 but the test set has 4 images"):
        run(make_cfg("loss=mc", "figure_slice=4"))
    assert not (tmp_path / "run" / "checkpoints").exists()


def _write_run(folder, loss, kind, seed, psnr, physics="mri", curves=True, reconstruction=True, status="ok"):
    """A run folder as a sweep leaves it: results.json, and metrics.csv / reconstruction.pt when asked."""
    ok = status == "ok"
    per_image = np.full(4, psnr) + np.arange(4) * 0.1
    results = {
        "loss": loss, "label": loss.upper(), "kind": kind, "physics": physics, "dataset": "mni152",
        "seed": seed, "epochs": 3, "status": status, "reason": None if ok else "ValueError: boom",
        "metrics": {"PSNR": {"mean": float(per_image.mean()), "std": 0.1}} if ok else {},
        "zero_filled": {"PSNR": {"mean": 20.0 + seed, "std": 0.1}} if ok else {},
        "per_image": {"PSNR": per_image.tolist()} if ok else {},
        "n_test": 4, "train_seconds": 1.0, "eval_seconds": 0.1, "device": "cpu",
        "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"},
    }
    results |= selection(results)
    run_dir = folder / f"{loss}-{physics}-{seed}"
    run_dir.mkdir(parents=True)
    results_io.write(run_dir / "results.json", results)
    if curves:
        rows = [[epoch, 1.0 / (epoch + 1), 0.01, psnr - 3 + epoch if epoch != 1 else ""] for epoch in range(3)]
        with open(run_dir / "metrics.csv", "w", newline="") as f:
            csv.writer(f).writerows([["epoch", "train/MCLoss", "train/EILoss", "test/PSNR"], *rows])
    if reconstruction:
        truth = torch.linspace(0, 1, 16 * 16).reshape(16, 16)
        noisy = truth + torch.randn(16, 16, generator=torch.Generator().manual_seed(seed)) * 10 ** (-psnr / 20)
        torch.save(
            {"index": 2, "ground_truth": truth, "zero_filled": truth * 0.8, "reconstruction": noisy,
             "metrics": {"reconstruction": {"PSNR": _psnr(noisy, truth)}, "zero_filled": {"PSNR": 20.0}}},
            RunDir(run_dir).reconstruction,
        )


def test_leaderboard_draws_each_scenarios_figures_and_says_what_it_left_out(tmp_path, capsys):
    for seed in (0, 1):
        _write_run(tmp_path, "zero_filled", "no-learning", seed, 20, curves=False)
        _write_run(tmp_path, "mc", "self-supervised", seed, 21)
        _write_run(tmp_path, "ssdu", "self-supervised", seed, 25, reconstruction=seed == 1)
        _write_run(tmp_path, "sup", "supervised", seed, 28)
    _write_run(tmp_path, "ei", "self-supervised", 0, 0, status="failed", curves=False, reconstruction=False)
    # a scenario whose runs left no curves nor slices (e.g. made before runs saved them)
    _write_run(tmp_path, "mc", "self-supervised", 0, 21, physics="single", curves=False, reconstruction=False)

    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in ("psnr_mri", "curves_mri", "reconstructions_mri", "psnr_single"):
        assert_picture(tmp_path / f"{name}.png")
        assert f"{name}.png" in out.splitlines()[-1]  # listed among the files written
    assert "reconstructions_mri.png leaves out SSDU (no reconstruction.pt for seed 0)" in out
    assert "curves_single.png not drawn" in out and "reconstructions_single.png not drawn" in out
    said = [line for line in out.splitlines() if line.startswith("[figures]")]
    assert len(said) == 3 and not any("ZERO_FILLED" in line for line in said)  # untrained by design: not a gap
    assert not (tmp_path / "curves_single.png").exists() and not (tmp_path / "reconstructions_single.png").exists()


def test_curves_sum_the_loss_terms_and_average_the_seeds(tmp_path):
    _write_run(tmp_path, "mc", "self-supervised", 0, 20, reconstruction=False)
    psnr, loss = read_curves(tmp_path / "mc-mri-0" / "metrics.csv", "PSNR")
    assert psnr == {0: 17.0, 2: 19.0}  # epoch 1 was not evaluated
    assert loss == pytest.approx({0: 1.01, 1: 0.51, 2: 1 / 3 + 0.01})
    assert _mean_curve([{0: 1.0, 1: 2.0}, {0: 3.0}]) == ([1, 2], [2.0, 2.0])  # epochs shown from 1


def test_the_stability_is_the_spread_of_the_last_evaluated_epochs_only(tmp_path):
    tested = [10.0, 30.0, 20.0, 21.0, 19.0, 22.0, 18.0]  # the first two far off: outside the window
    with open(tmp_path / "metrics.csv", "w", newline="") as f:
        rows = [[2 * i, 0.1, psnr] for i, psnr in enumerate(tested)] + [[2 * i + 1, 0.1, ""] for i in range(7)]
        csv.writer(f).writerows([["epoch", "train/MCLoss", "test/PSNR"], *sorted(rows)])  # odd epochs not evaluated
    assert stability(tmp_path / "metrics.csv") == pytest.approx(np.std(tested[-STABILITY_EPOCHS:], ddof=1))


def test_axes_read_as_plain_numbers_with_epochs_from_1_and_a_labelled_loss_axis(tmp_path, monkeypatch):
    """A one-epoch run whose PSNR barely differs from zero-filled (the axes that showed `+1.2163e1`
    over `0.0000…0.0010`, one epoch at x=0 between ticks ±0.045, and a loss axis without labels)."""
    from ssibench.leaderboard import figures

    for loss, psnr in (("mc", 12.1634), ("ssdu", 12.1639)):
        _write_run(tmp_path, loss, "self-supervised", 0, psnr, curves=False, reconstruction=False)
        results = results_io.read(tmp_path / f"{loss}-mri-0" / "results.json")
        results_io.write(tmp_path / f"{loss}-mri-0" / "results.json", results | {"zero_filled": {"PSNR": {"mean": 12.1636, "std": 0.1}}})
        with open(tmp_path / f"{loss}-mri-0" / "metrics.csv", "w", newline="") as f:
            csv.writer(f).writerows([["epoch", "train/MCLoss", "test/PSNR"], [0, 0.0213 if loss == "mc" else 0.0217, psnr]])
    drawn = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: drawn.setdefault(path.name, fig) and path)
    assert main([str(tmp_path)]) == 0

    def labels(axis) -> list[str]:  # the tick labels shown inside the axis's view
        low, high = sorted(axis.get_view_interval())
        return [t.get_text() for t in axis.get_ticklabels() if low <= t.get_position()[axis.axis_name == "y"] <= high]

    for fig in drawn.values():
        fig.draw_without_rendering()
    ax_psnr, ax_loss = drawn["curves_mri.png"].axes
    (ax_bars,) = drawn["psnr_mri.png"].axes
    for axis in (ax_psnr.xaxis, ax_psnr.yaxis, ax_loss.xaxis, ax_bars.xaxis):
        assert axis.get_offset_text().get_text() == "" and labels(axis), axis  # numbered, without an offset
        assert all(text and "e" not in text for text in labels(axis)), labels(axis)
    assert labels(ax_psnr.xaxis) == ["1"] and labels(ax_loss.xaxis) == ["1"]  # the one epoch, numbered as logged
    low, high = ax_psnr.get_ylim()
    assert high - low >= figures.MIN_PSNR_SPAN and low < 12.1634 < high
    assert len([text for text in labels(ax_loss.yaxis) if text]) >= 2  # 0.0213 .. 0.0217: still numbered
