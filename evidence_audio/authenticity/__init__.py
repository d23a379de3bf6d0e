"""Authenticity indicators: observations with stated limits, never verdicts.

Each indicator module returns a block ``{"indicator", "summary", "can_show", "cannot_show", ...}``.
"""

from __future__ import annotations

from ..audio_io import decode_native
from ..intake import Intake
from . import discontinuity, enf, metadata

STATEMENT = (
    "These are indicators for an expert to examine, not findings of authenticity or tampering. "
    "Ordinary recording, messaging apps and platform re-encoding produce many of the same signs; "
    "a careful editor can avoid all of them."
)


def indicators(intake: Intake, mains_hz: int | None = None) -> dict:
    """All indicators for a taken-in recording (the ``authenticity`` block)."""
    native = decode_native(intake.path)
    return {
        "statement": STATEMENT,
        "metadata": metadata.examine(intake),
        "discontinuities": discontinuity.examine(intake.audio.samples, native.samples, native.sample_rate),
        "enf": enf.examine(intake.audio.samples, intake.audio.sample_rate, mains_hz).to_record(),
    }
