"""Every choice of every config group composes, and what it describes can be built."""

from __future__ import annotations

import pytest
import torch
from conftest import CONF, runnable
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf.errors import MissingMandatoryValue

from ssibench.parts.scenarios import build_scenario

CHOICES = sorted(
    (path.parent.name, path.stem)
    for path in CONF.glob("*/*.yaml")
    if path.parent.name not in ("hydra",)
)


def test_every_group_has_choices():
    groups = {group for group, _ in CHOICES}
    assert {"dataset", "split", "physics", "model", "loss", "metrics", "trainer", "logger", "debug", "experiment"} <= groups


def _image(cfg):
    return torch.rand(2, 2, cfg.img_size, cfg.img_size)


@pytest.mark.parametrize("group,choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_choice_composes_and_builds(group, choice, make_cfg):
    # a loss is built in a scenario that provides what it requires (noisy-only losses need σ)
    scenario = ["physics=noisy"] if group == "loss" and not runnable(choice, "mri") else []
    append = "+" if group in ("sweep", "tune") else ""  # sweep and tuning presets are not in the defaults list
    cfg = make_cfg(f"{append}{group}={choice}", *scenario)

    if group == "dataset":
        if choice.startswith("fastmri"):  # not shipped: a one-line error that says how to make it
            with pytest.raises(InstantiationException, match=f"ssibench prepare fastmri .* --anatomy {cfg.dataset.anatomy}"):
                instantiate(cfg.dataset)
        elif choice == "measurements":  # your file: the path is the one value you must give
            assert cfg.dataset.measurements is True
            with pytest.raises(MissingMandatoryValue, match="dataset.path"):
                instantiate(cfg.dataset)
        else:
            images = instantiate(cfg.dataset)
            assert images[0].shape == (2, cfg.img_size, cfg.img_size)
    elif group == "split":
        train, test = instantiate(cfg.split)(list(range(100)))
        assert len(train) > 0 and len(test) > 0 and not set(train.indices) & set(test.indices)
    elif group == "physics":
        physics, generator = build_scenario(cfg.physics, seed=0)
        x = _image(cfg)
        y = physics(x, **generator.step(batch_size=2))
        assert physics.A_adjoint(y).shape == x.shape
    elif group == "model":
        physics, _ = build_scenario(cfg.physics, seed=0)
        model = instantiate(cfg.model)
        assert model(physics(_image(cfg)), physics).shape == (2, 2, cfg.img_size, cfg.img_size)
    elif group == "loss":
        for loss in cfg.loss.losses:
            assert isinstance(instantiate(loss), torch.nn.Module)
    elif group == "metrics":
        x = _image(cfg)
        for name in cfg.metrics:
            assert torch.isfinite(instantiate(cfg.metrics[name])(x, x)).all()
    elif group == "trainer":
        optimizer = instantiate(cfg.trainer.optimizer)([torch.nn.Parameter(torch.zeros(1))])
        assert optimizer.defaults["lr"] == pytest.approx(1e-3)
    elif group == "debug":
        assert cfg.img_size == 32 and cfg.epochs == 1 and cfg.split.max_train == 2 * cfg.trainer.batch_size
    elif group == "experiment":
        assert cfg.dataset._target_.endswith("fastmri_slices") and cfg.dataset.anatomy == "brain"
    elif group == "sweep":
        assert set(cfg.hydra.sweeper.params) == {"loss", "physics"}
    elif group == "tune":
        assert dict(cfg.hydra.sweeper.params) == {"tune.trial": f"range(0,{cfg.tune.trials})"}
    elif group == "logger":
        wandb = cfg.logger.wandb
        assert wandb is None or {"project", "entity", "mode", "name", "group"} <= set(wandb)


def test_image_size_is_written_once(make_cfg):
    cfg = make_cfg("img_size=48", "physics=multicoil", smoke=False)
    assert cfg.dataset.img_size == 48
    assert list(cfg.physics.operator.img_size) == [48, 48]
    assert list(cfg.physics.generator.img_size) == [48, 48]


def test_scenario_parameters_are_overridable(make_cfg):
    cfg = make_cfg("physics=multicoil", "physics.acceleration=4", "physics.coils=8")
    physics, generator = build_scenario(cfg.physics, seed=0)
    assert physics.coil_maps.shape[1] == 8
    mask = generator.step(batch_size=64)["mask"]
    assert mask.mean().item() == pytest.approx(1 / 4, abs=0.03)

    cfg = make_cfg("physics=noisy", "physics.sigma=0.3")
    physics, _ = build_scenario(cfg.physics, seed=0)
    assert physics.noise_model.sigma.item() == pytest.approx(0.3)


def test_experiment_preset_is_the_paper_setup(make_cfg):
    cfg = make_cfg("experiment=ssibench", smoke=False)
    assert cfg.img_size == 320 and cfg.physics.acceleration == 6
    assert cfg.dataset._target_.endswith("fastmri_slices") and cfg.dataset.file_name == "fastmri_brain_singlecoil.pt"
    assert cfg.split._target_.endswith("random_split") and cfg.split.seed == 0
    assert cfg.trainer.batch_size == 4 and cfg.trainer.optimizer.lr == pytest.approx(1e-3)
    assert cfg.model.num_iter == 3 and cfg.model.denoiser.scales == 4 and cfg.model.denoiser.channels_per_scale is None


def test_device_auto_resolves_once_for_every_object(make_cfg):
    cfg = make_cfg(smoke=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert cfg.trainer.device == expected
    assert cfg.physics.operator.device == cfg.physics.generator.device == expected
    assert make_cfg("trainer.device=cpu").physics.generator.device == "cpu"


@pytest.mark.parametrize(
    "override,named",
    [
        ("loss.requries=[noise]", "requries"),  # a key the loss schema lacks
        ("loss.requires=[nosie]", "nosie"),  # not a capability a scenario can provide
        ("loss.supervised=maybe", "supervised"),
        ("physics.coils=many", "coils"),
        ("physics.acceleraton=8", "acceleraton"),
        ("trainer.batch_size=four", "batch_size"),
    ],
)
def test_a_mistyped_loss_physics_or_trainer_key_fails_at_composition(override, named, make_cfg):
    with pytest.raises(Exception, match=named) as error:
        make_cfg(override)
    assert type(error.value).__module__.startswith(("hydra", "omegaconf"))  # Hydra's message, before any run


def test_a_loss_file_with_a_mistyped_key_fails_at_composition(make_cfg, tmp_path):
    (tmp_path / "loss").mkdir()
    (tmp_path / "loss" / "typo.yaml").write_text(
        "defaults:\n  - /schema/loss@_here_\n  - _self_\nlabel: Typo\nrequries: [noise]\nlosses: []\n"
    )
    with pytest.raises(Exception, match="requries"):
        make_cfg(f"hydra.searchpath=[file://{tmp_path}]", "loss=typo")


def test_the_discriminator_is_the_originals_reduced_like_the_unet_at_the_default_scale(make_cfg):
    default = make_cfg("loss=adversarial", smoke=False).loss.discriminator
    paper = make_cfg("loss=uair", "experiment=ssibench", smoke=False).loss.discriminator
    assert (default.d_dim, paper.d_dim) == (32, 128) and default.d_blocks == paper.d_blocks == 4
    assert make_cfg("loss=adversarial", smoke=False).model.denoiser.channels_per_scale[0] == 16  # the UNet's likewise
