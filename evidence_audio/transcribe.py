"""The transcription stage: voice activity, language, Whisper decoding, translation, doubt."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .asr import suspect
from .asr.decoding import DECODING, Decoding
from .asr.transcript import LanguageGuess, Segment, Transcript
from .asr.vad import VAD, SAMPLE_RATE, VadOptions, speech_regions
from .errors import EvidenceError

Progress = Callable[[float, float], None]  # (seconds done, seconds in all)
Clip = tuple[float, float]

# Audio handed to an engine at once. Both engines compute the log-mel spectrogram of all they are
# given (about 2.5 GB of working memory per hour), so a long recording goes in pieces of at most
# this much speech, cut between speech regions; a shorter recording goes whole.
PIECE_S = 600.0
PIECE_MARGIN_S = 1.0  # audio kept around a piece's clips, so the spectrogram's edges fall outside them


def pieces(clips: list[Clip], duration: float, limit: float = PIECE_S) -> list[tuple[float, float, list[Clip]]]:
    """(piece start, piece end, its clips relative to the start): the recording's clips in stretches
    of at most ``limit`` seconds (plus margins); a single clip longer than that is cut at the limit."""
    if duration <= limit:
        return [(0.0, duration, list(clips))]
    cut: list[Clip] = []
    for start, end in clips:
        while end - start > limit:
            cut.append((start, start + limit))
            start += limit
        cut.append((start, end))
    groups: list[list[Clip]] = []
    for clip in cut:
        if groups and clip[1] - groups[-1][0][0] <= limit:
            groups[-1].append(clip)
        else:
            groups.append([clip])
    found = []
    for group in groups:
        start = np.floor(max(0.0, group[0][0] - PIECE_MARGIN_S) * 100) / 100  # on the 10 ms frame grid
        end = min(duration, group[-1][1] + PIECE_MARGIN_S)
        found.append((float(start), end, [(a - start, b - start) for a, b in group]))
    return found


def speech_sample(samples: np.ndarray, regions: list[tuple[float, float]], limit_s: float = 30.0) -> np.ndarray:
    """Up to ``limit_s`` of speech, joined, to identify the language on (all audio if no speech)."""
    parts = [samples[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in regions]
    joined = np.concatenate(parts) if parts else samples
    return joined[:int(limit_s * SAMPLE_RATE)]


def identify_language(engine, samples: np.ndarray, forced: str | None) -> LanguageGuess:
    """The language to decode in: forced by the user, or the model's most likely one."""
    if not engine.multilingual:
        if forced not in (None, "en"):
            raise EvidenceError(f"this model is English-only; cannot decode language {forced!r}")
        return LanguageGuess("en", 1.0, True, [("en", 1.0)])
    ranked = engine.detect_language(samples)
    if forced is None:
        return LanguageGuess(ranked[0][0], ranked[0][1], False, ranked[:3])
    probabilities = dict(ranked)
    if forced not in probabilities:
        raise EvidenceError(f"unknown language code {forced!r} (Whisper codes such as en, ru, de, az, tr)")
    return LanguageGuess(forced, probabilities[forced], True, ranked[:3])


def translate(engine, samples: np.ndarray, segment: Segment, language: str, decoding: Decoding) -> str:
    """English for one segment: its audio decoded again with task=translate."""
    piece = samples[int(segment.start * SAMPLE_RATE):int(np.ceil(segment.end * SAMPLE_RATE))]
    clip = [(0.0, len(piece) / SAMPLE_RATE)]
    parts = engine.transcribe(piece, language, "translate", clip, decoding, word_timestamps=False)
    return " ".join(p.text for p in parts).strip()


def transcribe(engine, model_name: str, vad_model, samples: np.ndarray, *, language: str | None = None,
               english: bool = False, speech_only: bool = True, decoding: Decoding = DECODING,
               vad: VadOptions = VAD, progress: Progress | None = None, piece_s: float = PIECE_S) -> Transcript:
    """Transcribe 16 kHz mono samples; with ``english``, add an English translation per segment."""
    duration = len(samples) / SAMPLE_RATE
    speech = speech_regions(vad_model, samples, vad)
    guess = identify_language(engine, speech_sample(samples, speech), language)
    if english and not engine.multilingual:
        raise EvidenceError("--translate needs a multilingual model (not an English-only one)")
    clips = speech if speech_only else [(0.0, duration)]
    segments = []
    for start, end, piece_clips in pieces(clips, duration, piece_s) if clips else ():
        piece = samples[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]
        for segment in engine.transcribe(piece, guess.code, "transcribe", piece_clips, decoding):
            segment = segment.shifted(start) if start else segment
            segment.id = len(segments)
            segment.suspect_reasons = suspect.reasons(segment, speech)
            segments.append(segment)
            if progress:
                progress(min(segment.end, duration), duration)
    if english:
        for segment in segments:
            segment.translation = translate(engine, samples, segment, guess.code, decoding)
    if progress:
        progress(duration, duration)
    vad_record = {**vad.to_record(), "transcribe_speech_only": speech_only}
    return Transcript(engine=engine.name, model=model_name, language=guess, decoding=decoding.to_record(),
                      vad=vad_record, suspect_thresholds=suspect.THRESHOLDS.to_record(),
                      speech_regions=speech, segments=segments)


def load_models(engine_name: str, model: str, compute_type: str = "int8", threads: int = 0):
    """The Whisper engine and the voice activity model, each verified; and their ModelUse records."""
    from . import models
    from .asr.engines import load_engine, resolve_model
    from .asr.vad import load_vad

    whisper_use = resolve_model(engine_name, model)
    vad_use = models.require("silero-vad")
    engine = load_engine(engine_name, whisper_use, compute_type=compute_type, threads=threads)
    vad_model = load_vad(Path(vad_use.path) / "silero_vad.onnx")
    return engine, vad_model, [whisper_use, vad_use]
