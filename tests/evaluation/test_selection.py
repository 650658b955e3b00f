"""Model selection without the test set: the held-out k-space criterion, the rules, and what a run records."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from deepinv.physics.generator import GaussianMaskGenerator

from ssibench.compat.deepinv import MRI
from ssibench.evaluation.selection import Selection
from ssibench.evaluation.validation import HeldOutKspace, Validation
from ssibench.run import run
from ssibench.training import checkpoints


def _measured(batch_size: int = 1, seed: int = 0) -> torch.Tensor:
    """Masks as the operators hold them: (B, 2, H, W), the same in both channels."""
    rng = torch.Generator().manual_seed(seed)
    physics = MRI(img_size=(32, 32))
    physics.update(**GaussianMaskGenerator((32, 32), acceleration=6, rng=rng).step(batch_size=batch_size))
    return physics.mask


def test_the_held_out_split_partitions_the_measured_locations_the_same_way_every_time():
    mask = _measured()[0]
    kept, held = HeldOutKspace(seed=0).split(0, mask)
    measured = mask[:1]
    assert torch.equal(kept + held, measured) and not (kept * held).any()
    assert 0.15 < held.sum() / measured.sum() <= 0.25  # 20% of the measured locations, rounded up
    assert torch.equal(kept[..., 12:20, 12:20], measured[..., 12:20, 12:20])  # the central block stays in the input
    assert torch.equal(HeldOutKspace(seed=0).split(0, mask)[1], held)  # drawn from the seed alone: every method, epoch
    assert not torch.equal(HeldOutKspace(seed=1).split(0, mask)[1], held)
    assert not torch.equal(HeldOutKspace(seed=0).split(1, mask)[1], held)


class _Returns:
    """A stand-in trainer whose model returns ``image``, whatever it is given."""

    def __init__(self, image: torch.Tensor):
        self.image = image

    def model_inference(self, y, physics, train=False, **kwargs):
        return self.image


@pytest.mark.parametrize("operator", ["single coil", "multicoil"])
def test_the_criterion_is_zero_for_the_truth_and_one_for_nothing_on_the_held_out_part(operator):
    from ssibench.compat.deepinv import MultiCoilMRI

    physics = MRI(img_size=(32, 32)) if operator == "single coil" else MultiCoilMRI(img_size=(32, 32), coil_maps=3)
    full = _measured(batch_size=2)
    physics.update(mask=full)
    x = torch.randn(2, 2, 32, 32, generator=torch.Generator().manual_seed(0))
    y = physics.A(x)
    split = HeldOutKspace(seed=0)
    kept, held = (torch.stack(parts) for parts in zip(*(split.split(b, full[b]) for b in range(2))))
    error = lambda image: Validation._kspace_error(_Returns(image), y, physics, full, kept, held)  # noqa: E731
    assert error(x).abs().max() < 1e-10
    assert torch.allclose(error(torch.zeros_like(x)), torch.ones(2, dtype=error(x).dtype))
    assert torch.equal(physics.mask, full)  # set back: a fixed-mask scenario trains on with its mask


def test_each_rule_chooses_on_its_own_validation_column_never_on_test():
    selection = Selection.of(n_val=2, ground_truth=True, first_metric="PSNR", lower_better=False)
    epochs = [
        # the best test epoch: never chosen for it; a non-finite score first: never chosen, nor kept as the best
        {"val/kspace": 0.5, "val/PSNR": float("nan"), "test/PSNR": 30.0},
        {"val/kspace": 0.3, "val/PSNR": 21.0, "test/PSNR": 25.0},
        {"val/kspace": 0.4, "val/PSNR": 22.0, "test/PSNR": 24.0},
        {"val/kspace": 0.3, "val/PSNR": 20.0, "test/PSNR": 26.0},  # a tie keeps the earlier epoch
    ]
    for epoch, scores in enumerate(epochs):
        selection.offer(epoch, scores)
    assert selection.chosen == {"val_kspace": {"epoch": 1, "criterion": 0.3}, "val_oracle": {"epoch": 2, "criterion": 22.0}}
    again = Selection.of(n_val=2, ground_truth=True, first_metric="PSNR", lower_better=False)
    again.load_state_dict(selection.state_dict())
    assert again.chosen == selection.chosen
    assert Selection.of(0, True, "PSNR", False).reasons.keys() == {"val_kspace", "val_oracle"}
    assert Selection.of(3, False, "PSNR", False).criteria.keys() == {"val_kspace"}


def test_a_run_scores_the_model_each_rule_chose_on_the_test_set(make_cfg, tmp_path):
    results = run(make_cfg("loss=mc", "epochs=3"))
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    column = lambda name: [float(row[name]) for row in rows]  # noqa: E731
    selection = results["selection"]
    assert selection["reasons"] == {} and results["n_val"] > 0
    assert selection["val_kspace"]["epoch"] == int(np.argmin(column("val/kspace")))
    assert selection["val_kspace"]["criterion"] == min(column("val/kspace"))
    assert selection["val_oracle"]["epoch"] == int(np.argmax(column("val/PSNR")))
    assert selection["last"] == {"epoch": 2, "criterion": None, "metrics": results["metrics"], "per_image": results["per_image"]}
    stored = checkpoints.checkpoint_dir(tmp_path / "run")
    assert {p.name for p in stored.iterdir()} == {
        "ckp_last.pth.tar", "ckp_previous.pth.tar", "ckp_val_kspace.pth.tar", "ckp_val_oracle.pth.tar"
    }  # no "best" checkpoint of any other kind
    for rule in ("val_kspace", "val_oracle"):
        epoch = selection[rule]["epoch"]
        assert torch.load(stored / f"ckp_{rule}.pth.tar", weights_only=True)["epoch"] == epoch
        # its test scores are those of that epoch's model (the curve's test/PSNR, a mean of the same images)
        assert selection[rule]["metrics"]["PSNR"]["mean"] == pytest.approx(column("test/PSNR")[epoch], abs=1e-4)
        assert len(selection[rule]["per_image"]["PSNR"]) == results["n_test"]
    assert selection["val_kspace"]["epoch"] != 2, "choose a run whose rules differ, so a chosen model is read back"


def test_the_validation_pass_changes_nothing_of_training(make_cfg, tmp_path, monkeypatch):
    """Noise2Inverse draws splits when it evaluates: the validation pass draws them from streams seeded
    for it, and leaves the run's streams as it found them."""
    scored = run(make_cfg("loss=noise2inverse", "epochs=2", output_dir=tmp_path / "scored"))
    monkeypatch.setattr(Validation, "score", lambda self, trainer: {"val/kspace": 1.0, "val/PSNR": 0.0, "val/SSIM": 0.0})
    unscored = run(make_cfg("loss=noise2inverse", "epochs=2", output_dir=tmp_path / "unscored"))
    assert scored["per_image"] == unscored["per_image"]
    curves = [list(csv.DictReader(open(tmp_path / folder / "metrics.csv"))) for folder in ("scored", "unscored")]
    assert [[v for k, v in row.items() if not k.startswith("val/")] for row in curves[0]] == [
        [v for k, v in row.items() if not k.startswith("val/")] for row in curves[1]
    ]


def test_val_fraction_0_records_why_no_rule_but_last_can_choose(make_cfg):
    results = run(make_cfg("loss=mc", "split.val_fraction=0"))
    why = "split.val_fraction=0: no validation set to choose on"
    assert results["n_val"] == 0 and "validation_set" not in results
    assert results["selection"]["val_kspace"] is None and results["selection"]["val_oracle"] is None
    assert results["selection"]["reasons"] == {"val_kspace": why, "val_oracle": why}
    assert results["selection"]["last"]["metrics"] == results["metrics"]
