"""The transcription stage: voice activity, language, Whisper decoding, translation, doubt."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from . import suspect
from .decoding import DECODING, Decoding
from .engines import WhisperEngine
from .transcript import LanguageGuess, LanguageSpan, Segment, Transcript, Untranscribed, Word
from .vad import VAD, VadOptions, speech_regions
from ..errors import EvidenceError
from ..intake import ANALYSIS_RATE, check_analysis_rate
from ..models import ModelUse
from ..progress import Update
from ..report.blocks import TranscriptBlock

# (start, end) in seconds; the "clips" an engine decodes are these (Whisper's clip_timestamps)
Interval = tuple[float, float]

# Audio handed to an engine at once. Both engines compute the log-mel spectrogram of all they are
# given (about 2.5 GB of working memory per hour), so a long recording goes in chunks of at most
# this much speech, cut between speech regions; a shorter recording goes whole.
CHUNK_S = 600.0
CHUNK_MARGIN_S = 1.0  # audio kept around a chunk's clips, so the spectrogram's edges fall outside them


def chunks(clips: list[Interval], duration: float,
           limit: float = CHUNK_S) -> list[tuple[float, float, list[Interval]]]:
    """(chunk start, chunk end, its clips relative to the start): the recording's clips in stretches
    of at most ``limit`` seconds (plus margins); a single clip longer than that is cut at the limit."""
    if duration <= limit:
        return [(0.0, duration, list(clips))]
    cut: list[Interval] = []
    for start, end in clips:
        while end - start > limit:
            cut.append((start, start + limit))
            start += limit
        cut.append((start, end))
    groups: list[list[Interval]] = []
    for clip in cut:
        if groups and clip[1] - groups[-1][0][0] <= limit:
            groups[-1].append(clip)
        else:
            groups.append([clip])
    found = []
    for group in groups:
        start, end = around(group, duration)
        found.append((start, end, [(a - start, b - start) for a, b in group]))
    return found


def around(clips: list[Interval], duration: float) -> tuple[float, float]:
    """(start, end) in seconds of the audio kept around ``clips``: CHUNK_MARGIN_S on each side within
    the recording, the start on the 10 ms frame grid."""
    start = float(np.floor(max(0.0, clips[0][0] - CHUNK_MARGIN_S) * 100) / 100)
    return start, min(duration, clips[-1][1] + CHUNK_MARGIN_S)


LANGUAGE_WINDOW_S = 30.0  # Whisper identifies a language on at most 30 s of audio at a time
SHORT_SPAN_S = 2.0  # a shorter stretch takes its neighbour's language (too little audio to identify one)
FINE_VAD = VadOptions(min_silence_duration_ms=300, speech_pad_ms=100)  # speech, without the long pauses
# A region whose language is unsure (top probability below LANGUAGE_SURE) while a second language is
# likely (SECOND_LANGUAGE or more: two languages in one region) has each segment identified again on
# its own audio. English in meetings often scores 0.6-0.8 with Welsh second at 0.07-0.17; English then
# Russian in one region scored ru 0.69, en 0.27. Each check costs one 30 s encoder pass.
LANGUAGE_SURE = 0.9
SECOND_LANGUAGE = 0.2
MIN_UNTRANSCRIBED_S = 1.0  # speech at least this long without a word is decoded again, then listed
WORD_REACH_S = 0.5  # a word covers this much speech on each side of it (pauses between words)
# ... and of its own span at most this much from each end: a word Whisper stretched over seconds of
# speech it skipped (suspect reason long_word) leaves that speech to be decoded again, and listed if
# it still has no words. 2 x (WORD_SPAN_S + WORD_REACH_S) + MIN_UNTRANSCRIBED_S = long_word_s (4 s).
WORD_SPAN_S = 1.0
# Text decoded alone from speech the first decode gave no words is kept only if the suspect rules find
# nothing in it with their no-speech and log-probability limits made stricter (ALONE_THRESHOLDS: no-speech
# probability at most 0.4, average log-probability at least -0.75); otherwise it is listed, with the
# text, as untranscribed speech. In the car scenes
# (benchmarks/car_scenes.py, seeds 20261201, 20261202 and 20261207) a scream came back as "Brrrrrrr"
# (no-speech 0.50, log-probability -0.83) and infants' cries as "Oh yeah! Oh yeah!" (0.48, -0.99) and
# "No, no, no!" (0.35, -0.87); the 25 stretches of real speech kept had 0.02-0.31 and -0.22 to -0.70,
# and two real sentences (seed 20261207, car002 and car008) are listed, with their text, instead of kept:
# an invented quote in the transcript is worse than a real one shown as doubtful.
ALONE_THRESHOLDS = replace(suspect.THRESHOLDS, no_speech_prob=0.4, avg_logprob=-0.75)
FINE_CONTEXT_S = 30.0  # the finer pass's second run starts at most this far before a stretch (fine_speech)


def parse_languages(value: str | None) -> list[str] | None:
    """'az,ru,en' -> ['az', 'ru', 'en']; None or empty -> None (every language the model knows)."""
    codes = [c.strip().lower() for c in (value or "").split(",") if c.strip()]
    return list(dict.fromkeys(codes)) or None


def restrict(ranked: list[tuple[str, float]], candidates: list[str] | None) -> list[tuple[str, float]]:
    """The ranking over ``candidates`` only, renormalised to sum to 1; raises EvidenceError on an unknown code."""
    if not candidates:
        return ranked
    probabilities = dict(ranked)
    unknown = [c for c in candidates if c not in probabilities]
    if unknown:
        raise EvidenceError(f"unknown language code {unknown[0]!r} (Whisper codes such as en, ru, de, az, tr)")
    total = sum(probabilities[c] for c in candidates) or 1.0
    return sorted(((c, probabilities[c] / total) for c in candidates), key=lambda item: (-item[1], item[0]))


def windows(clips: list[Interval], limit: float = LANGUAGE_WINDOW_S) -> list[Interval]:
    """Each clip, cut into equal windows of at most ``limit`` seconds."""
    found = []
    for start, end in clips:
        n = max(1, int(np.ceil((end - start) / limit - 1e-9)))
        step = (end - start) / n
        cuts = [start + i * step for i in range(n)] + [end]  # the clip's own ends, exactly
        found += list(zip(cuts, cuts[1:]))
    return found


def language_spans(engine: WhisperEngine, samples: np.ndarray, clips: list[Interval], forced: str | None,
                   candidates: list[str] | None = None) -> list[LanguageSpan]:
    """The language of each clip (each <= 30 s window of it), identified from its own audio.

    Whisper's language-token probabilities on the window (the engines' ``detect_language``, as
    faster-whisper's ``WhisperModel.detect_language`` does on one 30 s window), restricted to
    ``candidates`` when given. A window shorter than ``SHORT_SPAN_S`` takes the language of the
    nearest longer one, keeping its own probability for that language. ``forced`` sets every
    window's language and skips identification; an English-only model gives "en" throughout.
    """
    if not engine.multilingual:
        if forced not in (None, "en") or (candidates and "en" not in candidates):
            raise EvidenceError(f"this model is English-only; cannot decode language {forced or candidates!r}")
        return [LanguageSpan(s, e, "en", 1.0, [("en", 1.0)]) for s, e in clips]
    if forced:
        from whisper.tokenizer import LANGUAGES  # every multilingual Whisper's codes (faster-whisper's are the same)

        restrict([(code, 1.0) for code in LANGUAGES], [forced])  # checks the code, without an encoder pass
        return [LanguageSpan(s, e, forced, None, [(forced, 1.0)]) for s, e in clips]
    spans = []
    for start, end in windows(clips):
        ranked = restrict(engine.detect_language(samples[int(start * ANALYSIS_RATE):int(end * ANALYSIS_RATE)]), candidates)
        spans.append(LanguageSpan(start, end, ranked[0][0], ranked[0][1], ranked))
    long = [s for s in spans if s.end - s.start >= SHORT_SPAN_S]
    for span in spans:
        if span.end - span.start < SHORT_SPAN_S and long:
            nearest = min(long, key=lambda other: min(abs(other.start - span.end), abs(span.start - other.end)))
            span.code, span.probability = nearest.code, dict(span.ranked).get(nearest.code, 0.0)
    return spans


def overall_language(spans: list[LanguageSpan], forced: str | None, candidates: list[str] | None) -> LanguageGuess:
    """The main language (most speech time) and the probabilities averaged over all speech, by duration."""
    if not spans:
        return LanguageGuess(forced, None, forced is not None, [], candidates)
    weight = sum(s.end - s.start for s in spans) or 1.0
    averaged: dict[str, float] = {}
    for span in spans:
        for code, p in span.ranked:
            averaged[code] = averaged.get(code, 0.0) + p * (span.end - span.start) / weight
    talk: dict[str, float] = {}
    for span in spans:
        talk[span.code] = talk.get(span.code, 0.0) + span.end - span.start
    main = forced or max(sorted(talk), key=talk.get)
    own = [s for s in spans if s.code == main and s.probability is not None]
    probability = (sum(s.probability * (s.end - s.start) for s in own) / sum(s.end - s.start for s in own)
                   if own else None)
    top = sorted(averaged.items(), key=lambda item: (-item[1], item[0]))[:3]
    return LanguageGuess(main, probability, forced is not None, [] if forced else top, candidates)


def _span_at(spans: list[LanguageSpan], t: float) -> LanguageSpan | None:
    return min(spans, key=lambda s: 0.0 if s.start <= t <= s.end else min(abs(s.start - t), abs(s.end - t)),
               default=None)


def joined(clips: list[Interval]) -> list[Interval]:
    """``clips`` (sorted by start) with those that touch or overlap (the language windows of one region)
    made one."""
    found: list[Interval] = []
    for start, end in clips:
        if found and start - found[-1][1] < 1e-6:
            found[-1] = (found[-1][0], max(end, found[-1][1]))
        else:
            found.append((start, end))
    return found


@dataclass(frozen=True)
class Place:
    """Where a clip lies in the audio handed to the engine (``start``, ``end``, seconds) and in the
    recording (``at``: the recording's time at ``start``; ``clip``: its bounds there)."""

    start: float
    end: float
    at: float
    clip: Interval

    def to_recording(self, t: float) -> float:
        """Time ``t`` of the engine's audio in the recording, kept inside the clip."""
        return min(max(t - self.start + self.at, self.clip[0]), self.clip[1])


def back_to_back(samples: np.ndarray, clips: list[Interval], duration: float) -> tuple[np.ndarray, list[Place]]:
    """The clips' audio back to back (as faster-whisper's voice-activity filter joins speech), with
    CHUNK_MARGIN_S of the recording before the first and after the last; and each clip's Place."""
    first, last = around(clips, duration)
    bounds = [(first, clips[0][0])] + clips + [(clips[-1][1], last)]
    pieces, places, position = [], [], 0
    for i, (a, b) in enumerate(bounds):
        begin, stop = round(a * ANALYSIS_RATE), round(b * ANALYSIS_RATE)
        if 0 < i < len(bounds) - 1:
            places.append(Place(position / ANALYSIS_RATE, (position + stop - begin) / ANALYSIS_RATE,
                                begin / ANALYSIS_RATE, (a, b)))
        pieces.append(samples[begin:stop])
        position += stop - begin
    return np.concatenate(pieces), places


def _place_of(places: list[Place], t: float) -> Place:
    return next((p for p in places if t < p.end), places[-1])


def to_recording(segment: Segment, places: list[Place]) -> list[Segment]:
    """A segment of back-to-back audio in the recording's time. Each word goes to the clip holding
    its end, its times kept inside that clip (Whisper's word alignment often stretches a word's start
    back over the pause before it: the first word of a clip can start in the previous clip's tail,
    as faster-whisper's own mapping by the word's middle then misplaces it); a segment whose words lie
    in two clips is cut there (the parts keep its decoder figures, their text is their words'). A
    segment without words keeps its text, its start and end each mapped into the clip that holds it."""
    if not segment.words:
        start, end = _place_of(places, segment.start), _place_of(places, max(segment.start, segment.end - 1e-6))
        return [replace(segment, start=start.to_recording(segment.start), end=end.to_recording(segment.end))]
    runs: list[tuple[Place, list[Word]]] = []
    for word in segment.words:
        place = _place_of(places, max(word.start, word.end - 1e-6))
        word = replace(word, start=place.to_recording(word.start), end=place.to_recording(word.end))
        if runs and runs[-1][0] is place:
            runs[-1][1].append(word)
        else:
            runs.append((place, [word]))
    parts = []
    for i, (place, words) in enumerate(runs):
        start = place.to_recording(segment.start) if i == 0 else words[0].start
        end = place.to_recording(segment.end) if i == len(runs) - 1 else words[-1].end
        text = segment.text if len(runs) == 1 else \
            ("" if segment.language in suspect.UNSPACED else " ").join(w.text for w in words)
        parts.append(replace(segment, start=min(start, words[0].start), end=max(end, words[-1].end), text=text,
                             words=words))
    return parts


def _decode(engine: WhisperEngine, samples: np.ndarray, clips: list[Interval], language: str, decoding: Decoding,
            duration: float, chunk_s: float) -> list[Segment]:
    """Segments of ``clips`` (absolute times) decoded in ``language``, with impossible words removed.

    The clips of each chunk are joined back to back and decoded as one continuous stretch, as
    faster-whisper's voice-activity filter does: Whisper's 30 s windows are then filled with speech,
    where each clip decoded alone took a window of its own. Times are mapped back to the recording's
    by ``to_recording``."""
    found = []
    for start, _, chunk_clips in chunks(joined(clips), duration, chunk_s):
        if not chunk_clips:
            continue
        audio, places = back_to_back(samples, [(start + a, start + b) for a, b in chunk_clips], duration)
        speech = [(places[0].start, places[-1].end)]
        for segment in engine.transcribe(audio, language, "transcribe", speech, decoding):
            segment.language = language
            found += [suspect.remove_impossible_words(part) for part in to_recording(segment, places)]
    return found


def recheck_languages(engine: WhisperEngine, samples: np.ndarray, segments: list[Segment], spans: list[LanguageSpan],
                      candidates: list[str] | None, decoding: Decoding, duration: float, chunk_s: float) -> list[Segment]:
    """Segments of regions whose language was unsure (probability below LANGUAGE_SURE with a second
    language at SECOND_LANGUAGE or more, as where two languages share a region), each identified again on its own audio and, where another language
    wins, decoded again alone in that language. Segments under 1 s are left as they are."""
    checked = []
    for segment in segments:
        span = _span_at(spans, (segment.start + segment.end) / 2)
        if span is None or span.probability is None or span.probability >= LANGUAGE_SURE \
                or len(span.ranked) < 2 or span.ranked[1][1] < SECOND_LANGUAGE or segment.end - segment.start < 1.0:
            checked.append(segment)
            continue
        audio = samples[int(segment.start * ANALYSIS_RATE):int(np.ceil(segment.end * ANALYSIS_RATE))]
        code, probability = restrict(engine.detect_language(audio), candidates)[0]
        if code == segment.language:
            segment.language_probability = probability
            checked.append(segment)
            continue
        again = _decode(engine, samples, [(segment.start, segment.end)], code, decoding, duration, chunk_s)
        for part in again:
            part.language_probability = probability
        checked += again
    return checked


MAX_LETTERS_PER_S = 30.0  # faster than anyone speaks (about 15 letters a second is usual): a loop
MIN_FAST_LETTERS = 15  # shorter texts are not judged by their rate


def too_fast(segment: Segment) -> bool:
    """More text than its audio could hold: a loop the decoder fell into, not speech."""
    letters = sum(ch.isalnum() for ch in segment.text)
    return letters >= MIN_FAST_LETTERS and letters / max(segment.end - segment.start, 0.1) > MAX_LETTERS_PER_S


def redecode_loops(engine: WhisperEngine, samples: np.ndarray, segments: list[Segment], decoding: Decoding, duration: float,
                   chunk_s: float, clips: list[Interval] | None = None) -> list[Segment]:
    """Segments with more text than their audio could hold, decoded again alone with Whisper's
    compression-ratio fallback on (a repetitive result is decoded again at the next temperature).
    With ``clips`` (the decoded speech regions, which one decoding window may join), only the
    regions holding such segments are decoded again; the window's other segments stay."""
    with_fallback = replace(decoding, compression_ratio_threshold=suspect.THRESHOLDS.compression_ratio)
    windows_: list[list[Segment]] = []  # consecutive segments of one decoded window share its figures
    for segment in segments:
        same = windows_ and (windows_[-1][-1].compression_ratio, windows_[-1][-1].temperature, windows_[-1][-1].language) \
            == (segment.compression_ratio, segment.temperature, segment.language)
        windows_[-1:] = [windows_[-1] + [segment]] if same else windows_[-1:] + [[segment]]
    checked = []
    for group in windows_:
        if not any(too_fast(segment) for segment in group):
            checked += group
            continue
        start, end = group[0].start, group[-1].end
        fast = [s for s in group if too_fast(s)]
        inside = [(max(a, start), min(b, end)) for a, b in clips or [] if a < end and b > start
                  and any(s.start < b and s.end > a for s in fast)] or [(start, end)]
        again = _decode(engine, samples, inside, group[0].language, with_fallback, duration, chunk_s)
        for part in again:
            part.language_probability, part.repetition_fallback = group[0].language_probability, True
        checked += [s for s in group if not any(a <= (s.start + s.end) / 2 <= b for a, b in inside)] + again
    return checked


def uncovered(speech: list[Interval], segments: list[Segment], min_s: float = MIN_UNTRANSCRIBED_S) -> list[Interval]:
    """Stretches of ``speech`` at least ``min_s`` long that no transcribed word reaches (a word reaches
    ``WORD_REACH_S`` either side of itself, and at most ``WORD_SPAN_S`` into its own span from each end;
    a segment without word times covers its span if it has text)."""
    covered = sorted([(w.start - WORD_REACH_S, min(w.end, w.start + WORD_SPAN_S) + WORD_REACH_S)
                      for s in segments for w in s.words]
                     + [(max(w.start, w.end - WORD_SPAN_S) - WORD_REACH_S, w.end + WORD_REACH_S)
                        for s in segments for w in s.words]
                     + [(s.start, s.end) for s in segments if not s.words and s.text.strip()])
    found = []
    for start, end in speech:
        position = start
        for a, b in covered:
            if b <= position or a >= end:
                continue
            if a - position >= min_s:
                found.append((position, a))
            position = max(position, b)
        if end - position >= min_s:
            found.append((position, end))
    return found


def fine_speech(vad_model, samples: np.ndarray, speech: list[Interval], gaps: list[Interval]) -> list[Interval]:
    """Speech inside ``gaps`` (seconds) by the finer voice-activity pass (``FINE_VAD``), run twice: on each
    gap alone and on the speech region around it (at most ``FINE_CONTEXT_S`` either side of the gap),
    each cut to the gap, the two joined.

    silero-vad's regions depend on where it starts. Started on a gap alone, in the middle of an
    utterance, it missed three utterances of a 10 dB car scene (benchmarks/car_scenes.py seed 20261201,
    car002, 17.9-25.4 s); started on the region, it missed one a cold start found (car007, 28.4 s).
    ``speech`` and ``gaps``: (start, end) seconds, ``gaps`` each inside a ``speech`` region; ``samples``:
    float32 (n,) at 16 kHz. Returns sorted, non-overlapping (start, end) seconds.
    """
    found: list[Interval] = []
    for lo, hi in speech:
        for a, b in [(a, b) for a, b in gaps if lo <= a and b <= hi]:
            around = (max(lo, a - FINE_CONTEXT_S), min(hi, b + FINE_CONTEXT_S))
            for start, end in dict.fromkeys([around, (a, b)]):  # once when the gap is the whole region
                piece = samples[int(start * ANALYSIS_RATE):int(np.ceil(end * ANALYSIS_RATE))]
                found += [(max(a, start + s), min(b, start + e)) for s, e in speech_regions(vad_model, piece, FINE_VAD)
                          if start + s < b and start + e > a]
    return joined(sorted(found))


def translate_segment(engine: WhisperEngine, samples: np.ndarray, segment: Segment, language: str,
                      decoding: Decoding) -> tuple[str, list[str]]:
    """English for one segment, its audio decoded again with task=translate, and the reasons to doubt it."""
    piece = samples[int(segment.start * ANALYSIS_RATE):int(np.ceil(segment.end * ANALYSIS_RATE))]
    clip = [(0.0, len(piece) / ANALYSIS_RATE)]
    parts = list(engine.transcribe(piece, language, "translate", clip, decoding, word_timestamps=False))
    return " ".join(p.text for p in parts).strip(), suspect.translation_reasons(segment.text, language, parts)


def transcribe(engine: WhisperEngine, model_name: str, vad_model, samples: np.ndarray, *, language: str | None = None,
               languages: list[str] | None = None, translate: bool = False, speech_only: bool = True,
               decoding: Decoding = DECODING, vad: VadOptions = VAD, progress: Update | None = None,
               chunk_s: float = CHUNK_S) -> Transcript:
    """Transcribe 16 kHz mono samples, each speech region in its own language.

    Speech (by voice activity) that no word covers is decoded again on its own; what stays without
    words is listed in ``Transcript.untranscribed``.

    Parameters
    ----------
    engine : WhisperEngine
        From :func:`load_models`.
    model_name : str
        The model's manifest name, recorded in the transcript.
    vad_model
        silero-vad, from :func:`load_models`.
    samples : numpy.ndarray
        float32, shape (n,), mono, 16000 Hz.
    language : str, optional
        Force this language code; default: identified for each speech region (30 s windows).
    languages : list of str, optional
        Identify among these codes only.
    translate : bool
        Add an English translation beside every segment, checked like the original.
    speech_only : bool
        Decode only the voice-activity regions (default) or the whole recording.
    decoding, vad : Decoding, VadOptions
        The fixed decoding and voice-activity settings (recorded in the transcript).
    progress : callable, optional
        ``progress(seconds_done, seconds_in_all)``.
    chunk_s : float
        Most seconds handed to the engine at once (``CHUNK_S``, 600).

    Returns
    -------
    Transcript
        Segments and words with times in seconds from the start of ``samples``.

    Raises
    ------
    EvidenceError
        An unknown language code, or translation or another language asked of an English-only model (exit 1).
    """
    engine.reseed()  # the same words whatever this process decoded before
    duration = len(samples) / ANALYSIS_RATE
    speech = speech_regions(vad_model, samples, vad)
    if translate and not engine.multilingual:
        raise EvidenceError("--translate needs a multilingual model (not an English-only one)")
    clips = speech if speech_only else [(0.0, duration)]
    spans = language_spans(engine, samples, clips, language, languages) if clips else []
    guess = overall_language(spans, language, languages)
    segments: list[Segment] = []
    runs: dict[str, list[Interval]] = {}
    for span in spans:  # the spans of one language are decoded together, in order
        runs.setdefault(span.code, []).append((span.start, span.end))
    for code, run in runs.items():
        segments += _decode(engine, samples, run, code, decoding, duration, chunk_s)
        if progress and segments:
            progress(min(max(s.end for s in segments), duration), duration)
    if not language:
        segments = recheck_languages(engine, samples, segments, spans, languages, decoding, duration, chunk_s)
    segments = redecode_loops(engine, samples, segments, decoding, duration, chunk_s, clips)
    untranscribed = []
    fine = fine_speech(vad_model, samples, speech, uncovered(speech, segments))
    if fine:
        for start, end in uncovered(fine, segments):
            code = _span_at(spans, (start + end) / 2).code if spans else (language or "en")
            a, b = max(0.0, start - 0.2), min(duration, end + 0.2)
            again = [s for s in _decode(engine, samples, [(a, b)], code, decoding, duration, chunk_s) if s.words]
            # doubtful text here is most often noise, or a scream or cry written as words
            kept = [s for s in again if not suspect.reasons(s, speech, ALONE_THRESHOLDS)]
            for segment in kept:
                segment.decoded_alone = True
            segments += kept
            for gap in uncovered([(start, end)], kept):
                doubtful = " ".join(s.text for s in again if s not in kept and s.start < gap[1] and s.end > gap[0])
                untranscribed.append(Untranscribed(gap[0], gap[1], code, "only_doubtful_text_decoded_alone"
                                                   if doubtful else "no_words_also_decoded_alone", doubtful or None))
    segments.sort(key=lambda s: (s.start, s.end))
    for number, segment in enumerate(segments):
        segment.id = number
        span = _span_at(spans, (segment.start + segment.end) / 2)
        if segment.language_probability is None and span is not None and span.code == segment.language:
            segment.language_probability = span.probability
        segment.suspect_reasons = suspect.reasons(segment, speech)
    if translate:
        for segment in segments:
            segment.translation, segment.translation_suspect_reasons = translate_segment(
                engine, samples, segment, segment.language or guess.code, decoding)
    if progress:
        progress(duration, duration)
    vad_record = {**vad.to_record(), "transcribe_speech_only": speech_only,
                  "coverage_check": {**FINE_VAD.to_record(), "min_untranscribed_s": MIN_UNTRANSCRIBED_S,
                                     "word_reach_s": WORD_REACH_S, "word_span_s": WORD_SPAN_S,
                                     "alone_no_speech_prob": ALONE_THRESHOLDS.no_speech_prob,
                                     "alone_logprob": ALONE_THRESHOLDS.avg_logprob,
                                     "fine_context_s": FINE_CONTEXT_S}}
    return Transcript(engine=engine.name, model=model_name, language=guess, decoding=decoding.to_record(),
                      vad=vad_record, suspect_thresholds=suspect.THRESHOLDS.to_record(),
                      speech_regions=speech, segments=segments, language_spans=spans, untranscribed=untranscribed)


def load_models(engine_name: str, model: str, compute_type: str = "int8", threads: int = 0):
    """The Whisper engine and the voice activity model, each verified against the manifest.

    Parameters
    ----------
    engine_name : str
        One of ``asr.ENGINES`` ("faster-whisper", "openai-whisper").
    model : str
        base, tiny.en, a manifest name, or the path of an own model (CTranslate2 folder or .pt).
    compute_type : str
        CTranslate2 compute type (faster-whisper only), "int8" by default.
    threads : int
        CPU threads; 0: the engine's default.

    Returns
    -------
    engine : WhisperEngine
    vad_model
        The silero-vad ONNX model.
    models_used : list of models.ModelUse
        The Whisper model and silero-vad, with the SHA-256 of each file.

    Raises
    ------
    ModelError
        Unknown engine or model, or files missing or not matching the manifest (exit 6).
    """
    from .. import models
    from .engines import load_engine, resolve_model
    from .vad import load_vad

    whisper_use = resolve_model(engine_name, model)
    vad_use = models.require("silero-vad")
    engine = load_engine(engine_name, whisper_use, compute_type=compute_type, threads=threads)
    vad_model = load_vad(Path(vad_use.path) / "silero_vad.onnx")
    return engine, vad_model, [whisper_use, vad_use]


@dataclass(frozen=True)
class TranscriptionOptions:
    """What the transcription stage is asked for (the transcription fields of ``pipeline.Settings``)."""

    engine: str = "faster-whisper"  # or openai-whisper (the same weights, converted)
    model: str = "base"  # base, tiny.en, a manifest name, or the path of an own model
    compute_type: str = "int8"  # faster-whisper only
    language: str | None = None  # forced language code; None: identified for each speech region
    languages: tuple[str, ...] | None = None  # identification restricted to these codes
    translate: bool = False  # an English translation beside every segment
    speech_only: bool = True  # only the regions voice activity calls speech

    def load(self):
        """The loaded models this stage runs on: ``load_models``' (engine, VAD model, ModelUse list)."""
        return load_models(self.engine, self.model, self.compute_type)


def transcript_stage(samples: np.ndarray, sample_rate: int, options: TranscriptionOptions, *, loaded=None,
                     progress: Update | None = None) -> tuple[TranscriptBlock, list[ModelUse]]:
    """The transcription stage: the report's ``analysis.transcript`` block and the models used.

    Parameters
    ----------
    samples : numpy.ndarray
        The analysis signal: float32, shape (n,), mono, in [-1, 1].
    sample_rate : int
        Its rate in Hz; must be ``intake.ANALYSIS_RATE`` (16000).
    options : TranscriptionOptions
        Engine, model, languages, translation and speech-only setting.
    loaded : tuple, optional
        ``options.load()``'s result, kept by a caller that analyses many recordings; loaded here if None.
    progress : callable, optional
        ``progress(seconds_done, seconds_in_all)`` as the speech regions are decoded.

    Returns
    -------
    block : dict
        ``analysis.transcript`` as report/schema.json defines it (times in seconds, rounded to 1 ms).
    models_used : list of models.ModelUse
        The Whisper model and silero-vad, each with its verified file hashes.

    Raises
    ------
    ValueError
        ``sample_rate`` is not 16000.
    EvidenceError
        An unknown language code, or a language an English-only model cannot decode (exit 1).
    ModelError
        A model is missing or its files do not match the manifest (exit 6).
    """
    check_analysis_rate(sample_rate, "transcription")
    engine, vad_model, used = loaded or options.load()
    transcript = transcribe(engine, used[0].name, vad_model, samples, language=options.language,
                            languages=list(options.languages) if options.languages else None,
                            translate=options.translate, speech_only=options.speech_only, progress=progress)
    return transcript.to_record(), list(used)
