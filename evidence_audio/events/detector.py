"""Distress sound events of a recording, and the report's `events` block."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import models
from ..intake import check_analysis_rate
from ..models import ModelUse
from ..report.blocks import EventsBlock
from ..values import score, seconds
from . import classifier, frames
from .cues import find_cues
from .merge import SoundEvent, merge_frames

CLASSIFIER_MODEL = "distress-classifier"


class DistressDetector:
    """The encoder and the classifier, loaded once, for any number of recordings."""

    def __init__(self, threads: int = 1):
        self.classifier_use: ModelUse = models.require(CLASSIFIER_MODEL)
        self.classifier = classifier.load(self.classifier_use.path)
        self.encoder_use: ModelUse = models.require(self.classifier.encoder)
        self.encoder = frames.WhisperEncoder(self.encoder_use.path, threads=threads)

    @property
    def model_uses(self) -> list[ModelUse]:
        return [self.encoder_use, self.classifier_use]

    def window_scores(self, samples: np.ndarray) -> tuple[frames.Frames, np.ndarray]:
        pooled = frames.embed(self.encoder, samples)
        return pooled, self.classifier.scores(pooled.vectors.astype(np.float64), pooled.level_db)

    def detect(self, samples: np.ndarray) -> list[SoundEvent]:
        """Scream, shout and cry events of a recording.

        Parameters
        ----------
        samples : numpy.ndarray
            float32, shape (n,), mono, 16000 Hz.

        Returns
        -------
        list of SoundEvent
            (label, start s, end s, score 0-1: the highest window score inside the event), where runs
            of 1 s windows (0.5 s hop) score at or above the class's threshold.
        """
        pooled, scores = self.window_scores(samples)
        return merge_frames(pooled.starts, pooled.ends, scores, self.classifier.classes,
                            self.classifier.thresholds, self.classifier.smoothing)


def events_block(detector: DistressDetector, samples: np.ndarray, transcript: dict | None) -> dict:
    """The report's `analysis.events`: sound events and transcript cues, nothing else touched."""
    return {
        "model": CLASSIFIER_MODEL,
        "encoder": detector.classifier.encoder,
        "classes": list(detector.classifier.classes),
        "not_detected": ["impact"],
        "thresholds": {k: score(v) for k, v in sorted(detector.classifier.thresholds.items())},
        "window_s": frames.WINDOW_S,
        "hop_s": frames.HOP_S,
        "sound_events": [
            {"class": e.label, "start": seconds(e.start), "end": seconds(e.end), "score": score(e.score),
             "model": CLASSIFIER_MODEL}
            for e in detector.detect(samples)
        ],
        "transcript_cues": find_cues(transcript) if transcript else [],
    }


@dataclass(frozen=True)
class EventOptions:
    """What the events stage is asked for: the classes, thresholds and windows are the classifier's own."""

    threads: int = 1  # CPU threads of the Whisper encoder

    def load(self) -> DistressDetector:
        return DistressDetector(self.threads)


def events_stage(samples: np.ndarray, sample_rate: int, options: EventOptions = EventOptions(), *,
                 loaded: DistressDetector | None = None) -> tuple[EventsBlock, list[ModelUse]]:
    """The events stage: the report's ``analysis.events`` block (its sound events) and the models used.

    Parameters
    ----------
    samples, sample_rate : numpy.ndarray, int
        The analysis signal (float32, shape (n,), mono) and its rate, which must be 16000 Hz.
    options : EventOptions
        The encoder's thread count.
    loaded : DistressDetector, optional
        The detector ``options.load()`` gave a caller that keeps it between recordings (default: loaded here).

    Returns
    -------
    block : dict
        ``analysis.events`` with ``sound_events`` (times in seconds, scores rounded to 4 decimals) and an
        empty ``transcript_cues``: cues are read from the transcript block, which the pipeline adds
        (``cues.find_cues``).
    models_used : list of models.ModelUse
        The Whisper encoder and the distress classifier, with their file hashes.

    Raises
    ------
    ValueError
        ``sample_rate`` is not 16000.
    ModelError
        A model is missing or does not match the manifest (exit 6).
    """
    check_analysis_rate(sample_rate, "events")
    detector = loaded or options.load()
    return events_block(detector, samples, None), list(detector.model_uses)
