"""The analysis blocks of a report record as TypedDicts, mirroring report/schema.json.

A stage returns one of these, the pipeline joins them, and the code that reads them (attribution,
redaction, the human-readable view) is typed by them, so a misspelled key is a type error rather
than a silent ``.get()`` miss. ``tests/test_blocks.py`` checks that every class names exactly the
properties of its schema object, and that the keys a class requires are those the schema requires.
Each class holds the required keys; its ``...Optional`` base (``total=False``) the optional ones.
Times are seconds (rounded to 1 ms), scores and probabilities 0-1 (rounded to 4 decimals).
"""

from __future__ import annotations

from typing import TypedDict


class _WordOptional(TypedDict, total=False):
    speaker: str | None  # after attribution
    overlap: bool  # any part of the word where two or more speakers talk


class Word(_WordOptional):
    start: float
    end: float
    text: str
    probability: float


class RemovedWord(TypedDict):
    start: float
    end: float
    text: str
    probability: float
    reason: str


class _SegmentOptional(TypedDict, total=False):
    translation: str
    speaker: str | None
    translation_suspect: bool
    translation_suspect_reasons: list[str]
    language: str | None
    language_probability: float | None
    decoded_alone: bool
    repetition_fallback: bool
    removed_words: list[RemovedWord]


class Segment(_SegmentOptional):
    # keys in the order report.json shows them (sorted)
    avg_logprob: float
    compression_ratio: float
    end: float
    id: int
    no_speech_prob: float
    start: float
    suspect: bool
    suspect_reasons: list[str]
    temperature: float
    text: str
    words: list[Word]


class _TranscriptOptional(TypedDict, total=False):
    languages: list[dict]
    language_spans: list[dict]
    untranscribed_speech: list[dict]


class TranscriptBlock(_TranscriptOptional):
    """``analysis.transcript``."""

    engine: str
    model: str
    task: str
    language: dict
    decoding: dict
    vad: dict
    suspect_thresholds: dict
    speech_regions: list[dict]
    segments: list[Segment]


class Turn(TypedDict):
    start: float
    end: float
    speaker: str


class Overlap(TypedDict):
    start: float
    end: float
    speakers: list[str]


class Reassigned(TypedDict):
    """A raised-voice turn given to the calm speaker it most resembles (``speakers.diarize.STRAIN``)."""

    start: float
    end: float
    to: str
    distance: float
    level_difference_db: float


class _SpeakersOptional(TypedDict, total=False):
    reassigned: list[Reassigned]


class SpeakersBlock(_SpeakersOptional):
    """``analysis.speakers``."""

    engine: str
    pipeline: str
    settings: dict
    labels: list[str]
    turns: list[Turn]
    overlaps: list[Overlap]
    talk_time_s: dict[str, float]


# "class" is a Python keyword, hence the functional form
SoundEvent = TypedDict("SoundEvent", {"class": str, "start": float, "end": float, "score": float, "model": str})


class TranscriptCue(TypedDict):
    category: str
    language: str
    phrase: str
    text: str
    start: float
    end: float
    speaker: str | None
    segment_id: int


class EventsBlock(TypedDict):
    """``analysis.events``."""

    model: str
    encoder: str
    classes: list[str]
    not_detected: list[str]
    thresholds: dict[str, float]
    window_s: float
    hop_s: float
    sound_events: list[SoundEvent]
    transcript_cues: list[TranscriptCue]


class _AuthenticityOptional(TypedDict, total=False):
    content_credentials: dict


class AuthenticityBlock(_AuthenticityOptional):
    """``analysis.authenticity``: each indicator's own object is described in docs/record.md."""

    statement: str
    metadata: dict
    discontinuities: dict
    enf: dict


class Analysis(TypedDict, total=False):
    """``analysis``: the blocks of the stages that ran."""

    transcript: TranscriptBlock
    speakers: SpeakersBlock
    events: EventsBlock
    authenticity: AuthenticityBlock
