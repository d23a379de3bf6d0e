"""What a transcription produced: plain dataclasses, rendered into the report record."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..report.canonical import score, seconds


@dataclass
class Word:
    start: float
    end: float
    text: str
    probability: float

    def to_record(self) -> dict:
        return {"start": seconds(self.start), "end": seconds(self.end), "text": self.text,
                "probability": score(self.probability)}


@dataclass
class Segment:
    start: float
    end: float
    text: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    words: list[Word]
    id: int = 0
    suspect_reasons: list[str] = field(default_factory=list)
    translation: str | None = None

    def shifted(self, offset: float) -> Segment:
        """The same segment with its times (and its words') moved by ``offset`` seconds."""
        words = [replace(w, start=w.start + offset, end=w.end + offset) for w in self.words]
        return replace(self, start=self.start + offset, end=self.end + offset, words=words)

    def to_record(self) -> dict:
        record = {
            "id": self.id,
            "start": seconds(self.start),
            "end": seconds(self.end),
            "text": self.text,
            "avg_logprob": score(self.avg_logprob),
            "no_speech_prob": score(self.no_speech_prob),
            "compression_ratio": score(self.compression_ratio),
            "temperature": score(self.temperature),
            "suspect": bool(self.suspect_reasons),
            "suspect_reasons": list(self.suspect_reasons),
            "words": [w.to_record() for w in self.words],
        }
        if self.translation is not None:
            record["translation"] = self.translation
        return record


@dataclass
class LanguageGuess:
    """The language decoded in, and what the model's language identification said."""

    code: str
    probability: float
    forced: bool
    top: list[tuple[str, float]]

    def to_record(self) -> dict:
        return {"code": self.code, "probability": score(self.probability), "forced": self.forced,
                "top": [{"code": c, "probability": score(p)} for c, p in self.top[:3]]}


@dataclass
class Transcript:
    engine: str
    model: str
    language: LanguageGuess
    decoding: dict
    vad: dict
    suspect_thresholds: dict
    speech_regions: list[tuple[float, float]]
    segments: list[Segment]

    def to_record(self) -> dict:
        return {
            "engine": self.engine,
            "model": self.model,
            "task": "transcribe",
            "language": self.language.to_record(),
            "decoding": self.decoding,
            "vad": self.vad,
            "suspect_thresholds": self.suspect_thresholds,
            "speech_regions": [{"start": seconds(s), "end": seconds(e)} for s, e in self.speech_regions],
            "segments": [s.to_record() for s in self.segments],
        }
