"""Weights & Biases logging, offline: one W&B run per Hydra job, with the curves read back."""

from __future__ import annotations

from conftest import assert_ok, launch
from ssibench.run import run
from wandb_records import run_summary


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
        logs = list(job.glob("wandb/offline-run-*/run-*.wandb"))
        assert len(logs) == 1, f"{job} should hold exactly one W&B run, found {logs}"
        run = run_summary(logs[0])
        names.add(run["name"])
        assert run["group"] == str(sweep_dir)
        # curves, and sample images (logged as a nested image record)
        assert {"TotalLoss", "Eval PSNR", "Eval SSIM", "Eval PSNR no learning", "Eval samples/_type"} <= run["history_keys"]
    assert names == {"mc-noisy-0", "sup-noisy-0"}


def test_a_resumed_run_logs_into_the_same_wandb_run(make_cfg, tmp_path):
    wandb = ("logger=wandb", "logger.wandb.mode=offline", "logger.wandb.log_images=false")
    run(make_cfg("loss=mc", "epochs=2", *wandb))
    (tmp_path / "run" / "results.json").unlink()  # as if killed before the end: the next call resumes
    run(make_cfg("loss=mc", "epochs=3", *wandb))
    logs = sorted((tmp_path / "run").glob("wandb/offline-run-*/run-*.wandb"))
    assert len(logs) == 2 and len({log.name for log in logs}) == 1  # run-<id>.wandb: one id, two segments
