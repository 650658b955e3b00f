"""The adversarial losses as the original benchmark trains them: its discriminator, the terms against
their formulas, and their own random streams (fresh masks, the real-sample loader)."""

from __future__ import annotations

import csv
import math

import pytest
import torch
from conftest import ROOT, trainer_for
from deepinv.physics import MRI, MultiCoilMRI
from deepinv.physics.generator import GaussianMaskGenerator
from hydra.utils import instantiate
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from ssibench.losses.adversarial import (
    MultiOperatorAdversarialDiscriminatorLoss,
    MultiOperatorAdversarialGeneratorLoss,
    TrainingMeasurements,
)
from ssibench.losses.uair import UAIRDiscriminatorLoss, UAIRGeneratorLoss
from ssibench.models.skip_conv_discriminator import SkipConvDiscriminator
from ssibench.run import run
from ssibench.training.random_streams import RandomStreams

SIZE = 16
# A smaller discriminator of the same design, for run tests about the losses' streams, not its size.
SMALL_D = ("loss.discriminator.d_dim=8", "loss.discriminator.d_blocks=1")


# --- the discriminator -------------------------------------------------------------------------


def _original_layers(in_channels: int, d: int, blocks: int, height: int, width: int) -> list[tuple[str, tuple]]:
    """The parameters of Cole et al.'s discriminator as the original builds them: a bias-free 3×3
    convolution to d channels, 2 bias-free 3×3 d→d convolutions per block, a dense layer d·H·W → 1."""
    convs = [("initial_conv.0.weight", (d, in_channels, 3, 3))]
    convs += [(f"blocks.{i}.0.weight", (d, d, 3, 3)) for i in range(2 * blocks)]
    return convs + [("final.weight", (1, d * height * width)), ("final.bias", (1,))]


def _original_count(in_channels: int, d: int, blocks: int, height: int, width: int) -> int:
    return 9 * in_channels * d + 2 * blocks * 9 * d * d + d * height * width + 1


@pytest.mark.parametrize("side", [320, 64])
def test_the_discriminator_is_the_originals(side):
    D = SkipConvDiscriminator(img_size=(side, side))  # the original's defaults: d_dim 128, 4 blocks, 2 channels
    layers = [(name, tuple(p.shape)) for name, p in D.named_parameters()]
    assert layers == _original_layers(2, 128, 4, side, side)
    assert sum(p.numel() for p in D.parameters()) == _original_count(2, 128, 4, side, side)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is None and c.kernel_size == (3, 3) and c.padding == (1, 1) and c.stride == (1, 1) for c in convs)
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.01}
    assert not any(isinstance(m, (nn.AvgPool2d, nn.MaxPool2d)) for m in D.modules())  # full resolution


@pytest.mark.parametrize("scale", [[], ["experiment=ssibench"]])  # the default scale, and the paper's at 320×320
def test_the_discriminator_a_run_builds_has_the_originals_parameter_count_the_docs_give(scale, make_cfg):
    cfg = make_cfg("loss=adversarial", *scale, smoke=False)
    D = instantiate(cfg.loss.discriminator)  # building is cheap, even the 14 M parameters at 320×320
    count = sum(p.numel() for p in D.parameters())
    layers = _original_layers(2, cfg.discriminator_channels, 4, cfg.img_size, cfg.img_size)
    assert count == sum(math.prod(shape) for _, shape in layers)
    page = " ".join((ROOT / "docs" / "scenarios.rst").read_text().split())
    assert f"{count / 1e6:.1f} M parameters at {cfg.img_size}×{cfg.img_size}" in page


def test_the_discriminator_computes_its_formula():
    torch.manual_seed(0)
    D = SkipConvDiscriminator(img_size=(8, 6), d_dim=4, d_blocks=2, use_sigmoid=False)
    u = torch.randn(3, 2, 8, 6)
    w = dict(D.named_parameters())
    h = F.leaky_relu(F.conv2d(u, w["initial_conv.0.weight"], padding=1), 0.01)
    for k in range(2):  # two branches, both reading the block's input
        h = F.leaky_relu(F.conv2d(h, w[f"blocks.{2 * k}.0.weight"], padding=1), 0.01) + F.leaky_relu(
            F.conv2d(h, w[f"blocks.{2 * k + 1}.0.weight"], padding=1), 0.01
        )
    score = h.flatten(1) @ w["final.weight"].T + w["final.bias"]
    assert D(u).shape == (3,)
    assert torch.allclose(D(u), score[:, 0], atol=1e-6)
    D.use_sigmoid = True
    assert torch.allclose(D(u), torch.sigmoid(score[:, 0]), atol=1e-6)


def test_the_discriminator_refuses_images_of_another_size():
    with pytest.raises(ValueError, match="built for 8×8 images, got 16×16"):
        SkipConvDiscriminator(img_size=(8, 8), d_dim=2, d_blocks=1)(torch.rand(1, 2, 16, 16))


def test_both_losses_train_the_original_discriminator_with_a_linear_score(make_cfg):
    for loss in ("adversarial", "uair"):
        spec = make_cfg(f"loss={loss}", "experiment=ssibench").loss.discriminator  # the paper's setup
        assert spec._target_ == "ssibench.models.skip_conv_discriminator.SkipConvDiscriminator"
        assert (spec.d_dim, spec.d_blocks, spec.in_channels, spec.use_sigmoid) == (128, 4, 2, False)
        assert list(spec.img_size) == [32, 32]  # ${img_size} of debug=smoke, which comes after the experiment


# --- the loss terms against their formulas ------------------------------------------------------


class _MeanScore(nn.Module):
    """A discriminator whose score is the image's mean; it remembers what it saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, u):
        self.seen.append(u.detach().clone())
        return u.flatten(1).mean(1)


def _masks(seed=0):
    return GaussianMaskGenerator(img_size=(SIZE, SIZE), acceleration=4, rng=torch.Generator().manual_seed(seed))


def _reference_operator(physics, seed, batch_size, draws=1):
    """``physics`` with the masks of the ``draws``-th step of a mask generator seeded ``seed``."""
    generator = _masks(seed)
    for _ in range(draws):
        params = generator.step(batch_size=batch_size)
    reference = physics.clone()
    reference.update(**params)
    return reference


def _lsgan_d(real_scores, fake_scores):
    return (real_scores - 1).pow(2).mean() + fake_scores.pow(2).mean()


def _physics(coils=None):
    mask = _masks(7).step(batch_size=1)["mask"]
    if coils:
        return MultiCoilMRI(img_size=(SIZE, SIZE), coil_maps=coils, mask=mask)
    return MRI(img_size=(SIZE, SIZE), mask=mask)


class _Measured(torch.utils.data.Dataset):
    """Training measurements of other images, each with its own mask; ``x`` NaN (never read)."""

    def __init__(self, physics, n, seed=3):
        g = torch.Generator().manual_seed(seed)
        masks = _masks(seed + 1)
        self.items = []
        for _ in range(n):
            own = physics.clone()
            own.update(**masks.step(batch_size=1))
            y = own(torch.rand(1, 2, SIZE, SIZE, generator=g))[0]
            self.items.append((torch.full((2, SIZE, SIZE), float("nan")), y, {"mask": own.mask[0]}))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]



def _registered(*terms, seed: int = 0) -> RandomStreams:
    """The terms' generators registered as a run registers them (which seeds them)."""
    streams = RandomStreams(seed)
    for k, term in enumerate(terms):
        streams.register_module(f"term{k}", term)
    return streams


def _attached(data, batch_size: int, seed: int = 0) -> TrainingMeasurements:
    stream = TrainingMeasurements(seed=seed, batch_size=batch_size)
    stream.attach(data)
    return stream

@pytest.mark.parametrize("seed", [0, 3])
def test_adversarial_generator_term_is_lsgan_on_fresh_back_projections(seed):
    physics, x_net, D = _physics(), torch.rand(2, 2, SIZE, SIZE), _MeanScore()
    loss = MultiOperatorAdversarialGeneratorLoss(physics_generator=_masks(), seed=seed, weight_adv=2.0)
    _registered(loss, seed=7)  # a run's streams: this term's start from 42 + seed whatever the run's seed
    value = loss(x_net=x_net, physics=physics, D=D, epoch=0)
    fresh = _reference_operator(physics, 42 + seed, batch_size=2)  # its own masks start from 42 + seed
    fake = fresh.A_adjoint(fresh.A(x_net))
    assert torch.allclose(D.seen[0], fake, atol=1e-6)
    assert value.item() == pytest.approx(2.0 * (fake.flatten(1).mean(1) - 1).pow(2).mean().item(), rel=1e-5)


@pytest.mark.parametrize("coils", [None, 4])
def test_adversarial_discriminator_term_scores_other_acquisitions_against_fresh_back_projections(coils):
    physics, x_net, D = _physics(coils), torch.rand(4, 2, SIZE, SIZE), _MeanScore()
    data = _Measured(physics, n=6)
    loss = MultiOperatorAdversarialDiscriminatorLoss(
        physics_generator=_masks(), real_samples=_attached(data, batch_size=4), seed=0, weight_adv=3.0
    )
    _registered(loss)
    value = loss(x_net=x_net, physics=physics, D=D, epoch=0)

    first = next(iter(DataLoader(data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(42))))
    fully_sampled = physics.clone()
    fully_sampled.update(mask=torch.ones_like(physics.mask))
    real = fully_sampled.A_adjoint(first[1])  # the original's Aᴴ with a mask of ones of other images' y
    own = physics.clone()
    own.update(mask=first[2]["mask"])
    assert torch.allclose(real, own.A_adjoint(first[1]), atol=1e-6)  # = their zero-filled images
    fresh = _reference_operator(physics, 42, batch_size=4)
    fake = fresh.A_adjoint(fresh.A(x_net))
    assert torch.allclose(D.seen[0], real, atol=1e-6) and torch.allclose(D.seen[1], fake, atol=1e-6)
    expected = 3.0 * _lsgan_d(real.flatten(1).mean(1), fake.flatten(1).mean(1))
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


def test_adversarial_discriminator_needs_data():
    with pytest.raises(RuntimeError, match="attach"):
        MultiOperatorAdversarialDiscriminatorLoss(physics_generator=_masks(), real_samples=TrainingMeasurements())(
            x_net=torch.rand(1, 2, SIZE, SIZE), physics=_physics(), D=_MeanScore()
        )


@pytest.mark.parametrize("coils,domain", [(None, "measurements"), (4, "A_adjoint")])
def test_uair_generator_term_matches_its_formula(coils, domain):
    physics, x_net, D = _physics(coils), torch.rand(2, 2, SIZE, SIZE), _MeanScore()
    model = lambda y, physics: 0.5 * physics.A_adjoint(y)  # not consistent: the consistency term is > 0
    loss = UAIRGeneratorLoss(physics_generator=_masks(), domain=domain, seed=0, weight_adv=0.5, weight_mc=2.0)
    _registered(loss)
    value = loss(x_net=x_net, physics=physics, model=model, D=D, epoch=0)

    fresh = _reference_operator(physics, 42, batch_size=2)
    y_g = fresh.A(x_net)
    y_again = fresh.A(model(y_g, fresh))
    view = (lambda y: y) if domain == "measurements" else fresh.A_adjoint  # multicoil: the image domain
    assert torch.allclose(D.seen[0], view(y_g), atol=1e-6)
    adversarial = (view(y_g).flatten(1).mean(1) - 1).pow(2).mean()
    consistency = (view(y_again) - view(y_g)).pow(2).mean()
    assert consistency > 0
    assert value.item() == pytest.approx((0.5 * adversarial + 2.0 * consistency).item(), rel=1e-5)


@pytest.mark.parametrize("coils,domain", [(None, "measurements"), (4, "A_adjoint")])
def test_uair_discriminator_term_sees_acquired_data_as_real(coils, domain):
    physics, x_net, D = _physics(coils), torch.rand(2, 2, SIZE, SIZE), _MeanScore()
    y = physics(torch.rand(2, 2, SIZE, SIZE))
    loss = UAIRDiscriminatorLoss(physics_generator=_masks(), domain=domain, seed=0, weight_adv=3.0)
    _registered(loss)
    value = loss(y=y, x_net=x_net, physics=physics, D=D, epoch=0)

    fresh = _reference_operator(physics, 42, batch_size=2)
    real = y if domain == "measurements" else physics.A_adjoint(y)
    fake = fresh.A(x_net) if domain == "measurements" else fresh.A_adjoint(fresh.A(x_net))
    assert torch.equal(D.seen[0], real) and torch.allclose(D.seen[1], fake, atol=1e-6)
    expected = 3.0 * _lsgan_d(real.flatten(1).mean(1), fake.flatten(1).mean(1))
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize("terms", ["adversarial", "uair"])
def test_generator_and_discriminator_terms_draw_the_same_masks_at_every_step(terms):
    """As in the original: each term has its own mask generator, seeded alike, whatever the run's
    generic seeding did to them before training started."""
    physics = _physics()
    if terms == "adversarial":
        g = MultiOperatorAdversarialGeneratorLoss(physics_generator=_masks(), seed=1)
        d = MultiOperatorAdversarialDiscriminatorLoss(
            physics_generator=_masks(), real_samples=_attached(_Measured(physics, n=8), batch_size=2), seed=1
        )
    else:
        g = UAIRGeneratorLoss(physics_generator=_masks(), seed=1)
        d = UAIRDiscriminatorLoss(physics_generator=_masks(), seed=1)
    assert len(_registered(g, d, seed=1).names()) >= 2  # a stream each, seeded as the terms fix it
    D_g, D_d, model = _MeanScore(), _MeanScore(), lambda y, physics: physics.A_adjoint(y)
    for step in range(2):
        x_net = torch.rand(2, 2, SIZE, SIZE)
        inputs = {"x_net": x_net, "y": physics(x_net), "physics": physics, "model": model, "epoch": 0}
        g(D=D_g, **inputs)
        d(D=D_d, **inputs)
        fake_g, fake_d = D_g.seen[-1], D_d.seen[-1]
        assert torch.equal(fake_g, fake_d)
        fresh = _reference_operator(physics, 43, batch_size=2, draws=step + 1)
        reference = fresh.A_adjoint(fresh.A(x_net)) if terms == "adversarial" else fresh.A(x_net)
        assert torch.allclose(fake_d, reference, atol=1e-6)


# --- the real-sample stream ---------------------------------------------------------------------


class _Indexed(torch.utils.data.Dataset):
    """Item i is (nan, i, {}): the stream's order can be read off its batches."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return torch.tensor(float("nan")), torch.tensor(i), {}


def _original_orders(n, batch_size, seed, epochs, steps):
    """The original's stream: one DataLoader made once with a generator seeded 42 + seed (its seed
    0 is 42), and a new iterator on it at every epoch; ``steps`` batches drawn per epoch."""
    loader = DataLoader(
        _Indexed(n), batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(42 + seed)
    )
    orders = []
    for _ in range(epochs):
        batches = iter(loader)
        orders.append([next(batches)[1].tolist() for _ in range(steps)])
    return orders


def _stream_orders(stream, epochs, steps, first_epoch=0):
    return [[stream.next_measurements(epoch).tolist() for _ in range(steps)] for epoch in range(first_epoch, epochs)]


def _stream(n=10, batch_size=4, seed=0):
    stream = _attached(_Indexed(n), batch_size, seed)
    _registered(stream, seed=7)  # seeded as a run's streams seed it: from 42 + seed, whatever the run's
    return stream


@pytest.mark.parametrize("seed", [0, 5])
def test_the_real_samples_are_the_originals_stream(seed):
    stream = _stream(seed=seed)
    got = _stream_orders(stream, epochs=3, steps=3)
    assert got == _original_orders(10, 4, seed, epochs=3, steps=3)
    assert [len(batch) for batch in got[0]] == [4, 4, 2]  # the trainer's batch size, the last one short
    assert sorted(i for batch in got[0] for i in batch) == list(range(10))  # one pass over the training set per epoch
    assert got[0] != got[1] != got[2]  # a new order every epoch: the generator goes on, never reseeded


def test_the_real_samples_restart_at_every_epoch_even_unfinished():
    stream = _stream()
    got = [_stream_orders(stream, epochs=e + 1, steps=1, first_epoch=e)[0] for e in range(3)]  # one batch per epoch
    assert got == [order[:1] for order in _original_orders(10, 4, 0, epochs=3, steps=1)]


def test_more_steps_than_an_epoch_holds_start_a_new_pass():
    stream = _stream(n=6, batch_size=4)
    got = [stream.next_measurements(0).tolist() for _ in range(4)]  # e.g. a benchmark of steps at epoch 0
    assert sorted(got[0] + got[1]) == sorted(got[2] + got[3]) == list(range(6))


def test_the_real_samples_resume_from_the_state_of_rng_alone():
    """At an epoch boundary the stream's whole state is its generator: restored into a new stream,
    the later epochs are those of an uninterrupted one; without it they are not (the order of an
    epoch depends on the epochs before it, not on the seed alone)."""
    uninterrupted = _stream_orders(_stream(), epochs=4, steps=3)
    first = _stream()
    _stream_orders(first, epochs=2, steps=3)
    saved = first.rng.get_state()

    resumed = _stream()
    resumed.rng.manual_seed(99)  # the resumed run's generic seeding, then the checkpoint's state
    resumed.rng.set_state(saved)
    assert _stream_orders(resumed, epochs=4, steps=3, first_epoch=2) == uninterrupted[2:]
    assert _stream_orders(_stream(), epochs=4, steps=3, first_epoch=2) != uninterrupted[2:]


def test_the_stream_is_a_small_explicit_state():
    stream = TrainingMeasurements(seed=42)
    assert [name for name, value in vars(stream).items() if isinstance(value, torch.Generator)] == ["rng"]
    assert stream.rng.device.type == "cpu"


# --- in a run ------------------------------------------------------------------------------------


def test_a_run_gives_the_discriminator_the_originals_real_sample_stream(make_cfg, tmp_path):
    cfg = make_cfg("loss=adversarial", *SMALL_D, "split.max_train=13")  # 10 train, 3 held out: 3 batches
    trainer = trainer_for(cfg, output_dir=tmp_path / "train")
    stream = trainer.losses_d[0].real_samples
    got = [stream.next_measurements(0) for _ in range(3)]
    train_data = trainer.train_dataloader.dataset
    reference = DataLoader(train_data, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(42))
    assert all(torch.equal(a, b[1]) for a, b in zip(got, reference, strict=True))


def test_a_continued_run_ends_equal_to_an_uninterrupted_one(make_cfg, tmp_path):
    """2 epochs, then on to 3 from the checkpoint: the fresh masks of both terms and the real samples
    go on where they were (2 batches an epoch, the last one short). UAIR's terms draw their masks
    the same way (FreshOperators) and have no other stream."""
    setup = ("loss=adversarial", *SMALL_D, "split.max_train=6")
    straight = run(make_cfg(*setup, "epochs=3", output_dir=tmp_path / "straight"))
    run(make_cfg(*setup, "epochs=2", output_dir=tmp_path / "continued"))
    continued = run(make_cfg(*setup, "epochs=3", output_dir=tmp_path / "continued"))
    assert continued["epochs"] == 3 and continued["per_image"] == straight["per_image"]
    assert (tmp_path / "continued" / "metrics.csv").read_text() == (tmp_path / "straight" / "metrics.csv").read_text()


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
    run(make_cfg(f"loss={loss}", *SMALL_D, "epochs=2"))
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").read_text().splitlines()))
    generator_terms = [name for name in rows[0] if name.startswith("train/")]
    assert generator_terms and all(float(row[name]) > 0 for row in rows for name in generator_terms)
