"""The faster-whisper engine (CTranslate2; int8 on the CPU by default)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
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
FEATURE_BLOCK_FRAMES = 4096  # spectrogram frames (10 ms each) computed at once by BlockwiseFeatures


@lru_cache(maxsize=1)
def _feature_extractor_class():
    from faster_whisper.feature_extractor import FeatureExtractor

    class BlockwiseFeatures(FeatureExtractor):
        """faster-whisper's log-Mel spectrogram, the same values bit for bit, computed in blocks of frames.

        faster-whisper 1.2.1's ``FeatureExtractor.__call__`` frames, windows and transforms the whole
        signal at once: for the 600 s the transcription hands it at a time (``transcribe.CHUNK_S``)
        that holds about 590 MiB for a moment (tracemalloc), on top of every stage's models on a long
        recording (docs/transcription_speed.md). This computes the power spectrum
        ``FEATURE_BLOCK_FRAMES`` frames at a time with the library's own ``stft`` on the
        reflect-padded signal (the padding ``stft`` does itself when ``center=True``) into one
        (201, n_frames) float32 array in the library's (Fortran) order, then the Mel bands as one
        product over every frame, the logarithm, the floor 8 below the maximum and the scaling as the
        library does. The Mel product
        is not done per block: a matrix product's sums can be ordered by how many columns it has, and
        on an AMD EPYC (2026-12-07) per-block products came out 1 ULP apart from the library's (and
        changed words). About 100-120 MiB for 600 s. 1-D input only (faster-whisper passes no other).

        Call: waveform, float32 (or converted), shape (n,), 16 kHz; returns float32, shape
        (n_mels, (n + padding) // 160), as the library's.
        """

        def __call__(self, waveform: np.ndarray, padding: int = 160, chunk_length: int | None = None) -> np.ndarray:
            if chunk_length is not None:  # as the library: these set the decoder's window
                self.n_samples = chunk_length * self.sampling_rate
                self.nb_max_frames = self.n_samples // self.hop_length
            waveform = np.asarray(waveform, dtype=np.float32)
            if padding:
                waveform = np.pad(waveform, (0, padding))
            window = np.hanning(self.n_fft + 1)[:-1].astype("float32")
            half = self.n_fft // 2
            padded = np.pad(waveform, (half, half), mode="reflect")
            del waveform
            n_frames = (padded.size - self.n_fft) // self.hop_length  # the library drops the last frame
            # Fortran order, as the library's ``np.abs(stft[..., :-1]) ** 2``: the same BLAS call follows
            magnitudes = np.empty((self.n_fft // 2 + 1, n_frames), dtype=np.float32, order="F")
            stft = None  # no frame at all: the library's error (the maximum of nothing) follows
            for first in range(0, n_frames, FEATURE_BLOCK_FRAMES):
                last = min(n_frames, first + FEATURE_BLOCK_FRAMES)
                piece = padded[first * self.hop_length:(last - 1) * self.hop_length + self.n_fft]
                stft = self.stft(piece, self.n_fft, self.hop_length, window=window, center=False,
                                 return_complex=True).astype("complex64")
                magnitudes[:, first:last] = np.abs(stft) ** 2
            del padded, stft
            mel_spec = self.mel_filters @ magnitudes  # one product over every frame, as the library's
            del magnitudes
            log_spec = np.log10(np.clip(mel_spec, a_min=1e-10, a_max=None))
            log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
            return (log_spec + 4.0) / 4.0

    return BlockwiseFeatures


def blockwise_features(**kwargs):
    """A BlockwiseFeatures (faster-whisper's FeatureExtractor arguments: feature_size, ...)."""
    return _feature_extractor_class()(**kwargs)


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
        model = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=threads,
                             local_files_only=True)
        model.feature_extractor = blockwise_features(**model.feat_kwargs)  # same values, bounded memory
        return model

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
