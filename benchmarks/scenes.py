"""Seeded synthetic scenes for timed event evaluation: real screams, cries and shouts mixed into
real speech with real car-interior noise, at known offsets and several event-to-background SNRs.

Training scenes (for the classifier) use the other noises of noise_recordings; test scenes use
car noise only, which no model is trained on, in any form.

Ingredients come from ../shared/eval only and are never written to the repository; a scene is
rebuilt in memory from the seed. Background: clean speech clips (events_scream_shout
'speech') laid end to end, plus car noise (NOISEX-92 Volvo, noise_recordings) at SPEECH_TO_CAR_DB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distress_data import EVAL, Clip, read_audio, rms

from evidence_audio.intake import ANALYSIS_RATE as SR
SCENE_S = 30.0
SNRS_DB = (-5.0, 0.0, 5.0, 10.0)
SPEECH_TO_CAR_DB = 5.0
CAR_NOISE = ("spear/volvoR1_16.wav", "spear/mvolvoR1_16.wav")
EVENTS_PER_SCENE = 2
SEED = 20261128


@dataclass(frozen=True)
class Reference:
    label: str
    start: float
    end: float
    snr_db: float
    source: str


@dataclass(frozen=True)
class Scene:
    name: str
    samples: np.ndarray
    references: tuple[Reference, ...]


def _active(x: np.ndarray) -> np.ndarray:
    """The part of a clip between its first and last sample within 30 dB of its peak (trims silence)."""
    loud = np.flatnonzero(np.abs(x) >= np.abs(x).max() * 10 ** (-30 / 20))
    return x[loud[0] : loud[-1] + 1] if len(loud) else x


def _background(rng: np.random.Generator, speech: list[Clip], noises: tuple[str, ...]) -> np.ndarray:
    n = int(SCENE_S * SR)
    parts, total = [], 0
    while total < n:
        clip = speech[rng.integers(len(speech))]
        x = read_audio(clip.path)
        x = x / (rms(x) + 1e-9) * 0.05
        parts.append(x)
        parts.append(np.zeros(int(rng.uniform(0.2, 1.0) * SR), np.float32))
        total += len(x) + len(parts[-1])
    bed = np.concatenate(parts)[:n]
    car = read_audio(EVAL / "noise_recordings" / noises[rng.integers(len(noises))])
    car = np.tile(car, int(np.ceil(n / len(car))) + 1)
    offset = int(rng.integers(len(car) - n))
    car = car[offset : offset + n]
    car = car / (rms(car) + 1e-9) * rms(bed) * 10 ** (-SPEECH_TO_CAR_DB / 20)
    return (bed + car).astype(np.float32)


def build_scenes(count: int, events: list[Clip], speech: list[Clip], seed: int = SEED,
                 prefix: str = "scene", noises: tuple[str, ...] = CAR_NOISE,
                 events_per_scene: int = EVENTS_PER_SCENE, snrs: tuple[float, ...] = SNRS_DB,
                 reverb=None) -> list[Scene]:
    """`count` scenes; every fourth has no event (false alarms), the others events_per_scene each,
    each event's class drawn uniformly, then a clip of that class, at an SNR drawn from snrs;
    reverb(clip, rng), when given, transforms each event clip before it is mixed in."""
    rng = np.random.default_rng(seed)
    by_label = {label: [c for c in events if c.target == label] for label in sorted({c.target for c in events})}
    scenes = []
    for s in range(count):
        mix = _background(rng, speech, noises)
        refs = []
        n_events = 0 if s % 4 == 3 else events_per_scene
        slot = SCENE_S / max(n_events, 1)
        for e in range(n_events):
            pool = by_label[list(by_label)[rng.integers(len(by_label))]]
            clip = pool[rng.integers(len(pool))]
            x = _active(read_audio(clip.path))[: int((slot - 1.0) * SR)]
            if reverb is not None:
                x = reverb(x, rng)
            snr = float(snrs[rng.integers(len(snrs))])
            start = int((e * slot + rng.uniform(0.5, max(0.5, slot - 0.5 - len(x) / SR))) * SR)
            span = mix[start : start + len(x)]
            x = x / (rms(x) + 1e-9) * rms(span) * 10 ** (snr / 20)
            mix[start : start + len(x)] += x
            refs.append(Reference(clip.target, start / SR, (start + len(x)) / SR, snr,
                                  str(clip.path.relative_to(EVAL))))
        peak = np.abs(mix).max()
        scenes.append(Scene(f"{prefix}{s:03d}", (mix / peak * 0.9 if peak > 1 else mix).astype(np.float32), tuple(refs)))
    return scenes


def match(references: list[Reference], detections: list, collar_s: float = 0.5) -> tuple[int, int, int, list]:
    """Event-level matching: a detection matches an unmatched reference of the same class when their
    intervals overlap after widening the reference by collar_s on each side. Returns tp, fp, fn and
    the matched (reference, detection) pairs."""
    used, pairs = set(), []
    for det in sorted(detections, key=lambda d: -d.score):
        for i, ref in enumerate(references):
            if i in used or ref.label != det.label:
                continue
            if det.start < ref.end + collar_s and det.end > ref.start - collar_s:
                used.add(i)
                pairs.append((ref, det))
                break
    tp = len(pairs)
    return tp, len(detections) - tp, len(references) - tp, pairs
