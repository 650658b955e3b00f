"""The results.json of a run: its schema, writing and reading."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ssibench.atomic_files import atomic_path

STATUSES = ("ok", "skipped", "failed", "diverged")
KINDS = ("supervised", "self-supervised", "no-learning")
# The model-selection rules every run records under "selection" (ssibench.evaluation.selection).
SELECTION_RULES = ("last", "val_kspace", "val_oracle")

# key -> type(s) of every field a results.json has.
SCHEMA = {
    "loss": str,
    "label": str,
    "kind": str,
    "physics": str,
    "dataset": str,
    "seed": int,
    "epochs": int,
    "status": str,
    "reason": (str, type(None)),
    "metrics": dict,
    "zero_filled": dict,
    "n_test": int,
    "train_seconds": (int, float),
    "eval_seconds": (int, float),
    "device": str,
    "versions": dict,
}


def validate(results: dict) -> dict:
    """Check ``results`` against the schema; raise ValueError naming the first problem."""
    for key, kind in SCHEMA.items():
        if key not in results:
            raise ValueError(f"results.json lacks '{key}'")
        if not isinstance(results[key], kind) or isinstance(results[key], bool) and kind is int:
            raise ValueError(f"results.json '{key}' should be {kind}, got {results[key]!r}")
    if results["kind"] not in KINDS:
        raise ValueError(f"results.json kind must be one of {KINDS}, got {results['kind']!r}")
    if results["status"] not in STATUSES:
        raise ValueError(f"results.json status must be one of {STATUSES}, got {results['status']!r}")
    for block in ("metrics", "zero_filled"):
        for name, summary in results[block].items():
            if set(summary) < {"mean", "std"}:
                raise ValueError(f"results.json {block}.{name} needs 'mean' and 'std', got {sorted(summary)}")
            if results["status"] == "ok" and not all(math.isfinite(summary[k]) for k in ("mean", "std")):
                raise ValueError(f"results.json {block}.{name} is not finite: {summary}")
    if set(results["versions"]) < {"ssibench", "deepinv", "torch"}:
        raise ValueError("results.json versions needs ssibench, deepinv and torch")
    if "code" in results:  # absent from the results of an ssibench that did not fingerprint its code
        _validate_code(results["code"])
    n_val = results.get("n_val", 0)  # absent from the results of an ssibench without validation sets
    if not isinstance(n_val, int) or isinstance(n_val, bool) or n_val < 0:
        raise ValueError(f"results.json 'n_val' should be an integer >= 0, got {n_val!r}")
    if "validation_set" in results and not isinstance(results["validation_set"], str):
        raise ValueError(f"results.json 'validation_set' should be a fingerprint, got {results['validation_set']!r}")
    if "test_signature" in results:  # absent from the results of an ssibench that did not sign its test set
        _validate_test_signature(results["test_signature"])
    if "selection" in results:  # absent from the results of an ssibench without selection rules
        _validate_selection(results["selection"])
    return results


def _validate_selection(selection) -> None:
    """``selection``: for each rule, the epoch it chose, its criterion there and that model's test
    scores; ``null`` for a rule that could not choose, with its reason under ``reasons``."""
    if not isinstance(selection, dict) or set(selection) != {*SELECTION_RULES, "reasons"}:
        raise ValueError(f"results.json selection needs {', '.join(SELECTION_RULES)} and reasons, got {selection!r:.200}")
    reasons = selection["reasons"]
    if not isinstance(reasons, dict) or not all(isinstance(v, str) for v in reasons.values()):
        raise ValueError(f"results.json selection.reasons should map rules to reasons, got {reasons!r}")
    for rule in SELECTION_RULES:
        choice = selection[rule]
        if choice is None:
            if rule not in reasons:
                raise ValueError(f"results.json selection.{rule} is null without a reason in selection.reasons")
            continue
        if not isinstance(choice, dict) or set(choice) != {"epoch", "criterion", "metrics", "per_image"}:
            raise ValueError(f"results.json selection.{rule} needs epoch, criterion, metrics and per_image, got {choice!r:.200}")
        if choice["epoch"] is not None and (not isinstance(choice["epoch"], int) or isinstance(choice["epoch"], bool)):
            raise ValueError(f"results.json selection.{rule}.epoch should be an integer or null, got {choice['epoch']!r}")
        if choice["criterion"] is not None and not isinstance(choice["criterion"], (int, float)):
            raise ValueError(f"results.json selection.{rule}.criterion should be a number or null, got {choice['criterion']!r}")
        if not isinstance(choice["metrics"], dict) or not isinstance(choice["per_image"], dict):
            raise ValueError(f"results.json selection.{rule} metrics and per_image should be dicts")


def _validate_test_signature(signature) -> None:
    """``test_signature``: the test set's values up to rounding (:mod:`ssibench.data.test_set_identity`)."""
    if not isinstance(signature, dict) or not signature:
        raise ValueError(f"results.json test_signature should be a non-empty dict, got {signature!r}")
    for name, leaf in signature.items():
        if not (
            isinstance(leaf, dict)
            and isinstance(leaf.get("shape"), list) and all(isinstance(n, int) for n in leaf["shape"])
            and isinstance(leaf.get("norm"), (int, float))
            and isinstance(leaf.get("projections"), list) and all(isinstance(p, (int, float)) for p in leaf["projections"])
        ):  # fmt: skip
            raise ValueError(f"results.json test_signature.{name} needs shape, norm and projections, got {leaf!r}")


def _validate_code(code) -> None:
    """``code``: the fingerprint of the code that made the run (:mod:`ssibench.results.code_identity`)."""
    if not isinstance(code, dict) or not all(isinstance(code.get(k), str) for k in ("ssibench", "deepinv", "torch")):
        raise ValueError(f"results.json code needs ssibench, deepinv and torch, got {code!r}")
    if not isinstance(code.get("parts"), dict):
        raise ValueError(f"results.json code.parts should be a dict, got {code.get('parts')!r}")
    for where, part in code["parts"].items():
        if not isinstance(part, dict) or not all(isinstance(part.get(k), str) for k in ("target", "file", "sha256")):
            raise ValueError(f"results.json code.parts.{where} needs target, file and sha256, got {part!r}")


def write(path: str | os.PathLike, results: dict) -> Path:
    """Validate and write atomically (a reader never sees half a file)."""
    path = Path(path)
    validate(results)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=2))
    return path


def read(path: str | os.PathLike) -> dict:
    with open(path) as f:
        return validate(json.load(f))
