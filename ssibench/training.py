"""The deepinv Trainer, wired for benchmark runs that survive kills and report divergence."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import deepinv as dinv
import torch

from ssibench import checkpoints
from ssibench.checkpoints import CheckpointError
from ssibench.precision import AdversarialPrecisionMixin, PrecisionMixin


class TrainingDiverged(RuntimeError):
    """A training loss or a test metric became NaN or infinite."""

    def __init__(self, epoch: int, what: str):
        super().__init__(f"{what} at epoch {epoch}")
        self.epoch = epoch


class _BenchmarkRun:
    """What deepinv 0.5's Trainer lacks for long benchmark runs (mixed in before it).

    - Checkpoints go to one fixed folder (deepinv creates a timestamped sub-folder with
      ``exist_ok=False`` at every ``setup_train``: two jobs starting in the same second crash).
    - Checkpoints are written atomically, as ``ckp_last`` (+ ``ckp_previous``) and ``ckp_best``, and hold
      what an exact resumption needs beyond deepinv's (weights, optimiser, scheduler, epoch,
      histories): every random state, the discriminator, the grad scaler and the run's config.
    - Loading uses ``weights_only=True``, refuses a checkpoint of another config, and takes the W&B run
      id before W&B starts, so a resumed run logs into the same W&B run.
    - A non-finite training loss or test metric raises :class:`TrainingDiverged` before anything
      non-finite is saved.

    Set after construction: ``run_config`` (the JSON of :func:`checkpoints.comparable_config`) and
    ``warm_start`` (a user's ``ckpt=``: only its model and loss must match, and its RNG is not resumed).
    """

    run_config: str | None = None
    warm_start: bool = False
    _pending: dict | None = None  # a checkpoint read by setup_train, loaded by load_model
    history_start: int = 0  # the epoch the loss/metric histories begin at (a warm start's first epoch)

    def setup_train(self, train: bool = True, **kwargs):
        folder = self.save_path
        self.save_path = None  # skip the timestamped folder
        self._pending = None
        self._scaler_states = {}  # fp16 grad scalers of a loaded checkpoint, restored once they exist
        if self.ckpt_pretrained is not None:
            self._pending = checkpoints.read(self.ckpt_pretrained, map_location=self.device)
            self._check_checkpoint(self._pending, self.ckpt_pretrained)
            if self.wandb_vis and "wandb_id" in self._pending:  # before deepinv starts W&B
                self.wandb_setup = {
                    **self.wandb_setup,
                    "id": self._pending["wandb_id"],
                    "resume": "allow",
                }
        super().setup_train(train=train, **kwargs)
        # deepinv (and ssibench.precision) make the grad scalers after loading: restore them now.
        for name, saved in self._scaler_states.items():
            getattr(self, name).load_state_dict(saved)
        self._scaler_states = {}
        self.save_path = folder
        if folder is not None:
            os.makedirs(folder, exist_ok=True)

    def _check_checkpoint(self, state: dict, path) -> None:
        current = json.loads(self.run_config) if self.run_config else {}
        if self.warm_start:  # a user's ckpt=: another scenario or seed is fine, another model or loss is not
            hint = "give a checkpoint of this loss= and model, or choose those it was made with"
            checkpoints.check_same_run(state.get("config"), current, f"ckpt {path}", keys=("model", "loss"), hint=hint)
        else:
            checkpoints.check_same_run(state.get("config"), current, f"checkpoint {path}")

    def _random_generators(self) -> list[torch.Generator]:
        """The generators of the physics, losses and models, in a fixed order, each once."""
        modules = list(self.physics if isinstance(self.physics, (list, tuple)) else [self.physics])
        modules += list(self.losses) + list(getattr(self, "losses_d", None) or []) + [self.model]
        if getattr(self, "D", None) is not None:
            modules.append(self.D)
        found, seen = [], set()
        for module in modules:
            parts = module.modules() if isinstance(module, torch.nn.Module) else [module]
            for part in parts:
                for value in vars(part).values():
                    if isinstance(value, torch.Generator) and id(value) not in seen:
                        seen.add(id(value))
                        found.append(value)
        return found

    def load_model(self, ckpt_pretrained=None, strict: bool = True) -> dict | None:
        path = ckpt_pretrained or self.ckpt_pretrained
        self.ckpt_pretrained = None  # loaded once
        if path is None:
            return None
        state = self._pending if ckpt_pretrained is None and self._pending is not None else None
        if state is None:
            state = checkpoints.read(path, map_location=self.device)
            self._check_checkpoint(state, path)
        self._pending = None
        try:
            self.model.load_state_dict(state["state_dict"], strict=strict)
            if getattr(self, "D", None) is not None and "state_dict_D" in state:
                self.D.load_state_dict(state["state_dict_D"])
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise CheckpointError(f"checkpoint {path} does not fit this model ({first})") from None
        if state.get("optimizer") is not None and self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scheduler") is not None and self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        self._scaler_states = {name: state[name] for name in ("scaler", "scaler_D") if state.get(name) is not None}
        if "epoch" in state:
            self.epoch_start = state["epoch"] + 1
        self.history_start = self.epoch_start
        if "random_state" in state and not self.warm_start:  # a resumption: continue every history
            for name in (
                "loss_history",
                "eval_loss_history",
                "train_metrics_history",
                "eval_metrics_history",
            ):
                getattr(self, name).update(state.get(name, {}))
            checkpoints.restore_random_state(state["random_state"], self._random_generators(), self.train_dataloader)
            self.history_start = 0
        if self.verbose:
            print(f"[ssibench] loaded {path} (epoch {state.get('epoch', '?')})")
        return state

    def save_model(self, filename, epoch, state=None):
        """deepinv asks for ``ckp_<epoch>`` (periodic) and ``ckp_best``; periodic ones become ``ckp_last``."""
        if not self.save_path:
            return
        state = dict(state or {})
        state.update(
            epoch=epoch,
            state_dict=self.model.state_dict(),
            optimizer=self.optimizer.state_dict() if self.optimizer else None,
            scheduler=self.scheduler.state_dict() if self.scheduler else None,
            **{name: getattr(self, name).state_dict() for name in self._scalers()},
            loss_history=dict(self.loss_history),
            eval_loss_history=dict(self.eval_loss_history),
            train_metrics_history=dict(self.train_metrics_history),
            eval_metrics_history=dict(self.eval_metrics_history),
            random_state=checkpoints.capture_random_state(self._random_generators(), self.train_dataloader),
            config=self.run_config,
        )
        if getattr(self, "D", None) is not None:
            state["state_dict_D"] = self.D.state_dict()
        if self.wandb_vis:
            import wandb

            state["wandb_id"] = wandb.run.id
        periodic = re.fullmatch(r"ckp_\d+\.pth\.tar", str(filename)) is not None
        name = checkpoints.LAST if periodic else str(filename)
        checkpoints.save_atomically(state, Path(self.save_path) / name, keep_previous=periodic)

    def _scalers(self) -> list[str]:
        return [
            name for name in ("scaler", "scaler_D") if getattr(self, name, None) and getattr(self, name).is_enabled()
        ]

    def compute_loss(
        self,
        physics,
        x,
        y,
        train: bool = True,
        epoch: int | None = None,
        step: bool = False,
    ):
        loss, x_net, logs = super().compute_loss(physics, x, y, train=train, epoch=epoch, step=step)
        if train and not torch.isfinite(torch.as_tensor(loss)).all():
            raise TrainingDiverged(epoch, f"the training loss became {float(torch.as_tensor(loss).sum())}")
        return loss, x_net, logs

    def save_best_model(self, epoch, train_ite, **kwargs):
        for name, history in self.eval_metrics_history.items():
            if history and not math.isfinite(history[-1]):
                raise TrainingDiverged(epoch, f"the test {name} became {history[-1]}")
        super().save_best_model(epoch, train_ite, **kwargs)


class BenchmarkTrainer(_BenchmarkRun, PrecisionMixin, dinv.Trainer):
    """deepinv's :class:`~deepinv.Trainer` with resumable checkpoints in the run's folder, and the
    networks' ``precision`` and ``compile`` (:mod:`ssibench.precision`)."""


class AdversarialBenchmarkTrainer(_BenchmarkRun, AdversarialPrecisionMixin, dinv.training.AdversarialTrainer):
    """deepinv's :class:`~deepinv.training.AdversarialTrainer` with resumable checkpoints in the run's
    folder; the discriminator is saved and restored with the model (deepinv 0.5 forgets the
    checkpoint path before it gets to the discriminator, which restarted from scratch)."""

    def compute_loss(self, physics, x, y, train=True, epoch=None, step=True):
        loss, x_net, logs = super().compute_loss(physics, x, y, train=train, epoch=epoch, step=step)
        # deepinv 0.5 records the generator's loss terms only when there are several: a single term
        # stayed 0 in the curves. (The fp16 step of ssibench.precision records its terms itself.)
        if train and len(self.losses) == 1 and not self.scaler.is_enabled():
            self.logs_losses_train[0].update(float(loss))
        return loss, x_net, logs


def seed_random_generators(modules: list[torch.nn.Module], seed: int) -> int:
    """Seed the ``torch.Generator`` of every component inside ``modules`` from the run's seed.

    Losses hold their own generators (split masks, fresh acquisition masks, transforms), created
    with a fixed default seed: without this, a seed sweep would vary the weights and the data but
    replay the same loss randomness. Each generator gets its own stream and keeps its device.

    :return: the number of generators seeded.
    """
    count = 0
    for module in modules:
        for part in module.modules():
            rng = getattr(part, "rng", None)
            if isinstance(rng, torch.Generator):
                rng.manual_seed(seed * 10_007 + count)
                count += 1
    return count
