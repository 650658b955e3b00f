"""Every PSNR/SSIM the README quotes, from one scripted run of the current code.

    ssibench readme-results --run [--seeds 0] [--jobs 2]   # the sweep, then the README
    ssibench readme-results --sweep multirun/<date>/<time>  # the README from a finished sweep

``--run`` runs the leaderboard grid at the default scale (``+sweep=leaderboard`` on the embedded
MNI152 data, through ``launch.py`` with joblib) and times it; then, from that sweep's results only,
the README's section "Leaderboard on the embedded data" (its four tables, the PSNR and reconstruction
figures, the commands, the machine, the wall time) and the default-scale table are rewritten between
their markers. Nothing else of the README changes; a section whose markers are missing is an error.
The same sweep's runs (results.json, metrics.csv) replace those shipped with the package
(:mod:`ssibench.leaderboard.shipped`), which ``ssibench leaderboard <run> --against embedded``
ranks a new run among; a run made before results recorded a test signature ships with the one of its
test set, simulated again from its config (:func:`missing_test_signatures`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ssibench.atomic_files import atomic_path
from ssibench.config.context import compose_config
from ssibench.data.pipeline import measurements
from ssibench.folders import RunDir
from ssibench.leaderboard.figures import write_figures
from ssibench.leaderboard.markdown import to_markdown
from ssibench.leaderboard.runs import collect_runs
from ssibench.leaderboard.shipped import EMBEDDED, ship
from ssibench.leaderboard.tables import build_tables
from ssibench.training.cost_meter import device_model

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
FIGURES = ROOT / "docs" / "embedded"  # the README's figures, committed
SWEEP_RECORD = "readme_results.json"  # what --run records beside the sweep: command, machine, wall time
SECTIONS = ("embedded-leaderboard", "default-scale")


def sweep_command(seeds: str, jobs: int, sweep_dir: Path) -> list[str]:
    return [
        sys.executable, str(ROOT / "launch.py"), "-m", "+sweep=leaderboard", f"seed={seeds}",
        "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}", f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip


def run_sweep(seeds: str, jobs: int, sweep_dir: Path) -> dict:
    """Run the grid into ``sweep_dir`` as a user would, and record how (beside the results). The
    cores are shared out between the jobs (``OMP_NUM_THREADS``): more threads than cores stall."""
    command = sweep_command(seeds, jobs, sweep_dir)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    start = time.perf_counter()
    finished = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, check=False)
    record = {
        "command": f"OMP_NUM_THREADS={threads} python launch.py {' '.join(command[3:-1])}",
        "wall_seconds": time.perf_counter() - start,
        "exit_code": finished.returncode,  # non-zero when a job failed: the section lists it
        "machine": f"{device_model(torch.device('cpu'))} ({os.cpu_count()} cores, no GPU)"
        if not torch.cuda.is_available()
        else device_model(torch.device("cuda")),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    (sweep_dir / SWEEP_RECORD).write_text(json.dumps(record, indent=2))
    return record


def embedded_section(sweep_dir: Path, record: dict, figures_dir: Path = FIGURES) -> str:
    """The section's text; its figures are copied into ``figures_dir`` (``docs/embedded`` beside the README)."""
    runs = collect_runs([sweep_dir])
    results = [r for _, r in runs]
    tables = build_tables(results, folders=[folder for folder, _ in runs])
    figures = write_figures(tables, runs, sweep_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    shown = []
    for scenario in sorted(figures):
        for path in figures[scenario]:
            if path.name.startswith(("psnr_", "reconstructions_")):
                shutil.copyfile(path, figures_dir / path.name)
                shown.append(f"![{path.stem}](docs/embedded/{path.name})")
    epochs = ", ".join(str(n) for n in sorted({r["epochs"] for r in results}))
    seeds = sorted({r["seed"] for r in results})
    seeds = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(seed) for seed in seeds)}"
    minutes = record["wall_seconds"] / 60
    tables_md = to_markdown(tables).split("\n", 2)[2]  # without its "# Leaderboard" title
    return "\n".join(
        [
            f"Measured with `{record['command']}` (then `ssibench readme-results --sweep <that folder>`)",
            (
                f"on {record['machine']}, Python {record['python']}, torch {record['torch']}, {record['date']}: "
                f"{len(results)} jobs, {epochs} epochs, {seeds}, {minutes:.0f} minutes wall time in all."
            ),
            "",
            tables_md.replace("\n## ", "\n### ").lstrip().replace("## ", "### ", 1),
            *shown,
            "",
        ]
    )


def default_scale_section(sweep_dir: Path) -> str:
    """The default run of mc, sup and zero_filled (physics=mri, the lowest seed) from the sweep."""
    runs = [r for _, r in collect_runs([sweep_dir]) if r["physics"] == "mri" and r["status"] == "ok"]
    seed = min(r["seed"] for r in runs)
    by_loss = {r["loss"]: r for r in runs if r["seed"] == seed}
    lines = [
        f"| command (defaults: `physics=mri`, 64×64, seed {seed}) | PSNR (dB) | SSIM | training |",
        "|---|---|---|---|",
    ]
    for loss, command in (("mc", "python launch.py"), ("sup", "python launch.py loss=sup"),
                          ("zero_filled", "python launch.py loss=zero_filled")):  # fmt: skip
        r = by_loss[loss]
        psnr, ssim = r["metrics"]["PSNR"], r["metrics"]["SSIM"]
        cost = r.get("cost") or {}
        trained = cost.get("steps")
        training = f"{r['epochs']} epochs, {cost['train_seconds']:.0f} s, {cost['steps']} steps" if trained else "none"
        scores = f"{psnr['mean']:.2f} ± {psnr['std']:.1f} | {ssim['mean']:.3f} ± {ssim['std']:.2f}"
        lines.append(f"| `{command}` | {scores} | {training} |")
    return "\n".join(lines) + "\n"


def missing_test_signatures(sweep_dir: Path) -> dict[str, dict]:
    """``{test_set fingerprint: test signature}`` for the scored runs of ``sweep_dir`` that record no
    signature (made before results recorded one): each test set is simulated again from the config of
    a run scored on it (read from the measurement cache where it is still there), and signed only if
    its bits are the ones that run was scored on."""
    unsigned: dict[str, Path] = {}
    for folder, results in collect_runs([sweep_dir]):
        if results.get("test_set") and not results.get("test_signature"):
            unsigned.setdefault(results["test_set"], folder)
    signatures = {}
    for fingerprint, folder in sorted(unsigned.items()):
        if not RunDir(folder).hydra_overrides.is_file():
            raise SystemExit(
                f"readme_results: {folder} records no test signature and has no {RunDir(folder).hydra_overrides.name} "
                "to simulate its test set again from: make the sweep again with --run"
            )
        overrides = OmegaConf.to_container(OmegaConf.load(RunDir(folder).hydra_overrides))
        data = measurements(compose_config(overrides, folder))
        if data.test_set != fingerprint:
            raise SystemExit(
                f"readme_results: {folder}'s test set, simulated again here, is not the one it was scored on "
                f"(test set {data.test_set[:12]} vs {fingerprint[:12]}): make the sweep again with --run"
            )
        signatures[fingerprint] = data.test_signature
    return signatures


def replace_section(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- readme_results:{name} -->", f"<!-- /readme_results:{name} -->"
    if text.count(begin) != 1 or text.count(end) != 1:
        raise SystemExit(f"readme_results: README.md needs one {begin} ... {end} pair around the {name} section")
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    return f"{head}{begin}\n{body}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssibench readme-results", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", action="store_true", help="run the grid first (into multirun/embedded-<date>)")
    source.add_argument("--sweep", type=Path, help="a finished sweep of +sweep=leaderboard made by --run")
    parser.add_argument("--seeds", default="0", help="with --run: comma-separated seeds (default: 0)")
    parser.add_argument("--jobs", type=int, default=2, help="with --run: jobs at once (default: 2)")
    args = parser.parse_args(argv)
    if args.run:
        sweep_dir = ROOT / "multirun" / f"embedded-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
        record = run_sweep(args.seeds, args.jobs, sweep_dir)
    else:
        sweep_dir = args.sweep
        if not (sweep_dir / SWEEP_RECORD).is_file():
            raise SystemExit(f"readme_results: {sweep_dir} has no {SWEEP_RECORD}: make the sweep with --run")
        record = json.loads((sweep_dir / SWEEP_RECORD).read_text())
    regenerate(sweep_dir, record, README, FIGURES, EMBEDDED)
    return 0


def regenerate(sweep_dir: Path, record: dict, readme: Path, figures_dir: Path, shipped: Path) -> None:
    """Rewrite ``readme``'s sections (figures into ``figures_dir``) and replace the shipped runs in
    ``shipped`` with the sweep's; the README is checked for its markers, and runs without a test
    signature are signed, before anything is written."""
    signatures = missing_test_signatures(sweep_dir)
    text = readme.read_text()
    text = replace_section(text, "embedded-leaderboard", embedded_section(sweep_dir, record, figures_dir))
    text = replace_section(text, "default-scale", default_scale_section(sweep_dir))
    size = ship(sweep_dir, record, shipped, signatures)
    with atomic_path(readme) as tmp:
        tmp.write_text(text)
    print(f"{readme.name}: the embedded leaderboard and the default-scale table from {sweep_dir}")
    print(f"{shipped}: its runs, shipped for `ssibench leaderboard <run> --against embedded` ({size} bytes)")


if __name__ == "__main__":
    sys.exit(main())
