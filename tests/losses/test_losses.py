"""Every `loss=` choice against its definition, and the ground-truth-leak guard for self-supervised ones."""

from __future__ import annotations

import inspect

import pytest
import torch
from conftest import SCENARIOS, SELF_SUPERVISED, runnable, trainer_for
from deepinv.physics import MRI, MultiCoilMRI
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset

from ssibench.data.pipeline import loaders, measurements
from ssibench.losses.measurement_consistency import AdjointMCLoss
from ssibench.losses.multi_operator_consistency import MOConsistencyLoss
from ssibench.losses.splitting_consistency import SplittingConsistencyLoss
from ssibench.parts.assembly import assemble
from ssibench.parts.scenarios import build_scenario

GUARDED = [(loss, physics) for loss in SELF_SUPERVISED for physics in SCENARIOS if runnable(loss, physics)]


def test_the_grid_is_what_the_benchmark_promises():
    assert "sup" not in SELF_SUPERVISED and "zero_filled" not in SELF_SUPERVISED
    assert len(SELF_SUPERVISED) == 18  # the 20 choices less the oracle and zero-filled
    assert {"mc", "ssdu", "ei", "mo_ei", "adversarial", "uair", "ensure", "robust_mo_ei"} <= set(SELF_SUPERVISED)
    noisy_only = {loss for loss in SELF_SUPERVISED if not runnable(loss, "mri")}
    assert noisy_only == {"ensure", "robust_ssdu", "noise2recon_ssdu", "ddssl", "robust_ei", "robust_mo_ei"}


def _mri(img_size=16, coils=None, seed=0):
    mask = (torch.rand(1, 1, img_size, img_size, generator=torch.Generator().manual_seed(seed)) > 0.5).float()
    if coils:
        return MultiCoilMRI(img_size=(img_size, img_size), coil_maps=coils, mask=mask)
    return MRI(img_size=(img_size, img_size), mask=mask)


def test_adjoint_mc_matches_its_formula():
    torch.manual_seed(0)
    physics = _mri(coils=4)
    x, x_net = torch.rand(2, 2, 16, 16), torch.rand(2, 2, 16, 16)
    y = physics(x)
    expected = (physics.A_adjoint(physics.A(x_net)) - physics.A_adjoint(y)).pow(2).mean()
    assert AdjointMCLoss()(y=y, x_net=x_net, physics=physics) == pytest.approx(expected.item(), rel=1e-5)
    assert AdjointMCLoss()(y=y, x_net=x, physics=physics) == pytest.approx(0.0, abs=1e-10)


def test_mc_uses_the_adjoint_form_in_multicoil_only(make_cfg):
    assert instantiate(make_cfg("loss=mc", "physics=multicoil").loss.losses[0]).__class__ is AdjointMCLoss
    assert instantiate(make_cfg("loss=mc", "physics=mri").loss.losses[0]).__class__.__name__ == "MCLoss"


class _SameMask:
    """A 'generator' whose fresh operator is the acquisition operator itself."""

    def __init__(self, mask):
        self.mask = mask

    def step(self, batch_size=1, **kwargs):
        return {"mask": self.mask}


@pytest.mark.parametrize("coils", [None, 4])
def test_mo_consistency_reduces_to_mc_when_the_new_operator_is_the_old(coils):
    physics = _mri(coils=coils)
    x_net = torch.rand(2, 2, 16, 16)
    y = physics(torch.rand(2, 2, 16, 16))
    loss = MOConsistencyLoss(physics_generator=_SameMask(physics.mask), apply_noise=False)
    pseudo_inverse = lambda y, physics: physics.A_dagger(y)  # A A† A = A: re-reconstruction is exact
    expected = torch.nn.functional.mse_loss(physics.A(x_net), y)
    assert loss(x_net=x_net, y=y, physics=physics, model=pseudo_inverse) == pytest.approx(expected.item(), rel=1e-4)


def test_mo_consistency_uses_a_fresh_operator():
    physics = _mri()
    seen = []
    model = lambda y, physics: seen.append(physics.mask.clone()) or physics.A_adjoint(y)
    other = _mri(seed=1).mask
    MOConsistencyLoss(physics_generator=_SameMask(other), apply_noise=False)(
        x_net=torch.rand(1, 2, 16, 16), y=physics(torch.rand(1, 2, 16, 16)), physics=physics, model=model
    )
    assert torch.equal(seen[0], other) and not torch.equal(physics.mask, other)


class _FixedSplits(torch.nn.Module):
    """Stands in for the split-wrapped model: returns preset reconstructions in turn."""

    def __init__(self, outputs):
        super().__init__()
        self.outputs = list(outputs)

    def forward(self, y, physics, **kwargs):
        return self.outputs.pop(0)


@pytest.mark.parametrize("coils", [None, 4])
def test_splitting_consistency_is_zero_for_agreeing_consistent_reconstructions(coils):
    physics = _mri(coils=coils)
    x = torch.rand(2, 2, 16, 16)
    y = physics(x)
    loss = SplittingConsistencyLoss(mask_generator=None)
    assert loss(x_net=x, y=y, physics=physics, model=_FixedSplits([x.clone()])) == pytest.approx(0.0, abs=1e-10)


def test_splitting_consistency_compares_only_the_unmeasured_kspace():
    physics = _mri()
    x = torch.rand(1, 2, 16, 16)
    y = physics(x)
    loss = SplittingConsistencyLoss(mask_generator=None)
    # A second reconstruction that differs only in measured k-space: MC sees it, the consistency term does not.
    measured_change = physics.A_adjoint(physics.A(torch.rand(1, 2, 16, 16)))
    x2 = x + measured_change
    unmeasured = physics.clone()
    unmeasured.update(mask=1 - physics.mask)
    assert unmeasured.A(x2 - x).abs().max() < 1e-5
    expected = torch.nn.functional.mse_loss(physics.A(x2), y)
    assert loss(x_net=x, y=y, physics=physics, model=_FixedSplits([x2])) == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize("loss,physics", GUARDED, ids=[f"{l}-{p}" for l, p in GUARDED])
def test_loss_forward_never_reads_the_ground_truth(loss, physics, make_cfg):
    """Each loss term (and discriminator term) called directly with the ground truth set to NaN
    stays finite, and so do its gradients."""
    cfg = make_cfg(f"loss={loss}", f"physics={physics}")
    torch.manual_seed(0)
    physics_op, generator = build_scenario(cfg.physics, seed=0)
    x = torch.rand(2, 2, cfg.img_size, cfg.img_size)
    params = generator.step(batch_size=2)
    physics_op.update(**params)
    y = physics_op(x)
    nan_truth = torch.full_like(x, float("nan"))
    model = instantiate(cfg.model)
    given = {}
    if cfg.loss.get("real_samples") is not None:  # D's real samples, as the run attaches them
        given["real_samples"] = instantiate(cfg.loss.real_samples)
        given["real_samples"].attach([(nan_truth[i], y[i], {k: v[i] for k, v in params.items()}) for i in range(2)])
    terms = [instantiate(spec) for spec in cfg.loss.losses] + [instantiate(spec, **given) for spec in cfg.loss.losses_d]
    extra = {"D": instantiate(cfg.loss.discriminator)} if cfg.loss.get("discriminator") is not None else {}
    for term in terms:
        model = term.adapt_model(model)
    model.train()
    # as deepinv's Trainer does: wrapped models (splitting, R2R) keep what the loss needs
    takes_update = "update_parameters" in inspect.signature(model.forward).parameters
    x_net = model(y, physics_op, **({"update_parameters": True} if takes_update else {}))
    total = sum(term(x=nan_truth, x_net=x_net, y=y, physics=physics_op, model=model, **extra).mean() for term in terms)
    total.backward()
    assert torch.isfinite(total)
    networks = [model] + list(extra.values())
    assert all(torch.isfinite(p.grad).all() for net in networks for p in net.parameters() if p.grad is not None)


class _NaNTruth(Dataset):
    """The run's measurements with the ground truth replaced by NaN."""

    def __init__(self, data):
        self.data = data

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        x, y, params = self.data[i]
        return torch.full_like(x, float("nan")), y, params


# One scenario per loss (multicoil, or noisy for a loss that needs noise): every runnable (loss, scenario)
# already trains with the ground truth withheld in the smoke sweep (tests/test_run.py), where reading it
# fails the run.
TRAINED_WITH_NAN = [(loss, next(p for p in ("multicoil", "noisy") if runnable(loss, p))) for loss in SELF_SUPERVISED]


@pytest.mark.parametrize("loss,physics", TRAINED_WITH_NAN, ids=[f"{l}-{p}" for l, p in TRAINED_WITH_NAN])
def test_training_with_nan_ground_truth_stays_finite(loss, physics, make_cfg, tmp_path):
    """A real training epoch (deepinv Trainer, the run's own data and loss): every x it gets is NaN."""
    cfg = make_cfg(f"loss={loss}", f"physics={physics}")
    trainer = trainer_for(cfg, output_dir=tmp_path)
    assert all(batch[0].isnan().all() for batch in trainer.train_dataloader)
    networks = [trainer.model] + ([trainer.D] if getattr(trainer, "D", None) is not None else [])
    before = [[p.detach().clone() for p in net.parameters()] for net in networks]
    trainer.train()  # wraps the model for splitting/R2R losses: same parameters, same order
    for net, old in zip(networks, before):
        new = list(net.parameters())
        assert all(torch.isfinite(p).all() for p in new)
        assert any(not torch.equal(b, a) for b, a in zip(old, new)), f"the weights of {type(net).__name__} did not change"
    for history in trainer.loss_history.values():
        assert history and all(torch.isfinite(torch.tensor(v)) for v in history)


@pytest.mark.parametrize("resident", [True, False], ids=["resident", "loader"])
def test_a_self_supervised_run_holds_no_training_ground_truth(resident, make_cfg):
    """The training items, batches and D's real-sample stream carry NaN for x (not a stand-in over the
    real tensor); the test items keep theirs, and an oracle's training items too."""
    cfg = make_cfg("loss=adversarial", f"trainer.resident_data={resident}")
    data = measurements(cfg)
    parts = assemble(cfg, data, "cpu")
    train, test, _ = loaders(cfg, data, parts.streams)
    assert all(data.train[i][0].isnan().all() and data.train[i][0].shape == data.test[0][0].shape
               for i in range(len(data.train)))
    assert all(x.isnan().all() for x, _, _ in train)
    if resident:
        assert train.items[0].isnan().all()  # the stacked copy on the device
    real = parts.losses_d[0].real_samples._loader
    assert all(x.isnan().all() for x, _, _ in real)
    assert all(torch.isfinite(x).all() for x, _, _ in test)
    oracle = measurements(make_cfg("loss=sup"))
    assert torch.isfinite(oracle.train[0][0]).all()


def test_the_leak_guard_catches_a_loss_that_reads_the_ground_truth(make_cfg, tmp_path):
    """The guards above can fail: the oracle loss gets NaN from the first and, through deepinv's
    Trainer (which hands all-NaN ground truth to losses as None), cannot train at all."""
    cfg = make_cfg("loss=sup")
    x_net = torch.rand(1, 2, 8, 8)
    assert not torch.isfinite(instantiate(cfg.loss.losses[0])(x=torch.full_like(x_net, float("nan")), x_net=x_net)).all()
    trainer = trainer_for(cfg, lambda train: DataLoader(_NaNTruth(train), batch_size=4), tmp_path)
    with pytest.raises(AttributeError):
        trainer.train()


def test_range_noise_draws_levels_in_its_range():
    from ssibench.transforms.noise import RangeNoise

    transform = RangeNoise(sigma_range=[0.05, 0.2], rng=torch.Generator().manual_seed(0))
    levels = [transform._get_params()["noise_model"][0].sigma.item() for _ in range(200)]
    assert 0.05 <= min(levels) < 0.07 and 0.18 < max(levels) <= 0.2
    y = torch.ones(1, 2, 8, 8)
    assert transform(y).shape == y.shape and not torch.equal(transform(y), y)
