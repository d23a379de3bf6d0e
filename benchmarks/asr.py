"""ASR benchmark over ../shared/eval: WER (CER for ja/ko), real-time factor and peak RSS.

    .venv/bin/python benchmarks/asr.py --engine faster-whisper --model base
    .venv/bin/python benchmarks/asr.py --engine openai-whisper --sets en_misc,multilingual
    .venv/bin/python benchmarks/asr.py --batched --sets noizeus     # faster-whisper, short clips packed
    .venv/bin/python benchmarks/asr.py --record      # defaults, figures written into data/error_rates.json

``pipeline`` mode runs the product's transcription stage (voice activity, language ID, fixed
decoding) file by file. ``--batched`` packs short clips into 30 s windows and decodes them in
batches with faster-whisper's BatchedInferencePipeline, the way to transcribe many short clips.
"""

from __future__ import annotations

import argparse
import csv
import resource
import time
from pathlib import Path

import jiwer
import numpy as np
from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

from evidence_audio.intake import ANALYSIS_RATE, decode_file
from evidence_audio.asr.transcribe import load_models, transcribe

EVAL = Path(__file__).resolve().parents[1].parent / "shared" / "eval"
CHARACTER_LANGUAGES = ("ja", "ko")


def items(sets: list[str], noises: list[str], snrs: list[str], limit: int) -> list[tuple[str, Path, str, str]]:
    """(group, audio path, reference text, language) for every selected clip."""
    found = []
    if "en_misc" in sets:
        for wav in sorted((EVAL / "asr_en_misc").glob("*.wav")) + [EVAL / "asr_en_misc" / "jfk.flac"]:
            text = wav.with_suffix(".txt").read_text(encoding="utf-8").strip()
            found.append(("asr_en_misc", wav, text, "en"))
    if "multilingual" in sets:
        for wav in sorted((EVAL / "asr_multilingual").glob("*.wav")):
            language = wav.stem.split("_")[-1]
            found.append((f"asr_multilingual/{language}", wav, wav.with_suffix(".txt").read_text(encoding="utf-8").strip(),
                          language))
    if "long" in sets:  # 30 s meeting excerpts without reference text: speed only
        for wav in sorted((EVAL / "diar_pyannote_debug").glob("*.wav"))[:limit]:
            found.append(("long/diar_pyannote_debug", wav, "", "en"))
    if "noizeus" in sets:
        root = EVAL / "noisy_speech_noizeus"
        with open(root / "transcripts.tsv", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        counts: dict[str, int] = {}
        for row in rows:
            noise, snr = row["noise"], row["snr_db"]
            if noise != "clean" and (noise not in noises or snr not in snrs):
                continue
            group = "noizeus/clean" if noise == "clean" else f"noizeus/{noise}_{snr}dB"
            counts[group] = counts.get(group, 0) + 1
            if counts[group] <= limit:
                found.append((group, root / row["file"], row["transcript"], "en"))
    return found


def normalise(text: str, language: str) -> str:
    text = EnglishTextNormalizer()(text) if language == "en" else BasicTextNormalizer()(text)
    return " ".join(text.replace("mister", "mr").split())


def error_rate(refs: list[str], hyps: list[str], metric: str) -> float:
    if metric == "CER":
        return jiwer.cer([r.replace(" ", "") for r in refs], [h.replace(" ", "") for h in hyps])
    return jiwer.wer(refs, hyps)


def run_pipeline(args, clips) -> dict[str, list]:
    engine, vad_model, used = load_models(args.engine, args.model, args.compute_type, threads=args.threads)
    results = []
    for group, path, reference, language in clips:
        samples = decode_file(path).samples
        started, cpu_started = time.perf_counter(), time.process_time()
        forced = language if args.force_language else None
        transcript = transcribe(engine, used[0].name, vad_model, samples, language=forced)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        text = " ".join(s.text for s in transcript.segments)
        results.append((group, language, reference, text, len(samples) / ANALYSIS_RATE, elapsed, transcript.language.code, cpu))
    return results


def run_batched(args, clips) -> list:
    """Short clips joined with 1 s of silence, packed by VAD into 30 s windows, decoded in batches."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from evidence_audio.asr.engines import resolve_model

    use = resolve_model("faster-whisper", args.model)
    model = WhisperModel(use.path, device="cpu", compute_type=args.compute_type, cpu_threads=args.threads)
    pipeline = BatchedInferencePipeline(model)
    gap = np.zeros(ANALYSIS_RATE, dtype=np.float32)
    results = []
    for language in sorted({c[3] for c in clips}):
        chosen = [c for c in clips if c[3] == language]
        audio, bounds = [], []
        for _, path, _, _ in chosen:
            samples = decode_file(path).samples
            start = sum(len(a) for a in audio) / ANALYSIS_RATE
            audio += [samples, gap]
            bounds.append((start, start + len(samples) / ANALYSIS_RATE))
        joined = np.concatenate(audio)
        started, cpu_started = time.perf_counter(), time.process_time()
        segments, _ = pipeline.transcribe(joined, language=language, beam_size=5, batch_size=args.batch_size,
                                          word_timestamps=True, temperature=0.0)
        words = [w for s in segments for w in s.words]
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        total = sum(e - s for s, e in bounds)
        for (group, _, reference, _), (s, e) in zip(chosen, bounds):
            text = " ".join(w.word.strip() for w in words if s - 0.5 <= (w.start + w.end) / 2 < e + 0.5)
            share = (e - s) / total
            results.append((group, language, reference, text, e - s, elapsed * share, language, cpu * share))
    return results


def summarise(results) -> dict[str, dict]:
    """Per group: language, metric, error rate (None without reference text), audio, wall and CPU seconds."""
    groups: dict[str, list] = {}
    for row in results:
        groups.setdefault(row[0], []).append(row)
    summary = {}
    for group, rows in sorted(groups.items()):
        language = rows[0][1]
        refs = [normalise(r[2], language) for r in rows]
        hyps = [normalise(r[3], language) for r in rows]
        metric = "CER" if language in CHARACTER_LANGUAGES else "WER"
        summary[group] = {
            "rows": rows, "language": language, "refs": refs, "hyps": hyps, "metric": metric,
            "error": error_rate(refs, hyps, metric) if all(refs) else None,
            "audio": sum(r[4] for r in rows), "wall": sum(r[5] for r in rows), "cpu": sum(r[7] for r in rows),
            "lang_ok": sum(r[6] == language for r in rows),
        }
    return summary


def report(args, summary: dict[str, dict]) -> None:
    mode = "batched" if args.batched else "pipeline"
    print(f"engine={args.engine} model={args.model} compute={args.compute_type} threads={args.threads} mode={mode}")
    print("x_realtime: audio seconds per wall-clock second; x_per_cpu_s: audio seconds per CPU second (all threads)")
    print(f"{'group':32} {'n':>4} {'metric':>6} {'error':>7} {'audio_s':>8} {'x_realtime':>10} {'x_per_cpu_s':>11} "
          f"{'lang_ok':>7}")
    for group, g in summary.items():
        error = f"{100 * g['error']:>6.1f}%" if g["error"] is not None else "    n/a"
        print(f"{group:32} {len(g['rows']):>4} {g['metric']:>6} {error} "
              f"{g['audio']:>8.1f} {g['audio'] / g['wall']:>10.1f} {g['audio'] / g['cpu']:>11.1f} "
              f"{g['lang_ok']:>4}/{len(g['rows'])}")
        if args.show:
            for r, h in zip(g["refs"], g["hyps"]):
                if r and r != h:
                    print(f"    ref: {r}\n    hyp: {h}")
    audio, spent, cpu = (sum(g[k] for g in summary.values()) for k in ("audio", "wall", "cpu"))
    print(f"all: {audio:.1f} s audio in {spent:.1f} s wall, {cpu:.1f} s CPU = {audio / spent:.1f}x real time; "
          f"peak RSS {peak_rss_mib():.0f} MiB")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pooled_sample(summary: dict[str, dict], groups: list[str], metric: str, noun: str = "clips") -> str:
    """The sample size behind a pooled figure: clips, how many distinct utterances when some repeat another's
    text (one speech at two sample rates, one sentence in several noises), reference words (characters for
    CER), minutes: '4 clips, 3 distinct utterances, 65 words, 0.5 min'."""
    refs = [r for g in groups for r in summary[g]["refs"]]
    size = sum(len(r.replace(" ", "")) if metric == "CER" else len(r.split()) for r in refs)
    distinct = len(set(refs))
    return (f"{len(refs)} {noun.removesuffix('s') if len(refs) == 1 else noun}"
            + (f", {distinct} distinct utterances" if distinct < len(refs) else "")
            + f", {size} {'characters' if metric == 'CER' else 'words'}, "
              f"{sum(summary[g]['audio'] for g in groups) / 60:.1f} min")


def record(args, summary: dict[str, dict]) -> None:
    """Write the measured error rates into the package's table (quoted in every report)."""
    from _common import record_measure
    from evidence_audio.error_rates import Measure

    command = (f".venv/bin/python benchmarks/asr.py --sets {args.sets} --noises {args.noises} --snrs {args.snrs} "
               f"--limit {args.limit} --threads {args.threads} --record")
    conditions = (f"{args.engine} whisper-{args.model} {args.compute_type}, the product's transcription stage "
                  f"(Silero VAD, language detected, beam 5, seeded temperature fallback 0-1.0, not conditioned "
                  f"on previous text); {args.threads} CPU thread{'s' if args.threads > 1 else ''}; Whisper's text normaliser")

    def pooled(groups: list[str], metric: str) -> float:
        """Error rate over the pooled words (or characters) of several groups."""
        refs = [r for g in groups for r in summary[g]["refs"]]
        hyps = [h for g in groups for h in summary[g]["hyps"]]
        return round(error_rate(refs, hyps, metric), 4)

    def sample(groups: list[str], metric: str, noun: str = "clips") -> str:
        return pooled_sample(summary, groups, metric, noun)

    if "asr_en_misc" in summary:
        record_measure(Measure(
            id="transcription/wer/asr_en_misc", task="English transcription", metrics=["WER"],
            values={"WER": pooled(["asr_en_misc"], "WER")}, items=len(summary["asr_en_misc"]["rows"]),
            unit="clips", samples={"WER": sample(["asr_en_misc"], "WER")}, language_figures={"en": "WER"},
            dataset="short real English clips with reference text: the JFK inaugural excerpt twice (the same "
                    "speech at 44.1 and 16 kHz), one LibriSpeech dev-clean utterance (from Picovoice Leopard's test "
                    "audio) and a 4-word clip of undocumented origin (from the pisets project's tests)",
            conditions=conditions, benchmark=command))
    multilingual = [g for g in summary if g.startswith("asr_multilingual/")]
    if multilingual:
        by_metric = {m: [g for g in multilingual if summary[g]["metric"] == m] for m in ("WER", "CER")}
        record_measure(Measure(
            id="transcription/wer/asr_multilingual", task="non-English transcription", metrics=["WER", "CER"],
            values={m: pooled(groups, m) for m, groups in by_metric.items() if groups},
            items=sum(len(summary[g]["rows"]) for g in multilingual), unit="clips",
            samples={m: sample(groups, m) for m, groups in by_metric.items() if groups},
            dataset="read speech in de, es, fr, it, ja, ko, pt, ru with reference text",
            conditions=conditions + "; WER pooled over de, es, fr, it, pt, ru; CER over ja, ko", benchmark=command,
            notes="per language: " + ", ".join(f"{g.split('/')[1]} {summary[g]['metric']} "
                                               f"{100 * summary[g]['error']:.1f} % ("
                                               + ", ".join(sample([g], summary[g]["metric"]).split(", ")[:2]) + ")"
                                               for g in multilingual)))
    noizeus = [g for g in summary if g.startswith("noizeus/")]
    if noizeus:
        noisy = [g for g in noizeus if g.endswith("dB")]
        noises = sorted({g.split("/")[1].rsplit("_", 1)[0] for g in noisy})
        snrs = sorted({g.rsplit("_", 1)[1][:-2] for g in noisy}, key=int, reverse=True)
        measured = {"WER, clean": ["noizeus/clean"]} if "noizeus/clean" in summary else {}
        if "car" in noises:  # the noise of the recordings this tool is for
            measured |= {f"WER, car {snr} dB": [f"noizeus/car_{snr}dB"] for snr in snrs}
        if len(noises) > 1:
            measured |= {f"WER, {len(noises)} noises pooled, {snr} dB": [f"noizeus/{n}_{snr}dB" for n in noises]
                         for snr in snrs}
        values = {name: pooled(groups, "WER") for name, groups in measured.items()}
        per_noise = "; ".join(f"{n} " + " / ".join(f"{100 * summary[f'noizeus/{n}_{snr}dB']['error']:.1f}"
                                                    for snr in snrs) + " %" for n in noises)
        record_measure(Measure(
            id="transcription/wer/noisy_speech_noizeus", task="transcription in noise (car, street, babble...)",
            metrics=list(values), values=values, items=sum(len(summary[g]["rows"]) for g in noizeus),
            unit="sentences", samples={name: sample(groups, "WER", "sentences") for name, groups in measured.items()},
            language_figures={"en": "WER, clean"} if "WER, clean" in values else None,
            dataset="NOIZEUS: 30 IEEE sentences, clean and with 8 real noises at 0-15 dB SNR",
            conditions=conditions, benchmark=command,
            notes=f"{sample([noizeus[0]], 'WER', 'sentences')} per condition and noise; WER at {' / '.join(snrs)} dB: "
                  + per_noise))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="faster-whisper", choices=["faster-whisper", "openai-whisper"])
    parser.add_argument("--model", default="base")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default="en_misc,multilingual,noizeus", help="also: long (speed on 30 s files)")
    parser.add_argument("--noises", default="car", help="NOIZEUS noises, comma-separated (or 'all')")
    parser.add_argument("--snrs", default="0,5,10,15")
    parser.add_argument("--limit", type=int, default=30, help="clips per NOIZEUS condition (files for 'long')")
    parser.add_argument("--force-language", action="store_true", help="decode in the reference language")
    parser.add_argument("--batched", action="store_true", help="faster-whisper BatchedInferencePipeline, packed clips")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--show", action="store_true", help="print every differing reference/hypothesis")
    parser.add_argument("--record", action="store_true",
                        help="write the error rates into the package's error-rate table (pipeline mode)")
    args = parser.parse_args()
    noises = ["airport", "babble", "car", "exhibition", "restaurant", "station", "street", "train"] \
        if args.noises == "all" else args.noises.split(",")
    clips = items(args.sets.split(","), noises, args.snrs.split(","), args.limit)
    if args.record and args.batched:
        parser.error("--record measures the product's own stage: leave out --batched")
    summary = summarise(run_batched(args, clips) if args.batched else run_pipeline(args, clips))
    report(args, summary)
    if args.record:
        record(args, summary)


if __name__ == "__main__":
    main()
