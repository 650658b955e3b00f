"""The checkpoint shipped with the package (ckpt=demo): made by the README's command, evaluated at once."""

from __future__ import annotations

import pytest
from conftest import trainer_for  # noqa: F401  (conftest first: it registers the schemas)

from ssibench.config.context import CODE, identifying_config
from ssibench.run import run
from ssibench.tools.demo_checkpoint import OVERRIDES
from ssibench.training import checkpoints


def test_the_shipped_checkpoint_is_what_the_readme_command_makes(make_cfg):
    shipped = checkpoints.read(checkpoints.SHIPPED["demo"])
    cfg = make_cfg(*OVERRIDES, smoke=False)  # ssibench demo-checkpoint trains launch.py's default run of these
    # its config; not its code fingerprint, which an edit of ssibench changes (ckpt=demo is not checked against it)
    config = lambda identity: {key: value for key, value in identity.items() if key != CODE}  # noqa: E731
    assert config(shipped["config"]) == config(identifying_config(cfg)), "remake it: ssibench demo-checkpoint"
    assert set(shipped) == {"epoch", "state_dict", "config"} and shipped["epoch"] == cfg.epochs - 1
    assert checkpoints.SHIPPED["demo"].stat().st_size < 4 * 2**20  # small enough to ship


def test_ckpt_demo_evaluates_the_shipped_model_at_once(make_cfg, tmp_path):
    results = run(make_cfg("loss=mo_ei", "epochs=0", "ckpt=demo", smoke=False))
    assert results["status"] == "ok" and results["n_test"] == 27 and results["train_seconds"] == 0
    # a trained model: well above the zero-filled reconstruction of the same test set
    assert results["metrics"]["PSNR"]["mean"] > results["zero_filled"]["PSNR"]["mean"] + 1


def test_the_demo_is_taken_only_from_a_finished_run_of_its_config(make_cfg, tmp_path, monkeypatch):
    from ssibench.tools import demo_checkpoint

    out = tmp_path / "demo.pth.tar"
    with pytest.raises(SystemExit, match="holds no finished run of loss=mo_ei"):
        demo_checkpoint.make(out, source=tmp_path)  # an empty folder
    run(make_cfg("loss=mc", output_dir=tmp_path / "mc"))
    with pytest.raises(SystemExit, match="holds no finished run"):
        demo_checkpoint.make(out, source=tmp_path / "mc")  # debug=smoke: 1 epoch, not the demo's 20
    # a finished run of as many epochs, of another config (loss, scale): refused for its config
    monkeypatch.setattr(demo_checkpoint, "OVERRIDES", ["loss=mo_ei", "epochs=1"])
    with pytest.raises(checkpoints.CheckpointError, match="made with another config"):
        demo_checkpoint.make(out, source=tmp_path / "mc")
    assert not out.exists()
