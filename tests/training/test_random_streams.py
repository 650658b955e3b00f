"""One registry of random streams: every generator a run draws from is registered, seeded from the
run's seed and saved in checkpoints, so a run continued from a checkpoint ends equal to one that
never stopped, for every loss."""

from __future__ import annotations

import gc

import pytest
import torch
from conftest import LOSSES, runnable, trainer_for

from ssibench.folders import RunDir
from ssibench.results import schema as results_io
from ssibench.run import run
from ssibench.training import checkpoints
from ssibench.training.random_streams import RandomStreams, stream_seed

TRAINED = [loss for loss in LOSSES if loss != "zero_filled"]


def _scenario(loss: str) -> str:
    return "mri" if runnable(loss, "mri") else "noisy"


def _generator_states() -> dict[int, tuple[torch.Generator, torch.Tensor]]:
    return {id(g): (g, g.get_state()) for g in gc.get_objects() if isinstance(g, torch.Generator)}


@pytest.mark.parametrize("loss", TRAINED)
def test_every_generator_a_training_step_draws_from_is_registered(loss, make_cfg, tmp_path):
    trainer = trainer_for(make_cfg(f"loss={loss}", f"physics={_scenario(loss)}", "trainer.device=cpu"))
    registered = {id(g) for g in trainer.streams.generators.values()} | {id(torch.default_generator)}
    before = _generator_states()
    trainer.train()
    drawn = [
        g for key, (g, state) in before.items() if key not in registered and not torch.equal(g.get_state(), state)
    ]
    assert not drawn, f"{loss} drew from {len(drawn)} generator(s) outside the run's RandomStreams"
    assert "data_order" in trainer.streams.names()


@pytest.mark.parametrize("loss", TRAINED)
def test_a_run_continued_from_its_checkpoint_ends_equal_to_an_uninterrupted_one(loss, make_cfg, tmp_path):
    base = (f"loss={loss}", f"physics={_scenario(loss)}", "trainer.device=cpu", "split.max_train=8")
    expected = run(make_cfg(*base, "epochs=3", output_dir=tmp_path / "whole"))
    run(make_cfg(*base, "epochs=1", output_dir=tmp_path / "cut"))
    continued = run(make_cfg(*base, "epochs=3", output_dir=tmp_path / "cut"))  # resumes from the epoch-1 checkpoint
    assert continued["per_image"] == expected["per_image"]
    assert RunDir(tmp_path / "cut").curves.read_text() == RunDir(tmp_path / "whole").curves.read_text()
    assert results_io.read(RunDir(tmp_path / "cut").results)["cost"]["steps"] == expected["cost"]["steps"]


def test_a_resumed_run_restores_the_default_generator_its_training_drew_from(make_cfg, tmp_path):
    """Building a run seeds the global generators; resuming one must then bring them to the checkpoint's
    state. (tests/test_cuda.py checks the same of the CUDA generators.)"""
    # robust_ei's SURE term draws its probe noise from the default generator of y's device: here the CPU's
    config = ("loss=robust_ei", "physics=noisy", "trainer.device=cpu")
    run(make_cfg(*config, "epochs=1", output_dir=tmp_path / "run"))
    saved = torch.load(RunDir(tmp_path / "run").checkpoints / checkpoints.LAST, weights_only=True)["random_streams"]
    trainer = trainer_for(make_cfg(*config, "epochs=2"), output_dir=tmp_path / "run")  # seeds the globals again
    assert not torch.equal(torch.get_rng_state(), saved["torch"])  # training drew from it
    torch.manual_seed(12345)  # anything else: only the restore can bring the saved state back
    trainer.setup_train()
    assert torch.equal(torch.get_rng_state(), saved["torch"])


def test_streams_are_seeded_by_run_seed_and_name_and_restored_from_their_state():
    streams = RandomStreams(seed=3)
    a = streams.register("loss.0.rng", torch.Generator())
    b = streams.register("data_order", torch.Generator())
    assert a.initial_seed() == stream_seed(3, "loss.0.rng") != b.initial_seed()
    assert streams.register("alias", a) is a and streams.names() == ["loss.0.rng", "data_order"]  # shared: once
    saved = streams.state_dict()
    first = (torch.rand(3, generator=a), torch.rand(3, generator=b), torch.rand(3))
    streams.load_state_dict(saved)
    assert all(torch.equal(x, y) for x, y in zip(first, (torch.rand(3, generator=a), torch.rand(3, generator=b), torch.rand(3))))
    other = RandomStreams(seed=3)
    other.register("loss.1.rng", torch.Generator())
    with pytest.raises(ValueError, match="random streams differ"):
        other.load_state_dict(saved)


def test_a_stream_follows_a_noise_model_that_replaces_its_generator():
    from deepinv.physics import GaussianNoise

    noise = GaussianNoise(sigma=0.1, rng=torch.Generator())
    streams = RandomStreams(seed=0)
    streams.register_module("noise", noise)
    saved = streams.state_dict()
    first = noise(torch.zeros(4))  # deepinv 0.5 swaps noise.rng for a copy here
    streams.load_state_dict(saved)
    assert torch.equal(noise(torch.zeros(4)), first)
