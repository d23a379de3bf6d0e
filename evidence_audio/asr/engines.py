"""Choose an engine and the verified model it runs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import numpy as np

from .. import models
from ..errors import ModelError
from . import ENGINES
from .decoding import Decoding
from .transcript import Segment

BUILTIN = ("base", "tiny.en")


class WhisperEngine(Protocol):
    """What the transcription stage needs of an engine (``faster.FasterWhisper``, ``openai.OpenAIWhisper``)."""

    name: str  # the engine's name as the report records it, e.g. "faster-whisper"
    multilingual: bool  # False for an English-only model (tiny.en)

    def detect_language(self, samples: np.ndarray) -> list[tuple[str, float]]:
        """Every language code with its probability, most likely first, from the first 30 s of
        ``samples`` (float32, shape (n,), 16 kHz)."""

    def reseed(self) -> None:
        """Make the next decodes' sampled fallbacks start from ``Decoding.seed`` again, so that a
        recording gets the same words whatever was decoded before it in the same process."""

    def transcribe(self, samples: np.ndarray, language: str, task: str, clips: list[tuple[float, float]],
                   decoding: Decoding, word_timestamps: bool = True) -> Iterable[Segment]:
        """Segments of the ``clips`` (start, end in seconds of ``samples``) decoded in ``language`` with
        ``task`` "transcribe" or "translate", times relative to the start of ``samples``."""


def resolve_model(engine: str, model: str) -> models.ModelUse:
    """The verified model files for ``--model``: a built-in name (base, tiny.en), a manifest
    name, or the path of a user's own model (CTranslate2 folder, or openai-whisper .pt)."""
    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r} (choose from {', '.join(ENGINES)})")
    if model in BUILTIN:
        name = f"whisper-{model}" + ("-openai" if engine == "openai-whisper" else "")
        return models.require(name)
    if model in models.load_manifest():
        use = models.require(model)
        if use.engine != engine:
            raise ModelError(f"model {model} is for {use.engine}, not {engine}")
        return use
    path = Path(model)
    if not path.exists():
        raise ModelError(f"model {model!r} is neither {' nor '.join(BUILTIN)}, a manifest model, nor an existing path")
    if engine == "faster-whisper" and not (path.is_dir() and (path / "model.bin").is_file()):
        raise ModelError(f"{path}: faster-whisper needs a CTranslate2 Whisper folder (with model.bin)")
    if engine == "openai-whisper" and not (path.suffix == ".pt" or (path / "model.bin").is_file()):
        raise ModelError(f"{path}: openai-whisper needs a .pt checkpoint or a CTranslate2 Whisper folder")
    return models.user_model(path, engine)


def load_engine(engine: str, use: models.ModelUse, compute_type: str = "int8", threads: int = 0) -> WhisperEngine:
    """The engine, loaded on the model's verified files."""
    root = Path(use.path)
    if engine == "faster-whisper":
        from .faster import FasterWhisper

        return FasterWhisper(root, compute_type=compute_type, threads=threads, use=use)
    from .openai import OpenAIWhisper

    checkpoint = root if root.is_file() or (root / "model.bin").is_file() else root / next(iter(use.files))
    return OpenAIWhisper(checkpoint, threads=threads)
