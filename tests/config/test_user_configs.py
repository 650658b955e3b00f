"""Configs of one's own checked like built-in ones: a loss YAML on hydra.searchpath, or a loss given
by `_target_` overrides, is typed by the loss schema whether or not it lists it; an unknown choice
says how to add one's own; run folders of `_target_` overrides have short, shell-safe names."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from conftest import EXAMPLES, compose_cfg, launch
from omegaconf import OmegaConf

from ssibench.config.context import identifying_config
from ssibench.config.schema import Capability, LossSchema
from ssibench.errors import InputError
from ssibench.run import run

TARGET_LOSS = ["~loss", "+loss.losses=[{_target_:my_parts.L1MCLoss}]"]


def own_loss(folder: Path, text: str) -> str:
    """``loss/mine.yaml`` in ``folder`` (without the schema line of the built-in ones); the override that adds it."""
    (folder / "loss").mkdir(parents=True, exist_ok=True)
    (folder / "loss" / "mine.yaml").write_text(text)
    return f"hydra.searchpath=[file://{folder}]"


def test_a_misspelt_key_in_a_loss_yaml_of_ones_own_fails_in_one_line(tmp_path, data_dir):
    searchpath = own_loss(tmp_path / "conf", "lable: L1-MC\nlosses:\n  - _target_: my_parts.L1MCLoss\n")
    proc = launch("debug=smoke", "trainer.device=cpu", searchpath, "loss=mine", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("ssibench: error: loss.lable is not a key of a loss config (did you mean label?)")
    assert not list(tmp_path.glob("outputs/*/results.json"))


@pytest.mark.parametrize(
    "override,named",
    [("+loss.lable=L1-MC", r"loss.lable is not a key .*did you mean label"), ("+loss.requires=[nosie]", r"loss.requires\[0\]: Invalid value 'nosie'")],
)
def test_a_loss_given_by_target_overrides_is_checked_by_the_schema(override, named, make_cfg, tmp_path):
    with pytest.raises(InputError, match=named):
        run(make_cfg(*TARGET_LOSS, "+loss.label=L1-MC", override))
    assert not (tmp_path / "run" / "results.json").exists()


def test_a_loss_without_a_label_is_refused(make_cfg):
    with pytest.raises(InputError, match="loss.label is not set"):
        run(make_cfg(*TARGET_LOSS))


def test_a_loss_yaml_of_ones_own_is_typed_like_a_built_in_one(make_cfg, tmp_path):
    searchpath = own_loss(tmp_path / "conf", "label: L1-MC\nrequires: [noise]\nlosses:\n  - _target_: my_parts.L1MCLoss\n")
    cfg = make_cfg(searchpath, "loss=mine")
    identity = identifying_config(cfg)
    assert OmegaConf.get_type(cfg.loss) is LossSchema and list(cfg.loss.requires) == [Capability.noise]
    assert identity["loss"]["supervised"] is False  # the schema's defaults, as a built-in loss has them
    with pytest.raises(InputError, match=r"loss=mine needs \['noise'\], which physics=mri does not provide"):
        run(cfg)


def test_the_readme_example_yaml_is_typed(make_cfg):
    cfg = make_cfg(f"hydra.searchpath=[file://{EXAMPLES / 'my_conf'}]", "loss=l1_mc")
    identifying_config(cfg)
    assert OmegaConf.get_type(cfg.loss) is LossSchema and cfg.loss.label == "L1-MC"


def test_an_unknown_choice_says_how_to_add_ones_own(tmp_path, data_dir):
    proc = launch("loss=l1_mcc", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1
    assert "Could not find 'loss/l1_mcc'" in proc.stderr  # Hydra's report, with the built-in options
    hint = [line for line in proc.stderr.splitlines() if "hydra.searchpath=" in line]
    assert hint and "loss/l1_mcc.yaml" in hint[0]


def folder(*overrides: str, data_dir: Path, sweep: bool = False) -> str:
    """The run folder (or a sweep's job folder) launch.py would give these overrides."""
    cfg = compose_cfg(*overrides, *(["hydra.job.num=3"] if sweep else []), data_dir=data_dir, output_dir=Path("unused"))
    return str(cfg.hydra.sweep.subdir if sweep else Path(cfg.hydra.run.dir).name)


@pytest.mark.parametrize("sweep", [False, True])
def test_folders_of_target_overrides_are_shell_safe_stable_and_distinct(sweep, data_dir):
    mine = folder(*TARGET_LOSS, "+loss.label=L1-MC", "debug=smoke", data_dir=data_dir, sweep=sweep)
    assert shlex.quote(mine) == mine and len(mine) < 80, mine
    assert "L1-MC_mri_seed0_" in mine and "debug=smoke" in mine  # named by the label
    assert folder(*TARGET_LOSS, "+loss.label=L1-MC", "debug=smoke", data_dir=data_dir, sweep=sweep) == mine  # resumes there
    other = ["~loss", "+loss.losses=[{_target_:my_parts.L1MCLoss},{_target_:my_parts.L1MCLoss}]", "+loss.label=L1-MC"]
    assert folder(*other, "debug=smoke", data_dir=data_dir, sweep=sweep) != mine
    spaced = folder(*TARGET_LOSS, "+loss.label='L1 MC, mine'", data_dir=data_dir, sweep=sweep)
    assert shlex.quote(spaced) == spaced


def test_folders_of_built_in_choices_keep_their_names(data_dir):
    """Runs made before keep resuming in their folders."""
    assert folder("loss=mc", "debug=smoke", "epochs=3", data_dir=data_dir) == "mc_mri_seed0_debug=smoke,epochs=3"
    assert folder("loss=mc", "ckpt=outputs/mc_mri_seed0/checkpoints/ckp_last.pth.tar", data_dir=data_dir) == (
        "mc_mri_seed0_ckpt=outputs-mc_mri_seed0-checkpoints-ckp_last.pth.tar"
    )
