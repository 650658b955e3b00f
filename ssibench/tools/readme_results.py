"""Every PSNR/SSIM the README and the documentation site quote, from one scripted run of the current code.

    ssibench readme-results --run [--seeds 0] [--jobs 2]   # the sweep, then the README and the docs page
    ssibench readme-results --sweep multirun/<date>/<time>  # the same from a finished sweep
    ssibench readme-results --tuned --run                   # the tuned table (scenario mri, 4 trials each)

``--run`` runs the leaderboard grid at the default scale (``+sweep=leaderboard`` on the embedded
MNI152 data, through ``launch.py`` with joblib) and times it; then, from that sweep's results only,
the sections between their markers are rewritten: in ``docs/default_scale.rst`` the section
"Leaderboard on the embedded data" (its four tables, the PSNR and reconstruction figures, the
commands, the machine, the wall time) and the default-scale table, as reST; in the README the
headline table (scenario ``mri``) with its figure, as Markdown. Nothing else of either file changes;
a section whose markers are missing is an error, and then neither file is written.
The same sweep's runs (results.json, metrics.csv) replace those shipped with the package
(:mod:`ssibench.leaderboard.shipped`), which ``ssibench leaderboard <run> --against embedded``
ranks a new run among; a run made before results recorded a test signature ships with the one of its
test set, simulated again from its config (:func:`missing_test_signatures`).

``--tuned`` makes the tuned table instead: the grid of scenario ``mri`` with ``+tune=quasirandom
tune.trials=4``, each method's trial chosen per seed on validation
(:mod:`ssibench.leaderboard.trial_choice`), written into the ``tuned`` section of both files.
A sweep may run in parts: ``--run --into DIR`` continues the one begun in DIR with the same arguments
and code (:func:`run_sweep`); a part stopped by Ctrl-C or SIGTERM stops every job at a step, is
recorded, and rewrites nothing; a part killed outright is timed by the next one from the files it wrote.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from omegaconf import OmegaConf

from ssibench.atomic_files import atomic_path
from ssibench.config.context import compose_config
from ssibench.data.pipeline import measurements
from ssibench.evaluation.selection import DEFAULT_RULE
from ssibench.folders import RunDir
from ssibench.leaderboard.cost_columns import run_cost
from ssibench.leaderboard.figures import write_figures
from ssibench.leaderboard.markdown import to_markdown
from ssibench.leaderboard.runs import collect_runs
from ssibench.leaderboard.shipped import EMBEDDED, ship
from ssibench.leaderboard.tables import build_tables
from ssibench.leaderboard.trial_choice import choose_trials
from ssibench.results.code_identity import package_source
from ssibench.training.cost_meter import device_model

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGE = ROOT / "docs" / "default_scale.rst"  # the site's page of the default scale and its full leaderboard
FIGURES = ROOT / "docs" / "embedded"  # the figures of the page and the README, committed
SWEEP_RECORD = "readme_results.json"  # what --run records beside the sweep: command, machine, wall time
HEADLINE = "mri"  # the scenario whose table the README shows
README_SECTIONS = ("headline",)  # Markdown, between <!-- readme_results:NAME --> and <!-- /readme_results:NAME -->
PAGE_SECTIONS = ("embedded-leaderboard", "default-scale")  # reST, between comments .. readme_results:NAME, .. /...
TUNED = "tuned"  # the section of the tuned table (--tuned), in both files
TUNED_TRIALS = 4  # trials per method of the tuned table (+tune=quasirandom tune.trials=4)


def sweep_command(seeds: str, jobs: int, sweep_dir: Path, tuned: bool = False) -> list[str]:
    grid = ["physics=" + HEADLINE, "+tune=quasirandom", f"tune.trials={TUNED_TRIALS}"] if tuned else []
    return [
        sys.executable, str(ROOT / "launch.py"), "-m", "+sweep=leaderboard", *grid, f"seed={seeds}",
        "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}", f"hydra.sweep.dir={sweep_dir}",
    ]  # fmt: skip


def sweep_code() -> str:
    """SHA-256 of what computes the sweep's numbers: ssibench's source and the config folder. A sweep
    made in parts must be made by one code."""
    digest = hashlib.sha256(package_source().encode())
    for path in sorted((ROOT / "conf").rglob("*.yaml")):
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def run_sweep(seeds: str, jobs: int, sweep_dir: Path, tuned: bool = False) -> dict:
    """Run the grid into ``sweep_dir`` as a user would, and record how (beside the results). The
    cores are shared out between the jobs (``OMP_NUM_THREADS``): more threads than cores stall.

    A sweep may be made in parts: run again into the same folder (``--into``), its finished runs are
    not retrained, its stopped ones resume, and the record adds the part (its wall time, exit code,
    date), refusing a part of another command or another code (:func:`sweep_code`) before it runs.
    Each part is recorded as open when it starts: a part killed before it could close its record
    (SIGKILL, a machine going down) is closed by the next one, timed from its start to the last file
    the sweep wrote (:func:`_close_killed_part`), so the wall time never leaves a part out."""
    command = sweep_command(seeds, jobs, sweep_dir, tuned)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    shown = f"OMP_NUM_THREADS={threads} python launch.py {' '.join(command[3:-1])}"
    code, parts = sweep_code(), []
    if (sweep_dir / SWEEP_RECORD).is_file():
        before = json.loads((sweep_dir / SWEEP_RECORD).read_text())
        if before.get("command") != shown or before.get("code") != code:
            differs = "command" if before.get("command") != shown else "code (ssibench or conf/)"
            raise SystemExit(
                f"readme_results: {sweep_dir} was begun with another {differs}: continue it with the code and "
                f"arguments it was begun with ({before.get('command')}), or run into a new folder"
            )
        parts = before.get("parts") or [{key: before[key] for key in ("wall_seconds", "exit_code", "date")}]
        if parts[-1].get("open"):
            parts[-1] = _close_killed_part(parts[-1], sweep_dir)
    elif (sweep_dir / "multirun.yaml").is_file():
        raise SystemExit(
            f"readme_results: {sweep_dir} holds a sweep without {SWEEP_RECORD}, so its time is unknown: "
            "run into a new folder"
        )
    record = {
        "command": shown,
        "code": code,
        "machine": f"{device_model(torch.device('cpu'))} ({os.cpu_count()} cores, no GPU)"
        if not torch.cuda.is_available()
        else device_model(torch.device("cuda")),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    started = time.time()
    _write_record(sweep_dir, record, [*parts, {"open": True, "started": started, "date": time.strftime("%Y-%m-%d")}])
    start = time.perf_counter()
    exit_code, stopped = _run_until_stopped(command, {**os.environ, "OMP_NUM_THREADS": str(threads)})
    parts.append({
        "wall_seconds": time.perf_counter() - start,
        "exit_code": exit_code,  # non-zero when a job failed, or the part was stopped
        "date": time.strftime("%Y-%m-%d"),
        "started": started,
        "stopped": stopped,
    })
    return _write_record(sweep_dir, record, parts)


def _write_record(sweep_dir: Path, record: dict, parts: list[dict]) -> dict:
    """Write the sweep's record with ``parts``; its wall time sums the closed ones."""
    record = {
        **record,
        "wall_seconds": sum(part.get("wall_seconds", 0.0) for part in parts),
        "exit_code": parts[-1].get("exit_code"),  # the last part's: the one that finished the sweep
        "parts": parts,
        "date": parts[-1]["date"],
    }
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(sweep_dir / SWEEP_RECORD) as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    return record


def _close_killed_part(part: dict, sweep_dir: Path) -> dict:
    """A part left open was killed without closing its record: its wall time runs from its start to
    the newest file under ``sweep_dir`` other than the record (every job writes each epoch's scores,
    so that is at most an epoch short), its exit code is unknown."""
    last = max(
        (path.stat().st_mtime for path in sweep_dir.rglob("*") if path.is_file() and path.name != SWEEP_RECORD),
        default=part["started"],
    )
    return {
        "wall_seconds": max(0.0, last - part["started"]),
        "exit_code": None,
        "date": part["date"],
        "started": part["started"],
        "stopped": True,
        "killed": True,  # timed by the files it wrote, not by its own clock
    }


def _run_until_stopped(command: list[str], env: dict) -> tuple[int, bool]:
    """Run the sweep in a process group of its own; on Ctrl-C or SIGTERM, stop the group
    (:func:`_stop_group`: every job stops at a step with its checkpoint,
    :mod:`ssibench.training.stop_signals`). :return: the exit code and whether the part was stopped."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        return process.wait(), False
    except KeyboardInterrupt:
        os.killpg(process.pid, signal.SIGTERM)
        exit_code = process.wait()
        _stop_group(process.pid)
        return exit_code, True
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_group(group: int, every: float = 1.0, patience: float = 120.0) -> None:
    """SIGTERM the process group until none of it is left. ``launch.py`` ends at the first; a job
    notes it and stops at its next step, then hands the signal back, so its joblib worker, idle with
    the default handler again, ends at the next one (left alone, the workers outlived the sweep,
    idle, holding a GB each). Whatever is left after ``patience`` seconds gets SIGKILL."""
    deadline = time.monotonic() + patience
    while _group_alive(group):
        try:
            os.killpg(group, signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL)
        except ProcessLookupError:
            return
        time.sleep(every)


def _group_alive(group: int) -> bool:
    """Whether a process of ``group`` still runs: a zombie does not (an orphan is only reaped when
    PID 1 does it, which a container's may not), so on Linux /proc says; elsewhere, signal 0."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").is_file():
        try:
            os.killpg(group, 0)
            return True
        except ProcessLookupError:
            return False
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "(comm)": state, ppid, pgrp, ...
        except (OSError, IndexError):
            continue  # it ended while we looked
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _figure_path(path: Path, beside: Path) -> str:
    """``path`` relative to the folder of the file ``beside`` that shows it, with forward slashes."""
    return Path(os.path.relpath(path, beside.parent)).as_posix()


def _measured(record: dict, results: list[dict], tuned: bool = False) -> str:
    """Two Markdown lines: the command, the machine and the wall time of the sweep."""
    epochs = ", ".join(str(n) for n in sorted({r["epochs"] for r in results}))
    seeds = sorted({r["seed"] for r in results})
    seeds = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(str(seed) for seed in seeds)}"
    minutes = record["wall_seconds"] / 60
    return "\n".join([
        f"Measured with `{record['command']}` (then `ssibench readme-results {'--tuned ' if tuned else ''}"
        f"--sweep <that folder>`)",
        (
            f"on {record['machine']}, Python {record['python']}, torch {record['torch']}, {record['date']}: "
            f"{len(results)} jobs, {epochs} epochs, {seeds}, {minutes:.0f} minutes wall time in all"
            + _parts_note(record.get("parts", ()))
            + _cpus_note(results)
        ),
    ])


def _cpus_note(results: list[dict]) -> str:
    """Which CPUs trained the runs, when a sweep's parts ran on several: the machine named before is
    the last part's, and the tables give each CPU its own cost columns."""
    cpus = Counter(cost[0].name for cost in map(run_cost, results) if cost)  # as the cost columns name them
    if len(cpus) <= 1:
        return ""
    listed = " and ".join(f"{cpu} ({n})" for cpu, n in sorted(cpus.items()))
    return f" Its parts ran on several machines: the trained runs on {listed}; each CPU has its own cost columns."


def _parts_note(parts) -> str:
    """How the wall time was made up, when the sweep ran in parts."""
    if len(parts) <= 1:
        return "."
    killed = sum(1 for part in parts if part.get("killed"))
    return f" (run in {len(parts)} parts" + (
        f"; {killed} killed, timed to the last file written)." if killed else ")."
    )


def _leaderboard(sweep_dir: Path, figures_dir: Path) -> tuple[list[dict], list, dict[str, list[Path]]]:
    """The sweep's results, its tables, and its PSNR and reconstruction figures per scenario, copied
    into ``figures_dir``."""
    runs = collect_runs([sweep_dir])
    results = [r for _, r in runs]
    tables = build_tables(results, folders=[folder for folder, _ in runs], rule=table_rule(results))
    figures = write_figures(tables, runs, sweep_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    shown: dict[str, list[Path]] = {}
    for scenario in sorted(figures):
        for path in figures[scenario]:
            if path.name.startswith(("psnr_", "reconstructions_")):
                shutil.copyfile(path, figures_dir / path.name)
                shown.setdefault(scenario, []).append(figures_dir / path.name)
    return results, tables, shown


def tuned_section(sweep_dir: Path, record: dict, markdown: bool) -> str:
    """The tuned table (scenario ``HEADLINE``, each method's trial chosen on validation, never on test)
    with its measured line: Markdown for the README, reST for the page."""
    every_trial = collect_runs([sweep_dir])
    runs = choose_trials(every_trial, DEFAULT_RULE)
    results = [r for _, r in runs]
    tables = [t for t in build_tables(results, folders=[f for f, _ in runs]) if t.scenario == HEADLINE]
    if not tables or tables[0].budget is None:
        raise SystemExit(
            f"readme_results: {sweep_dir} holds no tuning sweep of scenario {HEADLINE}: make it with --tuned --run"
        )
    body = to_markdown(tables).split("\n", 2)[2].replace("## ", "### ", 1)
    if markdown:  # the README keeps the table; its notes are on the page
        body = body.partition("\nMean ± standard error over seeds")[0].strip() + "\n"
    text = f"{_measured(record, [r for _, r in every_trial], tuned=True)}\n\n{body}"  # its jobs: every trial
    return text if markdown else markdown_to_rst(text)


def table_rule(results: list[dict]) -> str:
    """The selection rule of the shipped tables: the leaderboard's default when every finished run
    records its choices, else ``last`` (runs made before selection rules, which report their last epoch)."""
    finished = [r for r in results if r["status"] == "ok" and r["metrics"]]
    return DEFAULT_RULE if all("selection" in r for r in finished) else "last"


def embedded_section(record: dict, results: list[dict], tables: list, shown: dict[str, list[Path]], page: Path) -> str:
    """The page's section in reST: every scenario's table and figures (``shown``, drawn by :func:`_leaderboard`)."""
    tables_md = to_markdown(tables).split("\n", 2)[2]  # without its "# Leaderboard" title
    images = [
        f".. image:: {_figure_path(path, page)}\n   :alt: {path.stem}\n"
        for scenario in sorted(shown) for path in shown[scenario]
    ]  # fmt: skip
    return "\n".join([markdown_to_rst(f"{_measured(record, results)}\n\n{tables_md}"), *images])


def headline_section(
    record: dict, results: list[dict], tables: list, shown: dict[str, list[Path]], readme: Path
) -> str:
    """The README's section in Markdown: the table of scenario ``HEADLINE`` (its notes stay on the page)
    and its PSNR figure."""
    headline = [table for table in tables if table.scenario == HEADLINE]
    if not headline:
        raise SystemExit(f"readme_results: the sweep has no scenario {HEADLINE}, the README's headline table")
    table_md, found, _ = to_markdown(headline).split("\n", 2)[2].partition("\nMean ± standard error over seeds")
    if not found:
        raise SystemExit("readme_results: the leaderboard's Markdown has no notes after its tables")
    figures = [f"![{path.stem}]({_figure_path(path, readme)})" for path in shown.get(HEADLINE, [])]
    return "\n".join([
        _measured(record, results), "", table_md.replace("## ", "### ", 1).strip(), "",
        *[figure for figure in figures if figure.startswith("![psnr_")], "",
    ])


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


_MARKDOWN_ESCAPES = {"\\\\": "\\", "\\|": "|", "&lt;": "<", "&gt;": ">", "&amp;": "&"}  # as markdown.escape writes them


def rst_text(text: str) -> str:
    """Plain text (Markdown's escapes undone) as reST that shows it as it is: no markup, no list."""
    text = re.sub(r"\\\\|\\\||&lt;|&gt;|&amp;", lambda m: _MARKDOWN_ESCAPES[m.group()], text)
    text = re.sub(r"([\\*`|]|_(?!\w))", r"\\\1", text)
    text = re.sub(r"::$", r":\\:", text)  # not the start of a literal block
    starts_markup = re.match(r"([-*+]|\.\.|\(?(\d+|#|[a-zA-Z]|[ivxlcdmIVXLCDM]+)[.)])(\s|$)", text)  # a list, a comment
    return "\\" + text if starts_markup else text


def rst_inline(markdown: str) -> str:
    """One line of the leaderboard's Markdown (text, ``code`` spans) as reST."""
    parts, pos = [], 0
    for span in re.finditer(r"(`+) ?(.+?) ?\1(?!`)", markdown):
        parts.append(rst_text(markdown[pos : span.start()]))
        code = span.group(2)
        parts.append(f":literal:`{rst_text(code)}`" if "`" in code else f"``{code}``")
        pos = span.end()
    return "".join([*parts, rst_text(markdown[pos:])])


def _rst_table(rows: list[str]) -> list[str]:
    """A Markdown table (header, rule, rows) as a reST list-table."""
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for number, row in enumerate(rows):
        if number == 1:
            continue  # the |---| rule
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]
        for column, cell in enumerate(cells):
            lines.append(("   * -" if column == 0 else "     -") + (f" {rst_inline(cell)}" if cell else ""))
    return [*lines, ""]


def markdown_to_rst(markdown: str, heading: str = "~") -> str:
    """The leaderboard's Markdown as reST: ``##``/``###`` headings (underlined by ``heading``), tables,
    ``- `` lists, and paragraphs of consecutive lines, as GitHub renders them."""
    lines, out = markdown.splitlines(), []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += ["", *_rst_table(rows)]
            continue
        if line.startswith("#"):
            title = rst_inline(line.lstrip("#").strip())
            out += ["", title, heading * len(title), ""]
        elif line.startswith("- "):
            if out and out[-1] and not out[-1].startswith("- "):
                out.append("")
            out.append(f"- {rst_inline(line[2:])}")
        elif line.strip():
            if out and out[-1].startswith("- "):
                out.append("")
            out.append(rst_inline(line))
        else:
            out.append("")
        i += 1
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out).strip("\n")) + "\n"


def _markers(path: Path, name: str) -> tuple[str, str]:
    if path.suffix == ".rst":  # reST comments: invisible on the page
        return f".. readme_results:{name}\n", f".. /readme_results:{name}"
    return f"<!-- readme_results:{name} -->", f"<!-- /readme_results:{name} -->"


def check_markers(path: Path, names: tuple[str, ...]) -> str:
    """``path``'s text, once each of ``names`` has its pair of markers there."""
    text = path.read_text()
    for name in names:
        begin, end = _markers(path, name)
        if text.count(begin) != 1 or text.count(end) != 1:
            raise SystemExit(
                f"readme_results: {path.name} needs one {begin.strip()} ... {end} pair around the {name} section"
            )
    return text


def replace_section(text: str, name: str, body: str, path: Path = README) -> str:
    """``text`` (of ``path``) with ``body`` between the markers of section ``name``."""
    begin, end = _markers(path, name)
    head, rest = text.split(begin)
    _, tail = rest.split(end)
    separator = "\n" if path.suffix == ".rst" else ""  # a blank line after the body: the end marker is a comment
    return f"{head}{begin}\n{body}{separator}{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ssibench readme-results", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", action="store_true", help="run the grid first (into multirun/embedded-<date>)")
    source.add_argument("--sweep", type=Path, help="a finished sweep of +sweep=leaderboard made by --run")
    parser.add_argument(
        "--tuned", action="store_true",
        help=f"the tuned table instead: scenario {HEADLINE}, +tune=quasirandom tune.trials={TUNED_TRIALS}, each seed's "
        "trial chosen on validation (its own section of the README and the page; the shipped runs stay)",
    )
    parser.add_argument(
        "--into", type=Path,
        help="with --run: the sweep folder to run into; one begun there is continued (finished runs are kept, "
        "stopped ones resume), with the same --seeds and code (default: a new multirun/embedded-<date>)",
    )
    parser.add_argument("--seeds", default="0", help="with --run: comma-separated seeds (default: 0)")
    parser.add_argument("--jobs", type=int, default=2, help="with --run: jobs at once (default: 2)")
    args = parser.parse_args(argv)
    if args.run:
        name = f"{'tuned' if args.tuned else 'embedded'}-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
        sweep_dir = args.into or ROOT / "multirun" / name
        record = run_sweep(args.seeds, args.jobs, sweep_dir, args.tuned)
        if record["parts"][-1]["stopped"]:
            print(f"readme_results: stopped; continue the sweep with --run --into {sweep_dir} --seeds {args.seeds}")
            return 130
    else:
        if args.into is not None:
            parser.error("--into goes with --run (a finished sweep is given by --sweep)")
        sweep_dir = args.sweep
        if not (sweep_dir / SWEEP_RECORD).is_file():
            raise SystemExit(f"readme_results: {sweep_dir} has no {SWEEP_RECORD}: make the sweep with --run")
        record = json.loads((sweep_dir / SWEEP_RECORD).read_text())
    if args.tuned:
        regenerate_tuned(sweep_dir, record, README, PAGE)
    else:
        regenerate(sweep_dir, record, README, PAGE, FIGURES, EMBEDDED)
    return 0


def regenerate_tuned(sweep_dir: Path, record: dict, readme: Path, page: Path) -> None:
    """Rewrite the tuned section of ``readme`` and ``page`` from the tuning sweep ``sweep_dir``; both
    files are checked for its markers before either is written."""
    texts = {path: check_markers(path, (TUNED,)) for path in (readme, page)}
    for path, markdown in ((readme, True), (page, False)):
        texts[path] = replace_section(texts[path], TUNED, tuned_section(sweep_dir, record, markdown), path)
    for path, text in texts.items():
        with atomic_path(path) as tmp:
            tmp.write_text(text)
        print(f"{path.name}: its tuned table (scenario {HEADLINE}) from {sweep_dir}")


def regenerate(sweep_dir: Path, record: dict, readme: Path, page: Path, figures_dir: Path, shipped: Path) -> None:
    """Rewrite the sections of ``readme`` and ``page`` (figures into ``figures_dir``) and replace the
    shipped runs in ``shipped`` with the sweep's; both files are checked for their markers, and runs
    without a test signature are signed, before anything is written."""
    readme_text, page_text = check_markers(readme, README_SECTIONS), check_markers(page, PAGE_SECTIONS)
    signatures = missing_test_signatures(sweep_dir)
    results, tables, shown = _leaderboard(sweep_dir, figures_dir)
    headline = headline_section(record, results, tables, shown, readme)
    readme_text = replace_section(readme_text, "headline", headline, readme)
    embedded = embedded_section(record, results, tables, shown, page)
    page_text = replace_section(page_text, "embedded-leaderboard", embedded, page)
    page_text = replace_section(page_text, "default-scale", markdown_to_rst(default_scale_section(sweep_dir)), page)
    size = ship(sweep_dir, record, shipped, signatures)
    for path, text in ((page, page_text), (readme, readme_text)):
        with atomic_path(path) as tmp:
            tmp.write_text(text)
    print(f"{page.name}: the embedded leaderboard and the default-scale table from {sweep_dir}")
    print(f"{readme.name}: its headline table (scenario {HEADLINE}) from the same sweep")
    print(f"{shipped}: its runs, shipped for `ssibench leaderboard <run> --against embedded` ({size} bytes)")


if __name__ == "__main__":
    sys.exit(main())
