"""One benchmark run, top to bottom: measurements -> parts -> trainer -> train -> test -> results.json.

``run(cfg, context)`` is the whole run: ``launch.py`` reads the context from Hydra and hands both
over; tests and scripts call it directly (the context is then read from Hydra here).
"""

from __future__ import annotations

import logging
import time

from omegaconf import DictConfig

from ssibench.cluster.gpu_slots import gpu_slot
from ssibench.cluster.job_resources import use_job_threads
from ssibench.config import schema as config_schema
from ssibench.config import tuning
from ssibench.config.checks import check_config
from ssibench.config.context import RunContext
from ssibench.data.pipeline import loaders, measurements
from ssibench.errors import InputError
from ssibench.evaluation.reconstruction import figure_index
from ssibench.evaluation.scoring import evaluate, score_selection
from ssibench.evaluation.validation import HeldOutKspace, Validation
from ssibench.folders import RunDir
from ssibench.parts.assembly import assemble
from ssibench.results.code_identity import check_importable
from ssibench.results.record import RunHeader, RunRecord, read_record, write_record
from ssibench.training.build import build_trainer
from ssibench.training.checkpoints import CheckpointStore, check_same_code, check_same_run, starting_point
from ssibench.training.metrics_csv import write_curves
from ssibench.training.progress import log_run_lines
from ssibench.training.trainer import TrainingDiverged
from ssibench.training.wandb_logging import finish_wandb, log_summary, start_wandb, wandb_setup

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)


def run(cfg: DictConfig, context: RunContext | None = None) -> dict:
    """Train and evaluate one (loss, scenario, seed); write and return its results.json content.

    Re-run into the same folder (the same command, or a requeued SLURM job), it resumes from the
    run's newest checkpoint, or returns the stored results of a finished run without training.
    """
    log_run_lines()  # to the console and to the run folder's launch.log
    context = context or RunContext.from_hydra(cfg)
    use_job_threads()  # a SLURM job's CPUs, not the node's
    run_dir = RunDir(context.output_dir)
    run_dir.path.mkdir(parents=True, exist_ok=True)
    if not run_dir.holds_earlier_work():
        run_dir.save_hydra_files(cfg)  # a new folder: what the command was, whatever becomes of it
    header = RunHeader.of(cfg, context)

    try:
        config_schema.apply(cfg)  # a config of one's own, checked like a built-in one (no-op for those)
        check_config(cfg)
        skip = skip_reason(cfg, context)
        if skip:
            reason, remedy = skip
            if not context.sweep:
                raise InputError(f"{reason}: {remedy}")
            log.info(f"[ssibench] skipped: {reason}")
            return write_record(run_dir, RunRecord.skipped(header, reason))
        check_importable(cfg)  # a _target_ that cannot be imported fails here, before anything is simulated
        finished = finished_record(cfg, run_dir, header)
        if finished is not None:
            log.info(f"[ssibench] already finished, not retrained: {finished.one_line(run_dir)}")
            return finished.to_dict()
        # "cuda" stays "cuda" (the config, the parts): the claimed GPU is the current device, where it lands.
        with gpu_slot(str(cfg.trainer.device), cfg.trainer.jobs_per_gpu) as claimed:
            record = train_and_test(cfg, context, run_dir, header.on_device(claimed))
    except Exception as error:
        if isinstance(error, InputError) and not context.sweep:
            raise  # the user sees one line (launch.py) and the folder gets no record
        finish_wandb(exit_code=1)  # else the next job of this worker would log into this run
        failed = RunRecord.failed(header, error)
        write_record(run_dir, failed)
        log.info(f"[ssibench] failed: loss={header.loss} physics={header.physics}: {failed.reason}")
        raise  # recorded; a sweep goes on with its next job and exits non-zero
    results = write_record(run_dir, record)
    if record.status == "ok":
        log.info(record.one_line(run_dir))
    return results


def train_and_test(cfg: DictConfig, context: RunContext, run_dir: RunDir, header: RunHeader) -> RunRecord:
    """Measurements, parts, trainer; train (unless there is nothing to train), then score the test set."""
    data = measurements(cfg, context)
    figure_slice = figure_index(cfg.figure_slice, len(data.test)) if data.ground_truth else None
    store = CheckpointStore(run_dir.checkpoints)
    start = starting_point(cfg, store, context.identity)
    parts = assemble(cfg, data, cfg.trainer.device)
    batches = loaders(cfg, data, parts.streams)
    validation = None
    if batches.validation is not None:
        kspace = HeldOutKspace(cfg.seed)
        validation = Validation(batches.validation, kspace, data.validation_ground_truth, list(parts.metrics))
    wandb = wandb_setup(cfg, context, start)
    trainer = build_trainer(
        cfg, parts, data.physics, batches.train, batches.test, store, start, context.identity, wandb, validation
    )
    run_dir.save_hydra_files(cfg)  # every check passed: .hydra/ says how the folder's run is made from now on

    trained = bool(parts.losses) and cfg.epochs > 0
    if trained:
        wandb_id = start_wandb(wandb) if wandb is not None else None
        try:
            trainer.train()
        except TrainingDiverged as error:
            finish_wandb(exit_code=1)
            last = store.latest()
            record = RunRecord.diverged(header, error, last[0] if last else None, trainer.cost.cost())
            log.info(f"[ssibench] diverged: loss={header.loss} physics={header.physics}: {record.reason}")
            return record
        write_curves(trainer, run_dir.curves)
    else:
        wandb_id = None
    cost = trainer.cost.cost() if trainer.cost.steps else None
    held_out = {"n_val": len(data.validation) if data.validation is not None else 0, "validation_set": data.validation_set}
    last_epoch = cfg.epochs - 1 if trained else None
    if not data.ground_truth:
        reason = f"the test data have no ground truth: {', '.join(cfg.metrics)} not computed"
        selection = score_selection(trainer, parts, None, store, {}, last_epoch)
        return RunRecord.ok(
            header, {}, {}, len(data.test), cost.train_seconds if cost else 0.0, 0.0, cost, None, None, reason,
            **held_out, selection=selection,
        )

    start_eval = time.perf_counter()
    per_image, zero_filled = evaluate(trainer, parts, data, batches.test, figure_slice, run_dir.reconstruction)
    selection = score_selection(trainer, parts, batches.test, store, per_image, last_epoch)  # after: it swaps weights
    record = RunRecord.ok(
        header, per_image, zero_filled, len(data.test), cost.train_seconds if cost else 0.0,
        time.perf_counter() - start_eval, cost, data.test_set, data.test_signature, **held_out, selection=selection,
    )
    if wandb_id is not None:
        results = record.to_dict()
        log_summary(wandb, wandb_id, {"final": {k: results[k] for k in ("status", "metrics", "zero_filled", "cost")}})
    return record


def skip_reason(cfg: DictConfig, context: RunContext) -> tuple[str, str] | None:
    """Why this (loss, scenario) is not run: the scenario lacks what the loss requires, a grid
    restricts the scenario to other losses (``only: {scenario: [losses]}``, e.g. +sweep=leaderboard),
    or a tuning trial beyond the first of a loss with nothing to tune (zero_filled); with what to do instead."""
    loss, physics = context.choices["loss"], context.choices["physics"]
    missing = sorted({c.name for c in cfg.loss.get("requires", [])} - {c.name for c in cfg.physics.get("provides", [])})
    other_scenario = "choose a scenario that does, e.g. physics=noisy"
    if missing:
        return f"loss={loss} needs {missing}, which physics={physics} does not provide", other_scenario
    allowed = cfg.get("only", {}).get(physics)
    if allowed is not None and loss not in allowed:
        return f"loss={loss} is not in this grid's {physics} table", other_scenario
    if cfg.get("tune") is not None and cfg.tune.trial > 0 and not tuning.search_space(cfg):
        return f"loss={loss} has nothing to tune: its trial 0 is its only one", "run tune.trial=0"
    return None


def finished_record(cfg: DictConfig, run_dir: RunDir, header: RunHeader) -> RunRecord | None:
    """The record of this run when its folder holds it finished; raise if the folder holds another run.

    With ``resume=false`` the folder must be new (Hydra names it so): nothing of an earlier run is
    ever reused or overwritten.
    """
    if not cfg.resume:
        if run_dir.results.exists() or CheckpointStore(run_dir.checkpoints).has_any():
            raise InputError(
                f"{run_dir.path} already holds a run and resume=false never reuses a folder: "
                "drop the hydra.run.dir / hydra.sweep.dir override to get a new one"
            )
        return None
    stored = read_record(run_dir)
    if stored is None:
        return None
    check_same_run(stored.get("config"), header.config, f"{run_dir.results}")
    if stored["status"] == "ok" and stored["epochs"] == cfg.epochs:
        check_same_code(stored, header.config, f"{run_dir.results}")  # never old numbers for edited code
        return RunRecord.finished(header, stored)
    return None  # failed, diverged or shorter: train on from the newest checkpoint
