"""Labelled clips of ../shared/eval for the distress classifier, and their cached frame embeddings.

Every clip gets: its dataset, a class target (scream, shout, cry, or "" for a negative, or None
when it is a positive of no trained class and so is left out of training), is_distress, and a
group: clips of one recording, speaker, uploader or sound pack share a group, so grouped
cross-validation never tests on a sibling of a training clip. The caneuro lab stimuli carry no
licence beyond internal evaluation, so they are only ever scored, never trained on; the car-interior
noise is kept out of training so that the test scenes' background is new to every model.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
CACHE = Path.home() / ".cache" / "evidence_audio" / "distress_frames_padded"
CLASSES = ("scream", "shout", "cry")


@dataclass(frozen=True)
class Clip:
    path: Path
    dataset: str
    label: str  # the dataset's own label
    target: str | None  # "scream" | "shout" | "cry" | "" (negative) | None (not trained on)
    is_distress: int
    group: str
    trainable: bool = True  # False: evaluation only (its licence does not allow more)


def _scream_shout() -> list[Clip]:
    root = EVAL / "events_scream_shout"
    clips = []
    for row in csv.DictReader(open(root / "labels.csv", encoding="utf-8")):
        name = row["file"]
        stem = Path(name).stem
        if name.startswith("devi_harikaa/ambient"):
            group = "urbansound:" + stem.split("-")[0]  # UrbanSound8K: fsID-class-occurrence-slice
        elif name.startswith("devi_harikaa/screams") and "__" in stem:
            group = "freesound:" + stem.split("__")[0]
        elif name.startswith("devi_harikaa/screams"):
            group = "screampack:" + re.sub(r"[-_+ ]*(p\d+_)?\d+$", "", stem)
        else:
            group = "file:" + name
        target = {"scream": "scream"}.get(row["label"], "" if row["is_distress"] == "0" else None)
        clips.append(Clip(root / name, "events_scream_shout", row["label"], target, int(row["is_distress"]), group,
                          trainable=not name.startswith("caneuro/")))
    return clips


def _cry() -> list[Clip]:
    root = EVAL / "events_cry_donateacry"
    return [
        Clip(root / row["file"], "events_cry_donateacry", row["label"], "cry", 1,
             "uploader:" + Path(row["file"]).stem[:36].upper())
        for row in csv.DictReader(open(root / "labels.csv", encoding="utf-8"))
    ]


def _ravdess() -> list[Clip]:
    root = EVAL / "ravdess_subset"
    clips = []
    for row in csv.DictReader(open(root / "labels.csv", encoding="utf-8")):
        target = {"shouting_angry_acted": "shout", "normal_speech": ""}.get(row["event_label"])
        clips.append(Clip(root / row["file"], "ravdess_subset", row["event_label"], target,
                          int(row["is_distress"]), "actor:" + row["actor"]))
    return clips


CAR_LABELS = ("car_interior_volvo340_120kmh", "lombard_speech_in_car_noise")


def _noise() -> list[Clip]:
    """Noises as negatives; the car-interior recordings are kept out of training, for test scenes."""
    root = EVAL / "noise_recordings"
    return [
        Clip(root / row["file"], "noise_recordings", row["label"], "", 0, "file:" + row["file"],
             trainable=row["label"] not in CAR_LABELS)
        for row in csv.DictReader(open(root / "labels.csv", encoding="utf-8"))
        if row["label"] != "room_impulse_response"
    ]


def catalogue() -> list[Clip]:
    """Every labelled clip, in a fixed order."""
    return _scream_shout() + _cry() + _ravdess() + _noise()


def cache_path(clip: Clip) -> Path:
    return CACHE / (str(clip.path.relative_to(EVAL)).replace("/", "__") + ".npz")


def read_audio(path: Path) -> np.ndarray:
    """16 kHz mono float32 via the project's decoder; soundfile where PyAV rejects the file's tags."""
    from evidence_audio.intake import ANALYSIS_RATE, decode_file

    try:
        return decode_file(path).samples
    except UnicodeDecodeError:  # a few web clips carry non-UTF-8 metadata that PyAV cannot read
        import librosa
        import soundfile

        data, rate = soundfile.read(path, dtype="float32", always_2d=True)
        return librosa.resample(data.mean(axis=1), orig_sr=rate, target_sr=ANALYSIS_RATE, res_type="soxr_hq")


def rms(x: np.ndarray) -> float:
    """Root mean square of x (float64 sum; 1e-12 inside the root keeps silence finite)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def load_frames(clip: Clip, encoder) -> "Frames":
    """Frame embeddings of a clip, computed once and cached outside the repository."""
    return cached_frames(cache_path(clip), lambda: read_audio(clip.path), encoder)


def cached_frames(path: Path, audio, encoder) -> "Frames":
    """Frame embeddings of audio() cached at path (computed on the first call only)."""
    from evidence_audio.events.frames import Frames, embed

    if path.is_file():
        data = np.load(path)
        return Frames(data["starts"], data["ends"], data["vectors"], data["level_db"])
    frames = embed(encoder, audio())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, starts=frames.starts, ends=frames.ends, vectors=frames.vectors, level_db=frames.level_db)
    tmp.replace(path)
    return frames


if __name__ == "__main__":  # fill the cache: python benchmarks/distress_data.py
    import sys
    import time

    from evidence_audio import models
    from evidence_audio.events.frames import WhisperEncoder

    encoder = WhisperEncoder(models.require("whisper-base").path, threads=1)
    clips = catalogue()
    t0 = time.time()
    for i, clip in enumerate(clips):
        load_frames(clip, encoder)
        if i % 50 == 0:
            print(f"{i}/{len(clips)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
