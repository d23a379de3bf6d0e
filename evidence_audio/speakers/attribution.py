"""Which speaker said each transcript word: the diarization turn it overlaps most.

A word that overlaps no turn at all (diarization and transcription disagree on where speech
is) goes to the nearest turn in time. A word is flagged ``overlap`` when any part of it falls
where two or more speakers talk at once: its speaker is then the likeliest, not a certainty.
A segment's speaker is the one holding most of its words' time.
"""

from __future__ import annotations

import copy

import numpy as np

from ..report.blocks import SpeakersBlock, TranscriptBlock


def attribute_words(transcript: TranscriptBlock, speakers: SpeakersBlock) -> TranscriptBlock:
    """A copy of the report's transcript block with ``speaker`` on every segment and word."""
    turns = speakers["turns"]
    if not turns:
        return transcript
    starts = np.array([t["start"] for t in turns], dtype=float)
    ends = np.array([t["end"] for t in turns], dtype=float)
    labels = [t["speaker"] for t in turns]
    overlap_regions = [(o["start"], o["end"]) for o in speakers.get("overlaps", [])]

    attributed = copy.deepcopy(transcript)
    for segment in attributed["segments"]:
        time_by_speaker: dict[str, float] = {}
        for word in segment.get("words", []):
            speaker, shared = speaker_of(word["start"], word["end"], starts, ends, labels)
            word["speaker"] = speaker
            word["overlap"] = _touches(word["start"], word["end"], overlap_regions)
            time_by_speaker[speaker] = time_by_speaker.get(speaker, 0.0) + max(shared, 1e-6)
        if time_by_speaker:
            segment["speaker"] = max(sorted(time_by_speaker), key=time_by_speaker.__getitem__)
        else:
            segment["speaker"] = speaker_of(segment["start"], segment["end"], starts, ends, labels)[0]
    return attributed


def speaker_of(start: float, end: float, starts: np.ndarray, ends: np.ndarray, labels: list[str]) -> tuple[str, float]:
    """The speaker whose turns overlap [start, end] the most, and for how long; else the nearest."""
    shared = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0.0, None)
    if shared.max() > 0:
        by_speaker: dict[str, float] = {}
        for i in np.flatnonzero(shared):
            by_speaker[labels[i]] = by_speaker.get(labels[i], 0.0) + float(shared[i])
        best = max(sorted(by_speaker), key=by_speaker.__getitem__)
        return best, by_speaker[best]
    gap = np.maximum(starts - end, start - ends)
    return labels[int(np.argmin(gap))], 0.0


def _touches(start: float, end: float, regions: list[tuple[float, float]]) -> bool:
    return any(min(end, r_end) > max(start, r_start) for r_start, r_end in regions)
