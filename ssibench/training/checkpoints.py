"""Checkpoint files of a run: written atomically, read safely, and checked against the run's config.

A run keeps ``ckp_last.pth.tar`` (newest), ``ckp_previous.pth.tar`` (the one before, the fallback
when the newest is unreadable) and, for each model-selection rule that chose an epoch, its model
(``ckp_val_kspace.pth.tar``, ``ckp_val_oracle.pth.tar``; :mod:`ssibench.evaluation.selection`) in
``<run>/checkpoints/``. Every file is
written to a temporary name and renamed, so a kill never leaves a partial file under a real name,
and every read uses ``torch.load(weights_only=True)``: a checkpoint can hold tensors and plain data,
never code. What a checkpoint holds is the trainer's to say (:mod:`ssibench.training.trainer`); this
module reads and writes the files and decides where training starts.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from ssibench.atomic_files import atomic_path
from ssibench.config.context import CODE, resolved
from ssibench.errors import InputError
from ssibench.folders import RunDir
from ssibench.results.code_identity import code_differences

log = logging.getLogger(__name__)  # the run's lines (ssibench.training.progress)

LAST = "ckp_last.pth.tar"
PREVIOUS = "ckp_previous.pth.tar"
# Checkpoints shipped with the package, by the name ckpt= takes (ssibench/tools/demo_checkpoint.py makes them).
SHIPPED = {"demo": Path(__file__).resolve().parents[1] / "pretrained" / "demo_mo_ei.pth.tar"}


class CheckpointError(InputError):
    """A checkpoint that cannot be used: missing, unreadable, or made by another config."""


def checkpoint_dir(output_dir: str | os.PathLike) -> Path:
    """Where a run's checkpoints go."""
    return RunDir(output_dir).checkpoints


def save_atomically(state: dict, path: Path, keep_previous: bool = False) -> None:
    """``torch.save`` to a temporary file, then rename; with ``keep_previous`` the file it replaces
    becomes ``ckp_previous.pth.tar``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.exists():
            os.replace(path, path.with_name(PREVIOUS))


def read(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint, or raise :class:`CheckpointError` in one line saying what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist: give the path of a run's checkpoints/*.pth.tar")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{path} is not a readable checkpoint ({first})") from None
    if not isinstance(state, dict) or "state_dict" not in state:
        raise CheckpointError(f"{path} is not a model checkpoint (no 'state_dict'): give a run's checkpoints/*.pth.tar")
    wrong = _malformed(state)
    if wrong:
        raise CheckpointError(f"{path} is not a checkpoint of this benchmark ({wrong}): give a run's checkpoints/*.pth.tar")
    return state


# The fields a checkpoint may hold that the run reads before any of them is loaded into a network.
_FIELD_TYPES = {"epoch": int, "config": (dict, str, type(None)), "optimizer": (dict, type(None)), "scheduler": (dict, type(None))}


def _malformed(state: dict) -> str | None:
    """What makes a hand-made or foreign checkpoint unusable, said before it reaches a network: its
    ``state_dict`` must map names to tensors, and its other fields have the types the run writes."""
    weights = state["state_dict"]
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        return f"'state_dict' is a {type(weights).__name__}, not a mapping of parameter names to tensors"
    for name, kind in _FIELD_TYPES.items():
        if name in state and (not isinstance(state[name], kind) or isinstance(state[name], bool)):
            return f"'{name}' is a {type(state[name]).__name__}"
    return None


def latest(folder: str | os.PathLike) -> Path | None:
    """The newest readable checkpoint of a run (last, else previous), skipping a damaged one."""
    found = CheckpointStore(Path(folder)).latest()
    return found[0] if found else None


def config_differences(stored: dict, current: dict, prefix: str = "") -> list[str]:
    """``key: stored -> current`` for every entry that differs (flattened, sorted)."""
    out = []
    for key in sorted(set(stored) | set(current), key=str):
        a, b = stored.get(key, "<absent>"), current.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {_shown(a)} -> {_shown(b)}")
    return out


def _shown(value) -> str:
    """A config value as written: a float field given 6 holds 6.0, shown as 6."""
    return json.dumps(int(value) if isinstance(value, float) and value.is_integer() else value)


def check_same_run(
    stored: dict | str | None,
    current: dict,
    what: str,
    keys: tuple[str, ...] | None = None,
    hint: str = "run with that config, or pass resume=false for a fresh run in a new folder",
) -> None:
    """Refuse ``what`` (a checkpoint or results) made with another config; ``keys`` limits the check
    to those top-level entries (e.g. only ``model`` and ``loss`` for a warm start)."""
    if stored is None:
        return
    if isinstance(stored, str):  # checkpoints of ssibench 0.1.0 hold the config as JSON
        stored = json.loads(stored)
    # resolved as this run's identity is: one recorded before identities were resolved holds ``${img_size}``
    # where this run's holds 64, and is then refused for its code (check_same_code), not for its config
    stored, current = resolved(_without_code(stored)), _without_code(current)
    if keys is not None:
        stored, current = {k: stored.get(k) for k in keys}, {k: current.get(k) for k in keys}
    differences = config_differences(stored, current)
    if differences:
        shown = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more" if len(differences) > 3 else "")
        raise CheckpointError(f"{what} was made with another config ({shown}): {hint}")


def _without_code(identity: dict) -> dict:
    return {key: value for key, value in identity.items() if key != CODE}


def _shortened(phrases: list[str]) -> str:
    return "; ".join(phrases[:2]) + (f"; and {len(phrases) - 2} more" if len(phrases) > 2 else "")


def check_same_code(stored: dict | str | None, current: dict, what: str, warm_start: bool = False) -> None:
    """Refuse ``what`` (a checkpoint or finished results) made by other code than this run's
    (:mod:`ssibench.results.code_identity`). A warm start (``ckpt=``) is refused only when the source of its
    model or loss changed; other code (ssibench's, deepinv, torch) then gets a warning line."""
    stored = json.loads(stored) if isinstance(stored, str) else stored or {}
    parts, rest = code_differences(stored.get(CODE), current[CODE], ("model", "loss") if warm_start else None)
    if warm_start and parts:
        raise CheckpointError(
            f"{what} was made by other code ({_shortened(parts)}): restore the code it was made with, "
            "or train it again with this code"
        )
    if warm_start and rest:
        log.warning(f"[ssibench] warning: {what} was made by other code ({_shortened(rest)}): its scores may differ")
    elif parts + rest:
        raise CheckpointError(
            f"{what} was made by other code ({_shortened(parts + rest)}): pass resume=false for a fresh run "
            "in a new folder, or restore the code it was made with"
        )


@dataclass(frozen=True)
class Start:
    """The checkpoint training starts from, read and checked before the trainer is built.

    :param state: the checkpoint's content.
    :param path: its file.
    :param resume: the run's own checkpoint (everything is restored: histories, random streams,
        cost) rather than a user's ``ckpt=`` (a warm start: weights, optimizer and epoch only).
    """

    state: dict
    path: Path
    resume: bool

    def error(self, message: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {self.path} {message}")


@dataclass(frozen=True)
class CheckpointStore:
    """A run's checkpoint folder: the only place checkpoint files are written and read."""

    folder: Path

    def write(self, state: dict) -> Path:
        """The run as it is now becomes ``ckp_last`` (the one it replaces, ``ckp_previous``)."""
        path = self.folder / LAST
        save_atomically(state, path, keep_previous=True)
        return path

    def write_chosen(self, rule: str, state: dict) -> Path:
        """The model a selection rule chose so far, ``ckp_<rule>.pth.tar``."""
        path = self.chosen_path(rule)
        save_atomically(state, path)
        return path

    def chosen_path(self, rule: str) -> Path:
        return self.folder / f"ckp_{rule}.pth.tar"

    def has_any(self) -> bool:
        return any(self.folder.glob("*.pth.tar"))

    def latest(self) -> tuple[Path, dict] | None:
        """The newest readable checkpoint and its content (last, else previous), skipping a damaged one."""
        for name in (LAST, PREVIOUS):
            path = self.folder / name
            if path.exists():
                try:
                    return path, read(path)
                except CheckpointError as error:
                    log.warning(f"[ssibench] skipping a damaged checkpoint: {error}")
        return None


def starting_point(cfg: DictConfig, store: CheckpointStore | None, identity: dict) -> Start | None:
    """Where a run's training starts: its own newest checkpoint (``resume=true``), else the user's
    ``ckpt=`` (its model and loss must be this run's; another scenario or seed is fine), else scratch.
    A wrong ``ckpt=`` fails here, in one line, before anything is trained. ``ckpt=demo`` is the
    checkpoint shipped with the package."""
    given_path = SHIPPED.get(str(cfg.ckpt), cfg.ckpt) if cfg.ckpt is not None else None
    given = read(given_path) if given_path is not None else None
    found = store.latest() if cfg.resume and store is not None else None
    if found is not None:
        path, state = found
        check_same_run(state.get("config"), identity, f"checkpoint {path}")
        check_same_code(state.get("config"), identity, f"checkpoint {path}")
        return Start(state, path, resume=True)
    if given is not None:
        hint = "give a checkpoint of this loss= and model, or choose those it was made with"
        check_same_run(given.get("config"), identity, f"ckpt {cfg.ckpt}", keys=("model", "loss"), hint=hint)
        if str(cfg.ckpt) not in SHIPPED:  # shipped with the source it belongs to (tests/tools/test_demo.py)
            check_same_code(given.get("config"), identity, f"ckpt {cfg.ckpt}", warm_start=True)
        return Start(given, Path(given_path), resume=False)
    return None
