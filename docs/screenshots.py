"""Remake the README's screenshots of report.html with the same headless Chromium the tests use.

Analyses a recording (default examples/sample.wav, two speakers), writes its report folder to a
temporary folder, opens report.html, plays from a word in the transcript, pauses, and saves
docs/report-player.png (the player, the timeline and the transcript, the segment and word playing
highlighted).

    .venv/bin/python docs/screenshots.py [RECORDING]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import browser  # noqa: E402
from evidence_audio.pipeline import Settings, analyze_with_audio, write_report  # noqa: E402

OUT = ROOT / "docs" / "report-player.png"


def main() -> None:
    recording = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "examples" / "sample.wav"
    if browser.missing():
        sys.exit(f"screenshots: {browser.missing()}")
    record, samples = analyze_with_audio(recording, Settings())
    with tempfile.TemporaryDirectory() as folder:
        page = write_report(record, Path(folder) / "report", samples=samples, formats=("html",)) / "report.html"
        driver = browser.open_browser(width=1280, height=1240)
        try:
            driver.get(browser.page_url(page))
            while not driver.execute_script("return document.getElementById('audio').readyState >= 1"):
                time.sleep(0.05)
            # play from a word a few segments in, then stop there so the highlight stays
            driver.execute_script("const words = document.querySelectorAll('.w[data-t]');"
                                  "words[Math.min(words.length - 1, Math.floor(words.length / 3))].click()")
            time.sleep(1.5)
            driver.execute_script("document.getElementById('audio').pause();"
                                  "const player = document.getElementById('player').offsetHeight;"
                                  "window.scrollTo(0, document.getElementById('timeline').offsetTop - player - 8)")
            time.sleep(0.3)
            driver.save_screenshot(str(OUT))
        finally:
            driver.quit()
    print(f"written: {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
