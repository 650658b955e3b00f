"""Leaderboards by selection rule: each table scores the model its rule chose, says which, adds the
oracle and the regret, a rank interval per row; a tuning sweep's trial is chosen on validation, never on test."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from selection_records import chosen, selection

from ssibench.leaderboard.cli import main
from ssibench.leaderboard.rank_intervals import rank_intervals
from ssibench.leaderboard.runs import collect
from ssibench.leaderboard.tables import Unranked, build_tables, metric_cell
from ssibench.results import schema as results_io

IMAGES = np.linspace(25, 30, 12)


def _scores(psnr) -> tuple[dict, dict]:
    psnr = np.asarray(psnr, dtype=float)
    return {"PSNR": {"mean": float(psnr.mean()), "std": float(psnr.std())}}, {"PSNR": psnr.tolist()}


def _write(folder, loss, last, kind="self-supervised", seed=0, name=None, trial=None, values=None, **rules):
    """A run whose last epoch scores ``last`` per image; ``rules``: each rule's choice (default: the last epoch)."""
    metrics, per_image = _scores(last)
    results = {
        "loss": loss, "label": loss.upper(), "kind": kind, "physics": "mri", "dataset": "mni152", "seed": seed,
        "epochs": 5, "status": "ok", "reason": None, "metrics": metrics, "per_image": per_image,
        "zero_filled": {"PSNR": {"mean": 20.0, "std": 1.0}}, "n_test": len(last), "train_seconds": 1.0,
        "eval_seconds": 0.1, "device": "cpu", "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"},
        "config": {"seed": seed, "loss": {"label": loss.upper()}},
    }  # fmt: skip
    if trial is not None:
        results["config"]["tune"] = {"trial": trial, "trials": 4, "values": values or {}}
    results |= selection(results, **rules)
    path = folder / (name or f"{loss}-{seed}")
    path.mkdir(parents=True)
    results_io.write(path / "results.json", results)
    return path


def _rule(psnr, epoch, criterion):
    return chosen(*_scores(psnr), epoch=epoch, criterion=criterion)


def _rows(folder) -> dict[str, dict]:
    return {row["loss"]: row for row in csv.DictReader(open(folder / "leaderboard.csv")) if row["status"] == "ok"}


def test_each_rule_scores_the_model_it_chose_and_the_regret_is_oracle_minus_kspace(tmp_path, capsys):
    # a: its last epoch 27.5, the k-space criterion chose 28.5, the oracle 29.0
    _write(tmp_path, "a", IMAGES, val_kspace=_rule(IMAGES + 1, 3, 0.2), val_oracle=_rule(IMAGES + 1.5, 4, 31.0))
    _write(tmp_path, "b", IMAGES + 0.5)  # every rule chose its last epoch
    for rule, a_mean in (("last", 27.5), ("val_kspace", 28.5), ("val_oracle", 29.0)):
        out = tmp_path / rule
        assert main([str(tmp_path), "--selection", rule, "--out", str(out)]) == 0
        rows = _rows(out)
        assert float(rows["a"]["PSNR_mean"]) == pytest.approx(a_mean), rule
        assert {row["selection"] for row in rows.values()} == {rule}
        assert f"Selection: {rule}, " in (out / "leaderboard.md").read_text()
        # the oracle and the regret do not depend on the table's rule
        assert float(rows["a"]["oracle_PSNR"]) == pytest.approx(29.0)
        assert float(rows["a"]["regret_db"]) == pytest.approx(0.5) and float(rows["b"]["regret_db"]) == 0
    assert metric_cell(-1e-9, 0.0, 3, "dB") == "0.00 ± 0.00"  # an oracle that chose the same epoch, to rounding
    assert main([str(tmp_path), "--out", str(tmp_path / "default")]) == 0  # default: without ground truth
    assert {row["selection"] for row in _rows(tmp_path / "default").values()} == {"val_kspace"}


def test_a_run_without_a_rules_choice_is_listed_with_why_never_mixed_in(tmp_path, capsys):
    reason = "no validation set (split.val_fraction=0)"
    _write(tmp_path, "a", IMAGES, val_kspace=None, val_oracle=None)
    _write(tmp_path, "b", IMAGES + 0.5)
    (table,) = build_tables(collect([tmp_path]), rule="val_kspace")
    assert [row.loss for row in table.rows] == ["zero_filled", "b"]
    assert table.not_run == [Unranked("A", "no val_kspace", f"no val_kspace choice: {reason}", (0,), 1)]
    (table,) = build_tables(collect([tmp_path]), rule="last")
    assert {row.loss for row in table.rows} == {"zero_filled", "a", "b"}


def test_runs_made_before_the_rules_share_a_table_under_last_with_a_line_saying_so(tmp_path, capsys):
    old = _write(tmp_path, "a", IMAGES)
    results = results_io.read(old / "results.json")
    del results["selection"]
    results_io.write(old / "results.json", results)
    _write(tmp_path, "b", IMAGES + 0.5, val_kspace=_rule(IMAGES + 2, 2, 0.1))
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert "every table shows --selection last" in capsys.readouterr().out
    rows = _rows(tmp_path / "out")
    assert {row["selection"] for row in rows.values()} == {"last"} and float(rows["b"]["PSNR_mean"]) == 28.0
    # asked for a rule explicitly: the old run is listed, not ranked
    assert main([str(tmp_path), "--selection", "val_kspace", "--out", str(tmp_path / "asked")]) == 0
    assert set(_rows(tmp_path / "asked")) == {"b", "zero_filled"}
    assert "rank it with --selection last" in (tmp_path / "asked" / "leaderboard.md").read_text()


def _trials(folder, loss, seed, criteria, test_means, oracle=None):
    """Trials 0..3 of one method and seed: trial k's k-space criterion and the test PSNR of its chosen model."""
    for k, (criterion, mean) in enumerate(zip(criteria, test_means)):
        scores = IMAGES - IMAGES.mean() + mean
        rules = {"val_kspace": _rule(scores, 4, criterion)}
        if oracle is not None:
            rules["val_oracle"] = _rule(scores, 4, oracle[k])
        _write(folder, loss, scores, seed=seed, name=f"{loss}-{seed}-trial{k}", trial=k,
               values={"trainer.optimizer.lr": 10.0 ** -(k + 2)}, **rules)  # fmt: skip


def test_a_tuning_sweep_reports_each_seeds_trial_chosen_on_validation_never_on_test(tmp_path, capsys):
    # seed 0: trial 2 has the best k-space criterion, trial 1 the best test PSNR (what choosing on test would take)
    _trials(tmp_path, "ssdu", 0, criteria=[0.5, 0.4, 0.1, 0.3], test_means=[27, 30, 28, 26], oracle=[1, 2, 3, 40])
    # seed 1: trials 1 and 3 tie on the criterion, and the lower index is taken
    _trials(tmp_path, "ssdu", 1, criteria=[0.4, 0.2, 0.3, 0.2], test_means=[27.5, 29, 28, 26], oracle=[1, 2, 3, 4])
    _trials(tmp_path, "mc", 0, criteria=[0.1, 0.2, 0.3, 0.4], test_means=[25, 26, 27, 28])
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    rows = _rows(tmp_path / "out")
    assert rows["ssdu"]["n_seeds"] == "2" and rows["ssdu"]["trial"] == "2, 1"  # one row, seeds counted, not trials
    assert float(rows["ssdu"]["PSNR_mean"]) == pytest.approx(np.mean([28, 29]))
    assert rows["ssdu"]["hparams"] == "trainer.optimizer.lr=0.0001; trainer.optimizer.lr=0.001"
    assert rows["mc"]["trial"] == "0" and float(rows["mc"]["PSNR_mean"]) == pytest.approx(25)
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "Tuned: 4 trials per method and seed" in markdown and "| trial | hparams |" in markdown

    # the oracle rule chooses its trial by the validation PSNR, the highest
    assert main([str(tmp_path), "--selection", "val_oracle", "--out", str(tmp_path / "oracle")]) == 0
    assert _rows(tmp_path / "oracle")["ssdu"]["trial"] == "3, 3"

    capsys.readouterr()
    assert main([str(tmp_path), "--selection", "last", "--out", str(tmp_path / "refused")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "--selection val_kspace" in error
    assert not (tmp_path / "refused").exists()


def test_rank_intervals_separate_clear_gaps_and_overlap_where_methods_are_close():
    rng = np.random.default_rng(0)
    base = rng.normal(27, 1, size=(3, 20))
    intervals = rank_intervals([base - 3, base, base + 0.001 * rng.normal(size=(3, 20)), None])
    assert intervals[0] == (1, 1) and intervals[3] is None  # 3 dB below every other method: always last
    assert intervals[1][0] == 2 and intervals[2][1] == 3 and intervals[1][1] == 3 and intervals[2][0] == 2
    assert rank_intervals([base, base[:, :10]]) == [None, None]  # different test sets: no interval
