"""Take in a recording without modifying it: open read-only, hash, probe, decode.

Every sample of every audio stream is decoded, once, by ``decode`` (the only decoding path of
the package), and placed on the file's own timeline (what a player shows). Definitions (also in
docs/record.md):

* File hashes are SHA-256 (primary), SHA-1 and MD5 of the exact bytes of the file.
* Timeline: times are presentation times minus the container's start time, so a stream that
  starts 4 s after the video starts at 4 s. A jump forward in a stream's timestamps (more than
  ``GAP_TOLERANCE_S``, at most ``MAX_GAP_FILL_S``) is filled with digital silence and reported
  as a gap; a jump backwards (overlap) is reported and its samples are kept, contiguous.
* ``pcm_sha256`` (decoded-audio identity) is the SHA-256 of a UTF-8 text with one line per audio
  stream, in stream order: ``a<k> <rate>:<channels>:<samples>[,<rate>:<channels>:<samples>...]
  <stream sha256>\n``, where k counts audio streams from 0, the segments are the runs of
  constant sample rate and channel count in decoding order, and the stream SHA-256 covers every
  decoded sample of the stream as little-endian 32-bit float (f32le), interleaved, at its own
  rate and channel count, before any replacement, gap filling, downmix or resampling. Integer
  samples map to float by dividing by 2**(bits-1) (as FFmpeg does).
* ``packet_sha256`` (packet identity) is the same text with ``<codec>:<packets>`` as the middle
  field and the SHA-256 of every audio packet's payload, in order (ADTS headers of AAC removed,
  ID3 tags inside MP3 streams left out), so a lossless re-wrap (M4A to MKA or ADTS) keeps it.
* The analysis signal is 16 kHz mono float32 on the timeline: per stream the arithmetic mean of
  its channels (or one channel, where the mean cancels), resampled with soxr (quality HQ); the
  streams analysed are summed. ``analysis_sha256`` is the SHA-256 of its f32le samples.
* Non-finite samples (NaN, +-Inf) are counted and replaced with 0 for analysis.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soxr

from .errors import InputError, MediaError

ANALYSIS_RATE = 16000
_CHUNK = 1 << 20
GAP_TOLERANCE_S = 0.02  # timestamp jumps up to this are jitter, not gaps
MAX_GAP_FILL_S = 3600.0  # gaps are filled up to this in all per stream; beyond, reported but not filled
SIGNAL_FLOOR_DBFS = -70.0  # a stream whose RMS level is below this carries no signal
CANCEL_DB = -20.0  # channel mean this far below the channels' own energy: the channels cancel
OUT_OF_PHASE_DB = -6.0  # below this (unrelated channels give -3 dB) the description says so
SHORTFALL_TOLERANCE_S = 0.1  # promised minus decoded duration above this is a shortfall
_BLOCK_SAMPLES = 1 << 23  # decoded audio is kept in blocks of this many samples: 32 MiB mono, above
# glibc's largest mmap threshold, so that each block goes back to the system when freed


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
class Gap:
    """A jump in one stream's timestamps: forward (a gap, filled with silence) or backward (an overlap)."""

    stream_index: int
    start: float  # s on the timeline, where the stream's audio broke off
    length_s: float  # > 0 gap, < 0 overlap
    filled: bool  # gap filled with digital silence (overlaps and jumps over MAX_GAP_FILL_S are not)


@dataclass(frozen=True)
class FormatChange:
    """The sample rate or channel layout changing inside a stream (a fact, e.g. of joined files)."""

    stream_index: int
    time: float  # s on the timeline
    what: str  # "sample_rate", "channel_layout" or "id3_tag" (an ID3 tag inside an MP3 stream)
    before: str | None
    after: str | None


@dataclass(frozen=True)
class Shortfall:
    """Less audio decoded than a header promises."""

    stream_index: int | None  # None: the container's promise
    what: str  # which header made the promise
    promised_s: float
    decoded_s: float

    @property
    def missing_s(self) -> float:
        return self.promised_s - self.decoded_s


@dataclass(frozen=True)
class AudioStream:
    """One audio stream as decoded: where it sits on the timeline, its level, identities, problems."""

    index: int
    codec: str | None
    start_time_s: float | None  # first decoded sample's time on the timeline
    end_time_s: float | None  # time after its last sample, filled gaps included
    native_samples: int  # per channel, as decoded (no gap filling)
    decoded_duration_s: float
    sample_rates: list[int]  # every rate, in order of appearance
    channels: int  # the most channels of any frame
    rms_dbfs: float | None  # over every channel and sample; None when nothing decoded or all zero
    peak_dbfs: float | None
    channel_rms_dbfs: list[float | None]
    mix_to_channels_db: float | None  # energy of the channel mean relative to the channels' mean energy
    pcm_sha256: str  # every decoded sample, f32le interleaved
    packet_sha256: str  # every packet's payload
    packets: int
    decode_errors: int
    nonfinite_samples: int
    first_nonfinite_time: float | None
    segments: list[tuple[int, int, int]]  # (rate, channels, samples) runs
    carries_signal: bool = False
    analysed: bool = False


@dataclass(frozen=True)
class DecodedAudio:
    """The analysis signal and what decoding every audio stream showed.

    ``samples``: float32, mono, ``sample_rate`` (16 kHz), on the file's timeline (sample 0 = the
    container's start time). The ``native_*`` fields describe the first analysed stream.
    """

    samples: np.ndarray
    sample_rate: int
    stream_index: int
    native_sample_rate: int
    native_channels: int
    native_samples: int
    pcm_sha256: str
    analysis_sha256: str
    decode_errors: int
    decode_stopped_early: bool
    packet_sha256: str = ""
    streams: list[AudioStream] = field(default_factory=list)
    analysed_streams: list[int] = field(default_factory=list)
    analysis_signal: str = ""  # which signal was analysed and why, in words
    timeline_origin_s: float = 0.0
    gaps: list[Gap] = field(default_factory=list)
    format_changes: list[FormatChange] = field(default_factory=list)
    shortfalls: list[Shortfall] = field(default_factory=list)
    native: np.ndarray | None = None  # with decode(native=True): (n, channels) float32 of stream_index
    native_format: str = "flt"  # FFmpeg's sample format name of that stream

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def native_duration_s(self) -> float:
        """Seconds decoded of the first analysed stream (every sample at its own rate)."""
        for stream in self.streams:
            if stream.index == self.stream_index:
                return stream.decoded_duration_s
        return self.native_samples / self.native_sample_rate

    @property
    def nonfinite_samples(self) -> int:
        return sum(s.nonfinite_samples for s in self.streams)

    @property
    def damaged(self) -> bool:
        return bool(self.decode_errors or self.decode_stopped_early or self.shortfalls or self.nonfinite_samples)


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


def check_analysis_rate(sample_rate: int, stage: str) -> None:
    """Raise ValueError unless ``sample_rate`` is ``ANALYSIS_RATE``, the rate every model stage takes."""
    if sample_rate != ANALYSIS_RATE:
        raise ValueError(f"the {stage} stage takes {ANALYSIS_RATE} Hz audio, not {sample_rate} Hz")


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


def file_digests(path: str | os.PathLike, algorithms: tuple[str, ...] = ("sha256",)) -> tuple[int, dict[str, str]]:
    """The size in bytes of a file and its hex digests (hashlib names), streamed over its exact
    bytes, read-only without touching its access time: the package's one file-hashing function."""
    digests = {name: hashlib.new(name) for name in algorithms}
    size = 0
    with open_read_only(Path(path)) as handle:
        while chunk := handle.read(_CHUNK):
            size += len(chunk)
            for digest in digests.values():
                digest.update(chunk)
    return size, {name: digest.hexdigest() for name, digest in digests.items()}


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 (hex) of a file's exact bytes."""
    return file_digests(path)[1]["sha256"]


def hash_file(path: Path) -> FileFacts:
    """Stream SHA-256, SHA-1 and MD5 over the exact bytes of the file."""
    size, digests = file_digests(path, ("sha256", "sha1", "md5"))
    return FileFacts(name=path.name, size_bytes=size, **digests)


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
    if ctx is None:  # a codec FFmpeg does not know (e.g. a WAV with an unknown format tag)
        return StreamInfo(index=stream.index, kind=stream.type, codec=None, codec_long_name=None,
                          duration_s=_seconds(stream.duration, stream.time_base), bit_rate=None,
                          tags=_tags(stream.metadata))
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
        if _mp4_without_index(handle):
            raise MediaError(f"an MP4/M4A file whose index (moov box) is missing, cut short or never finalised; "
                             f"it cannot be decoded without repair: {path}") from None
        raise MediaError(f"not a recognisable audio or video file: {path} ({exc.strerror or exc})") from None


def _mp4_without_index(handle) -> bool:
    """True for an ISO-BMFF file (ftyp box first) whose top-level boxes hold no moov box."""
    handle.seek(0)
    head = handle.read(8)
    if len(head) < 8 or head[4:8] != b"ftyp":
        return False
    size_of_file = os.fstat(handle.fileno()).st_size
    offset = 0
    while offset + 8 <= size_of_file:
        handle.seek(offset)
        box = handle.read(16)
        size, kind = int.from_bytes(box[:4], "big"), box[4:8]
        if kind == b"moov":
            return False
        if size == 1 and len(box) == 16:
            size = int.from_bytes(box[8:16], "big")
        if size < 8:
            break  # size 0 (to the end of the file) or a broken box
        offset += size
    return True


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
    channels = frame.layout.nb_channels if hasattr(frame.layout, "nb_channels") else len(frame.layout.channels)
    if frame.format.name in ("s64", "s64p"):  # PyAV has no array conversion for 64-bit integers
        planes = [np.frombuffer(plane, dtype="<i8") for plane in frame.planes]
        data = (np.stack([p[:frame.samples] for p in planes]) if frame.format.is_planar
                else planes[0][:frame.samples * channels])
    else:
        data = frame.to_ndarray()
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


def _dbfs(energy: float, count: int) -> float | None:
    return round(float(10 * np.log10(energy / count)), 2) if count and energy > 0 else None


class _Placer:
    """Puts one stream's blocks on a timeline at ``rate``: each run of constant input rate is
    resampled with soxr (HQ) and starts where the previous ended, or after a gap left as zeros."""

    def __init__(self, rate: int, channels: int | None):
        self.rate, self.channels = rate, channels  # channels None: mono, 1-D
        self.blocks: list[tuple[int, np.ndarray]] = []
        self.end = 0
        self._position = 0
        self._resampler = None
        self._pending: list[np.ndarray] = []
        self._pending_samples = 0

    def run(self, rate: int, skip_s: float) -> None:
        """Start a run of ``rate`` input, ``skip_s`` seconds (silence) after the end so far."""
        self.flush()
        self._position = self.end + int(round(skip_s * self.rate))
        self._resampler = None if rate == self.rate else soxr.ResampleStream(
            rate, self.rate, self.channels or 1, dtype="float32", quality="HQ")

    def add(self, block: np.ndarray) -> None:
        self._put(block if self._resampler is None else self._resampler.resample_chunk(block, last=False))

    def _put(self, block: np.ndarray) -> None:
        if len(block):
            self._pending.append(block)
            self._pending_samples += len(block)
            if self._pending_samples >= _BLOCK_SAMPLES:
                self._settle()

    def _settle(self) -> None:
        """Join the pending small blocks into one (a large allocation, returned to the system when freed)."""
        if self._pending:
            block = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
            self.blocks.append((self._position, block))
            self._position += len(block)
            self.end = max(self.end, self._position)
            self._pending, self._pending_samples = [], 0

    def flush(self) -> None:
        """End the run: the resampler's last samples out, every block settled (``end`` is then exact)."""
        if self._resampler is not None:
            empty = np.zeros((0,) if self.channels is None else (0, self.channels), dtype=np.float32)
            self._put(self._resampler.resample_chunk(empty, last=True))
            self._resampler = None
        self._settle()

    def assemble(self, length: int | None = None) -> np.ndarray:
        """The whole timeline (zeros where nothing was placed); frees the blocks as it goes."""
        self.flush()
        length = self.end if length is None else length
        out = np.zeros((length,) if self.channels is None else (length, self.channels), dtype=np.float32)
        while self.blocks:
            position, block = self.blocks.pop()
            out[position:position + len(block)] += block[:max(0, length - position)]
        return out


class _StreamDecoder:
    """Decoding state of one audio stream: identities, levels, timeline, facts."""

    def __init__(self, stream, origin: float, pick: int | None, analysis: bool, native: bool):
        self.stream, self.index, self.origin, self.pick = stream, stream.index, origin, pick
        self.codec = stream.codec_context.codec.canonical_name
        self.pcm, self.packet_digest, self.packets = hashlib.sha256(), hashlib.sha256(), 0
        self.segments: list[list[int]] = []
        self.errors = self.nonfinite = 0
        self.first_nonfinite: float | None = None
        self.start: float | None = None
        self.clock = 0.0  # timeline time (s) of the next sample as placed (gaps filled included)
        self.filled_s = 0.0  # seconds of gaps filled so far
        self.shift = 0.0  # added to a frame's time to place it (changed by overlaps and unfilled jumps)
        self.rate = self.layout = None
        self.energy = np.zeros(0)
        self.mix_energy = self.peak = 0.0
        self.count = 0
        self.gaps: list[Gap] = []
        self.changes: list[FormatChange] = []
        self.analysis = _Placer(ANALYSIS_RATE, None) if analysis else None
        self.native = native
        self.native_placer: _Placer | None = None

    def packet(self, packet) -> bool:
        """Hash the packet's payload; False for a packet that is not audio (an ID3 tag in an MP3)."""
        if not packet.size:
            return True
        payload = bytes(packet)
        if self.codec == "mp3" and payload[:3] == b"ID3":
            self.changes.append(FormatChange(self.index, round(self.clock, 3), "id3_tag", None, None))
            return False
        if self.codec == "aac" and len(payload) > 9 and payload[0] == 0xFF and (payload[1] & 0xF6) == 0xF0:
            payload = payload[7 if payload[1] & 1 else 9:]  # ADTS header: framing, not audio
        self.packet_digest.update(payload)
        self.packets += 1
        return True

    def frame(self, frame) -> None:
        data = _interleaved_float32(frame)
        n, channels = data.shape
        rate = frame.sample_rate
        layout = getattr(frame.layout, "name", str(channels))
        self.pcm.update(data.astype("<f4", copy=False).tobytes())
        if self.segments and self.segments[-1][:2] == [rate, channels]:
            self.segments[-1][2] += n
        else:
            self.segments.append([rate, channels, n])
        finite = np.isfinite(data)
        if not finite.all():
            bad = ~finite
            if self.first_nonfinite is None:
                self.first_nonfinite = round(self.clock + int(np.argmax(bad.any(axis=1))) / rate, 3)
            self.nonfinite += int(bad.sum())
            data = np.where(bad, np.float32(0), data)
        t = None if frame.pts is None or frame.time_base is None else float(frame.pts * frame.time_base) - self.origin
        skip = None
        if self.start is None:
            self.start = max(t or 0.0, 0.0)
            if self.start > MAX_GAP_FILL_S:  # not believable as a late start: reported, not filled
                self.gaps.append(Gap(self.index, 0.0, round(self.start, 3), False))
                self.start = 0.0
            self.shift = self.start - (t or 0.0)
            self.clock, skip = self.start, self.start
        elif t is not None:
            jump = t + self.shift - self.clock
            if jump > GAP_TOLERANCE_S:
                filled = self.filled_s + jump <= MAX_GAP_FILL_S
                self.gaps.append(Gap(self.index, round(self.clock, 3), round(jump, 3), filled))
                if filled:
                    skip, self.clock = jump, self.clock + jump
                    self.filled_s += jump
                else:
                    self.shift -= jump
            elif jump < -GAP_TOLERANCE_S:
                self.gaps.append(Gap(self.index, round(self.clock, 3), round(jump, 3), False))
                self.shift -= jump
        if self.rate is not None and rate != self.rate:
            self.changes.append(FormatChange(self.index, round(self.clock, 3), "sample_rate",
                                             f"{self.rate} Hz", f"{rate} Hz"))
        if self.layout is not None and layout != self.layout:
            self.changes.append(FormatChange(self.index, round(self.clock, 3), "channel_layout", self.layout, layout))
        if skip is not None or rate != self.rate:
            for placer in (self.analysis, self.native_placer):
                if placer is not None:
                    placer.run(rate, skip or 0.0)
        self.rate, self.layout = rate, layout
        if self.native and self.native_placer is None:
            self.native_placer = _Placer(rate, channels)
            self.native_placer.run(rate, self.start)
        # levels, per channel and of the channel mean
        if channels > len(self.energy):
            self.energy = np.pad(self.energy, (0, channels - len(self.energy)))
        self.energy[:channels] += np.einsum("ij,ij->j", data, data, dtype=np.float64)
        mono = data.mean(axis=1, dtype=np.float64).astype(np.float32)
        self.mix_energy += float(np.dot(mono.astype(np.float64), mono))
        self.peak = max(self.peak, float(np.abs(data).max(initial=0.0)))
        self.count += n
        if self.analysis is not None:
            picked = None if self.pick is None else np.ascontiguousarray(data[:, min(self.pick, channels - 1)])
            self.analysis.add(mono if picked is None else picked)
        if self.native_placer is not None:
            width = self.native_placer.channels
            if channels != width:  # another layout: its channel mean in every channel
                data = np.repeat(data.mean(axis=1, keepdims=True), width, axis=1)
            self.native_placer.add(np.ascontiguousarray(data))
        self.clock += n / rate

    def summary(self) -> AudioStream:
        samples = sum(s[2] for s in self.segments)
        decoded_s = sum(s[2] / s[0] for s in self.segments)
        channels = max((s[1] for s in self.segments), default=0)
        rms = _dbfs(float(self.energy.sum()), self.count * max(channels, 1))
        per_channel = [_dbfs(float(e), self.count) for e in self.energy]
        mix = None
        if channels > 1 and self.energy.sum() > 0:
            mix = round(float(10 * np.log10(max(self.mix_energy, 1e-30) / (self.energy.sum() / len(self.energy)))), 2)
        rates = list(dict.fromkeys(s[0] for s in self.segments))
        return AudioStream(
            index=self.index, codec=self.codec, start_time_s=None if self.start is None else round(self.start, 6),
            end_time_s=None if self.start is None else round(self.clock, 6),
            native_samples=samples, decoded_duration_s=decoded_s, sample_rates=rates, channels=channels,
            rms_dbfs=rms, peak_dbfs=round(float(20 * np.log10(self.peak)), 2) if self.peak > 0 else None,
            channel_rms_dbfs=per_channel, mix_to_channels_db=mix,
            pcm_sha256=self.pcm.hexdigest(), packet_sha256=self.packet_digest.hexdigest(), packets=self.packets,
            decode_errors=self.errors, nonfinite_samples=self.nonfinite, first_nonfinite_time=self.first_nonfinite,
            segments=[tuple(s) for s in self.segments],
            carries_signal=rms is not None and rms > SIGNAL_FLOOR_DBFS)


def identity_text(streams: list[AudioStream], packets: bool = False) -> str:
    """The text whose SHA-256 is ``pcm_sha256`` (or ``packet_sha256``): one line per audio stream."""
    lines = []
    for k, s in enumerate(streams):
        middle = f"{s.codec}:{s.packets}" if packets else ",".join(f"{r}:{c}:{n}" for r, c, n in s.segments)
        lines.append(f"a{k} {middle} {s.packet_sha256 if packets else s.pcm_sha256}\n")
    return "".join(lines)


def _wav_promise(path: Path) -> float | None:
    """Seconds of audio a RIFF WAV header's data chunk promises (None if not stated)."""
    with open_read_only(path) as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        rate = block_align = None
        while len(chunk := handle.read(8)) == 8:
            kind, size = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if kind == b"fmt ":
                fmt = handle.read(min(size, 16))
                rate, block_align = int.from_bytes(fmt[4:8], "little"), int.from_bytes(fmt[12:14], "little")
                handle.seek(size - len(fmt) + size % 2, os.SEEK_CUR)
            elif kind == b"data":
                if rate and block_align and 0 < size < 0xFFFFFFFF:
                    return size / block_align / rate
                return None
            else:
                handle.seek(size + size % 2, os.SEEK_CUR)
    return None


def _duration_is_estimate(container, path: Path) -> bool:
    """True where FFmpeg guesses the duration from the bit rate: ADTS AAC, and MP3 without a
    Xing/Info/VBRI header (such a guess cannot show a shortfall)."""
    if container.format.name == "aac":
        return True
    if container.format.name == "mp3":
        with open_read_only(path) as handle:
            head = handle.read(1 << 18)
        return not any(tag in head for tag in (b"Xing", b"Info", b"VBRI"))
    return False


def _shortfalls(container, path: Path, streams: list[AudioStream]) -> list[Shortfall]:
    """Every header promise of more audio than decoded (beyond SHORTFALL_TOLERANCE_S)."""
    found: list[Shortfall] = []
    if _duration_is_estimate(container, path):
        return found
    for s in streams:
        stream = container.streams[s.index]
        declared = _seconds(stream.duration, stream.time_base)
        if declared is not None and declared - s.decoded_duration_s > SHORTFALL_TOLERANCE_S:
            found.append(Shortfall(s.index, "stream duration", declared, s.decoded_duration_s))
    audio_only = all(st.type == "audio" for st in container.streams)
    if audio_only and container.duration is not None:
        declared = container.duration / av.time_base
        end = max(s.end_time_s or 0.0 for s in streams)
        if declared - end > SHORTFALL_TOLERANCE_S:
            found.append(Shortfall(None, "container duration", declared, end))
    if container.format.name == "wav" and len(streams) == 1:
        declared = _wav_promise(path)
        if declared is not None and declared - streams[0].decoded_duration_s > SHORTFALL_TOLERANCE_S:
            found.append(Shortfall(streams[0].index, "WAV data chunk size", declared, streams[0].decoded_duration_s))
    return found


def _cancelling(audio: DecodedAudio) -> dict[int, int]:
    """Analysed streams whose channel mean cancels: stream index -> its loudest channel."""
    return {s.index: int(np.argmax([e if e is not None else -1e9 for e in s.channel_rms_dbfs]))
            for s in audio.streams if s.analysed and s.mix_to_channels_db is not None
            and s.mix_to_channels_db < CANCEL_DB}


def decode(container, path: Path, stream: int | None = None, picks: dict[int, int] | None = None,
           native: bool = False) -> DecodedAudio:
    """Decode every audio stream as far as it decodes, in one pass, onto the file's timeline.

    Parameters
    ----------
    container : av.container.InputContainer
        The opened file (``_open_container``); read once, from the start.
    path : Path
        Its path, for messages.
    stream : int, optional
        Analyse only this stream (container index); default: every stream that carries signal (RMS
        above ``SIGNAL_FLOOR_DBFS``), summed.
    picks : dict of int to int, optional
        Stream index -> the one channel to analyse instead of the channel mean (where the mean cancels).
    native : bool
        Also keep the first analysed stream's samples at its first rate, every channel, on the timeline.

    Returns
    -------
    DecodedAudio
        ``samples``: float32, shape (n,), 16000 Hz mono; with ``native``, ``native``: float32, shape
        (n, channels); the streams, gaps, format changes and the PCM, packet and analysis SHA-256.

    Raises
    ------
    MediaError
        No audio stream, or nothing decodes (exit 4).
    """
    picks = picks or {}
    audio_streams = list(container.streams.audio)
    if not audio_streams:
        raise MediaError(f"no audio stream in {path}")
    decodable = [s for s in audio_streams if s.codec_context is not None and s.codec_context.codec is not None]
    if not decodable:
        raise MediaError(f"not decodable: no audio stream in a codec FFmpeg can decode in {path}")
    if stream is not None and stream not in [s.index for s in audio_streams]:
        raise MediaError(f"stream {stream} is not an audio stream of {path}; audio streams: "
                         + ", ".join(str(s.index) for s in audio_streams))
    origin = container.start_time / av.time_base if container.start_time is not None else 0.0
    states = {s.index: _StreamDecoder(s, origin, picks.get(s.index), True if stream is None else s.index == stream,
                                      native) for s in decodable}
    stopped_early = False
    packets = container.demux(*decodable)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.FFmpegError:
            stopped_early = True
            break
        state = states[packet.stream.index]
        if not state.packet(packet):
            continue
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            state.errors += 1
            continue
        for frame in frames:
            state.frame(frame)
    if stopped_early:  # what the decoders still hold
        for state in states.values():
            try:
                for frame in state.stream.codec_context.decode(None):
                    state.frame(frame)
            except av.error.FFmpegError:
                state.errors += 1
    summaries = [states[s.index].summary() if s.index in states else None for s in audio_streams]
    decoded = [s for s in summaries if s is not None]
    if not any(s.native_samples for s in decoded):
        raise MediaError(f"no audio could be decoded from {path}")
    if stream is not None:
        if not any(s.index == stream and s.native_samples for s in decoded):
            raise MediaError(f"audio stream {stream} of {path} holds no decodable audio")
        chosen = [stream]
        why = f"stream {stream} only, as asked (--stream)"
    else:
        chosen = [s.index for s in decoded if s.carries_signal] or [s.index for s in decoded if s.native_samples]
        quiet = [s.index for s in decoded if s.index not in chosen]
        why = ("the only audio stream" if len(decoded) == 1 else
               f"streams {', '.join(map(str, chosen))} summed on the timeline"
               + (f"; stream(s) {', '.join(map(str, quiet))} left out: below {SIGNAL_FLOOR_DBFS:g} dBFS (no signal)"
                  if quiet else ""))
    parts = []
    for index in chosen:
        summary = next(s for s in decoded if s.index == index)
        if index in picks:
            parts.append(f"stream {index}: channel {picks[index] + 1} of {summary.channels} alone, because the mean "
                         f"of its channels is {-summary.mix_to_channels_db:.0f} dB below the channels themselves "
                         "(they cancel: one is polarity-inverted or out of phase)")
        elif summary.channels > 1:
            mix = summary.mix_to_channels_db
            parts.append(f"stream {index}: the mean of its {summary.channels} channels"
                         + (f" ({-mix:.0f} dB below the channels themselves: they are partly out of phase)"
                            if mix is not None and mix < OUT_OF_PHASE_DB else ""))
    description = why + ("; " + "; ".join(parts) if parts else "")
    for index in chosen:
        states[index].analysis.flush()
    length = max(states[i].analysis.end for i in chosen)
    samples = None
    for index in chosen:
        signal = states[index].analysis.assemble(length)
        samples = signal if samples is None else samples + signal
    summaries = [s if s is None else replace(s, analysed=s.index in chosen) for s in summaries]
    decoded = [s for s in summaries if s is not None]
    first = next(s for s in decoded if s.index == chosen[0])
    first_state = states[chosen[0]]
    native_pcm = first_state.native_placer.assemble() if native and first_state.native_placer else None
    gaps = sorted((g for st in states.values() for g in st.gaps), key=lambda g: (g.start, g.stream_index))
    changes = sorted((c for st in states.values() for c in st.changes), key=lambda c: (c.time, c.stream_index))
    samples = np.ascontiguousarray(samples, dtype=np.float32)
    return DecodedAudio(
        samples=samples,
        sample_rate=ANALYSIS_RATE,
        stream_index=first.index,
        native_sample_rate=first.sample_rates[0],
        native_channels=first.channels,
        native_samples=first.native_samples,
        pcm_sha256=hashlib.sha256(identity_text(decoded).encode("utf-8")).hexdigest(),
        analysis_sha256=hashlib.sha256(np.ascontiguousarray(samples, "<f4").data).hexdigest(),  # no copy
        decode_errors=sum(s.decode_errors for s in decoded),
        decode_stopped_early=stopped_early,
        packet_sha256=hashlib.sha256(identity_text(decoded, packets=True).encode("utf-8")).hexdigest(),
        streams=decoded,
        analysed_streams=list(chosen),
        analysis_signal=description,
        timeline_origin_s=origin,
        gaps=gaps,
        format_changes=changes,
        shortfalls=_shortfalls(container, path, decoded),
        native=native_pcm,
        native_format=(first_state.stream.codec_context.format.name
                       if first_state.stream.codec_context.format else "flt"),
    )


def _decode_path(path: Path, stream: int | None, native: bool, with_probe: bool = False):
    """Open, (probe,) decode; decode again with single channels where a stream's channels cancel."""
    info, picks, audio = None, None, None
    while True:
        with open_read_only(path) as handle:
            container = _open_container(handle, path)
            try:
                if with_probe and info is None:
                    info = probe(container)
                audio = decode(container, path, stream, picks, native)
            finally:
                container.close()
        if picks is not None or not (picks := _cancelling(audio)):
            return info, audio


def take_in(path: str | os.PathLike, stream: int | None = None) -> Intake:
    """Check, hash, probe and decode a recording, never writing to it (opened read-only, access time kept).

    Parameters
    ----------
    path : str or os.PathLike
        The recording: any container and codec FFmpeg (PyAV) reads, video files included.
    stream : int, optional
        Analyse only this audio stream (its container index); default: every stream with signal, summed.

    Returns
    -------
    Intake
        ``file`` (size, SHA-256, SHA-1, MD5), ``observed`` (file times), ``container`` (probe), and
        ``audio``: the analysis signal ``audio.samples`` (float32, shape (n,), mono, 16000 Hz, on the
        file's timeline) with the decoding facts (streams, gaps, hashes of the decoded PCM).

    Raises
    ------
    InputError
        Missing, a directory, not a regular file or unreadable (exit 3).
    MediaError
        Empty, not media, no audio stream, or nothing decodes (exit 4).
    """
    path = Path(path)
    st = check_input(path)
    facts = hash_file(path)
    info, audio = _decode_path(path, stream, native=False, with_probe=True)
    return Intake(path=path, file=facts, observed=observe_stat(st), container=info, audio=audio)


def decode_file(path: str | os.PathLike, stream: int | None = None, native: bool = False) -> DecodedAudio:
    """Decode a file as ``take_in`` does, without file hashes (tools, benchmarks, ``verify``)."""
    path = Path(path)
    check_input(path)
    return _decode_path(path, stream, native)[1]


@dataclass(frozen=True)
class NativeAudio:
    """Every channel of one audio stream at its own rate, as decoded, on the file's timeline."""

    samples: np.ndarray  # float32, shape (n, channels)
    sample_rate: int
    sample_format: str  # FFmpeg's name of the stream's sample format, e.g. "s16"
    codec: str
    stream_index: int = 0

    @property
    def duration_s(self) -> float:
        return self.samples.shape[0] / self.sample_rate


def decode_native(path: str | Path, stream: int | None = None) -> NativeAudio:
    """Every channel of the analysed audio stream (``stream``, or the first the analysis uses) at its
    first sample rate, on the file's timeline: decoded by ``intake.decode`` (the one decoding path),
    so a later rate is resampled to it (soxr HQ), gaps are silence and a late start is leading
    silence. Raises InputError (3) or MediaError (4)."""
    audio = decode_file(path, stream, native=True)
    codec = next(s.codec for s in audio.streams if s.index == audio.stream_index)
    return NativeAudio(audio.native, audio.native_sample_rate, audio.native_format, codec or "unknown",
                       audio.stream_index)


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
        audio = list(container.streams.audio)
        if not audio:
            raise MediaError(f"no audio stream in {path}")
        try:
            for packet in container.demux(*audio):
                try:
                    if any(True for _ in packet.decode()):
                        return
                except av.error.FFmpegError:
                    continue  # a damaged packet, or a stream FFmpeg has no decoder for: try the next
        except av.error.FFmpegError:
            pass
    raise MediaError(f"no audio could be decoded from {path}")
