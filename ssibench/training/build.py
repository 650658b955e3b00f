"""A run's trainer from its parts: deepinv's Trainer (or AdversarialTrainer), everything given at construction."""

from __future__ import annotations

from omegaconf import DictConfig
from torch.utils.data import DataLoader

from ssibench.evaluation.selection import Selection
from ssibench.evaluation.validation import Validation
from ssibench.parts.assembly import Parts
from ssibench.training.checkpoints import CheckpointStore, Start
from ssibench.training.cost_meter import CostMeter
from ssibench.training.progress import progress_bars
from ssibench.training.stop_signals import StopSignals
from ssibench.training.trainer import AdversarialBenchmarkTrainer, BenchmarkTrainer


def build_trainer(
    cfg: DictConfig,
    parts: Parts,
    physics,
    train_loader: DataLoader,
    test_loader: DataLoader | None,
    store: CheckpointStore | None = None,
    start: Start | None = None,
    identity: dict | None = None,
    wandb: dict | None = None,
    validation: Validation | None = None,
) -> BenchmarkTrainer:
    """The run's trainer: deepinv's Trainer (or AdversarialTrainer) over ``parts``, everything given
    at construction. Without a ``test_loader`` (test data without ground truth) no test metric is
    computed; without a ``validation`` no selection rule but ``last`` chooses; without a ``store`` no
    checkpoint is written; ``start`` is the checkpoint to start from."""
    bars = progress_bars(cfg.trainer.show_progress_bar)
    names = list(parts.metrics)
    scored = test_loader is not None or (validation is not None and validation.ground_truth)
    first = next(iter(parts.metrics.values()), None)
    n_val = len(validation) if validation is not None else 0
    selection = Selection.of(
        n_val, validation is not None and validation.ground_truth, names[0] if names else None,
        getattr(first, "lower_better", False),
    )
    common = dict(
        model=parts.model,
        physics=physics,
        optimizer=parts.optimizer,
        train_dataloader=train_loader,
        eval_dataloader=None,  # the trainer evaluates itself: validation (selection) and test (shown)
        epochs=cfg.epochs,
        losses=parts.losses,
        metrics=list(parts.metrics.values()) if scored else [],
        device=parts.device,
        non_blocking_transfers=parts.device.type == "cuda",
        # Self-supervised losses may see no ground truth: metrics only on held-out sets, in eval mode.
        compute_train_metrics=False,
        compare_no_learning=True,
        ckp_interval=cfg.trainer.ckp_interval,
        eval_interval=cfg.trainer.eval_interval,
        show_progress_bar=bars,
        verbose=bars,  # without bars the trainer prints one line per epoch instead of deepinv's
        epoch_lines=not bars,
        wandb_vis=wandb is not None,
        wandb_setup=wandb or {},
        plot_images=wandb is not None and cfg.logger.wandb.log_images,
        save_path=None,  # checkpoints go through the store (BenchmarkTrainer)
        streams=parts.streams,
        store=store,
        start=start,
        identity=identity or {},
        precision=cfg.trainer.precision,
        compile_networks=cfg.trainer.compile,
        cost=CostMeter(parts.device),
        stop=StopSignals(),  # SIGTERM and SLURM's time-limit signal: a checkpoint at the step they find
        validation=validation,
        selection=selection,
        test_loader=test_loader,
        metric_names=names if scored else [],
    )
    if parts.adversarial:
        return AdversarialBenchmarkTrainer(
            **common, D=parts.discriminator, losses_d=parts.losses_d, optimizer_step_multi_dataset=False
        )
    return BenchmarkTrainer(**common)
