"""Augmentation of distress training audio with real noises and real room impulse responses.

A copy of a clip is reverberated (with probability REVERB_P) by one of the shared room impulse
responses, band-limited to the telephone band (with probability PHONE_P, so that the 8 kHz infant
cries are not recognised by their missing high band alone), and mixed with a random stretch of one
of TRAIN_NOISES at an SNR drawn from SNRS_DB (clip RMS over its active part against noise RMS).
The car-interior recordings are never used: the test scenes of benchmarks/scenes.py are built on
them. Everything is drawn from a seeded generator, so a copy is the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.signal import fftconvolve, resample_poly

from distress_data import EVAL, read_audio, rms

NOISES = EVAL / "noise_recordings"
TRAIN_NOISES = ("freesound_cc0/traffic.wav", "freesound_cc0/cafe.wav", "freesound_cc0/fridge.wav",
                "spear/factoryR1_16.wav", "spear/f16noiseR2_16.wav", "spear/pinkR5_16.wav",
                "speechbrain_noise/noise1.wav", "speechbrain_noise/noise4.wav", "speechbrain_noise/noise5.wav")
RIRS = ("speechbrain_rir/rir1.wav", "speechbrain_rir/rir2.wav", "speechbrain_rir/rir3.wav", "speechbrain_rir/rir4.wav")
SNRS_DB = (0.0, 5.0, 10.0, 20.0)
REVERB_P = 0.5
PHONE_P = 0.3


@dataclass(frozen=True)
class Augmentation:
    noise: str
    snr_db: float
    rir: str | None
    telephone: bool

    @property
    def name(self) -> str:
        rir = self.rir.split("/")[-1][:-4] if self.rir else "dry"
        return f"{self.noise.split('/')[-1][:-4]}_{self.snr_db:+.0f}dB_{rir}{'_tel' if self.telephone else ''}"


@lru_cache(maxsize=None)
def recording(name: str) -> np.ndarray:
    """A noise or impulse response of noise_recordings, 16 kHz mono float32."""
    return read_audio(NOISES / name)


def reverberate(x: np.ndarray, rir_name: str) -> np.ndarray:
    """x convolved with an impulse response (from its direct path on), at x's RMS and length."""
    rir = recording(rir_name)
    rir = rir[int(np.argmax(np.abs(rir))):]
    wet = fftconvolve(x, rir)[: len(x)]
    return (wet / (rms(wet) + 1e-9) * rms(x)).astype(np.float32)


def telephone(x: np.ndarray) -> np.ndarray:
    """x through an 8 kHz sample rate and back (nothing above 4 kHz)."""
    return resample_poly(resample_poly(x, 1, 2), 2, 1)[: len(x)].astype(np.float32)


def add_noise(x: np.ndarray, noise_name: str, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """x plus a random stretch of a noise, scaled so that x's active part is snr_db above it."""
    noise = recording(noise_name)
    noise = np.tile(noise, int(np.ceil(len(x) / len(noise))) + 1)
    offset = int(rng.integers(len(noise) - len(x)))
    noise = noise[offset : offset + len(x)]
    loud = np.abs(x) >= np.abs(x).max() * 10 ** (-30 / 20)
    level = rms(x[loud]) if loud.any() else rms(x)
    mixed = x + noise / (rms(noise) + 1e-9) * level * 10 ** (-snr_db / 20)
    peak = np.abs(mixed).max()
    return (mixed / peak * 0.9 if peak > 1 else mixed).astype(np.float32)


def draw(rng: np.random.Generator) -> Augmentation:
    return Augmentation(
        noise=TRAIN_NOISES[rng.integers(len(TRAIN_NOISES))],
        snr_db=float(SNRS_DB[rng.integers(len(SNRS_DB))]),
        rir=RIRS[rng.integers(len(RIRS))] if rng.random() < REVERB_P else None,
        telephone=bool(rng.random() < PHONE_P),
    )


def apply(x: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    if aug.rir:
        x = reverberate(x, aug.rir)
    if aug.telephone:
        x = telephone(x)
    return add_noise(x, aug.noise, aug.snr_db, rng)
