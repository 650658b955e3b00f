"""The ``selection`` block of a synthetic results.json, as a run with a validation set records it.

Tests that write results by hand (the leaderboard's, readme_results') give their runs this block so
that the default rule (``val_kspace``) ranks them; a test about the rules themselves passes its own
choices.
"""

from __future__ import annotations


def chosen(metrics: dict, per_image: dict, epoch: int = 1, criterion: float = 0.1) -> dict:
    """One rule's choice: the model of ``epoch`` and its test scores."""
    return {"epoch": epoch, "criterion": criterion, "metrics": metrics, "per_image": per_image}


def selection(results: dict, **rules: dict) -> dict:
    """A ``selection`` block where every rule chose the last epoch (the run's own ``metrics`` and
    ``per_image``), except the ``rules`` given (a :func:`chosen` each, or ``None`` with a reason made up
    here); ``{}`` for a run without metrics, which records no choice."""
    if results.get("status") != "ok" or not results.get("metrics"):
        return {}
    last = chosen(results["metrics"], results.get("per_image", {}), results.get("epochs", 1), None)
    block = {"last": last, "val_kspace": {**last, "criterion": 0.1}, "val_oracle": {**last, "criterion": 30.0}}
    block |= rules
    block["reasons"] = {rule: "no validation set (split.val_fraction=0)" for rule, c in block.items() if c is None}
    return {"selection": block}
