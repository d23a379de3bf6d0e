"""The faster-whisper engine (CTranslate2; int8 on the CPU by default)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .. import models
from ..intake import ANALYSIS_RATE
from .decoding import Decoding
from .transcript import Segment, Word

N_SAMPLES = 30 * ANALYSIS_RATE
# Fixed, so that neither OMP_NUM_THREADS nor the machine can change the words: int8 results can
# differ with the thread count (NOIZEUS car 10 dB: WER 21.6 % on 2 threads, 23.3 % on 1; 2 and 4 gave
# the same figures on every set of benchmarks/asr.py and mixed_language.py on 2026-12-06). Two, not
# CTranslate2's default of 4: on 2 cores, 4 threads beside the other stages' made the whole analysis
# of the 6-minute file take 65-69 s instead of 51 s, and 80 s instead of 72 s one stage at a time
# (benchmarks/speed.py; docs/transcription_speed.md).
CPU_THREADS = 2


class FasterWhisper:
    name = "faster-whisper"

    def __init__(self, model_dir: str | Path, compute_type: str = "int8", threads: int = 0,
                 use: models.ModelUse | None = None):
        """``use``: the verified files of ``model_dir``; a reload (``reseed``) checks them again first."""
        self._options = (str(model_dir), compute_type, threads or CPU_THREADS)
        self._use = use
        self.model = self._load()
        self.multilingual = self.model.model.is_multilingual
        self._decoded = False  # since the model was loaded

    def _load(self):
        from faster_whisper import WhisperModel

        model_dir, compute_type, threads = self._options
        return WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads,
                            local_files_only=True)

    def reseed(self) -> None:
        """Make the next decodes' sampled fallbacks start from ``Decoding.seed``, as in a new process.

        CTranslate2 seeds each of its worker threads' random generators once, on the thread's first
        use (``static thread_local std::mt19937`` in its random.cc), so ``set_random_seed`` does not
        reset a thread that has sampled already: a second recording's fallback segments then
        depended on the recordings decoded before it in the same process (a case run's worker). The
        model is loaded again from the same files (about 0.3 s), with new threads, when it has
        decoded since it was loaded, after its files are hashed again against those the report names
        (``ModelUse.check_unchanged``, ModelError if one changed)."""
        if self._decoded:
            from ..heap import trim_heap

            if self._use is not None:
                self._use.check_unchanged()
            self.model.model.unload_model()  # its memory now, not when the last reference goes
            trim_heap()
            self.model = self._load()
            self._decoded = False

    def detect_language(self, samples: np.ndarray) -> list[tuple[str, float]]:
        """Every language with its probability, most likely first (from the first 30 s)."""
        _, _, probabilities = self.model.detect_language(audio=samples[:N_SAMPLES])
        return [(code, float(p)) for code, p in probabilities]

    def transcribe(self, samples: np.ndarray, language: str, task: str, clips: list[tuple[float, float]],
                   decoding: Decoding, word_timestamps: bool = True) -> Iterator[Segment]:
        import ctranslate2

        ctranslate2.set_random_seed(decoding.seed)  # takes effect on threads that have not sampled yet
        self._decoded = True
        segments, _ = self.model.transcribe(
            samples,
            language=language,
            task=task,
            temperature=list(decoding.temperatures),
            log_prob_threshold=decoding.log_prob_threshold,
            no_speech_threshold=None,
            **decoding.search_options(),
            word_timestamps=word_timestamps,
            without_timestamps=False,
            vad_filter=False,
            clip_timestamps=[t for clip in clips for t in clip],
        )
        for s in segments:
            yield Segment(
                start=s.start, end=s.end, text=s.text.strip(), avg_logprob=s.avg_logprob,
                no_speech_prob=s.no_speech_prob, compression_ratio=s.compression_ratio,
                temperature=s.temperature,
                words=[Word(w.start, w.end, w.word.strip(), w.probability) for w in (s.words or [])],
            )
