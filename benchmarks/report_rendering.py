"""Report rendering cost: time and size of every report file for a long recording.

The record is the real analysis of examples/sample.wav (whatever stages run), with its speakers,
transcript segments and sound events repeated in time to fill the requested length, and the
signal tiled to match: rendering cost depends on the number of rows and samples, not on content.
report.html's time includes encoding the listening copy it embeds (listening-copy.opus then reuses it).
``--browser`` opens the page in headless Chromium (tests/browser.py) and times loading it and playing
from its last segment.

    .venv/bin/python benchmarks/report_rendering.py [--minutes 60] [--formats html,audio] [--browser]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence_audio.intake import ANALYSIS_RATE  # noqa: E402
from evidence_audio.pipeline import Settings, analyze_with_audio  # noqa: E402
from evidence_audio.report.canonical import seal  # noqa: E402
from evidence_audio.report.formats import FORMATS, manifest, parse_names  # noqa: E402


def shifted(items: list[dict], offset: float) -> list[dict]:
    return [dict(item, start=round(item["start"] + offset, 3), end=round(item["end"] + offset, 3)) for item in items]


def repeat(record: dict, samples: np.ndarray, copies: int) -> tuple[dict, np.ndarray]:
    """The record and signal repeated `copies` times end to end."""
    span = len(samples) / ANALYSIS_RATE
    body = json.loads(json.dumps({k: v for k, v in record.items() if k != "integrity"}))
    analysis = body["analysis"]
    if "transcript" in analysis:
        segments = analysis["transcript"]["segments"]
        analysis["transcript"]["segments"] = [
            dict(s, id=n * len(segments) + s["id"], start=round(s["start"] + n * span, 3),
                 end=round(s["end"] + n * span, 3), words=shifted(s.get("words", []), n * span))
            for n in range(copies) for s in segments]
    if "speakers" in analysis:
        for key in ("turns", "overlaps"):
            analysis["speakers"][key] = [t for n in range(copies) for t in shifted(analysis["speakers"][key], n * span)]
    if "events" in analysis:
        analysis["events"]["sound_events"] = [e for n in range(copies)
                                              for e in shifted(analysis["events"]["sound_events"], n * span)]
    body["evidence"]["audio"]["analysis_samples"] = len(samples) * copies
    return seal(body), np.tile(samples, copies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--formats", default="all", help="as analyze --formats")
    parser.add_argument("--browser", action="store_true", help="open report.html in headless Chromium")
    args = parser.parse_args()
    record, samples = analyze_with_audio(ROOT / "examples" / "sample.wav", Settings())
    copies = max(1, round(args.minutes * 60 / (len(samples) / ANALYSIS_RATE)))
    record, samples = repeat(record, samples, copies)
    out = {"minutes": round(len(samples) / ANALYSIS_RATE / 60, 2), "blocks": sorted(record["analysis"]),
           "segments": len(record["analysis"].get("transcript", {}).get("segments", [])), "files": {}}
    files = {}
    for fmt in FORMATS:
        if fmt.name not in parse_names(args.formats):
            continue
        begin = time.perf_counter()
        data = fmt.render(record, samples)
        if data is not None:
            files[fmt.file_name] = data
            out["files"][fmt.file_name] = {"seconds": round(time.perf_counter() - begin, 2), "bytes": len(data)}
    out["files"][manifest.MANIFEST_NAME] = {"bytes": len(manifest.render(files))}
    if args.browser and "report.html" in files:
        out["browser"] = open_in_browser(files["report.html"])
    print(json.dumps(out, indent=1))


def open_in_browser(page: bytes) -> dict:
    """Seconds headless Chromium takes to load the page until the player knows the duration, and to
    start playing from the last transcript segment; the duration it reads."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    import browser

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.html"
        path.write_bytes(page)
        driver = browser.open_browser()
        try:
            begin = time.perf_counter()
            driver.get(browser.page_url(path))
            while not driver.execute_script("return document.getElementById('audio').readyState >= 1"):
                time.sleep(0.05)
            loaded = time.perf_counter() - begin
            begin = time.perf_counter()
            driver.execute_script("const rows = document.querySelectorAll('tr[data-start] a.t');"
                                  "rows[rows.length - 1].click()")
            while driver.execute_script("return document.getElementById('audio').readyState < 3"):
                time.sleep(0.05)
            state = driver.execute_script("const a = document.getElementById('audio');"
                                          "return [a.duration, a.currentTime, a.paused]")
            return {"load_s": round(loaded, 2), "seek_and_play_s": round(time.perf_counter() - begin, 2),
                    "duration_s": state[0], "playing_at_s": state[1], "paused": state[2]}
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
