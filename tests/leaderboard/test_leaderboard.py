"""The leaderboard: aggregation over seeds, ranking, paired tests, and a real sweep through joblib with its figures."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import wandb
from conftest import assert_ok, assert_picture, launch
from selection_records import selection
from wandb_records import log_summary

from ssibench.evaluation.reconstruction import load_reconstruction
from ssibench.folders import RunDir
from ssibench.leaderboard.cli import main
from ssibench.leaderboard.runs import collect, collect_runs
from ssibench.leaderboard.statistics import paired_test
from ssibench.leaderboard.tables import Unranked, build_tables
from ssibench.results import schema as results_io


def _write(folder, loss, kind, psnr_per_image, seed=0, physics="mri", status="ok", reason=None, **extra):
    psnr = np.asarray(psnr_per_image, dtype=float)
    ok = status == "ok"
    results = {
        "loss": loss, "label": loss.upper(), "kind": kind, "physics": physics, "dataset": "mni152",
        "seed": seed, "epochs": 1, "status": status, "reason": reason,
        "metrics": {"PSNR": {"mean": float(psnr.mean()), "std": float(psnr.std())}, "SSIM": {"mean": 0.5, "std": 0.1}} if ok else {},
        "zero_filled": {"PSNR": {"mean": 20.0, "std": 1.0}} if ok else {},
        "per_image": {"PSNR": psnr.tolist()} if ok else {},
        "n_test": len(psnr), "train_seconds": 1.0, "eval_seconds": 0.1, "device": "cpu",
        "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"},
    } | extra
    results = selection(results) | results  # a given selection wins
    path = folder / f"{loss}-{physics}-{seed}"
    path.mkdir(parents=True)
    results_io.write(path / "results.json", results)
    return path


def _cost(device_type, device, train_seconds, seconds_per_step, peak_memory_mb):
    steps = 0 if seconds_per_step is None else round(train_seconds / seconds_per_step)
    return {"device": device, "device_type": device_type, "train_seconds": train_seconds, "steps": steps,
            "seconds_per_step": seconds_per_step, "peak_memory_mb": peak_memory_mb}


@pytest.fixture
def sweep(tmp_path):
    images = np.linspace(25, 30, 12)
    for seed, shift in ((0, 0.0), (1, 0.2)):
        _write(tmp_path, "good", "self-supervised", images + 1 + shift, seed)
        _write(tmp_path, "worse", "self-supervised", images + shift, seed)
        _write(tmp_path, "twin", "self-supervised", images + 1 + shift, seed)  # equals `good` on every image
        _write(tmp_path, "sup", "supervised", images + 3 + shift, seed)
        _write(tmp_path, "zero_filled", "no-learning", images - 2 + shift, seed)
    for seed in (0, 1):  # listed once, with both seeds
        _write(tmp_path, "ensure", "self-supervised", [], seed, status="skipped", reason="loss=ensure needs ['noise']")
    _write(tmp_path, "moi", "self-supervised", [], 1, status="failed", reason="ValueError: boom")
    return tmp_path


def test_paired_test_separates_a_consistent_gain_from_a_tie():
    a = np.linspace(20, 30, 10)
    assert paired_test(a + 0.1, a)[0] == "better" and paired_test(a + 0.1, a)[1] < 0.05
    assert paired_test(a, a + 0.1)[0] == "worse"
    assert paired_test(a, a.copy()) == ("tie", 1.0)
    noise = np.random.default_rng(0).normal(0, 1, 10)
    assert paired_test(a + noise, a + noise[::-1])[0] == "tie"  # same values, shuffled: no consistent gain


def test_tables_aggregate_seeds_rank_and_compare(sweep):
    (table,) = build_tables(collect([sweep]))
    assert [row.loss for row in table.rows][0] == "zero_filled" and table.rows[-1].loss == "sup"  # ascending
    rows = {row.loss: row for row in table.rows}
    mean, error = rows["worse"].metrics["PSNR"]  # the standard error over seeds
    assert mean == pytest.approx(27.6) and error == pytest.approx(np.std([27.5, 27.7], ddof=1) / np.sqrt(2))
    assert rows["worse"].n_seeds == 2
    verdicts = {loss: row.verdict for loss, row in rows.items()}
    assert sorted([verdicts["good"], verdicts["twin"]]) == ["best SSL", "tie"]
    assert verdicts["worse"] == "worse" and rows["worse"].p_value < 0.05
    assert verdicts["sup"] == "better" and verdicts["zero_filled"] == "worse"
    assert table.not_run == [
        Unranked("ENSURE", "skipped", "loss=ensure needs ['noise']", (0, 1), 2),
        Unranked("MOI", "failed", "ValueError: boom", (1,), 1),
    ]


def test_cli_writes_markdown_and_csv_that_parse_back(sweep, capsys):
    assert main([str(sweep)]) == 0
    markdown = (sweep / "leaderboard.md").read_text()
    assert "## Scenario `mri`" in markdown and "27.60 ± 0.10" in markdown
    assert "- MOI: failed in seed 1 — ValueError: boom" in markdown
    assert markdown.count("- ENSURE: skipped in seeds 0, 1 — ") == 1
    assert "| 5 | SUP |" in markdown  # the oracle ranks last (best) of the five methods
    assert "Scenario `mri`" in capsys.readouterr().out
    rows = list(csv.DictReader(open(sweep / "leaderboard.csv")))
    ranked = {r["loss"]: r for r in rows if r["status"] == "ok"}
    assert float(ranked["worse"]["PSNR_mean"]) == pytest.approx(27.6)
    assert {(r["label"], r["status"], r["n_seeds"]) for r in rows if not r["loss"]} == {
        ("ENSURE", "skipped", "2"), ("MOI", "failed", "1")
    }


def test_runs_on_data_without_ground_truth_are_listed_not_ranked(tmp_path, capsys):
    _write(tmp_path, "good", "self-supervised", np.linspace(25, 30, 12))
    no_truth = "the test data have no ground truth: PSNR, SSIM not computed"
    _write(tmp_path, "ei", "self-supervised", [], status="skipped", reason=no_truth)
    for path in tmp_path.glob("ei-*/results.json"):  # as run() writes it: ok, without metrics
        results_io.write(path, results_io.read(path) | {"status": "ok"})
    (table,) = build_tables(collect([tmp_path]))
    assert [row.loss for row in table.rows] == ["zero_filled", "good"] and table.rows[1].verdict == "best SSL"
    assert table.not_run == [Unranked("EI", "ok", no_truth, (0,), 1)]
    assert main([str(tmp_path)]) == 0
    assert f"- EI: ok — {no_truth}" in (tmp_path / "leaderboard.md").read_text()


def test_cli_refuses_a_folder_without_results(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no results.json" in capsys.readouterr().err
    assert main([str(tmp_path / "nope")]) == 2
    assert not (tmp_path / "leaderboard.md").exists()


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row (a pipe escaped as \\| stays in its cell)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_cost_columns_per_device_in_markdown_and_csv(tmp_path, capsys):
    images = np.linspace(25, 30, 12)
    gpu, cpu = ("cuda", "NVIDIA H200"), ("cpu", "AMD EPYC 7B13")
    _write(tmp_path, "ei", "self-supervised", images + 1, 0, cost=_cost(*gpu, 3600.0, 0.5, 1000.0))
    _write(tmp_path, "ei", "self-supervised", images + 1, 1, cost=_cost(*gpu, 7200.0, 0.7, 1200.0))
    _write(tmp_path, "ei", "self-supervised", images + 1, 2, cost=_cost(*cpu, 36000.0, 5.0, None))
    _write(tmp_path, "mc", "self-supervised", images, 0)  # made before results recorded their cost
    _write(tmp_path, "zero_filled", "no-learning", images - 2, 0, cost=_cost(*gpu, 0.0, None, None))
    assert main([str(tmp_path)]) == 0
    lines = (tmp_path / "leaderboard.md").read_text().splitlines()
    header = _cells(next(line for line in lines if line.startswith("| #")))
    assert header[10:] == [  # after #, loss, PSNR, SSIM, seeds, rank interval, oracle, regret, stability, test
        "GPU-h (NVIDIA H200)", "s/step (NVIDIA H200)", "peak MB (NVIDIA H200)",
        "CPU-h (AMD EPYC 7B13)", "s/step (AMD EPYC 7B13)", "peak MB (AMD EPYC 7B13)",
    ]
    rows = {cells[1]: cells for cells in map(_cells, lines) if len(cells) == len(header) and cells[0].isdigit()}
    # GPU and CPU hours are never averaged together: 1.5 GPU-h over two runs, 10 CPU-h over the third
    assert rows["EI"][10:] == [
        "1.5 (2 of 3 runs)", "0.6 (2 of 3 runs)", "1200 (2 of 3 runs)", "10 (1 of 3 runs)", "5 (1 of 3 runs)", "—"
    ]
    assert rows["MC"][10:] == ["—"] * 6
    assert rows["ZERO_FILLED"][10:] == ["0", "—", "—", "—", "—", "—"]  # trains nothing: no step time

    by_loss = {r["loss"]: r for r in csv.DictReader(open(tmp_path / "leaderboard.csv"))}
    ei = by_loss["ei"]
    assert float(ei["GPU-h (NVIDIA H200)"]) == pytest.approx(1.5)
    assert float(ei["CPU-h (AMD EPYC 7B13)"]) == pytest.approx(10)
    assert float(ei["s/step (NVIDIA H200)"]) == pytest.approx(0.6) and float(ei["peak MB (NVIDIA H200)"]) == 1200
    assert ei["peak MB (AMD EPYC 7B13)"] == ""
    assert ei["cost runs (NVIDIA H200)"] == "2" and ei["cost runs (AMD EPYC 7B13)"] == "1"
    assert by_loss["mc"]["GPU-h (NVIDIA H200)"] == "" and by_loss["mc"]["cost runs (NVIDIA H200)"] == ""


def test_markdown_cells_keep_pipes_line_breaks_and_html_as_text(tmp_path):
    label, reason = "A|B\nC <b>bold</b>", "failed | here\r\nsecond line <script>x</script>"
    _write(tmp_path, "odd", "self-supervised", np.linspace(25, 30, 12), label=label)
    _write(tmp_path, "moi", "self-supervised", [], status="failed", reason=reason)
    assert main([str(tmp_path)]) == 0
    lines = (tmp_path / "leaderboard.md").read_text().splitlines()
    header = _cells(next(line for line in lines if line.startswith("| #")))
    (row,) = [line for line in lines if line.startswith("| 2 |")]  # after the zero-filled row
    cells = _cells(row)
    assert len(cells) == len(header) and cells[1] == "A\\|B C &lt;b&gt;bold&lt;/b&gt;"
    assert "- MOI: failed — failed \\| here second line &lt;script&gt;x&lt;/script&gt;" in lines
    assert not any("<script>" in line or "<b>" in line for line in lines)


def test_runs_of_one_seed_scored_on_different_test_sets_are_refused(tmp_path, capsys):
    images = np.linspace(25, 30, 12)
    for seed in (0, 1):  # each seed simulates its own test set: different fingerprints across seeds are expected
        for loss, shift in (("good", 1), ("worse", 0)):
            _write(tmp_path, loss, "self-supervised", images + shift, seed, test_set=f"{seed:064x}")
    _write(tmp_path, "old", "self-supervised", images, 0)  # no fingerprint: not compared
    _write(tmp_path, "none", "self-supervised", images, 1, test_set=None)
    _write(tmp_path, "good", "self-supervised", images, 0, physics="noisy", test_set="e" * 64)  # another table
    assert main([str(tmp_path), "--out", str(tmp_path / "fine")]) == 0

    other = _write(tmp_path, "other", "self-supervised", images + 2, 0, test_set="f" * 64, device="cuda:0")
    out = tmp_path / "refused"
    capsys.readouterr()
    assert main([str(tmp_path), "--out", str(out), "--html", str(tmp_path / "site")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    for part in ("scenario mri, seed 0", "2 different test sets", f"(1 run: {other})", str(tmp_path / "good-mri-0"),
                 str(tmp_path / "worse-mri-0"), "device cpu vs cuda", "Build their leaderboards separately",
                 "re-run them on the same data"):
        assert part in error, part
    assert str(tmp_path / "old-mri-0") not in error and "seed 1" not in error
    assert not out.exists() and not (tmp_path / "site").exists()  # nothing written


def _signature(norm: float, *projections: float) -> dict:
    return {"y": {"shape": [12, 2, 8, 8], "norm": norm, "projections": list(projections)}}


def test_runs_whose_test_sets_differ_only_by_rounding_share_a_table(tmp_path, capsys):
    """Simulated on CPUs whose kernels round differently, the bits differ and the signatures agree:
    one table. Values beyond rounding, or bits that differ without signatures on both sides: refused."""
    images, signed = np.linspace(25, 30, 12), _signature(10.0, 0.5, -1.0)
    _write(tmp_path / "a", "good", "self-supervised", images + 1, test_set="a" * 64, test_signature=signed)
    _write(tmp_path / "a", "elsewhere", "self-supervised", images, test_set="b" * 64,
           test_signature=_signature(10.0 * (1 + 1e-7), 0.5 + 3e-7, -1.0))  # fmt: skip
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "ranked")]) == 0
    with open(tmp_path / "ranked" / "leaderboard.csv") as f:
        assert {row["loss"] for row in csv.DictReader(f)} >= {"good", "elsewhere"}

    for case, signature, expected in (
        ("other-data", _signature(10.0, 0.5 + 1e-3, -1.0), "their test data differ beyond rounding"),
        ("unsigned", None, "not all of them record a test signature"),
    ):
        folder = tmp_path / case
        _write(folder, "good", "self-supervised", images + 1, test_set="a" * 64, test_signature=signed)
        other = _write(folder, "other", "self-supervised", images, test_set="c" * 64,
                       **({"test_signature": signature} if signature else {}))  # fmt: skip
        capsys.readouterr()
        assert main([str(folder), "--out", str(folder / "out")]) == 2
        error = capsys.readouterr().err.strip()
        assert len(error.splitlines()) == 1 and expected in error and str(other) in error, error
        assert "same device, versions and data/physics config" in error
        assert not (folder / "out").exists()


def test_wandb_logs_one_table_per_scenario_with_its_cost(sweep, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-files"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    _write(sweep, "good", "self-supervised", np.linspace(25, 30, 12) + 1, 0, physics="noisy",
           cost=_cost("cuda", "NVIDIA H200", 1800.0, 0.25, 900.0))
    assert main([str(sweep), "--wandb"]) == 0
    assert "logged to W&B: " in capsys.readouterr().out
    # what the command's exit does: W&B's service closes the run's log, so the file is whole when read
    wandb.teardown()
    (log,) = (tmp_path / "wandb-files").glob("wandb/offline-run-*/run-*.wandb")
    run = log_summary(log)
    assert run["project"] == "ssibench" and run["name"] == "leaderboard"  # W&B's default project: ours
    assert set(run["tables"]) == {"leaderboard/mri", "leaderboard/noisy", "not_ranked/mri"}
    logged = {name: json.loads((log.parent / "files" / path).read_text()) for name, path in run["tables"].items()}

    tables = {t.scenario: t for t in build_tables(collect([sweep]))}
    mri = logged["leaderboard/mri"]
    assert mri["columns"][:7] == ["rank", "selection", "loss", "label", "kind", "PSNR mean", "PSNR se"]
    assert [row[2] for row in mri["data"]] == [row.loss for row in tables["mri"].rows]
    by_loss = {row[2]: dict(zip(mri["columns"], row)) for row in mri["data"]}
    assert by_loss["worse"]["PSNR mean"] == pytest.approx(27.6) and by_loss["worse"]["vs best SSL"] == "worse"
    noisy = logged["leaderboard/noisy"]
    assert noisy["columns"][-3:] == ["GPU-h (NVIDIA H200)", "s/step (NVIDIA H200)", "peak MB (NVIDIA H200)"]
    assert noisy["data"][-1][-3:] == [pytest.approx(0.5), 0.25, 900.0]
    assert logged["not_ranked/mri"]["data"] == [
        [e.label, e.status, e.reason, ", ".join(map(str, e.seeds))] for e in tables["mri"].not_run
    ]


def test_a_refused_wandb_run_ends_with_one_line_that_gives_the_ways_out(sweep, monkeypatch, capsys):
    import wandb

    def refuse(**kwargs):  # what wandb.init raises online without a key (no network needed to get here)
        raise wandb.errors.UsageError("No API key configured. Use `wandb login` to log in.")

    monkeypatch.setattr(wandb, "init", refuse)
    assert main([str(sweep), "--wandb"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "No API key configured" in error
    assert "`wandb login`" in error and "WANDB_MODE=offline" in error


def test_joblib_sweep_over_seeds_then_leaderboard(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        "loss=zero_filled,mc", "physics=mri,single", "seed=0,1",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir, timeout=1200,
    )
    assert_ok(proc)
    runs = collect([sweep_dir])
    assert len(runs) == 8 and all(r["status"] == "ok" for r in runs)

    board = subprocess.run(
        [sys.executable, "-m", "ssibench.leaderboard", str(sweep_dir)], capture_output=True, text=True, timeout=300
    )
    assert board.returncode == 0, board.stderr
    rows = list(csv.DictReader(open(sweep_dir / "leaderboard.csv")))
    assert len(rows) == 4
    for row in rows:
        psnr = [r["metrics"]["PSNR"]["mean"] for r in runs if r["loss"] == row["loss"] and r["physics"] == row["scenario"]]
        assert row["n_seeds"] == "2"
        assert float(row["PSNR_mean"]) == pytest.approx(np.mean(psnr))
        assert float(row["PSNR_se"]) == pytest.approx(np.std(psnr, ddof=1) / np.sqrt(2))

    # each run saved its figure slice: the image its test scored (these losses evaluate deterministically)
    for folder, results in collect_runs([sweep_dir]):
        saved = load_reconstruction(RunDir(folder).reconstruction)
        for name in ("ground_truth", "zero_filled", "reconstruction"):
            assert saved[name].shape == (32, 32) and torch.isfinite(saved[name]).all(), (folder, name)
        psnr = saved["metrics"]["reconstruction"]["PSNR"]
        assert psnr == pytest.approx(results["per_image"]["PSNR"][saved["index"]], abs=1e-3), folder
    for scenario in ("mri", "single"):
        for figure in ("psnr", "curves", "reconstructions"):
            assert_picture(sweep_dir / f"{figure}_{scenario}.png")
            assert f"{figure}_{scenario}.png" in board.stdout


def test_slurm_preset_composes_with_its_values(tmp_path, data_dir):
    proc = launch("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "--cfg", "hydra", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)
    launcher = proc.stdout.split("launcher:")[1]
    # gpus_per_node is decided from trainer.device and the partition (tests/cluster/test_cluster.py checks the rule)
    for line in ("SlurmLauncher", "partition: gpu", "gpus_per_node: ${slurm_gpus:${hydra.launcher.partition}}",
                 "cpus_per_task: 2", "mem_gb: 8", "timeout_min: 720", "array_parallelism: 16", "max_num_timeout: 3",
                 "signal_delay_s: 120"):
        assert line in launcher, line


def test_submitit_local_runs_a_sweep(tmp_path, data_dir):
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
        "loss=zero_filled,mc", f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir,
    )
    assert_ok(proc)
    assert sorted(r["loss"] for r in collect([sweep_dir]) if r["status"] == "ok") == ["mc", "zero_filled"]


def test_leaderboard_sweep_preset_is_the_papers_grid(tmp_path, data_dir):
    proc = launch("+sweep=leaderboard", "--cfg", "hydra", cwd=tmp_path, data_dir=data_dir)
    assert_ok(proc)
    assert "loss: glob(*)" in proc.stdout and "physics: mri,noisy,single,multicoil" in proc.stdout


def test_a_grid_restricts_a_scenario_to_its_table(make_cfg, tmp_path, data_dir):
    from ssibench.run import run

    with pytest.raises(ValueError, match="not in this grid's noisy table"):
        run(make_cfg("+sweep=leaderboard", "loss=mc", "physics=noisy"))
    sweep_dir = tmp_path / "sweep"
    proc = launch(
        "-m", "debug=smoke", "+only.noisy=[zero_filled]", "loss=zero_filled,mc", "physics=noisy,mri",
        f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path, data_dir=data_dir,
    )
    assert_ok(proc)
    status = {(r["loss"], r["physics"]): r["status"] for r in collect([sweep_dir])}
    assert status == {("zero_filled", "noisy"): "ok", ("mc", "noisy"): "skipped", ("zero_filled", "mri"): "ok", ("mc", "mri"): "ok"}
