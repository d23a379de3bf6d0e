"""Voice activity: where the recording holds speech (silero-vad, from its own package)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..intake import ANALYSIS_RATE


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5
    min_speech_duration_ms: int = 250
    min_silence_duration_ms: int = 2000  # shorter pauses stay inside one region, for context
    speech_pad_ms: int = 400

    def to_record(self) -> dict:
        return asdict(self)


VAD = VadOptions()


def load_vad(onnx_path: str | Path):
    """The silero-vad ONNX model, run on the CPU.

    Importing ``silero_vad`` calls ``torch.set_num_threads(1)`` as a side effect, which would leave
    diarization and events on one thread; torch's thread count is put back as it was. onnxruntime's
    telemetry is switched off before the session is made.
    """
    import onnxruntime
    import torch

    threads = torch.get_num_threads()
    try:
        from silero_vad import get_speech_timestamps  # noqa: F401 - imported here for its side effect
        from silero_vad.utils_vad import OnnxWrapper
    finally:
        torch.set_num_threads(threads)
    onnxruntime.disable_telemetry_events()
    return OnnxWrapper(str(onnx_path), force_onnx_cpu=True)


def speech_regions(model, samples: np.ndarray, options: VadOptions = VAD) -> list[tuple[float, float]]:
    """Speech regions (start, end) in seconds of 16 kHz mono samples."""
    import torch
    from silero_vad import get_speech_timestamps

    model.reset_states()
    with torch.no_grad():
        found = get_speech_timestamps(
            torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32)),
            model,
            threshold=options.threshold,
            sampling_rate=ANALYSIS_RATE,
            min_speech_duration_ms=options.min_speech_duration_ms,
            min_silence_duration_ms=options.min_silence_duration_ms,
            speech_pad_ms=options.speech_pad_ms,
        )
    return [(r["start"] / ANALYSIS_RATE, r["end"] / ANALYSIS_RATE) for r in found]


def speech_within(regions: list[tuple[float, float]], start: float, end: float) -> float:
    """Seconds of [start, end] that fall inside speech regions."""
    return sum(max(0.0, min(end, e) - max(start, s)) for s, e in regions)
