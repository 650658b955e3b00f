"""One test set per seed within a table: runs scored on other test data are not ranked together.

Each run records ``test_set``, a fingerprint of its test measurements, masks and ground truth, and
``test_signature``, their values up to rounding (:mod:`ssibench.data.test_set_identity`). A seed
simulates its own measurements by design, so seeds differ; but within one scenario every run of one
seed must have been scored on the same test set, or the table would compare methods on different
images (e.g. runs with other data or physics parameters). Two runs share a test set when their
fingerprints are equal, or when their signatures agree (simulated on CPUs that round differently).
Runs without a fingerprint (made before results recorded it) are not compared.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ssibench.data.test_set_identity import TOLERANCE, same_values

SHOWN_RUNS = 5  # run folders named per side of a mismatch; the rest are counted
CONFIG_KEYS = ("dataset", "split", "physics", "img_size")  # what the test data are made from


class MixedTestSets(ValueError):
    """Runs of one scenario and seed that were scored on different test sets."""


def check_one_test_set_per_seed(runs: list[tuple[Path | None, dict]]) -> None:
    """Raise :class:`MixedTestSets` (one line) for the first scenario and seed whose runs were scored
    on different test sets (:func:`same_test_set`); ``runs`` are ``(run folder or None, results)`` pairs."""
    by_seed: dict[tuple[str, int], list[list]] = defaultdict(list)  # runs grouped by test set
    for folder, results in runs:
        if results.get("test_set"):
            sides = by_seed[results["physics"], results["seed"]]
            side = next((side for side in sides if same_test_set(side[0][1], results)), None)
            if side is None:
                sides.append(side := [])
            side.append((folder, results))
    for (scenario, seed), sides in sorted(by_seed.items()):
        if len(sides) > 1:
            groups = sorted(sides, key=len, reverse=True)
            described = "; ".join(_describe(group) for group in groups)
            raise MixedTestSets(
                f"scenario {scenario}, seed {seed}: the runs were scored on {len(groups)} different test sets: "
                f"{described}; {_why(groups)}. Build their leaderboards separately, or re-run them on the same data"
            )


def same_test_set(a: dict, b: dict) -> bool:
    """Whether the results ``a`` and ``b`` were scored on one test set: the same bits, or, where both
    record a signature, the same values up to rounding."""
    if a.get("test_set") == b.get("test_set"):
        return True
    return bool(a.get("test_signature") and b.get("test_signature")) and same_values(
        a["test_signature"], b["test_signature"]
    )


def _unsigned(results: list[dict]) -> bool:
    """Whether any of ``results`` records no test signature (made before results recorded one)."""
    return any(not r.get("test_signature") for r in results)


def _describe(group: list[tuple[Path | None, dict]]) -> str:
    names = [str(folder) if folder is not None else f"{r['label']} seed {r['seed']}" for folder, r in group]
    shown = ", ".join(names[:SHOWN_RUNS]) + (f" and {len(names) - SHOWN_RUNS} more" if len(names) > SHOWN_RUNS else "")
    return f"test set {group[0][1]['test_set'][:12]} ({len(group)} run{'s' if len(group) > 1 else ''}: {shown})"


def _why(groups: list[list[tuple[Path | None, dict]]]) -> str:
    """What the first run of each other side recorded differently from the first run of the first side."""
    return what_differs(groups[0][0][1], [group[0][1] for group in groups[1:]])


def what_differs(reference: dict, others: list[dict]) -> str:
    """What the results ``others`` record differently from ``reference`` that makes test data:
    ``they differ in device cpu vs cuda, img_size 64 vs 32``."""
    differences = recorded_differences(reference, others)
    if differences:
        return "they differ in " + ", ".join(differences)
    same = "their results record the same device, versions and data/physics config"
    if _unsigned([reference, *others]):
        machines = sorted({_machine(r) for r in (reference, *others)} - {None})
        where = f" ({' vs '.join(machines)})" if len(machines) > 1 else ""
        return (
            f"{same}, but the bits of their measurements differ and not all of them record a test signature, "
            f"which would tell rounding apart from other data: simulated on CPUs whose FFT or random-number "
            f"kernels round differently{where}, or from another data file"
        )
    return (
        f"{same}, yet their test data differ beyond rounding (their signatures disagree by more than "
        f"{TOLERANCE:g} of the norm): made from another data file, or simulated by other code"
    )


def recorded_differences(reference: dict, others: list[dict]) -> list[str]:
    """``["img_size 64 vs 32", ...]``: the device type, dataset, versions and data/physics config that
    ``others`` record differently from ``reference``; empty when only the measurements' bits can differ."""
    differences = []
    for other in others:
        for what, a, b in [
            ("device", _device_type(reference), _device_type(other)),
            ("dataset", reference.get("dataset"), other.get("dataset")),
            *[(f"{name} version", reference.get("versions", {}).get(name), other.get("versions", {}).get(name))
              for name in ("ssibench", "deepinv", "torch")],
            *_config_differences(reference.get("config") or {}, other.get("config") or {}),
        ]:
            if a != b and f"{what} {a} vs {b}" not in differences:
                differences.append(f"{what} {a} vs {b}")
    return differences


def _machine(results: dict) -> str | None:
    """The CPU that simulated a CPU run's measurements (a CUDA run records only its GPU)."""
    cost = results.get("cost") or {}
    return cost.get("device") if cost.get("device_type") == "cpu" else None


def _device_type(results: dict) -> str | None:
    """``cpu`` or ``cuda`` (the GPU index of a parallel job does not change the data)."""
    device = results.get("device")
    return device.split(":")[0] if isinstance(device, str) else None


def _config_differences(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(key, value in a, value in b) for the config entries the test data are made from."""
    out = []

    def walk(x, y, prefix: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y), key=str):
                walk(x.get(key), y.get(key), f"{prefix}.{key}" if prefix else str(key))
        elif x != y:
            out.append((prefix, x, y))

    for key in CONFIG_KEYS:
        if key in a or key in b:
            walk(a.get(key), b.get(key), key)
    return out
