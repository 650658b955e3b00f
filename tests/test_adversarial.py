"""The adversarial pieces deepinv 0.5 lacks: discriminator, multi-operator and UAIR losses, trainer."""

from __future__ import annotations

import csv

import pytest
import torch
from conftest import trainer_for
from deepinv.physics import MRI, MultiCoilMRI
from torch.utils.data import DataLoader

from ssibench.losses.adversarial import (
    MultiOperatorAdversarialDiscriminatorLoss,
    MultiOperatorAdversarialGeneratorLoss,
)
from ssibench.losses.uair import UAIRDiscriminatorLoss, UAIRGeneratorLoss
from ssibench.models.discriminator import SkipConvDiscriminator
from ssibench.run import run


def _mask(seed, size=16):
    return (torch.rand(1, 1, size, size, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


class _Masks:
    """A mask generator that hands out preset masks in turn."""

    def __init__(self, *masks):
        self.masks = list(masks)

    def step(self, batch_size=1, **kwargs):
        return {"mask": self.masks.pop(0).expand(batch_size, -1, -1, -1)}


class _Recorder(torch.nn.Module):
    """A discriminator that scores every image `score` and remembers what it saw."""

    def __init__(self, score=0.3):
        super().__init__()
        self.score, self.seen = score, []

    def forward(self, u):
        self.seen.append(u.detach().clone())
        return torch.full((u.size(0), 1), self.score)


@pytest.mark.parametrize("size", [32, 64])
def test_discriminator_scores_each_image(size):
    D = SkipConvDiscriminator(in_channels=2, channels=8)
    assert D(torch.rand(3, 2, size, size)).shape == (3, 1)
    assert 0 < SkipConvDiscriminator(use_sigmoid=True)(torch.rand(1, 2, size, size)).item() < 1


def test_mo_adversarial_generator_loss_is_lsgan_on_fresh_back_projections():
    physics, fresh = MRI(img_size=(16, 16), mask=_mask(0)), _mask(1)
    x_net = torch.rand(2, 2, 16, 16)
    D = _Recorder(score=0.3)
    loss = MultiOperatorAdversarialGeneratorLoss(physics_generator=_Masks(fresh))(x_net=x_net, physics=physics, D=D)
    assert loss.item() == pytest.approx((0.3 - 1) ** 2)
    expected = MRI(img_size=(16, 16), mask=fresh.expand(2, -1, -1, -1))
    assert torch.allclose(D.seen[0], expected.A_adjoint(expected.A(x_net)), atol=1e-6)


def test_mo_adversarial_discriminator_reads_other_images_and_restarts():
    physics = MRI(img_size=(16, 16), mask=_mask(0))
    others = [(torch.full((2, 16, 16), float("nan")), physics.A(torch.rand(1, 2, 16, 16))[0], {"mask": _mask(2)[0]}) for _ in range(3)]
    loss = MultiOperatorAdversarialDiscriminatorLoss(physics_generator=_Masks(*[_mask(3)] * 7))
    loss.attach_training_data(others, batch_size=2, seed=0)
    D = _Recorder(score=0.3)
    for _ in range(7):  # more steps than the 2 batches of an epoch: the iterator restarts
        value = loss(x_net=torch.rand(2, 2, 16, 16), physics=physics, D=D)
        assert value.item() == pytest.approx((0.3 - 1) ** 2 + 0.3**2)
    real = D.seen[0]
    assert torch.isfinite(real).all() and real.shape[0] in (1, 2)  # Aᴴy' of the other images, never x


def test_mo_adversarial_discriminator_needs_data():
    with pytest.raises(RuntimeError, match="attach_training_data"):
        MultiOperatorAdversarialDiscriminatorLoss(physics_generator=_Masks(_mask(1)))(
            x_net=torch.rand(1, 2, 16, 16), physics=MRI(img_size=(16, 16)), D=_Recorder()
        )


@pytest.mark.parametrize("coils,domain", [(None, "measurements"), (4, "A_adjoint")])
def test_uair_generator_loss_matches_its_formula(coils, domain):
    kwargs = {"coil_maps": coils} if coils else {}
    physics = (MultiCoilMRI if coils else MRI)(img_size=(16, 16), mask=_mask(0), **kwargs)
    x_net = torch.rand(2, 2, 16, 16)
    D = _Recorder(score=0.3)
    pseudo_inverse = lambda y, physics: physics.A_dagger(y)  # A_g A_g† ŷ = ŷ: the consistency term is 0
    loss = UAIRGeneratorLoss(physics_generator=_Masks(_mask(1)), domain=domain, weight_adv=0.5)
    value = loss(x_net=x_net, physics=physics, model=pseudo_inverse, D=D)
    assert value.item() == pytest.approx(0.5 * (0.3 - 1) ** 2, abs=1e-4)
    assert D.seen[0].shape == ((2, 2, 4, 16, 16) if domain == "measurements" and coils else (2, 2, 16, 16))


def test_uair_discriminator_sees_acquired_data_as_real():
    physics = MRI(img_size=(16, 16), mask=_mask(0))
    y = physics(torch.rand(2, 2, 16, 16))
    D = _Recorder(score=0.3)
    value = UAIRDiscriminatorLoss(physics_generator=_Masks(_mask(1)))(y=y, x_net=torch.rand(2, 2, 16, 16), physics=physics, D=D)
    assert torch.equal(D.seen[0], y)
    assert value.item() == pytest.approx((0.3 - 1) ** 2 + 0.3**2)


@pytest.mark.parametrize("loss", ["adversarial", "uair"])
def test_checkpoints_hold_and_restore_the_discriminator(loss, make_cfg, tmp_path):
    cfg = make_cfg(f"loss={loss}")
    batches = lambda train: DataLoader(train, batch_size=4)
    trainer = trainer_for(cfg, batches, tmp_path / "train")
    trainer.train()
    ckpt = tmp_path / "train" / "checkpoints" / "ckp_last.pth.tar"
    saved = torch.load(ckpt, weights_only=True)["state_dict_D"]
    assert all(torch.equal(saved[k], v) for k, v in trainer.D.state_dict().items())

    restored = trainer_for(make_cfg(f"loss={loss}", "epochs=0", f"ckpt={ckpt}"), batches, tmp_path / "eval")
    fresh_D = {k: v.clone() for k, v in restored.D.state_dict().items()}
    assert any(not torch.equal(fresh_D[k], saved[k]) for k in saved)  # a new run starts from a new D
    restored.setup_train(train=False)
    assert all(torch.equal(restored.D.state_dict()[k], saved[k]) for k in saved)


@pytest.mark.parametrize("loss", ["adversarial", "uair"])
def test_the_generator_loss_is_in_the_curves(loss, make_cfg, tmp_path):
    run(make_cfg(f"loss={loss}", "epochs=2"))
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    generator_terms = [name for name in rows[0] if name.startswith("train/")]
    assert generator_terms and all(float(row[name]) > 0 for row in rows for name in generator_terms)
