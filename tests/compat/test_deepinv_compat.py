"""Workarounds of deepinv 0.5 (ssibench/compat/deepinv.py) against what deepinv itself does."""

from __future__ import annotations

import deepinv as dinv
import pytest
import torch
from conftest import SCENARIOS
from deepinv.physics import Physics

from ssibench.compat.deepinv import FastClone, clone_physics
from ssibench.parts.scenarios import build_scenario
from ssibench.transforms.cpab import CPABDiffeomorphism


def _generators(module) -> list[torch.Generator]:
    return [part.rng for part in module.modules() if isinstance(getattr(part, "rng", None), torch.Generator)]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_clone_physics_returns_what_physics_clone_does(scenario, make_cfg):
    """The same operator, noise stream included, and as independent of the original."""
    physics, generator = build_scenario(make_cfg(f"physics={scenario}", "trainer.device=cpu").physics, seed=0)
    assert isinstance(physics, FastClone)  # the scenarios' operators clone by clone_physics
    expected, got = Physics.clone(physics), physics.clone()  # deepinv's own, and ours
    assert type(got) is type(physics) and got is not physics
    states, expected_states = [g.get_state() for g in _generators(got)], [g.get_state() for g in _generators(expected)]
    assert len(states) == len(expected_states) == len(_generators(physics))  # noisy: the noise's generator
    assert all(map(torch.equal, states, expected_states))
    assert not {id(g) for g in _generators(got)} & {id(g) for g in _generators(physics)}
    x = torch.rand(2, 2, 32, 32, generator=torch.Generator().manual_seed(1))
    params = generator.step(batch_size=2)
    expected.update(**params)
    got.update(**params)
    original = physics.A(x)
    assert torch.equal(got(x), expected(x))  # with its noise, where the scenario has some
    assert torch.equal(got.A_adjoint(got.A(x)), expected.A_adjoint(expected.A(x)))
    assert torch.equal(physics.A(x), original)  # the update changed the copy only


@pytest.mark.parametrize("loss_class", [dinv.loss.MOEILoss, dinv.loss.MOILoss])
def test_a_multi_operator_loss_is_the_same_with_either_copy(loss_class, make_cfg, monkeypatch):
    """Same generator states in, same loss out (noise of the re-measurement included)."""
    physics, _ = build_scenario(make_cfg("physics=noisy", "trainer.device=cpu").physics, seed=0)
    x_net = torch.rand(2, 2, 32, 32, generator=torch.Generator().manual_seed(2))
    y = physics(x_net)
    values = []
    for clone in (Physics.clone, clone_physics):  # deepinv's copy, then ours
        monkeypatch.setattr(type(physics), "clone", clone)
        _, physics_generator = build_scenario(make_cfg("physics=noisy", "trainer.device=cpu").physics, seed=3)
        extra = {"transform": CPABDiffeomorphism(rng=torch.Generator().manual_seed(4))} if loss_class is dinv.loss.MOEILoss else {}
        loss = loss_class(physics_generator=physics_generator, **extra)
        values.append(loss(x_net=x_net, y=y, physics=physics, model=lambda y, physics: physics.A_adjoint(y)))
    assert values[0] > 0 and torch.equal(values[0], values[1])
