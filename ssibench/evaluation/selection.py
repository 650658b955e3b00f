"""The model-selection rules: which epoch's model a run reports, each rule choosing without the test set.

- ``last``: the model after the last epoch (the original benchmark's number).
- ``val_kspace``: the epoch with the lowest held-out k-space criterion on the validation set
  (:class:`~ssibench.evaluation.validation.HeldOutKspace`): what a practitioner without ground truth can do.
- ``val_oracle``: the epoch with the best first metric (PSNR) against the validation ground truth:
  an oracle, since self-supervised training assumes there is none.

A rule that cannot choose says why (no validation set, or no validation ground truth). The state is
saved in every checkpoint, so a resumed run chooses as if it had never stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ssibench.evaluation.validation import KSPACE

DEFAULT_RULE = "val_kspace"


@dataclass(frozen=True)
class Criterion:
    """The ``metrics.csv`` column a rule reads, and its direction."""

    column: str
    lower_better: bool

    def better(self, value: float, than: float) -> bool:
        return value < than if self.lower_better else value > than


class Selection:
    """The epoch each validation rule has chosen so far, from the scores of every evaluated epoch.

    :param criteria: ``rule -> Criterion`` for each rule that can choose.
    :param reasons: ``rule -> why it cannot`` for the others (recorded in results.json).
    """

    def __init__(self, criteria: dict[str, Criterion], reasons: dict[str, str]):
        self.criteria, self.reasons = criteria, reasons
        self.chosen: dict[str, dict] = {}  # rule -> {"epoch": e, "criterion": value}; ties keep the earlier

    @classmethod
    def of(cls, n_val: int, ground_truth: bool, first_metric: str | None, lower_better: bool) -> Selection:
        """The rules a run can apply: none without validation images; the oracle only with their ground truth."""
        if n_val == 0:
            why = "split.val_fraction=0: no validation set to choose on"
            return cls({}, {"val_kspace": why, "val_oracle": why})
        criteria = {"val_kspace": Criterion(KSPACE, lower_better=True)}
        if ground_truth and first_metric is not None:
            criteria["val_oracle"] = Criterion(f"val/{first_metric}", lower_better)
            return cls(criteria, {})
        return cls(criteria, {"val_oracle": "the validation measurements have no ground truth"})

    def offer(self, epoch: int, scores: dict[str, float]) -> list[str]:
        """Record ``epoch``'s validation scores; the rules that now choose it."""
        now = []
        for rule, criterion in self.criteria.items():
            value = scores[criterion.column]
            if not math.isfinite(value):
                continue
            best = self.chosen.get(rule)
            if best is None or criterion.better(value, best["criterion"]):
                self.chosen[rule] = {"epoch": epoch, "criterion": value}
                now.append(rule)
        return now

    def state_dict(self) -> dict:
        return {rule: dict(choice) for rule, choice in self.chosen.items()}

    def load_state_dict(self, state: dict) -> None:
        self.chosen = {rule: dict(choice) for rule, choice in state.items()}
