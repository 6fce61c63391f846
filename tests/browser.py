"""Headless Debian chromium driven by selenium, for tests that judge a page as a
person sees it: laid out, at a phone's or a desktop's width, and screenshotted.

.ci/run installs `chromium` and `chromium-driver`; without them these tests skip.
No download ever happens: the driver is Debian's /usr/bin/chromedriver.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Debian chromium and chromium-driver not installed (.ci/run installs them)",
)

# A phone (iPhone 12-14 CSS width) and a laptop.
PHONE = (390, 844)
DESKTOP = (1280, 900)


@contextmanager
def chrome(width: int = DESKTOP[0], height: int = DESKTOP[1]) -> Iterator["object"]:
    """A headless chromium window of `width`×`height` CSS pixels (selenium WebDriver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chromium-test-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No background networking: this machine reaches only 127.0.0.1, and
    # chromium would otherwise keep trying to reach Google's hosts.
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
        f"--window-size={width},{height}", "--force-device-scale-factor=1",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        # --window-size sets the outer window; make the viewport itself the size asked.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
        )
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver, path: Path) -> Path:
    """Save what the window shows as PNG, and check it is a real picture, not a blank page."""
    driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    assert len(data) > 10_000, f"{path} looks blank ({len(data)} bytes)"
    return path


def box(driver, css: str) -> dict:
    """The bounding box of the first element matching `css`, in page coordinates (CSS px)."""
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); if (!e) return null;"
        "const r = e.getBoundingClientRect();"
        "return {top: r.top + window.scrollY, left: r.left + window.scrollX, width: r.width, height: r.height,"
        " bottom: r.bottom + window.scrollY, right: r.right + window.scrollX};",
        css,
    )
    assert found is not None, f"no element matches {css!r}"
    return found


def page_width(driver) -> int:
    """The width of the page's content: wider than the window means sideways scrolling."""
    return driver.execute_script("return document.documentElement.scrollWidth")
