"""A publishable copy of a recording: chosen ranges bleeped, muted, or the voice disguised,
plus a derivation record that ties the copy back to the evidence.

Every sample outside the operations' ranges is the original's decoded sample; with a lossless
output (wav, flac) in the original's sample format it stays bit-identical. Fades and the
disguise's cross-fades lie inside the ranges.

The disguise is irreversible by design: within a range the short-time spectrum is smoothed
across frequency (removing the voice's harmonics, hence its pitch), its envelope is stretched
(moving the formants) and given random phase (seeded, so re-runs are identical). Unlike a pitch
shift, which can be shifted back, nothing of the original pitch or phase is left to recover.
Words stay partly intelligible, as whispered speech with another vocal tract.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .encode import FORMATS, encode, lossless_format
from .errors import InputError, UsageError, VerificationError
from .intake import Intake, NativeAudio, decode_native
from .provenance import utc_now
from .report.blocks import SpeakersBlock, TranscriptBlock
from .report.canonical import render, seal
from .values import seconds

SCHEMA_ID = "evidence-audio/derivation/v1"
MODES = ("bleep", "mute", "disguise")
BLEEP_HZ = 1000.0
BLEEP_LEVEL = 0.25  # about -12 dBFS
FADE_S = 0.005
WORD_PAD_S = 0.05
DISGUISE_FORMANT_SHIFT = 1.2  # spectral envelope stretched by this factor
DISGUISE_SMOOTH_HZ = 300.0
DISGUISE_SEED = 20240607


@dataclass(frozen=True)
class Operation:
    mode: str
    start: float
    end: float
    reason: str


_TIME = r"(?:\d+:){0,2}\d+(?:\.\d*)?"
TIME_TOLERANCE_S = 0.001  # reports print times to the millisecond: a range may end this far past the end


def parse_time(text: str) -> float:
    """A time as the reports print it -> seconds: '45.39', '0:45.4' (m:ss), '00:00:45.390' (h:mm:ss).

    Raises UsageError (exit 2) for anything else, or minutes/seconds fields of 60 and more.
    """
    text = text.strip()
    if not re.fullmatch(_TIME, text):
        raise UsageError(f"bad time {text!r}: write seconds (45.39), m:ss (0:45.4) or h:mm:ss (00:00:45.390)")
    *fields, last = text.split(":")
    if any(int(f) >= 60 for f in fields[1:]) or (fields and float(last) >= 60):
        raise UsageError(f"bad time {text!r}: minutes and seconds run from 0 to 59")
    value = 0.0
    for field_ in fields:
        value = value * 60 + int(field_)
    return value * 60 + float(last) if fields else float(last)


def parse_ranges(text: str, duration_s: float | None = None) -> list[tuple[float, float]]:
    """'1.5-3.2, 0:45-0:50.5, 00:01:00.000-00:01:02.250' -> [(1.5, 3.2), (45.0, 50.5), (60.0, 62.25)].

    Each START-END uses the time forms of :func:`parse_time`. Raises UsageError (exit 2) for a
    malformed range, an END not after START, or, given ``duration_s``, a range outside the recording.
    """
    ranges = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(rf"({_TIME})\s*-\s*({_TIME})", part)
        if not match:
            raise UsageError(f"bad range {part!r}: write START-END, e.g. 1.5-3.2 or 0:45-0:50")
        start, end = parse_time(match[1]), parse_time(match[2])
        if start >= end:
            raise UsageError(f"bad range {part!r}: the end must come after the start")
        if duration_s is not None and end > duration_s + TIME_TOLERANCE_S:
            raise UsageError(f"range {part!r} ({start:.3f}-{end:.3f} s) lies outside the recording, "
                             f"which ends at {duration_s:.3f} s")
        ranges.append((start, end))
    return ranges


def load_report(path: Path, intake: Intake) -> dict:
    """Read a report.json (or its folder), check its seal and that it describes this recording.

    Read and checked by ``report.verify`` (``report_path``, ``check_report``); of its checks only the
    integrity digest must pass here. Raises UsageError (2) for a rendering, InputError (3) for a
    file that cannot be read or parsed, VerificationError (5) for a broken seal or another file's report.
    """
    from .report.verify import check_report, report_path

    path = report_path(Path(path))
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read report {path}: {exc}") from None
    checks, record = check_report(raw)
    if record is None:
        raise InputError(f"cannot read report {path}: {checks[0].detail}")
    if not next(c.passed for c in checks if c.name == "integrity digest"):
        raise VerificationError(f"report {path} fails its integrity check; it was altered")
    if record.get("evidence", {}).get("hashes", {}).get("sha256") != intake.file.sha256:
        raise VerificationError(f"report {path} describes another file (SHA-256 differs from {intake.path.name})")
    return record


def speaker_ranges(report: dict, speaker: str) -> list[tuple[float, float]]:
    block: SpeakersBlock | None = report.get("analysis", {}).get("speakers")
    if not block:
        raise UsageError("the report has no speakers block; run analyze with diarization first")
    if speaker not in block.get("labels", []):
        raise UsageError(f"speaker {speaker!r} is not in the report (labels: {', '.join(block.get('labels', []))})")
    return [(t["start"], t["end"]) for t in block["turns"] if t["speaker"] == speaker]


def _normal(word: str) -> str:
    return re.sub(r"[^\w']+", "", word.casefold())


def word_ranges(report: dict, words: list[str], pad: float = WORD_PAD_S) -> list[tuple[float, float, str]]:
    """(start, end, word) of every transcript word in the list, padded by pad seconds."""
    transcript: TranscriptBlock | None = report.get("analysis", {}).get("transcript")
    if not transcript:
        raise UsageError("the report has no transcript block; run analyze with transcription first")
    wanted = {_normal(w) for w in words if _normal(w)}
    found = []
    for segment in transcript.get("segments", []):
        for word in segment.get("words", []):
            if _normal(word["text"]) in wanted:
                found.append((max(word["start"] - pad, 0.0), word["end"] + pad, _normal(word["text"])))
    return found


def plan_operations(intake: Intake, ranges: str | None = None, mode: str | None = None, speaker: str | None = None,
                    speaker_report: str | Path | None = None, words: list[str] | None = None,
                    words_report: str | Path | None = None) -> list[Operation]:
    """The operations a redaction request names, in the order given.

    Parameters
    ----------
    intake : Intake
        The recording to redact (ranges are checked against its duration, reports against its SHA-256).
    ranges : str, optional
        START-END ranges as :func:`parse_ranges` reads them (seconds, m:ss or h:mm:ss).
    mode : str, optional
        One of ``MODES`` for every operation; default bleep for ranges and words, disguise for a speaker.
    speaker, speaker_report : str, path, optional
        Every turn of this speaker label in this report.json (or its folder).
    words, words_report : list of str, path, optional
        Every transcript word of this list in this report.json, padded by ``WORD_PAD_S``.

    Returns
    -------
    list of Operation
        (mode, start s, end s, reason) for each stretch; possibly empty.

    Raises
    ------
    UsageError
        A malformed range, a range outside the recording, an unknown speaker or a report without the
        block needed (exit 2).
    InputError
        A report that cannot be read (exit 3).
    VerificationError
        A report that fails its integrity check or describes another file (exit 5).
    """
    operations = [Operation(mode or "bleep", a, b, "range given")
                  for a, b in parse_ranges(ranges or "", intake.audio.native_duration_s)]
    if speaker:
        operations += [Operation(mode or "disguise", a, b, f"speaker {speaker}")
                       for a, b in speaker_ranges(load_report(speaker_report, intake), speaker)]
    if words:
        operations += [Operation(mode or "bleep", a, b, f"word '{w}'")
                       for a, b, w in word_ranges(load_report(words_report, intake), words)]
    return operations


def _fade(n: int, rate: int) -> np.ndarray:
    """Raised-cosine gain, 0 at both ends and 1 in the middle, over n samples."""
    k = min(int(FADE_S * rate), n // 2)
    gain = np.ones(n)
    if k:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        gain[:k], gain[n - k:] = ramp, ramp[::-1]
    return gain


def _disguise(segment: np.ndarray, rate: int, seed: int) -> np.ndarray:
    """Whisper-like resynthesis with moved formants (see the module docstring)."""
    from scipy.ndimage import uniform_filter1d  # scipy loaded only when a voice is disguised
    from scipy.signal import istft, stft

    nper = int(0.032 * rate)
    _, _, spec = stft(segment, fs=rate, nperseg=nper, noverlap=nper * 3 // 4)
    magnitude = np.abs(spec)
    bins = max(int(DISGUISE_SMOOTH_HZ / (rate / nper)), 1)
    envelope = uniform_filter1d(magnitude, bins, axis=0, mode="nearest")
    source = np.arange(envelope.shape[0]) / DISGUISE_FORMANT_SHIFT
    shifted = np.stack([np.interp(source, np.arange(envelope.shape[0]), col) for col in envelope.T], 1)
    phase = np.random.default_rng(seed).uniform(-np.pi, np.pi, size=shifted.shape)
    _, out = istft(shifted * np.exp(1j * phase), fs=rate, nperseg=nper, noverlap=nper * 3 // 4)
    out = out[: len(segment)]
    out = np.pad(out, (0, len(segment) - len(out)))
    level = np.sqrt(np.mean(segment ** 2) / max(np.mean(out ** 2), 1e-20))
    return out * level


def apply(audio: NativeAudio, operations: list[Operation]) -> np.ndarray:
    """The redacted samples (n, channels); samples outside every operation are untouched."""
    out = audio.samples.copy()
    rate = audio.sample_rate
    for number, op in enumerate(operations):
        a = max(int(round(op.start * rate)), 0)
        b = min(int(round(op.end * rate)), out.shape[0])
        if b <= a:
            continue
        n = b - a
        gain = _fade(n, rate)[:, None]
        if op.mode == "mute":
            replacement = np.zeros((n, out.shape[1]))
        elif op.mode == "bleep":
            tone = BLEEP_LEVEL * np.sin(2 * np.pi * BLEEP_HZ * np.arange(n) / rate)
            replacement = np.repeat(tone[:, None], out.shape[1], axis=1)
        else:
            replacement = np.stack([_disguise(out[a:b, c].astype(np.float64), rate, DISGUISE_SEED + number * 16 + c)
                                    for c in range(out.shape[1])], 1)
        # cross-fade inside the range, so its edges carry no click and nothing outside changes
        out[a:b] = (out[a:b] * (1.0 - gain) + replacement * gain).astype(np.float32)
    return out


def _operation_record(op: Operation) -> dict:
    record = {**asdict(op), "start": seconds(op.start), "end": seconds(op.end)}
    if op.mode == "bleep":
        record["parameters"] = {"tone_hz": BLEEP_HZ, "level_full_scale": BLEEP_LEVEL, "fade_s": FADE_S}
    elif op.mode == "mute":
        record["parameters"] = {"fade_s": FADE_S}
    else:
        record["parameters"] = {"method": "spectral envelope, random phase, formant stretch",
                                "formant_shift": DISGUISE_FORMANT_SHIFT, "smoothing_hz": DISGUISE_SMOOTH_HZ,
                                "seed": DISGUISE_SEED, "fade_s": FADE_S, "reversible": False}
    return record


def redact(intake: Intake, operations: list[Operation], suffix: str | None = None) -> tuple[str, bytes, dict]:
    """A redacted copy of the recording and the sealed record that ties it to the evidence.

    Parameters
    ----------
    intake : Intake
        The recording (decoded again at its native rate, every channel).
    operations : list of Operation
        What to do where (seconds); from :func:`plan_operations`.
    suffix : str, optional
        Output format: .wav, .flac, .mp3, .m4a or .opus; default the input's if wav or flac, else .wav.

    Returns
    -------
    name : str
        ``<stem>.redacted<suffix>``.
    data : bytes
        The derivative file: the original's rate and channels, lossless formats bit-identical outside
        the operations.
    record : dict
        The sealed derivation record (derivation.schema.json): both SHA-256, the operations, times.

    Raises
    ------
    UsageError
        No operation, or one starting after the end of the recording (exit 2).
    OutputError
        A format that cannot hold the recording's sample rate (exit 7).
    """
    if not operations:
        raise UsageError("nothing to redact: give --ranges, --speaker or --words")
    audio = decode_native(intake.path, intake.audio.stream_index)
    for op in operations:
        if op.start >= audio.duration_s:
            raise UsageError(f"range {op.start:.3f}-{op.end:.3f} s starts after the end of the recording "
                             f"({audio.duration_s:.3f} s)")
    in_suffix = intake.path.suffix.lower()
    suffix = (suffix or (in_suffix if in_suffix in (".wav", ".flac") else ".wav")).lower()
    if not suffix.startswith("."):
        suffix = "." + suffix
    pcm_format = lossless_format(audio.sample_format)
    ordered = sorted(operations, key=lambda o: (o.start, o.end, o.mode))
    data = encode(apply(audio, ordered), audio.sample_rate, suffix, pcm_format=pcm_format)
    name = f"{intake.path.stem}.redacted{suffix}"
    lossless = suffix in (".wav", ".flac")
    record = {
        "schema": SCHEMA_ID,
        "original": {"file_name": intake.file.name, "sha256": intake.file.sha256,
                     "pcm_sha256": intake.audio.pcm_sha256, "sample_rate": audio.sample_rate,
                     "channels": audio.samples.shape[1], "duration_s": seconds(audio.duration_s)},
        "derivative": {"file_name": name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data),
                       "format": FORMATS[suffix][0], "sample_rate": audio.sample_rate,
                       "channels": audio.samples.shape[1], "sample_format": pcm_format if lossless else FORMATS[suffix][2]},
        "operations": [_operation_record(op) for op in ordered],
        "unchanged_outside_operations": (
            "bit-identical to the original's decoded samples" if lossless and audio.codec.startswith(("pcm_", "flac"))
            else "identical before encoding; the output codec changes every sample slightly"),
        "tool": {"name": "evidence-audio", "version": __version__},
        "created_utc": utc_now(),
    }
    return name, data, seal(record)


def redaction_files(intake: Intake, operations: list[Operation],
                    suffix: str | None = None) -> tuple[dict, dict[str, bytes]]:
    """The sealed derivation record and the files of a redaction folder (the derivative, derivation.json)."""
    name, data, record = redact(intake, operations, suffix)
    return record, {name: data, "derivation.json": render(record)}


def log_in_custody(reports: list[Path], record: dict, folder: Path) -> None:
    """A ``redact`` entry in the custody log of each report a redaction read (speakers, words)."""
    from .custody import log_derived

    name = record["derivative"]["file_name"]
    for source in dict.fromkeys(reports):
        log_derived(source, "redact", {"derivative_sha256": record["derivative"]["sha256"],
                                       "output": str(folder / name), "operations": len(record["operations"])})

