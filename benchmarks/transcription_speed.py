"""Where the transcription stage's time goes: voice activity, language identification, decoding,
language rechecks, loop re-decodes and the re-decode of untranscribed speech, in CPU seconds.

    .venv/bin/python benchmarks/transcription_speed.py                 # the 12 diar_pyannote_debug clips joined
    .venv/bin/python benchmarks/transcription_speed.py --file REC.wav --json out.json
    .venv/bin/python benchmarks/transcription_speed.py --noizeus clean,car_10   # short sentences, 2.5 s apart

``--noizeus`` joins the 15 NOIZEUS sentences of each named condition (2-3 s each) with 2.5 s of
silence between them, so each is its own speech region, and prints the WER of the whole transcript.

CPU time (``time.process_time``: all of the process's threads) is the figure to compare on a shared,
loaded machine; wall time is printed beside it. Whisper encoder passes (30 s windows) are counted
per part. The engine and model are the stage's own defaults (faster-whisper, base, int8).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PARTS = ("speech_regions", "language_spans", "_decode", "recheck_languages", "redecode_loops")
LABELS = {"_decode": "decoding", "retry": "untranscribed speech decoded alone"}


def noizeus_joined(conditions: list[str], gap_s: float = 2.5):
    """The NOIZEUS sentences of ``conditions`` (``clean`` or ``NOISE_SNR``) joined, 16 kHz, with their text."""
    import csv

    import numpy as np

    from evidence_audio.intake import ANALYSIS_RATE, decode_file

    root = ROOT.parent / "shared" / "eval" / "noisy_speech_noizeus"
    with open(root / "transcripts.tsv", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle, delimiter="\t")
                if (r["noise"] if r["noise"] == "clean" else f"{r['noise']}_{r['snr_db']}") in conditions]
    silence = np.zeros(int(gap_s * ANALYSIS_RATE), np.float32)
    audio = [part for r in rows for part in (decode_file(root / r["file"]).samples, silence)]
    return np.concatenate([silence] + audio), " ".join(r["transcript"] for r in rows)


def main() -> None:
    from evidence_audio.asr import transcribe as stage
    from evidence_audio.intake import ANALYSIS_RATE, decode_file
    from speed import joined_debug_clips

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path)
    parser.add_argument("--json", type=Path, help="write the transcript record here")
    parser.add_argument("--noizeus", help="NOIZEUS conditions to join: clean, car_10, babble_5, ...")
    args = parser.parse_args()
    reference = None
    if args.noizeus:
        samples, reference = noizeus_joined(args.noizeus.split(","))
    else:
        with tempfile.TemporaryDirectory() as folder:
            samples = decode_file(args.file or joined_debug_clips(Path(folder))).samples
    duration = len(samples) / ANALYSIS_RATE
    engine, vad_model, used = stage.load_models("faster-whisper", "base")

    totals = {name: [0, 0.0, 0.0, 0] for name in PARTS + ("retry",)}  # calls, cpu s, wall s, encoder passes
    active: list[str] = []
    encodes = [0]
    encode = engine.model.encode

    def counted_encode(*a, **k):
        encodes[0] += 1
        return encode(*a, **k)

    engine.model.encode = counted_encode

    def timed(name, function):
        def wrapper(*a, **k):
            if active:  # inside another measured part: counted there
                return function(*a, **k)
            part = "retry" if name == "_decode" and totals["redecode_loops"][0] else name
            active.append(part)
            cpu, wall, passes = time.process_time(), time.perf_counter(), encodes[0]
            try:
                return function(*a, **k)
            finally:
                active.pop()
                row = totals[part]
                row[0] += 1
                row[1] += time.process_time() - cpu
                row[2] += time.perf_counter() - wall
                row[3] += encodes[0] - passes
        return wrapper

    for name in PARTS:
        setattr(stage, name, timed(name, getattr(stage, name)))
    cpu, wall = time.process_time(), time.perf_counter()
    transcript = stage.transcribe(engine, used[0].name, vad_model, samples)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    record = transcript.to_record()
    words = sum(len(s["words"]) for s in record["segments"])
    print(f"{duration:.1f} s of audio, {len(record['speech_regions'])} speech regions "
          f"({sum(r['end'] - r['start'] for r in record['speech_regions']):.1f} s), "
          f"{len(record['language_spans'])} language windows, {len(record['segments'])} segments, {words} words, "
          f"{len(record['untranscribed_speech'])} untranscribed stretches")
    print("| part | calls | encoder passes | CPU s | wall s |\n|---|---|---|---|---|")
    for name, (calls, part_cpu, part_wall, passes) in totals.items():
        print(f"| {LABELS.get(name, name)} | {calls} | {passes} | {part_cpu:.1f} | {part_wall:.1f} |")
    print(f"| whole stage | 1 | {encodes[0]} | {cpu:.1f} | {wall:.1f} |")
    print(f"CPU time / audio: {cpu / duration:.3f} (x real time on CPU time: {duration / cpu:.1f}); "
          f"wall: {duration / wall:.1f}x real time")
    if reference is not None:
        from asr import error_rate, normalise

        hypothesis = normalise(" ".join(s["text"] for s in record["segments"]), "en")
        print(f"WER {100 * error_rate([normalise(reference, 'en')], [hypothesis], 'WER'):.2f} %")
    if args.json:
        args.json.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
