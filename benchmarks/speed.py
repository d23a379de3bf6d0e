"""Speed of the whole analysis and of each stage, beside openai-whisper and faster-whisper alone.

Every measured thing runs as its own process on the same file, one after the other; wall time,
x real time and peak RSS (the process's own ``ru_maxrss`` from ``wait4``) are printed with ratios.
Stage times come from the analysis's own log lines (``evidence-audio: <stage> done in N s``).

    .venv/bin/python benchmarks/speed.py                    # the 12 diar_pyannote_debug clips joined (6 min)
    .venv/bin/python benchmarks/speed.py --file REC.wav     # any recording
    .venv/bin/python benchmarks/speed.py --only analysis    # a subset: analysis, sequential, openai, faster, batched

"analysis" is the default run (the transcription beside the other stages on a machine with more
than one core); "sequential" is the same analysis with ``--one-stage-at-a-time``.

Peers, on the same weights (Whisper base): openai-whisper (fp32, beam 5, word times),
faster-whisper (int8, beam 5, its own Silero VAD filter, word times) and faster-whisper's
``BatchedInferencePipeline`` (batch 8). Measure on a quiet machine: the figures are whole-process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
sys.path.insert(0, str(ROOT))

OPENAI = textwrap.dedent("""
    import sys, whisper
    from evidence_audio.asr.engines import resolve_model
    from evidence_audio.intake import decode_file
    model = whisper.load_model(resolve_model("openai-whisper", "base").path + "/base.pt", device="cpu")
    audio = decode_file(sys.argv[1]).samples  # 16 kHz mono float32: openai-whisper would call an ffmpeg binary
    result = model.transcribe(audio, beam_size=5, word_timestamps=True, fp16=False)
    print(len(result["segments"]), file=sys.stderr)
""")
FASTER = textwrap.dedent("""
    import sys
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from evidence_audio.asr.engines import resolve_model
    model = WhisperModel(resolve_model("faster-whisper", "base").path, device="cpu", compute_type="int8")
    if sys.argv[2] == "batched":
        segments, _ = BatchedInferencePipeline(model).transcribe(sys.argv[1], beam_size=5, batch_size=8,
                                                                 word_timestamps=True)
    else:
        segments, _ = model.transcribe(sys.argv[1], beam_size=5, vad_filter=True, word_timestamps=True)
    print(len(list(segments)), file=sys.stderr)
""")
STAGE_LINE = re.compile(r"^evidence-audio: (.+) done in ([0-9.]+) s$")


def joined_debug_clips(folder: Path) -> Path:
    """The 12 shared diar_pyannote_debug clips joined into one 16 kHz file (about 6 minutes)."""
    from evidence_audio.intake import ANALYSIS_RATE, decode_file

    clips = sorted((EVAL / "diar_pyannote_debug").glob("*.wav"))
    samples = np.concatenate([decode_file(p).samples for p in clips])
    path = folder / "debug-joined.wav"
    soundfile.write(path, samples, ANALYSIS_RATE, subtype="PCM_16")
    return path


def timed(argv: list[str]) -> dict:
    """Run ``argv``; wall seconds, peak RSS (MiB) of the process, exit status and its stderr."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", errors="replace")
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024), "exit": process.returncode,
            "stderr": text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, help="recording to measure on (default: the debug clips joined)")
    parser.add_argument("--only", default="analysis,sequential,openai,faster,batched")
    args = parser.parse_args()
    wanted = args.only.split(",")
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="speed-") as folder:
        path = args.file or joined_debug_clips(Path(folder))
        duration = soundfile.info(str(path)).duration
        rows = {}
        for mode, flags, title in (("analysis", [], "evidence-audio analyze (everything)"),
                                   ("sequential", ["--one-stage-at-a-time"], "the same, --one-stage-at-a-time")):
            if mode not in wanted:
                continue
            run = timed([python, "-m", "evidence_audio.cli", "analyze", str(path), "-o", f"{folder}/{mode}", *flags])
            stages = {m.group(1): float(m.group(2)) for m in map(STAGE_LINE.match, run["stderr"].splitlines()) if m}
            rows[title] = run
            for stage, seconds in stages.items():
                rows[f"- {stage} ({mode})"] = {"wall_s": seconds, "peak_rss_mib": None, "exit": 0}
        if "openai" in wanted:
            rows["openai-whisper alone (base fp32, beam 5, word times)"] = timed([python, "-c", OPENAI, str(path)])
        if "faster" in wanted:
            rows["faster-whisper alone (base int8, beam 5, VAD filter, word times)"] = timed(
                [python, "-c", FASTER, str(path), "sequential"])
        if "batched" in wanted:
            rows["faster-whisper BatchedInferencePipeline, batch 8"] = timed([python, "-c", FASTER, str(path), "batched"])
    print(f"file: {path.name if args.file else 'diar_pyannote_debug, 12 clips joined'}, {duration:.1f} s; "
          f"{os.cpu_count()} CPU threads")
    print("| what | wall | x real time | peak RSS |\n|---|---|---|---|")
    for name, row in rows.items():
        rss = f"{row['peak_rss_mib'] / 1024:.2f} GB" if row.get("peak_rss_mib") else ""
        failed = "" if row["exit"] == 0 else f" (exit {row['exit']}: {row['stderr'].strip().splitlines()[-1:]})"
        pace = f"{duration / row['wall_s']:.2f}x" if row["wall_s"] else "-"
        print(f"| {name}{failed} | {row['wall_s']:.1f} s | {pace} | {rss} |")
    whole = rows.get("evidence-audio analyze (everything)")
    peer = rows.get("openai-whisper alone (base fp32, beam 5, word times)")
    if whole and peer and peer["exit"] == 0:
        print(f"whole analysis vs openai-whisper alone: {peer['wall_s'] / whole['wall_s']:.2f}x faster")
    print(json.dumps({name: {k: v for k, v in row.items() if k != "stderr"} for name, row in rows.items()}))


if __name__ == "__main__":
    main()
