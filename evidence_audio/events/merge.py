"""Frame scores to timed events, smoothed over time so that one scream is one event.

Hysteresis per class: a window whose score reaches the class threshold (the "on" threshold) starts
an event; the event extends over the neighbouring windows while the class score stays at or above
`off_ratio` x that threshold; events of one class whose gap is at most `merge_gap_s` join; events
shorter than `min_event_s` are dropped (a recording shorter than that can still hold one event).
A window starts an event for one class only: the one whose score is furthest above its threshold
(relative to the threshold), and an event does not extend over a window that started another
class's event, so a scream in noise is not also reported as a cry at the same moment."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Smoothing:
    """How window scores become events. The defaults are the plain rule (no hysteresis, no minimum
    duration, 1 s merge gap) of classifier files that state no smoothing."""

    off_ratio: float = 1.0  # an event continues while score >= off_ratio * threshold (<= 1)
    min_event_s: float = 0.0  # shorter events are dropped
    merge_gap_s: float = 1.0  # events of one class at most this far apart (seconds) join

    def to_json(self) -> dict:
        return {"off_ratio": self.off_ratio, "min_event_s": self.min_event_s, "merge_gap_s": self.merge_gap_s}


@dataclass(frozen=True)
class SoundEvent:
    label: str
    start: float
    end: float
    score: float  # highest window score inside the event


def merge_frames(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, classes: tuple[str, ...],
                 thresholds: dict[str, float], smoothing: Smoothing = Smoothing()) -> list[SoundEvent]:
    """Events per class from window scores (n_windows, n_classes; window i covers
    [starts[i], ends[i]) seconds), sorted by start then class."""
    if not len(scores):
        return []
    ratio = scores / np.array([thresholds[label] for label in classes])
    best = ratio.argmax(axis=1)
    seeded = (ratio.max(axis=1) >= 1.0)
    shortest = min(smoothing.min_event_s, float(ends[-1] - starts[0]))
    events = []
    for k, label in enumerate(classes):
        seed = seeded & (best == k)
        active = seed | ((ratio[:, k] >= smoothing.off_ratio) & ~seeded)
        runs = [run for run in _runs(active) if seed[run[0]:run[1]].any()]
        joined: list[list[int]] = []
        for a, b in runs:
            if joined and starts[a] - ends[joined[-1][1] - 1] <= smoothing.merge_gap_s:
                joined[-1][1] = b
            else:
                joined.append([a, b])
        for a, b in joined:
            if ends[b - 1] - starts[a] >= shortest:
                events.append(SoundEvent(label, float(starts[a]), float(ends[b - 1]), float(scores[a:b, k][active[a:b]].max())))
    return sorted(events, key=lambda e: (e.start, e.end, e.label))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[a, b) index ranges of the consecutive True stretches of mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
