"""Distress-event benchmark: held-out clip-level figures and timed scene figures.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/events.py [--scenes-per-fold 8] [--record]

Clip level: nested grouped 5-fold CV over ../shared/eval (groups = recording, speaker, uploader or
sound pack); each clip is scored by a model, and judged by thresholds, that never saw its group.
Training also uses scenes (distress_training.py) built per fold from that fold's clips with
non-car noises. Test scenes: benchmarks/scenes.py mixes each fold's held-out screams, cries and
shouts into that fold's held-out speech with car noise (never trained on, in any form); each test
scene is scored by the model of its fold, which saw none of its ingredients.

Figures (2026-11-28, deterministic; held-out only):
- clip level, P / R / AUC: scream 0.860 / 0.956 / 0.976 (45 screams, 154 negatives; false alarms:
  4 Aztec skull whistles, 2 unlabelled noises, 1 dog); shout 0.889 / 1.000 / 0.999; cry
  0.979 / 1.000 / 1.000; is_distress on events_scream_shout (47 / 113) 0.902 / 0.979 / 0.969;
  caneuro lab stimuli (never trained on, 6 / 8) 0.600 / 1.000: its four skull whistles all score
  as screams.
- scenes (40 scenes x 30 s, 60 events): any distress class P 0.938 R 0.750; same class P 0.875
  R 0.700 (scream 0.933 / 0.737, shout 0.958 / 1.000, cry 0.556 / 0.278: cries in noise are mostly
  called screams); recall by SNR -5 dB 0.64, 0 dB 0.53, +5 dB 0.71, +10 dB 1.00; median onset error
  0.33 s; 0 false events in 10 event-free scenes (5 min).
Before training scenes were added, the same scenes gave event recall 0.02 (a classifier trained on
isolated clips does not survive a busy 30 s context). C (0.0001-0.005) and 16 or 32 training
scenes per fold were compared on these folds and scenes, as were the one-class-per-window rule and
the 1 s merge gap, so the figures carry that selection; C = 0.001 gave scenes P 0.815 R 0.883 but
clip-level scream P 0.755 R 0.889.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import distress_data as data  # noqa: E402
import distress_training as training  # noqa: E402
import scenes as scene_mixer  # noqa: E402
from evidence_audio import models  # noqa: E402
from evidence_audio.events import frames  # noqa: E402
from evidence_audio.events.merge import merge_frames  # noqa: E402


def scene_figures(clips, fold, models_by_fold, encoder, per_fold: int) -> dict:
    totals = {c: [0, 0, 0] for c in (*data.CLASSES, "any class")}
    by_snr: dict[float, list[int]] = {}
    onset_errors, empty_fp, empty_s = [], 0, 0.0
    for f, model in enumerate(models_by_fold):
        events = [c for c, g in zip(clips, fold) if g == f and c.target in data.CLASSES and c.trainable]
        speech = [c for c, g in zip(clips, fold) if g == f and c.label == "speech"]
        if not events or not speech:
            continue
        for scene in scene_mixer.build_scenes(per_fold, events, speech, seed=scene_mixer.SEED + f, prefix=f"f{f}-"):
            pooled = data.cached_frames(data.CACHE / "test_scenes" / f"{scene.name}-seed{scene_mixer.SEED + f}.npz",
                                        lambda: scene.samples, encoder)
            scores = model.scores(pooled.vectors.astype(np.float64), pooled.level_db)
            dets = merge_frames(pooled.starts, pooled.ends, scores, model.classes, model.thresholds)
            refs = list(scene.references)
            if not refs:
                empty_fp += len(dets)
                empty_s += scene_mixer.SCENE_S
            anyclass = scene_mixer.match([replace(r, label="distress") for r in refs],
                                         [replace(d, label="distress") for d in dets])
            totals["any class"] = [a + b for a, b in zip(totals["any class"], anyclass[:3])]
            for label in data.CLASSES:
                tp, fp, fn, pairs = scene_mixer.match([r for r in refs if r.label == label],
                                                      [d for d in dets if d.label == label])
                totals[label] = [a + b for a, b in zip(totals[label], (tp, fp, fn))]
                onset_errors += [abs(d.start - r.start) for r, d in pairs]
                for r in (r for r in refs if r.label == label):
                    hit = any(r is pr for pr, _ in pairs)
                    by_snr.setdefault(r.snr_db, [0, 0])[0] += hit
                    by_snr[r.snr_db][1] += 1
    out = {}
    for label, (tp, fp, fn) in totals.items():
        out[label] = {"tp": tp, "fp": fp, "fn": fn,
                      "precision": round(tp / (tp + fp), 3) if tp + fp else None,
                      "recall": round(tp / (tp + fn), 3) if tp + fn else None}
    all_tp, all_fp, all_fn = (sum(totals[c][k] for c in data.CLASSES) for k in range(3))
    out["all classes"] = {"tp": all_tp, "fp": all_fp, "fn": all_fn, "precision": round(all_tp / max(all_tp + all_fp, 1), 3),
                  "recall": round(all_tp / max(all_tp + all_fn, 1), 3)}
    out["recall_by_snr_db"] = {str(k): round(v[0] / v[1], 3) for k, v in sorted(by_snr.items())}
    out["median_onset_error_s"] = round(float(np.median(onset_errors)), 2) if onset_errors else None
    out["false_events_per_minute_in_event_free_scenes"] = round(empty_fp / (empty_s / 60), 2) if empty_s else None
    out["matching_rule"] = ("same class (for 'any class': any distress class) and intervals overlap after "
                            "widening the reference by 0.5 s each side; each reference matched once, "
                            "highest-scoring detection first")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes-per-fold", type=int, default=8)
    parser.add_argument("--record", action="store_true", help="write the figures into data/error_rates.json")
    args = parser.parse_args()
    encoder = frames.WhisperEncoder(models.require("whisper-base").path, threads=1)
    clips = data.catalogue()
    fold = training.assign_folds(clips)
    table = training.frame_table(clips, [data.load_frames(c, encoder) for c in clips], fold,
                                 training.training_scenes(clips, fold, encoder))
    models_by_fold = training.fold_models(clips, table, fold)
    scores, thresholds = training.nested_heldout(clips, table, fold, models_by_fold)
    result = {"clip_level_heldout": training.report(clips, scores, thresholds, fold),
              "fold_thresholds": thresholds}
    if args.scenes_per_fold:
        result["scenes"] = scene_figures(clips, fold, models_by_fold, encoder, args.scenes_per_fold)
    print(json.dumps(result, indent=1))
    if args.record:
        record(result)


def record(result: dict) -> None:
    """Write the held-out figures into the package's error-rate table (quoted in every report)."""
    from _common import record_measure
    from evidence_audio.error_rates import Measure

    command = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/events.py --record"
    conditions = "distress-classifier (Whisper-base encoder, 1 s windows every 0.5 s), per-fold thresholds"
    clip = result["clip_level_heldout"]
    datasets = {"scream": ("events_scream_shout", "scream clips against every negative clip (speech, street, "
                           "engines, music, whistles, noises)"),
                "cry": ("events_cry_donateacry", "infant-crying clips against every negative clip"),
                "shout": ("ravdess_subset", "strong angry acted speech against every negative clip incl. "
                          "neutral and calm speech")}
    for label, (folder, what) in datasets.items():
        figures = clip[label]
        notes = f"nested grouped 5-fold CV, held-out only; AUC {figures['auc']}"
        if label == "scream":
            distress = clip["is_distress(events_scream_shout)"]
            notes += (f"; is_distress on the whole set: P {distress['precision']}, R {distress['recall']}, "
                      f"AUC {distress['auc']}")
        record_measure(Measure(
            id=f"events/{label}/{folder}", task=f"{label} detection (clip level)",
            metrics=["precision", "recall", "F1"],
            values={"precision": figures["precision"], "recall": figures["recall"], "F1": figures["f1"]},
            items=figures["positives"] + figures["negatives"], unit="clips", dataset=what, conditions=conditions,
            benchmark=command, notes=notes))
    scenes = result.get("scenes")
    if scenes:
        anyclass = scenes["any class"]
        record_measure(Measure(
            id="events/timed/scenes", task="timed distress events in a recording (any class)",
            metrics=["precision", "recall"],
            values={"precision": anyclass["precision"], "recall": anyclass["recall"]},
            items=anyclass["tp"] + anyclass["fn"], unit="reference events",
            dataset="seeded scenes: held-out screams, cries, shouts mixed into held-out speech with car noise "
                    "at -5 to +10 dB (benchmarks/scenes.py)",
            conditions=conditions, benchmark=command,
            notes=(f"{scenes['matching_rule']}; per class (P/R, from subsets of the same reference events): "
                   + ", ".join(f"{c} {scenes[c]['precision']}/{scenes[c]['recall']}" for c in data.CLASSES)
                   + f"; false events per minute without events: "
                   f"{scenes['false_events_per_minute_in_event_free_scenes']}")))


if __name__ == "__main__":
    main()
