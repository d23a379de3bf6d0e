"""Case runs on Dask: throughput, resume after kills, cross-recording voice matching, memory per worker.

    .venv/bin/python benchmarks/case_run.py throughput --files 4      # 1 vs 2 workers vs separate analyze calls
    .venv/bin/python benchmarks/case_run.py resume --files 6          # kill a worker, then the whole run; resume
    .venv/bin/python benchmarks/case_run.py voice [--record]          # EER of speaker centroids across clips

Every mode prints JSON on stdout. Runs go through the CLI exactly as a user runs them (``case init``,
``case add``, ``case run``), in a temporary folder. The files are the shared clips in
../shared/eval: diar_pyannote_debug (12 x 30 s), diar_pyannote_sample (1), asr_multilingual (8),
in that order; ``--files N`` takes the first N (after ``--first K``). ``--full`` analyses with every stage (default:
``--no-events --no-authenticity --formats json,html``, the stages that matter for the figure).

``voice``: the debug clips are AMI meeting excerpts whose speaker ids are global (trn07 and trn08
share four people). Each diarized speaker of each clip is mapped to its reference speaker by
pyannote.metrics' optimal mapping on the clip's UEM; every pair of mapped speakers from two
different clips is a same-voice pair (same AMI id) or a different-voice pair; the cosine of their
centroids is the score. ``--record`` writes the pair scores, the equal error rate and its threshold
to evidence_audio/data/voice_matching.json, which ``case search --voice`` quotes.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence_audio.case import voice  # noqa: E402
from evidence_audio.case.run import embedding_model  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DEBUG = EVAL / "diar_pyannote_debug"
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
    found = [r["peak_memory_mb"] for r in rows(case) if r["peak_memory_mb"]]
    return {"peak_memory_mb_per_worker_max": max(found, default=None), "items": len(found)}


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


def voice_pairs(case: Path) -> tuple[list[float], list[float], int]:
    """Cosine scores of same-voice and different-voice speaker pairs across clips; speakers mapped."""
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm, load_uem
    from pyannote.metrics.diarization import DiarizationErrorRate

    db = sqlite3.connect(case / "case.sqlite")
    speakers = []
    for rid, name, report in db.execute("SELECT id, name, report FROM recordings WHERE state='done'"):
        uri = Path(name).stem
        record = json.loads((case / report / "report.json").read_text(encoding="utf-8"))
        hypothesis = Annotation(uri=uri)
        for turn in record["analysis"]["speakers"]["turns"]:
            hypothesis[Segment(turn["start"], turn["end"])] = turn["speaker"]
        reference = load_rttm(DEBUG / f"{uri}.rttm")[uri]
        uem = load_uem(DEBUG / f"{uri}.uem")[uri]
        mapping = DiarizationErrorRate().optimal_mapping(reference.crop(uem), hypothesis.crop(uem))
        for label, blob in db.execute("SELECT label, embedding FROM speakers WHERE recording_id=? AND embedding IS NOT NULL",
                                      (rid,)):
            if label in mapping:
                speakers.append((uri, mapping[label], np.frombuffer(blob, dtype="<f4")))
    same, different = [], []
    for (uri_a, ami_a, a), (uri_b, ami_b, b) in combinations(speakers, 2):
        if uri_a != uri_b:
            cosine = float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))
            (same if ami_a == ami_b else different).append(round(cosine, 4))
    return sorted(same), sorted(different), len(speakers)


def voice_matching(work: Path, record: bool) -> dict:
    files = sorted(DEBUG.glob("*.wav"))
    case = new_case(work, "voice", files, full=False)
    elapsed = timed_run(case, 2)
    same, different, speakers = voice_pairs(case)
    eer, threshold = voice.equal_error_rate(np.array(same), np.array(different))
    settings = json.loads(sqlite3.connect(case / "case.sqlite").execute(
        "SELECT value FROM case_info WHERE key='settings'").fetchone()[0])
    measured = {
        "embedding_model": embedding_model(settings),
        "dataset": f"diar_pyannote_debug ({len(files)} AMI clips of 30 s, global speaker ids)",
        "speakers": speakers, "same_pairs": len(same), "different_pairs": len(different),
        "eer": round(eer, 4), "threshold": round(threshold, 4),
        "same_scores": same, "different_scores": different,
        "benchmark": ".venv/bin/python benchmarks/case_run.py voice --record",
        "measured_utc": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "notes": "diarized speakers mapped to reference speakers by optimal mapping on each clip's UEM; "
                 "pairs only across different clips; centroids of pyannote's clustering (CAM++)",
    }
    if record:
        target = ROOT / "evidence_audio" / "data" / voice.CALIBRATION
        handle, staging = tempfile.mkstemp(prefix=".voice.", dir=target.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(json.dumps(measured, indent=1) + "\n")
        os.replace(staging, target)
    summary = {k: v for k, v in measured.items() if not k.endswith("_scores")}
    return {**summary, "case_run_2_workers_s": elapsed, **peak_memory(case)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["throughput", "resume", "voice"])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--first", type=int, default=0, help="skip this many of the shared files (13: multilingual)")
    parser.add_argument("--full", action="store_true", help="every stage (events, authenticity, all formats)")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="case-bench-") as folder:
        work = Path(folder)
        files = shared_files()[args.first:args.first + args.files]
        if args.mode == "throughput":
            result = throughput(files, work, args.full)
        elif args.mode == "resume":
            result = resume(files, work, args.full)
        else:
            result = voice_matching(work, args.record)
    print(json.dumps({"mode": args.mode, "cpu_cores": os.cpu_count(), "load_average": os.getloadavg(),
                      **result}, indent=1))


if __name__ == "__main__":
    main()
