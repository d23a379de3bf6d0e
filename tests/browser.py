"""Headless Chromium for the tests and the README screenshots: Debian's chromium and chromium-driver,
driven by selenium, with nothing downloaded (selenium's own driver manager is never asked)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver", "chromium-driver")
INSTALL_HINT = "install Debian's chromium and chromium-driver (./install.sh does) and selenium (pip, test extra)"


def missing() -> str | None:
    """Why no browser can be driven here, or None when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return f"selenium is not installed; {INSTALL_HINT}"
    if not any(shutil.which(name) for name in CHROMIUM) or not any(shutil.which(name) for name in DRIVER):
        return f"no Chromium and chromedriver on PATH; {INSTALL_HINT}"
    return None


def open_browser(javascript: bool = True, width: int = 1280, height: int = 900):
    """A headless Chromium (selenium WebDriver) that plays media without a user gesture and logs
    every network request (read them with :func:`requested_urls`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = next(shutil.which(n) for n in CHROMIUM if shutil.which(n))
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                     "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
                     "--disable-background-networking", "--disable-component-update", "--no-first-run",
                     "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    service = Service(next(shutil.which(n) for n in DRIVER if shutil.which(n)))
    return webdriver.Chrome(service=service, options=options)


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for since the last call (Chrome DevTools Network.requestWillBeSent)."""
    messages = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
    return [m["params"]["request"]["url"] for m in messages if m.get("method") == "Network.requestWillBeSent"]


def page_url(path: Path) -> str:
    return Path(path).resolve().as_uri()
