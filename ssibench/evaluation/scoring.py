"""Scoring a trained (or loaded) model on the test set: per-image metrics of it and of Aᴴy, the saved
slice, and the test scores of the model each selection rule chose."""

from __future__ import annotations

from pathlib import Path

from torch.utils.data import DataLoader

from ssibench.data.pipeline import Measurements
from ssibench.evaluation.reconstruction import save_reconstruction
from ssibench.parts.assembly import Parts
from ssibench.results.schema import SELECTION_RULES
from ssibench.training.checkpoints import CheckpointStore, read

PerImage = dict[str, list[float]]


def evaluate(
    trainer, parts: Parts, data: Measurements, test_loader: DataLoader, figure_slice: int, reconstruction: Path
) -> tuple[PerImage, PerImage]:
    """Per-image test metrics of the model and of the zero-filled reconstruction Aᴴy (by metric name),
    and the reconstruction of test image ``figure_slice`` saved to ``reconstruction``. With no loss
    (nothing learned) the model's scores are the zero-filled ones."""
    per_image, zero_filled = score_test(trainer, parts, test_loader)
    save_reconstruction(trainer, data.test, figure_slice, list(parts.metrics), reconstruction)
    return (zero_filled if not parts.losses else per_image), zero_filled


def score_test(trainer, parts: Parts, test_loader: DataLoader) -> tuple[PerImage, PerImage]:
    """Per-image test metrics of the trainer's model and of Aᴴy.

    The random streams are seeded first, so evaluation draws (e.g. Noise2Inverse's splits) are the
    same whether the model was just trained or loaded from a checkpoint.
    """
    parts.streams.seed()
    trainer.test(test_loader, compare_no_learning=True)
    names = list(parts.metrics)
    per_image = {name: list(trainer.logs_metrics_eval[k].vals) for k, name in enumerate(names)}
    zero_filled = {name: list(trainer.logs_metrics_no_learning[k].vals) for k, name in enumerate(names)}
    return per_image, zero_filled


def score_chosen(trainer, parts: Parts, test_loader: DataLoader, store: CheckpointStore, rule: str, epoch: int) -> PerImage:
    """Per-image test metrics of the model ``rule`` chose at ``epoch``, read from its checkpoint into
    the trainer's model (which keeps those weights afterwards)."""
    path = store.chosen_path(rule)
    state = read(path)
    if state["epoch"] != epoch:
        raise RuntimeError(
            f"{path} holds epoch {state['epoch']} but the run's selection state chose epoch {epoch}: "
            "the checkpoint was replaced by another run; pass resume=false for a fresh run"
        )
    trainer.model.load_state_dict(state["state_dict"])
    return score_test(trainer, parts, test_loader)[0]


def score_selection(
    trainer, parts: Parts, test_loader: DataLoader | None, store: CheckpointStore, last: PerImage, last_epoch: int | None
) -> dict:
    """results.json's ``selection``: for each rule, the epoch it chose, its criterion there and that
    model's per-image test scores; a rule that cannot choose is ``None``, and ``reasons`` says why.

    ``last`` holds the last epoch's test scores (``last_epoch``; ``None``: this run trained nothing,
    and every rule holds the one model it evaluated). A rule that chose the last epoch shares its
    scores; any other choice is read from its checkpoint and scored as the last model was.
    """
    selection = trainer.selection
    out = {"last": {"epoch": last_epoch, "criterion": None, "per_image": last}}
    reasons = dict(selection.reasons)
    for rule in SELECTION_RULES[1:]:
        chosen = selection.chosen.get(rule)
        if rule in reasons:
            out[rule] = None
        elif last_epoch is None:
            out[rule] = {"epoch": None, "criterion": None, "per_image": last}
        elif chosen is None:
            out[rule], reasons[rule] = None, "no epoch was evaluated on the validation set"
        else:
            same = chosen["epoch"] == last_epoch or test_loader is None
            per_image = last if same else score_chosen(trainer, parts, test_loader, store, rule, chosen["epoch"])
            out[rule] = {**chosen, "per_image": per_image}
    return {**out, "reasons": reasons}
