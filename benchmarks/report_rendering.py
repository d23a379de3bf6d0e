"""Report rendering cost: time and size of every report file for a long recording.

The record is the real analysis of examples/sample.wav (whatever stages run), with its speakers,
transcript segments and sound events repeated in time to fill the requested length, and the
signal tiled to match: rendering cost depends on the number of rows and samples, not on content.

    .venv/bin/python benchmarks/report_rendering.py [--minutes 60]
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

from evidence_audio.pipeline import Settings, analyze_with_audio  # noqa: E402
from evidence_audio.report.canonical import seal  # noqa: E402
from evidence_audio.report.formats import FORMATS, manifest  # noqa: E402


def shifted(items: list[dict], offset: float) -> list[dict]:
    return [dict(item, start=round(item["start"] + offset, 3), end=round(item["end"] + offset, 3)) for item in items]


def repeat(record: dict, samples: np.ndarray, copies: int) -> tuple[dict, np.ndarray]:
    """The record and signal repeated `copies` times end to end."""
    span = len(samples) / 16000
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
    args = parser.parse_args()
    record, samples = analyze_with_audio(ROOT / "examples" / "sample.wav", Settings())
    copies = max(1, round(args.minutes * 60 / (len(samples) / 16000)))
    record, samples = repeat(record, samples, copies)
    out = {"minutes": round(len(samples) / 16000 / 60, 2), "blocks": sorted(record["analysis"]),
           "segments": len(record["analysis"].get("transcript", {}).get("segments", [])), "files": {}}
    files = {}
    for fmt in FORMATS:
        begin = time.perf_counter()
        files[fmt.file_name] = fmt.render(record, samples)
        out["files"][fmt.file_name] = {"seconds": round(time.perf_counter() - begin, 2), "bytes": len(files[fmt.file_name])}
    out["files"][manifest.MANIFEST_NAME] = {"bytes": len(manifest.render(files))}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
