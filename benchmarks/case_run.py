"""Case runs on Dask: throughput, resume after kills, cross-recording voice matching, memory per worker.

    .venv/bin/python benchmarks/case_run.py throughput --files 4      # 1 vs 2 workers vs separate analyze calls
    .venv/bin/python benchmarks/case_run.py resume --files 6          # kill a worker, then the whole run; resume
    .venv/bin/python benchmarks/case_run.py voice [--record]          # calibrate voice scores; held-out error rates
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/case_run.py memory --files 3 --full   # each stage's peak memory

Every mode prints JSON on stdout, with the load average (1, 5, 15 min) at its start and its end: the
machine may be shared. Throughput and resume go through the CLI exactly as a user runs them (``case
init``, ``case add``, ``case run``), in a temporary folder. The files are the shared clips in
../shared/eval: diar_pyannote_debug (12 x 30 s), diar_pyannote_sample (1), asr_multilingual (8),
in that order; ``--files N`` takes the first N (after ``--first K``). ``--full`` analyses with every
stage (default: ``--no-events --no-authenticity --formats json,html``). Each case run's figures
include every worker's peak resident memory (from the index, ``peak_memory_mb`` per worker).

``voice`` (no case run; the diarization pipeline's CAM++ model called directly, which is fast):

* fit set: the ravdess_subset takes (12 actors, 5 takes each, 3-4 s), each embedded whole; every
  pair of takes is a same-voice (same actor) or different-voice pair, scored by the cosine of their
  embeddings. A logistic regression on these scores (classes weighted equally) is the calibration:
  cosine -> log likelihood ratio.
* held-out set: the 12 diar_pyannote_debug clips, AMI meeting excerpts whose speaker ids are global
  (several people occur in two clips). Each reference speaker's speech without overlap is embedded
  whole and cut into 2 s pieces; every pair of the same granularity from two different clips is a
  same-voice (same AMI id) or different-voice pair. Its equal error rate, and the false matches and
  misses of the decision LR >= 1 made with the fitted calibration, are the figures ``case search
  --voice`` prints. The other way round (fit on AMI, test on RAVDESS) is printed as well: the AMI
  set separates so well that a fit on it is far too confident elsewhere.
* ``--diarized`` adds the equal error rates of centroids from diarization itself (what a case index
  holds) on the same clips, diarized whole, in halves and in thirds, and on the takes: slow (40
  minutes on two busy cores, 4 on a quiet machine), and with few trials, since the 3-4 s takes mostly
  have under 2 s of speech and get no centroid.

``--record`` writes both to evidence_audio/data/voice_matching.json (with the held-out scores, from
which the rates at any score are read).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence_audio.case import voice  # noqa: E402
from evidence_audio.case.run import embedding_model  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DEBUG = EVAL / "diar_pyannote_debug"
RAVDESS = EVAL / "ravdess_subset"
FAST = ["--no-events", "--no-authenticity", "--formats", "json,html"]


def shared_files() -> list[Path]:
    return (sorted(DEBUG.glob("*.wav")) + sorted((EVAL / "diar_pyannote_sample").glob("*.wav"))
            + sorted((EVAL / "asr_multilingual").glob("*.wav")))


def cli(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "evidence_audio.cli", *map(str, args)], capture_output=True,
                            text=True, **kwargs)
    if check and result.returncode not in (0, 1, 3, 4):
        raise SystemExit(f"{args[:2]} failed: {result.stderr}")
    return result


def rows(case: Path) -> list[dict]:
    with sqlite3.connect(case / "case.sqlite") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM recordings ORDER BY id")]


def new_case(work: Path, name: str, files: list[Path], full: bool) -> Path:
    case = work / name
    cli("case", "init", case, "--case", name, "--examiner", "benchmark", *([] if full else FAST))
    cli("case", "add", case, *files)
    return case


def timed_run(case: Path, workers: int) -> float:
    begin = time.perf_counter()
    result = cli("case", "run", case, "--workers", workers)
    assert "0 failed" in result.stdout, result.stdout + result.stderr
    return round(time.perf_counter() - begin, 2)


def peak_memory(case: Path) -> dict:
    """Each worker's peak resident memory (MB, its largest VmHWM over the files it analysed)."""
    per_worker: dict = {}
    for r in rows(case):
        if r["peak_memory_mb"]:
            per_worker[r["worker"]] = max(r["peak_memory_mb"], per_worker.get(r["worker"], 0))
    return {"peak_memory_mb_by_worker": per_worker, "peak_memory_mb_max": max(per_worker.values(), default=None)}


def memory(files: list[Path], full: bool) -> dict:
    """The analysis of each file in this one process, as a worker runs it: the peak resident memory of
    each stage (VmHWM reset at each stage's start) and the resident memory left after each file."""
    import hashlib

    from evidence_audio.case.run import analyse_one
    from evidence_audio.pipeline import Settings

    settings = vars(Settings(events=full, authenticity=full))
    found = []
    with tempfile.TemporaryDirectory(prefix="case-memory-") as out:
        for i, path in enumerate(files):
            result = analyse_one(str(path), hashlib.sha256(path.read_bytes()).hexdigest(), f"{out}/r{i}", settings,
                                 () if full else ("json", "html"))
            found.append({"file": path.name, "analysis_s": result["analysis_s"],
                          "peak_memory_mb": result["peak_memory_mb"], "memory_after_mb": result["memory_after_mb"],
                          "peak_memory_by_stage_mb": result["peak_memory_by_stage_mb"]})
    return {"files": found, "peak_memory_mb": max(f["peak_memory_mb"] for f in found)}


def throughput(files: list[Path], work: Path, full: bool) -> dict:
    audio_s = None
    result = {}
    for workers in (1, 2):
        case = new_case(work, f"w{workers}", files, full)
        result[f"case_run_{workers}_worker_s"] = timed_run(case, workers)
        result[f"memory_{workers}_worker"] = peak_memory(case)
        audio_s = sum(r["duration_s"] for r in rows(case))
    begin = time.perf_counter()
    for i, path in enumerate(files):
        flags = [] if full else FAST
        out = cli("analyze", path, "-o", work / f"separate{i}", "--quiet", *flags)
        assert out.returncode == 0, out.stderr
    result["separate_analyze_calls_s"] = round(time.perf_counter() - begin, 2)
    result["audio_s"] = round(audio_s, 2)
    result["speedup_2_vs_1_worker"] = round(result["case_run_1_worker_s"] / result["case_run_2_worker_s"], 2)
    result["speedup_1_worker_vs_separate_calls"] = round(result["separate_analyze_calls_s"] / result["case_run_1_worker_s"], 2)
    return result


def _children(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def resume(files: list[Path], work: Path, full: bool) -> dict:
    """SIGKILL one worker after the first report, then the whole run at about half; run again."""
    case = new_case(work, "resume", files, full)
    run = subprocess.Popen([sys.executable, "-m", "evidence_audio.cli", "case", "run", case, "--workers", "2"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    killed_worker = None
    try:
        while run.poll() is None:
            done = sum(r["state"] == "done" for r in rows(case))
            if done >= 1 and killed_worker is None:
                workers = [p for p in _children(run.pid) if "spawn_main" in " ".join(p.cmdline())]
                if workers:  # a worker process (spawned by its nanny), not the client or the resource tracker
                    killed_worker = workers[-1].pid
                    os.kill(killed_worker, signal.SIGKILL)
            if done >= len(files) // 2:
                break
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    before = {r["name"]: r["integrity"] for r in rows(case) if r["state"] == "done"}
    inodes = {r["name"]: os.stat(case / r["report"] / "report.json").st_ino for r in rows(case) if r["state"] == "done"}
    again = cli("case", "run", case, "--workers", "2")
    after = rows(case)
    reports = [p for p in (case / "reports").iterdir() if not p.name.startswith(".")]
    return {
        "files": len(files), "worker_killed": killed_worker is not None, "done_when_killed": len(before),
        "second_run_said": [line for line in again.stdout.splitlines() if "recordings to analyse" in line],
        "done_after": sum(r["state"] == "done" for r in after), "index_rows": len(after),
        "report_folders": len(reports), "hidden_leftovers": len(list((case / "reports").glob(".*"))),
        "reports_rewritten": sum(os.stat(case / r["report"] / "report.json").st_ino != inodes[r["name"]]
                                 or r["integrity"] != before[r["name"]] for r in after if r["name"] in before),
    }


def _shifted(annotation, start: float, end: float):
    """The part of ``annotation`` between start and end, with times from ``start``."""
    from pyannote.core import Annotation, Segment

    out = Annotation(uri=annotation.uri)
    for segment, track, label in annotation.crop(Segment(start, end)).itertracks(yield_label=True):
        out[Segment(segment.start - start, segment.end - start), track] = label
    return out


def _talk(annotation) -> dict:
    return {label: annotation.label_duration(label) for label in annotation.labels()}


def ami_speakers(diarizer) -> list[tuple[str, int, str, np.ndarray]]:
    """(clip, pieces, AMI id, centroid) of every diarized speaker of each debug clip diarized whole,
    in halves and in thirds, mapped to its reference speaker (optimal mapping on the piece)."""
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    from evidence_audio.speakers.diarize import SpeakerLimits, diarize
    from evidence_audio.intake import decode_file

    found = []
    for clip in sorted(DEBUG.glob("*.wav")):
        audio = decode_file(clip)
        rate = audio.sample_rate
        reference = load_rttm(DEBUG / f"{clip.stem}.rttm")[clip.stem]
        length = len(audio.samples) / rate
        for pieces in (1, 2, 3):
            for k in range(pieces):
                start, end = k * length / pieces, (k + 1) * length / pieces
                result = diarize(audio.samples[int(start * rate):int(end * rate)], rate, diarizer, SpeakerLimits())
                truth = _shifted(reference, start, end)
                mapping = DiarizationErrorRate().optimal_mapping(truth, result.annotation)
                found += [(f"{clip.stem}/{pieces}.{k}", pieces, mapping[label], centroid)
                          for label, centroid in result.centroids.items() if label in mapping]
    return found


def ravdess_speakers(diarizer) -> list[tuple[str, int, str, np.ndarray]]:
    """(file, 1, actor, centroid) of each RAVDESS take diarized alone (its speaker with the most talk time)."""
    from evidence_audio.speakers.diarize import SpeakerLimits, diarize
    from evidence_audio.intake import decode_file

    found = []
    for take in sorted(RAVDESS.glob("*.wav")):
        audio = decode_file(take)
        result = diarize(audio.samples, audio.sample_rate, diarizer, SpeakerLimits())
        talk = {label: d for label, d in _talk(result.annotation).items() if label in result.centroids}
        if talk:
            found.append((take.stem, 1, take.stem.split("-")[-1], result.centroids[max(talk, key=talk.get)]))
    return found


def campplus():
    """The diarization pipeline's embedding model (CAM++), to embed a stretch of speech directly."""
    from evidence_audio import models
    from evidence_audio.speakers.diarize import EMBEDDING_MODEL
    from evidence_audio.speakers.campplus import CAMPPlusEmbedding

    network = CAMPPlusEmbedding(Path(models.require(EMBEDDING_MODEL).path) / "campplus_cn_en_common.pt")

    def embed(samples: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return network(torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None, None]).numpy()[0]

    return embed


def ami_references(embed, piece_s: float = 2.0) -> list[tuple[str, str, str, np.ndarray]]:
    """(clip/piece, granularity, AMI id, embedding) of each reference speaker of each debug clip: the
    speaker's speech where nobody else speaks (turns of 0.3 s or more, joined), whole ("clip") and cut
    into consecutive pieces of ``piece_s`` seconds ("piece"); speakers with less than 2 s of it left out."""
    from pyannote.database.util import load_rttm

    from evidence_audio.intake import decode_file

    found = []
    for clip in sorted(DEBUG.glob("*.wav")):
        audio = decode_file(clip)
        rate = audio.sample_rate
        reference = load_rttm(DEBUG / f"{clip.stem}.rttm")[clip.stem]
        overlap = reference.get_overlap()
        for speaker in reference.labels():
            alone = reference.label_timeline(speaker).support().extrude(overlap)
            parts = [audio.samples[int(s.start * rate):int(s.end * rate)] for s in alone if s.duration >= 0.3]
            if sum(len(p) for p in parts) < 2 * rate:
                continue
            speech = np.concatenate(parts)
            found.append((f"{clip.stem}/all", "clip", speaker, embed(speech)))
            step = int(piece_s * rate)
            found += [(f"{clip.stem}/{start}", "piece", speaker, embed(speech[start:start + step]))
                      for start in range(0, len(speech) - step + 1, step)]
    return found


def ravdess_takes(embed) -> list[tuple[str, str, str, np.ndarray]]:
    """(take, "take", actor, embedding) of every RAVDESS take, embedded whole."""
    from evidence_audio.intake import decode_file

    return [(take.stem, "take", take.stem.split("-")[-1], embed(decode_file(take).samples))
            for take in sorted(RAVDESS.glob("*.wav"))]


def trials(speakers: list, across: Callable[[str, str], bool]) -> tuple[np.ndarray, np.ndarray]:
    """Cosine scores of same-voice and different-voice pairs of embeddings of the same granularity whose
    recordings differ (``across``)."""
    same, different = [], []
    for (rec_a, level_a, who_a, a), (rec_b, level_b, who_b, b) in combinations(speakers, 2):
        if level_a == level_b and across(rec_a, rec_b):
            cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            (same if who_a == who_b else different).append(round(cosine, 4))
    return np.sort(same), np.sort(different)


def other_clip(a: str, b: str) -> bool:
    return a.split("/")[0] != b.split("/")[0]


def diarized_check() -> dict:
    """The same figures from the centroids diarization itself gives (what a case index holds), on the
    same clips (whole, halves, thirds) and takes: slow, and fewer trials (short takes mostly get no centroid:
    under ``diarize.MIN_CENTROID_SPEECH_S`` of speech)."""
    from evidence_audio.speakers.diarize import load

    diarizer = load(None)
    measured = voice.calibration()
    found = {}
    for name, speakers, across in (("ami", ami_speakers(diarizer), other_clip),
                                   ("ravdess", ravdess_speakers(diarizer), lambda a, b: a != b)):
        same, different = trials([(a, str(b), c, d) for a, b, c, d in speakers], across)
        found[name] = {"speakers": len(speakers),
                       **voice.evaluate(same, different, measured["calibration"]["slope"],
                                        measured["calibration"]["intercept"])}
    return found


def voice_matching(record: bool) -> dict:
    """Fit on the RAVDESS takes (the larger set: 12 actors), hold out the AMI clips (the conversational
    condition of a case); the other way round is printed too (``fit_on_ami``)."""
    begin = time.perf_counter()
    embed = campplus()
    takes = ravdess_takes(embed)
    fit_same, fit_different = trials(takes, lambda a, b: a != b)
    slope, intercept = voice.fit_calibration(fit_same, fit_different)
    ami = ami_references(embed)
    held_same, held_different = trials(ami, other_clip)
    reverse = voice.fit_calibration(held_same, held_different)
    measured = {
        "embedding_model": embedding_model({}),
        "score": "cosine similarity of two speaker embeddings (CAM++; in a case, the centroids of pyannote's "
                 "clustering)",
        "calibration": {"slope": round(slope, 4), "intercept": round(intercept, 4),
                        "method": "logistic regression of same voice on cosine, classes weighted equally "
                                  "(scikit-learn); llr = slope * cosine + intercept, natural log"},
        "fit": {"name": "RAVDESS acted takes", "source": f"ravdess_subset: {len(takes)} takes of {len({a[2] for a in takes})} actors "
                          "(acted statements of 3-4 s: neutral, calm, angry, fearful), each take embedded "
                          "whole; pairs of different takes",
                **voice.evaluate(fit_same, fit_different, slope, intercept)},
        "held_out": {"name": "AMI meeting clips", "source": f"diar_pyannote_debug: {len({a[0].split('/')[0] for a in ami})} AMI clips of 30 s "
                               f"with global speaker ids ({len({a[2] for a in ami})} speakers with 2 s or more of "
                               f"speech without overlap, {len(ami)} embeddings); each speaker's speech without "
                               "overlap embedded whole and cut into pieces of 2 s; pairs of the same "
                               "granularity across different clips",
                     "speakers_in_same_voice_trials": len({a[2] for a, b in combinations(ami, 2)
                                                           if a[2] == b[2] and a[1] == b[1] and
                                                           other_clip(a[0], b[0])}),
                     **voice.evaluate(held_same, held_different, slope, intercept),
                     "same_scores": held_same.tolist(), "different_scores": held_different.tolist()},
        "fit_on_ami_held_out_ravdess": {"slope": round(reverse[0], 4), "intercept": round(reverse[1], 4),
                                        **voice.evaluate(fit_same, fit_different, *reverse)},
        "benchmark": ".venv/bin/python benchmarks/case_run.py voice --record",
        "measured_utc": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
    }
    if record:
        target = ROOT / "evidence_audio" / "data" / voice.CALIBRATION
        handle, staging = tempfile.mkstemp(prefix=".voice.", dir=target.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(measured, indent=1) + "\n")
        os.replace(staging, target)
    held = {k: v for k, v in measured["held_out"].items() if not k.endswith("_scores")}
    return {**measured, "held_out": held, "seconds": round(time.perf_counter() - begin, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["throughput", "resume", "voice", "memory"])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--first", type=int, default=0, help="skip this many of the shared files (13: multilingual)")
    parser.add_argument("--full", action="store_true", help="every stage (events, authenticity, all formats)")
    parser.add_argument("--record", action="store_true")
    parser.add_argument("--diarized", action="store_true",
                        help="voice: also the figures of centroids from diarization itself (slow: 4 min quiet, 40 on 2 busy cores)")
    args = parser.parse_args()
    load_at_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="case-bench-") as folder:
        work = Path(folder)
        files = shared_files()[args.first:args.first + args.files]
        if args.mode == "throughput":
            result = throughput(files, work, args.full)
        elif args.mode == "resume":
            result = resume(files, work, args.full)
        elif args.mode == "memory":
            result = memory(files, args.full)
        else:
            result = voice_matching(args.record)
            if args.diarized:
                result["diarized_centroids"] = diarized_check()
    print(json.dumps({"mode": args.mode, "cpu_cores": os.cpu_count(), "load_average_start": load_at_start,
                      "load_average_end": os.getloadavg(), **result}, indent=1))


if __name__ == "__main__":
    main()
