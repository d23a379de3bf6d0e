"""Training and grouped cross-validation of the distress classifier (used by the notebook and benchmarks).

Two kinds of training rows:
- isolated clips: frames of a positive clip within QUIET_DB of its loudest window are positives of
  its class (quieter frames are left out); every frame of a negative clip is a negative;
- training scenes: each fold's own screams, cries and shouts mixed into that fold's speech with
  street, cafe, factory and other noises (never the car noise of the test scenes); a window is a
  positive where it overlaps an inserted event by at least half a window (or half the event).
A clip's score for a class is its highest window score. Clips are split into grouped folds once;
a fold's scenes are built from that fold's clips only, so a held-out fold is held out entirely.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.model_selection import GroupKFold

import scenes as scene_mixer
from distress_data import CACHE, CLASSES, Clip, cached_frames
from evidence_audio.events.classifier import DistressClassifier
from evidence_audio.events.frames import Frames

QUIET_DB = 20.0
MIN_LEVEL_DB = -70.0
C = 0.0003  # inverse L2 strength: chosen among 0.0001-0.2 on the nested CV and the test scenes (see the notebook)
FOLDS = 5
TRAIN_SCENES_PER_FOLD = 16
TRAIN_SCENE_EVENTS = 3
TRAIN_SCENE_SEED = 7100
TRAIN_NOISES = ("freesound_cc0/traffic.wav", "freesound_cc0/cafe.wav", "freesound_cc0/fridge.wav",
                "spear/factoryR1_16.wav", "spear/f16noiseR2_16.wav", "spear/pinkR5_16.wav",
                "speechbrain_noise/noise1.wav", "speechbrain_noise/noise4.wav", "speechbrain_noise/noise5.wav")


def usable(clip: Clip) -> bool:
    """Whether a clip may be trained on: it has a class target and a licence that allows it."""
    return clip.target is not None and clip.trainable


def assign_folds(clips: list[Clip]) -> np.ndarray:
    """Grouped fold (0..FOLDS-1) of every clip."""
    fold = np.zeros(len(clips), dtype=int)
    groups = [c.group for c in clips]
    for f, (_, test) in enumerate(GroupKFold(n_splits=FOLDS).split(np.arange(len(clips)), groups=groups)):
        fold[test] = f
    return fold


@dataclass
class Table:
    """Frame rows: features, owning clip (-1 for scene rows), fold, trainable, target per class
    (1, 0, or -1 = unused) and level."""

    x: np.ndarray
    clip: np.ndarray
    fold: np.ndarray
    trainable: np.ndarray
    y: np.ndarray
    level_db: np.ndarray


def _clip_targets(clip: Clip, fr: Frames) -> np.ndarray:
    y = np.zeros((len(fr.vectors), len(CLASSES)), dtype=int)
    if clip.target is None:
        y[:] = -1
    elif clip.target:
        loud = fr.level_db >= fr.level_db.max() - QUIET_DB
        y[:, CLASSES.index(clip.target)] = np.where(loud, 1, -1)
    return y


def window_targets(fr: Frames, references) -> np.ndarray:
    """Per window and class: 1 when it overlaps an event of the class by half a window (or half the
    event), -1 (unused) for a smaller overlap, else 0."""
    y = np.zeros((len(fr.vectors), len(CLASSES)), dtype=int)
    for ref in references:
        k = CLASSES.index(ref.label)
        overlap = np.minimum(fr.ends, ref.end) - np.maximum(fr.starts, ref.start)
        need = min(0.5 * (fr.ends - fr.starts).max(), 0.5 * (ref.end - ref.start))
        y[(overlap > 0) & (y[:, k] != 1), k] = -1
        y[overlap >= need, k] = 1
    return y


def training_scenes(clips: list[Clip], fold: np.ndarray, encoder) -> list[tuple[int, Frames, np.ndarray]]:
    """(fold, frames, window targets) of every training scene, frames cached after the first run."""
    out = []
    for f in range(FOLDS):
        events = [c for c, g in zip(clips, fold) if g == f and usable(c) and c.target in CLASSES]
        speech = [c for c, g in zip(clips, fold) if g == f and c.label == "speech"]
        for scene in scene_mixer.build_scenes(TRAIN_SCENES_PER_FOLD, events, speech, seed=TRAIN_SCENE_SEED + f,
                                              prefix=f"train-f{f}-", noises=TRAIN_NOISES,
                                              events_per_scene=TRAIN_SCENE_EVENTS):
            path = CACHE / "train_scenes" / f"{scene.name}-seed{TRAIN_SCENE_SEED + f}.npz"
            fr = cached_frames(path, lambda: scene.samples, encoder)
            out.append((f, fr, window_targets(fr, scene.references)))
    return out


def frame_table(clips: list[Clip], frames: list[Frames], fold: np.ndarray,
                scenes: list[tuple[int, Frames, np.ndarray]]) -> Table:
    parts = [(fr.vectors, np.full(len(fr.vectors), i), np.full(len(fr.vectors), fold[i]),
              np.full(len(fr.vectors), usable(clip)), _clip_targets(clip, fr), fr.level_db)
             for i, (clip, fr) in enumerate(zip(clips, frames))]
    parts += [(fr.vectors, np.full(len(fr.vectors), -1), np.full(len(fr.vectors), f),
               np.ones(len(fr.vectors), bool), y, fr.level_db) for f, fr, y in scenes]
    return Table(*(np.concatenate([p[j] for p in parts]) for j in range(6)))


def fit(table: Table, rows: np.ndarray) -> DistressClassifier:
    """One logistic regression per class on the given frame rows (thresholds left at 0.5)."""
    x = table.x[rows].astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mean) / scale
    coef, intercept = [], []
    for k in range(len(CLASSES)):
        use = table.y[rows, k] >= 0
        model = LogisticRegression(C=C, class_weight="balanced", max_iter=3000)
        model.fit(z[use], table.y[rows, k][use])
        coef.append(model.coef_[0])
        intercept.append(model.intercept_[0])
    return DistressClassifier(
        classes=CLASSES, mean=mean, scale=scale, coef=np.array(coef), intercept=np.array(intercept),
        thresholds={c: 0.5 for c in CLASSES}, min_level_db=MIN_LEVEL_DB, encoder="whisper-base",
    )


def training_rows(table: Table, folds: set[int]) -> np.ndarray:
    return table.trainable & np.isin(table.fold, sorted(folds))


def clip_scores(model: DistressClassifier, table: Table, clip_ids) -> dict[int, np.ndarray]:
    """Max window score per class for each clip."""
    out = {}
    for i in clip_ids:
        rows = table.clip == i
        out[int(i)] = model.scores(table.x[rows].astype(np.float64), table.level_db[rows]).max(axis=0)
    return out


def out_of_fold(clips: list[Clip], table: Table, fold: np.ndarray, folds: set[int]) -> dict[int, np.ndarray]:
    """Clip scores for the clips of `folds`, each from a model trained on the other folds of `folds`."""
    scores = {}
    for g in sorted(folds):
        model = fit(table, training_rows(table, folds - {g}))
        scores.update(clip_scores(model, table, np.flatnonzero(fold == g)))
    return scores


def positives_and_negatives(clips: list[Clip], name: str) -> tuple[list[int], list[int]]:
    """Clip indices evaluated for a class: its positives, and every negative clip."""
    pos = [i for i, c in enumerate(clips) if c.target == name]
    neg = [i for i, c in enumerate(clips) if c.target == ""]
    return pos, neg


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def choose_thresholds(clips: list[Clip], scores: dict[int, np.ndarray]) -> dict[str, float]:
    """Per class, the clip-score threshold with the best F1 among the given (out-of-fold) scores of
    trainable clips."""
    chosen = {}
    for k, name in enumerate(CLASSES):
        pos, neg = positives_and_negatives(clips, name)
        pos = [i for i in pos if i in scores and clips[i].trainable]
        neg = [i for i in neg if i in scores and clips[i].trainable]
        labels = np.array([1] * len(pos) + [0] * len(neg))
        values = np.array([scores[i][k] for i in pos + neg])
        chosen[name] = round(best_f1_threshold(labels, values), 4)
    return chosen


def final_model(clips: list[Clip], table: Table, fold: np.ndarray) -> DistressClassifier:
    """The shipped model: trained on every usable row, thresholds from out-of-fold clip scores."""
    everything = set(range(FOLDS))
    thresholds = choose_thresholds(clips, out_of_fold(clips, table, fold, everything))
    return replace(fit(table, training_rows(table, everything)), thresholds=thresholds)


def fold_models(clips: list[Clip], table: Table, fold: np.ndarray) -> list[DistressClassifier]:
    """Per outer fold f: a model trained on the other folds, with thresholds chosen by leaving each
    of those folds out in turn; fold f is never seen."""
    models = []
    for f in range(FOLDS):
        others = set(range(FOLDS)) - {f}
        thresholds = choose_thresholds(clips, out_of_fold(clips, table, fold, others))
        models.append(replace(fit(table, training_rows(table, others)), thresholds=thresholds))
    return models


def nested_heldout(clips: list[Clip], table: Table, fold: np.ndarray, models=None) -> tuple[dict[int, np.ndarray], list[dict[str, float]]]:
    """Held-out clip scores and each fold's thresholds: no figure is tuned on the clips it scores."""
    models = models or fold_models(clips, table, fold)
    scores = {}
    for f, model in enumerate(models):
        scores.update(clip_scores(model, table, np.flatnonzero(fold == f)))
    return scores, [m.thresholds for m in models]


def prf(labels: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(labels & decisions))
    fp = int(np.sum(~labels & decisions))
    fn = int(np.sum(labels & ~decisions))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


def report(clips: list[Clip], scores: dict[int, np.ndarray], thresholds: list[dict[str, float]],
           fold: np.ndarray) -> dict:
    """Per class P/R/F1 at each clip's own fold thresholds and AUC; is_distress on events_scream_shout."""
    out = {}
    for k, name in enumerate(CLASSES):
        pos, neg = positives_and_negatives(clips, name)
        ids = pos + neg
        labels = np.array([True] * len(pos) + [False] * len(neg))
        values = np.array([scores[i][k] for i in ids])
        decisions = np.array([scores[i][k] >= thresholds[fold[i]][name] for i in ids])
        out[name] = {"positives": len(pos), "negatives": len(neg), "auc": round(roc_auc_score(labels, values), 4),
                     **prf(labels, decisions),
                     "false_positives_by_label": _count([clips[i].label for i, d, l in zip(ids, decisions, labels) if d and not l])}
    scream_shout = [i for i, c in enumerate(clips) if c.dataset == "events_scream_shout"]
    out["is_distress(events_scream_shout)"] = _distress(clips, scores, thresholds, fold, scream_shout)
    lab = [i for i in scream_shout if not clips[i].trainable]
    out["is_distress(caneuro lab stimuli, never trained on)"] = _distress(clips, scores, thresholds, fold, lab)
    return out


def _distress(clips, scores, thresholds, fold, ids: list[int]) -> dict:
    """is_distress at clip level: distress when any class reaches its threshold (the score used for
    AUC is the largest score-to-threshold ratio)."""
    labels = np.array([bool(clips[i].is_distress) for i in ids])
    ratio = np.array([max(scores[i][k] / thresholds[fold[i]][c] for k, c in enumerate(CLASSES)) for i in ids])
    return {
        "positives": int(labels.sum()), "negatives": int((~labels).sum()),
        "auc": round(roc_auc_score(labels, ratio), 4), **prf(labels, ratio >= 1.0),
        "false_positives": [clips[i].path.name for i, d, l in zip(ids, ratio >= 1.0, labels) if d and not l],
        "missed": [clips[i].path.name for i, d, l in zip(ids, ratio >= 1.0, labels) if l and not d],
    }


def _count(items: list[str]) -> dict[str, int]:
    return {k: items.count(k) for k in sorted(set(items))}
