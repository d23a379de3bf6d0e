"""Rules that mark a segment as doubtful. A suspect segment is kept, with its reasons."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .transcript import Segment
from .vad import speech_within


@dataclass(frozen=True)
class SuspectThresholds:
    no_speech_prob: float = 0.6  # Whisper's own no-speech threshold
    compression_ratio: float = 2.4  # Whisper's repetition threshold (gzip ratio of the text)
    avg_logprob: float = -1.0  # Whisper's low-confidence threshold
    min_speech_fraction: float = 0.5  # share of the segment that voice activity calls speech
    loop_repeats: int = 4  # a group of words said this many times in a row ...
    loop_words: int = 8  # ... and covering at least this many words is a repetition loop
    loop_max_group: int = 4  # (real speech repeats too: "stop, stop, stop" is not a loop)

    def to_record(self) -> dict:
        return asdict(self)


THRESHOLDS = SuspectThresholds()


def repetition_loop(words: list[str], repeats: int, min_words: int, max_group: int) -> bool:
    """True when a group of up to ``max_group`` words repeats back to back, ``repeats`` times
    or more and over ``min_words`` words or more."""
    tokens = ["".join(ch for ch in w.lower() if ch.isalnum()) for w in words]
    tokens = [t for t in tokens if t]
    for n in range(1, max_group + 1):
        needed = max(repeats, -(-min_words // n))
        for i in range(len(tokens) - n * needed + 1):
            group = tokens[i:i + n]
            if all(tokens[i + k * n:i + (k + 1) * n] == group for k in range(1, needed)):
                return True
    return False


def reasons(segment: Segment, speech: list[tuple[float, float]],
            thresholds: SuspectThresholds = THRESHOLDS) -> list[str]:
    """Why a court should doubt this segment (empty when there is no reason)."""
    found = []
    duration = max(segment.end - segment.start, 1e-6)
    if speech_within(speech, segment.start, segment.end) / duration < thresholds.min_speech_fraction:
        found.append("outside_speech_regions")
    if segment.no_speech_prob > thresholds.no_speech_prob:
        found.append("high_no_speech_probability")
    if segment.compression_ratio > thresholds.compression_ratio:
        found.append("high_compression_ratio")
    if segment.avg_logprob < thresholds.avg_logprob:
        found.append("low_avg_logprob")
    words = [w.text for w in segment.words] or segment.text.split()
    if repetition_loop(words, thresholds.loop_repeats, thresholds.loop_words, thresholds.loop_max_group):
        found.append("repetition_loop")
    return found
