"""One test set per seed within a table: runs scored on other test data are not ranked together.

Each run records ``test_set``, a fingerprint of its test measurements, masks and ground truth, and
``test_signature``, their values up to rounding (:mod:`ssibench.data.test_set_identity`). A seed
simulates its own measurements by design, so seeds differ; but within one scenario every run of one
seed must have been scored on the same test set, or the table would compare methods on different
images (e.g. runs with other data or physics parameters). Two runs share a test set when their
fingerprints are equal, or when their signatures agree (simulated on CPUs that round differently),
*and* what their results record about how it was made agrees (:func:`test_set_parameters`: the data
and image size, the split's test part, the physics that shape the measurements, the seed, ``n_test``):
a fingerprint its own run's config contradicts is refused, not trusted. Runs without a fingerprint
(made before results recorded it) are compared by those parameters alone.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ssibench.data.test_set_identity import TOLERANCE, same_values

SHOWN_RUNS = 5  # run folders named per side of a mismatch; the rest are counted
# Where a run's recorded config says how its test set was made, as dotted paths (a block stands for each value below
# it): the data and their size, the split's test part (not max_train), the physics parameters that shape the
# measurements, and the seed that draws their masks and noise. Not the code (operators' _target_): the fingerprint
# covers it, and a renamed class makes the same measurements.
TEST_SET_PARAMETERS = (
    "dataset", "img_size",
    "split._target_", "split.test_fraction", "split.n_slabs", "split.gap", "split.seed", "split.max_test",
    "physics.generator.acceleration", "physics.generator.center_fraction", "physics.fixed_mask",
    "physics.noise.sigma", "physics.operator.coil_maps", "seed",
)
# Values below a block that leave the test set as it is: the data's folder (the same file anywhere), the device
# (simulated on the CPU), the image size (given once, at the top).
NOT_PARAMETERS = {"root", "device", "img_size"}


class MixedTestSets(ValueError):
    """Runs of one scenario and seed that were scored on different test sets."""


def check_one_test_set_per_seed(runs: list[tuple[Path | None, dict]]) -> None:
    """Raise :class:`MixedTestSets` (one line) for the first scenario and seed whose runs were scored
    on different test sets (:func:`same_test_set`), or whose records contradict each other about how
    it was made (:func:`parameter_differences`); ``runs`` are ``(run folder or None, results)`` pairs."""
    by_seed: dict[tuple[str, int], list[list]] = defaultdict(list)  # runs grouped by test set
    scored: dict[tuple[str, int], list[tuple[Path | None, dict]]] = defaultdict(list)  # what a table compares
    for folder, results in runs:
        key = results["physics"], results["seed"]
        if results["status"] == "ok" and (results.get("test_set") or results["metrics"]):
            scored[key].append((folder, results))
        if results.get("test_set"):
            sides = by_seed[key]
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
    for (scenario, seed), ((first_folder, first), *others) in sorted(scored.items()):
        for folder, results in others:
            differences = parameter_differences(first, results)
            if not differences:
                continue
            pair = f"{_name(first_folder, first)} and {_name(folder, results)}"
            if first.get("test_set") and results.get("test_set"):  # the same test set, by the check above
                raise MixedTestSets(
                    f"scenario {scenario}, seed {seed}: {pair} record the same test set ({first['test_set'][:12]}) "
                    f"but contradict each other about how it was made: {', '.join(differences)}; one of these "
                    "results.json was edited or mixed up with another run's: leave that run out, or run it again"
                )
            raise MixedTestSets(
                f"scenario {scenario}, seed {seed}: {pair} were scored on different test sets: they differ in "
                f"{', '.join(differences)}. Build their leaderboards separately, or re-run them on the same data"
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


def _name(folder: Path | None, results: dict) -> str:
    return str(folder) if folder is not None else f"{results['label']} seed {results['seed']}"


def _describe(group: list[tuple[Path | None, dict]]) -> str:
    names = [_name(folder, r) for folder, r in group]
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
    """``["img_size 64 vs 32", ...]``: the device type, dataset, versions and test-set parameters
    (:func:`test_set_parameters`) that ``others`` record differently from ``reference``; empty when only the
    measurements' bits can differ."""
    differences = []
    for other in others:
        for what, a, b in [
            ("device", _device_type(reference), _device_type(other)),
            ("dataset", reference.get("dataset"), other.get("dataset")),
            *[(f"{name} version", reference.get("versions", {}).get(name), other.get("versions", {}).get(name))
              for name in ("ssibench", "deepinv", "torch")],
            *_parameter_pairs(reference, other),
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


def test_set_parameters(results: dict) -> dict[str, object]:
    """How ``results`` say their test set was made: each value at :data:`TEST_SET_PARAMETERS` in the run's
    recorded config, interpolations (``${img_size}``) resolved, and ``n_test``: ``{"dataset._target_": ...,
    "img_size": 64, ..., "n_test": 27}``; ``n_test`` alone for a run that records no config."""
    config = results.get("config")
    found: dict[str, object] = {}
    if isinstance(config, dict):
        try:
            resolvable = OmegaConf.create(config)
        except (OmegaConfBaseException, ValueError):
            resolvable = None  # a config OmegaConf cannot read back: its values as written
        for path in TEST_SET_PARAMETERS:
            for leaf in _leaves(config, path):
                found[leaf] = _resolved(resolvable, leaf) if resolvable is not None else _lookup(config, leaf)
    return found | {"n_test": results.get("n_test")}


def parameter_differences(a: dict, b: dict) -> list[str]:
    """``["img_size 64 vs 32", "n_test 27 vs 4"]``: the test-set parameters (:func:`test_set_parameters`)
    the results ``a`` and ``b`` record differently; empty when they agree."""
    return [f"{name} {x} vs {y}" for name, x, y in _parameter_pairs(a, b)]


def _parameter_pairs(a: dict, b: dict) -> list[tuple[str, object, object]]:
    """(parameter, value in a, value in b) for each test-set parameter they record differently. A value one config
    lacks is None (as an older schema's absent key); without a config on both sides only ``n_test`` is compared."""
    pa, pb = test_set_parameters(a), test_set_parameters(b)
    both = isinstance(a.get("config"), dict) and isinstance(b.get("config"), dict)
    names = list(dict.fromkeys([*pa, *pb])) if both else [name for name in pa if name in pb]
    return [(name, pa.get(name), pb.get(name)) for name in names if pa.get(name) != pb.get(name)]


def _leaves(config: dict, path: str):
    """The dotted paths of the values at ``path``: itself, or each value below it for a block."""
    node = _lookup(config, path)
    if not isinstance(node, dict):
        yield path
        return
    for key in node:
        if key not in NOT_PARAMETERS:
            yield from _leaves(config, f"{path}.{key}")


def _lookup(config: dict, path: str):
    node = config
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _resolved(config, path: str):
    """The value at ``path`` with its interpolations resolved; None where one names a value the recorded config
    lacks (``${trainer.device}``, which is not part of a run's identity)."""
    try:
        value = OmegaConf.select(config, path, throw_on_resolution_failure=False)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    except OmegaConfBaseException:
        return _lookup(OmegaConf.to_container(config), path)
