"""Weights & Biases logging, offline: one W&B run per Hydra job, with the curves read back."""

from __future__ import annotations

from conftest import assert_ok, launch
from wandb_records import run_summary

from ssibench.run import run


def test_wandb_offline_writes_one_run_per_job(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "logger=wandb", "logger.wandb.mode=offline", "loss=mc,sup", "physics=noisy",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir,
    )
    assert_ok(proc)
    jobs = sorted(path for path in sweep_dir.iterdir() if path.is_dir())
    assert len(jobs) == 2
    names = set()
    for job in jobs:
        # one W&B run: training, then (after deepinv ends it) the final scores added to its summary
        logs = sorted(job.glob("wandb/offline-run-*/run-*.wandb"))
        assert len({log.name for log in logs}) == 1, f"{job} should hold exactly one W&B run, found {logs}"
        training, final = run_summary(logs[0]), run_summary(logs[-1])
        names.add(training["name"])
        assert training["group"] == str(sweep_dir)
        # curves, and sample images (logged as a nested image record)
        logged = {"TotalLoss", "test/PSNR", "test/SSIM", "test/PSNR no learning", "val/kspace", "val/PSNR"}
        assert logged | {"Eval samples/_type"} <= training["history_keys"]
        assert {"final"} <= final["summary_keys"]
    assert names == {"mc-noisy-0", "sup-noisy-0"}


def test_a_resumed_run_logs_into_the_same_wandb_run(make_cfg, tmp_path):
    wandb = ("logger=wandb", "logger.wandb.mode=offline", "logger.wandb.log_images=false")
    run(make_cfg("loss=mc", "epochs=2", *wandb))
    (tmp_path / "run" / "results.json").unlink()  # as if killed before the end: the next call resumes
    run(make_cfg("loss=mc", "epochs=3", *wandb))
    logs = sorted((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb"))
    # run-<id>.wandb: one id; each session wrote its training and its final summary
    assert len(logs) == 4 and len({log.name for log in logs}) == 1


def test_wandb_mode_comes_from_the_environment_unless_overridden(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    proc = launch("debug=smoke", "logger=wandb", "logger.wandb.log_images=false", "hydra.run.dir=run", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)
    assert list((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb"))  # offline, from WANDB_MODE alone
    proc = launch("debug=smoke", "logger=wandb", "logger.wandb.mode=disabled", "hydra.run.dir=off", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)
    assert not list((tmp_path / "off").glob("wandb/offline-run-*"))  # the override wins


def test_without_a_wandb_key_a_run_stops_with_one_line_giving_both_ways_out(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a key
    proc = launch("debug=smoke", "logger=wandb", "trainer.device=cpu", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ssibench: error: W&B could not start") and "wandb login" in last and "WANDB_MODE=offline" in last
