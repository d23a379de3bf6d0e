"""Authenticity indicators: observations with stated limits, never verdicts.

Each indicator module returns a block ``{"indicator", "summary", "can_show", "cannot_show", ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..intake import decode_native
from ..intake import Intake
from ..report.blocks import AuthenticityBlock
from . import credentials, discontinuity, enf, metadata

STATEMENT = (
    "These are indicators for an expert to examine, not findings of authenticity or tampering. "
    "Ordinary recording, messaging apps and platform re-encoding produce many of the same signs; "
    "a careful editor can avoid all of them."
)


def indicators(intake: Intake, mains_hz: int | None = None, native: bool = True) -> dict:
    """All indicators for a taken-in recording (the ``authenticity`` block): observations, never verdicts.

    Parameters
    ----------
    intake : Intake
        From ``intake.take_in``: its container, tags, content credentials, gaps and analysis signal.
    mains_hz : int, optional
        50 or 60: the mains frequency to trace; default: the stronger of the two.
    native : bool
        Read DC offsets and digital-zero runs from the native PCM (every channel, full rate; a second
        decode) instead of the 16 kHz mono analysis signal (zero runs then lose about a millisecond at
        each end to the resampler).

    Returns
    -------
    dict
        ``statement``, ``metadata``, ``discontinuities`` (candidate times in seconds), ``enf`` (trace in
        Hz, strength in dB) and ``content_credentials``, each with what it can and cannot show.

    Raises
    ------
    InputError, MediaError
        With ``native``, when the file can no longer be read or decoded (exit 3, 4).
    """
    if native:
        pcm = decode_native(intake.path, intake.audio.stream_index)
        samples, rate, source = pcm.samples, pcm.sample_rate, "native PCM, every channel"
    else:
        samples, rate, source = intake.audio.samples[:, None], intake.audio.sample_rate, "16 kHz mono analysis signal"
    discontinuities = discontinuity.examine(intake.audio.samples, samples, rate, intake.audio.gaps)
    discontinuities["dc_and_zero_runs_from"] = source
    return {
        "statement": STATEMENT,
        "metadata": metadata.examine(intake),
        "discontinuities": discontinuities,
        "enf": enf.examine(intake.audio.samples, intake.audio.sample_rate, mains_hz).to_record(),
        "content_credentials": credentials.examine(intake),
    }


@dataclass(frozen=True)
class AuthenticityOptions:
    """What the authenticity stage examines besides the signal: the file itself."""

    intake: Intake  # the taken-in recording: its container, tags, content credentials and gaps
    native: bool = False  # DC offsets and zero runs from the native PCM (a second decode), not the 16 kHz signal
    mains_hz: int | None = None  # 50 or 60; None: both are tried


def authenticity_stage(samples: np.ndarray, sample_rate: int,
                       options: AuthenticityOptions) -> tuple[AuthenticityBlock, list]:
    """The authenticity stage: the report's ``analysis.authenticity`` block; it uses no model.

    Parameters
    ----------
    samples : numpy.ndarray
        The analysis signal of ``options.intake``: float32, shape (n,), mono.
    sample_rate : int
        Its rate in Hz (16000).
    options : AuthenticityOptions
        The taken-in file (metadata, content credentials and gaps are read from it) and the settings.

    Returns
    -------
    block : dict
        ``analysis.authenticity``: metadata, discontinuity, mains-hum and content-credential indicators,
        each with what it can and cannot show (times in seconds).
    models_used : list
        Always empty.

    Raises
    ------
    ValueError
        ``samples`` and ``sample_rate`` are not the intake's analysis signal.
    """
    audio = options.intake.audio
    if sample_rate != audio.sample_rate or len(samples) != len(audio.samples):
        raise ValueError("the authenticity stage examines the analysis signal of the intake it is given")
    return indicators(options.intake, options.mains_hz, options.native), []


def indicator_files(path, mains_hz: int | None = None) -> tuple[dict, dict[str, bytes]]:
    """Sealed indicators record and the files of its output folder (indicators.json, enf.png)."""
    from .. import __version__
    from ..figures import png_bytes
    from ..intake import take_in
    from ..report.canonical import render, seal
    from ..report.record import evidence_block

    intake = take_in(path)
    block = indicators(intake, mains_hz)
    record = seal({"schema": "evidence-audio/indicators/v1", "tool": {"name": "evidence-audio", "version": __version__},
                   "evidence": evidence_block(intake), "authenticity": block})
    return record, {"indicators.json": render(record), "enf.png": png_bytes(enf.figure(block["enf"]))}


def summary(block: dict) -> list[str]:
    """A few plain lines for the terminal."""
    lines = [block["statement"]]
    for key in ("metadata", "discontinuities", "enf", "content_credentials"):
        if key in block:
            lines.append(f"- {block[key]['indicator']}: {block[key]['summary']}")
    for c in block["discontinuities"]["candidates"]:
        lines.append(f"    {c['time']:9.3f} s  {c['kind']:26} {c['detail']}")
    return lines
