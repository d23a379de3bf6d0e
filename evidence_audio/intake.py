"""Take in a recording without modifying it: open read-only, hash, probe, decode.

Definitions (also in docs/record.md):

* File hashes are SHA-256 (primary), SHA-1 and MD5 of the exact bytes of the file.
* ``pcm_sha256`` is the SHA-256 of the first audio stream's decoded samples at the stream's
  native sample rate and channel count, interleaved, as little-endian 32-bit float (f32le),
  before any downmix or resampling. Integer samples map to float by dividing by 2**(bits-1)
  (as FFmpeg does). A re-wrapped copy of the same audio (wav to flac, mp3 to mka) gives the
  same ``pcm_sha256`` with a different file hash.
* The analysis signal is 16 kHz mono float32: the arithmetic mean of the channels, resampled
  with soxr (quality HQ). ``analysis_sha256`` is the SHA-256 of its f32le samples.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soxr

from .errors import InputError, MediaError

ANALYSIS_RATE = 16000
_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileFacts:
    """What the bytes of the input file are."""

    name: str
    size_bytes: int
    sha256: str
    sha1: str
    md5: str


@dataclass(frozen=True)
class ObservedStat:
    """File-system times as observed at intake (UTC, ISO 8601)."""

    modified: str
    accessed: str
    changed: str


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str
    codec: str | None
    codec_long_name: str | None
    duration_s: float | None
    bit_rate: int | None
    sample_rate: int | None = None
    channels: int | None = None
    channel_layout: str | None = None
    sample_format: str | None = None
    width: int | None = None
    height: int | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerInfo:
    format_name: str
    format_long_name: str
    duration_s: float | None
    bit_rate: int | None
    tags: dict[str, str]
    streams: list[StreamInfo]


@dataclass(frozen=True)
class DecodedAudio:
    """The analysis signal and what decoding it showed."""

    samples: np.ndarray  # float32, mono, ANALYSIS_RATE
    sample_rate: int
    stream_index: int
    native_sample_rate: int
    native_channels: int
    native_samples: int
    pcm_sha256: str
    analysis_sha256: str
    decode_errors: int
    decode_stopped_early: bool

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def native_duration_s(self) -> float:
        return self.native_samples / self.native_sample_rate


@dataclass(frozen=True)
class Intake:
    """Everything learned about the input before analysis."""

    path: Path
    file: FileFacts
    observed: ObservedStat
    container: ContainerInfo
    audio: DecodedAudio


def open_read_only(path: Path):
    """Open a file for reading only, without updating its access time where the OS allows."""
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY)  # O_NOATIME needs ownership
    return os.fdopen(fd, "rb")


def check_input(path: Path) -> os.stat_result:
    """Fail with a one-line error unless path is a readable, non-empty regular file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputError(f"input not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read input {path}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"input is a directory, not a recording: {path}")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"input is not a regular file: {path}")
    if not os.access(path, os.R_OK):
        raise InputError(f"input is not readable (permission denied): {path}")
    if st.st_size == 0:
        raise MediaError(f"input is empty (0 bytes): {path}")
    return st


def hash_file(path: Path) -> FileFacts:
    """Stream SHA-256, SHA-1 and MD5 over the exact bytes of the file."""
    digests = [hashlib.sha256(), hashlib.sha1(), hashlib.md5()]
    size = 0
    with open_read_only(path) as handle:
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            for digest in digests:
                digest.update(chunk)
    sha256, sha1, md5 = (d.hexdigest() for d in digests)
    return FileFacts(name=path.name, size_bytes=size, sha256=sha256, sha1=sha1, md5=md5)


def observe_stat(st: os.stat_result) -> ObservedStat:
    def iso(ns: int) -> str:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="microseconds")

    return ObservedStat(modified=iso(st.st_mtime_ns), accessed=iso(st.st_atime_ns), changed=iso(st.st_ctime_ns))


def _seconds(value, time_base) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * Fraction(time_base))


def _tags(metadata) -> dict[str, str]:
    return {str(k): str(v) for k, v in sorted(dict(metadata or {}).items())}


def _stream_info(stream) -> StreamInfo:
    ctx = stream.codec_context
    common = dict(
        index=stream.index,
        kind=stream.type,
        codec=getattr(getattr(ctx, "codec", None), "canonical_name", None),
        codec_long_name=getattr(getattr(ctx, "codec", None), "long_name", None),
        duration_s=_seconds(stream.duration, stream.time_base),
        bit_rate=getattr(ctx, "bit_rate", None) or None,
        tags=_tags(stream.metadata),
    )
    if stream.type == "audio":
        layout = getattr(ctx, "layout", None)
        return StreamInfo(
            **common,
            sample_rate=ctx.sample_rate or None,
            channels=ctx.channels or None,
            channel_layout=getattr(layout, "name", None),
            sample_format=getattr(getattr(ctx, "format", None), "name", None),
        )
    if stream.type == "video":
        return StreamInfo(**common, width=ctx.width or None, height=ctx.height or None)
    return StreamInfo(**common)


def _open_container(handle, path: Path):
    """Open for reading; tag bytes that are not UTF-8 are kept visible as \\xNN escapes."""
    try:
        return av.open(handle, mode="r", metadata_errors="backslashreplace")
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a recognisable audio or video file: {path} ({exc.strerror or exc})") from None


def probe(container) -> ContainerInfo:
    """Describe the container and its streams exactly as found."""
    fmt = container.format
    duration = container.duration / av.time_base if container.duration is not None else None
    return ContainerInfo(
        format_name=fmt.name,
        format_long_name=fmt.long_name,
        duration_s=duration,
        bit_rate=container.bit_rate or None,
        tags=_tags(container.metadata),
        streams=[_stream_info(s) for s in container.streams],
    )


def _interleaved_float32(frame) -> np.ndarray:
    """A decoded frame as (samples, channels) float32, integers scaled as FFmpeg does."""
    data = frame.to_ndarray()
    channels = frame.layout.nb_channels if hasattr(frame.layout, "nb_channels") else len(frame.layout.channels)
    if frame.format.is_planar:
        data = data.T
    else:
        data = data.reshape(-1, channels)
    if data.dtype == np.uint8:
        return ((data.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if np.issubdtype(data.dtype, np.integer):
        scale = float(2 ** (8 * data.dtype.itemsize - 1))
        return (data.astype(np.float64) / scale).astype(np.float32)
    return data.astype(np.float32, copy=False)


def decode(container, path: Path) -> DecodedAudio:
    """Decode the first audio stream as far as it decodes, to the 16 kHz mono analysis signal."""
    streams = container.streams.audio
    if not streams:
        raise MediaError(f"no audio stream in {path}")
    stream = streams[0]
    native_rate = stream.codec_context.sample_rate
    if not native_rate:
        raise MediaError(f"audio stream has no sample rate: {path}")
    pcm_digest = hashlib.sha256()
    resampler = soxr.ResampleStream(native_rate, ANALYSIS_RATE, 1, dtype="float32", quality="HQ")
    pieces: list[np.ndarray] = []
    native_samples = 0
    channels = 0
    errors = 0
    stopped_early = False
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError:
            errors += 1
            stopped_early = True
            break
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            errors += 1
            continue
        for frame in frames:
            if frame.sample_rate != native_rate:
                errors += 1  # a damaged stream may report a changed rate; such frames are skipped
                continue
            interleaved = _interleaved_float32(frame)
            pcm_digest.update(interleaved.astype("<f4", copy=False).tobytes())
            native_samples += interleaved.shape[0]
            channels = max(channels, interleaved.shape[1])
            mono = interleaved.mean(axis=1, dtype=np.float64).astype(np.float32)
            pieces.append(resampler.resample_chunk(mono, last=False))
    if native_samples == 0:
        raise MediaError(f"no audio could be decoded from {path}")
    pieces.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    samples = np.ascontiguousarray(np.concatenate(pieces), dtype=np.float32)
    return DecodedAudio(
        samples=samples,
        sample_rate=ANALYSIS_RATE,
        stream_index=stream.index,
        native_sample_rate=native_rate,
        native_channels=channels,
        native_samples=native_samples,
        pcm_sha256=pcm_digest.hexdigest(),
        analysis_sha256=hashlib.sha256(samples.astype("<f4", copy=False).tobytes()).hexdigest(),
        decode_errors=errors,
        decode_stopped_early=stopped_early,
    )


def take_in(path: str | os.PathLike) -> Intake:
    """Check, hash, probe and decode a recording, never writing to it."""
    path = Path(path)
    st = check_input(path)
    facts = hash_file(path)
    with open_read_only(path) as handle:
        container = _open_container(handle, path)
        try:
            info = probe(container)
            audio = decode(container, path)
        finally:
            container.close()
    return Intake(path=path, file=facts, observed=observe_stat(st), container=info, audio=audio)


def decode_file(path: str | os.PathLike) -> DecodedAudio:
    """Decode a file to the analysis signal (for tools and benchmarks that need no hashes)."""
    path = Path(path)
    check_input(path)
    with open_read_only(path) as handle:
        container = _open_container(handle, path)
        try:
            return decode(container, path)
        finally:
            container.close()


def confirm_unchanged(intake: Intake) -> None:
    """Re-hash the input after analysis; fail if its bytes changed while we worked."""
    again = hash_file(intake.path)
    if again.sha256 != intake.file.sha256 or again.size_bytes != intake.file.size_bytes:
        raise InputError(f"input changed during analysis: {intake.path}")


def check_media(path: str | os.PathLike) -> None:
    """Fail fast, before any analysis starts, unless ``path`` is a readable file with decodable audio.

    Checks what :func:`take_in` would refuse (missing, unreadable, empty, not media, no audio
    stream, not one audio frame decodable) by decoding up to the first audio frame; the whole
    recording is decoded later by :func:`take_in`. Raises InputError (exit 3) or MediaError (exit 4).
    """
    path = Path(path)
    check_input(path)
    with open_read_only(path) as handle, _open_container(handle, path) as container:
        if not container.streams.audio:
            raise MediaError(f"no audio stream in {path}")
        try:
            for packet in container.demux(container.streams.audio[0]):
                if any(True for _ in packet.decode()):
                    return
        except av.error.FFmpegError:
            pass
    raise MediaError(f"no audio could be decoded from {path}")
