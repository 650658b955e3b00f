"""The leaderboard as a static site: its structure (read with an HTML parser), what it links to,
what rewriting it keeps, and its sorting in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
import yaml
from browser import headless_chromium
from selection_records import selection

from ssibench.atomic_files import FILE_MODE
from ssibench.folders import RunDir
from ssibench.leaderboard.cli import main
from ssibench.leaderboard.html_site import MANIFEST
from ssibench.results import schema as results_io

LABEL = 'Odd <script>alert("label")</script> | one\nline'  # a label that must reach the page as text
REASON = "ValueError: <img src=x onerror=alert(1)> & more"
IMAGES = np.linspace(25, 30, 12)


def _write(sweep, loss, kind, shift, seed, physics="mri", status="ok", reason=None, label=None, cost=None, hydra=False):
    ok = status == "ok"
    psnr = IMAGES + shift
    results = {
        "loss": loss, "label": label or loss.upper(), "kind": kind, "physics": physics, "dataset": "mni152",
        "seed": seed, "epochs": 1, "status": status, "reason": reason,
        "metrics": {"PSNR": {"mean": float(psnr.mean()), "std": 1.0}, "SSIM": {"mean": 0.5, "std": 0.1}} if ok else {},
        "zero_filled": {"PSNR": {"mean": 20.0, "std": 1.0}} if ok else {},
        "per_image": {"PSNR": psnr.tolist()} if ok else {},
        "n_test": len(psnr), "train_seconds": 1.0, "eval_seconds": 0.1, "device": "cpu",
        "versions": {"ssibench": "0", "deepinv": "0", "torch": "0"},
        "config": {"seed": seed, "loss": {"label": label or loss.upper()}, "physics": {"acceleration": 6}},
        "test_set": f"{seed:040x}",
    }
    results |= selection(results)
    if cost is not None:  # (device type, device, seconds per step)
        device_type, device, per_step = cost
        results["cost"] = {"device": device, "device_type": device_type, "train_seconds": 1800.0 * per_step,
                           "steps": 1800, "seconds_per_step": per_step, "peak_memory_mb": 1000.0 * per_step}
    folder = sweep / f"{loss}_{physics}_seed{seed}"
    folder.mkdir(parents=True)
    results_io.write(RunDir(folder).results, results)
    if hydra:
        RunDir(folder).hydra_config.parent.mkdir()
        # what Hydra saved of a command the run then refused (results.json records the config it ran)
        RunDir(folder).hydra_config.write_text(f"seed: {seed}\nphysics:\n  acceleration: 4\n# written by Hydra\n")
    return folder


GPU = ("cuda", "NVIDIA H200")
# mri's ranking by PSNR (best last) and its s/step: sorting by s/step must be numeric (10.5 after 2.0)
MRI_RANK = ["zero_filled", "mc", "odd", "ssdu", "sup"]
MRI_STEP = {"zero_filled": None, "mc": 10.5, "odd": 2.0, "ssdu": 0.9, "sup": 3.0}


@pytest.fixture
def sweep(tmp_path):
    sweep = tmp_path / "sweep"
    shifts = {"zero_filled": -2.0, "mc": 0.0, "odd": 0.5, "ssdu": 1.0, "sup": 3.0}
    kinds = {"zero_filled": "no-learning", "sup": "supervised"}
    for seed in (0, 1):
        for loss in MRI_RANK:
            step = MRI_STEP[loss]
            _write(sweep, loss, kinds.get(loss, "self-supervised"), shifts[loss] + 0.1 * seed, seed,
                   label=LABEL if loss == "odd" else None, cost=None if step is None else (*GPU, step),
                   hydra=loss == "mc")
    # noisy: runs on two devices, and runs that were not ranked
    _write(sweep, "mc", "self-supervised", 0.0, 0, physics="noisy", cost=(*GPU, 0.5))
    _write(sweep, "ei", "self-supervised", 1.0, 0, physics="noisy", cost=("cpu", "AMD EPYC 7B13", 4.0))
    _write(sweep, "moi", "self-supervised", 0, 0, physics="noisy", status="failed", reason=REASON)
    _write(sweep, "ssdu", "self-supervised", 0, 0, physics="noisy", status="diverged",
           reason="non-finite loss at epoch 3")
    return sweep


class Page(HTMLParser):
    """What the checks need of index.html: each scenario's table, its unranked runs, every reference."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headers: dict[str, list[str]] = {}
        self.rows: dict[str, list[str]] = {}  # scenario -> data-loss of each row, in page order
        self.cells: dict[str, list[list[str]]] = {}
        self.not_ranked: dict[str, list[str]] = {}
        self.references: list[str] = []  # every href and src
        self.ids: set[str] = set()
        self.scripts: list[dict] = []
        self.stylesheets: list[str] = []
        self._scenario = None
        self._text = None  # the text being collected (a header cell, a body cell, a list item)
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.references += [attrs[name] for name in ("href", "src") if name in attrs]
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "script":
            self.scripts.append(attrs)
        if tag == "link":
            self.stylesheets.append(attrs.get("href"))
        if tag == "section":
            self._scenario = attrs["data-scenario"]
        elif tag == "table":
            self.headers[self._scenario], self.rows[self._scenario], self.cells[self._scenario] = [], [], []
        elif tag == "tr" and "data-loss" in attrs:
            self.rows[self._scenario].append(attrs["data-loss"])
            self.cells[self._scenario].append([])
        elif tag in ("th", "td", "li"):
            self._text, self._in = [], tag
            if tag == "li" and self._scenario is not None:
                self.not_ranked.setdefault(self._scenario, [])

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag != self._in or self._text is None:
            return
        text = "".join(self._text).strip()
        if tag == "th":
            self.headers[self._scenario].append(text)
        elif tag == "td":
            self.cells[self._scenario][-1].append(text)
        elif tag == "li" and self._scenario is not None:
            self.not_ranked[self._scenario].append(text)
        self._text = self._in = None


def _build(sweep, site, *extra) -> Page:
    assert main([str(sweep), "--html", str(site), *extra]) == 0
    page = Page()
    page.feed((site / "index.html").read_text())
    return page


def test_the_site_holds_a_sortable_table_per_scenario_and_links_only_its_own_files(sweep, tmp_path, capsys):
    site = tmp_path / "site"
    page = _build(sweep, site)
    assert str(site / "index.html") in capsys.readouterr().out

    assert list(page.headers) == ["mri", "noisy"]
    assert page.headers["mri"] == [
        "#", "Method", "PSNR", "SSIM", "seeds", "rank interval", "oracle PSNR", "regret (dB)", "stability (dB)",
        "vs best SSL", "GPU-h (NVIDIA H200)", "s/step", "peak MB", "configs",
    ]
    assert page.headers["noisy"][10:] == [  # two devices: a group of columns each, every title naming its device
        "GPU-h (NVIDIA H200)", "s/step (NVIDIA H200)", "peak MB (NVIDIA H200)",
        "CPU-h (AMD EPYC 7B13)", "s/step (AMD EPYC 7B13)", "peak MB (AMD EPYC 7B13)", "configs",
    ]
    # rank order: PSNR ascending, the best last; noisy's zero-filled row from its runs' own zero_filled scores
    assert page.rows == {"mri": MRI_RANK, "noisy": ["zero_filled", "mc", "ei"]}
    mri = dict(zip(page.rows["mri"], page.cells["mri"]))
    assert [mri[loss][0] for loss in MRI_RANK] == ["1", "2", "3", "4", "5"]
    assert mri["mc"][2] == "27.55 ± 0.05" and mri["mc"][4] == "2"
    assert mri["mc"][10:13] == ["5.25", "10.5", "10500"]  # 1800 steps × 10.5 s = 5.25 GPU-h per run
    assert mri["zero_filled"][10:13] == ["—", "—", "—"]  # recorded no cost
    assert mri["mc"][6:9] == ["27.55 ± 0.05", "0.00 ± 0.00", "—"]  # oracle, regret; no metrics.csv: no stability
    assert mri["odd"][1].startswith(LABEL)  # escaped on the page, so the parser reads the label back as text
    assert mri["ssdu"][9] == "best SSL" and re.fullmatch(r"worse \(p=[0-9.e-]+\)", mri["mc"][9])  # 1 dB below on every image
    assert mri["mc"][-1] == "seed 0 seed 1"
    noisy = dict(zip(page.rows["noisy"], page.cells["noisy"]))
    assert noisy["ei"][10:16] == ["—", "—", "—", "2", "4", "4000"]  # CPU hours never averaged with GPU hours
    assert noisy["zero_filled"][2:6] == ["20.00", "—", "1", "—"] and "zero_filled scores" in noisy["zero_filled"][-1]
    assert page.not_ranked["noisy"] == [f"MOI: failed — {REASON}", "SSDU: diverged — non-finite loss at epoch 3"]
    assert "mri" not in page.not_ranked

    # only the page's own script and stylesheet; nothing from elsewhere
    assert page.scripts == [{"src": "assets/sort.js", "defer": None}]
    assert page.stylesheets == ["assets/leaderboard.css"]
    for name in ("index.html", "assets/sort.js", "assets/leaderboard.css"):
        assert not re.search(r"https?://|//[a-z]|@import|url\(", (site / name).read_text()), name
    linked = set()
    for reference in page.references:
        assert not re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|//", reference), reference  # relative, no scheme
        if reference.startswith("#"):
            assert reference[1:] in page.ids
        else:
            assert (site / unquote(reference)).is_file(), reference
            linked.add(unquote(reference))
    figures = {name for name in linked if name.startswith("assets/figures/")}
    assert figures == {"assets/figures/psnr_mri.png", "assets/figures/psnr_noisy.png"}
    assert (site / "assets/figures/psnr_mri.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # each ranked run's config: results.json's config block, even where .hydra/config.yaml says otherwise (mc)
    configs = sorted(name for name in linked if name.startswith("assets/configs/"))
    assert len(configs) == 5 * 2 + 2  # every ranked run, with or without a recorded cost
    for loss, seed in (("mc", 0), ("mc", 1), ("ssdu", 1)):
        (name,) = [name for name in configs if name.startswith(f"assets/configs/{loss}_mri_seed{seed}")]
        text = (site / name).read_text()
        assert yaml.safe_load(text) == results_io.read(RunDir(sweep / f"{loss}_mri_seed{seed}").results)["config"]
        assert "written by Hydra" not in text
    for path in site.rglob("*"):  # readable by a web server's user, as open() would have made them
        if path.is_file():
            assert path.stat().st_mode & 0o777 == FILE_MODE, path


def test_rewriting_a_site_replaces_only_its_own_files_and_a_foreign_folder_is_refused(sweep, tmp_path, capsys):
    site = tmp_path / "site"
    _build(sweep, site)
    (site / "notes.txt").write_text("mine")
    (site / "assets" / "extra.css").write_text("/* mine */")
    old_configs = {p.name for p in (site / "assets/configs").iterdir()}
    shutil.rmtree(sweep / "ei_noisy_seed0")  # a method leaves the sweep: its config goes, and its row
    page = _build(sweep, site)
    assert page.rows["noisy"] == ["zero_filled", "mc"]
    assert (site / "notes.txt").read_text() == "mine" and (site / "assets" / "extra.css").read_text() == "/* mine */"
    new_configs = {p.name for p in (site / "assets/configs").iterdir()}
    assert new_configs == {name for name in old_configs if not name.startswith("ei_noisy")} != old_configs

    # a non-empty folder that holds no site: refused before anything is written, the sweep folder included
    foreign, out = tmp_path / "foreign", tmp_path / "out"
    foreign.mkdir()
    (foreign / "index.html").write_text("someone else's page")
    capsys.readouterr()
    assert main([str(sweep), "--out", str(out), "--html", str(foreign)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "non-empty folder" in error and "new or empty folder" in error
    assert (foreign / "index.html").read_text() == "someone else's page" and not out.exists()
    # a site whose manifest points outside it deletes nothing, there or in the site
    (tmp_path / "notes-outside.txt").write_text("mine")
    (site / MANIFEST).write_text('{"files": ["../notes-outside.txt"]}')
    before = {p: p.read_bytes() for p in site.rglob("*") if p.is_file()}
    assert main([str(sweep), "--out", str(out), "--html", str(site)]) == 2
    assert "outside the site" in capsys.readouterr().err
    assert (tmp_path / "notes-outside.txt").read_text() == "mine" and not out.exists()
    assert {p: p.read_bytes() for p in site.rglob("*") if p.is_file()} == before


@pytest.mark.browser
def test_the_page_sorts_by_a_clicked_header_in_headless_chromium(sweep, tmp_path):
    from_page = tmp_path / "site"
    _build(sweep, from_page)
    driver = headless_chromium(tmp_path / "chromium-profile")
    try:
        from selenium.webdriver.common.by import By

        driver.get((from_page / "index.html").as_uri())
        table = driver.find_element(By.CSS_SELECTOR, 'table[data-scenario="mri"]')

        def order() -> list[str]:
            return [row.get_attribute("data-loss") for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

        def header(title: str):
            return table.find_element(By.XPATH, f".//th[normalize-space(text())='{title}']")

        assert order() == MRI_RANK
        by_step = sorted((loss for loss in MRI_RANK if MRI_STEP[loss] is not None), key=MRI_STEP.get)
        header("s/step").click()
        assert order() == [*by_step, "zero_filled"]  # numerically (10.5 after 3.0); no value: last
        assert header("s/step").get_attribute("aria-sort") == "ascending"
        header("s/step").click()
        assert order() == [*by_step[::-1], "zero_filled"]
        header("Method").click()
        assert order() == sorted(MRI_RANK, key=lambda loss: LABEL if loss == "odd" else loss.upper())
        header("#").click()
        assert order() == MRI_RANK
        assert header("s/step").get_attribute("aria-sort") is None
        assert driver.find_element(By.CSS_SELECTOR, 'table[data-scenario="noisy"]').is_displayed()
    finally:
        driver.quit()
