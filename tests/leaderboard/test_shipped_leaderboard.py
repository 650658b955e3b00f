"""A new method ranked against the shipped leaderboard without re-running it, on real smoke runs:
readme_results ships a sweep's runs, ``--against`` ranks given runs among them or refuses them with
one line; every table has a zero-filled row and the stability column."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import statistics

import numpy as np
import pytest
from conftest import assert_ok, launch

from ssibench.folders import RunDir
from ssibench.leaderboard import shipped
from ssibench.leaderboard.cli import main
from ssibench.leaderboard.run_curves import read_curves
from ssibench.leaderboard.selection_view import under_rule
from ssibench.leaderboard.test_sets import same_test_set
from ssibench.leaderboard.statistics import paired_test
from ssibench.results import schema as results_io
from ssibench.tools import readme_results

SMOKE = ("debug=smoke", "epochs=2", "trainer.device=cpu")  # two evaluated epochs: a stability to compute
README = "# Title\n\n" + "".join(
    f"<!-- readme_results:{s} -->\nold\n<!-- /readme_results:{s} -->\n" for s in readme_results.README_SECTIONS
)
PAGE = "Title\n=====\n\n" + "".join(
    f".. readme_results:{s}\n\nold\n\n.. /readme_results:{s}\n\n" for s in readme_results.PAGE_SECTIONS
)


def _tree(folder) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """The embedded sweep in small (mc, zero_filled, sup; shipped by readme_results into a folder of
    the test), and a contributor's sweep of a new method (ei) and of mc, on the same test set."""
    root = tmp_path_factory.mktemp("shipped")
    embedded, mine = root / "embedded-sweep", root / "mine"
    for sweep, losses in ((embedded, "mc,zero_filled,sup"), (mine, "ei,mc")):
        assert_ok(launch("-m", *SMOKE, f"loss={losses}", "physics=mri", f"hydra.sweep.dir={sweep}", cwd=root, data_dir=data_dir))
    record = {"command": "python launch.py -m +sweep=leaderboard", "wall_seconds": 60.0, "exit_code": 0,
              "machine": "a CPU", "python": "3", "torch": "2", "date": "2026-12-02"}  # fmt: skip
    (embedded / readme_results.SWEEP_RECORD).write_text(json.dumps(record))
    package = root / "package" / "embedded"
    package.mkdir(parents=True)
    (package / "stale.txt").write_text("an earlier set")
    readme, page = root / "README.md", root / "default_scale.rst"
    readme.write_text(README)
    page.write_text(PAGE)
    readme_results.regenerate(embedded, record, readme, page, root / "docs", package)
    return {"root": root, "embedded": embedded, "mine": mine, "package": package, "readme": readme, "page": page}


@pytest.fixture
def against(runs, monkeypatch):
    monkeypatch.setattr(shipped, "EMBEDDED", runs["package"])
    return runs


def _by_loss(path) -> dict[str, dict]:
    return {row["loss"]: row for row in csv.DictReader(open(path)) if row["status"] == "ok"}


def test_readme_results_ships_each_run_with_its_curves_and_a_manifest(runs):
    package, embedded = runs["package"], runs["embedded"]
    assert not (package / "stale.txt").exists()  # the whole set replaced
    assert not list(package.parent.glob(".embedded-*"))  # no half-written set left beside it
    manifest = json.loads((package / shipped.MANIFEST).read_text())
    assert manifest["runs"] == ["mc_mri_seed0", "sup_mri_seed0", "zero_filled_mri_seed0"]
    assert manifest["command"] == "python launch.py -m +sweep=leaderboard" and manifest["date"] == "2026-12-02"
    for name in manifest["runs"]:
        (source,) = embedded.glob(f"*_{name}_*")
        assert (package / name / "results.json").read_bytes() == RunDir(source).results.read_bytes()
        assert (package / name / "metrics.csv").is_file() == (name != "zero_filled_mri_seed0")  # trained runs' curves
        assert (package / name / "reconstruction.pt").read_bytes() == RunDir(source).reconstruction.read_bytes()
    assert "### Scenario `mri`" in runs["readme"].read_text() and "Scenario ``mri``" in runs["page"].read_text()
    size = sum(p.stat().st_size for p in package.rglob("*") if p.is_file())
    assert size < 70_000, size  # ~20 kB per run at the smoke scale


def test_a_new_method_is_ranked_among_the_shipped_runs(against, tmp_path, capsys):
    before = _tree(against["package"])
    mine = tmp_path / "mine"  # the contributor's mc scored 1 dB above the shipped one, to tell which is ranked
    shutil.copytree(against["mine"], mine)
    (mine_mc,) = mine.glob("*_mc_mri_*")
    given_mc = results_io.read(RunDir(mine_mc).results)
    chosen = given_mc["selection"]["val_kspace"]  # the default rule's model
    chosen["metrics"]["PSNR"]["mean"] += 1
    chosen["per_image"]["PSNR"] = [value + 1 for value in chosen["per_image"]["PSNR"]]
    results_io.write(RunDir(mine_mc).results, given_mc)
    out, site = tmp_path / "out", tmp_path / "site"
    assert main([str(mine), "--against", "embedded", "--out", str(out), "--html", str(site)]) == 0
    printed = capsys.readouterr().out
    assert f"[leaderboard] MC in mri, seed 0: the run in {mine_mc} replaces the shipped one" in printed
    rows = _by_loss(out / "leaderboard.csv")
    assert set(rows) == {"ei", "mc", "sup", "zero_filled"}  # the new method among the shipped ones
    assert all(row["n_seeds"] == "1" for row in rows.values())  # mc once: the given run, not both
    assert float(rows["mc"]["PSNR_mean"]) == pytest.approx(chosen["metrics"]["PSNR"]["mean"])
    assert rows["zero_filled"]["stability_db"] == ""  # nothing trained: no curves
    assert (site / "index.html").is_file() and (out / "curves_mri.png").is_file()
    assert (out / "reconstructions_mri.png").is_file() and "no reconstruction.pt" not in printed  # shipped slices too
    assert _tree(against["package"]) == before  # the shipped runs are only read

    # by default the leaderboard lands in the first folder given, never among the shipped runs
    assert main([str(mine), "--against", "embedded"]) == 0
    assert (mine / "leaderboard.md").is_file() and _tree(against["package"]) == before


def _refused(capsys, *argv) -> str:
    assert main([str(a) for a in argv]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    return error


def test_runs_that_cannot_be_compared_with_the_shipped_ones_are_refused_with_one_line(against, tmp_path, data_dir, capsys):
    other = tmp_path / "other-scale"  # the same command at another image size: another test set
    assert_ok(launch(*SMOKE, "loss=zero_filled", "img_size=24", f"hydra.run.dir={other}", cwd=tmp_path, data_dir=data_dir))
    out = tmp_path / "out"
    error = _refused(capsys, other, "--against", "embedded", "--out", out)
    for part in (str(other), "another test set", "scenario mri, seed 0", "img_size 32 vs 24", "default scale", "seed=0"):
        assert part in error, part
    assert "--against SWEEP" not in error
    assert not out.exists()

    seed1 = tmp_path / "seed1"  # a seed the shipped leaderboard has not
    shutil.copytree(next(against["mine"].glob("*_ei_mri_*")), seed1)
    results_io.write(RunDir(seed1).results, results_io.read(RunDir(seed1).results) | {"seed": 1})
    error = _refused(capsys, seed1, "--against", "embedded", "--out", out)
    assert "scenario mri, seed 1 has no shipped runs" in error and "shipped: mri seed 0" in error and "seed=0" in error

    for case, signature, parts in (  # the shipped command's bits, run elsewhere
        ("unsigned", None, ("not all of them record a test signature", "round differently", "Another CPU",
                            "Run it again with this version of ssibench")),
        ("other-data", lambda s: s | {"y": s["y"] | {"projections": [p + 1e-3 for p in s["y"]["projections"]]}},
         ("differ beyond rounding", "--against SWEEP")),
    ):  # fmt: skip
        elsewhere = tmp_path / case
        shutil.copytree(next(against["mine"].glob("*_ei_mri_*")), elsewhere)
        results = results_io.read(RunDir(elsewhere).results)
        cost = results["cost"] | {"device": "Another CPU", "device_type": "cpu"}
        changed = results | {"test_set": "f" * 64, "cost": cost}
        if signature is None:
            del changed["test_signature"]
        else:
            changed["test_signature"] = signature(results["test_signature"])
        results_io.write(RunDir(elsewhere).results, changed)
        error = _refused(capsys, elsewhere, "--against", "embedded", "--out", out)
        for part in ("same device, versions and data/physics config", *parts):
            assert part in error, (case, part)
        assert "default scale" not in error  # it was run at the default scale: only another machine's sweep helps

    error = _refused(capsys, against["package"] / "mc_mri_seed0", "--against", "embedded")
    assert "only read" in error
    assert not out.exists()


def test_a_run_whose_kernels_rounded_the_test_set_otherwise_is_ranked_with_a_line(against, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"  # the same values, other last bits (e.g. an AVX2 CPU: see test_test_set.py)
    shutil.copytree(next(against["mine"].glob("*_ei_mri_*")), elsewhere)
    results = results_io.read(RunDir(elsewhere).results)
    results_io.write(RunDir(elsewhere).results, results | {"test_set": "f" * 64})
    assert main([str(elsewhere), "--against", "embedded", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert f"{elsewhere}: scored on the test set of the shipped runs of scenario mri, seed 0 up to rounding" in printed
    assert set(_by_loss(tmp_path / "out" / "leaderboard.csv")) == {"ei", "mc", "sup", "zero_filled"}


def test_readme_results_signs_the_runs_of_a_sweep_made_before_results_recorded_signatures(runs, data_dir, tmp_path, monkeypatch):
    """Each test set is simulated again from a run's own config and signed if its bits are the ones
    the run was scored on; otherwise nothing is written."""
    monkeypatch.setenv("SSIBENCH_DATA_DIR", str(data_dir))  # where the sweep's runs simulated their data
    old = tmp_path / "old-sweep"
    shutil.copytree(runs["embedded"], old)
    for path in old.rglob("results.json"):
        results = results_io.read(path)
        results.pop("test_signature")
        results_io.write(path, results)
    record = json.loads((old / readme_results.SWEEP_RECORD).read_text())
    readme, page = tmp_path / "README.md", tmp_path / "default_scale.rst"
    readme.write_text(README)
    page.write_text(PAGE)
    readme_results.regenerate(old, record, readme, page, tmp_path / "docs", tmp_path / "package")
    for name in json.loads((tmp_path / "package" / shipped.MANIFEST).read_text())["runs"]:
        (source,) = runs["embedded"].glob(f"*_{name}_*")
        signed = results_io.read(tmp_path / "package" / name / "results.json")
        assert signed["test_signature"] == results_io.read(RunDir(source).results)["test_signature"], name

    (tampered,) = old.glob("*_mc_mri_*")
    results_io.write(RunDir(tampered).results, results_io.read(RunDir(tampered).results) | {"test_set": "0" * 64})
    readme.write_text(README)
    page.write_text(PAGE)
    with pytest.raises(SystemExit, match="simulated again here, is not the one it was scored on"):
        readme_results.regenerate(old, record, readme, page, tmp_path / "docs-2", tmp_path / "package-2")
    assert readme.read_text() == README and page.read_text() == PAGE
    assert not (tmp_path / "package-2").exists() and not (tmp_path / "docs-2").exists()

    shutil.rmtree(RunDir(tampered).path / ".hydra")  # nothing to simulate it again from
    with pytest.raises(SystemExit, match="has no overrides.yaml to simulate its test set again from"):
        readme_results.regenerate(old, record, readme, page, tmp_path / "docs-2", tmp_path / "package-2")


def test_the_package_ships_the_readme_leaderboard_runs():
    """The runs in ssibench/leaderboard/embedded are the sweep the tables of the site's default-scale
    page and the README's headline table were built from: one test set per scenario and seed, and each
    row's PSNR is the mean over seeds of its shipped runs under the tables' rule, on the page and in
    the README's scenario."""
    manifest = json.loads((shipped.EMBEDDED / shipped.MANIFEST).read_text())
    runs = shipped.load("embedded")
    assert sorted(folder.name for folder, _ in runs) == manifest["runs"]
    page, readme = readme_results.PAGE.read_text(), readme_results.README.read_text()
    measured = f"{manifest['machine']}, Python {manifest['python']}, torch {manifest['torch']}, {manifest['date']}"
    assert measured in page and measured in readme
    headline = readme.split("<!-- readme_results:headline -->")[1].split("Not ranked")[0]
    assert f"### Scenario `{readme_results.HEADLINE}`" in headline
    rule = readme_results.table_rule([r for _, r in runs])
    for physics in ("mri", "noisy", "single", "multicoil"):
        scored = [under_rule(r, rule)[0] for _, r in runs if r["physics"] == physics and r["status"] == "ok"]
        for seed in {r["seed"] for r in scored}:  # the sweep ran on two CPUs: the same values to rounding
            first, *others = [r for r in scored if r["seed"] == seed]
            assert all(same_test_set(first, r) for r in others), (physics, seed)
        table = page.split(f"Scenario ``{physics}``")[1].split("Not ranked")[0]
        for label in {r["label"] for r in scored}:
            psnr = statistics.mean(r["metrics"]["PSNR"]["mean"] for r in scored if r["label"] == label)
            assert f"     - {readme_results.rst_text(label)}\n     - {psnr:.2f}" in table, (physics, label)
            if physics == readme_results.HEADLINE:
                assert f"| {label} | {psnr:.2f}" in headline, label


def test_an_installation_without_shipped_runs_says_so(runs, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(shipped, "EMBEDDED", tmp_path / "none")
    error = _refused(capsys, runs["mine"], "--against", "embedded", "--out", tmp_path / "out")
    assert "ships no leaderboard results" in error


def test_every_table_has_one_zero_filled_row_and_the_stability_column(runs, tmp_path):
    # a sweep without loss=zero_filled: the row comes from its runs' own zero_filled scores
    assert main([str(runs["mine"]), "--out", str(tmp_path / "mine")]) == 0
    rows = _by_loss(tmp_path / "mine" / "leaderboard.csv")
    ei = results_io.read(next(runs["mine"].glob("*_ei_mri_*/results.json")))
    assert float(rows["zero_filled"]["PSNR_mean"]) == pytest.approx(ei["zero_filled"]["PSNR"]["mean"])
    assert rows["zero_filled"]["label"] == "Zero-filled" and rows["zero_filled"]["n_seeds"] == "1"
    best = max(("ei", "mc"), key=lambda loss: float(rows[loss]["PSNR_mean"]))
    best_images = results_io.read(next(runs["mine"].glob(f"*_{best}_mri_*/results.json")))["selection"]["val_kspace"]
    verdict, _ = paired_test(ei["zero_filled_per_image"]["PSNR"], best_images["per_image"]["PSNR"])
    assert rows["zero_filled"]["vs_best_ssl"] == verdict  # tested on its per-image scores
    for loss in ("ei", "mc"):  # the std of the test PSNR over the last evaluated epochs
        (curves,) = runs["mine"].glob(f"*_{loss}_mri_*/metrics.csv")
        psnr, _ = read_curves(curves, "PSNR")
        assert float(rows[loss]["stability_db"]) == pytest.approx(np.std(list(psnr.values())[-5:], ddof=1))
    markdown = (tmp_path / "mine" / "leaderboard.md").read_text()
    assert "| regret (dB) | stability (dB) |" in markdown and "Stability (dB): the standard deviation" in markdown

    # a sweep with it: its run is the row, once
    assert main([str(runs["embedded"]), "--out", str(tmp_path / "embedded")]) == 0
    labels = [row["label"] for row in csv.DictReader(open(tmp_path / "embedded" / "leaderboard.csv"))]
    assert labels.count("Zero-filled") == 1
    assert "| Zero-filled |" in (tmp_path / "embedded" / "leaderboard.md").read_text()
