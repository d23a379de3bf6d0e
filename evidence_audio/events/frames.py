"""Frame embeddings: Whisper encoder output pooled over short overlapping windows.

The Whisper base encoder (the same weights the transcriber uses) turns 16 kHz audio into one
512-dim vector every 20 ms. Audio is cut into equal chunks of at most 30 s (Whisper's window),
each chunk is zero-padded to 30 s as Whisper was trained, and the vectors are averaged over
windows of WINDOW_S every HOP_S. These pooled vectors are what the classifier scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..intake import ANALYSIS_RATE as SAMPLE_RATE

ENCODER_STEP_S = 0.02
CHUNK_S = 30.0
WINDOW_S = 1.0
HOP_S = 0.5


@dataclass(frozen=True)
class Frames:
    """Pooled embeddings of one recording: row i covers [starts[i], ends[i]) seconds."""

    starts: np.ndarray
    ends: np.ndarray
    vectors: np.ndarray  # (n_frames, 512) float32: mean encoder output over the window
    level_db: np.ndarray  # RMS level of each window in dB full scale


class WhisperEncoder:
    """The Whisper encoder of a CTranslate2 model folder, run on CPU."""

    def __init__(self, model_path: str, threads: int = 1):
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        self._model = ctranslate2.models.Whisper(
            model_path, device="cpu", compute_type="int8", intra_threads=threads, inter_threads=1
        )
        self._features = FeatureExtractor(feature_size=self._model.n_mels)

    def encode(self, samples: np.ndarray) -> np.ndarray:
        """Encoder output (n_steps, 512) for up to 30 s of 16 kHz audio, one step per 20 ms."""
        import ctranslate2

        n_steps = max(1, math.ceil(len(samples) / (ENCODER_STEP_S * SAMPLE_RATE)))
        chunk = int(CHUNK_S * SAMPLE_RATE)
        mel = self._features(samples, padding=chunk - len(samples))[:, : chunk // 160]
        batch = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
        return np.asarray(self._model.encode(batch, to_cpu=True))[0][:n_steps]


def encoder_steps(encoder: WhisperEncoder, samples: np.ndarray) -> np.ndarray:
    """Encoder output for a whole recording, in equal chunks of at most CHUNK_S."""
    n = len(samples)
    n_chunks = max(1, math.ceil(n / (CHUNK_S * SAMPLE_RATE)))
    edges = np.linspace(0, n, n_chunks + 1).round().astype(int)
    # Each chunk is rounded to whole 20 ms steps so step i always starts at i * 20 ms.
    step = int(ENCODER_STEP_S * SAMPLE_RATE)
    edges = (edges // step) * step
    edges[-1] = n
    parts = [encoder.encode(samples[a:b]) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 512), np.float32)


def frame_windows(duration_s: float) -> list[tuple[float, float]]:
    """Analysis windows of WINDOW_S every HOP_S covering the recording (one if it is shorter)."""
    if duration_s <= WINDOW_S:
        return [(0.0, duration_s)]
    count = math.ceil((duration_s - WINDOW_S) / HOP_S) + 1
    return [(i * HOP_S, min(i * HOP_S + WINDOW_S, duration_s)) for i in range(count)]


def pool(steps: np.ndarray, samples: np.ndarray) -> Frames:
    """Mean of the encoder steps, and the RMS level, over each window."""
    windows = frame_windows(len(samples) / SAMPLE_RATE)
    vectors, levels = [], []
    for start, end in windows:
        chunk = samples[int(start * SAMPLE_RATE) : max(int(start * SAMPLE_RATE) + 1, int(end * SAMPLE_RATE))]
        levels.append(10 * np.log10(np.mean(np.square(chunk, dtype=np.float64)) + 1e-10))
        a = min(int(start / ENCODER_STEP_S), len(steps) - 1)
        b = max(a + 1, min(int(math.ceil(end / ENCODER_STEP_S)), len(steps)))
        block = steps[a:b]
        vectors.append(block.mean(axis=0))
    return Frames(
        starts=np.array([w[0] for w in windows]),
        ends=np.array([w[1] for w in windows]),
        vectors=np.asarray(vectors, dtype=np.float32),
        level_db=np.asarray(levels),
    )


def embed(encoder: WhisperEncoder, samples: np.ndarray) -> Frames:
    """Pooled frame embeddings of a 16 kHz mono recording."""
    return pool(encoder_steps(encoder, samples), samples)
