"""Triage of many recordings with the models loaded once: one JSON line per sound event."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import EvidenceError
from ..escaping import lossless
from ..intake import decode_file
from ..values import score, seconds
from .detector import CLASSIFIER_MODEL, DistressDetector


def triage(paths: Iterable[Path], emit: Callable[[str], None], warn: Callable[[str], None]) -> int:
    """Emit each event of each recording, then warn one summary line per recording
    ("<path>: analysed, N events", 0 included), so nothing found differs from skipped; a recording
    that cannot be read is reported ("<path>: skipped: <why>") and skipped.
    Returns the exit code: 0, or that of the last recording that failed."""
    detector = DistressDetector()
    status = 0
    for path in paths:
        try:
            samples = decode_file(path).samples
        except EvidenceError as exc:
            warn(f"evidence-audio: {path}: skipped: {exc}")
            status = exc.exit_code
            continue
        found = detector.detect(samples)
        for event in found:
            emit(json.dumps({"file": lossless(str(path)), "class": event.label, "start": seconds(event.start),
                             "end": seconds(event.end), "score": score(event.score),
                             "model": CLASSIFIER_MODEL}, ensure_ascii=False))
        warn(f"evidence-audio: {path}: analysed, {len(found)} event{'' if len(found) == 1 else 's'}")
    return status
