"""The fixed decoding settings both engines use, so a re-run gives the same words."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Decoding:
    """Whisper decoding, fixed: beam search first, a seeded temperature fallback after.

    ``no_speech_threshold`` is deliberately absent: both engines would otherwise drop
    segments they think are silence. Nothing is dropped here; doubtful segments are marked
    suspect instead (see ``suspect.py``).
    """

    beam_size: int = 5
    best_of: int = 5
    patience: float = 1.0
    length_penalty: float = 1.0
    temperatures: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    # No fallback on the compression ratio: real speech that repeats itself (a demand said three
    # times, a looped clip) compresses well too, and the fallback then spent every temperature
    # (6 decodes) producing the same loop. Loops are found by the suspect rules instead, and words
    # written past the audio's end are removed (suspect.remove_impossible_words). The ratio still
    # marks a segment suspect above SuspectThresholds.compression_ratio.
    compression_ratio_threshold: float | None = None
    log_prob_threshold: float = -1.0  # below it, decode again at the next temperature
    condition_on_previous_text: bool = False
    word_timestamps: bool = True
    seed: int = 0  # seeds every random generator a sampled fallback uses

    def search_options(self) -> dict:
        """The beam-search and fallback options both engines name alike."""
        return {"beam_size": self.beam_size, "best_of": self.best_of, "patience": self.patience,
                "length_penalty": self.length_penalty, "compression_ratio_threshold": self.compression_ratio_threshold,
                "condition_on_previous_text": self.condition_on_previous_text}

    def to_record(self) -> dict:
        record = asdict(self)
        record["temperatures"] = list(self.temperatures)
        return record


DECODING = Decoding()
