"""The pages of the site made from the project itself at each build, into ``docs/generated/``: one per
loss choice (from ``conf/loss/*.yaml``, the classes' docstrings, its search space and the shipped
leaderboard's runs),
the config groups, the ``ssibench`` command and the ``results.json`` schema."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "conf"
EMBEDDED = ROOT / "ssibench" / "leaderboard" / "embedded"
DEEPINV_API = "https://deepinv.github.io/deepinv/api/stubs/{}.html"


def _title(text: str, mark: str = "=") -> str:
    return f"{text}\n{mark * len(text)}\n"


def _rst_text(text: str) -> str:
    """Plain text from a config comment, safe in reST (no stray markup)."""
    return re.sub(r"([*`|_\\])", r"\\\1", text)


def _header_comment(path: Path) -> str:
    """The YAML's leading comment: what the choice is, with its paper."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").rstrip())
    return " ".join(lines)


def _targets(node, found: list[str]) -> list[str]:
    if isinstance(node, dict):
        if isinstance(node.get("_target_"), str):
            found.append(node["_target_"])
        for value in node.values():
            _targets(value, found)
    elif isinstance(node, list):
        for value in node:
            _targets(value, found)
    return found


def _shipped_rows(choice: str) -> list[str]:
    """This loss's rows in the shipped leaderboard: scenario, seed, PSNR and SSIM (mean ± std over images)."""
    rows = []
    for path in sorted(EMBEDDED.glob(f"{choice}_*/results.json")):
        results = json.loads(path.read_text())
        if results["loss"] != choice:
            continue
        if results["status"] != "ok" or not results["metrics"]:
            rows.append(f"   * - {results['physics']}\n     - {results['seed']}\n     - {results['status']}\n     -")
            continue
        psnr, ssim = results["metrics"]["PSNR"], results["metrics"]["SSIM"]
        rows.append(
            f"   * - {results['physics']}\n     - {results['seed']}\n"
            f"     - {psnr['mean']:.2f} ± {psnr['std']:.2f}\n     - {ssim['mean']:.4f} ± {ssim['std']:.4f}"
        )
    return rows


def _search_space(choice: str) -> list[str]:
    """What ``+tune=quasirandom`` searches for the loss (:mod:`ssibench.config.tuning`): its own space and
    the learning rate, as the composed config holds them (a YAML inherits its parent's space)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from ssibench.config import tuning

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        cfg = compose("config", overrides=[f"loss={choice}", "+tune=quasirandom"])
    GlobalHydra.instance().clear()
    space = tuning.search_space(cfg)
    if not space:
        return ["It trains nothing: it has nothing to tune, and a tuning sweep runs its trial 0 only.\n"]

    def searched(d) -> str:
        return ", ".join(map(str, d.choices)) if d.choices else f"{d.scale} scale, {d.low:g} to {d.high:g}"

    return [
        "A tuning sweep (``+tune=quasirandom tune.trials=N``) gives it N trials per scenario and seed: trial 0 its",
        "defaults (the values in its config below), the others quasirandom points of this space.\n",
        *[f"- ``{d.key}``: {searched(d)}" for d in space],
        "",
    ]


def loss_page(path: Path) -> str:
    from omegaconf import OmegaConf

    config = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    choice, label = path.stem, str(config.get("label", path.stem))
    requires = ", ".join(config.get("requires", [])) or "nothing"
    kind = "supervised (reads the ground truth)" if config.get("supervised") else "self-supervised"
    if not config.get("losses") and not config.get("supervised"):
        kind = "no learning"
    parts = [
        f".. _loss-{choice}:\n",
        _title(f"{label} (loss={choice})"),
        _rst_text(_header_comment(path)) + "\n",
        f"- **choice**: ``python launch.py loss={choice}``; its YAML: ``conf/loss/{choice}.yaml``",
        f"- **kind**: {kind}",
        f"- **requires** of the scenario: {requires}\n",
    ]
    own, theirs = [], []
    for target in dict.fromkeys(_targets(config, [])):
        (own if target.startswith("ssibench.") else theirs).append(target)
    if theirs:
        parts.append(_title("Terms from DeepInverse", "-"))
        parts += [f"- ``{t}`` (`its documentation <{DEEPINV_API.format(t)}>`__)" for t in theirs] + [""]
    for target in own:
        module, name = target.rsplit(".", 1)
        parts += [_title(f"{name}", "-"), f".. autoclass:: {target}\n   :no-index:\n"]
    parts += [_title("Its search space", "-"), *_search_space(choice)]
    parts += [_title("Its config", "-"), f".. literalinclude:: ../../../conf/loss/{choice}.yaml\n   :language: yaml\n"]
    rows = _shipped_rows(choice)
    parts.append(_title("In the shipped leaderboard", "-"))
    if rows:
        parts.append(
            ".. list-table:: test PSNR (dB) and SSIM, mean ± std over the test images, at the default scale\n"
            "   :header-rows: 1\n\n   * - scenario\n     - seed\n     - PSNR\n     - SSIM\n" + "\n".join(rows) + "\n"
        )
    else:
        parts.append("No shipped run.\n")
    return "\n".join(parts)


def losses_index(choices: list[str]) -> str:
    return "\n".join([
        _title("Loss choices"),
        "Every ``loss=`` choice, one page each, made from its YAML in ``conf/loss/``, the docstrings of its",
        "classes and its rows in the shipped leaderboard.\n",
        ".. toctree::\n   :maxdepth: 1\n",
        *[f"   {choice}" for choice in choices],
        "",
    ])


def config_groups_page() -> str:
    intro = "Each folder of ``conf/`` is a group, each YAML in it a choice (``group=choice``).\n"
    lines = [_title("Config groups"), intro]
    for group in sorted(p for p in CONF.iterdir() if p.is_dir()):
        choices = sorted(p.stem for p in group.rglob("*.yaml"))
        lines.append(f"``{group.name}``\n   {', '.join(f'``{c}``' for c in choices)}\n")
    return "\n".join(lines)


def cli_page() -> str:
    import contextlib
    import importlib
    import io

    from ssibench.cli.commands import COMMANDS

    lines = [_title("The ssibench command"), "Runs and sweeps are ``python launch.py``; the other tools are these.\n"]
    for name, (module, summary) in COMMANDS.items():
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            importlib.import_module(module).main(["--help"])
        usage = [f"   {line}" for line in out.getvalue().splitlines()]
        lines += [_title(f"ssibench {name}", "-"), f"{summary}.\n", "::\n", *usage, ""]
    return "\n".join(lines)


def results_schema_page() -> str:
    from ssibench.results.schema import SCHEMA

    def kind(value) -> str:
        kinds = value if isinstance(value, tuple) else (value,)
        return " or ".join("null" if k is type(None) else k.__name__ for k in kinds)

    lines = [
        _title("The results.json schema"),
        "Every run writes one ``results.json`` (:mod:`ssibench.results.schema` checks it on every write and read).",
        "Its required fields:\n",
        ".. list-table::\n   :header-rows: 1\n\n   * - field\n     - type",
        *[f"   * - ``{key}``\n     - {kind(value)}" for key, value in SCHEMA.items()],
        "",
        "Besides them: ``config`` and ``code`` (what identifies the run), ``per_image`` and",
        "``zero_filled_per_image``, ``cost``, ``test_set`` and ``test_signature`` (which test set it was",
        "scored on), ``n_val`` and ``validation_set`` (the validation set held out of the training images),",
        "and ``selection``: for each model-selection rule (``last``, ``val_kspace``, ``val_oracle``;",
        ":mod:`ssibench.evaluation.selection`) the ``epoch`` it chose (numbered as ``metrics.csv``), its",
        "``criterion`` there, and that model's test ``metrics`` and ``per_image`` scores; ``null`` for a rule",
        "that could not choose, with why under ``selection.reasons``.",
        "",
    ]
    return "\n".join(lines)


def write_pages(app) -> None:
    out = Path(app.srcdir) / "generated"
    shutil.rmtree(out, ignore_errors=True)
    (out / "losses").mkdir(parents=True)
    choices = sorted(p.stem for p in (CONF / "loss").glob("*.yaml"))
    for choice in choices:
        (out / "losses" / f"{choice}.rst").write_text(loss_page(CONF / "loss" / f"{choice}.yaml"))
    (out / "losses" / "index.rst").write_text(losses_index(choices))
    (out / "config_groups.rst").write_text(config_groups_page())
    (out / "cli.rst").write_text(cli_page())
    (out / "results_schema.rst").write_text(results_schema_page())


def setup(app):
    app.connect("builder-inited", write_pages)
    return {"parallel_read_safe": True}
