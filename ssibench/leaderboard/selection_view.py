"""The runs as one model-selection rule reports them: each run's test scores of the model the rule chose.

Every run records three rules (results.json ``selection``, :mod:`ssibench.evaluation.selection`); a
table shows one of them (``--selection``, default ``val_kspace``: what a practitioner without ground
truth can do), so runs of different rules never share a table. Beside it, every row shows what the
oracle rule (``val_oracle``) scores and the *selection regret*: oracle − ground-truth-free, in dB,
what the method loses by having to choose its model without ground truth.
"""

from __future__ import annotations

RULE_TEXT = {
    "last": "the model after the last epoch (the original benchmark's number)",
    "val_kspace": "the epoch with the lowest held-out k-space error on the validation set (no ground truth)",
    "val_oracle": "the epoch with the best validation PSNR (an oracle: it reads the validation ground truth)",
}
REGRET_FOOTNOTE = (
    "Oracle: the test PSNR of the epoch with the best validation PSNR (val_oracle, which reads validation ground "
    "truth). Regret (dB): oracle − ground-truth-free (val_kspace), mean over seeds: what the method loses by choosing "
    "its model without ground truth. —: a run that recorded no such choice (no validation set, or made before "
    "selection rules)."
)


def selection_line(rule: str, budget: int | None = None) -> str:
    """What a table's numbers are, said under it; with a tuning sweep's ``budget``, how its trials were chosen."""
    line = f"Selection: {rule}, {RULE_TEXT[rule]}; never the test set."
    if budget is not None:
        line += (
            f" Tuned: {budget} trials per method and seed (+tune=quasirandom, trial 0 the loss's defaults), the trial "
            f"in each seed chosen by the same rule's validation criterion."
        )
    return line


def under_rule(results: dict, rule: str) -> tuple[dict, str | None]:
    """``results`` with the ``metrics`` and ``per_image`` of the model ``rule`` chose, and ``None``;
    or ``results`` as they are and why the run cannot be ranked under ``rule``. Runs that are not
    ranked for a reason of their own (skipped, failed, no metrics) pass through unchanged."""
    if results["status"] != "ok" or not results["metrics"]:
        return results, None
    selection = results.get("selection")
    if selection is None:
        if rule == "last":
            return results, None
        return results, "recorded before the selection rules, its last epoch only: rank it with --selection last"
    choice = selection[rule]
    if choice is None:
        return results, f"no {rule} choice: {selection['reasons'][rule]}"
    return {**results, "metrics": choice["metrics"], "per_image": choice["per_image"]}, None


def oracle_and_regret(results: dict, metric: str) -> tuple[float, float] | None:
    """The oracle's ``metric`` (test mean of the model ``val_oracle`` chose) and the regret
    (that minus ``val_kspace``'s); ``None`` when the run recorded either choice without it."""
    selection = results.get("selection") or {}
    oracle, free = selection.get("val_oracle"), selection.get("val_kspace")
    if not oracle or not free or metric not in oracle["metrics"] or metric not in free["metrics"]:
        return None
    value = oracle["metrics"][metric]["mean"]
    return value, value - free["metrics"][metric]["mean"]
