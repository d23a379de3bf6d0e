"""Training and grouped cross-validation of the distress classifier (used by the notebook and benchmarks).

Frames of a positive clip within QUIET_DB of the clip's loudest window are positives of its class;
quieter frames of positive clips (pauses, silence) are left out. Every frame of a negative clip is a
negative for every class. A clip's score for a class is the maximum over its frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve, roc_auc_score
from sklearn.model_selection import GroupKFold

from distress_data import CLASSES, Clip
from evidence_audio.events.classifier import DistressClassifier
from evidence_audio.events.frames import Frames

QUIET_DB = 20.0
MIN_LEVEL_DB = -70.0
C = 0.001  # inverse L2 strength: chosen among 0.001-0.2 on the nested CV below (see the notebook)
FOLDS = 5


@dataclass
class Table:
    """Frame matrix with, per frame, its clip index and a target per class (1, 0, or -1 = unused)."""

    x: np.ndarray
    clip: np.ndarray
    y: np.ndarray  # (n_frames, n_classes)
    level_db: np.ndarray


def frame_table(clips: list[Clip], frames: list[Frames]) -> Table:
    xs, idx, ys, levels = [], [], [], []
    for i, (clip, fr) in enumerate(zip(clips, frames)):
        y = np.zeros((len(fr.vectors), len(CLASSES)), dtype=int)
        if clip.target is None:
            y[:] = -1
        elif clip.target:
            k = CLASSES.index(clip.target)
            loud = fr.level_db >= fr.level_db.max() - QUIET_DB
            y[:, k] = np.where(loud, 1, -1)
        xs.append(fr.vectors)
        idx.append(np.full(len(fr.vectors), i))
        ys.append(y)
        levels.append(fr.level_db)
    return Table(np.concatenate(xs), np.concatenate(idx), np.concatenate(ys), np.concatenate(levels))


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


def clip_scores(model: DistressClassifier, table: Table, clip_ids: np.ndarray) -> dict[int, np.ndarray]:
    """Max frame score per class for each clip."""
    out = {}
    for i in clip_ids:
        rows = table.clip == i
        out[int(i)] = model.scores(table.x[rows].astype(np.float64), table.level_db[rows]).max(axis=0)
    return out


def out_of_fold(clips: list[Clip], table: Table, clip_ids: np.ndarray, seed_folds: int = FOLDS) -> dict[int, np.ndarray]:
    """Clip scores for clip_ids, each from a model trained on the other groups only."""
    groups = np.array([clips[i].group for i in clip_ids])
    scores = {}
    for train, test in GroupKFold(n_splits=seed_folds).split(clip_ids, groups=groups):
        model = fit(table, np.isin(table.clip, clip_ids[train]))
        scores.update(clip_scores(model, table, clip_ids[test]))
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
    """Per class, the clip-score threshold with the best F1 among the given (out-of-fold) scores."""
    chosen = {}
    for k, name in enumerate(CLASSES):
        pos, neg = positives_and_negatives(clips, name)
        pos, neg = [i for i in pos if i in scores], [i for i in neg if i in scores]
        labels = np.array([1] * len(pos) + [0] * len(neg))
        values = np.array([scores[i][k] for i in pos + neg])
        chosen[name] = round(best_f1_threshold(labels, values), 4)
    return chosen


def usable(clip: Clip) -> bool:
    """Whether a clip may be trained on: it has a class target and a licence that allows it."""
    return clip.target is not None and clip.trainable


def final_model(clips: list[Clip], table: Table) -> DistressClassifier:
    """The shipped model: trained on every usable clip, thresholds from grouped out-of-fold scores."""
    ids = np.array([i for i, c in enumerate(clips) if usable(c)])
    thresholds = choose_thresholds(clips, out_of_fold(clips, table, ids))
    return replace(fit(table, np.isin(table.clip, ids)), thresholds=thresholds)


def fold_models(clips: list[Clip], table: Table, leave_out: set[int] = frozenset()) -> list[tuple[DistressClassifier, np.ndarray]]:
    """Per outer grouped fold: a model trained on the other folds, with thresholds chosen by an inner
    grouped CV on those folds only, and the fold's own (held-out) clip ids. Clips in leave_out are
    never trained on."""
    ids = np.array([i for i, c in enumerate(clips) if c.target is not None or c.is_distress])
    groups = np.array([clips[i].group for i in ids])
    out = []
    for train, test in GroupKFold(n_splits=FOLDS).split(ids, groups=groups):
        trainable = np.array([i for i in ids[train] if usable(clips[i]) and i not in leave_out])
        thresholds = choose_thresholds(clips, out_of_fold(clips, table, trainable))
        model = replace(fit(table, np.isin(table.clip, trainable)), thresholds=thresholds)
        out.append((model, ids[test]))
    return out


def nested_heldout(clips: list[Clip], table: Table) -> tuple[dict[int, np.ndarray], list[dict[str, float]], dict[int, int]]:
    """Held-out clip scores, each fold's thresholds, and each clip's fold: no figure is tuned on the
    clips it scores."""
    scores, thresholds, fold_of = {}, [], {}
    for f, (model, test) in enumerate(fold_models(clips, table)):
        scores.update(clip_scores(model, table, test))
        thresholds.append(model.thresholds)
        fold_of.update({int(i): f for i in test})
    return scores, thresholds, fold_of


def prf(labels: np.ndarray, decisions: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(labels & decisions))
    fp = int(np.sum(~labels & decisions))
    fn = int(np.sum(labels & ~decisions))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


def report(clips: list[Clip], scores: dict[int, np.ndarray], thresholds: list[dict[str, float]],
           fold_of: dict[int, int]) -> dict:
    """Per class P/R/F1 at each clip's own fold thresholds and AUC; plus is_distress on events_scream_shout."""
    out = {}
    for k, name in enumerate(CLASSES):
        pos, neg = positives_and_negatives(clips, name)
        ids = pos + neg
        labels = np.array([True] * len(pos) + [False] * len(neg))
        values = np.array([scores[i][k] for i in ids])
        decisions = np.array([scores[i][k] >= thresholds[fold_of[i]][name] for i in ids])
        out[name] = {"positives": len(pos), "negatives": len(neg), "auc": round(roc_auc_score(labels, values), 4),
                     **prf(labels, decisions),
                     "false_positives_by_label": _count([clips[i].label for i, d, l in zip(ids, decisions, labels) if d and not l])}
    scream_shout = [i for i, c in enumerate(clips) if c.dataset == "events_scream_shout"]
    out["is_distress(events_scream_shout)"] = _distress(clips, scores, thresholds, fold_of, scream_shout)
    lab = [i for i in scream_shout if not clips[i].trainable]
    out["is_distress(caneuro lab stimuli, never trained on)"] = _distress(clips, scores, thresholds, fold_of, lab)
    return out


def _distress(clips, scores, thresholds, fold_of, ids: list[int]) -> dict:
    """is_distress at clip level: distress when any class reaches its threshold (the score used for
    AUC is the largest score-to-threshold ratio)."""
    labels = np.array([bool(clips[i].is_distress) for i in ids])
    ratio = np.array([max(scores[i][k] / thresholds[fold_of[i]][c] for k, c in enumerate(CLASSES)) for i in ids])
    return {
        "positives": int(labels.sum()), "negatives": int((~labels).sum()),
        "auc": round(roc_auc_score(labels, ratio), 4), **prf(labels, ratio >= 1.0),
        "false_positives": [clips[i].path.name for i, d, l in zip(ids, ratio >= 1.0, labels) if d and not l],
        "missed": [clips[i].path.name for i, d, l in zip(ids, ratio >= 1.0, labels) if l and not d],
    }


def _count(items: list[str]) -> dict[str, int]:
    return {k: items.count(k) for k in sorted(set(items))}
