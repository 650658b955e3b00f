"""The documentation site builds with Sphinx, offline, warnings as errors, with a page per loss
choice, and opens in a browser."""

from __future__ import annotations

import subprocess
import sys

import pytest
from browser import headless_chromium
from conftest import LOSSES, ROOT


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"), str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"the docs do not build:\n{proc.stderr[-5000:]}"
    return out


def test_every_loss_choice_has_its_page_with_its_config_and_shipped_rows(site):
    pages = site / "generated" / "losses"
    assert sorted(p.stem for p in pages.glob("*.html") if p.stem != "index") == LOSSES
    mo_ei = (pages / "mo_ei.html").read_text()
    assert "loss=mo_ei" in mo_ei and "conf/loss/mo_ei.yaml" in mo_ei and "CPABDiffeomorphism" in mo_ei
    assert "In the shipped leaderboard" in mo_ei and "multicoil" in mo_ei
    adversarial = (pages / "adversarial.html").read_text()
    assert "Cole et al." in adversarial and "SkipConvDiscriminator" in adversarial  # the class's docstring


def test_the_reference_is_made_from_the_code(site):
    cli = (site / "generated" / "cli.html").read_text()
    assert all(f"ssibench {name}" in cli for name in ("leaderboard", "prepare", "doctor", "bench"))
    assert "n_test" in (site / "generated" / "results_schema.html").read_text()
    assert "ssibench.run.run" in (site / "api.html").read_text()
    assert (site / "searchindex.js").stat().st_size > 1000


@pytest.mark.browser
def test_the_site_opens_in_a_browser(site, tmp_path):
    driver = headless_chromium(tmp_path / "chromium-profile")
    try:
        driver.get((site / "index.html").as_uri())
        assert driver.title.startswith("ssibench")
        driver.find_element("link text", "Loss choices").click()
        assert "Loss choices" in driver.title
        assert len(driver.find_elements("css selector", ".toctree-l1")) >= len(LOSSES)
    finally:
        driver.quit()
