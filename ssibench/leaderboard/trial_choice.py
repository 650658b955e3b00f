"""The trial a tuning sweep reports for each method, scenario and seed: chosen on validation, never on test.

A tuning sweep (``+tune=quasirandom tune.trials=N``, :mod:`ssibench.config.tuning`) gives every method N
trials per (scenario, seed). As in DomainBed and AlgoPerf, the choice is redone inside each seed: the
trial whose validation criterion, under the table's selection rule, is best (``val_kspace``: the lowest
held-out k-space error; ``val_oracle``: the best validation PSNR); a tie goes to the lower trial
index. The table then has one row per method (``n_seeds`` counts seeds, not trials), with the trial
chosen in each seed and the values it set, and says the budget N under it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ssibench.errors import InputError

Run = tuple[Path | None, dict]


class TuningChoiceError(InputError):
    """A tuning sweep that cannot be reported under the rule asked for."""


def trial_of(results: dict) -> int | None:
    """The run's trial index (results.json ``config.tune.trial``); None for a run that is not a trial."""
    tune = (results.get("config") or {}).get("tune")
    return tune.get("trial") if isinstance(tune, dict) else None


def choose_trials(runs: list[Run], rule: str) -> list[Run]:
    """The runs with each (scenario, method, seed)'s trials replaced by the one ``rule`` chooses, which
    gets ``tuning: {"trial", "values", "trials"}`` (``trials``: how many it was chosen among, the budget).
    Runs that are not trials pass through. A trial that was skipped (a loss with nothing to tune runs
    its trial 0 only) is left out when another of its trials finished."""
    trials: dict[tuple, list[Run]] = defaultdict(list)
    kept: list[Run] = []
    for folder, results in runs:
        if trial_of(results) is None:
            kept.append((folder, results))
        else:
            trials[results["physics"], results["loss"], results["seed"]].append((folder, results))
    if trials and rule == "last":
        raise TuningChoiceError(
            "a tuning sweep chooses each seed's trial on its validation set, which --selection last does not read: "
            "use --selection val_kspace (or val_oracle)"
        )
    return kept + [_chosen(group, rule) for _, group in sorted(trials.items(), key=lambda item: item[0])]


def _chosen(group: list[Run], rule: str) -> Run:
    """The trial of ``group`` (one method, scenario and seed) that ``rule``'s criterion prefers."""
    finished = [run for run in group if run[1]["status"] == "ok"] or group
    lower_better = rule == "val_kspace"

    def key(run: Run):
        choice = (run[1].get("selection") or {}).get(rule) or {}
        criterion = choice.get("criterion")
        if criterion is None:  # no criterion (e.g. nothing trained): after every trial that has one
            return (1, 0.0, trial_of(run[1]))
        return (0, criterion if lower_better else -criterion, trial_of(run[1]))

    folder, results = min(finished, key=key)
    tune = results["config"]["tune"]
    tuning = {"trial": tune["trial"], "values": tune.get("values", {}), "trials": len(group)}
    return folder, {**results, "tuning": tuning}
