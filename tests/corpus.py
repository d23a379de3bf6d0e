"""A corpus of odd inputs made from the shipped examples: damaged, hostile, strange or simply unusual.

:func:`cases` names every input (at import, for test ids); each case's ``make`` writes it into a folder.
Each case is made from two seconds of ``examples/jfk.flac`` (and ``examples/sample.wav`` for stereo)
encoded as WAV, FLAC, MP3, Ogg Opus and M4A, then truncated at many offsets, with bytes flipped in
the header and the body, with zeros written over the body, or re-made with odd WAV headers (huge
claimed sizes, unknown format tags, 0 or 65535 channels), odd sample rates and formats, non-finite
floats, 0 and 1 samples, wrong extensions, non-media files, a FIFO, a folder, links, and names with
spaces, leading dashes, line breaks, escape sequences and bytes that are not UTF-8.

:func:`run` runs one case through the command line (``probe``, or ``analyze`` on the fast path) in
this process, with click's test runner, and returns what the evidence rules are checked on.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile

from media import encode

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RATE = 16000
DOCUMENTED_EXIT_CODES = {0, 2, 3, 4, 5, 6, 7}  # EXIT_CODES in evidence_audio/cli.py, less 1 (internal error)
FAST = ["--no-diarize", "--no-events", "--no-authenticity", "--formats", "txt", "-q"]


def clip(seconds: float = 2.0, channels: int = 1) -> np.ndarray:
    """(samples, channels) float32 at 16 kHz: speech from examples/jfk.flac, or examples/sample.wav for stereo."""
    source = EXAMPLES / ("jfk.flac" if channels == 1 else "sample.wav")
    samples, rate = soundfile.read(source, dtype="float32", always_2d=True, frames=int(seconds * 48000))
    if rate != RATE:
        samples = samples[:: max(1, rate // RATE)]
    samples = samples[: int(seconds * RATE)]
    return np.repeat(samples[:, :1], channels, axis=1) if samples.shape[1] != channels else samples


def wav_bytes(data: bytes, channels: int = 1, rate: int = RATE, bits: int = 16, tag: int = 1,
              riff_size: int | None = None, data_size: int | None = None, block_align: int | None = None) -> bytes:
    """A RIFF/WAVE file with a plain 16-byte fmt chunk, every header field settable (even to nonsense)."""
    align = block_align if block_align is not None else channels * max(bits, 8) // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * align) & 0xFFFFFFFF, align & 0xFFFF, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack(
        "<I", len(data) if data_size is None else data_size) + data
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def pcm(samples: np.ndarray, kind: str) -> tuple[bytes, int, int]:
    """Interleaved sample bytes in a WAV sample format: (bytes, bits per sample, format tag)."""
    x = np.clip(samples, -1, 1)
    if kind == "u8":
        return (np.round(x * 127) + 128).astype(np.uint8).tobytes(), 8, 1
    if kind == "s16":
        return (x * 32767).astype("<i2").tobytes(), 16, 1
    if kind == "s24":
        ints = (x * (2**23 - 1)).astype("<i4").reshape(-1)
        return b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints), 24, 1
    if kind == "s32":
        return (x * (2**31 - 1)).astype("<i4").tobytes(), 32, 1
    if kind == "f32":
        return samples.astype("<f4").tobytes(), 32, 3
    if kind == "f64":
        return samples.astype("<f8").tobytes(), 64, 3
    raise ValueError(kind)


@dataclass(frozen=True)
class Case:
    name: str  # the test id
    make: Callable[[Path], Path]  # writes the input into a folder, returns its path
    analyze: bool = False  # also run the fast analysis (probe runs on every case)


def _file(file_name: str | bytes, data: Callable[[], bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = Path(os.fsdecode(os.fsencode(folder) + b"/" + os.fsencode(file_name)))
        path.write_bytes(data())
        return path
    return make


_BASES: dict[str, bytes] = {}


def base(kind: str) -> bytes:
    """Two seconds of speech in one of the base formats, made once."""
    if kind not in _BASES:
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / f"base.{kind}"
            if kind == "wav":
                target.write_bytes(wav_bytes(pcm(clip(), "s16")[0]))
            else:
                codec, container, rate = {"flac": ("flac", "flac", RATE), "mp3": ("libmp3lame", "mp3", RATE),
                                          "ogg": ("libopus", "ogg", 48000), "m4a": ("aac", "ipod", RATE)}[kind]
                encode(clip(), RATE, target, codec, container, out_rate=rate)
            _BASES[kind] = target.read_bytes()
    return _BASES[kind]


BASES = ("wav", "flac", "mp3", "ogg", "m4a")
CUTS = (1, 4, 8, 12, 16, 24, 36, 44, 64, 100, 300, 1000, 4000)  # bytes kept, from the start
FRACTIONS = (0.1, 0.25, 0.5, 0.9, 0.999)  # of the file kept
HEADER_FLIPS = (0, 3, 4, 8, 12, 16, 20, 22, 24, 28, 32, 34, 36, 40)
BODY_FLIPS = 6


def _cut(kind: str, size: int | float) -> Callable[[], bytes]:
    def data() -> bytes:
        raw = base(kind)
        return raw[: int(len(raw) * size) if isinstance(size, float) else size]
    return data


def _flip(kind: str, position: int | None, seed: int = 0) -> Callable[[], bytes]:
    def data() -> bytes:
        raw = bytearray(base(kind))
        where = position if position is not None else int(np.random.default_rng(seed).integers(64, len(raw)))
        raw[where % len(raw)] ^= 0xFF
        return bytes(raw)
    return data


def _zeros(kind: str) -> Callable[[], bytes]:
    def data() -> bytes:
        raw = bytearray(base(kind))
        middle = len(raw) // 2
        raw[middle: middle + 4096] = bytes(len(raw[middle: middle + 4096]))
        return bytes(raw)
    return data


def _samples(values, kind: str = "f32", **header) -> Callable[[], bytes]:
    def data() -> bytes:
        samples = np.asarray(values() if callable(values) else values, dtype=np.float64)
        samples = samples.reshape(len(samples), -1)
        raw, bits, tag = pcm(samples, kind)
        return wav_bytes(raw, channels=samples.shape[1], bits=bits, tag=tag, **header)
    return data


def _with(index: int, value: float) -> Callable[[], np.ndarray]:
    def values() -> np.ndarray:
        samples = clip()[:, 0].astype(np.float64)
        samples[index] = value
        return samples
    return values


def _soundfile(subtype: str, fmt: str = "WAV") -> Callable[[], bytes]:
    def data() -> bytes:
        buffer = io.BytesIO()
        soundfile.write(buffer, clip()[:, 0], RATE, subtype=subtype, format=fmt)
        return buffer.getvalue()
    return data


def _special(kind: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / f"{kind}.wav"
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "folder":
            path.mkdir()
            (path / "inside.wav").write_bytes(base("wav"))
        elif kind == "link":
            (folder / "target.wav").write_bytes(base("wav"))
            path.symlink_to(folder / "target.wav")
        elif kind == "dangling":
            path.symlink_to(folder / "nowhere.wav")
        elif kind == "loop":
            path.symlink_to(path)
        elif kind == "missing":
            pass
        return path
    return make


def _video_only(folder: Path) -> Path:
    path = folder / "video-only.mp4"
    encode(clip(), RATE, path, "aac", "mp4", video_codec="mpeg4", audio=False)
    return path


def cases() -> list[Case]:
    """Every odd input, named; at least 200."""
    found: list[Case] = []
    add = found.append
    add(Case("empty.wav", _file("empty.wav", lambda: b""), analyze=True))
    for kind in BASES:
        for size in CUTS:
            add(Case(f"{kind}-cut-{size}b", _file(f"cut{size}.{kind}", _cut(kind, size)), analyze=size == 44))
        for fraction in FRACTIONS:
            add(Case(f"{kind}-cut-{fraction:g}", _file(f"cut{fraction:g}.{kind}", _cut(kind, fraction)),
                     analyze=fraction == 0.5 and kind == "mp3"))
        for position in HEADER_FLIPS:
            add(Case(f"{kind}-flip-header-{position}", _file(f"flip{position}.{kind}", _flip(kind, position))))
        for seed in range(BODY_FLIPS):
            add(Case(f"{kind}-flip-body-{seed}", _file(f"body{seed}.{kind}", _flip(kind, None, seed))))
        add(Case(f"{kind}-zeros-inside", _file(f"zeros.{kind}", _zeros(kind)), analyze=kind == "flac"))
    speech = lambda: clip()[:, 0]  # noqa: E731
    raw16 = lambda: pcm(clip(), "s16")[0]  # noqa: E731
    headers = {
        "riff-size-huge": dict(riff_size=0xFFFFFFFF), "data-size-huge": dict(data_size=0xFFFFFFFF),
        "data-size-twice": dict(data_size=2 * 64000), "data-size-zero": dict(data_size=0),
        "data-size-odd": dict(data_size=63999), "rate-0": dict(rate=0), "rate-huge": dict(rate=0xFFFFFFFF),
        "channels-0": dict(channels=0), "channels-65535": dict(channels=65535), "bits-0": dict(bits=0),
        "bits-7": dict(bits=7), "bits-64-int": dict(bits=64), "block-align-0": dict(block_align=0),
        "block-align-huge": dict(block_align=65535), "tag-unknown": dict(tag=0x1234), "tag-0": dict(tag=0),
        "tag-float-16bit": dict(tag=3), "tag-extensible-short": dict(tag=0xFFFE),
    }
    for label, header in headers.items():
        add(Case(f"wav-header-{label}", _file(f"{label}.wav", lambda header=header: wav_bytes(raw16(), **header)),
                 analyze=label in ("data-size-huge", "tag-unknown", "channels-0")))
    floats = {"nan-one": _with(1000, np.nan), "inf-one": _with(1000, np.inf), "minus-inf-one": _with(1000, -np.inf),
              "nan-all": lambda: np.full(RATE, np.nan), "huge-values": lambda: speech() * 1e30,
              "denormals": lambda: np.full(RATE, 1e-40), "nan-first": _with(0, np.nan)}
    for label, values in floats.items():
        add(Case(f"wav-f32-{label}", _file(f"{label}.wav", _samples(values)), analyze=label == "nan-all"))
        add(Case(f"wav-f64-{label}", _file(f"{label}-64.wav", _samples(values, "f64"))))
    for count in (0, 1, 2, 3):
        add(Case(f"wav-{count}-samples", _file(f"n{count}.wav", lambda count=count: wav_bytes(raw16()[: 2 * count])),
                 analyze=count in (0, 1)))
    for count in (1, 100):
        add(Case(f"flac-{count}-samples", lambda folder, count=count: encode(
            clip()[:count], RATE, folder / f"n{count}.flac", "flac", "flac"), analyze=count == 1))
        add(Case(f"mp3-{count}-samples", lambda folder, count=count: encode(
            clip()[:count], RATE, folder / f"n{count}.mp3", "libmp3lame", "mp3")))
    for channels in (2, 3, 8, 32, 64, 255, 1024):
        add(Case(f"wav-{channels}-channels", _file(f"ch{channels}.wav", lambda channels=channels: wav_bytes(
            pcm(clip(0.25, 1).repeat(channels, axis=1), "s16")[0], channels=channels)), analyze=channels == 64))
    for rate in (1, 8, 100, 4000, 7999, 11025, 22050, 44100, 96000, 192000, 384000, 1_000_000):
        count = min(RATE // 4, 40 * rate)  # at most 40 s of audio, however slow the rate
        add(Case(f"wav-rate-{rate}", _file(f"rate{rate}.wav", lambda rate=rate, count=count: wav_bytes(
            raw16()[: 2 * count], rate=rate)), analyze=rate in (1, 384000)))
    for kind in ("u8", "s24", "s32", "f32", "f64"):
        add(Case(f"wav-{kind}", _file(f"{kind}.wav", _samples(speech, kind))))
    for subtype in ("ALAW", "ULAW", "IMA_ADPCM", "MS_ADPCM", "GSM610"):
        add(Case(f"wav-{subtype.lower()}", _file(f"{subtype}.wav", _soundfile(subtype))))
    add(Case("aiff-s16", _file("speech.aiff", _soundfile("PCM_16", "AIFF"))))
    add(Case("au-s16", _file("speech.au", _soundfile("PCM_16", "AU"))))
    wrong = {"wav-as.mp3": "wav", "flac-as.wav": "flac", "mp3-as.flac": "mp3", "ogg-as.m4a": "ogg",
             "m4a-as.ogg": "m4a", "wav-no-extension": "wav"}
    for label, kind in wrong.items():
        name = label.replace("-as", "").replace("-no-extension", "")
        add(Case(label, _file(name, lambda kind=kind: base(kind))))
    others = {
        "text.wav": lambda: b"chain of custody notes\n" * 40,
        "json.mp3": lambda: b'{"not": "audio"}\n',
        "png.flac": lambda: bytes.fromhex("89504e470d0a1a0a0000000d49484452") + bytes(200),
        "zip.wav": lambda: b"PK\x03\x04" + bytes(400),
        "pdf.mp3": lambda: b"%PDF-1.7\n" + bytes(300),
        "elf.wav": lambda: b"\x7fELF\x02\x01\x01" + bytes(500),
        "random.wav": lambda: np.random.default_rng(7).bytes(20000),
        "zeros.mp3": lambda: bytes(200000),
        "riff-only.wav": lambda: b"RIFF",
        "riff-not-wave.wav": lambda: b"RIFF" + struct.pack("<I", 100) + b"AVI " + bytes(100),
        "id3-only.mp3": lambda: b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(16),
        "flac-magic-only.flac": lambda: b"fLaC",
        "ogg-magic-only.ogg": lambda: b"OggS" + bytes(50),
        "html.wav": lambda: b"<html><body>not audio</body></html>",
    }
    for label, data in others.items():
        add(Case(f"not-media-{label}", _file(label, data), analyze=label in ("text.wav", "random.wav")))
    for kind in ("fifo", "folder", "link", "dangling", "loop", "missing"):
        add(Case(f"special-{kind}", _special(kind), analyze=kind in ("fifo", "folder", "dangling")))
    add(Case("video-only.mp4", _video_only, analyze=True))
    names = {
        "name-spaces": "a recording with spaces .wav", "name-leading-dash": "-rf.wav", "name-double-dash": "--help.wav",
        "name-newline": "x\nRecording SHA-256: 0000.wav", "name-escape": "\x1b[31mred\x1b[0m\x07.wav",
        "name-not-utf8": b"bad\xff\xfe.wav", "name-cjk": "会议录音 東京 회의.wav",
        "name-rtl-override": "evil\u202evaw.exe.wav",
        "name-255-bytes": "n" * 251 + ".wav", "name-only-spaces": "   ", "name-carriage-return": "a\rb.wav",
        "name-tab": "a\tb.wav", "name-percent": "%s%n%x{0}.wav", "name-quotes": "'\"$(echo x)`id`.wav",
    }
    for label, file_name in names.items():
        add(Case(label, _file(file_name, lambda: base("wav")),
                 analyze=label in ("name-newline", "name-not-utf8", "name-escape")))
    return found


def state(path: Path) -> tuple[str | None, int | None]:
    """SHA-256 of a regular file (None for anything else) and its modification time, links not followed."""
    if not os.path.lexists(path):
        return None, None
    mtime = os.lstat(path).st_mtime_ns
    if os.path.islink(path) or not os.path.isfile(path):
        return None, mtime
    return hashlib.sha256(path.read_bytes()).hexdigest(), mtime


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@dataclass(frozen=True)
class Outcome:
    """What one run of one case showed."""

    command: str
    exit_code: int
    stdout: str
    stderr: str
    input_before: tuple
    input_after: tuple
    left_behind: tuple[str, ...]  # entries added to the input's folder or the work folder

    def problems(self) -> list[str]:
        """Every evidence rule the run broke (empty when it kept them all)."""
        lines = self.stderr.splitlines()
        found = []
        if self.exit_code not in DOCUMENTED_EXIT_CODES:
            found.append(f"exit code {self.exit_code}: {self.stderr.strip()[:300]}")
        if len(lines) > 1:
            found.append(f"{len(lines)} lines on stderr: {self.stderr[:300]!r}")
        if "Traceback" in self.stderr or "Traceback" in self.stdout:
            found.append("a traceback")
        if any(c in self.stdout + self.stderr for c in "\x1b\x07\x9b\r"):
            found.append("a control character reached the terminal")
        if self.input_after != self.input_before:
            found.append(f"input changed: {self.input_before} -> {self.input_after}")
        if self.left_behind:
            found.append(f"left behind: {self.left_behind}")
        return found


def run(path: Path, command: str, work: Path) -> Outcome:
    """Run ``probe`` or the fast ``analyze`` on ``path`` through the CLI's click entry, in this process.

    A report folder written by a successful analysis (``work/out``) is checked to be whole and removed;
    anything else added to ``work`` or to the input's folder counts as left behind.
    """
    from click.testing import CliRunner

    from evidence_audio.cli import main

    out = work / "out"
    args = [command, *(FAST + ["-o", str(out)] if command == "analyze" else []), "--", os.fsdecode(path)]
    before, folders = state(path), {folder: listing(folder) for folder in (work, path.parent)}
    result = CliRunner().invoke(main, args)
    stderr = result.stderr + ("Traceback (in process)\n" if result.exception is not None and not isinstance(
        result.exception, SystemExit) else "")
    if result.exit_code == 0 and command == "analyze":
        assert (out / "report.json").is_file() and (out / "manifest.sha256").is_file()
        shutil.rmtree(out)
    added = tuple(name for folder, names in folders.items() for name in sorted(set(listing(folder)) - set(names)))
    return Outcome(command, result.exit_code, result.stdout, stderr, before, state(path), added)
