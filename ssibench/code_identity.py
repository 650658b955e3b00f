"""The code a run was made with, fingerprinted, so that a result is never handed back for other code.

A run's identity (:func:`ssibench.context.identifying_config`) holds, under ``code``, what the
config alone does not say: the SHA-256 of the source file of every ``_target_`` of the loss, model,
physics and metrics configs that lives outside an installed distribution (a user's module on
``PYTHONPATH``), of ssibench's own source (an editable install changes without a version bump), and
the versions of deepinv and torch. Checkpoints and results.json hold it; :func:`code_differences`
says what changed since. :func:`check_importable` fails a run whose ``_target_`` cannot be imported
before anything is computed, naming it and a close match.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import importlib
import inspect
import pkgutil
import sysconfig
from pathlib import Path

import deepinv
import torch
from omegaconf import DictConfig, OmegaConf

from ssibench.config_checks import InputError

PACKAGE = Path(__file__).resolve().parent
FINGERPRINTED = ("loss", "model", "physics", "metrics")  # the config groups whose code makes the results
_NOT_USER_CODE = ("site-packages", "dist-packages")  # installed distributions: their version says it


def targets(cfg: DictConfig, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(where, target)`` for every ``_target_`` in ``groups`` of ``cfg``, nested ones too, in
    config order; ``where`` is its place (``loss.losses[0]``, ``loss.losses[0].transform``)."""
    found = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("_target_"), str):
                found.append((where, node["_target_"]))
            for key, value in node.items():
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for k, value in enumerate(node):
                walk(value, f"{where}[{k}]")

    for group in groups:
        node = cfg.get(group)
        if OmegaConf.is_config(node):
            try:  # interpolated terms (``${physics.mc_loss}``) are the targets they point to
                node = OmegaConf.to_container(node, resolve=True, enum_to_str=True)
            except Exception:  # noqa: BLE001  an unresolvable value is reported by the run's own checks
                node = OmegaConf.to_container(node, resolve=False, enum_to_str=True)
        walk(node, group)
    return found


def locate(target: str):
    """The object ``target`` names (``package.module.Class``), or :class:`InputError` in one line
    naming the module or attribute that is missing and a close match where there is one."""
    parts = target.split(".")
    module, depth, failure = None, 0, None
    for depth in range(len(parts), 0, -1):
        name = ".".join(parts[:depth])
        try:
            module = importlib.import_module(name)
            break
        except ModuleNotFoundError as error:
            if error.name != name and not name.startswith(f"{error.name}."):
                failure = error  # the module exists but imports something that does not
                break
        except Exception as error:  # noqa: BLE001  a module that fails on import: say how, in one line
            raise InputError(f"_target_ {target}: importing {name} failed ({type(error).__name__}: {error})") from None
    if failure is not None:
        raise InputError(f"_target_ {target}: importing {'.'.join(parts[:depth])} failed ({failure})") from None
    if module is None:
        close = difflib.get_close_matches(parts[0], sorted({m.name for m in pkgutil.iter_modules()}), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(
            f"_target_ {target}: no module named {parts[0]}{hint}; a module of your own must be importable: "
            "add its folder to PYTHONPATH"
        )
    found = module
    for k in range(depth, len(parts)):
        if not hasattr(found, parts[k]):
            owner = ".".join(parts[:k])
            close = difflib.get_close_matches(parts[k], [n for n in dir(found) if not n.startswith("_")], n=1)
            kind = "module" if inspect.ismodule(found) else "object"
            raise InputError(
                f"_target_ {target}: {kind} {owner} has no {parts[k]}"
                + (f" (did you mean {close[0]}?)" if close else "")
            )
        found = getattr(found, parts[k])
    return found


def check_importable(cfg: DictConfig) -> None:
    """Every ``_target_`` of the run's config imports, or :class:`InputError` naming the first that does not."""
    groups = tuple(key for key in cfg if key not in ("hydra", "paths", "logger"))
    for where, target in targets(cfg, groups):
        try:
            locate(target)
        except InputError as error:
            raise InputError(f"{where}: {error}") from None


def _user_source(target: str) -> Path | None:
    """The source file of the module that defines ``target``, when it is the user's: not ssibench's,
    not the standard library's, not an installed distribution's; None if it cannot be imported."""
    try:
        found = locate(target)
    except InputError:
        return None  # check_importable stops the run before it could be trained
    module = found if inspect.ismodule(found) else inspect.getmodule(found)
    file = getattr(module, "__file__", None)
    if module is None or file is None or module.__name__.split(".")[0] == "ssibench":
        return None
    path = Path(file).resolve()
    if any(part in _NOT_USER_CODE for part in path.parts):
        return None
    if path.is_relative_to(Path(sysconfig.get_paths()["stdlib"]).resolve()):
        return None
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.cache
def package_source() -> str:
    """SHA-256 of ssibench's own source: every .py file of the package, by relative path, sorted."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(cfg: DictConfig) -> dict:
    """What :mod:`ssibench.code_identity` says a run's code is (a plain dict, for checkpoints and
    results.json). ``parts`` maps each user ``_target_``'s place to its target, file name and SHA-256."""
    parts = {}
    for where, target in targets(cfg, FINGERPRINTED):
        path = _user_source(target)
        if path is not None:
            parts[where] = {"target": target, "file": path.name, "sha256": _sha256(path)}
    return {
        "ssibench": package_source(),
        "deepinv": str(deepinv.__version__),
        "torch": str(torch.__version__),  # a TorchVersion, which torch.load(weights_only=True) refuses
        "parts": parts,
    }


def code_differences(stored: dict | None, current: dict, prefixes: tuple[str, ...] | None = None) -> tuple[list, list]:
    """What changed between the code of a run (``stored``) and this one, one phrase each: the user's
    parts (only those under ``prefixes``, e.g. ``("model", "loss")``, when given), and the rest
    (ssibench's source, the deepinv and torch versions, or a run that recorded no fingerprint)."""
    if not isinstance(stored, dict):
        return [], ["it records no code fingerprint (made by an ssibench that did not record one)"]
    parts = []
    for where, now in current["parts"].items():
        if prefixes is not None and not where.startswith(prefixes):
            continue
        then = stored.get("parts", {}).get(where)
        if then is None or then.get("sha256") != now["sha256"]:
            parts.append(f"{where}: {now['target']} ({now['file']}) changed since this run was made")
    rest = []
    if stored.get("ssibench") != current["ssibench"]:
        rest.append("ssibench's source changed since this run was made (an edit, or a git pull)")
    rest += [f"{name} {stored.get(name)} -> {current[name]}" for name in ("deepinv", "torch") if stored.get(name) != current[name]]
    return parts, rest
