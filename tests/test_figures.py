"""The reconstruction each run saves of a fixed test slice, and the leaderboard's figures."""

from __future__ import annotations

import pytest
import torch

from ssibench.reconstruction import FILENAME, load_reconstruction
from ssibench.run import run


def _psnr(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / torch.mean((estimate - truth) ** 2)))


@pytest.mark.parametrize(("loss", "figure_slice", "index"), [("mc", "null", 2), ("zero_filled", "0", 0)])
def test_a_run_saves_the_slice_its_test_metrics_scored(make_cfg, tmp_path, loss, figure_slice, index):
    results = run(make_cfg(f"loss={loss}", f"figure_slice={figure_slice}"))
    saved = load_reconstruction(tmp_path / "run" / FILENAME)
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
