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


def chunk_edges(n_samples: int) -> np.ndarray:
    """Sample edges of the equal encoder chunks (at most CHUNK_S each) of a recording.

    Each chunk is rounded to whole 20 ms steps so step i always starts at i * 20 ms; the last edge
    is ``n_samples``. Rounding the inner edges down lengthens the last chunk by up to one step less
    a sample per chunk: for a recording up to that much shorter than a multiple of 30 s (959,900
    samples, 59.99 s) the last chunk would pass 30 s, which the encoder cannot take, so such a
    recording gets one chunk more. int64, shape (n_chunks + 1,).
    """
    limit = int(CHUNK_S * SAMPLE_RATE)
    step = int(ENCODER_STEP_S * SAMPLE_RATE)
    n_chunks = max(1, math.ceil(n_samples / limit))
    while True:
        edges = np.linspace(0, n_samples, n_chunks + 1).round().astype(int)
        edges = (edges // step) * step
        edges[-1] = n_samples
        if np.diff(edges).max() <= limit:
            return edges
        n_chunks += 1


def encoder_steps(encoder: WhisperEncoder, samples: np.ndarray) -> np.ndarray:
    """Encoder output (n_steps, 512) float32 for a whole recording, in equal chunks of at most CHUNK_S.

    Holds every step at once (100 KB per second of audio); ``embed`` pools chunk by chunk instead.
    """
    edges = chunk_edges(len(samples))
    parts = [encoder.encode(samples[a:b]) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 512), np.float32)


def frame_windows(duration_s: float) -> list[tuple[float, float]]:
    """Analysis windows of WINDOW_S every HOP_S covering the recording (one if it is shorter)."""
    if duration_s <= WINDOW_S:
        return [(0.0, duration_s)]
    count = math.ceil((duration_s - WINDOW_S) / HOP_S) + 1
    return [(i * HOP_S, min(i * HOP_S + WINDOW_S, duration_s)) for i in range(count)]


def _step_range(start: float, end: float, n_steps: int) -> tuple[int, int]:
    """Encoder steps [a, b) averaged for the window [start, end) s of a recording of n_steps steps."""
    a = min(int(start / ENCODER_STEP_S), n_steps - 1)
    b = max(a + 1, min(int(math.ceil(end / ENCODER_STEP_S)), n_steps))
    return a, b


def _level_db(samples: np.ndarray, start: float, end: float) -> float:
    """RMS level (dB full scale) of the window [start, end) s."""
    chunk = samples[int(start * SAMPLE_RATE) : max(int(start * SAMPLE_RATE) + 1, int(end * SAMPLE_RATE))]
    return 10 * np.log10(np.mean(np.square(chunk, dtype=np.float64)) + 1e-10)


def _frames(windows, vectors, levels) -> Frames:
    return Frames(
        starts=np.array([w[0] for w in windows]),
        ends=np.array([w[1] for w in windows]),
        vectors=np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1),
        level_db=np.asarray(levels),
    )


def pool(steps: np.ndarray, samples: np.ndarray) -> Frames:
    """Mean of the encoder steps, and the RMS level, over each window (all steps given at once)."""
    windows = frame_windows(len(samples) / SAMPLE_RATE)
    vectors, levels = [], []
    for start, end in windows:
        levels.append(_level_db(samples, start, end))
        a, b = _step_range(start, end, len(steps))
        vectors.append(steps[a:b].mean(axis=0))
    return _frames(windows, vectors, levels)


def embed(encoder: WhisperEncoder, samples: np.ndarray) -> Frames:
    """Pooled frame embeddings of a 16 kHz mono recording, encoded and pooled one chunk at a time.

    The same vectors as ``pool(encoder_steps(encoder, samples), samples)``, bit for bit (each window
    averages the same rows in the same order), but only the steps of the windows still open are
    kept: memory is one chunk of steps (about 3 MB) instead of 100 KB per second of audio (1.5 GB
    for 4 hours, twice that while the chunks were joined).

    Parameters
    ----------
    encoder : WhisperEncoder
    samples : numpy.ndarray
        float32, shape (n,), mono, 16000 Hz.

    Returns
    -------
    Frames
        One row per window of WINDOW_S every HOP_S (``frame_windows``); vectors float32 (n_windows, 512).
    """
    windows = frame_windows(len(samples) / SAMPLE_RATE)
    edges = chunk_edges(len(samples))
    chunks = [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    step = int(ENCODER_STEP_S * SAMPLE_RATE)
    n_steps = sum(max(1, math.ceil((b - a) / step)) for a, b in chunks)  # as WhisperEncoder.encode cuts them
    ranges = [_step_range(start, end, n_steps) for start, end in windows]
    vectors, levels = [], []
    held = np.zeros((0, 512), np.float32)  # steps [held_from, held_from + len(held)) of the recording
    held_from = 0

    def pool_until(encoded: int) -> None:
        """Pool, in order, every window whose steps all lie below step ``encoded``."""
        while len(vectors) < len(windows) and ranges[len(vectors)][1] <= encoded:
            (lo, hi), (start, end) = ranges[len(vectors)], windows[len(vectors)]
            levels.append(_level_db(samples, start, end))
            vectors.append(held[lo - held_from : hi - held_from].mean(axis=0))

    for a, b in chunks:
        held = np.concatenate([held, encoder.encode(samples[a:b])], axis=0)
        pool_until(held_from + len(held))
        if len(vectors) < len(windows):  # window starts only grow: drop the steps before the next one's
            keep_from = ranges[len(vectors)][0]
            held = held[keep_from - held_from:].copy()
            held_from = keep_from
    pool_until(n_steps)
    return _frames(windows, vectors, levels)
