"""Mixed-language benchmark: the shared clips of several languages joined into one recording with
known boundaries, transcribed by the product's stage; per-segment language accuracy and WER
(CER for ja/ko) per language, and the time the stage took.

    .venv/bin/python benchmarks/mixed_language.py                 # en, ru, de, fr, es, it, pt, ja, ko
    .venv/bin/python benchmarks/mixed_language.py --languages en,ru,de --record

Parts are separated by ``--gap`` seconds of silence (default 2.5 s, longer than the voice
detection's 2 s minimum pause, so each part is its own speech region). A segment is scored against
the part holding its middle; its language is right when it equals the part's language (before
per-segment language identification, every segment carried the file's one language).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from evidence_audio.intake import ANALYSIS_RATE, decode_file
from evidence_audio.asr.transcribe import load_models, transcribe

from asr import CHARACTER_LANGUAGES, EVAL, error_rate, normalise

CLIPS = {"en": "asr_en_misc/jfk.flac", "ru": "asr_multilingual/pisets_ru.wav"}
CLIPS |= {code: f"asr_multilingual/leopard_{code}.wav" for code in ("de", "fr", "es", "it", "pt", "ja", "ko")}


def build(languages: list[str], gap_s: float) -> tuple[np.ndarray, list[tuple[str, float, float, str]]]:
    """The joined samples and (language, start s, end s, reference text) per part."""
    audio, parts, position = [], [], 0
    silence = np.zeros(int(gap_s * ANALYSIS_RATE), dtype=np.float32)
    for code in languages:
        path = EVAL / CLIPS[code]
        samples = decode_file(path).samples
        reference = path.with_suffix(".txt").read_text(encoding="utf-8").strip()
        parts.append((code, position / ANALYSIS_RATE, (position + len(samples)) / ANALYSIS_RATE, reference))
        audio += [samples, silence]
        position += len(samples) + len(silence)
    return np.concatenate(audio), parts


def part_samples(parts: list[tuple[str, float, float, str]], segments: int, audio_s: float) -> dict[str, str]:
    """Metric -> its sample: one language's clip (reference words, characters for CER, and seconds) within the
    one joined recording; the language accuracy's speech segments."""
    found = {"language accuracy per segment": f"{segments} speech segments in 1 joined recording of {len(parts)} clips, "
                                              f"{audio_s / 60:.1f} min"}
    for code, start, end, reference in parts:
        text = normalise(reference, code)
        size = f"{len(text.replace(' ', ''))} characters" if code in CHARACTER_LANGUAGES else f"{len(text.split())} words"
        metric = "CER" if code in CHARACTER_LANGUAGES else "WER"
        found[f"{metric}, {code}"] = f"1 clip, {size}, {end - start:.1f} s, in 1 joined recording of {len(parts)} languages"
    return found


def segment_language(segment, transcript) -> str:
    return getattr(segment, "language", None) or transcript.language.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", default="en,ru,de,fr,es,it,pt,ja,ko", help="parts, in this order")
    parser.add_argument("--gap", type=float, default=2.5, help="seconds of silence between parts")
    parser.add_argument("--model", default="base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="write the figures into the error-rate table")
    args = parser.parse_args()
    samples, parts = build(args.languages.split(","), args.gap)
    engine, vad_model, used = load_models("faster-whisper", args.model, threads=args.threads)
    started = time.perf_counter()
    transcript = transcribe(engine, used[0].name, vad_model, samples)
    elapsed = time.perf_counter() - started
    right = total = 0
    values: dict[str, float] = {}
    print(f"model={args.model} threads={args.threads} audio {len(samples) / ANALYSIS_RATE:.1f} s in {elapsed:.1f} s")
    print(f"{'part':5} {'segments':>8} {'language ok':>11} {'metric':>6} {'error':>7}  languages found")
    for code, start, end, reference in parts:
        inside = [s for s in transcript.segments if start - 0.5 <= (s.start + s.end) / 2 < end + 0.5]
        found = [segment_language(s, transcript) for s in inside]
        ok = sum(f == code for f in found)
        right, total = right + ok, total + len(inside)
        metric = "CER" if code in CHARACTER_LANGUAGES else "WER"
        error = error_rate([normalise(reference, code)], [normalise(" ".join(s.text for s in inside), code)], metric)
        values[f"{metric}, {code}"] = round(error, 4)
        print(f"{code:5} {len(inside):>8} {ok:>6}/{len(inside):<4} {metric:>6} {100 * error:>6.1f}%  {','.join(found)}")
    accuracy = right / total if total else 0.0
    print(f"per-segment language accuracy {100 * accuracy:.1f} % ({right}/{total}); "
          f"{len(samples) / ANALYSIS_RATE / elapsed:.2f}x real time")
    if args.record:
        from _common import record_measure
        from evidence_audio.error_rates import Measure

        record_measure(Measure(
            id="transcription/wer/mixed_languages", task="transcription of a recording that changes language",
            metrics=["language accuracy per segment"] + list(values),
            values={"language accuracy per segment": round(accuracy, 4)} | values, items=1, unit="recordings",
            samples=part_samples(parts, total, len(samples) / ANALYSIS_RATE),
            dataset=f"one recording joined from the project's evaluation clips, one per language, {args.gap:g} s of "
                    "silence between: " + ", ".join(f"{code} ({Path(CLIPS[code]).name})" for code, *_ in parts),
            conditions=f"faster-whisper whisper-{args.model} int8, the product's transcription stage, language "
                       f"identified per speech region; {args.threads} CPU threads; Whisper's text normaliser",
            benchmark=f".venv/bin/python benchmarks/mixed_language.py --languages {args.languages} --record"))


if __name__ == "__main__":
    main()
