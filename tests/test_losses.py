"""Every `loss=` choice against its definition, and the ground-truth-leak guard for self-supervised ones."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import CONF
from ssibench.losses.measurement_consistency import AdjointMCLoss
from ssibench.scenarios import build_scenario



def _is_self_supervised(spec) -> bool:
    """Trains something and is not the oracle (`supervised: true`)."""
    return bool(spec.get("losses")) and not spec.get("supervised", False)


# Read from the YAMLs, so a newly added loss is guarded without editing this file.
SELF_SUPERVISED = sorted(
    path.stem for path in (CONF / "loss").glob("*.yaml") if _is_self_supervised(OmegaConf.load(path))
)
SCENARIOS = sorted(path.stem for path in (CONF / "physics").glob("*.yaml"))


def test_adjoint_mc_matches_its_formula():
    from deepinv.physics import MultiCoilMRI

    torch.manual_seed(0)
    physics = MultiCoilMRI(img_size=(16, 16), coil_maps=4, mask=(torch.rand(1, 16, 16) > 0.5).float())
    x, x_net = torch.rand(2, 2, 16, 16), torch.rand(2, 2, 16, 16)
    y = physics(x)
    expected = (physics.A_adjoint(physics.A(x_net)) - physics.A_adjoint(y)).pow(2).mean()
    assert AdjointMCLoss()(y=y, x_net=x_net, physics=physics) == pytest.approx(expected.item(), rel=1e-5)
    assert AdjointMCLoss()(y=y, x_net=x, physics=physics) == pytest.approx(0.0, abs=1e-10)


def test_mc_uses_the_adjoint_form_in_multicoil_only(make_cfg):
    assert instantiate(make_cfg("loss=mc", "physics=multicoil").loss.losses[0]).__class__ is AdjointMCLoss
    assert instantiate(make_cfg("loss=mc", "physics=mri").loss.losses[0]).__class__.__name__ == "MCLoss"


def test_loss_kinds_are_declared():
    assert "mc" in SELF_SUPERVISED and "sup" not in SELF_SUPERVISED and "zero_filled" not in SELF_SUPERVISED


@pytest.mark.parametrize("physics", SCENARIOS)
@pytest.mark.parametrize("loss", SELF_SUPERVISED)
def test_self_supervised_losses_never_read_the_ground_truth(loss, physics, make_cfg):
    """Ground truth set to NaN: a self-supervised loss and its gradients must stay finite."""
    cfg = make_cfg(f"loss={loss}", f"physics={physics}")
    torch.manual_seed(0)
    physics_op, generator = build_scenario(cfg.physics, seed=0)
    x = torch.rand(2, 2, cfg.img_size, cfg.img_size)
    params = generator.step(batch_size=2)
    y = physics_op(x, **params)
    model = instantiate(cfg.model)
    losses = [instantiate(spec) for spec in cfg.loss.losses]
    for l in losses:
        model = l.adapt_model(model)
    model.train()
    x_net = model(y, physics_op)
    nan_truth = torch.full_like(x, float("nan"))
    total = sum(l(x=nan_truth, x_net=x_net, y=y, physics=physics_op, model=model).mean() for l in losses)
    total.backward()
    assert torch.isfinite(total)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_the_leak_guard_catches_a_loss_that_reads_the_ground_truth():
    """The guard above can fail: the supervised loss turns NaN with NaN ground truth."""
    from deepinv.loss import SupLoss

    x_net = torch.rand(1, 2, 8, 8, requires_grad=True)
    assert not torch.isfinite(SupLoss()(x=torch.full_like(x_net, float("nan")), x_net=x_net).mean())
