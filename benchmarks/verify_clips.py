"""Measure compare and the authenticity indicators on constructed cases from the evaluation data.

    .venv/bin/python benchmarks/verify_clips.py [--trials 6]

* compare: an "original" is built by joining every speech recording of asr_en_misc,
  asr_multilingual and diar_pyannote_sample (about 90 s, many talkers and rooms). Clips of
  3-10 s are cut at seeded random places and re-made as a repost would be (codec and bit
  rate, sample rate, stereo, gain). Reported: how often the clip is found, the offset error,
  and, for clips assembled from three pieces, the cut-point error. Clips of unrelated speech
  (NOIZEUS clean sentences, RAVDESS) must not be found.
* discontinuities: a stretch of another recording spliced into each recording (a cut from one
  source to another) must give a candidate within 0.1 s; the candidates per minute on the
  unedited recordings are the false-alarm rate.
* ENF: a 50 Hz hum drifting by +-30 mHz is added at several levels under speech; reported:
  detection and the trace error.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from evidence_audio.encode import encode
from evidence_audio.authenticity import discontinuity, enf
from evidence_audio.compare import compare_signals
from evidence_audio.intake import ANALYSIS_RATE, decode_file

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
CONDITIONS = [  # (suffix, bit rate, sample rate, channels, gain dB)
    (".wav", None, 16000, 1, 0.0),
    (".mp3", 128000, 44100, 2, 0.0),
    (".mp3", 32000, 22050, 1, -10.0),
    (".m4a", 48000, 44100, 2, 6.0),
    (".opus", 32000, 48000, 1, -6.0),
    (".opus", 12000, 48000, 1, 0.0),
]


def _speech(pattern: str) -> list[np.ndarray]:
    return [decode_file(p).samples for p in sorted(glob.glob(str(EVAL / pattern)))]


def _repost(x: np.ndarray, condition, work: Path) -> np.ndarray:
    """The clip after the round trip a repost makes, back as the 16 kHz analysis signal."""
    import soxr

    suffix, bit_rate, rate, channels, gain = condition
    y = soxr.resample(x * 10 ** (gain / 20), ANALYSIS_RATE, rate) if rate != ANALYSIS_RATE else x * 10 ** (gain / 20)
    y = np.repeat(np.clip(y, -1, 1)[:, None], channels, axis=1)
    path = work / f"clip{suffix}"
    path.write_bytes(encode(y, rate, suffix, bit_rate))
    return decode_file(path).samples


def bench_compare(original: np.ndarray, unrelated: list[np.ndarray], trials: int, work: Path) -> dict:
    rng = np.random.default_rng(7)
    rows = {}
    for condition in CONDITIONS:
        suffix, bit_rate, rate, channels, gain = condition
        name = f"{suffix[1:]} {f'{bit_rate // 1000}k' if bit_rate else 'pcm'} {rate} Hz {channels}ch {gain:+.0f} dB"
        found, errors, cut_errors, piece_counts, seconds = 0, [], [], [], []
        for _ in range(trials):
            length = rng.uniform(3, 10)
            start = rng.uniform(0, len(original) / ANALYSIS_RATE - length)
            clip = _repost(original[int(start * ANALYSIS_RATE):int((start + length) * ANALYSIS_RATE)], condition, work)
            t0 = time.perf_counter()
            result = compare_signals(original, clip)
            seconds.append(time.perf_counter() - t0)
            if result.pieces:
                found += 1
                errors.append(abs(result.pieces[0].offset_s - start) * 1000)
            # three pieces, in a different order than in the original
            starts = sorted(rng.uniform(0, len(original) / ANALYSIS_RATE - 4, 3))
            lengths = rng.uniform(2, 4, 3)
            order = [2, 0, 1]
            assembled = np.concatenate([original[int(starts[i] * ANALYSIS_RATE):int((starts[i] + lengths[i]) * ANALYSIS_RATE)] for i in order])
            result = compare_signals(original, _repost(assembled, condition, work))
            piece_counts.append(len(result.pieces))
            true_cuts = np.cumsum([lengths[i] for i in order])[:-1]
            for cut in true_cuts:
                if result.cut_points:
                    cut_errors.append(min(abs(c - cut) for c in result.cut_points) * 1000)
        false = sum(bool(compare_signals(original, _repost(u, condition, work)).pieces) for u in unrelated)
        rows[name] = {
            "clips": trials, "found": found,
            "offset_error_ms_median": round(float(np.median(errors)), 1) if errors else None,
            "offset_error_ms_max": round(float(np.max(errors)), 1) if errors else None,
            "assembled_3_pieces_exact": sum(c == 3 for c in piece_counts),
            "cut_error_ms_median": round(float(np.median(cut_errors)), 1) if cut_errors else None,
            "cut_error_ms_max": round(float(np.max(cut_errors)), 1) if cut_errors else None,
            "unrelated_clips": len(unrelated), "unrelated_found": false,
            "seconds_per_compare": round(float(np.mean(seconds)), 3),
        }
        print(name, json.dumps(rows[name]), flush=True)
    return rows


def bench_discontinuity(recordings: list[np.ndarray], others: list[np.ndarray]) -> dict:
    hits, total, false_alarms, minutes = 0, 0, 0, 0.0
    for i, x in enumerate(recordings):
        native = x[:, None]
        block = discontinuity.examine(x, native, ANALYSIS_RATE)
        false_alarms += len(block["candidates"])
        minutes += len(x) / ANALYSIS_RATE / 60
        other = others[i % len(others)]
        point = len(x) // 2
        spliced = np.concatenate([x[:point], other[: 2 * ANALYSIS_RATE], x[point:]]).astype(np.float32)
        block = discontinuity.examine(spliced, spliced[:, None], ANALYSIS_RATE)
        times = [c["time"] for c in block["candidates"]]
        for t in (point / ANALYSIS_RATE, point / ANALYSIS_RATE + min(2.0, len(other) / ANALYSIS_RATE)):
            total += 1
            hits += any(abs(c - t) <= 0.1 for c in times)
    return {"splice_points": total, "splice_points_with_candidate": hits,
            "candidates_per_minute_unedited": round(false_alarms / minutes, 2)}


def bench_enf(speech: np.ndarray) -> dict:
    t = np.arange(len(speech)) / ANALYSIS_RATE
    wander = 50.0 + 0.03 * np.sin(2 * np.pi * t / 10.0)
    rows = {}
    for level in (-40, -50, -60, -70, -80):
        hum = 10 ** (level / 20) * np.sin(2 * np.pi * np.cumsum(wander) / ANALYSIS_RATE)
        result = enf.examine((speech + hum).astype(np.float32), ANALYSIS_RATE).to_record()
        error = None
        if result["detected"]:
            times = np.array(result["trace"]["time"])
            truth = 50.0 + 0.03 * np.sin(2 * np.pi * times / 10.0)
            error = round(float(np.max(np.abs(np.array(result["trace"]["frequency_hz"]) - truth)) * 1000), 2)
        rows[f"{level} dBFS"] = {"detected": result["detected"], "nominal_hz": result["nominal_hz"],
                                 "strength_db": result["strength_db"].get("50"), "max_trace_error_mHz": error}
        print(level, json.dumps(rows[f"{level} dBFS"]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    args = parser.parse_args()
    if not EVAL.is_dir():
        raise SystemExit(f"evaluation data not found at {EVAL}")
    recordings = _speech("asr_en_misc/*.wav") + _speech("asr_multilingual/*.wav") + _speech("diar_pyannote_sample/*.wav")
    original = np.concatenate(recordings)
    unrelated = _speech("noisy_speech_noizeus/clean/*.wav")[:4] + _speech("ravdess_subset/*.wav")[:4]
    with tempfile.TemporaryDirectory() as work:
        results = {
            "original_s": round(len(original) / ANALYSIS_RATE, 1),
            "compare": bench_compare(original, unrelated, args.trials, Path(work)),
            "discontinuity": bench_discontinuity([r for r in recordings if len(r) > 3 * ANALYSIS_RATE], unrelated),
            "enf": bench_enf(recordings[-1]),
            "threads": os.environ.get("OMP_NUM_THREADS", "default"),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
