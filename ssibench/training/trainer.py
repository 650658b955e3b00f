"""deepinv's Trainer for benchmark runs: given everything at construction, scored after each evaluated
epoch on the validation set (the selection rules) and the test set (shown), resumable exactly (from
the end of an epoch, or from the step a stop signal found it at), and stopped with the reason when
training diverges."""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field

import deepinv as dinv
import torch
from deepinv.utils import AverageMeter
from tqdm import tqdm

from ssibench.compat.deepinv import quiet_missing_ground_truth, record_single_generator_term
from ssibench.evaluation.selection import Selection
from ssibench.evaluation.validation import Validation
from ssibench.training.checkpoints import CheckpointStore, Start
from ssibench.training.cost_meter import CostMeter
from ssibench.training.precision import WatchedGradScaler, learned_networks, prepare_networks
from ssibench.training.progress import epoch_line
from ssibench.training.random_streams import RandomStreams
from ssibench.training.stop_signals import StopSignals

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)


class TrainingDiverged(RuntimeError):
    """A training loss, a validation score or a test metric became NaN or infinite."""

    def __init__(self, epoch: int, what: str):
        super().__init__(f"{what} at epoch {epoch}")
        self.epoch = epoch


@dataclass
class BenchmarkTrainer(dinv.Trainer):
    r"""deepinv's :class:`~deepinv.Trainer` for one benchmark run.

    Beyond deepinv's fields, everything it needs comes through the constructor:

    :param streams: the run's random streams (:mod:`ssibench.training.random_streams`), saved in every
        checkpoint and restored with it.
    :param store: the run's checkpoint folder (``None``: no checkpoints). deepinv's own
        ``save_path`` stays ``None``: deepinv 0.5 makes a timestamped sub-folder with
        ``exist_ok=False`` at every ``setup_train``, so two jobs starting in the same second crashed.
    :param start: the checkpoint training starts from, read and checked before construction: the
        run's own (a resumption: everything is restored) or a user's ``ckpt=`` (a warm start: the
        weights, optimizer and epoch). deepinv's ``ckpt_pretrained`` stays ``None`` (it loads with
        ``weights_only=False``).
    :param identity: the run's identifying config, saved in every checkpoint.
    :param precision: the networks' training precision, ``fp32``, ``bf16`` or ``fp16``
        (:mod:`ssibench.training.precision`; deepinv's ``mixed_precision`` stays off).
    :param compile_networks: ``torch.compile`` the networks.
    :param cost: measures training time, steps and peak memory (over resumptions too).
    :param stop: the stop signals (:mod:`ssibench.training.stop_signals`), heeded while training:
        when one has come, the next step writes a checkpoint of the run as it is, mid-epoch, and
        hands the signal over.
    :param validation: the validation set and its scoring (:mod:`ssibench.evaluation.validation`), or ``None``.
    :param selection: the model-selection rules (:mod:`ssibench.evaluation.selection`): after each
        evaluated epoch they read its validation scores, and the store keeps the model each one chooses.
    :param test_loader: the test batches, scored after each evaluated epoch for the curves (shown,
        never used to choose); ``None``: no test scores (test data without ground truth).
    :param metric_names: the names of ``metrics``, in order (the columns ``val/<name>``, ``test/<name>``).

    Evaluation is the trainer's own, after the last training step of each evaluated epoch
    (``eval_interval``): deepinv's ``eval_dataloader`` stays ``None``, so deepinv never evaluates,
    never keeps a "best" checkpoint and never stops early on any set. The test pass runs through
    deepinv's own evaluation step, drawing what it always drew; the validation pass draws from
    freshly seeded streams and leaves every stream as it was (:meth:`RandomStreams.isolated`), so a
    validation set changes nothing of training but the images it holds out.
    """

    streams: RandomStreams | None = None
    store: CheckpointStore | None = None
    start: Start | None = None
    identity: dict = field(default_factory=dict)
    precision: str = "fp32"
    compile_networks: bool = False
    cost: CostMeter | None = None
    stop: StopSignals | None = None
    validation: Validation | None = None
    selection: Selection | None = None
    test_loader: object | None = None
    metric_names: list[str] = field(default_factory=list)
    epoch_lines: bool = False  # print one line per evaluated epoch (where there are no progress bars)
    scores: dict[str, dict[int, float]] = field(default_factory=dict, init=False)  # column -> epoch -> value
    history_start: int = field(default=0, init=False)  # the epoch the curves begin at (a warm start's first)
    _line_seconds: float = field(default=0.0, init=False, repr=False)  # training seconds at the last epoch line
    # The random streams as the current epoch began, before its data order was drawn.
    _epoch_start_streams: dict | None = field(default=None, init=False, repr=False)
    # Resuming within an epoch: its steps already trained, then the streams and meters after them.
    _partial_epoch: dict | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        super().__post_init__()
        prepare_networks(self._networks(), self.precision, self.compile_networks, self.device.type)

    def _networks(self) -> list[torch.nn.Module]:
        return learned_networks(self.model)

    def _scaler(self) -> WatchedGradScaler:
        return WatchedGradScaler(self.device.type, enabled=self.precision == "fp16")

    def setup_train(self, train: bool = True, **kwargs):
        super().setup_train(train=train, **kwargs)
        self.scaler = self._scaler()  # deepinv enables its scaler only with its own whole-model autocast
        if self.start is not None:
            self._restore(self.start)
            self.start = None  # applied once; deepinv's test() calls setup_train again

    def train(self):
        self.cost.start()
        try:
            with self.stop or contextlib.nullcontext(), quiet_missing_ground_truth():
                model = super().train()
                if self.stop is not None and self.stop.received is not None:  # after the last step
                    name = self.stop.received.name
                    log.info(f"[ssibench] {name}: stopped after training, before the evaluation")
                    self.stop.hand_over()  # the last epoch's checkpoint holds the trained run
                return model
        finally:
            self.cost.stop()

    def _checkpoint(self, epoch: int) -> dict:
        """Everything an exact resumption needs (deepinv's checkpoint lacks the random streams, the
        grad scalers and the discriminator)."""
        state = {
            "epoch": epoch,
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "loss_history": dict(self.loss_history),
            "scores": {column: dict(values) for column, values in self.scores.items()},
            "selection": self.selection.state_dict() if self.selection is not None else {},
            "random_streams": self.streams.state_dict(),
            "cost": self.cost.state_dict(),
            "config": self.identity,
        }
        for name in self._scaler_names():
            scaler = getattr(self, name)
            if scaler.is_enabled():
                state[name] = scaler.state_dict()
        if self.wandb_vis:
            import wandb

            state["wandb_id"] = wandb.run.id
        return state

    def _scaler_names(self) -> tuple[str, ...]:
        return ("scaler",)

    def _restore(self, start: Start) -> None:
        try:
            self._load(start)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            # a checkpoint made by hand or by other code: its fields are not what this run wrote
            raise start.error(f"cannot be restored: {type(error).__name__} {error} (give a run's checkpoints/*.pth.tar)") from None

    def _load(self, start: Start) -> None:
        state = start.state
        try:
            self.model.load_state_dict(state["state_dict"])
        except RuntimeError as error:
            first = str(error).strip().splitlines()[0]
            raise start.error(f"does not fit this model ({first})") from None
        if state.get("optimizer") is not None and self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scheduler") is not None and self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for name in self._scaler_names():
            if state.get(name) is not None:
                getattr(self, name).load_state_dict(state[name])
        self.epoch_start = state.get("epoch", -1) + 1
        self.history_start = self.epoch_start
        where = f"epoch {state.get('epoch', '?')}"
        if start.resume:  # the run's own checkpoint: continue every history, stream and cost
            self.loss_history.update(state["loss_history"])
            self.scores = {column: dict(values) for column, values in state["scores"].items()}
            if self.selection is not None:
                self.selection.load_state_dict(state["selection"])
            self.streams.load_state_dict(state["random_streams"])
            self.cost.load_state_dict(state["cost"])
            self._line_seconds = self.cost.total_seconds()
            self.history_start = 0
            partial = state.get("partial_epoch")
            if partial is not None:  # written on a stop signal, within epoch ``epoch_start``
                # The epoch's data order is drawn again from the streams it began with; its first
                # steps' batches are then passed over, and the streams set to where they were after.
                self.streams.load_state_dict(partial["random_streams"])
                self._partial_epoch = {**partial, "random_streams": state["random_streams"]}
                where = f"epoch {self.epoch_start}, step {partial['steps']}"
        log.info(f"[ssibench] loaded {start.path} ({where})")

    def reset_metrics(self):
        """deepinv calls it as each epoch begins, before it draws the epoch's data order."""
        super().reset_metrics()
        if self.streams is not None:
            self._epoch_start_streams = self.streams.state_dict()

    def step(self, epoch, progress_bar, train_ite=None, train=True, last_batch=False, update_progress_bar=False):
        """deepinv's step, but within a resumed epoch the steps trained before the checkpoint only
        pass their batches over, and a stop signal ends training here, before the step."""
        if train and self._partial_epoch is not None:
            if self._partial_epoch["steps"] > 0:
                for iterator in self.current_train_iterators:
                    next(iterator)  # this step's batch, trained before the stop
                self._partial_epoch["steps"] -= 1
                return
            self._continue_partial_epoch()
        if train and self.stop is not None and self.stop.received is not None:
            self._stop(epoch, train_ite)
        super().step(epoch, progress_bar, train_ite, train, last_batch, update_progress_bar)
        if train and last_batch and (epoch % self.eval_interval == 0 or epoch + 1 == self.epochs):
            progress_bar.update(1)
            progress_bar.close()
            self.evaluate_epoch(epoch, train_ite)

    def evaluate_epoch(self, epoch: int, train_ite: int) -> None:
        """After the last training step of an evaluated epoch: its validation scores, the checkpoints of
        the rules that now choose it, and its test scores (shown, never used to choose)."""
        scores = {}
        if self.validation is not None:
            with self.streams.isolated():
                scores |= self.validation.score(self)
        if self.test_loader is not None:
            scores |= self._test_scores(epoch, train_ite)
        for column, value in scores.items():
            if not math.isfinite(value):
                raise TrainingDiverged(epoch, f"{column} became {value}")
            self.scores.setdefault(column, {})[epoch] = value
        if self.selection is not None:
            for rule in self.selection.offer(epoch, scores):
                if self.store is not None:
                    self.store.write_chosen(rule, self._checkpoint(epoch))
        validation = {column: value for column, value in scores.items() if column.startswith("val/")}
        if validation:
            super().log_metrics_mlops(validation, step=epoch)
        if self.epoch_lines:
            losses = {type(loss).__name__: meter.avg for loss, meter in zip(self.losses, self.logs_losses_train)}
            seconds = self.cost.total_seconds()
            log.info(epoch_line(epoch + 1, self.epochs, losses, scores, seconds - self._line_seconds))
            self._line_seconds = seconds

    def _test_scores(self, epoch: int, train_ite: int) -> dict[str, float]:
        """The test set through deepinv's evaluation step, as deepinv's own loop would run it."""
        for meter in self.logs_metrics_eval:
            meter.reset()
        self.current_eval_iterators = [iter(self.test_loader)]
        batches = len(self.test_loader) - self.test_loader.drop_last
        bar = tqdm(range(batches), dynamic_ncols=True, disable=not (self.verbose and self.show_progress_bar), colour="green")
        for j in bar:
            bar.set_description(f"Test epoch {epoch + 1}/{self.epochs}")
            self.step(epoch, bar, train_ite=train_ite, train=False, last_batch=j == batches - 1)
        return {f"test/{name}": meter.avg for name, meter in zip(self.metric_names, self.logs_metrics_eval)}

    def log_metrics_mlops(self, logs: dict, step: int, train: bool = True):
        """deepinv labels what it evaluates "Eval"; here that is the test set (validation scores log as ``val/``)."""
        if not train:
            logs, train = {f"test/{key}": value for key, value in logs.items()}, True
        super().log_metrics_mlops(logs, step, train)

    def _stop(self, epoch: int, train_ite: int) -> None:
        """Checkpoint the run between two steps of ``epoch`` and hand the signal over."""
        batches = min(len(loader) - loader.drop_last for loader in self.train_dataloader)
        steps = train_ite - epoch * batches  # trained in this epoch
        state = self._checkpoint(epoch - 1)  # the last finished epoch (-1: none), as in every checkpoint
        meters = {name: dict(vars(meter)) for name, meter in self._meters().items()}
        state["partial_epoch"] = {"steps": steps, "random_streams": self._epoch_start_streams, "meters": meters}
        where = f"epoch {epoch}, step {steps}"
        if self.store is not None:
            where += f": {self.store.write(state)}"
        name = self.stop.received.name
        log.info(f"[ssibench] {name}: stopped at {where}; the same command resumes from there")
        self.stop.hand_over()

    def _continue_partial_epoch(self) -> None:
        """The resumed epoch's first untrained step: the streams and loss averages as at the stop."""
        self.streams.load_state_dict(self._partial_epoch["random_streams"])
        meters = self._meters()
        for name, saved in self._partial_epoch["meters"].items():
            vars(meters[name]).update(saved)
        self._partial_epoch = None

    def _meters(self) -> dict[str, AverageMeter]:
        """deepinv's running averages (the epoch's losses so far), by attribute name and index."""
        meters = {}
        for name, value in vars(self).items():
            if isinstance(value, AverageMeter):
                meters[name] = value
            elif isinstance(value, list) and value and all(isinstance(v, AverageMeter) for v in value):
                meters |= {f"{name}.{k}": meter for k, meter in enumerate(value)}
        return meters

    def save_model(self, filename, epoch, state=None):
        """deepinv asks for ``ckp_<epoch>`` every ``ckp_interval`` epochs; the store keeps the last two."""
        if self.store is not None:
            self.store.write(self._checkpoint(epoch))

    def compute_loss(self, physics, x, y, train: bool = True, epoch: int | None = None, step: bool = False):
        loss, x_net, logs = super().compute_loss(physics, x, y, train=train, epoch=epoch, step=step)
        if train:
            self._count_step(loss, epoch)
        return loss, x_net, logs

    def _count_step(self, loss, epoch) -> None:
        if not torch.isfinite(torch.as_tensor(loss)).all():
            raise TrainingDiverged(epoch, f"the training loss became {float(torch.as_tensor(loss).sum())}")
        self.cost.step()


@dataclass
class AdversarialBenchmarkTrainer(BenchmarkTrainer, dinv.training.AdversarialTrainer):
    """deepinv's :class:`~deepinv.training.AdversarialTrainer` for one benchmark run: as
    :class:`BenchmarkTrainer`, with the discriminator D saved, restored and trained in the run's
    precision (one grad scaler per network in fp16)."""

    def _networks(self) -> list[torch.nn.Module]:
        return super()._networks() + [self.D]

    def _scaler_names(self) -> tuple[str, ...]:
        return ("scaler", "scaler_D")

    def setup_train(self, train: bool = True, **kwargs):
        self.scaler_D = self._scaler()  # before the restore in BenchmarkTrainer.setup_train
        super().setup_train(train=train, **kwargs)

    def _checkpoint(self, epoch: int) -> dict:
        return {**super()._checkpoint(epoch), "state_dict_D": self.D.state_dict()}

    def _load(self, start: Start) -> None:
        super()._load(start)
        if "state_dict_D" in start.state:
            self.D.load_state_dict(start.state["state_dict_D"])

    def compute_loss(self, physics, x, y, train=True, epoch=None, step=True):
        if train and self.scaler.is_enabled():
            loss, x_net, logs = self._scaled_step(physics, x, y, epoch)
        else:
            loss, x_net, logs = dinv.training.AdversarialTrainer.compute_loss(
                self, physics, x, y, train=train, epoch=epoch, step=step
            )
            if train:
                record_single_generator_term(self, loss)
        if train:
            self._count_step(loss, epoch)
        return loss, x_net, logs

    def _scaled_step(self, physics, x, y, epoch):
        """deepinv's adversarial step (the generator, then D ``step_ratio_D`` times) with each
        network's losses scaled by its own grad scaler: deepinv 0.5's never scales them, so fp16
        gradients underflow. Gradient clipping (``grad_clip``) as deepinv's, on unscaled gradients."""
        logs = {}
        self.optimizer.G.zero_grad(set_to_none=True)
        x_net = self.model_inference(y=y, physics=physics)
        inputs = {"x": x, "x_net": x_net, "y": y, "y_hat": physics.A(x_net), "physics": physics}
        inputs |= {"model": self.model, "D": self.D, "epoch": epoch}
        total = self._scaled_terms(self.losses, 0, inputs, logs)
        self.scaler.scale(total).backward(retain_graph=True)
        self._clip(self.scaler, self.optimizer.G, self.model)
        self.scaler.step(self.optimizer.G)
        self.scaler.update()
        self.logs_total_loss_train.update(total.item())
        logs["TotalLoss"] = self.logs_total_loss_train.avg
        for _ in range(self.step_ratio_D):
            self.optimizer.D.zero_grad(set_to_none=True)
            total_d = self._scaled_terms(self.losses_d, len(self.losses), inputs, logs)
            self.scaler_D.scale(total_d).backward()
            self._clip(self.scaler_D, self.optimizer.D, self.D)
            self.scaler_D.step(self.optimizer.D)
            self.scaler_D.update()
        return total, x_net, logs

    def _scaled_terms(self, losses, first_meter: int, inputs: dict, logs: dict):
        total = 0
        for k, term in enumerate(losses):
            value = term(**inputs).mean()
            total = total + value
            meter = self.logs_losses_train[first_meter + k]
            meter.update(value.item())
            logs[type(term).__name__] = meter.avg
        return total

    def _clip(self, scaler, optimizer, network) -> None:
        if self.grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(network.parameters(), self.grad_clip)
