"""Rules that mark a segment as doubtful, and words that cannot be speech.

A suspect segment is kept, with its reasons. Words whose times cannot be speech (a pile of
zero-length words at one instant, words outside their segment) are taken out of the segment and
listed in it as ``removed_words``, with the reason.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from .transcript import Segment, Word
from .vad import speech_within

STOCK_PHRASES_PATH = Path(__file__).resolve().parents[1] / "data" / "stock_phrases.json"


@dataclass(frozen=True)
class SuspectThresholds:
    no_speech_prob: float = 0.6  # Whisper's own no-speech threshold
    compression_ratio: float = 2.4  # Whisper's repetition threshold (gzip ratio of the text)
    avg_logprob: float = -1.0  # Whisper's low-confidence threshold
    min_speech_fraction: float = 0.5  # share of the segment that voice activity calls speech
    loop_repeats: int = 4  # a group of words (of any length) said this many times in a row ...
    loop_words: int = 8  # ... and covering at least this many words is a repetition loop
    # (real speech repeats too: "stop, stop, stop" is not a loop)
    pile_words: int = 3  # this many words in a row, each shorter than ...
    pile_word_s: float = 0.02  # ... this (one Whisper time step), are a pile at one instant: not speech
    word_outside_s: float = 0.5  # a word this far outside its segment is not the segment's
    # a word this long was stretched over speech the decoder skipped: in a 0 dB car scene "by" ran from
    # 48.3 to 56.6 s over four utterances that had no other word (benchmarks/car_scenes.py, seed
    # 20261201, car000); of 1,751 words of those scenes the longest other was 2.8 s
    long_word_s: float = 4.0  # this long or longer
    translation_length_ratio: tuple[float, float] = (0.25, 4.0)  # translation/original length outside: doubtful

    def to_record(self) -> dict:
        record = asdict(self)
        record["translation_length_ratio"] = list(self.translation_length_ratio)
        return record


THRESHOLDS = SuspectThresholds()


def repetition_loop(words: list[str], repeats: int, min_words: int, max_group: int | None = None) -> bool:
    """True when a group of words (any length up to ``max_group``, default any) repeats back to
    back, ``repeats`` times or more and over ``min_words`` words or more."""
    tokens = ["".join(ch for ch in w.lower() if ch.isalnum()) for w in words]
    tokens = [t for t in tokens if t]
    longest = len(tokens) // max(repeats, 1)
    for n in range(1, min(longest, max_group or longest) + 1):
        needed = max(repeats, -(-min_words // n))
        for i in range(len(tokens) - n * needed + 1):
            group = tokens[i:i + n]
            if all(tokens[i + k * n:i + (k + 1) * n] == group for k in range(1, needed)):
                return True
    return False


def impossible_words(segment: Segment, thresholds: SuspectThresholds = THRESHOLDS) -> list[tuple[int, str]]:
    """(word index, reason) for each word whose times cannot be speech: ``zero_duration_pile``
    (``pile_words`` or more words in a row, each shorter than ``pile_word_s``: text the decoder
    went on writing after the audio ran out) or ``outside_segment``."""
    words, found = segment.words, {}
    run: list[int] = []
    for i, word in enumerate(words + [None]):
        if word is not None and word.end - word.start < thresholds.pile_word_s:
            run.append(i)
            continue
        if len(run) >= thresholds.pile_words:
            found |= {j: "zero_duration_pile" for j in run}
        run = []
    for i, word in enumerate(words):
        if i not in found and (word.start < segment.start - thresholds.word_outside_s
                               or word.end > segment.end + thresholds.word_outside_s):
            found[i] = "outside_segment"
    return sorted(found.items())


UNSPACED = ("ja", "zh", "yue", "th", "lo", "my", "km", "bo")


def remove_impossible_words(segment: Segment, thresholds: SuspectThresholds = THRESHOLDS) -> Segment:
    """The segment without its impossible words, which go into ``removed_words``; its text is then
    the kept words joined, and its times those of the kept words (unchanged when nothing is removed)."""
    found = dict(impossible_words(segment, thresholds))
    if not found:
        return segment
    kept = [w for i, w in enumerate(segment.words) if i not in found]
    segment.removed_words = [(w, found[i]) for i, w in enumerate(segment.words) if i in found]
    segment.words = kept
    segment.text = ("" if segment.language in UNSPACED else " ").join(w.text for w in kept)
    if kept:
        segment.start, segment.end = min(segment.start, kept[0].start), kept[-1].end
    return segment


def _plain(text: str) -> str:
    """Lower case, letters and digits only, single spaces (for phrase matching)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text).split())


@lru_cache(maxsize=1)
def stock_phrases() -> dict[str, tuple[str, ...]]:
    """Known stock texts Whisper writes where nobody said them (data/stock_phrases.json), by language."""
    data = json.loads(STOCK_PHRASES_PATH.read_text(encoding="utf-8"))
    return {code: tuple(_plain(p) for p in phrases) for code, phrases in data["phrases"].items()}


def stock_phrase(text: str, language: str | None) -> str | None:
    """The stock phrase of this language the text contains, if any."""
    plain = f" {_plain(text)} "
    return next((p for p in stock_phrases().get(language or "", ()) if f" {p} " in plain), None)


def decoder_reasons(avg_logprob: float, no_speech_prob: float, compression_ratio: float,
                    thresholds: SuspectThresholds = THRESHOLDS) -> list[str]:
    """The decoder's own doubt figures over their thresholds."""
    found = []
    if no_speech_prob > thresholds.no_speech_prob:
        found.append("high_no_speech_probability")
    if compression_ratio > thresholds.compression_ratio:
        found.append("high_compression_ratio")
    if avg_logprob < thresholds.avg_logprob:
        found.append("low_avg_logprob")
    return found


def reasons(segment: Segment, speech: list[tuple[float, float]],
            thresholds: SuspectThresholds = THRESHOLDS) -> list[str]:
    """Why a court should doubt this segment (empty when there is no reason)."""
    found = []
    duration = max(segment.end - segment.start, 1e-6)
    if speech_within(speech, segment.start, segment.end) / duration < thresholds.min_speech_fraction:
        found.append("outside_speech_regions")
    found += decoder_reasons(segment.avg_logprob, segment.no_speech_prob, segment.compression_ratio, thresholds)
    words = [w.text for w in segment.words] or segment.text.split()
    if repetition_loop(words, thresholds.loop_repeats, thresholds.loop_words):
        found.append("repetition_loop")
    if segment.removed_words:
        found.append("impossible_words_removed")
    if any(w.end - w.start >= thresholds.long_word_s for w in segment.words):
        found.append("long_word")
    if stock_phrase(segment.text, segment.language):
        found.append("stock_phrase")
    return found


def translation_reasons(original: str, language: str | None, parts: list[Segment],
                        thresholds: SuspectThresholds = THRESHOLDS) -> list[str]:
    """Why to doubt an English translation made of ``parts`` (the translate decode's segments):
    the decoder's figures, a known stock phrase, a length far from the original's."""
    found: list[str] = []
    for part in parts:
        found += [r for r in decoder_reasons(part.avg_logprob, part.no_speech_prob, part.compression_ratio, thresholds)
                  if r not in found]
    text = " ".join(p.text for p in parts).strip()
    words = text.split()
    if repetition_loop(words, thresholds.loop_repeats, thresholds.loop_words):
        found.append("repetition_loop")
    if stock_phrase(text, "en"):
        found.append("stock_phrase")
    scale = 3.0 if language in UNSPACED or language == "ko" else 1.0  # one character there is ~3 Latin ones
    ratio = len(_plain(text)) / max(1.0, scale * len(_plain(original)))
    low, high = thresholds.translation_length_ratio
    if original.strip() and not low <= ratio <= high:
        found.append("length_ratio")
    return found
