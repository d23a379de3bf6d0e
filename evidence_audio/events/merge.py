"""Frame scores to timed events: runs of windows at or above a class threshold become one event.

A window counts for one class only: the one whose score is furthest above its threshold (relative
to the threshold), so a scream in noise is not also reported as a cry at the same moment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_GAP_S = 1.0  # windows closer than this (after the previous one ends) join one event


@dataclass(frozen=True)
class SoundEvent:
    label: str
    start: float
    end: float
    score: float  # highest window score inside the event


def merge_frames(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray,
                 classes: tuple[str, ...], thresholds: dict[str, float]) -> list[SoundEvent]:
    """Events per class from window scores (n_windows, n_classes), sorted by start then class."""
    ratio = scores / np.array([thresholds[label] for label in classes])
    best = ratio.argmax(axis=1) if len(ratio) else np.zeros(0, dtype=int)
    events = []
    for k, label in enumerate(classes):
        above = np.flatnonzero((ratio[:, k] >= 1.0) & (best == k))
        run: list[int] = []
        for i in above:
            if run and starts[i] > ends[run[-1]] + MAX_GAP_S:
                events.append(_event(label, run, starts, ends, scores[:, k]))
                run = []
            run.append(int(i))
        if run:
            events.append(_event(label, run, starts, ends, scores[:, k]))
    return sorted(events, key=lambda e: (e.start, e.end, e.label))


def _event(label: str, run: list[int], starts: np.ndarray, ends: np.ndarray, score: np.ndarray) -> SoundEvent:
    return SoundEvent(label, float(starts[run[0]]), float(ends[run[-1]]), float(score[run].max()))
