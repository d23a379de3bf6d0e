"""``case search --voice FILE:SPEAKER``: every other speaker of the case ranked by cosine similarity.

Scores are cosine similarities of diarization centroids (CAM++ by default). What a score means is
measured, not assumed: ``benchmarks/case_run.py --voice`` diarizes the pyannote debug clips (AMI
excerpts whose speaker ids are global), pairs speakers across clips (same AMI id: same voice) and
writes ``data/voice_matching.json``: the equal error rate, its threshold, and for each score the
false-match rate (different voices scoring at least that) and the miss rate (same voices scoring
below it). A score is evidence to listen to, never an identification.
"""

from __future__ import annotations

import json
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
    false_match_rate: float | None  # measured share of different-voice pairs scoring >= score
    miss_rate: float | None  # measured share of same-voice pairs scoring < score


def calibration() -> dict | None:
    """The measured figures (data/voice_matching.json), or None when not yet measured."""
    try:
        return json.loads(files("evidence_audio.data").joinpath(CALIBRATION).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def rates_at(measured: dict | None, score: float) -> tuple[float | None, float | None]:
    """(false-match rate, miss rate) measured at this score, from the calibration's sorted pair scores."""
    if not measured:
        return None, None
    same, different = np.asarray(measured["same_scores"]), np.asarray(measured["different_scores"])
    return float(np.mean(different >= score)), float(np.mean(same < score))


def equal_error_rate(same: np.ndarray, different: np.ndarray) -> tuple[float, float]:
    """(EER, threshold): the score where the miss rate equals the false-match rate (pyannote.metrics' det_curve)."""
    from pyannote.metrics.binary_classification import det_curve

    scores = np.concatenate([same, different])
    truth = np.concatenate([np.ones(len(same), bool), np.zeros(len(different), bool)])
    _, _, thresholds, eer = det_curve(truth, scores, distances=False)
    rates = [abs(np.mean(different >= t) - np.mean(same < t)) for t in thresholds]
    return float(eer), float(thresholds[int(np.argmin(rates))])


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
    if row is None or row["embedding"] is None:
        raise InputError(f"{rows[0]['name']} has no speaker {label} with an embedding in the case index")
    return rows[0]["id"], rows[0]["name"], label, np.frombuffer(row["embedding"], dtype="<f4")


def rank_voices(db, reference: str) -> tuple[tuple[str, str], list[Match], dict | None]:
    """((file, speaker) asked for, every other speaker of the case best first, the calibration used)."""
    rid, name, label, query = find_speaker(db, reference)
    model = db.execute("SELECT model FROM speakers WHERE recording_id = ? AND label = ?", (rid, label)).fetchone()[0]
    measured = calibration()
    if measured and measured.get("embedding_model") != model:
        measured = None  # measured for another embedding model: says nothing about these scores
    matches = []
    for other_id, other_name, report, other_label, vector in index.speaker_embeddings(db):
        if (other_id, other_label) == (rid, label) or len(vector) != len(query):
            continue
        cosine = float(np.dot(query, vector) / (np.linalg.norm(query) * np.linalg.norm(vector)))
        matches.append(Match(round(cosine, 4), other_name, report, other_label, *rates_at(measured, cosine)))
    return (name, label), sorted(matches, key=lambda m: (-m.score, m.name, m.label)), measured
