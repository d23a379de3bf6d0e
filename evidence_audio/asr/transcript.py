"""What a transcription produced: plain dataclasses, rendered into the report record."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..values import score, seconds


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
    translation_suspect_reasons: list[str] = field(default_factory=list)
    language: str | None = None  # the language it was decoded in
    language_probability: float | None = None  # the model's probability for it on the segment's speech region
    removed_words: list[tuple[Word, str]] = field(default_factory=list)  # (word, reason) taken out
    decoded_alone: bool = False  # found when an untranscribed stretch was decoded again on its own
    repetition_fallback: bool = False  # decoded again with the compression-ratio fallback (its text was too fast)

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
        record["language"] = self.language
        record["language_probability"] = None if self.language_probability is None else score(self.language_probability)
        record["removed_words"] = [w.to_record() | {"reason": reason} for w, reason in self.removed_words]
        record["decoded_alone"] = self.decoded_alone
        record["repetition_fallback"] = self.repetition_fallback
        if self.translation is not None:
            record["translation"] = self.translation
            record["translation_suspect"] = bool(self.translation_suspect_reasons)
            record["translation_suspect_reasons"] = list(self.translation_suspect_reasons)
        return record


@dataclass
class LanguageGuess:
    """The recording's main language (most speech time) and the model's probabilities averaged over
    its speech (weighted by duration); ``code`` None when there was no speech to identify it on."""

    code: str | None
    probability: float | None
    forced: bool
    top: list[tuple[str, float]]
    candidates: list[str] | None = None  # --languages: identification restricted to these

    def to_record(self) -> dict:
        return {"code": self.code, "probability": score(self.probability), "forced": self.forced,
                "top": [{"code": c, "probability": score(p)} for c, p in self.top[:3]],
                "candidates": self.candidates,
                "note": "not identified (no speech)" if self.code is None else None}


@dataclass
class LanguageSpan:
    """A stretch of speech (a speech region, or a <= 30 s window of a long one) and its language."""

    start: float
    end: float
    code: str
    probability: float | None  # None when forced without identification
    ranked: list[tuple[str, float]]  # every (candidate) language, most likely first


@dataclass
class Untranscribed:
    """Speech (by voice activity detection) that no transcribed word covers."""

    start: float
    end: float
    language: str | None
    reason: str
    text: str | None = None  # the doubtful text decoding it alone gave, not taken into the transcript

    def to_record(self) -> dict:
        return {"start": seconds(self.start), "end": seconds(self.end), "language": self.language,
                "reason": self.reason, "text": self.text}


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
    language_spans: list[LanguageSpan] = field(default_factory=list)
    untranscribed: list[Untranscribed] = field(default_factory=list)

    def languages(self) -> list[dict]:
        """Each language segments were decoded in, with their time and count, most time first."""
        talk: dict[str, float] = {}
        for segment in self.segments:
            if segment.language:
                talk[segment.language] = talk.get(segment.language, 0.0) + segment.end - segment.start
        return [{"code": code, "talk_time_s": seconds(t),
                 "segments": sum(s.language == code for s in self.segments)}
                for code, t in sorted(talk.items(), key=lambda item: (-item[1], item[0]))]

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
            "languages": self.languages(),
            "language_spans": [{"start": seconds(s.start), "end": seconds(s.end), "code": s.code,
                                "probability": None if s.probability is None else score(s.probability)}
                               for s in self.language_spans],
            "untranscribed_speech": [u.to_record() for u in self.untranscribed],
        }
