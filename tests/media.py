"""Real media made for the tests: espeak-ng speech, encoded with PyAV's bundled FFmpeg."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile


def speak(text: str, path: Path, voice: str = "en-us", speed: int = 150) -> Path:
    """Synthesise speech to a 22.05 kHz mono WAV with espeak-ng."""
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return path


def read(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return samples, rate


def encode(
    samples: np.ndarray,
    rate: int,
    path: Path,
    codec: str,
    container: str | None = None,
    out_rate: int | None = None,
    layout: str = "mono",
    video_codec: str | None = None,
    audio: bool = True,
    options: dict | None = None,
) -> Path:
    """Encode float samples (n, channels) into a container, optionally beside a small video stream."""
    samples = np.atleast_2d(samples.T).T if samples.ndim == 1 else samples
    channels = 2 if layout == "stereo" else 1
    if samples.shape[1] != channels:
        samples = np.repeat(samples[:, :1], channels, axis=1)
    with av.open(str(path), mode="w", format=container, options=options or {}) as out:
        video = None
        if video_codec:
            video = out.add_stream(video_codec, rate=10)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        stream = None
        if audio:
            stream = out.add_stream(codec, rate=out_rate or rate)
            stream.layout = layout
        if stream is not None:
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
            frame.sample_rate = rate
            resampler = av.AudioResampler(
                format=stream.format, layout=layout, rate=stream.rate, frame_size=stream.frame_size or None
            )
            for chunk in resampler.resample(frame) + resampler.resample(None):
                out.mux(stream.encode(chunk))
            out.mux(stream.encode(None))
        if video is not None:
            seconds = len(samples) / rate
            for i in range(max(1, int(seconds * 10))):
                image = np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8)
                vframe = av.VideoFrame.from_ndarray(image, format="rgb24")
                vframe.pts = i
                vframe.time_base = Fraction(1, 10)
                out.mux(video.encode(vframe))
            out.mux(video.encode(None))
    return path
