"""The leaderboard's figures, drawn from the runs' own files, one set per scenario.

- ``psnr_<scenario>.png``: test PSNR of every method in the leaderboard's order, one dot per seed
  and a bar at the mean, coloured by kind (supervised, self-supervised, no learning).
- ``curves_<scenario>.png``: test PSNR and training loss per epoch from each run's ``metrics.csv``,
  one line per method (the mean over its seeds), zero-filled as a horizontal line.
- ``reconstructions_<scenario>.png``: the test slice of ``reconstruction.pt`` reconstructed by every
  method (lowest seed), beside its ground truth and zero-filled Aᴴy, with PSNR in each title.

A run that lacks a file (nothing trained, hence no curves; made before runs saved their slice)
is left out of that figure with a printed line. Drawn without pyplot, so no display or global
matplotlib state is involved. Every axis reads as plain numbers: no offset or scientific notation,
at least :data:`MIN_PSNR_SPAN` dB on a PSNR axis (so equal values do not zoom into noise), epochs as
integers from 1, and tick labels on the loss axis whatever the losses' range.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, ScalarFormatter

from ssibench.atomic_files import atomic_path
from ssibench.evaluation.reconstruction import load_reconstruction
from ssibench.folders import RunDir
from ssibench.leaderboard.run_curves import read_curves

METRIC = "PSNR"  # the metric drawn (the leaderboard's ranking metric)
KIND_COLOURS = {"supervised": "tab:green", "self-supervised": "tab:blue", "no-learning": "tab:gray"}
GRID_COLUMNS = 6  # panels per row of the reconstruction grid
MIN_PSNR_SPAN = 1.0  # dB: the narrowest PSNR axis drawn


def _plain(axis) -> None:
    """Tick labels as the numbers themselves (matplotlib's default turns 12.1630..12.1634 into
    offsets like ``+1.2163e1`` over ``0.0000 .. 0.0004``)."""
    axis.set_major_formatter(ScalarFormatter(useOffset=False))
    axis.get_major_formatter().set_scientific(False)


def _widen(limits: tuple[float, float], span: float) -> tuple[float, float]:
    """``limits`` grown about their middle to at least ``span``."""
    low, high = limits
    if high - low >= span:
        return low, high
    middle = (low + high) / 2
    return middle - span / 2, middle + span / 2


def write_figures(tables, runs: list[tuple[Path, dict]], out: Path) -> dict[str, list[Path]]:
    """Every figure of every scenario of ``tables`` (from :func:`ssibench.leaderboard.tables.build_tables`)
    into ``out``; ``runs`` are ``(run folder, results)`` pairs. :return: the files written, per scenario."""
    written = {}
    for table in tables:
        if not table.rows:
            continue
        ok = [(folder, r) for folder, r in runs if r["physics"] == table.scenario and r["status"] == "ok"]
        drawn = [draw(table, ok, out) for draw in (psnr_figure, curves_figure, reconstruction_figure)]
        written[table.scenario] = [path for path in drawn if path is not None]
    return written


def _save(fig: Figure, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def _say(message: str) -> None:
    print(f"[figures] {message}")


def psnr_figure(table, runs: list[tuple[Path, dict]], out: Path) -> Path | None:
    rows = [row for row in table.rows if METRIC in row.metrics]
    if not rows:
        _say(f"psnr_{table.scenario}.png not drawn: no run of {table.scenario} reports {METRIC}")
        return None
    fig = Figure(figsize=(7, 1.2 + 0.4 * len(rows)))
    ax = fig.subplots()
    for position, row in enumerate(rows):
        colour = KIND_COLOURS.get(row.kind, "black")
        if row.from_zero_filled_scores:  # Aᴴy as each seed's runs scored it
            by_seed = {r["seed"]: r["zero_filled"][METRIC]["mean"] for _, r in runs if METRIC in r["zero_filled"]}
            seeds = list(by_seed.values())
        else:
            seeds = [r["metrics"][METRIC]["mean"] for _, r in runs if r["loss"] == row.loss]
        ax.scatter(seeds, [position] * len(seeds), color=colour, alpha=0.6, s=20, zorder=3)
        ax.scatter([row.metrics[METRIC][0]], [position], color=colour, marker="|", s=300, linewidths=2, zorder=2)
    ax.set_yticks(range(len(rows)), [row.label for row in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.grid(axis="x", alpha=0.3)
    _plain(ax.xaxis)
    ax.set_xlim(_widen(ax.get_xlim(), MIN_PSNR_SPAN))
    ax.set_xlabel(f"test {METRIC} (dB): one dot per seed, | their mean")
    ax.set_title(f"Scenario {table.scenario}")
    kinds = list(dict.fromkeys(row.kind for row in rows))
    handles = [Line2D([], [], color=KIND_COLOURS.get(k, "black"), marker="o", linestyle="", label=k) for k in kinds]
    ax.legend(handles=handles, loc="lower right", fontsize="small")
    return _save(fig, out / f"psnr_{table.scenario}.png")


def _mean_curve(curves: list[dict[int, float]]) -> tuple[list[int], list[float]]:
    """The mean over runs per epoch, epochs numbered from 1 (metrics.csv counts from 0)."""
    by_epoch = defaultdict(list)
    for curve in curves:
        for epoch, value in curve.items():
            by_epoch[epoch + 1].append(value)
    epochs = sorted(by_epoch)
    return epochs, [float(np.mean(by_epoch[e])) for e in epochs]


def _loss_scale(ax, losses: list[float]) -> None:
    """Losses spanning a decade or more: log, or symlog where SURE-based ones go negative (its linear
    band at the smallest loss's decade); a narrower range: linear (a log axis inside one decade may
    hold no tick at all)."""
    magnitudes = [abs(v) for v in losses if v != 0]
    if magnitudes and max(magnitudes) >= 10 * min(magnitudes):
        if min(losses) > 0:
            ax.set_yscale("log")
        else:
            ax.set_yscale("symlog", linthresh=10 ** math.floor(math.log10(min(magnitudes))))
    else:
        _plain(ax.yaxis)


def curves_figure(table, runs: list[tuple[Path, dict]], out: Path) -> Path | None:
    name = f"curves_{table.scenario}.png"
    fig = Figure(figsize=(12, 4.5), layout="constrained")
    ax_psnr, ax_loss = fig.subplots(1, 2)
    missing, drawn, losses, last_epoch = [], 0, [], 1
    for row in table.rows:
        if row.kind == "no-learning":  # nothing trained: drawn as its constant level below
            continue
        curves = []
        for folder, r in runs:
            if r["loss"] == row.loss:
                if RunDir(folder).curves.is_file():
                    curves.append(read_curves(RunDir(folder).curves, METRIC))
                else:
                    missing.append(f"{row.label} seed {r['seed']}")
        if not curves:
            continue
        style = {"linestyle": "--" if row.kind == "supervised" else "-", "marker": "o", "markersize": 3}
        (line,) = ax_psnr.plot(
            *_mean_curve([psnr for psnr, _ in curves]), label=f"{row.label} ({len(curves)})", **style
        )
        epochs, loss = _mean_curve([loss for _, loss in curves])
        ax_loss.plot(epochs, loss, color=line.get_color(), **style)
        losses += loss
        last_epoch = max([last_epoch, *epochs, *line.get_xdata()])
        drawn += 1
    if not drawn:
        _say(f"{name} not drawn: no run of {table.scenario} has a {RunDir(out).curves.name}")
        return None
    if missing:
        _say(f"{name} leaves out {', '.join(missing)}: no {RunDir(out).curves.name} (nothing trained in that run)")
    zero_filled = {r["seed"]: r["zero_filled"][METRIC]["mean"] for _, r in runs if METRIC in r["zero_filled"]}
    if zero_filled:
        ax_psnr.axhline(
            np.mean(list(zero_filled.values())), color=KIND_COLOURS["no-learning"], linestyle=":", label="Zero-filled"
        )
    ax_psnr.set(xlabel="epoch", ylabel=f"test {METRIC} (dB)", title=f"Scenario {table.scenario}: test {METRIC}")
    ax_loss.set(xlabel="epoch", ylabel="training loss (sum of its terms)", title="Training loss")
    _loss_scale(ax_loss, losses)
    _plain(ax_psnr.yaxis)
    ax_psnr.set_ylim(_widen(ax_psnr.get_ylim(), MIN_PSNR_SPAN))
    for ax in (ax_psnr, ax_loss):
        ax.grid(alpha=0.3)
        ax.set_xlim(0.5, last_epoch + 0.5)  # one epoch is x=1 with tick 1, not a zoom around it
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        _plain(ax.xaxis)
    fig.legend(
        *ax_psnr.get_legend_handles_labels(), title="method (seeds)", fontsize="small", loc="outside right center"
    )
    return _save(fig, out / name)


def reconstruction_figure(table, runs: list[tuple[Path, dict]], out: Path) -> Path | None:
    name = f"reconstructions_{table.scenario}.png"
    file_name = RunDir(out).reconstruction.name
    with_file = [(folder, r) for folder, r in runs if RunDir(folder).reconstruction.is_file()]
    if not with_file:
        _say(f"{name} not drawn: no run of {table.scenario} has a {file_name}")
        return None
    seed = min(r["seed"] for _, r in with_file)  # one seed: every method on the same measurements
    saved = {
        r["loss"]: load_reconstruction(RunDir(folder).reconstruction) for folder, r in with_file if r["seed"] == seed
    }
    reference = next(iter(saved.values()))
    panels = [  # (title, magnitude image, its metrics)
        ("Ground truth", reference["ground_truth"], {}),
        ("Zero-filled", reference["zero_filled"], reference["metrics"]["zero_filled"]),
    ]
    missing = []
    for row in table.rows:
        if row.kind == "no-learning":  # its reconstruction is the zero-filled panel
            continue
        recon = saved.get(row.loss)
        if recon is None:
            missing.append(f"{row.label} (no {file_name} for seed {seed})")
        elif recon["index"] != reference["index"]:
            missing.append(f"{row.label} (slice {recon['index']}, not {reference['index']})")
        else:
            panels.append((row.label, recon["reconstruction"], recon["metrics"]["reconstruction"]))
    if missing:
        _say(f"{name} leaves out {', '.join(missing)}")

    columns = min(len(panels), GRID_COLUMNS)
    lines = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(2.2 * columns, 2.5 * lines + 0.4))
    axes = fig.subplots(lines, columns, squeeze=False).ravel()
    brightest = float(reference["ground_truth"].max())
    for ax, (title, image, metrics) in zip(axes, panels):
        ax.imshow(image.numpy(), cmap="gray", vmin=0, vmax=brightest)
        if METRIC in metrics:
            title += f"\n{metrics[METRIC]:.2f} dB"
        ax.set_title(title, fontsize="small")
    for ax in axes:
        ax.axis("off")
    fig.suptitle(f"Scenario {table.scenario}: test slice {reference['index']}, seed {seed}")
    return _save(fig, out / name)
