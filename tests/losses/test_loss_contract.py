"""The loss contract (ssibench.losses.contract): no ground truth for a self-supervised loss, the call and
the returned value checked, each broken rule one line, for built-in and plugged-in losses alike."""

from __future__ import annotations

import pytest
import torch
from conftest import LOSSES, SCENARIOS, _compose_plain, launch, runnable, trainer_for
from deepinv.loss import Loss
from deepinv.physics import LinearPhysics
from faulty_parts import GROUND_TRUTH_READS, ReadsGroundTruth, ReturnsFloat, ReturnsPixelMap, WithoutKwargs
from torch.utils.data import DataLoader, Subset

from ssibench.data.pipeline import measurements
from ssibench.losses.contract import (
    ADVERSARIAL_KEYWORDS,
    SIGNATURE,
    TRAINER_KEYWORDS,
    GroundTruthRead,
    LossContractError,
    UnderContract,
    enforce_contract,
)
from ssibench.parts.assembly import assemble
from ssibench.results import schema as results_io
from ssibench.run import run

CHEAT = "+loss.losses=[{_target_:faulty_parts.ReadsGroundTruth}]"  # as a user plugs in a loss


def _call(term, supervised=False, label="Cheat", target="faulty_parts.Term"):
    """Put ``term`` under the contract as a run does and call it once as deepinv's Trainer does."""
    enforce_contract([term], [{"_target_": target}], label, supervised)
    x = torch.rand(2, 2, 8, 8)
    physics = LinearPhysics()
    return term(x=x, x_net=torch.rand(2, 2, 8, 8), y=physics(x), physics=physics, model=None, epoch=0)


def _assert_one_line(message: str, *parts: str) -> None:
    assert "\n" not in message
    for part in parts:
        assert part in message, message


@pytest.mark.parametrize("way", sorted(GROUND_TRUTH_READS))
def test_a_self_supervised_loss_reading_x_is_stopped_in_one_line(way):
    with pytest.raises(GroundTruthRead) as error:
        _call(ReadsGroundTruth(way), target="faulty_parts.ReadsGroundTruth")
    _assert_one_line(
        str(error.value), "loss 'Cheat' (faulty_parts.ReadsGroundTruth) read the ground truth x",
        "a self-supervised loss must not read x",
    )


def test_a_supervised_loss_reads_x():
    assert torch.isfinite(_call(ReadsGroundTruth("arithmetic"), supervised=True)).all()


class _PassesXOn(Loss):
    """A loss that hands x to a sub-loss and tests ``x is None``, reading nothing: allowed."""

    def __init__(self):
        super().__init__()
        self.inner = WithoutKwargs()

    def forward(self, x_net, y, physics, x=None, **kwargs):
        assert x is not None  # the trainer gave one, withheld
        return self.inner(x_net, y, physics)


def test_passing_x_on_reads_nothing():
    assert _call(_PassesXOn()).shape == (2,)


@pytest.mark.parametrize(
    "term,what",
    [
        (WithoutKwargs(), "cannot be called with the trainer's keywords x, x_net, y, physics, model, epoch "
                          "(got an unexpected keyword argument 'x')"),
        (ReturnsFloat(), "returned a float, not a tensor"),
        (ReturnsPixelMap(), "returned a tensor of shape (2, 2, 8, 8) for a batch of 2 images"),
    ],
    ids=["no kwargs", "float", "pixel map"],
)
def test_a_broken_contract_is_one_line_with_the_contract(term, what):
    with pytest.raises(LossContractError) as error:
        _call(term)
    message = str(error.value)
    _assert_one_line(message, "loss 'Cheat' (faulty_parts.Term) ", what, SIGNATURE, *TRAINER_KEYWORDS, "shape (B,)")


class PlainModule(torch.nn.Module):  # a loss written as a bare module: deepinv's trainer needs a Loss
    def forward(self, x_net, **kwargs):
        return x_net.flatten(1).mean(1)


class PlainCallable:
    def __call__(self, x_net, **kwargs):
        return x_net.flatten(1).mean(1)


@pytest.mark.parametrize("term", [PlainCallable(), PlainModule()], ids=["callable", "torch module"])
def test_a_loss_that_is_not_a_deepinv_loss_is_refused(term):
    refused = rf"^loss 'Cheat' \(faulty_parts.Term\) is a {type(term).__name__}, not a deepinv.loss.Loss: subclass"
    with pytest.raises(LossContractError, match=refused):
        _call(term)


class _FailsInside(Loss):
    def forward(self, x_net, **kwargs):
        return torch.cat(x_net)  # a TypeError of the loss's own, not of its call


def test_an_error_inside_a_loss_stays_that_error():
    with pytest.raises(TypeError, match="cat"):
        _call(_FailsInside())


class _OwnCall(Loss):
    """A supervised MSE written with its own ``__call__`` (e.g. to add a decorator): it never enters forward."""

    def __call__(self, x_net, x=None, **kwargs):
        return (x_net - x).pow(2).flatten(1).mean(1)


class _ReadsXInAHook(Loss):
    """An honest forward, and a forward pre-hook that reads the ground truth from the call's keywords."""

    def __init__(self):
        super().__init__()
        self.register_forward_pre_hook(lambda module, args, kwargs: kwargs["x"].sum(), with_kwargs=True)

    def forward(self, x_net, **kwargs):
        return x_net.flatten(1).mean(1)


@pytest.mark.parametrize("term", [_OwnCall(), _ReadsXInAHook()], ids=["own __call__", "hook"])
def test_a_term_is_guarded_where_the_trainer_calls_it(term):
    with pytest.raises(GroundTruthRead, match=r"^loss 'Cheat' \(faulty_parts.Term\) read the ground truth x"):
        _call(term)
    assert type(term).__name__ == type(term).__mro__[2].__name__  # its curves keep their name


class _Returns(Loss):
    """Returns ``values[k]`` at its k-th call (the last one from then on)."""

    def __init__(self, *values):
        super().__init__()
        self.values, self.calls = values, 0

    def forward(self, x_net, **kwargs):
        self.calls += 1
        return self.values[min(self.calls, len(self.values)) - 1](x_net)


def _per_image(x_net):
    return x_net.flatten(1).mean(1)


@pytest.mark.parametrize(
    "wrong,what",
    [
        (lambda x_net: _per_image(x_net).round().int(), "a torch.int32 tensor, not a real floating one"),
        (lambda x_net: torch.complex(_per_image(x_net), _per_image(x_net)), "a torch.complex64 tensor"),
        (lambda x_net: _per_image(x_net).detach(), "a tensor without a gradient, detached from x_net"),
        (lambda x_net: x_net.pow(2), "a tensor of shape (2, 2, 8, 8) for a batch of 2 images"),
        (lambda x_net: 0, "a int, not a tensor"),
    ],
    ids=["int", "complex", "detached", "pixel map", "python int"],
)
def test_the_value_is_checked_on_every_call(wrong, what):
    """Right 999 times, then wrong: the 1000th call is refused in one line naming it."""
    term = _Returns(*[_per_image] * 999, wrong)
    enforce_contract([term], [{"_target_": "faulty_parts.Term"}], "Late", False)
    physics = LinearPhysics()
    for call in range(1, 1001):
        x_net = torch.rand(2, 2, 8, 8, requires_grad=True)
        given = dict(x=torch.rand(2, 2, 8, 8), x_net=x_net, y=x_net.detach(), physics=physics, model=None, epoch=0)
        if call < 1000:
            term(**given)
    with pytest.raises(LossContractError) as error:
        term(**given)
    _assert_one_line(str(error.value), "loss 'Late' (faulty_parts.Term) returned ", what, "at call 1000: ", SIGNATURE)


def test_no_gradient_is_asked_for_where_none_is_computed():
    """Under torch.no_grad (or for an x_net without a gradient) a value without one is what it should be."""
    term = _Returns(lambda x_net: _per_image(x_net).detach())
    enforce_contract([term], [{"_target_": "faulty_parts.Term"}], "Eval", False)
    with torch.no_grad():
        x_net = torch.rand(2, 2, 8, 8, requires_grad=True)
        assert term(x_net=x_net, x=None, y=None, physics=None, model=None, epoch=0).shape == (2,)


@pytest.mark.parametrize("value", [torch.tensor(1.0), torch.ones(1), torch.ones(2)], ids=["scalar", "(1,)", "(B,)"])
def test_a_scalar_or_one_value_per_image_is_accepted(value):
    class Returns(Loss):
        def forward(self, **kwargs):
            return value

    assert torch.equal(_call(Returns()), value)


@pytest.mark.parametrize("loss,extra", [("mc", ()), ("adversarial", ADVERSARIAL_KEYWORDS)])
def test_the_keywords_are_those_deepinv_passes(loss, extra, make_cfg, tmp_path):
    """The contract's keyword list is what deepinv's Trainer (AdversarialTrainer) really passes."""
    cfg = make_cfg(f"loss={loss}", "loss.losses=[{_target_: faulty_parts.RecordsKeywords}]", "epochs=1")
    trainer = trainer_for(cfg, lambda train: DataLoader(Subset(train, range(2)), batch_size=2), tmp_path)
    trainer.train()
    assert trainer.losses[0].keywords == {*TRAINER_KEYWORDS, *extra}


@pytest.mark.parametrize("loss", LOSSES)
def test_every_built_in_term_is_under_the_contract(loss, make_cfg):
    """Each term of each built-in loss, D's too, is checked; only the oracle's sees the ground truth."""
    physics = next(p for p in SCENARIOS if runnable(loss, p))
    cfg = make_cfg(f"loss={loss}", f"physics={physics}")
    parts = assemble(cfg, measurements(cfg), "cpu")
    terms = parts.losses + parts.losses_d
    assert len(terms) == len(cfg.loss.losses) + len(cfg.loss.losses_d)
    assert all(isinstance(term, UnderContract) for term in terms)
    assert {term._ssibench_contract.supervised for term in terms} <= {loss == "sup"}
    assert [type(term).__name__ for term in terms] == [t._target_.rsplit(".", 1)[-1] for t in cfg.loss.losses + cfg.loss.losses_d]


@pytest.mark.parametrize(
    "term",
    ["ReadsGroundTruth, read: arithmetic", "ReadsGroundTruth, read: caught", "OwnCallMSE"],
    ids=["arithmetic", "caught", "own __call__"],
)
def test_run_stops_a_loss_reading_x_before_any_result(term, make_cfg, tmp_path):
    cheat = f"+loss.losses=[{{_target_: faulty_parts.{term}}}]"
    cfg = make_cfg("~loss", cheat, "+loss.label=Cheat")
    named = rf"^loss 'Cheat' \(faulty_parts.{term.split(',')[0]}\) read the ground truth x \("
    with pytest.raises(GroundTruthRead, match=named):
        run(cfg)
    assert not list(tmp_path.rglob("results.json"))


def test_run_stops_a_loss_without_kwargs(make_cfg, tmp_path):
    cfg = make_cfg("loss.losses=[{_target_: faulty_parts.WithoutKwargs}]")
    with pytest.raises(LossContractError, match="unexpected keyword argument"):
        run(cfg)
    assert not list(tmp_path.rglob("results.json"))


def test_launch_stops_a_loss_reading_x_in_one_line(tmp_path, data_dir):
    proc = launch("debug=smoke", "~loss", CHEAT, "+loss.label=Cheat", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ssibench: error: loss 'Cheat' (faulty_parts.ReadsGroundTruth) read the ground truth x (")
    assert last.endswith("must not read x (only a loss whose config says supervised: true is given it)")
    assert "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("results.json"))


def test_a_sweep_records_the_reader_failed_and_lets_an_oracle_read(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "loss=mc,sup", CHEAT, f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir,
    )
    assert proc.returncode != 0  # a job failed
    by_loss = {r["loss"]: r for r in map(results_io.read, sweep_dir.glob("*/results.json"))}
    label = _compose_plain("loss=mc").loss.label
    assert by_loss["mc"]["status"] == "failed" and by_loss["mc"]["metrics"] == {}
    assert by_loss["mc"]["reason"].startswith(
        f"GroundTruthRead: loss '{label}' (faulty_parts.ReadsGroundTruth) read the ground truth x"
    )
    assert by_loss["sup"]["status"] == "ok"  # the same term, in a loss that says supervised: true
