"""Training and nested grouped cross-validation of the distress classifier (the notebook's recipe).

Three kinds of training rows, all from ../shared/eval (distress_data.py):
- isolated clips: frames of a positive clip within QUIET_DB of its loudest window are positives of
  its class (quieter frames are left out); every frame of a negative clip is a negative;
- augmented copies of those clips (recipe.augmented_copies each, distress_augment.py): reverberated
  by a real room impulse response, sometimes telephone band, in real street, cafe, fridge, factory,
  cockpit, pink and other noise at 0, 5, 10 or 20 dB; same targets as the clean clip;
- training scenes: each fold's own screams, cries and shouts mixed into that fold's speech with those
  noises (never the car noise of the test scenes); a window is a positive where it overlaps an
  inserted event by at least half a window (or half the event).
Clips are split into grouped folds once (groups: recording, speaker, uploader, sound pack); a
fold's copies and scenes are built from that fold's clips only, so a held-out fold is held out
entirely.

Thresholds and smoothing are chosen by an inner cross-validation: for outer fold f, every other fold
g is scored by a model trained on the remaining three, and on those out-of-fold scores each class
gets the lowest "on" threshold whose clip precision reaches PRECISION_TARGET (so recall is as high
as that precision allows), then the smoothing (hysteresis, minimum duration, merge gap) with the
best event F1 on the inner folds' training scenes. Fold f is never seen by any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold

import distress_augment as augment
import scenes as scene_mixer
from distress_data import CACHE, CLASSES, Clip, cached_frames, read_audio
from evidence_audio.events.classifier import DistressClassifier
from evidence_audio.events.frames import Frames
from evidence_audio.events.merge import SoundEvent, Smoothing, merge_frames

QUIET_DB = 20.0
MIN_LEVEL_DB = -70.0
FOLDS = 5
PRECISION_TARGET = 0.92
TRAIN_SCENE_EVENTS = 3
TRAIN_SCENE_SEED = 7100
AUGMENT_SEED = 19
TRAIN_SCENE_SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 20.0)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides a trained classifier besides the data."""

    name: str
    c: float  # inverse L2 strength of each logistic regression
    augmented_copies: int  # noisy, reverberant copies of each trainable clip
    scenes_per_fold: int
    scene_reverb: bool  # training-scene events reverberated (half of them) by a room impulse response
    scene_snrs: tuple[float, ...]
    thresholds: str  # "best_f1" (clip F1) or "precision_target" (lowest with clip precision >= target)
    smoothings: tuple[Smoothing, ...]  # candidates; the inner loop picks one
    scene_weight: float = 1.0  # weight of a training-scene window in the fit (a clip window weighs 1)
    copy_weight: float = 1.0  # weight of an augmented copy's window


SMOOTHINGS = tuple(Smoothing(off, minimum, gap) for off in (1.0, 0.7, 0.5) for minimum in (0.0, 1.5)
                   for gap in (0.5, 1.0, 2.0))
# The recipe shipped until 2026-12 (its figures are the "before" of docs/distress_events.md).
BASELINE = Recipe("baseline", c=0.0003, augmented_copies=0, scenes_per_fold=16, scene_reverb=False,
                  scene_snrs=scene_mixer.SNRS_DB, thresholds="best_f1", smoothings=(Smoothing(),))
# Noise and room augmentation of clips and scenes: measured on the car-noise test scenes, it did
# worse than BASELINE's data (event F1 0.58 against 0.73, docs/distress_events.md), so it is not shipped.
AUGMENTED = Recipe("augmented", c=0.0003, augmented_copies=1, scenes_per_fold=16, scene_reverb=True,
                   scene_snrs=TRAIN_SCENE_SNRS_DB, thresholds="precision_target", smoothings=SMOOTHINGS)
# The shipped recipe: BASELINE's data and model, thresholds at clip precision >= 0.92 and smoothing
# chosen by the inner cross-validation.
RECIPE = replace(BASELINE, name="shipped", thresholds="precision_target", smoothings=SMOOTHINGS)
RECIPES = {r.name: r for r in (RECIPE, AUGMENTED, BASELINE)}


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


@dataclass(frozen=True)
class Extra:
    """Training audio beyond the clean clips: an augmented copy of a clip, or a training scene."""

    kind: str  # "copy" | "scene"
    fold: int
    frames: Frames
    y: np.ndarray  # (n_windows, n_classes): 1, 0 or -1 (unused)
    references: tuple = ()  # scene events (scenes.Reference)


@dataclass
class Table:
    """Frame rows: features, owning clip (-1 for copies and scenes), fold, trainable, target per
    class (1, 0, or -1 = unused) and level."""

    x: np.ndarray
    clip: np.ndarray
    fold: np.ndarray
    trainable: np.ndarray
    y: np.ndarray
    level_db: np.ndarray
    weight: np.ndarray


def clip_targets(clip: Clip, fr: Frames) -> np.ndarray:
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


def augmented_copies(recipe: Recipe, clips: list[Clip], frames: list[Frames], fold: np.ndarray,
                     encoder) -> list[Extra]:
    """recipe.augmented_copies seeded copies of every trainable clip, frames cached after the first run."""
    out = []
    for i, (clip, fr) in enumerate(zip(clips, frames)):
        if not usable(clip):
            continue
        for copy in range(recipe.augmented_copies):
            rng = np.random.default_rng([AUGMENT_SEED, i, copy])
            aug = augment.draw(rng)
            name = str(clip.path.relative_to(augment.EVAL)).replace("/", "__")
            path = CACHE / "augmented" / f"{name}-{copy}-{aug.name}.npz"
            copy_frames = cached_frames(path, lambda: augment.apply(read_audio(clip.path), aug, rng), encoder)
            out.append(Extra("copy", int(fold[i]), copy_frames, clip_targets(clip, fr)))
    return out


def _reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return augment.reverberate(x, augment.RIRS[rng.integers(len(augment.RIRS))]) if rng.random() < 0.5 else x


def training_scenes(recipe: Recipe, clips: list[Clip], fold: np.ndarray, encoder) -> list[Extra]:
    """Every training scene of every fold, frames cached after the first run."""
    out = []
    tag = "" if recipe.scene_reverb is False and recipe.scene_snrs == scene_mixer.SNRS_DB else "rv-"
    for f in range(FOLDS):
        events = [c for c, g in zip(clips, fold) if g == f and usable(c) and c.target in CLASSES]
        speech = [c for c, g in zip(clips, fold) if g == f and c.label == "speech"]
        for scene in scene_mixer.build_scenes(recipe.scenes_per_fold, events, speech, seed=TRAIN_SCENE_SEED + f,
                                              prefix=f"train-{tag}f{f}-", noises=augment.TRAIN_NOISES,
                                              events_per_scene=TRAIN_SCENE_EVENTS, snrs=recipe.scene_snrs,
                                              reverb=_reverb if recipe.scene_reverb else None):
            path = CACHE / "train_scenes" / f"{scene.name}-seed{TRAIN_SCENE_SEED + f}.npz"
            fr = cached_frames(path, lambda: scene.samples, encoder)
            out.append(Extra("scene", f, fr, window_targets(fr, scene.references), scene.references))
    return out


def frame_table(clips: list[Clip], frames: list[Frames], fold: np.ndarray, extras: list[Extra],
                weights: dict[str, float] | None = None) -> Table:
    """Every row; `weights` per extra kind ("copy", "scene"; clip rows weigh 1)."""
    weights = weights or {}
    parts = [(fr.vectors, np.full(len(fr.vectors), i), np.full(len(fr.vectors), fold[i]),
              np.full(len(fr.vectors), usable(clip)), clip_targets(clip, fr), fr.level_db, np.ones(len(fr.vectors)))
             for i, (clip, fr) in enumerate(zip(clips, frames))]
    parts += [(e.frames.vectors, np.full(len(e.frames.vectors), -1), np.full(len(e.frames.vectors), e.fold),
               np.ones(len(e.frames.vectors), bool), e.y, e.frames.level_db,
               np.full(len(e.frames.vectors), weights.get(e.kind, 1.0))) for e in extras]
    return Table(*(np.concatenate([p[j] for p in parts]) for j in range(7)))


class Trainer:
    """The data of one recipe, with fitted models memoised by the folds they were trained on."""

    def __init__(self, recipe: Recipe, clips: list[Clip], frames: list[Frames], fold: np.ndarray, extras: list[Extra]):
        self.recipe, self.clips, self.frames, self.fold, self.extras = recipe, clips, frames, fold, extras
        self.table = frame_table(clips, frames, fold, extras, {"scene": recipe.scene_weight, "copy": recipe.copy_weight})
        self.fitted: dict[frozenset[int], DistressClassifier] = {}  # by the folds trained on

    def fit(self, folds: frozenset[int]) -> DistressClassifier:
        """One logistic regression per class on the rows of `folds` (thresholds left at 0.5)."""
        if folds not in self.fitted:
            self.fitted[folds] = self._fit(folds)
        return self.fitted[folds]

    def _fit(self, folds: frozenset[int]) -> DistressClassifier:
        t = self.table
        rows = t.trainable & np.isin(t.fold, sorted(folds))
        x = t.x[rows].astype(np.float64)
        mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
        z = (x - mean) / scale
        coef, intercept = [], []
        for k in range(len(CLASSES)):
            use = t.y[rows, k] >= 0
            model = LogisticRegression(C=self.recipe.c, class_weight="balanced", max_iter=3000)
            model.fit(z[use], t.y[rows, k][use], sample_weight=t.weight[rows][use])
            coef.append(model.coef_[0])
            intercept.append(model.intercept_[0])
        return DistressClassifier(
            classes=CLASSES, mean=mean, scale=scale, coef=np.array(coef), intercept=np.array(intercept),
            thresholds={c: 0.5 for c in CLASSES}, min_level_db=MIN_LEVEL_DB, encoder="whisper-base",
        )

    def window_scores(self, model: DistressClassifier, ids) -> dict[int, np.ndarray]:
        """(n_windows, n_classes) window scores of each clip."""
        return {int(i): model.scores(self.frames[i].vectors.astype(np.float64), self.frames[i].level_db) for i in ids}

    def scene_scores(self, model: DistressClassifier, f: int) -> list[tuple[Extra, np.ndarray]]:
        return [(e, model.scores(e.frames.vectors.astype(np.float64), e.frames.level_db))
                for e in self.extras if e.kind == "scene" and e.fold == f]

    def out_of_fold(self, folds: set[int]):
        """Window scores of the clips and training scenes of each fold in `folds`, each from a model
        trained on the other folds of `folds`."""
        clip_scores, scene_scores = {}, []
        for g in sorted(folds):
            model = self.fit(frozenset(folds - {g}))
            clip_scores.update(self.window_scores(model, np.flatnonzero(self.fold == g)))
            scene_scores += self.scene_scores(model, g)
        return clip_scores, scene_scores

    def choose(self, folds: set[int]) -> tuple[dict[str, float], Smoothing]:
        """Thresholds and smoothing from the out-of-fold scores of `folds` (the inner loop)."""
        clip_scores, scene_scores = self.out_of_fold(folds)
        thresholds = {}
        for k, name in enumerate(CLASSES):
            pos, neg = positives_and_negatives(self.clips, name)
            ids = [i for i in pos + neg if i in clip_scores and self.clips[i].trainable]
            labels = np.array([self.clips[i].target == name for i in ids])
            values = np.array([clip_scores[i][:, k].max() for i in ids])
            pick = best_f1_threshold if self.recipe.thresholds == "best_f1" else lowest_at_precision
            thresholds[name] = round(pick(labels, values), 4)
        smoothing = max(self.recipe.smoothings,
                        key=lambda s: scene_prf(scene_scores, thresholds, s)["all classes"]["f1"])
        return thresholds, smoothing

    def model(self, outer: int | None) -> DistressClassifier:
        """Trained on every fold but `outer` (None: every fold), thresholds and smoothing chosen on
        those folds only."""
        folds = set(range(FOLDS)) - ({outer} if outer is not None else set())
        thresholds, smoothing = self.choose(folds)
        return replace(self.fit(frozenset(folds)), thresholds=thresholds, smoothing=smoothing)


def build(recipe: Recipe, clips: list[Clip], frames: list[Frames], encoder) -> Trainer:
    fold = assign_folds(clips)
    extras = augmented_copies(recipe, clips, frames, fold, encoder) + training_scenes(recipe, clips, fold, encoder)
    return Trainer(recipe, clips, frames, fold, extras)


def positives_and_negatives(clips: list[Clip], name: str) -> tuple[list[int], list[int]]:
    """Clip indices evaluated for a class: its positives, and every negative clip."""
    pos = [i for i, c in enumerate(clips) if c.target == name]
    neg = [i for i, c in enumerate(clips) if c.target == ""]
    return pos, neg


def best_f1_threshold(labels: np.ndarray, values: np.ndarray) -> float:
    from sklearn.metrics import precision_recall_curve

    if not labels.any():
        return 1.0
    precision, recall, thresholds = precision_recall_curve(labels, values)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    return float(thresholds[int(np.argmax(f1[:-1]))])


def lowest_at_precision(labels: np.ndarray, values: np.ndarray, target: float = PRECISION_TARGET) -> float:
    """The lowest threshold (highest recall) at which precision is still >= target; the highest
    positive score when none reaches it (1.0 without positives)."""
    if not labels.any():
        return 1.0
    for t in np.unique(values[labels]):
        decided = values >= t
        if labels[decided].mean() >= target:
            return float(t)
    return float(values[labels].max())


def detections(model: DistressClassifier, fr: Frames, scores: np.ndarray) -> list[SoundEvent]:
    return merge_frames(fr.starts, fr.ends, scores, model.classes, model.thresholds, model.smoothing)


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3), "recall": round(r, 3),
            "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0}


def scene_prf(scored: list[tuple], thresholds: dict[str, float], smoothing: Smoothing) -> dict:
    """Event P/R/F1 per class and over all classes of scenes given as (scene with .frames and
    .references, window scores); matching rule: scenes.match (same class, overlap after widening
    the reference by 0.5 s)."""
    counts = {c: [0, 0, 0] for c in CLASSES}
    for scene, scores in scored:
        dets = merge_frames(scene.frames.starts, scene.frames.ends, scores, CLASSES, thresholds, smoothing)
        for label in CLASSES:
            tp, fp, fn, _ = scene_mixer.match([r for r in scene.references if r.label == label],
                                              [d for d in dets if d.label == label])
            counts[label] = [a + b for a, b in zip(counts[label], (tp, fp, fn))]
    out = {c: prf(*v) for c, v in counts.items()}
    out["all classes"] = prf(*(sum(v[j] for v in counts.values()) for j in range(3)))
    return out


def clip_report(trainer: Trainer, models: list[DistressClassifier]) -> dict:
    """Held-out clip-level figures: each clip judged by the model (and thresholds, smoothing) of its
    outer fold, through the detector's own event rule (a clip holds a class when an event of it is
    found); AUC from the clip's highest window score."""
    clips, fold = trainer.clips, trainer.fold
    found, best = {}, {}
    for f, model in enumerate(models):
        for i, scores in trainer.window_scores(model, np.flatnonzero(fold == f)).items():
            found[i] = {e.label for e in detections(model, trainer.frames[i], scores)}
            best[i] = scores.max(axis=0) if len(scores) else np.zeros(len(CLASSES))
    out = {}
    for k, name in enumerate(CLASSES):
        pos, neg = positives_and_negatives(clips, name)
        ids = pos + neg
        labels = np.array([True] * len(pos) + [False] * len(neg))
        decided = np.array([name in found[i] for i in ids])
        out[name] = {"positives": len(pos), "negatives": len(neg),
                     "auc": round(roc_auc_score(labels, [best[i][k] for i in ids]), 4),
                     **prf(int(np.sum(labels & decided)), int(np.sum(~labels & decided)), int(np.sum(labels & ~decided))),
                     "false_positives_by_label": _count([clips[i].label for i, d, lab in zip(ids, decided, labels)
                                                         if d and not lab])}
    scream_shout = [i for i, c in enumerate(clips) if c.dataset == "events_scream_shout"]
    lab = [i for i in scream_shout if not clips[i].trainable]
    out["is_distress(events_scream_shout)"] = _distress(clips, found, scream_shout)
    out["is_distress(caneuro lab stimuli, never trained on)"] = _distress(clips, found, lab)
    return out


def _distress(clips: list[Clip], found: dict, ids: list[int]) -> dict:
    """is_distress at clip level: distress when any class has an event in the clip."""
    labels = np.array([bool(clips[i].is_distress) for i in ids], dtype=bool)
    decided = np.array([bool(found[i]) for i in ids], dtype=bool)
    return {"positives": int(labels.sum()), "negatives": int((~labels).sum()),
            **prf(int(np.sum(labels & decided)), int(np.sum(~labels & decided)), int(np.sum(labels & ~decided))),
            "false_positives": [clips[i].path.name for i, d, lab in zip(ids, decided, labels) if d and not lab],
            "missed": [clips[i].path.name for i, d, lab in zip(ids, decided, labels) if lab and not d]}


def _count(items: list[str]) -> dict[str, int]:
    return {k: items.count(k) for k in sorted(set(items))}


def training_data(recipe: Recipe) -> tuple[str, ...]:
    """What the shipped classifier is trained on, one line per source (kept in its JSON)."""
    lines = [
        "../shared/eval/events_scream_shout devi_harikaa/screams, conversations, ambient (devi-harikaa/scream-detector-project @ 3b80b7fe; UrbanSound8K CC BY-NC 3.0) and esc50_speechbrain (ESC-50 CC BY-NC 3.0); caneuro/ excluded (evaluation only)",
        "../shared/eval/events_cry_donateacry (gveres/donateacry-corpus @ 6baf5aca; ODbL 1.0 / DbCL 1.0)",
        "../shared/eval/ravdess_subset angry-strong (shout), neutral and calm (negatives) (RAVDESS, CC BY-NC-SA 4.0)",
        "../shared/eval/noise_recordings (SpEAR/NOISEX-92, Freesound CC0, speechbrain test noises) as negatives, all but "
        "the room impulse responses and the car-interior recordings (spear/*volvo*), which are never used; mixing noise: "
        + ", ".join(augment.TRAIN_NOISES),
    ]
    if recipe.augmented_copies:
        lines.append(f"{recipe.augmented_copies} seeded copies of each clip above: reverberated (p {augment.REVERB_P}) by "
                     f"../shared/eval/noise_recordings/speechbrain_rir rir1-4, telephone band (p {augment.PHONE_P}), "
                     f"in one of those noises at {', '.join(f'{s:g}' for s in augment.SNRS_DB)} dB "
                     "(benchmarks/distress_augment.py)")
    lines.append(f"{recipe.scenes_per_fold * FOLDS} seeded training scenes of 30 s: those screams, cries and shouts"
                 f"{' (half reverberated)' if recipe.scene_reverb else ''} over that speech with those noises at "
                 f"{', '.join(f'{s:g}' for s in recipe.scene_snrs)} dB (benchmarks/distress_training.py)")
    return tuple(lines)
