"""The code a run was made with, fingerprinted, so that a result is never handed back for other code.

A run's identity (:func:`ssibench.config.context.identifying_config`) holds, under ``code``, what the
config alone does not say: for every ``_target_`` of the run's config that lives in the user's own
code (neither ssibench's, nor the standard library's, nor an installed distribution's: a module on
``PYTHONPATH``), the SHA-256 of its module and of every user module that module imports,
transitively (read from the source with :mod:`ast`: a helper of a helper counts, what else the
process happened to import does not); the name and version of every installed distribution a
``_target_`` comes from; the SHA-256 of ssibench's own source (an editable install changes without
a version bump); and the versions of deepinv and torch. Checkpoints and results.json hold it;
:func:`code_differences` says what changed since, naming the changed file. The measurement cache
key holds the same of the parts that make the measurements (:func:`code_of`).
:func:`check_importable` fails a run whose ``_target_`` cannot be imported before anything is
computed, naming it and a close match.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.metadata
import importlib.util
import inspect
import pkgutil
import site
import sys
import sysconfig
from pathlib import Path

import deepinv
import torch
from omegaconf import DictConfig, OmegaConf

from ssibench.errors import InputError

PACKAGE = Path(__file__).resolve().parents[1]
FORMAT = 2  # 2: each user target's imports, transitively, and the targets' distributions (1: its own file only)
NOT_CODE = ("hydra", "paths", "logger")  # the config groups that say where and how a run goes, not what it computes


def targets(cfg: DictConfig, groups: tuple[str, ...]) -> list[tuple[str, str]]:
    """``(where, target)`` for every ``_target_`` in ``groups`` of ``cfg`` (``loss``, or a place such as
    ``physics.operator``), nested ones too, in config order; ``where`` is its place
    (``loss.losses[0]``, ``loss.losses[0].transform``)."""
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
        node = OmegaConf.select(cfg, group, default=None)
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
    for where, target in targets(cfg, code_groups(cfg)):
        try:
            locate(target)
        except InputError as error:
            raise InputError(f"{where}: {error}") from None


def code_groups(cfg: DictConfig) -> tuple[str, ...]:
    """The config groups of ``cfg`` whose ``_target_``s compute the run: all but :data:`NOT_CODE`."""
    return tuple(str(key) for key in cfg if key not in NOT_CODE)


def _reached_through(target: str):
    """The module ``target`` is reached through (``pkg.mod`` of ``pkg.mod.Class.method``), as locate() imported it."""
    parts = target.split(".")
    names = (".".join(parts[:k]) for k in range(len(parts), 0, -1))
    return next((sys.modules[name] for name in names if name in sys.modules), None)


@functools.cache
def _install_dirs() -> tuple[Path, ...]:
    """Where distributions are installed for this interpreter (its site-packages, the user's)."""
    found = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), site.getusersitepackages()}
    found.update(getattr(site, "getsitepackages", list)())  # absent from some old virtualenvs
    return tuple(Path(folder).resolve() for folder in found if folder)


@functools.cache
def _stdlib_dirs() -> tuple[Path, ...]:
    return tuple({Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "platstdlib")})


@functools.cache
def _distributions_by_module() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(name: str, path: Path) -> list[str]:
    """The installed distributions that module ``name`` (its file ``path``) comes from; none when its
    file is not in an install folder (a checkout on PYTHONPATH, an editable install: its source is
    what says what it is)."""
    if not any(path.is_relative_to(folder) for folder in _install_dirs()):
        return []
    return list(dict.fromkeys(_distributions_by_module().get(name.partition(".")[0], [])))


def _is_user_code(name: str, path: Path) -> bool:
    """Whether module ``name`` at ``path`` is the user's: not ssibench's (its source is hashed as a
    whole), not the standard library's, not an installed distribution's (their versions say it).
    An install folder may lie inside the standard library's, and a file there that no distribution
    holds has no version to say it: it is hashed."""
    if path.is_relative_to(PACKAGE):
        return False
    if any(path.is_relative_to(folder) for folder in _install_dirs()):
        return not _distributions(name, path)
    return not any(path.is_relative_to(folder) for folder in _stdlib_dirs())


def _spec(name: str):
    """Module ``name``'s spec, found without importing it or its packages; None if there is none."""
    if name in sys.modules:
        return getattr(sys.modules[name], "__spec__", None)
    parent = name.rpartition(".")[0]
    try:
        if not parent:
            return importlib.util.find_spec(name)
        outer = _spec(parent)
        locations = outer.submodule_search_locations if outer is not None else None
        return importlib.machinery.PathFinder.find_spec(name, list(locations)) if locations else None
    except (ImportError, ValueError):
        return None


def _imports(source: bytes, name: str, is_package: bool) -> set[str]:
    """Every module the source of module ``name`` may import, anywhere in it (a function's import too),
    with the packages each import runs (``import a.b`` runs ``a``); for ``from a import b``, ``a.b``,
    which is a module or an attribute (then it has no spec and is passed over)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return set()  # it cannot have been imported; its own hash says it changed
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            try:
                base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            except (ImportError, ValueError):
                continue  # a relative import beyond its top-level package fails at import time anyway
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return {".".join(module.split(".")[:k]) for module in found for k in range(1, module.count(".") + 2)}


def _shown_name(name: str, path: Path) -> str:
    """A module's file as it lies under its folder on the path: ``pkg/helper.py``, ``pkg/__init__.py``."""
    folders = name.split(".") if path.stem == "__init__" else name.split(".")[:-1]
    return "/".join([*folders, path.name])


def _spec_file(name: str) -> Path | None:
    """The file of module ``name``, found without importing it; None for a built-in or frozen module,
    a namespace package (its modules are found by their own names) or no module (an attribute)."""
    spec = _spec(name)
    return Path(spec.origin).resolve() if spec is not None and spec.has_location and spec.origin else None


def _user_modules(roots: dict[str, Path]) -> dict[str, str]:
    """``{file: SHA-256}`` of the user modules ``roots`` (name: file) and of every user module they
    import, transitively, by :func:`_shown_name`, roots first; a module of ssibench, the standard
    library or a distribution is not followed (it is identified as a whole)."""
    found, seen, queue = {}, set(roots), [*roots.items()]
    while queue:
        name, path = queue.pop(0)
        if path is None or not _is_user_code(name, path) or _shown_name(name, path) in found:
            continue
        source = path.read_bytes()
        found[_shown_name(name, path)] = hashlib.sha256(source).hexdigest()
        if path.suffix == ".py":
            is_package = path.stem == "__init__"
            imported = sorted(_imports(source, name, is_package) - seen)
            seen.update(imported)
            queue += [(module, _spec_file(module)) for module in imported]
    return found


def code_of(cfg: DictConfig, groups: tuple[str, ...]) -> dict:
    """The code of the ``_target_``s in ``groups`` of ``cfg``: ``parts`` maps each user target's place
    to the target, its module's file and SHA-256, and under ``imports`` those of the user modules that
    module imports, transitively (:func:`_user_modules`); ``distributions`` maps each installed
    distribution a target comes from to its version."""
    parts, distributions = {}, {}
    for where, target in targets(cfg, groups):
        try:
            found = locate(target)
        except InputError:
            continue  # check_importable stops the run before it could be trained
        module = _reached_through(target)
        file = getattr(module, "__file__", None)
        if file is None or module.__name__.partition(".")[0] == "ssibench":
            continue  # built in, or ssibench's: its source is hashed as a whole
        path = Path(file).resolve()
        for name in _distributions(module.__name__, path):
            try:
                distributions[name] = importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue  # metadata without a version: nothing to record
        if _is_user_code(module.__name__, path):
            defined_in = inspect.getmodule(found)  # another module, when the target is imported into this one
            roots = {module.__name__: path}
            if defined_in not in (None, module) and getattr(defined_in, "__file__", None):
                roots[defined_in.__name__] = Path(defined_in.__file__).resolve()
            (file, sha256), *imported = _user_modules(roots).items()
            parts[where] = {"target": target, "file": file, "sha256": sha256, "imports": dict(sorted(imported))}
    return {"parts": parts, "distributions": dict(sorted(distributions.items()))}


@functools.cache
def package_source() -> str:
    """SHA-256 of ssibench's own source: every .py file of the package, by relative path, sorted."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(cfg: DictConfig) -> dict:
    """What :mod:`ssibench.results.code_identity` says a run's code is (a plain dict, for checkpoints and
    results.json): its :func:`code_of` every group that computes the run, with the format of this
    fingerprint, ssibench's source and the versions of deepinv and torch."""
    return {
        "format": FORMAT,
        "ssibench": package_source(),
        "deepinv": str(deepinv.__version__),
        "torch": str(torch.__version__),  # a TorchVersion, which torch.load(weights_only=True) refuses
        **code_of(cfg, code_groups(cfg)),
    }


def code_differences(stored: dict | None, current: dict, prefixes: tuple[str, ...] | None = None) -> tuple[list, list]:
    """What changed between the code of a run (``stored``) and this one, one phrase each: the user's
    parts (only those under ``prefixes``, e.g. ``("model", "loss")``, when given), each naming its
    changed files, and the rest (ssibench's source, the versions of deepinv, torch and the targets'
    distributions, or a run whose fingerprint is missing or of another format)."""
    if not isinstance(stored, dict):
        return [], ["it records no code fingerprint (made by an ssibench that did not record one)"]
    if stored.get("format") != current["format"]:
        return [], ["its code fingerprint is of another format, made by another version of ssibench"]
    parts = []
    for where, now in current["parts"].items():
        if prefixes is not None and not where.startswith(prefixes):
            continue
        changed = _changed_files(stored["parts"].get(where), now)
        if changed:
            parts.append(f"{where}: {now['target']} ({', '.join(changed)}) changed since this run was made")
    rest = []
    if stored.get("ssibench") != current["ssibench"]:
        rest.append("ssibench's source changed since this run was made (an edit, or a git pull)")
    then, now = _versions(stored), _versions(current)
    rest += [f"{name} {then.get(name)} -> {now.get(name)}" for name in now | then if then.get(name) != now.get(name)]
    return parts, rest


def _changed_files(then: dict | None, now: dict) -> list[str]:
    """The files of a part that differ from those recorded (``then``): its module's, then each
    import's (``its import pkg/helper.py``), one that is imported no longer too."""
    if not then:
        return [now["file"]]
    changed = [now["file"]] if (then["file"], then["sha256"]) != (now["file"], now["sha256"]) else []
    imports_then, imports_now = then.get("imports", {}), now["imports"]
    names = sorted(imports_then | imports_now)
    changed += [f"its import {name}" for name in names if imports_then.get(name) != imports_now.get(name)]
    return changed


def _versions(code: dict) -> dict:
    """deepinv's and torch's versions as they say them (``2.5.1+cu124``), then the targets' distributions'."""
    return {**code.get("distributions", {}), "deepinv": code.get("deepinv"), "torch": code.get("torch")}
