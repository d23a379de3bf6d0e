"""listening-copy.opus: a compressed copy of the analysis signal, to hear the recording in report.html.

The copy is derived from the evidence for listening only; the original file is the evidence. It
is the analysis signal (the first audio stream, channels averaged, resampled to 16 kHz with soxr;
its SHA-256 is ``evidence.audio.analysis_sha256``) encoded as Opus at ``BIT_RATE`` in an Ogg
container by PyAV (FFmpeg's libopus), with FFmpeg's bitexact flags, so the same samples give the
same bytes with the same libraries. report.html embeds it as a data: URI and states its SHA-256;
it is also written beside the page, so manifest.sha256 lists it.

How the page presents the audio is read from the record's ``provenance.settings``:
``embed_audio`` (default true) and ``link_audio`` (a relative path to the original, used instead).
The record is sealed before the files are rendered, so the copy's hash lives in the page and in
the manifest, never in report.json.
"""

from __future__ import annotations

import base64
import hashlib
import re
import weakref
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np

from ...encode import encode
from ...intake import ANALYSIS_RATE

FILE_NAME = "listening-copy.opus"
MIME_TYPE = "audio/ogg; codecs=opus"
BIT_RATE = 24000  # bit/s: speech stays clear; 10.8 MB per hour (14.4 MB per hour base64-encoded in the page)
CODEC = "Opus (libopus, via PyAV) in Ogg"


@dataclass(frozen=True)
class ListeningCopy:
    data: bytes  # the Ogg Opus file
    sha256: str  # hex, of data
    duration_s: float  # of the signal encoded

    @property
    def data_uri(self) -> str:
        return f"data:{MIME_TYPE.replace(' ', '')};base64,{base64.b64encode(self.data).decode('ascii')}"


def check_link(path: str) -> str:
    """``path`` if it is a relative path (what --link-audio accepts); raises ValueError for a URL,
    an absolute path or an empty one, since the page must never reach the network."""
    if not path.strip() or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", path) or path.startswith(("/", "\\")):
        raise ValueError(f"{path!r} is not a relative path (give the recording's path relative to the report folder)")
    return path


def link_url(path: str) -> str:
    """A relative path as a URL: percent-encoded, folders separated by '/'."""
    return quote(check_link(path).replace("\\", "/"), safe="/")


def presentation(record: dict) -> tuple[str, str | None]:
    """("embed", None), ("link", relative path) or ("none", None), from the record's settings."""
    settings = (record.get("provenance") or {}).get("settings") or {}
    if settings.get("link_audio"):
        return "link", settings["link_audio"]
    return ("embed" if settings.get("embed_audio", True) else "none"), None


_last: tuple[weakref.ref, ListeningCopy] | None = None  # the last signal encoded: the page and the file share it


def encode_copy(samples: np.ndarray) -> ListeningCopy:
    """Encode 16 kHz mono float32 samples as the listening copy (deterministic; cached for the last signal)."""
    global _last
    if _last is not None and _last[0]() is samples:
        return _last[1]
    data = encode(np.asarray(samples, dtype=np.float32), ANALYSIS_RATE, ".opus", bit_rate=BIT_RATE, bitexact=True)
    copy = ListeningCopy(data, hashlib.sha256(data).hexdigest(), len(samples) / ANALYSIS_RATE)
    try:
        _last = (weakref.ref(samples), copy)
    except TypeError:  # not an ndarray: nothing to cache against
        pass
    return copy


def listening_copy(record: dict, samples: np.ndarray | None) -> ListeningCopy | None:
    """The copy the page embeds, or None (no samples, --no-embed-audio, or --link-audio)."""
    if samples is None or len(samples) == 0 or presentation(record)[0] != "embed":
        return None
    return encode_copy(samples)


def render(record: dict, samples: np.ndarray | None = None) -> bytes | None:
    """listening-copy.opus, or None when the page embeds no copy (then no file is written)."""
    copy = listening_copy(record, samples)
    return copy.data if copy else None
