"""What a run leaves in its results.json: one :class:`RunRecord`, made by one constructor per outcome.

Every record starts from the run's :class:`RunHeader` (what it is, whatever happens to it); the
outcome adds the rest. :func:`write_record` is the one place a record reaches the disk
(schema-checked and atomic, :mod:`ssibench.results.schema`), and a failure never replaces the results of a
run that finished.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import deepinv as dinv
import numpy as np
import torch
from omegaconf import DictConfig

import ssibench
from ssibench.config.context import CODE, RunContext
from ssibench.errors import InputError
from ssibench.folders import RunDir
from ssibench.results import schema as results_io


def _int_or_unset(value) -> int:
    """-1 for a value that is not an integer: the config check reports it, and the record stays valid."""
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def loss_kind(loss: DictConfig) -> str:
    """supervised (reads the ground truth), self-supervised, or no-learning (nothing to train)."""
    if loss.get("supervised", False):
        return "supervised"
    return "self-supervised" if loss.get("losses") else "no-learning"


@dataclass(frozen=True)
class RunHeader:
    """What a run is: the same in every record it writes."""

    loss: str
    label: str
    kind: str
    physics: str
    dataset: str
    seed: int
    epochs: int
    device: str
    config: dict  # the run's identity: its identifying config and, under "code", its code's fingerprint
    versions: dict = field(
        default_factory=lambda: {"ssibench": ssibench.__version__, "deepinv": dinv.__version__, "torch": torch.__version__}
    )

    @classmethod
    def of(cls, cfg: DictConfig, context: RunContext) -> RunHeader:
        return cls(
            loss=context.choices["loss"],
            label=str(cfg.loss.get("label", context.choices["loss"])),
            kind=loss_kind(cfg.loss),
            physics=context.choices["physics"],
            dataset=context.choices["dataset"],
            seed=_int_or_unset(cfg.seed),
            epochs=_int_or_unset(cfg.epochs),
            device=str(cfg.trainer.device),
            config=context.identity,
        )

    def on_device(self, device: str) -> RunHeader:
        """The same header, naming the device the run was given (``cuda:<i>`` for a GPU slot)."""
        return replace(self, device=device)


@dataclass(frozen=True)
class Cost:
    """What training cost: on which device, how long, how many steps, how much memory at most."""

    device: str  # the device's model, e.g. "NVIDIA H200", "AMD EPYC 7B13"
    device_type: str  # cuda | cpu
    train_seconds: float = 0.0  # over all of the run's sessions (a resumed run adds up)
    steps: int = 0
    peak_memory_mb: float | None = None

    @property
    def seconds_per_step(self) -> float | None:
        return self.train_seconds / self.steps if self.steps else None

    def as_dict(self) -> dict:
        return {**asdict(self), "seconds_per_step": self.seconds_per_step}


def _summary(values) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _chosen(choice: dict | None) -> dict | None:
    """A selection rule's entry of results.json: the epoch and criterion, and the chosen model's test scores."""
    if choice is None:
        return None
    per_image = {name: [float(x) for x in values] for name, values in choice["per_image"].items()}
    criterion = None if choice["criterion"] is None else float(choice["criterion"])
    metrics = {name: _summary(values) for name, values in per_image.items()}
    return {"epoch": choice["epoch"], "criterion": criterion, "metrics": metrics, "per_image": per_image}


@dataclass(frozen=True)
class RunRecord:
    """A run's results.json. Build it with :meth:`skipped`, :meth:`failed`, :meth:`diverged`,
    :meth:`ok`, or read a finished one with :meth:`finished`."""

    header: RunHeader
    status: str
    reason: str | None = None
    per_image: dict[str, list[float]] = field(default_factory=dict)  # metric -> value per test image
    zero_filled: dict[str, list[float]] = field(default_factory=dict)  # the same for Aᴴy
    n_test: int = 0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    cost: Cost | None = None
    test_set: str | None = None  # the test items' fingerprint, bit for bit (ssibench.data.test_set_identity)
    test_signature: dict | None = None  # their values up to rounding (the same there)
    n_val: int = 0  # training measurements held out for validation (split.val_fraction)
    validation_set: str | None = None  # their fingerprint
    # rule -> {"epoch", "criterion", "per_image"} or None, and "reasons" (ssibench.evaluation.scoring.score_selection)
    selection: dict | None = None
    stored: dict | None = None  # a finished run's results.json, as read

    @classmethod
    def skipped(cls, header: RunHeader, reason: str) -> RunRecord:
        return cls(header, "skipped", reason)

    @classmethod
    def failed(cls, header: RunHeader, error: BaseException) -> RunRecord:
        return cls(header, "failed", last_line(error))

    @classmethod
    def diverged(cls, header: RunHeader, error: BaseException, last_checkpoint, cost: Cost | None) -> RunRecord:
        return cls(header, "diverged", f"{error}; last good checkpoint: {last_checkpoint or 'none'}", cost=cost)

    @classmethod
    def ok(
        cls,
        header: RunHeader,
        per_image: dict[str, list[float]],
        zero_filled: dict[str, list[float]],
        n_test: int,
        train_seconds: float,
        eval_seconds: float,
        cost: Cost | None,
        test_set: str | None,
        test_signature: dict | None,
        reason: str | None = None,
        n_val: int = 0,
        validation_set: str | None = None,
        selection: dict | None = None,
    ) -> RunRecord:
        """A run that trained (or had nothing to train) and was evaluated; without ground truth the
        metrics are empty and ``reason`` says why."""
        return cls(
            header, "ok", reason, per_image, zero_filled, n_test, train_seconds, eval_seconds, cost, test_set,
            test_signature, n_val, validation_set, selection,
        )

    @classmethod
    def finished(cls, header: RunHeader, stored: dict) -> RunRecord:
        """The record of a run already finished in this folder, as it was written."""
        return cls(header, stored["status"], stored["reason"], stored=stored)

    def to_dict(self) -> dict:
        if self.stored is not None:
            return self.stored
        header = asdict(self.header)
        identity, versions = header.pop("config"), header.pop("versions")
        config = {key: value for key, value in identity.items() if key != CODE}
        out = {
            **header,
            "status": self.status,
            "reason": self.reason,
            "metrics": {name: _summary(v) for name, v in self.per_image.items()},
            "zero_filled": {name: _summary(v) for name, v in self.zero_filled.items()},
            "n_test": self.n_test,
            "train_seconds": self.train_seconds,
            "eval_seconds": self.eval_seconds,
            "versions": versions,
            "config": config,
        }
        if identity.get(CODE) is not None:
            out["code"] = identity[CODE]
        if self.per_image:
            out["per_image"] = {name: [float(x) for x in v] for name, v in self.per_image.items()}
        if self.zero_filled:  # the leaderboard's zero-filled row, when no loss=zero_filled run was swept
            out["zero_filled_per_image"] = {name: [float(x) for x in v] for name, v in self.zero_filled.items()}
        if self.cost is not None:
            out["cost"] = self.cost.as_dict()
        if self.test_set is not None:
            out["test_set"] = self.test_set
        if self.test_signature is not None:
            out["test_signature"] = self.test_signature
        if self.status == "ok":
            out["n_val"] = self.n_val
        if self.validation_set is not None:
            out["validation_set"] = self.validation_set
        if self.selection is not None:
            out["selection"] = {rule: _chosen(self.selection[rule]) for rule in results_io.SELECTION_RULES}
            out["selection"]["reasons"] = self.selection["reasons"]
        return out

    def one_line(self, run_dir: RunDir) -> str:
        """The summary a run prints last."""
        results = self.to_dict()
        fmt = lambda block: ", ".join(f"{n} {s['mean']:.4g}±{s['std']:.2g}" for n, s in block.items())
        scores = results["reason"]  # no metrics without ground truth
        if results["metrics"]:
            scores = f"{fmt(results['metrics'])} | zero-filled: {fmt(results['zero_filled'])}"
        return (
            f"[ssibench] loss={results['loss']} physics={results['physics']} seed={results['seed']}: {scores} "
            f"| n_test={results['n_test']} train {results['train_seconds']:.0f}s -> {run_dir.results}"
        )


def last_line(error: BaseException) -> str:
    """The root cause's last line (Hydra wraps the errors of the objects it instantiates)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__


class DamagedRecord(InputError):
    """A run folder's results.json that cannot be read: it is never overwritten."""


def read_record(run_dir: RunDir) -> dict | None:
    """The run folder's results.json, or None when it has none; :class:`DamagedRecord` in one line
    when it cannot be read (a stray comma, a truncated copy, a field of the wrong type)."""
    if not run_dir.results.exists():
        return None
    try:
        return results_io.read(run_dir.results)
    except (ValueError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DamagedRecord(
            f"{run_dir.results} is not a readable results.json ({first}); it is left as it is: restore it, "
            "or move it aside to finish the run from its checkpoints, or pass resume=false for a fresh run in a new folder"
        ) from None


def write_record(run_dir: RunDir, record: RunRecord) -> dict:
    """Write ``record`` as the folder's results.json and return its content. What a folder holds is
    never lost: a finished run's results are replaced only by new results (not by a failure or a
    skip, e.g. of a re-run with a bad override), and a results.json that cannot be read is never
    replaced."""
    results = record.to_dict()
    if record.status != "ok" and run_dir.results.exists():
        try:
            stored = results_io.read(run_dir.results)
        except (ValueError, OSError):
            return results  # damaged: left for its owner to restore (read_record says how)
        if stored["status"] == "ok":
            return results
    results_io.write(run_dir.results, results)
    return results
