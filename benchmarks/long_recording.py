"""Whole analysis of a long recording: wall time and peak memory of every stage.

The recording is real meeting speech (every ../shared/eval diar_pyannote_debug file and the
pyannote sample, joined) repeated to the requested length and written as FLAC. The product's
pipeline runs on it with the embedded defaults, then every report format is written; a thread
samples the process's resident memory every 0.2 s and keeps the peak of each stage, and the
process's own peak (``ru_maxrss``, which no sampler misses) is printed beside them.

    .venv/bin/python benchmarks/long_recording.py --minutes 30
    .venv/bin/python benchmarks/long_recording.py --minutes 240 --intake-only   # decoding and hashing alone
    .venv/bin/python benchmarks/long_recording.py --minutes 60 --one-stage-at-a-time  # each stage's own peak
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psutil
import soundfile

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence_audio import pipeline  # noqa: E402
from evidence_audio.intake import ANALYSIS_RATE, decode_file  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


class MemoryWatch:
    """Peak resident memory (MiB) of this process per named stage, sampled in a thread.

    Stages can run at the same time (the pipeline runs the transcription beside the other stages):
    each sample counts for every stage running then, so a stage's peak is the process's peak while
    it ran, not what it alone allocated.
    """

    def __init__(self, interval_s: float = 0.2):
        self.process = psutil.Process()
        self.interval_s = interval_s
        self.running: list[str] = ["start"]
        self.peaks: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self.process.memory_info().rss / 2**20
            for stage in list(self.running):
                self.peaks[stage] = max(self.peaks.get(stage, 0.0), rss)
            self._stop.wait(self.interval_s)

    @contextmanager
    def watching(self, stage: str):
        self.running.append(stage)
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - begin
            self.running.remove(stage)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def build_recording(minutes: float, folder: Path) -> Path:
    """Real meeting speech repeated to ``minutes``, as a 16 kHz FLAC file."""
    sources = sorted((EVAL / "diar_pyannote_debug").glob("*.wav")) + [EVAL / "diar_pyannote_sample" / "sample.wav"]
    one_pass = np.concatenate([decode_file(p).samples for p in sources])
    length = int(minutes * 60 * ANALYSIS_RATE)
    samples = np.tile(one_pass, int(np.ceil(length / one_pass.size)))[:length]
    path = folder / f"meetings-{minutes:g}min.flac"
    soundfile.write(path, samples, ANALYSIS_RATE, subtype="PCM_16")
    return path


def timed_stages(watch: MemoryWatch) -> None:
    """Wrap the pipeline's stage functions so each is timed and its memory peak kept apart."""
    from evidence_audio import authenticity
    from evidence_audio.asr import transcribe
    from evidence_audio.events import detector
    from evidence_audio.speakers import diarize

    def wrap(owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def stage_function(*args, **kwargs):
            with watch.watching(stage):
                return original(*args, **kwargs)

        setattr(owner, name, stage_function)

    wrap(pipeline, "take_in", "intake")
    wrap(transcribe, "transcript_stage", "transcript")
    wrap(diarize, "speakers_stage", "speakers")
    wrap(detector, "events_stage", "events")
    wrap(authenticity, "authenticity_stage", "authenticity")
    wrap(pipeline, "confirm_unchanged", "input re-hashed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--intake-only", action="store_true",
                        help="Only decode and hash (take_in): its wall time and peak memory.")
    parser.add_argument("--one-stage-at-a-time", action="store_true",
                        help="Run the stages in turn (the CLI's --one-stage-at-a-time), so each stage's "
                             "peak memory is its own, not shared with the transcription running beside it.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="long-recording-") as folder:
        path = build_recording(args.minutes, Path(folder))
        if args.intake_only:
            with MemoryWatch() as watch:
                before = watch.process.memory_info().rss / 2**20
                with watch.watching("intake"):
                    intake = pipeline.take_in(path)
            print(json.dumps({"minutes": args.minutes, "file_mib": round(path.stat().st_size / 2**20),
                              "analysis_signal_mib": round(intake.audio.samples.nbytes / 2**20),
                              "rss_before_mib": round(before), "intake_peak_rss_mib": round(watch.peaks["intake"]),
                              "intake_seconds": round(watch.seconds["intake"], 1)}, indent=1))
            return
        with MemoryWatch() as watch:
            timed_stages(watch)
            with watch.watching("analysis"):
                record, samples = pipeline.analyze_with_audio(path, pipeline.Settings(),
                                                             side_by_side=not args.one_stage_at_a_time)
            try:  # the analysis figures are printed even when writing the reports fails
                with watch.watching("report files"):
                    pipeline.write_report(record, Path(folder) / "report", samples=samples)
                report_error = None
            except Exception as exc:
                report_error = f"{type(exc).__name__}: {exc}"
    audio_s = args.minutes * 60
    print(json.dumps({
        "minutes": args.minutes,
        "stages": "one at a time" if args.one_stage_at_a_time else "side by side",
        "report_files_error": report_error,
        "speakers_found": len(record["analysis"].get("speakers", {}).get("labels", [])),
        "segments": len(record["analysis"].get("transcript", {}).get("segments", [])),
        "seconds": {stage: round(s, 1) for stage, s in watch.seconds.items()},
        "real_time_factor": {stage: round(s / audio_s, 4) for stage, s in watch.seconds.items()},
        "peak_rss_mib": {stage: round(rss) for stage, rss in watch.peaks.items()},
        "process_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "cpu_threads": psutil.cpu_count(),
    }, indent=1))


if __name__ == "__main__":
    main()
