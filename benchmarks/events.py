"""Distress-event benchmark: held-out clip-level figures and timed scene figures, per class.

    OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/events.py [--recipe shipped|augmented|baseline]
        [--scenes-per-fold 16] [--record]

Clip level: nested grouped 5-fold CV over ../shared/eval (groups = recording, speaker, uploader or
sound pack); each clip is scored by a model, and judged by thresholds and smoothing, that never saw
its group (distress_training.py: the inner loop picks them), through the detector's own event rule.
Test scenes: benchmarks/scenes.py mixes each fold's held-out screams, cries and shouts into that
fold's held-out speech with car noise at -5, 0, 5 and 10 dB (never trained on, in any form); each
test scene is scored by the model of its fold, which saw none of its ingredients.
`--recipe baseline` reproduces the recipe shipped before 2026-12 on the same folds and scenes;
`--recipe augmented` trains with noise and room augmentation (measured, not shipped).
Figures: docs/distress_events.md. Targets (issue 19): clips recall >= 0.95 at precision >= 0.92
per class; scenes event F1 >= 0.85 over all classes and >= 0.7 per class.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import distress_data as data  # noqa: E402
import distress_training as training  # noqa: E402
import scenes as scene_mixer  # noqa: E402
from evidence_audio import models  # noqa: E402
from evidence_audio.events import frames  # noqa: E402


CLIP_RECALL_TARGET, CLIP_PRECISION_TARGET = 0.95, training.PRECISION_TARGET
SCENE_F1_TARGET, CLASS_F1_TARGET = 0.85, 0.7


def test_scenes(trainer: training.Trainer, encoder, per_fold: int) -> list[tuple[int, training.Extra]]:
    """(fold, scene) of the car-noise test scenes: fold f's held-out events in fold f's held-out speech."""
    clips, fold, out = trainer.clips, trainer.fold, []
    for f in range(training.FOLDS):
        events = [c for c, g in zip(clips, fold) if g == f and c.target in data.CLASSES and c.trainable]
        speech = [c for c, g in zip(clips, fold) if g == f and c.label == "speech"]
        if not events or not speech:
            continue
        for scene in scene_mixer.build_scenes(per_fold, events, speech, seed=scene_mixer.SEED + f, prefix=f"f{f}-"):
            pooled = data.cached_frames(data.CACHE / "test_scenes" / f"{scene.name}-seed{scene_mixer.SEED + f}.npz",
                                        lambda: scene.samples, encoder)
            out.append((f, training.Extra("scene", f, pooled, np.zeros(0), scene.references)))
    return out


def _snr_of(det, references, collar_s: float = 0.5) -> str:
    """The SNR of the reference event a detection overlaps most (any class), else 'background'."""
    overlaps = [(min(det.end, r.end + collar_s) - max(det.start, r.start - collar_s), r) for r in references]
    overlaps = [(o, r) for o, r in overlaps if o > 0]
    return f"{max(overlaps, key=lambda o: o[0])[1].snr_db:g}" if overlaps else "background"


def scene_figures(trainer: training.Trainer, models_by_fold, scenes) -> dict:
    """Event P/R/F1 per class, over all classes, and per class and SNR (a false detection counts at
    the SNR of the reference event it overlaps, of any class; one that overlaps none counts only in
    the totals, as 'background')."""
    counts: dict[tuple[str, str], list[int]] = {}  # (class, snr) -> tp, fp, fn

    def add(label, snr, tp=0, fp=0, fn=0):
        counts[(label, snr)] = [a + b for a, b in zip(counts.get((label, snr), [0, 0, 0]), (tp, fp, fn))]

    onset_errors, empty_fp, empty_s, split = [], 0, 0.0, 0
    heard_as: dict[str, dict[str, int]] = {c: {} for c in data.CLASSES}  # reference class -> what was found there
    for f, scene in scenes:
        model = models_by_fold[f]
        scores = model.scores(scene.frames.vectors.astype(np.float64), scene.frames.level_db)
        dets = training.detections(model, scene.frames, scores)
        refs = list(scene.references)
        if not refs:
            empty_fp += len(dets)
            empty_s += scene_mixer.SCENE_S
        for ref in refs:
            there = [d.label for d in dets if d.start < ref.end + 0.5 and d.end > ref.start - 0.5]
            split += there.count(ref.label) > 1  # one reference found as two or more events of its class
            for label in sorted(set(there)) or ["nothing"]:
                heard_as[ref.label][label] = heard_as[ref.label].get(label, 0) + 1
        for label in data.CLASSES:
            mine = [r for r in refs if r.label == label]
            found = [d for d in dets if d.label == label]
            _, _, _, pairs = scene_mixer.match(mine, found)
            onset_errors += [abs(d.start - r.start) for r, d in pairs]
            for r in mine:
                hit = any(r is pr for pr, _ in pairs)
                add(label, f"{r.snr_db:g}", tp=int(hit), fn=int(not hit))
            for d in found:
                if not any(d is pd for _, pd in pairs):
                    add(label, _snr_of(d, refs), fp=1)
    snrs = sorted({snr for _, snr in counts if snr != "background"}, key=float)

    def total(labels, snr_set) -> dict:
        return training.prf(*(sum(counts.get((c, s), [0, 0, 0])[j] for c in labels for s in snr_set) for j in range(3)))

    every = [*snrs, "background"]
    out = {c: total([c], every) for c in data.CLASSES}
    out["all classes"] = total(data.CLASSES, every)
    out["by_snr_db"] = {s: {**{c: total([c], [s]) for c in data.CLASSES}, "all classes": total(data.CLASSES, [s])}
                        for s in snrs}
    out["references_found_as_several_events"] = split
    out["found_at_reference_events"] = heard_as
    out["median_onset_error_s"] = round(float(np.median(onset_errors)), 2) if onset_errors else None
    out["false_events_per_minute_in_event_free_scenes"] = round(empty_fp / (empty_s / 60), 2) if empty_s else None
    out["scenes"] = len(scenes)
    out["matching_rule"] = MATCHING_RULE
    return out


MATCHING_RULE = ("a detection matches a reference event of the same class when their intervals overlap after "
                 "widening the reference by 0.5 s each side; each reference matched once, highest-scoring "
                 "detection first; per SNR, a false detection counts at the SNR of the reference it overlaps "
                 "(any class), one that overlaps none only in the totals")


def distance_lines(result: dict) -> list[str]:
    """One line per target: met, or the honest distance."""
    lines = []
    clip = result["clip_level_heldout"]
    for c in data.CLASSES:
        p, r = clip[c]["precision"], clip[c]["recall"]
        ok = p >= CLIP_PRECISION_TARGET and r >= CLIP_RECALL_TARGET
        lines.append(f"clips {c}: P {p:.3f} R {r:.3f} -> " + ("target met" if ok else
                     f"NOT met (recall {r - CLIP_RECALL_TARGET:+.3f} vs 0.95, precision {p - CLIP_PRECISION_TARGET:+.3f} vs 0.92)"))
    scenes = result.get("scenes")
    if scenes:
        for c, target in [*((c, CLASS_F1_TARGET) for c in data.CLASSES), ("all classes", SCENE_F1_TARGET)]:
            f1 = scenes[c]["f1"]
            lines.append(f"scenes {c}: F1 {f1:.3f} -> " + ("target met" if f1 >= target else
                         f"NOT met ({f1 - target:+.3f} vs {target})"))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", choices=list(training.RECIPES), default=training.RECIPE.name)
    parser.add_argument("--scenes-per-fold", type=int, default=16)
    parser.add_argument("--record", action="store_true", help="write the figures into data/error_rates.json")
    args = parser.parse_args()
    recipe = training.RECIPES[args.recipe]
    encoder = frames.WhisperEncoder(models.require("whisper-base").path, threads=1)
    clips = data.catalogue()
    trainer = training.build(recipe, clips, [data.load_frames(c, encoder) for c in clips], encoder)
    models_by_fold = [trainer.model(f) for f in range(training.FOLDS)]
    result = {"recipe": recipe.name, "clip_level_heldout": training.clip_report(trainer, models_by_fold),
              "fold_thresholds": [m.thresholds for m in models_by_fold],
              "fold_smoothing": [m.smoothing.to_json() for m in models_by_fold]}
    if args.scenes_per_fold:
        result["scenes"] = scene_figures(trainer, models_by_fold, test_scenes(trainer, encoder, args.scenes_per_fold))
    result["targets"] = distance_lines(result)
    print(json.dumps(result, indent=1))
    if args.record:
        if recipe is not training.RECIPE:
            parser.error("--record writes the shipped recipe's figures only")
        record(result, recipe)


def clip_samples(label: str, figures: dict) -> dict[str, str]:
    """Metric -> its sample at clip level: a precision rests on the clips detected, a recall on the clips
    holding the class, an F1 on both kinds of clip."""
    every = figures["positives"] + figures["negatives"]
    return {"precision": f"{figures['tp'] + figures['fp']} clips detected as {label}, of {every} clips",
            "recall": f"{figures['positives']} {label} clips",
            "F1": f"{every} clips: {figures['positives']} with {label}, {figures['negatives']} without"}


def scene_samples(figures: dict, scenes: int) -> dict[str, str]:
    """Metric -> its sample over the timed scenes: detected events, reference events, both."""
    where = f"{scenes} scenes, {scenes * scene_mixer.SCENE_S / 60:.1f} min"
    detected, reference = figures["tp"] + figures["fp"], figures["tp"] + figures["fn"]
    return {"precision": f"{detected} detected events, {where}", "recall": f"{reference} reference events, {where}",
            "F1": f"{reference} reference events and {detected} detected events, {where}"}


def record(result: dict, recipe: training.Recipe) -> None:
    """Write the held-out figures into the package's error-rate table (quoted in every report)."""
    from _common import record_measure
    from evidence_audio.error_rates import Measure

    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/events.py --record"
    conditions = ("distress-classifier (Whisper-base encoder, 1 s windows every 0.5 s"
                  + (", noise- and reverberation-augmented training" if recipe.augmented_copies else "")
                  + f", recipe '{recipe.name}'), per-fold thresholds (lowest at clip precision >= 0.92) and smoothing "
                  "(hysteresis, minimum duration, merge gap) chosen by inner cross-validation")
    clip = result["clip_level_heldout"]
    datasets = {"scream": ("events_scream_shout", "scream clips against every negative clip (speech, street, "
                           "engines, music, whistles, noises)"),
                "cry": ("events_cry_donateacry", "infant-crying clips against every negative clip"),
                "shout": ("ravdess_subset", "strong angry acted speech against every negative clip incl. "
                          "neutral and calm speech")}
    for label, (folder, what) in datasets.items():
        figures = clip[label]
        notes = (f"nested grouped 5-fold CV, held-out only, decided by the detector's event rule; AUC {figures['auc']}; "
                 f"target recall >= 0.95 at precision >= 0.92")
        if label == "scream":
            distress = clip["is_distress(events_scream_shout)"]
            notes += f"; is_distress on the whole set: P {distress['precision']}, R {distress['recall']}"
        record_measure(Measure(
            id=f"events/{label}/{folder}", task=f"{label} detection (clip level)",
            metrics=["precision", "recall", "F1"],
            values={"precision": figures["precision"], "recall": figures["recall"], "F1": figures["f1"]},
            items=figures["positives"] + figures["negatives"], unit="clips", samples=clip_samples(label, figures),
            dataset=what, conditions=conditions,
            benchmark=command, notes=notes))
    scenes = result.get("scenes")
    if scenes:
        every = scenes["all classes"]
        by_snr = scenes["by_snr_db"]
        record_measure(Measure(
            id="events/timed/scenes", task="timed distress events in a recording (same class)",
            metrics=["precision", "recall", "F1"],
            values={"precision": every["precision"], "recall": every["recall"], "F1": every["f1"]},
            items=every["tp"] + every["fn"], unit="reference events", samples=scene_samples(every, scenes["scenes"]),
            dataset=f"{scenes['scenes']} seeded 30 s scenes: held-out screams, cries, shouts mixed into held-out speech "
                    "with car noise (never trained on) at -5 to +10 dB (benchmarks/scenes.py)",
            conditions=conditions, benchmark=command,
            notes=(f"{scenes['matching_rule']}; per class P/R/F1: "
                   + ", ".join(f"{c} {scenes[c]['precision']}/{scenes[c]['recall']}/{scenes[c]['f1']}" for c in data.CLASSES)
                   + "; F1 by SNR: " + ", ".join(f"{s} dB {v['all classes']['f1']}" for s, v in by_snr.items())
                   + f"; false events per minute without events: {scenes['false_events_per_minute_in_event_free_scenes']}")))


if __name__ == "__main__":
    main()
