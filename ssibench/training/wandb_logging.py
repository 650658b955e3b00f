"""Weights & Biases for a run: its setup, W&B's own conventions, and errors in one line.

``mode``, ``project`` and ``entity`` left unset in ``conf/logger/wandb.yaml`` are W&B's to choose
from its environment variables (``WANDB_MODE``, ``WANDB_PROJECT``, ``WANDB_ENTITY``), as on any
cluster set up for W&B; an override on the command line still wins. deepinv's Trainer logs the
curves and images during training and ends the W&B run when training ends; the run's final test
scores, status and cost are then added to the same W&B run's summary, so W&B's run table compares
runs.
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig, OmegaConf

from ssibench.config.context import RunContext
from ssibench.errors import InputError
from ssibench.training.checkpoints import Start

_WAYS_OUT = "log in with `wandb login` (or set WANDB_API_KEY), or run without an account: WANDB_MODE=offline"


def wandb_setup(cfg: DictConfig, context: RunContext, start: Start | None) -> dict | None:
    """The arguments of ``wandb.init`` for this run, or None without ``logger=wandb``. A resumed run
    continues the W&B run its checkpoint names."""
    settings = cfg.logger.get("wandb")
    if settings is None:
        return None
    group = settings.group if settings.group is not None else (str(context.sweep_dir) if context.sweep else None)
    setup = {
        "project": settings.project,
        "entity": settings.entity,
        "mode": settings.mode,
        "name": settings.name,
        "group": group,
        "dir": str(context.output_dir),
        "config": {
            k: OmegaConf.to_container(v, resolve=True, enum_to_str=True) if OmegaConf.is_config(v) else v
            for k, v in cfg.items()
            if k != "hydra"
        },
    }
    setup = {key: value for key, value in setup.items() if value is not None}  # unset: W&B's environment decides
    if start is not None and start.resume and "wandb_id" in start.state:
        setup |= {"id": start.state["wandb_id"], "resume": "allow"}
    return setup


def start_wandb(setup: dict) -> str:
    """Start the W&B run (deepinv's Trainer then logs into it); its id. A missing key or a failed
    login raises :class:`InputError` with both ways out."""
    import wandb

    try:
        run = wandb.init(**setup)
    except (wandb.errors.UsageError, wandb.errors.AuthenticationError, wandb.errors.CommError) as error:
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise InputError(f"W&B could not start ({first}): {_WAYS_OUT}") from None
    return run.id


def log_summary(setup: dict, run_id: str, summary: dict) -> None:
    """Add ``summary`` (final scores, status, cost) to the W&B run ``run_id``, which deepinv ended."""
    import wandb

    with wandb.init(**{**setup, "id": run_id, "resume": "allow"}) as run:
        run.summary.update(summary)


def finish_wandb(exit_code: int) -> None:
    """End this process's W&B run, if any (else the next job of a sweep worker would log into it)."""
    wandb = sys.modules.get("wandb")  # only if this run imported it
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=exit_code)
