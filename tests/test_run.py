"""Whole runs: through launch.py (as users run it) and through run(cfg) (as tests and scripts do)."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from conftest import LOSSES, SCENARIOS, assert_ok, launch, runnable

from ssibench.errors import InputError
from ssibench.results import schema as results_io
from ssibench.run import run


pytestmark = pytest.mark.slow  # the smoke sweep of every loss in every scenario (~2 minutes of setup)

@pytest.mark.parametrize("physics", SCENARIOS)
@pytest.mark.parametrize("loss", LOSSES)
def test_smoke_run_through_hydra_entry(smoke_sweep, loss, physics):
    results = smoke_sweep[loss, physics]
    if not runnable(loss, physics):  # e.g. a noisy-only loss in a noiseless scenario
        assert results["status"] == "skipped" and "needs" in results["reason"]
        assert results["metrics"] == {} and not (Path(results["dir"]) / "checkpoints").exists()
        return
    assert results["status"] == "ok" and results["reason"] is None
    assert results["n_test"] == 4 and results["epochs"] == 1 and results["seed"] == 0
    assert results["dataset"] == "mni152" and results["device"] == "cpu"
    for block in ("metrics", "zero_filled"):
        assert set(results[block]) == {"PSNR", "SSIM"}
        assert 5 < results[block]["PSNR"]["mean"] < 60 and 0 < results[block]["SSIM"]["mean"] <= 1
    if loss == "zero_filled":
        assert results["metrics"] == results["zero_filled"] and results["train_seconds"] < 1
    else:  # a trained network: its reconstructions differ from the zero-filled ones
        assert results["metrics"]["PSNR"] != results["zero_filled"]["PSNR"]


PAPER_LOSSES = {
    "sup", "zero_filled", "mc", "ssdu", "noise2inverse", "weighted_ssdu", "ssdu_consistency", "moc_ssdu", "vortex",
    "ei", "moi", "mo_ei", "adversarial", "uair", "ensure", "robust_ssdu", "noise2recon_ssdu", "ddssl", "robust_ei",
    "robust_mo_ei",
}


def test_the_grid_runs_every_combination_the_rules_allow(smoke_sweep):
    assert len(smoke_sweep) == len(LOSSES) * len(SCENARIOS)
    ran = sum(r["status"] == "ok" for r in smoke_sweep.values())
    assert ran == sum(runnable(loss, physics) for loss in LOSSES for physics in SCENARIOS)
    # the paper's grid: 14 choices in all 4 scenarios + 6 noisy-only losses in `noisy`
    assert PAPER_LOSSES <= set(LOSSES)
    paper = [r["status"] for (loss, _), r in smoke_sweep.items() if loss in PAPER_LOSSES]
    assert (paper.count("ok"), paper.count("skipped")) == (62, 18)


def test_scenarios_simulate_different_data(smoke_sweep):
    zero_filled = {physics: smoke_sweep["zero_filled", physics]["metrics"]["PSNR"]["mean"] for physics in SCENARIOS}
    assert len(set(zero_filled.values())) == len(SCENARIOS)
    # the same scenario gives every loss the same measurements, hence the same zero-filled baseline
    for (loss, physics), results in smoke_sweep.items():
        if results["status"] == "ok":
            assert results["zero_filled"] == smoke_sweep["zero_filled", physics]["zero_filled"], loss


def test_results_json_schema(make_cfg, tmp_path):
    results = run(make_cfg("loss=mc"))
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk == results
    assert set(results_io.SCHEMA) <= set(on_disk)
    assert on_disk["loss"] == "mc" and on_disk["physics"] == "mri" and on_disk["status"] == "ok"
    assert set(on_disk["versions"]) == {"ssibench", "deepinv", "torch"}
    assert on_disk["train_seconds"] > 0 and on_disk["eval_seconds"] > 0
    assert len(on_disk["per_image"]["PSNR"]) == on_disk["n_test"]


@pytest.mark.parametrize(
    "loss,physics",
    # noise2inverse: a wrapped model and random splits at evaluation; adversarial: a second network
    [("mc", "multicoil"), ("noise2inverse", "mri"), ("adversarial", "mri")],
)
def test_checkpoint_evaluation_reproduces_the_run(loss, physics, make_cfg, tmp_path):
    trained = run(make_cfg(f"loss={loss}", f"physics={physics}", output_dir=tmp_path / "train"))
    ckpt = tmp_path / "train" / "checkpoints" / "ckp_last.pth.tar"
    assert ckpt.is_file()
    evaluated = run(make_cfg(f"loss={loss}", f"physics={physics}", "epochs=0", f"ckpt={ckpt}", output_dir=tmp_path / "eval"))
    assert evaluated["train_seconds"] < 1
    for name in ("PSNR", "SSIM"):
        assert evaluated["metrics"][name]["mean"] == pytest.approx(trained["metrics"][name]["mean"], abs=1e-5)
    untrained = run(make_cfg(f"loss={loss}", f"physics={physics}", "epochs=0", output_dir=tmp_path / "untrained"))
    assert untrained["metrics"]["PSNR"]["mean"] != pytest.approx(trained["metrics"]["PSNR"]["mean"], abs=1e-3)


def test_training_lowers_the_loss(make_cfg):
    """Beyond 'it runs': a few epochs of sup on the smoke data beat the untrained network."""
    before = run(make_cfg("loss=sup", "epochs=0", output_dir=Path(make_cfg().paths.output_dir) / "before"))
    after = run(make_cfg("loss=sup", "epochs=4", "split.max_train=16"))
    assert after["metrics"]["PSNR"]["mean"] > before["metrics"]["PSNR"]["mean"] + 1


def test_help_lists_the_config_groups(tmp_path, data_dir):
    proc = launch("--help", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)
    for line in (f"loss: {', '.join(LOSSES)}", "physics: mri, multicoil, noisy, single", "dataset: fastmri_brain, fastmri_knee, measurements, mni152"):
        assert line in proc.stdout


def test_missing_fastmri_file_says_how_to_make_it(tmp_path, data_dir):
    proc = launch("dataset=fastmri_brain", "debug=smoke", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path, data_dir=data_dir)
    assert proc.returncode != 0
    error = proc.stderr.strip().splitlines()[-1]
    expected = f"ssibench prepare fastmri <path to fastMRI brain multicoil_train> --anatomy brain --out {data_dir}"
    assert error.startswith("ssibench: error: ") and expected in error
    assert not (tmp_path / "out" / "results.json").exists()  # bad input leaves no record of a run


def test_a_failing_job_is_recorded_and_the_sweep_goes_on(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "loss=mc", "trainer.optimizer.lr=-1,0.001",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir,
    )
    assert proc.returncode != 0  # the sweep says that a job failed
    by_lr, folders = {}, {}
    for path in sweep_dir.glob("*/results.json"):
        lr = (path.parent / ".hydra" / "overrides.yaml").read_text().split("trainer.optimizer.lr=")[1].split()[0]
        by_lr[lr], folders[lr] = results_io.read(path), path.parent
    assert by_lr["-1"]["status"] == "failed" and by_lr["-1"]["reason"] == "ValueError: Invalid learning rate: -1"
    assert by_lr["0.001"]["status"] == "ok"
    # each job's folder keeps its own lines (the sweep's jobs run one after the other in one process)
    logs = {lr: (folder / "launch.log").read_text() for lr, folder in folders.items()}
    assert "[ssibench] failed: loss=mc" in logs["-1"] and "[ssibench] loss=mc physics=mri" not in logs["-1"]
    assert "[ssibench] loss=mc physics=mri" in logs["0.001"] and "[ssibench] failed" not in logs["0.001"]

    # the leaderboard ranks the sibling and lists the failed job under the table with its reason
    from ssibench.leaderboard import main as leaderboard

    assert leaderboard([str(sweep_dir)]) == 0
    rows = list(csv.DictReader(open(sweep_dir / "leaderboard.csv")))
    # ranked: the sibling and the zero-filled row its results.json gives; unranked: the failed job
    assert sorted((r["status"], r["rank"] != "", r["loss"]) for r in rows) == [
        ("failed", False, ""), ("ok", True, "mc"), ("ok", True, "zero_filled")
    ]
    assert "failed — ValueError: Invalid learning rate: -1" in (sweep_dir / "leaderboard.md").read_text()


def test_a_loss_needing_noise_is_refused_alone_and_skipped_in_a_sweep(make_cfg, tmp_path, data_dir):
    with pytest.raises(InputError, match=r"needs \['noise'\].*physics=noisy"):
        run(make_cfg("+loss.requires=[noise]", "physics=mri"))
    assert not (tmp_path / "run" / "results.json").exists()

    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "loss=mc", "+loss.requires=[noise]", "physics=mri,noisy",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir,
    )
    assert_ok(proc)
    status = {r["physics"]: r for r in map(results_io.read, sweep_dir.glob("*/results.json"))}
    assert status["noisy"]["status"] == "ok"
    assert status["mri"]["status"] == "skipped" and "noise" in status["mri"]["reason"]
    assert status["mri"]["metrics"] == {}


def test_every_trained_run_writes_its_curves(make_cfg, tmp_path):
    run(make_cfg("loss=ei", "epochs=3", "trainer.eval_interval=2"))
    rows = list(csv.DictReader(open(tmp_path / "run" / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    columns = ["epoch", "train/MCLoss", "train/EILoss", "val/kspace", "val/PSNR", "val/SSIM", "test/PSNR", "test/SSIM"]
    assert list(rows[0]) == columns
    assert all(float(r["train/EILoss"]) >= 0 for r in rows)
    for column in columns[3:]:
        assert rows[0][column] and not rows[1][column] and rows[2][column]  # epochs 0 and the last


def test_output_to_a_file_is_one_line_per_epoch_and_the_summary(tmp_path, data_dir):
    proc = launch("debug=smoke", "loss=mc", "epochs=3", "trainer.device=cpu", "hydra.run.dir=run", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)  # stdout is a pipe here, as in `python launch.py > run.log` or a SLURM job
    lines = proc.stdout.splitlines()
    epochs = [line for line in lines if line.startswith("[ssibench] epoch ")]
    assert [line.split(":")[0] for line in epochs] == [f"[ssibench] epoch {e}/3" for e in (1, 2, 3)]
    scores = r"val kspace [\d.e+-]+ PSNR [\d.]+ SSIM [\d.]+ \| test PSNR [\d.]+ SSIM [\d.]+"
    assert all(re.search(rf"loss [\d.e+-]+ \| {scores} \| [\d.]+ s$", line) for line in epochs), epochs
    assert lines[-1].startswith("[ssibench] loss=mc physics=mri seed=0: PSNR")
    assert "\r" not in proc.stdout + proc.stderr and "it/s" not in proc.stdout + proc.stderr  # no progress bars
    # the same lines, message only on the console, and kept (time-stamped) in the run folder's job log
    assert all(line.startswith("[ssibench] ") for line in lines), lines
    logged = [line.split("] - ", 1)[1] for line in (tmp_path / "run" / "launch.log").read_text().splitlines()]
    assert logged == lines


def test_a_loss_with_nothing_to_tune_runs_its_first_trial_only(make_cfg, tmp_path):
    trial = ("loss=zero_filled", "+tune=quasirandom", "tune.trials=2")
    with pytest.raises(InputError, match=r"^loss=zero_filled has nothing to tune: its trial 0 is its only one: run tune"):
        run(make_cfg(*trial, "tune.trial=1"))
    assert not (tmp_path / "run" / "results.json").exists()
    assert run(make_cfg(*trial, "tune.trial=0"))["status"] == "ok"
