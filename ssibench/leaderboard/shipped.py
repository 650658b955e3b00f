"""The embedded leaderboard's runs, shipped with the package, and new runs ranked against them.

    ssibench/leaderboard/embedded/manifest.json                        the sweep they come from (command, machine, date)
    ssibench/leaderboard/embedded/<loss>_<physics>_seed<seed>/results.json   its per-image scores and config
    ssibench/leaderboard/embedded/<loss>_<physics>_seed<seed>/metrics.csv    its curves (trained runs)
    ssibench/leaderboard/embedded/<loss>_<physics>_seed<seed>/reconstruction.pt   its test slice (scored runs)

``ssibench readme-results`` writes them (:func:`ship`) whenever it rewrites the leaderboard of the
README and docs/default_scale.rst, from the same sweep; ``ssibench leaderboard <runs> --against
embedded`` reads them, never writes there (:func:`load`, :func:`rank_against`). A given run is ranked
only where the shipped runs of its scenario and seed were scored on the same test set (their ``test_set``
fingerprints match, or their ``test_signature`` s agree up to rounding, which a printed line says)
and the given run's config and ``n_test`` agree with theirs about how that test set was made
(:func:`~ssibench.leaderboard.test_sets.test_set_parameters`); otherwise, or where there is no such
shipped run, one line says why and what to do. A given run of
a method that is also shipped (same loss, scenario and seed) replaces the shipped one, with a
printed line.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

from ssibench.data.test_set_identity import TOLERANCE
from ssibench.folders import RunDir
from ssibench.leaderboard.runs import collect_runs
from ssibench.leaderboard.test_sets import parameter_differences, recorded_differences, same_test_set, what_differs
from ssibench.results import schema as results_io

EMBEDDED = Path(__file__).resolve().parent / "embedded"  # package data (pyproject.toml), read-only to the leaderboard
MANIFEST = "manifest.json"
NAME = "embedded"  # --against embedded


class AgainstError(ValueError):
    """Runs that cannot be ranked against the shipped ones: one line that says why and what to do."""


def _run_name(results: dict) -> str:
    name = f"{results['loss']}_{results['physics']}_seed{results['seed']}"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def ship(sweep_dir: Path, record: dict, folder: Path = EMBEDDED, signatures: dict[str, dict] | None = None) -> int:
    """Replace ``folder`` by the runs of ``sweep_dir`` (each run's results.json, metrics.csv and
    reconstruction.pt: what the figures draw) and a
    manifest naming the sweep (``record``: how it was run); the new set is written beside it, then
    swapped in, so a crash midway leaves the old set or the new one whole. A run that records no
    ``test_signature`` (made before results recorded one) is shipped with the one ``signatures`` gives
    for its ``test_set`` fingerprint. :return: bytes written."""
    folder = Path(folder)
    runs = collect_runs([sweep_dir])
    names: dict[str, Path] = {}
    for run_folder, results in runs:
        name = _run_name(results)
        if name in names:
            raise SystemExit(
                f"readme_results: {run_folder} and {names[name]} are both {name}: ship a sweep with one run per "
                f"loss, scenario and seed"
            )
        names[name] = run_folder
    new, old = folder.with_name(f".{folder.name}-new"), folder.with_name(f".{folder.name}-old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    signatures, results_of = signatures or {}, dict(runs)
    for name, run_folder in sorted(names.items()):
        (new / name).mkdir()
        run, results = RunDir(run_folder), results_of[run_folder]
        if not results.get("test_signature") and results.get("test_set") in signatures:
            signed = {**results, "test_signature": signatures[results["test_set"]]}
            results_io.write(new / name / run.results.name, signed)
        else:
            shutil.copyfile(run.results, new / name / run.results.name)
        for source in (run.curves, run.reconstruction):
            if source.is_file():
                shutil.copyfile(source, new / name / source.name)
    manifest = {
        "written_by": "ssibench readme-results",
        "sweep": Path(sweep_dir).name,
        **{key: record.get(key) for key in ("command", "date", "machine", "python", "torch", "exit_code")},
        "runs": sorted(names),
    }
    (new / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def resolve(against: str) -> Path:
    """The folder of ``--against``: ``embedded`` (the shipped runs) or a sweep folder."""
    return EMBEDDED if against == NAME else Path(against)


def load(against: str) -> list[tuple[Path, dict]]:
    """The runs to rank against; raise :class:`AgainstError` when there are none."""
    folder = resolve(against)
    if against == NAME and not (folder / MANIFEST).is_file():
        raise AgainstError(
            f"this installation of ssibench ships no leaderboard results ({folder / MANIFEST} is missing): "
            "install a release that has them, or give a sweep folder of your own to --against"
        )
    if not folder.is_dir():
        raise AgainstError(f"--against {against}: not a folder (give `embedded` or a sweep folder)")
    runs = collect_runs([folder])
    if not runs:
        raise AgainstError(f"--against {against}: no results.json below {folder}")
    return runs


def _shipped_seeds(shipped: list[tuple[Path, dict]]) -> str:
    seeds: dict[str, set[int]] = defaultdict(set)
    for _, results in shipped:
        seeds[results["physics"]].add(results["seed"])
    return "; ".join(f"{physics} seed {', '.join(map(str, sorted(s)))}" for physics, s in sorted(seeds.items()))


def rank_against(
    shipped: list[tuple[Path, dict]], given: list[tuple[Path, dict]]
) -> tuple[list[tuple[Path, dict]], list[str]]:
    """The runs of one leaderboard: the ``given`` ones and the ``shipped`` ones they do not replace,
    and a line per replaced run. Raise :class:`AgainstError` for the first given run that has no
    shipped counterpart of its scenario and seed, or was scored on another test set than it."""
    by_seed: dict[tuple[str, int], list[tuple[Path, dict]]] = defaultdict(list)
    notes = []
    for folder, results in shipped:
        by_seed[results["physics"], results["seed"]].append((folder, results))
    for folder, results in given:
        key = results["physics"], results["seed"]
        where = f"scenario {key[0]}, seed {key[1]}"
        if key not in by_seed:
            seeds = sorted(seed for physics, seed in by_seed if physics == key[0])
            todo = (
                f"run it with seed={','.join(map(str, seeds))}" if seeds
                else "run the method in a shipped scenario (physics=...)"
            )
            raise AgainstError(
                f"{folder}: {where} has no shipped runs to rank it against (shipped: {_shipped_seeds(shipped)}): {todo}"
            )
        if results["status"] != "ok" or not results["metrics"]:
            continue  # listed unranked with its reason: no test scores to compare
        fingerprinted = [r for _, r in by_seed[key] if r.get("test_set")]
        if results.get("test_set") is None:
            raise AgainstError(
                f"{folder} records no test_set fingerprint (made before results recorded one), so nothing proves it "
                f"was scored on the shipped runs' test set ({where}): run it again with this version of ssibench"
            )
        if not fingerprinted:
            continue
        reference = next((r for r in fingerprinted if same_test_set(r, results)), None)
        if reference is None:
            reference = fingerprinted[0]
            raise AgainstError(
                f"{folder} was scored on another test set than the shipped runs of {where} "
                f"(test set {results['test_set'][:12]} vs {reference['test_set'][:12]}): "
                f"{what_differs(reference, [results])}. {_what_to_do(reference, results, key[1])}"
            )
        contradicted = parameter_differences(reference, results)
        if contradicted:  # a fingerprint is only trusted where the run's own record agrees with it
            raise AgainstError(
                f"{folder} records the test set of the shipped runs of {where} ({results['test_set'][:12]}) but not "
                f"how it was made: {', '.join(contradicted)} (shipped vs its own), so its results.json was edited or "
                f"mixed up with another run's. {_what_to_do(reference, results, key[1])}"
            )
        if not any(r["test_set"] == results["test_set"] for r in fingerprinted):
            notes.append(
                f"{folder}: scored on the test set of the shipped runs of {where} up to rounding (its bits differ, "
                f"as on CPUs whose FFT or random-number kernels round differently; its values agree within "
                f"{TOLERANCE:g}): ranked with them"
            )
    replaced = {(r["loss"], r["physics"], r["seed"]): folder for folder, r in given}
    kept = []
    for folder, results in shipped:
        mine = replaced.get((results["loss"], results["physics"], results["seed"]))
        if mine is None:
            kept.append((folder, results))
        else:
            notes.append(
                f"{results['label']} in {results['physics']}, seed {results['seed']}: the run in {mine} replaces "
                "the shipped one"
            )
    return kept + list(given), notes


def _what_to_do(reference: dict, results: dict, seed: int) -> str:
    """The way out for a run scored on another test set than the shipped ``reference``."""
    if recorded_differences(reference, [results]):
        return (
            f"Run it as they were run: at the default scale (no debug=smoke, no data, split or physics overrides) "
            f"with seed={seed}, then rank it again"
        )
    if not results.get("test_signature"):
        return (
            "Run it again with this version of ssibench, whose results record a test signature that holds across CPUs"
        )
    return "Rank it against a sweep of your own made on the same data and machine (--against SWEEP)"
