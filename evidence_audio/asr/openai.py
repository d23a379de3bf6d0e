"""The openai-whisper engine (PyTorch, float32 on the CPU), on converted or own checkpoints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from .convert import openai_checkpoint
from .decoding import Decoding
from .transcript import Segment, Word


def load_checkpoint(path: str | Path) -> dict:
    """An openai-whisper checkpoint from a ``.pt`` file, or converted from a CTranslate2 folder."""
    path = Path(path)
    if path.is_dir():
        return openai_checkpoint(path)
    return torch.load(path, map_location="cpu", weights_only=True)


class OpenAIWhisper:
    name = "openai-whisper"

    def __init__(self, checkpoint_path: str | Path, threads: int = 0):
        from whisper.model import ModelDimensions, Whisper

        if threads:
            torch.set_num_threads(threads)
        checkpoint = load_checkpoint(checkpoint_path)
        dims = ModelDimensions(**checkpoint["dims"])
        self.model = Whisper(dims)
        self.model.load_state_dict(checkpoint["model_state_dict"])
        self.model.eval()
        heads = checkpoint.get("alignment_heads")
        if heads:  # otherwise the model keeps its default: every head of the last half of layers
            mask = torch.zeros(dims.n_text_layer, dims.n_text_head, dtype=torch.bool)
            for layer, head in heads:
                mask[layer, head] = True
            self.model.register_buffer("alignment_heads", mask.to_sparse(), persistent=False)
        self.multilingual = self.model.is_multilingual

    def detect_language(self, samples: np.ndarray) -> list[tuple[str, float]]:
        """Every language with its probability, most likely first (from the first 30 s)."""
        from whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim

        mel = log_mel_spectrogram(torch.from_numpy(samples[:N_SAMPLES]), self.model.dims.n_mels, padding=N_SAMPLES)
        with torch.no_grad():
            _, probabilities = self.model.detect_language(pad_or_trim(mel[:, :N_FRAMES], N_FRAMES))
        return sorted(((code, float(p)) for code, p in probabilities.items()), key=lambda item: (-item[1], item[0]))

    def reseed(self) -> None:
        """Nothing to do: every decode seeds torch's generator itself (``torch.manual_seed``)."""

    def transcribe(self, samples: np.ndarray, language: str, task: str, clips: list[tuple[float, float]],
                   decoding: Decoding, word_timestamps: bool = True) -> Iterator[Segment]:
        import whisper
        from whisper.audio import HOP_LENGTH

        torch.manual_seed(decoding.seed)
        # A clip ending past the last mel frame makes whisper.transcribe loop for ever.
        last_frame = len(samples) // HOP_LENGTH
        frames = [(round(s * 100), min(round(e * 100), last_frame)) for s, e in clips]
        bounds = [t / 100 for start, end in frames if start < end for t in (start, end)]
        if not bounds:
            return
        result = whisper.transcribe(
            self.model,
            samples,
            verbose=None,
            language=language,
            task=task,
            temperature=decoding.temperatures,
            logprob_threshold=decoding.log_prob_threshold,
            no_speech_threshold=None,
            **decoding.search_options(),
            word_timestamps=word_timestamps,
            clip_timestamps=bounds,
            fp16=False,
        )
        for s in result["segments"]:
            yield Segment(
                start=s["start"], end=s["end"], text=s["text"].strip(), avg_logprob=s["avg_logprob"],
                no_speech_prob=s["no_speech_prob"], compression_ratio=s["compression_ratio"],
                temperature=s["temperature"],
                words=[Word(w["start"], w["end"], w["word"].strip(), w["probability"]) for w in s.get("words", [])],
            )
