"""diarization.rttm: the speaker turns in NIST RTTM, as pyannote.core writes it."""

from __future__ import annotations

import re
from pathlib import PurePath

from pyannote.core import Annotation, Segment

from ...escaping import printable
from .view import analysis


def uri(record: dict) -> str:
    """The RTTM file id: the recording's name without extension, control characters escaped and white space
    replaced (RTTM is space separated)."""
    stem = PurePath(printable((record.get("evidence") or {}).get("file_name") or "recording")).stem
    return re.sub(r"\s+", "_", stem) or "recording"


def annotation(record: dict) -> Annotation:
    turns = Annotation(uri=uri(record))
    for track, turn in enumerate(analysis(record, "speakers").get("turns") or []):
        if turn["end"] > turn["start"]:
            turns[Segment(turn["start"], turn["end"]), track] = re.sub(r"\s+", "_", str(turn["speaker"]))
    return turns


def render(record: dict, samples=None) -> bytes:
    return annotation(record).to_rttm().encode("utf-8")
