"""One benchmark run: simulate (or reuse) the measurements, train with the chosen loss, evaluate.

``run(cfg)`` is the whole run; ``launch.py`` only hands it Hydra's config, and tests call it directly.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import deepinv as dinv
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

import ssibench
from ssibench import checkpoints
from ssibench import results as results_io
from ssibench.checkpoints import checkpoint_dir
from ssibench.config_checks import InputError, check_config
from ssibench.data.loader import loader_options
from ssibench.deepinv_compat import PicklableHDF5Dataset
from ssibench.data.measured import check_measurements, has_ground_truth
from ssibench.data.measurements import cache_key, cache_path, simulate_measurements
from ssibench.folders import DataDir, RunDir
from ssibench.gpu_slots import gpu_slot
from ssibench.reconstruction import figure_index, save_reconstruction
from ssibench.scenarios import build_scenario
from ssibench.training import (
    AdversarialBenchmarkTrainer,
    BenchmarkTrainer,
    TrainingDiverged,
    seed_random_generators,
)


def choice_name(cfg: DictConfig, group: str) -> str:
    """The name a run's config group was chosen by (``loss=mc`` -> ``mc``), else its ``_target_`` or ``label``."""
    if HydraConfig.initialized():
        name = HydraConfig.get().runtime.choices.get(group)
        if name:
            return name
    node = cfg.get(group)
    if node is None:
        return "none"
    return str(node.get("_target_") or node.get("label") or "custom")


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _summary(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _check_images(dataset, img_size: int) -> None:
    """Measurements are simulated from images: items must be ``x`` or ``(x, ...)`` with ``x`` a real
    floating tensor of shape (2, img_size, img_size) (real and imaginary parts)."""
    first = dataset[0]
    x = first[0] if isinstance(first, (tuple, list)) else first
    expected = (2, img_size, img_size)
    if not isinstance(x, torch.Tensor):
        raise InputError(
            f"dataset items must be an image tensor x or a tuple (x, ...), got {type(x).__name__}: "
            f"return x as a float tensor of shape {expected}"
        )
    if not x.dtype.is_floating_point or x.is_complex():
        raise InputError(
            f"dataset images are {x.dtype} but must be real floating tensors of shape {expected} "
            "(real and imaginary parts as 2 channels): convert with torch.view_as_real(x).movedim(-1, 0).float()"
        )
    if tuple(x.shape) != expected:
        raise InputError(
            f"dataset images are {tuple(x.shape)} but the physics expects {expected} (real/imaginary, H, W): "
            f"set img_size to the data's size or resize the images"
        )


def _wandb_setup(cfg: DictConfig, output_dir: Path) -> dict:
    w = cfg.logger.wandb
    group = w.group
    if group is None and in_sweep():
        group = str(HydraConfig.get().sweep.dir)
    return {
        "project": w.project,
        "entity": w.entity,
        "mode": w.mode,
        "name": w.name,
        "group": group,
        "dir": str(output_dir),
        "config": {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in cfg.items()
            if k != "hydra"
        },
    }


def _kind(loss: DictConfig) -> str:
    if loss.get("supervised", False):
        return "supervised"
    return "self-supervised" if loss.get("losses") else "no-learning"


def _int_or_unset(value) -> int:
    """-1 for a value that is not an integer: check_config reports it, and the failure record stays valid."""
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _base_results(cfg: DictConfig) -> dict:
    loss = choice_name(cfg, "loss")
    return {
        "loss": loss,
        "label": str(cfg.loss.get("label", loss)),
        "kind": _kind(cfg.loss),
        "physics": choice_name(cfg, "physics"),
        "dataset": choice_name(cfg, "dataset"),
        "seed": _int_or_unset(cfg.seed),
        "epochs": _int_or_unset(cfg.epochs),
        "status": "ok",
        "reason": None,
        "metrics": {},
        "zero_filled": {},
        "n_test": 0,
        "train_seconds": 0.0,
        "eval_seconds": 0.0,
        "device": str(cfg.trainer.device),
        "versions": {
            "ssibench": ssibench.__version__,
            "deepinv": dinv.__version__,
            "torch": torch.__version__,
        },
        "config": checkpoints.comparable_config(cfg),
    }


def prepare_measurements(cfg: DictConfig):
    """The run's train/test measurement datasets and the operator that made them.

    Identical for every loss of the same data, split, scenario and seed: simulated once, then
    read from the cache. Items are ``(x, y, params)`` with ``params`` the image's mask. A dataset
    config marked ``measurements: true`` gives them as they are (``x`` NaN without ground truth):
    split by ``split=`` unless it comes as a (train, test) pair, and never simulated.

    :return: ``(train_data, test_data, physics)``.
    """
    if cfg.dataset.get("measurements", False):
        return _given_measurements(cfg)
    images = _instantiate_dataset(cfg.dataset)
    train_images, test_images = instantiate(cfg.split)(images)
    _check_images(train_images, cfg.img_size)
    physics, physics_generator = build_scenario(cfg.physics, cfg.seed)
    key = cache_key(cfg)
    cache = simulate_measurements(
        cache_path(DataDir(cfg.paths.data_dir), key),
        key,
        train_images,
        test_images,
        physics,
        physics_generator=None if cfg.physics.get("fixed_mask", False) else physics_generator,
        batch_size=cfg.simulation_batch_size,
        device=cfg.trainer.device,
        progress_bar=cfg.trainer.show_progress_bar,
    )
    train_data = PicklableHDF5Dataset(cache, split="train", load_physics_generator_params=True)
    test_data = PicklableHDF5Dataset(cache, split="test", load_physics_generator_params=True)
    return train_data, test_data, physics


def _instantiate_dataset(cfg: DictConfig):
    try:
        return instantiate(cfg)
    except InstantiationException as error:
        # e.g. fastMRI not prepared, or measurements in another layout: the message says what to do
        if isinstance(error.__cause__, (FileNotFoundError, InputError)):
            raise InputError(str(error.__cause__)) from None
        raise


def make_train_loader(cfg: DictConfig, train_data) -> DataLoader:
    """The run's training DataLoader: shuffled from the run's seed, workers chosen by device."""
    return DataLoader(
        train_data,
        batch_size=cfg.trainer.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(cfg.seed),
        **loader_options(cfg.trainer),
    )


def _given_measurements(cfg: DictConfig):
    spec = OmegaConf.to_container(cfg.dataset, resolve=True)
    del spec["measurements"]  # ours, not the dataset's
    data = _instantiate_dataset(OmegaConf.create(spec))
    train_data, test_data = data if isinstance(data, (tuple, list)) else instantiate(cfg.split)(data)
    physics, _ = build_scenario(cfg.physics, cfg.seed)  # each measurement's params set its mask
    check_measurements(train_data, physics, cfg.img_size, choice_name(cfg, "physics"), cfg.trainer.device)
    return train_data, test_data, physics


def build_trainer(
    cfg: DictConfig,
    physics,
    train_loader,
    test_loader,
    output_dir: Path,
    resume_from: Path | None = None,
) -> BenchmarkTrainer:
    """The model, the loss terms, the metrics and the optimiser of a run, in a deepinv Trainer.

    It starts from ``resume_from`` (this run's own checkpoint: everything is restored), else from
    ``cfg.ckpt`` (a warm start: weights, optimiser and epoch), else from scratch.

    Without a ``test_loader`` (test data without ground truth) there is nothing to compute metrics on.
    """
    device = torch.device(cfg.trainer.device)
    torch.manual_seed(cfg.seed)
    model = instantiate(cfg.model).to(device)
    losses = [instantiate(loss) for loss in cfg.loss.losses]
    optimizer = instantiate(cfg.trainer.optimizer)
    metrics = [instantiate(cfg.metrics[name]) for name in cfg.metrics] if test_loader is not None else []
    use_wandb = cfg.logger.get("wandb") is not None

    # A loss with a discriminator trains it alongside the model, with its own optimiser.
    adversarial = {}
    if cfg.loss.get("discriminator") is not None:
        discriminator = instantiate(cfg.loss.discriminator).to(device)
        losses_d = [instantiate(loss) for loss in cfg.loss.losses_d]
        adversarial = {
            "D": discriminator,
            "losses_d": losses_d,
            "optimizer_step_multi_dataset": False,
        }
        optimizer = dinv.training.AdversarialOptimizer(
            optimizer(model.parameters()), optimizer(discriminator.parameters())
        )
    else:
        optimizer = optimizer(model.parameters())
    for term in losses + adversarial.get("losses_d", []):
        if hasattr(term, "attach_training_data"):  # e.g. real samples for a discriminator
            term.attach_training_data(train_loader.dataset, cfg.trainer.batch_size, cfg.seed)
    seed_random_generators(losses + adversarial.get("losses_d", []), cfg.seed)

    trainer_class = AdversarialBenchmarkTrainer if adversarial else BenchmarkTrainer
    trainer = trainer_class(
        model=model,
        physics=physics,
        optimizer=optimizer,
        **adversarial,
        train_dataloader=train_loader,
        eval_dataloader=test_loader,
        epochs=cfg.epochs,
        losses=losses,
        metrics=metrics,
        device=device,
        precision=cfg.trainer.precision,
        compile=cfg.trainer.compile,
        non_blocking_transfers=device.type == "cuda",
        ckpt_pretrained=resume_from or cfg.ckpt,
        save_path=checkpoint_dir(output_dir),
        # Self-supervised losses may see no ground truth: metrics only on the test set, in eval mode.
        compute_train_metrics=False,
        compare_no_learning=True,
        ckp_interval=cfg.trainer.ckp_interval,
        eval_interval=cfg.trainer.eval_interval,
        show_progress_bar=cfg.trainer.show_progress_bar,
        wandb_vis=use_wandb,
        wandb_setup=_wandb_setup(cfg, output_dir) if use_wandb else {},
        plot_images=use_wandb and cfg.logger.wandb.log_images,
    )
    trainer.run_config = json.dumps(checkpoints.comparable_config(cfg))
    trainer.warm_start = resume_from is None
    return trainer


def run(cfg: DictConfig) -> dict:
    """Train and evaluate one (loss, scenario, seed); write and return its results.json content.

    Re-run into the same folder (the same command, or a requeued SLURM job), it resumes from the
    run's newest checkpoint, or returns the stored results of a finished run without training.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    results = _base_results(cfg)

    reason = _skip_reason(cfg, results["loss"], results["physics"])
    if reason:
        if not in_sweep():
            raise InputError(f"{reason}: choose a scenario that does, e.g. physics=noisy")
        results.update(status="skipped", reason=reason)
        results_io.write(RunDir(output_dir).results, results)
        print(f"[ssibench] skipped: {reason}")
        return results

    # "cuda" stays "cuda" in the config (and the measurement cache's key): the claimed GPU is the
    # current device, where everything put on "cuda" lands.
    try:
        check_config(cfg)
        finished = _finished_results(cfg, output_dir, results["config"])
        if finished is not None:
            print(f"[ssibench] already finished, not retrained: {_one_line(finished, output_dir)}")
            return finished
        with gpu_slot(str(cfg.trainer.device), cfg.trainer.jobs_per_gpu) as claimed:
            results["device"] = claimed
            _train_and_evaluate(cfg, output_dir, results)
    except TrainingDiverged as error:
        last = checkpoints.latest(checkpoint_dir(output_dir))
        results.update(status="diverged", reason=f"{error}; last good checkpoint: {last or 'none'}")
        _finish_wandb(exit_code=1)
        print(f"[ssibench] diverged: loss={results['loss']} physics={results['physics']}: {results['reason']}")
    except InputError:
        if not in_sweep():  # the user sees one line (launch.py) and the folder gets no record
            raise
        _fail(output_dir, results)
    except Exception:
        _fail(output_dir, results)
    results_io.write(RunDir(output_dir).results, results)
    if results["status"] == "ok":
        print(_one_line(results, output_dir))
    return results


def _fail(output_dir: Path, results: dict) -> None:
    """Record the error being handled and re-raise it: the sweep goes on with the next job, and exits non-zero."""
    error = sys.exc_info()[1]
    results.update(status="failed", reason=_last_line(error))
    _finish_wandb(exit_code=1)  # else the next job of this worker would log into this run
    _write_unless_finished(RunDir(output_dir).results, results)
    print(f"[ssibench] failed: loss={results['loss']} physics={results['physics']}: {results['reason']}")
    raise error


def _finished_results(cfg: DictConfig, output_dir: Path, config: dict) -> dict | None:
    """The stored results when this folder holds this run, finished; raise if it holds another run.

    With ``resume=false`` the folder must be new (Hydra names it so): nothing of an earlier run is
    ever reused or overwritten.
    """
    stored = RunDir(output_dir).results
    has_checkpoints = any(checkpoint_dir(output_dir).glob("*.pth.tar"))
    if not cfg.resume:
        if stored.exists() or has_checkpoints:
            raise InputError(
                f"{output_dir} already holds a run and resume=false never reuses a folder: "
                "drop the hydra.run.dir / hydra.sweep.dir override to get a new one"
            )
        return None
    if not stored.exists():
        return None
    previous = results_io.read(stored)
    stored_config = json.dumps(previous["config"]) if "config" in previous else None
    checkpoints.check_same_run(stored_config, config, f"{stored}")
    if previous["status"] == "ok" and previous["epochs"] == cfg.epochs:
        return previous
    return None  # failed, diverged or shorter: train on from the newest checkpoint


def _write_unless_finished(path: Path, results: dict) -> None:
    """A failure (e.g. a re-run with a bad override) never replaces a finished run's results."""
    if path.exists():
        try:
            if results_io.read(path)["status"] == "ok":
                return
        except (ValueError, OSError):
            pass
    results_io.write(path, results)


def _skip_reason(cfg: DictConfig, loss: str, physics: str) -> str | None:
    """Why this (loss, scenario) is not run: the scenario lacks what the loss requires, or a grid
    restricts the scenario to other losses (``only: {scenario: [losses]}``, e.g. +sweep=leaderboard)."""
    missing = sorted(set(cfg.loss.get("requires", [])) - set(cfg.physics.get("provides", [])))
    if missing:
        return f"loss={loss} needs {missing}, which physics={physics} does not provide"
    allowed = cfg.get("only", {}).get(physics)
    if allowed is not None and loss not in allowed:
        return f"loss={loss} is not in this grid's {physics} table"
    return None


def _last_line(error: BaseException) -> str:
    """The root cause's last line (Hydra wraps errors of instantiated objects)."""
    while error.__cause__ is not None:
        error = error.__cause__
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__


def _finish_wandb(exit_code: int) -> None:
    wandb = sys.modules.get("wandb")  # only if this run imported it
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=exit_code)


def _train_and_evaluate(cfg: DictConfig, output_dir: Path, results: dict) -> None:
    """Train (unless there is nothing to train) and evaluate on the test set, filling ``results``."""
    train_data, test_data, physics = prepare_measurements(cfg)
    # Given measurements may lack ground truth (simulated ones never do): then no metric can be computed.
    ground_truth = has_ground_truth(test_data) if cfg.dataset.get("measurements", False) else True
    if cfg.loss.get("supervised", False) and not has_ground_truth([train_data[0]]):
        raise InputError(
            f"loss={results['loss']} needs ground truth, which the training data lack: choose a self-supervised loss"
        )
    figure_slice = figure_index(cfg.figure_slice, len(test_data)) if ground_truth else None  # checked before training
    train_loader = make_train_loader(cfg, train_data)
    test_loader = DataLoader(test_data, batch_size=cfg.trainer.batch_size, **loader_options(cfg.trainer))
    if cfg.ckpt is not None:
        checkpoints.read(cfg.ckpt)  # a wrong path fails here, in one line, before any training
    resume_from = checkpoints.latest(checkpoint_dir(output_dir)) if cfg.resume else None
    trainer = build_trainer(
        cfg, physics, train_loader, test_loader if ground_truth else None, output_dir, resume_from=resume_from
    )
    losses = trainer.losses
    metric_names = list(cfg.metrics.keys())

    start = time.perf_counter()
    if losses and cfg.epochs > 0:
        trainer.train()
        _write_curves(trainer, cfg, RunDir(output_dir).curves)
    results["train_seconds"] = time.perf_counter() - start
    results["n_test"] = len(test_data)
    if not ground_truth:
        results["reason"] = f"the test data have no ground truth: {', '.join(metric_names)} not computed"
        return

    # Evaluation draws (e.g. Noise2Inverse's splits) are the same whether the model was just
    # trained or loaded from a checkpoint.
    seed_random_generators(losses + getattr(trainer, "losses_d", []), cfg.seed)
    start = time.perf_counter()
    trainer.test(test_loader, compare_no_learning=True)
    results["eval_seconds"] = time.perf_counter() - start
    save_reconstruction(trainer, test_data, figure_slice, metric_names, RunDir(output_dir).reconstruction)

    per_image = {name: trainer.logs_metrics_eval[k].vals for k, name in enumerate(metric_names)}
    zero_filled = {name: trainer.logs_metrics_no_learning[k].vals for k, name in enumerate(metric_names)}
    if not losses:  # nothing learned: the reconstruction is the zero-filled one
        per_image = zero_filled
    results.update(
        metrics={name: _summary(v) for name, v in per_image.items()},
        zero_filled={name: _summary(v) for name, v in zero_filled.items()},
        per_image={name: [float(x) for x in v] for name, v in per_image.items()},
    )


def _write_curves(trainer, cfg: DictConfig, path: Path) -> None:
    """Per-epoch training losses and test metrics, with or without W&B (``metrics.csv``)."""
    epochs = list(range(trainer.history_start, trainer.epochs))
    evaluated = [e for e in epochs if e % trainer.eval_interval == 0 or e + 1 == trainer.epochs]
    columns: dict[str, dict[int, float]] = {}
    for name, history in trainer.loss_history.items():
        columns[f"train/{name}"] = dict(zip(epochs, history))
    classes = {type(m).__name__: name for m, name in zip(trainer.metrics, cfg.metrics)}
    for class_name, history in trainer.eval_metrics_history.items():
        columns[f"eval/{classes.get(class_name, class_name)}"] = dict(zip(evaluated, history))
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["epoch", *columns])
        for epoch in epochs:
            out.writerow([epoch, *(column.get(epoch, "") for column in columns.values())])


def _one_line(results: dict, output_dir: Path) -> str:
    fmt = lambda block: ", ".join(f"{n} {s['mean']:.4g}±{s['std']:.2g}" for n, s in block.items())
    scores = results["reason"]  # no metrics without ground truth
    if results["metrics"]:
        scores = f"{fmt(results['metrics'])} | zero-filled: {fmt(results['zero_filled'])}"
    return (
        f"[ssibench] loss={results['loss']} physics={results['physics']} seed={results['seed']}: {scores} "
        f"| n_test={results['n_test']} train {results['train_seconds']:.0f}s -> {RunDir(output_dir).results}"
    )
