"""The leaderboard as a static site: ``index.html`` and its assets, nothing fetched from elsewhere.

    <site>/index.html                 one sortable table per scenario, its unranked runs, its figures
    <site>/assets/leaderboard.css     the page's style (system fonts)
    <site>/assets/sort.js             sorts a table by the clicked column
    <site>/assets/figures/*.png       the PSNR, curves and reconstruction figures
    <site>/assets/configs/*.yaml      each ranked run's config as its results.json records it, linked from its row
    <site>/.ssibench-site.json        the files above: what the site owns

Every link is relative, so the site opens from ``file://`` and from any static host. Text from
results and configs is HTML-escaped. Writing into a folder that already holds a site replaces the
files that site owns (and removes those it no longer needs), never another file; a non-empty folder
without a site is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from html import escape
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import yaml

from ssibench.atomic_files import atomic_path
from ssibench.leaderboard.cost_columns import FOOTNOTE as COST_FOOTNOTE
from ssibench.leaderboard.rank_intervals import FOOTNOTE as RANK_FOOTNOTE
from ssibench.leaderboard.run_curves import STABILITY_FOOTNOTE
from ssibench.leaderboard.selection_view import REGRET_FOOTNOTE, selection_line
from ssibench.leaderboard.statistics import ALPHA
from ssibench.leaderboard.tables import (
    ZERO_FILLED_FOOTNOTE,
    Row,
    Table,
    hparams_cell,
    oracle_cells,
    rank_interval_cell,
    row_metric_cell,
    stability_cell,
    trial_cell,
)

MANIFEST = ".ssibench-site.json"
STATIC = ("leaderboard.css", "sort.js")  # in this package's static/ folder, copied to assets/


class SiteError(ValueError):
    """A folder the site may not be written into."""


def owned_files(folder: Path) -> set[str]:
    """The files an earlier site in ``folder`` owns (none for a new or empty folder); raise
    :class:`SiteError` for a non-empty folder that holds no site."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise SiteError(f"--html {folder} is a file, not a folder: give a new or empty folder for the site")
    manifest = folder / MANIFEST
    if not manifest.is_file():
        if folder.is_dir() and any(folder.iterdir()):
            raise SiteError(
                f"--html {folder} is a non-empty folder without a leaderboard site ({MANIFEST}): "
                f"give a new or empty folder, so that no file of yours is replaced"
            )
        return set()
    try:
        names = set(json.loads(manifest.read_text())["files"])
    except (ValueError, KeyError, TypeError) as error:
        raise SiteError(f"{manifest} is damaged ({error}): delete that folder or give another one to --html") from error
    root = folder.resolve()
    for name in names:  # never delete outside the site, whatever the manifest says
        if not isinstance(name, str) or Path(name).is_absolute() or not (root / name).resolve().is_relative_to(root):
            raise SiteError(f"{manifest} names {name!r}, outside the site: delete that folder or give another one")
    return names


def write_site(folder: Path, tables: list[Table], figures: dict[str, list[Path]], sources: list[Path]) -> Path:
    """Write the site into ``folder``; ``figures``: the figure files of each scenario
    (:func:`ssibench.leaderboard.figures.write_figures`), ``sources``: the sweep folders it was
    built from. :return: the path of ``index.html``."""
    folder = Path(folder)
    before = owned_files(folder)
    files = _site_files(tables, figures, sources)
    taken = sorted(name for name in files if name not in before and (folder / name).exists())
    if taken:
        raise SiteError(f"{folder / taken[0]} exists but is not the site's: move it, or give another folder to --html")
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / MANIFEST, _manifest(before | set(files)))  # a crash midway leaves every file accounted for
    for name, content in files.items():
        _write(folder / name, content)
    for stale in before - set(files):
        (folder / stale).unlink(missing_ok=True)
    _write(folder / MANIFEST, _manifest(set(files)))
    return folder / "index.html"


def _manifest(names: set[str]) -> bytes:
    manifest = {"written_by": "ssibench leaderboard --html", "files": sorted(names)}
    return json.dumps(manifest, indent=1).encode()


def _write(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(content)


def _site_files(tables: list[Table], figures: dict[str, list[Path]], sources: list[Path]) -> dict[str, bytes]:
    """Every file of the site: its path relative to the site folder -> its content."""
    static = resources.files("ssibench.leaderboard") / "static"
    files = {f"assets/{name}": (static / name).read_bytes() for name in STATIC}
    figure_links: dict[str, list[str]] = {}
    for scenario, paths in figures.items():
        figure_links[scenario] = []
        for path in paths:
            name = f"assets/figures/{path.name}"
            files[name] = Path(path).read_bytes()
            figure_links[scenario].append(name)
    # (scenario, loss) -> per run: (link text, its config file or None, its folder)
    config_links: dict[tuple[str, str], list[tuple[str, str | None, str]]] = {}
    for table in tables:
        for row in table.rows:
            config_links[table.scenario, row.loss] = []
            for folder, results in sorted(row.runs, key=lambda run: (run[1]["seed"], str(run[0]))):
                content = _config(results)
                name = None
                if content is not None:
                    name = f"assets/configs/{_file_stem(folder, results)}.yaml"
                    files[name] = content
                config_links[table.scenario, row.loss].append((f"seed {results['seed']}", name, str(folder or "")))
    files["index.html"] = _page(tables, figure_links, config_links, sources).encode()
    return files


def _config(results: dict) -> bytes | None:
    """The ``config`` block of the run's results.json: the config the run was identified and checked by
    (a ``.hydra/config.yaml`` beside it may have been written by another, refused command); None without one."""
    if not isinstance(results.get("config"), dict):
        return None
    header = "# The `config` block of this run's results.json (interpolations as written).\n"
    return (header + yaml.safe_dump(results["config"], sort_keys=False, allow_unicode=True)).encode()


def _file_stem(folder: Path | None, results: dict) -> str:
    """A file name per run that no other run shares: the folder's name made safe, and a hash of its path."""
    where = str(Path(folder).resolve()) if folder is not None else json.dumps(results, sort_keys=True)
    name = Path(folder).name if folder is not None else f"{results['loss']}-{results['physics']}-{results['seed']}"
    return f"{re.sub(r'[^A-Za-z0-9._=-]+', '_', name)[:80]}-{hashlib.sha1(where.encode()).hexdigest()[:10]}"


def _anchor(scenario: str) -> str:
    return "scenario-" + re.sub(r"[^A-Za-z0-9_-]+", "-", scenario)


def _href(name: str) -> str:
    return escape(quote(name))


def _page(tables, figure_links, config_links, sources) -> str:
    nav = "".join(
        f'<li><a href="#{_anchor(t.scenario)}">{escape(t.scenario)}</a></li>' for t in tables
    )
    sections = "\n".join(_section(t, figure_links.get(t.scenario, []), config_links) for t in tables)
    built_from = ", ".join(f"<code>{escape(str(source))}</code>" for source in sources)
    n_runs = sum(len(row.runs) for t in tables for row in t.rows) + sum(e.runs for t in tables for e in t.not_run)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ssibench leaderboard</title>
<link rel="stylesheet" href="assets/leaderboard.css">
<script src="assets/sort.js" defer></script>
</head>
<body>
<header>
<h1>Leaderboard</h1>
<p>{n_runs} runs from {built_from}. Click a column's header to sort by it (again to reverse).</p>
<nav><ul>{nav}</ul></nav>
</header>
<main>
{sections}
</main>
<footer>
<p>Ranked by PSNR, the best last. Mean ± standard error over seeds; the comparison with the best self-supervised (SSL)
method is a two-sided Wilcoxon signed-rank test on the per-image PSNR (averaged over seeds): tie when
p ≥ {ALPHA}.</p>
<p>{escape(RANK_FOOTNOTE)}</p>
<p>{escape(REGRET_FOOTNOTE)}</p>
<p>{escape(STABILITY_FOOTNOTE)}</p>
<p>{escape(ZERO_FILLED_FOOTNOTE)}</p>
<p>{escape(COST_FOOTNOTE)}</p>
</footer>
</body>
</html>
"""


def _section(table: Table, figures: list[str], config_links) -> str:
    columns = table.cost_columns
    name_device = len({column.device for column in columns}) > 1
    headers = [("#", "number"), ("Method", "text")]
    headers += [(name, "number") for name in table.metric_names]
    headers += [("seeds", "number")]
    if table.budget is not None:
        headers += [("trial", "text"), ("hparams", "text")]
    headers += [("rank interval", "number"), ("oracle PSNR", "number"), ("regret (dB)", "number")]
    headers += [("stability (dB)", "number"), ("vs best SSL", "text")]
    headers += [(column.header(name_device), "number") for column in columns]
    headers += [("configs", "text")]
    initial = ' aria-sort="ascending"'  # the rows start in rank order
    head = "".join(
        f'<th scope="col" data-type="{kind}"{initial if i == 0 else ""}>{escape(title)}</th>'
        for i, (title, kind) in enumerate(headers)
    )
    body = "\n".join(
        _row(rank, row, table, columns, config_links[table.scenario, row.loss])
        for rank, row in enumerate(table.rows, start=1)
    )
    parts = [
        f'<section class="scenario" id="{_anchor(table.scenario)}" data-scenario="{escape(table.scenario)}">',
        f"<h2>Scenario <code>{escape(table.scenario)}</code> ({', '.join(map(escape, table.datasets))})</h2>",
        f'<p class="selection" data-rule="{escape(table.rule)}">{escape(selection_line(table.rule, table.budget))}</p>',
    ]
    if table.rows:
        parts.append(
            f'<div class="table-wrap"><table class="leaderboard sortable" data-scenario="{escape(table.scenario)}">'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
        )
    else:
        parts.append("<p>No run of this scenario has metrics to rank.</p>")
    if table.not_run:
        items = "".join(
            f'<li><span class="label">{escape(entry.label)}</span>: '
            f'<span class="status">{escape(table.status_of(entry))}</span>'
            f' — <span class="reason">{escape(entry.reason)}</span></li>'
            for entry in table.not_run
        )
        parts.append(f'<h3>Not ranked</h3>\n<ul class="not-ranked">{items}</ul>')
    if figures:
        images = "".join(
            f'<figure><img src="{_href(name)}" alt="{escape(Path(name).stem)}" loading="lazy">'
            f"<figcaption>{escape(Path(name).name)}</figcaption></figure>"
            for name in figures
        )
        parts.append(f'<div class="figures">{images}</div>')
    parts.append("</section>")
    return "\n".join(parts)


def _row(rank: int, row: Row, table: Table, columns, configs) -> str:
    cells = [
        f'<td class="number" data-value="{rank}">{rank}</td>',
        (
            f'<td data-value="{escape(row.label)}">{escape(row.label)} <code>{escape(row.loss)}</code>'
            f' <span class="kind">{escape(row.kind)}</span></td>'
        ),
    ]
    for name in table.metric_names:
        mean = row.metrics[name][0] if name in row.metrics else None
        cells.append(_number_cell(mean, row_metric_cell(row, name)))
    cells.append(f'<td class="number" data-value="{row.n_seeds}">{row.n_seeds}</td>')
    if table.budget is not None:
        cells.append(f'<td class="trial">{escape(trial_cell(row))}</td>')
        cells.append(f'<td class="hparams">{escape(hparams_cell(row))}</td>')
    cells.append(_number_cell(row.rank_interval[0] if row.rank_interval else None, rank_interval_cell(row)))
    oracle, regret = oracle_cells(row)
    cells.append(_number_cell(row.oracle[0] if row.oracle else None, oracle))
    cells.append(_number_cell(row.regret_db[0] if row.regret_db else None, regret))
    cells.append(_number_cell(row.stability_db, stability_cell(row)))
    verdict_class = "verdict-" + re.sub(r"[^a-z]+", "-", row.verdict.lower()) if row.verdict else ""
    cells.append(f'<td class="verdict {verdict_class}">{escape(row.verdict_text())}</td>')
    for column in columns:
        cells.append(_number_cell(column.value(row.cost), column.text(row.cost, row.n_seeds)))
    links = "the runs' own zero_filled scores" if row.from_zero_filled_scores else " ".join(
        f'<a href="{_href(name)}" title="{escape(folder)}">{escape(text)}</a>'
        if name
        else f'<span title="{escape(folder)}">{escape(text)} (no config)</span>'
        for text, name, folder in configs
    )
    cells.append(f'<td class="configs">{links}</td>')
    kind_class = "kind-" + re.sub(r"[^a-z]+", "-", row.kind.lower())
    return f'<tr class="{kind_class}" data-loss="{escape(row.loss)}">{"".join(cells)}</tr>'


def _number_cell(value: float | None, text: str) -> str:
    """A numeric cell: sorted by ``value`` (empty: sorted last), showing ``text``."""
    return f'<td class="number" data-value="{"" if value is None else repr(value)}">{escape(text)}</td>'
