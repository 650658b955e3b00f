"""Debian's headless Chromium, driven through its chromedriver, for the tests that open a page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")  # Debian's chromium, chromium-driver
REQUIRE_BROWSER = os.environ.get("SSIBENCH_REQUIRE_BROWSER") == "1"  # set by .ci/run: no skipping there


def headless_chromium(profile: Path):
    """A headless Chromium driven through Debian's chromedriver; skipped (failed in CI) without one."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if missing:
        message = f"no browser for the page: missing {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if REQUIRE_BROWSER:
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}"):
        options.add_argument(argument)
    # the driver's explicit path: selenium then neither looks for nor downloads one
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
