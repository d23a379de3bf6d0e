"""Who spoke when: pyannote diarization with CAM++ embeddings, and each transcript word's speaker.

``SpeakerLimits`` lives here, in a module that loads no model library, so settings are checked
before anything is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class SpeakerLimits:
    """The speaker counts a diarization is held to; the one place they are checked.

    Raises UsageError (exit 2) for a count below 1 or ``min_speakers`` above ``max_speakers``.
    """

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self):
        low, high = self.min_speakers, self.max_speakers
        if any(n is not None and n < 1 for n in (self.num_speakers, low, high)):
            raise UsageError("speaker counts must be at least 1")
        if low is not None and high is not None and low > high:
            raise UsageError(f"--min-speakers {low} is more than --max-speakers {high}")

    def to_kwargs(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}
