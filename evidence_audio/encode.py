"""Samples out as files with PyAV: encode wav/flac/mp3/m4a/opus.

The analysis signal of ``intake`` is 16 kHz mono; tools that must hand back a file of the same
shape as the evidence (redaction) or build test material (re-encoded clips) encode native-rate
PCM (``intake.decode_native``) with these.
"""

from __future__ import annotations

import io

import av
import numpy as np

from .errors import OutputError


# extension -> (container format, codec, sample format, rates the encoder accepts or None for any)
FORMATS = {
    ".wav": ("wav", "pcm_s16le", "s16", None),
    ".flac": ("flac", "flac", "s16", None),
    ".mp3": ("mp3", "libmp3lame", "s16p", (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)),
    ".m4a": ("ipod", "aac", "fltp", None),
    ".opus": ("ogg", "libopus", "s16", (8000, 12000, 16000, 24000, 48000)),
}


# lossless formats can keep the evidence's own sample format
LOSSLESS_CODECS = {(".wav", "s16"): "pcm_s16le", (".wav", "s32"): "pcm_s32le", (".wav", "flt"): "pcm_f32le",
                   (".flac", "s16"): "flac", (".flac", "s32"): "flac"}


def lossless_format(native_format: str) -> str:
    """The PCM sample format that holds a stream's samples without loss: s16, s32 or flt."""
    name = native_format.rstrip("p")
    return {"u8": "s16", "s16": "s16", "s32": "s32", "s64": "flt", "flt": "flt", "dbl": "flt"}.get(name, "flt")


def encode(samples: np.ndarray, sample_rate: int, suffix: str, bit_rate: int | None = None,
           pcm_format: str = "s16", bitexact: bool = False) -> bytes:
    """Encode (n, channels) or (n,) float32 samples in [-1, 1] into the format named by suffix.

    For wav and flac, pcm_format (s16, s32, flt) picks the sample format; an integer sample x
    becomes round(x * 2**(bits-1)) clipped, so samples decoded from PCM come back bit-exact.
    ``bitexact``: FFmpeg's bitexact flags on the container and the encoder (no random Ogg serial
    number, no version string), so the same samples give the same bytes with the same libraries.
    """
    suffix = suffix.lower()
    if suffix not in FORMATS:
        raise OutputError(f"unsupported output format {suffix!r}; use one of {', '.join(FORMATS)}")
    fmt, codec, sample_format, rates = FORMATS[suffix]
    if (suffix, pcm_format) in LOSSLESS_CODECS:
        codec, sample_format = LOSSLESS_CODECS[(suffix, pcm_format)], pcm_format
    elif suffix == ".flac":
        codec, sample_format = "flac", "s32"
    if rates is not None and sample_rate not in rates:
        raise OutputError(f"{suffix} cannot hold {sample_rate} Hz audio; use .wav or .flac")
    pcm = np.asarray(samples, dtype=np.float32)
    if pcm.ndim == 1:
        pcm = pcm[:, None]
    channels = pcm.shape[1]
    layout = {1: "mono", 2: "stereo"}.get(channels, f"{channels}c")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=fmt, options={"fflags": "+bitexact"} if bitexact else None) as container:
        stream = container.add_stream(codec, rate=sample_rate, layout=layout)
        if bitexact:
            stream.codec_context.options = {"flags": "+bitexact"}
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.format = sample_format
        frame_size = stream.codec_context.frame_size or 4096
        block = frame_size * max(1, 2 ** 20 // frame_size)  # converted a block at a time: hours stay small

        def converted(block_start: int) -> np.ndarray:
            if not sample_format.startswith(("s16", "s32")):
                return pcm[block_start:block_start + block]
            bits = 16 if sample_format.startswith("s16") else 32
            scale = float(2 ** (bits - 1))
            data = np.clip(np.round(pcm[block_start:block_start + block].astype(np.float64) * scale), -scale, scale - 1)
            return data.astype(np.int16 if bits == 16 else np.int32)

        data = None
        for start in range(0, pcm.shape[0], frame_size):
            if start % block == 0:
                data = converted(start)
            chunk = data[start % block:start % block + frame_size]
            array = np.ascontiguousarray(chunk.T) if sample_format.endswith("p") else chunk.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(array, format=sample_format, layout=layout)
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()
