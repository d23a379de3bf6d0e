"""``case search --voice FILE:SPEAKER``: every other speaker of the case ranked by similarity, with a
calibrated likelihood ratio and the measured error rates of that score.

The raw score is the cosine similarity of two diarization centroids (CAM++ by default). What it
means is measured, not assumed: ``benchmarks/case_run.py voice --record`` writes
``data/voice_matching.json`` from two labelled sets of trials (pairs of CAM++ embeddings):

* ``fit``: RAVDESS actors (5 takes each, every pair of takes). A logistic regression on the cosine
  (linear calibration, as in speaker verification and forensic voice comparison; classes weighted
  equally) turns a cosine into a natural-log likelihood ratio ``llr = slope * cosine + intercept``:
  how much more probable the score is if both are the same voice than if they are different voices.
* ``held_out``: the pyannote debug clips (AMI meeting excerpts with global speaker ids), each
  speaker's speech embedded whole and in 2 s pieces, pairs across different clips, never used in
  the fit: its equal error rate, and the false-match and miss rates of the decision "same voice" at
  ``llr >= 0``, with the trial counts they come from; and its scores, from which the rates at any
  cosine are read.

A score is evidence to listen to, never an identification.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib.resources import files

import numpy as np

from ..errors import InputError
from . import index

CALIBRATION = "voice_matching.json"


@dataclass(frozen=True)
class Match:
    score: float  # cosine similarity, -1..1
    name: str
    report: str
    label: str
    log10_lr: float | None  # calibrated log10 likelihood ratio (same voice : different voices); None if not calibrated
    false_match_rate: float | None  # held-out share of different-voice pairs scoring >= score
    miss_rate: float | None  # held-out share of same-voice pairs scoring < score


def calibration() -> dict | None:
    """The measured figures (data/voice_matching.json), or None when not yet measured."""
    try:
        return json.loads(files("evidence_audio.data").joinpath(CALIBRATION).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def llr(measured: dict, score: float) -> float:
    """Natural-log likelihood ratio of a cosine score under the measured linear calibration."""
    return measured["calibration"]["slope"] * score + measured["calibration"]["intercept"]


def rates_at(measured: dict | None, score: float) -> tuple[float | None, float | None]:
    """(false-match rate, miss rate) of the held-out trials at this score (deciding "same" at >= score)."""
    if not measured:
        return None, None
    held = measured["held_out"]
    same, different = np.asarray(held["same_scores"]), np.asarray(held["different_scores"])
    return float(np.mean(different >= score)), float(np.mean(same < score))


def equal_error_rate(same: np.ndarray, different: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the score where the miss rate equals the false-match rate (pyannote.metrics' det_curve)."""
    from pyannote.metrics.binary_classification import det_curve

    scores = np.concatenate([same, different])
    truth = np.concatenate([np.ones(len(same), bool), np.zeros(len(different), bool)])
    _, _, thresholds, eer = det_curve(truth, scores, distances=False)
    rates = [abs(np.mean(different >= t) - np.mean(same < t)) for t in thresholds]
    return float(eer), float(thresholds[int(np.argmin(rates))])


def fit_calibration(same: np.ndarray, different: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of a logistic regression of same voice on cosine, both classes weighted equally
    (so the log-odds it gives is a log likelihood ratio); scikit-learn, nearly unregularised."""
    from sklearn.linear_model import LogisticRegression

    scores = np.concatenate([same, different])[:, None]
    truth = np.concatenate([np.ones(len(same), int), np.zeros(len(different), int)])
    model = LogisticRegression(C=1e4, class_weight="balanced").fit(scores, truth)
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def cllr(same_llr: np.ndarray, different_llr: np.ndarray) -> float:
    """Log-likelihood-ratio cost in bits (Brümmer & du Preez 2006): 0 perfect, 1 a score that says nothing."""
    return float((np.mean(np.logaddexp(0, -same_llr)) + np.mean(np.logaddexp(0, different_llr))) / (2 * math.log(2)))


def evaluate(same: np.ndarray, different: np.ndarray, slope: float, intercept: float) -> dict:
    """Equal error rate and its threshold, and the errors of deciding "same voice" at llr >= 0, on a set of trials."""
    eer, threshold = equal_error_rate(same, different)
    cut = -intercept / slope  # the cosine where llr = 0
    false_matches, misses = int(np.sum(different >= cut)), int(np.sum(same < cut))
    return {"same_trials": len(same), "different_trials": len(different), "eer": round(eer, 4),
            "eer_threshold_cosine": round(threshold, 4), "decision_threshold_cosine": round(cut, 4),
            "false_matches": false_matches, "false_match_rate": round(false_matches / max(1, len(different)), 4),
            "misses": misses, "miss_rate": round(misses / max(1, len(same)), 4),
            "cllr_bits": round(cllr(slope * same + intercept, slope * different + intercept), 4)}


def find_speaker(db, reference: str) -> tuple[int, str, str, np.ndarray]:
    """FILE:SPEAKER (FILE a file name, path or SHA-256 prefix of a case recording) -> (id, name, label, centroid).

    Raises InputError (exit 3) when the file or speaker is not in the case or has no embedding.
    """
    if ":" not in reference:
        raise InputError(f"--voice takes FILE:SPEAKER (e.g. call.wav:SPEAKER_2), not {reference!r}")
    ref, label = reference.rsplit(":", 1)
    rows = db.execute("SELECT id, name FROM recordings WHERE name = ? OR path = ? OR sha256 LIKE ?",
                      (ref, ref, ref.lower() + "%" if len(ref) >= 8 else "-")).fetchall()
    if len(rows) != 1:
        raise InputError(f"{'no' if not rows else 'more than one'} recording of the case matches {ref!r}"
                         + (" (give its path or SHA-256)" if rows else ""))
    row = db.execute("SELECT embedding FROM speakers WHERE recording_id = ? AND label = ?", (rows[0]["id"], label)).fetchone()
    if row is None:
        labels = [r[0] for r in db.execute("SELECT label FROM speakers WHERE recording_id = ? ORDER BY label",
                                           (rows[0]["id"],))]
        raise InputError(f"{rows[0]['name']} has no speaker {label} in the case index (its speakers: "
                         f"{', '.join(labels) or 'none'})")
    if row["embedding"] is None:
        raise InputError(f"{label} of {rows[0]['name']} has no embedding to compare (under 2 s of speech without "
                         "overlap, or a report taken in without its embeddings)")
    return rows[0]["id"], rows[0]["name"], label, np.frombuffer(row["embedding"], dtype="<f4")


def rank_voices(db, reference: str) -> tuple[tuple[str, str], list[Match], dict | None]:
    """((file, speaker) asked for, every other speaker of the case best first, the calibration used).

    The calibration is None when it was measured for another embedding model than the one the
    case's centroids come from (its figures would say nothing about these scores).
    """
    rid, name, label, query = find_speaker(db, reference)
    model = db.execute("SELECT model FROM speakers WHERE recording_id = ? AND label = ?", (rid, label)).fetchone()[0]
    measured = calibration()
    if measured and (measured.get("embedding_model") != model or "calibration" not in measured):
        measured = None
    matches = []
    for other_id, other_name, report, other_label, vector in index.speaker_embeddings(db):
        if (other_id, other_label) == (rid, label) or len(vector) != len(query):
            continue
        cosine = float(np.dot(query, vector) / (np.linalg.norm(query) * np.linalg.norm(vector)))
        ratio = round(llr(measured, cosine) / math.log(10), 2) if measured else None
        matches.append(Match(round(cosine, 4), other_name, report, other_label, ratio, *rates_at(measured, cosine)))
    return (name, label), sorted(matches, key=lambda m: (-m.score, m.name, m.label)), measured
