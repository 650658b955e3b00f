"""Runs that survive: resumption after a kill, damaged checkpoints, finished and diverged runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import ROOT, assert_ok, launch, launch_env

from ssibench.results import schema as results_io
from ssibench.run import run
from ssibench.training import checkpoints
from ssibench.training.trainer import BenchmarkTrainer

# ei draws a random transform per batch: resuming must also continue those draws (and the data order).
RUN = ("debug=smoke", "loss=ei", "epochs=4", "split.max_train=16")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("uninterrupted")
    assert_ok(launch(*RUN, f"hydra.run.dir={out}", cwd=out, data_dir=data_dir))
    return out


def test_a_run_killed_mid_epoch_resumes_to_the_same_results(uninterrupted, tmp_path, data_dir):
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "launch.py"), *RUN, f"hydra.run.dir={out}"]
    proc = subprocess.Popen(command, cwd=tmp_path, env=launch_env(data_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = checkpoints.checkpoint_dir(out) / checkpoints.LAST
    while not last.exists():  # the first checkpoint (end of epoch 1): the run is now in epoch 2
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < 3 and not (out / "results.json").exists()

    resumed = launch(*RUN, f"hydra.run.dir={out}", cwd=tmp_path, data_dir=data_dir)  # the same command
    assert_ok(resumed)
    assert f"loaded {last} (epoch {killed_at})" in resumed.stdout
    # Bit-exact on the CPU: weights, optimiser, every random stream and the data order are restored.
    expected, got = (results_io.read(d / "results.json") for d in (uninterrupted, out))
    assert got["per_image"] == expected["per_image"] and got["metrics"] == expected["metrics"]
    assert got["selection"] == expected["selection"]  # the rules chose as if the run had never stopped
    assert (out / "metrics.csv").read_text() == (uninterrupted / "metrics.csv").read_text()  # the whole history


def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(uninterrupted, make_cfg, tmp_path):
    out = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(uninterrupted), str(out)], check=True)
    (out / "results.json").unlink()  # as if killed during the final evaluation
    last = checkpoints.checkpoint_dir(out) / checkpoints.LAST
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated
    assert checkpoints.latest(checkpoints.checkpoint_dir(out)).name == checkpoints.PREVIOUS

    resumed = run(make_cfg(*RUN[1:], output_dir=out))
    assert resumed["metrics"] == results_io.read(uninterrupted / "results.json")["metrics"]
    assert torch.load(last, weights_only=True)["epoch"] == 3  # rewritten whole


def test_a_run_stopped_before_its_evaluation_keeps_the_epochs_its_rules_chose(make_cfg, tmp_path):
    first = run(make_cfg("loss=mc", "epochs=3"))
    (tmp_path / "run" / "results.json").unlink()  # stopped after training, before the final evaluation
    again = run(make_cfg("loss=mc", "epochs=3"))  # trains nothing: the selection state comes from the checkpoint
    assert again["selection"] == first["selection"] and first["selection"]["val_kspace"]["epoch"] is not None


def test_a_finished_run_is_not_retrained(make_cfg, tmp_path, monkeypatch):
    first = run(make_cfg("loss=mc"))
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}
    monkeypatch.setattr(BenchmarkTrainer, "train", lambda self: pytest.fail("a finished run trained again"))
    assert run(make_cfg("loss=mc")) == first
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*") if p.is_file()}


def test_resume_false_starts_fresh_in_a_new_folder(tmp_path, data_dir):
    args = ("debug=smoke", "loss=zero_filled")
    assert_ok(launch(*args, cwd=tmp_path, data_dir=data_dir))
    assert_ok(launch(*args, "resume=false", cwd=tmp_path, data_dir=data_dir))
    folders = sorted(p.name for p in (tmp_path / "outputs").iterdir())
    assert folders[0] == "zero_filled_mri_seed0_debug=smoke" and folders[1].startswith(folders[0] + "_fresh_")
    assert all((tmp_path / "outputs" / f / "results.json").exists() for f in folders)


def test_resume_false_refuses_an_occupied_folder(make_cfg, tmp_path):
    run(make_cfg("loss=zero_filled"))
    with pytest.raises(ValueError, match="resume=false never reuses a folder"):
        run(make_cfg("loss=zero_filled", "resume=false"))


def test_a_checkpoint_of_another_loss_is_refused(make_cfg, tmp_path):
    run(make_cfg("loss=mc", output_dir=tmp_path / "mc"))
    ckpt = checkpoints.checkpoint_dir(tmp_path / "mc") / checkpoints.LAST
    with pytest.raises(checkpoints.CheckpointError, match=r"ckpt .* another config .*loss.label: \"MC\" -> \"EI\".*this loss= and model"):
        run(make_cfg("loss=ei", "epochs=0", f"ckpt={ckpt}"))


def test_a_diverging_run_stops_with_its_epoch_and_last_good_checkpoint(make_cfg, tmp_path):
    loss = "loss.losses=[{_target_: faulty_parts.NonFiniteFromEpoch, epoch: 2}]"
    results = run(make_cfg("loss=mc", loss, "epochs=4"))
    assert results["status"] == "diverged" and "at epoch 2" in results["reason"]
    last = checkpoints.checkpoint_dir(tmp_path / "run") / checkpoints.LAST
    assert str(last) in results["reason"]
    state = torch.load(last, weights_only=True)
    assert state["epoch"] == 1 and all(v.isfinite().all() for v in state["state_dict"].values())
    on_disk = (tmp_path / "run" / "results.json").read_text()
    assert "NaN" not in on_disk and json.loads(on_disk)["metrics"] == {}
