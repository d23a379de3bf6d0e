"""Sweep the speaker clustering's settings on the police-car-like scenes of car_scenes.py.

    nice -n 10 .venv/bin/python benchmarks/scene_clustering.py --seed 20261201 \
        [--thresholds 0.5,0.6,0.7046] [--min-cluster-sizes 12] [--count 12]

Each scene's segmentation and embeddings are computed once (pyannote keeps them in the file dict
when the pipeline is in training mode); each setting then clusters them again and goes through the
rest of the speakers stage as shipped (``diarize._diarize``: the raised-voice re-assignment
included). Prints DER (pyannote.metrics, collar 0.25 s, overlapping speech scored, pooled), its
parts, and the number of speakers found against the reference's, per setting and per SNR.
Choose settings on one seed and report them on another: never on the scenes you score.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from car_scenes import COLLAR_S, SEED, SNRS_DB, SR, build  # noqa: E402


def sweep(seed: int, count: int, thresholds: list[float], sizes: list[int]) -> dict:
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    from evidence_audio.speakers import SpeakerLimits, diarize

    diarizer = diarize.load()
    diarizer.pipeline.training = True  # keeps segmentations and embeddings in each file dict
    scenes = [build(i, seed) for i in range(count)]
    files = [{"uri": s.name, "waveform": torch.from_numpy(s.samples.astype(np.float32))[None], "sample_rate": SR}
             for s in scenes]
    results = {}
    for size in sizes:
        for threshold in thresholds:
            diarizer.pipeline.instantiate({"segmentation": dict(diarize.SEGMENTATION),
                                           "clustering": {**diarize.CLUSTERING, "threshold": threshold,
                                                          "min_cluster_size": size}})
            groups = {"all": [], **{f"{snr:g} dB": [] for snr in SNRS_DB}}
            for scene, file in zip(scenes, files):
                with diarize.one_thread():
                    found = diarize._diarize(file, scene.samples, SR, diarizer, SpeakerLimits(), None)
                reference, hypothesis = Annotation(uri=scene.name), Annotation(uri=scene.name)
                for i, (a, b, who) in enumerate(scene.turns):
                    reference[Segment(a, b), i] = who
                for i, (turn, _, label) in enumerate(found.annotation.itertracks(yield_label=True)):
                    hypothesis[Segment(turn.start, turn.end), i] = label
                item = (reference, hypothesis, Timeline([Segment(0, len(scene.samples) / SR)]),
                        len(reference.labels()), len(hypothesis.labels()))
                groups["all"].append(item)
                groups[f"{scene.snr_db:g} dB"].append(item)
            key = f"threshold {threshold:g}, min_cluster_size {size}"
            results[key] = {}
            for name, items in groups.items():
                if not items:
                    continue
                metric = DiarizationErrorRate(collar=COLLAR_S, skip_overlap=False)
                for reference, hypothesis, uem, _, _ in items:
                    metric(reference, hypothesis, uem=uem)
                parts = metric[:]
                total = parts["total"]
                results[key][name] = {
                    "der": round(abs(metric), 3),
                    "confusion": round(parts["confusion"] / total, 3),
                    "missed": round(parts["missed detection"] / total, 3),
                    "false_alarm": round(parts["false alarm"] / total, 3),
                    "speakers_found_minus_reference": [h - r for _, _, _, r, h in items],
                }
            print(key, json.dumps(results[key]["all"]), file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--thresholds", default="0.5,0.55,0.6,0.65,0.7045654963945799,0.75,0.8")
    parser.add_argument("--min-cluster-sizes", default="12")
    args = parser.parse_args()
    results = sweep(args.seed, args.count, [float(t) for t in args.thresholds.split(",")],
                    [int(s) for s in args.min_cluster_sizes.split(",")])
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
