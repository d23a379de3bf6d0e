"""Diarization benchmark: DER (pyannote.metrics), real-time factor and peak RSS.

Data: ../shared/eval/diar_pyannote_sample (1 file) and diar_pyannote_debug (the 12 clips present:
trn00-trn09, dev00-dev01; each scored on its UEM). DER is reported at collar 0 and 0.25 s with
overlapping speech scored. ``--tune`` sweeps the clustering threshold on trn00-trn09 only; the
shipped threshold is pyannote's own (see ``evidence_audio/speakers/diarize.py`` for why).

    .venv/bin/python benchmarks/diarization.py                # evaluate, JSON on stdout
    .venv/bin/python benchmarks/diarization.py --record       # ... and write DER into data/error_rates.json
    .venv/bin/python benchmarks/diarization.py --per-chunk-embeddings   # CAM++ per 10 s chunk, as pyannote does
    .venv/bin/python benchmarks/diarization.py --tune         # threshold sweep on trn*
    .venv/bin/python benchmarks/diarization.py --sawer        # speaker-attributed WER on the sample
    .venv/bin/python benchmarks/diarization.py --long 60      # RTF + peak RSS on a 60-min concatenation
    .venv/bin/python benchmarks/diarization.py --clustering 43173 [--unbounded]   # 4-hour clustering memory
    .venv/bin/python benchmarks/diarization.py --actors       # RAVDESS actors calm to shouting: one speaker each?
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evidence_audio.speakers import diarize  # noqa: E402
from evidence_audio.intake import ANALYSIS_RATE, decode_file  # noqa: E402
from pyannote.core import Annotation, Segment, Timeline  # noqa: E402
from pyannote.database.util import load_rttm, load_uem  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
SAMPLE = EVAL / "diar_pyannote_sample"
DEBUG = EVAL / "diar_pyannote_debug"
COLLARS = (0.0, 0.25)


def debug_uris(split: str) -> list[str]:
    prefix = {"train": "trn", "heldout": ("dev", "tst"), "all": ("trn", "dev", "tst")}[split]
    return sorted(p.stem for p in DEBUG.glob("*.wav") if p.stem.startswith(prefix))


def load_item(folder: Path, uri: str) -> dict:
    audio = decode_file(folder / f"{uri}.wav")
    uem_path = folder / f"{uri}.uem"
    return {
        "uri": uri,
        "waveform": torch.from_numpy(audio.samples)[None],
        "sample_rate": audio.sample_rate,
        "duration": audio.duration_s,
        "reference": load_rttm(folder / f"{uri}.rttm")[uri],
        "uem": load_uem(uem_path)[uri] if uem_path.exists() else None,
    }


def joined(items: list[dict]) -> dict:
    """One recording made of ``items`` end to end, with their references and UEMs shifted to match."""
    reference, uem, offset = Annotation(uri="joined"), Timeline(uri="joined"), 0.0
    for item in items:
        for turn, track, speaker in item["reference"].itertracks(yield_label=True):
            reference[Segment(turn.start + offset, turn.end + offset), (item["uri"], track)] = speaker
        for region in item["uem"]:
            uem.add(Segment(region.start + offset, region.end + offset))
        offset += item["duration"]
    return {"uri": "joined", "waveform": torch.cat([i["waveform"] for i in items], dim=1),
            "sample_rate": items[0]["sample_rate"], "duration": offset, "reference": reference, "uem": uem}


def score(items: list[dict], hypotheses: dict[str, object]) -> dict:
    """Per-file and pooled DER at each collar."""
    result = {}
    for collar in COLLARS:
        metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
        files = {}
        for item in items:
            files[item["uri"]] = round(float(metric(item["reference"], hypotheses[item["uri"]], uem=item["uem"])), 4)
        result[f"collar_{collar}"] = {"pooled_der": round(float(abs(metric)), 4), "files": files}
    return result


def run(diarizer: diarize.Diarizer, item: dict) -> tuple[object, float]:
    begin = time.perf_counter()
    annotation = diarize.diarize(item["waveform"][0].numpy(), item["sample_rate"], diarizer,
                                 diarize.SpeakerLimits()).annotation
    return annotation, time.perf_counter() - begin


def evaluate() -> dict:
    diarizer = diarize.load()
    report = {"pipeline": diarizer.description, "parameters": diarizer.parameters,
              "threads": torch.get_num_threads()}
    for name, folder, uris in (("sample", SAMPLE, ["sample"]), ("debug_all", DEBUG, debug_uris("all"))):
        items = [load_item(folder, uri) for uri in uris]
        hypotheses, elapsed = {}, 0.0
        for item in items:
            hypotheses[item["uri"]], took = run(diarizer, item)
            elapsed += took
        audio_s = sum(item["duration"] for item in items)
        report[name] = {**score(items, hypotheses), "audio_s": audio_s,
                        "real_time_factor": round(elapsed / audio_s, 4)}
    heldout = [item for item in items if item["uri"] in debug_uris("heldout")]
    report["debug_dev_only"] = score(heldout, hypotheses)
    # the 12 clips as one 6-minute recording: AMI ids are global, so a speaker must be found again
    whole = joined(items)
    hypothesis, took = run(diarizer, whole)
    report["debug_joined"] = {**score([whole], {"joined": hypothesis}), "speakers_found": len(hypothesis.labels()),
                              "speakers_in_reference": len(whole["reference"].labels()),
                              "audio_s": whole["duration"], "real_time_factor": round(took / whole["duration"], 4)}
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return report


def tune(thresholds: list[float]) -> dict:
    """Sweep the clustering threshold on trn00-trn09, reusing segmentation and embeddings."""
    diarizer = diarize.load()
    pipeline = diarizer.pipeline
    pipeline.training = True  # pyannote caches segmentations and embeddings in each file dict
    items = [load_item(DEBUG, uri) for uri in debug_uris("train")]
    files = [{"uri": i["uri"], "waveform": i["waveform"], "sample_rate": i["sample_rate"]} for i in items]
    sweep = {}
    for threshold in thresholds:
        params = {"segmentation": dict(diarize.SEGMENTATION),
                  "clustering": {**diarize.CLUSTERING, "threshold": threshold}}
        pipeline.instantiate(params)
        hypotheses = {f["uri"]: getattr(out := pipeline(f), "speaker_diarization", out) for f in files}
        sweep[str(threshold)] = {k: v["pooled_der"] for k, v in score(items, hypotheses).items()}
        print(threshold, sweep[str(threshold)], file=sys.stderr, flush=True)
    return {"tuned_on": "diar_pyannote_debug trn00-trn09", "sweep": sweep}


def long_file(minutes: float) -> dict:
    """Diarize a long recording made by concatenating the debug files; time and peak memory."""
    pieces = [decode_file(p).samples for p in sorted(DEBUG.glob("*.wav"))]
    one_pass = np.concatenate(pieces)
    repeats = int(np.ceil(minutes * 60 * ANALYSIS_RATE / one_pass.size))
    samples = np.tile(one_pass, repeats)[: int(minutes * 60 * ANALYSIS_RATE)]
    del pieces, one_pass
    diarizer = diarize.load()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    begin = time.perf_counter()
    result = diarize.diarize(samples, ANALYSIS_RATE, diarizer, diarize.SpeakerLimits())
    elapsed = time.perf_counter() - begin
    return {"minutes": minutes, "elapsed_s": round(elapsed, 1), "real_time_factor": round(elapsed / (minutes * 60), 4),
            "peak_rss_mib_before": round(rss_before, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "speakers_found": len(result.annotation.labels()), "threads": torch.get_num_threads()}


RAVDESS = EVAL / "ravdess_subset"
ACTOR_TAKES = ("01", "02", "06", "05")  # RAVDESS emotion codes: neutral, calm, fearful, angry (in this order)


def actor_recording(actor: int, gap_s: float = 1.0) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One RAVDESS actor's takes of ravdess_subset (file names 03-01-EE-II-SS-RR-AA.wav: emotion EE,
    actor AA) joined in the order of ACTOR_TAKES with gap_s of silence between: 16 kHz float32 samples
    and each take's (start s, end s, emotion code)."""
    parts, spans, t = [], [], 0.0
    for emotion in ACTOR_TAKES:
        for path in sorted(RAVDESS.glob(f"03-01-{emotion}-*-{actor:02d}.wav")):
            x = decode_file(path).samples
            parts += [x, np.zeros(int(gap_s * ANALYSIS_RATE), np.float32)]
            spans.append((t, t + len(x) / ANALYSIS_RATE, emotion))
            t += len(x) / ANALYSIS_RATE + gap_s
    return np.concatenate(parts), spans


def actors() -> dict:
    """How many speakers the pipeline finds in each RAVDESS actor's joined takes (the truth is one)."""
    diarizer = diarize.load()
    found = {}
    for actor in sorted({int(p.stem.split("-")[-1]) for p in RAVDESS.glob("03-01-*.wav")}):
        samples, spans = actor_recording(actor)
        annotation = diarize.diarize(samples, ANALYSIS_RATE, diarizer, diarize.SpeakerLimits()).annotation
        takes = {}
        for start, end, emotion in spans:
            crop = annotation.crop(Segment(start, end))
            takes.setdefault(emotion, []).append(crop.argmax() if crop else None)
        found[f"{actor:02d}"] = {"speakers": len(annotation.labels()), "duration_s": round(len(samples) / ANALYSIS_RATE, 1),
                                 "takes": takes}
        print(actor, found[f"{actor:02d}"], file=sys.stderr, flush=True)
    one = sum(v["speakers"] == 1 for v in found.values())
    return {"actors": len(found), "one_speaker": one, "share_one_speaker": round(one / len(found), 3),
            "takes": "neutral 01, calm 02, fearful 06, angry 05 (two statements)", "per_actor": found}


def normalise(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def speaker_attributed_wer() -> dict:
    """cpWER on the sample: faster-whisper base words, each given its diarized speaker, scored per
    speaker against the STM under the best speaker mapping (plain WER beside it)."""
    import jiwer
    from faster_whisper import WhisperModel

    from evidence_audio import models
    from evidence_audio.speakers.attribution import attribute_words

    audio = decode_file(SAMPLE / "sample.wav")
    whisper = WhisperModel(models.require("whisper-base").path, device="cpu", compute_type="int8", cpu_threads=1)
    pieces, _ = whisper.transcribe(audio.samples, language="en", beam_size=5, temperature=0.0, word_timestamps=True,
                                   condition_on_previous_text=False, vad_filter=True)
    transcript = {"segments": [
        {"id": i, "start": p.start, "end": p.end, "text": p.text,
         "words": [{"start": w.start, "end": w.end, "text": w.word, "probability": w.probability} for w in p.words]}
        for i, p in enumerate(pieces)]}
    speakers = diarize.speakers_stage(audio.samples, audio.sample_rate, diarize.SpeakerOptions())[0]
    words = [w for seg in attribute_words(transcript, speakers)["segments"] for w in seg["words"]]

    reference: dict[str, list[str]] = {}
    for line in (SAMPLE / "sample.stm").read_text().splitlines():
        _, _, who, _, _, *text = line.split()
        reference.setdefault(who, []).extend(normalise(" ".join(text)))
    hypothesis: dict[str, list[str]] = {}
    for w in words:
        hypothesis.setdefault(w["speaker"], []).extend(normalise(w["text"]))

    ref_names, hyp_names = sorted(reference), sorted(hypothesis)
    hyp_names += [None] * max(0, len(ref_names) - len(hyp_names))
    total = sum(len(v) for v in reference.values())
    best = None
    for mapping in itertools.permutations(hyp_names, len(ref_names)):
        errors = 0
        for ref, hyp in zip(ref_names, mapping):
            out = jiwer.process_words(" ".join(reference[ref]), " ".join(hypothesis.get(hyp, [])) or "<empty>")
            errors += out.substitutions + out.deletions + out.insertions
        unmapped = set(hypothesis) - set(mapping)
        errors += sum(len(hypothesis[h]) for h in unmapped)
        if best is None or errors < best[0]:
            best = (errors, dict(zip(ref_names, mapping)))
    plain = jiwer.wer(" ".join(normalise((SAMPLE / "sample.txt").read_text())),
                      " ".join(normalise(" ".join(w["text"] for w in words))))
    return {"asr": "faster-whisper whisper-base int8, beam 5, word timestamps, Silero VAD filter", "cpwer": round(best[0] / total, 4),
            "speaker_mapping": best[1], "plain_wer": round(plain, 4), "reference_words": total}


def clustering_memory(num_embeddings: int, bounded: bool) -> dict:
    """Peak RSS of clustering N (chunk, speaker) embeddings: a 4-hour file gives up to 3 x 14,391.

    Memory does not depend on the embedding values, so these are random; run each case in its own
    process so the peaks do not mix.
    """
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering

    from evidence_audio.speakers.clustering import BoundedAgglomerativeClustering
    from evidence_audio.speakers.campplus import EMBEDDING_SIZE

    clustering = BoundedAgglomerativeClustering() if bounded else AgglomerativeClustering(metric="cosine")
    clustering.instantiate(diarize.CLUSTERING)
    embeddings = np.random.default_rng(0).normal(size=(num_embeddings, EMBEDDING_SIZE))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    begin = time.perf_counter()
    clusters = clustering.cluster(embeddings, 1, 20)
    return {"embeddings": num_embeddings, "bounded": bounded, "elapsed_s": round(time.perf_counter() - begin, 1),
            "clusters": int(len(set(clusters))), "peak_rss_mib_before": round(rss_before, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def record(report: dict) -> None:
    """Write the DER figures into the package's error-rate table (quoted in every report)."""
    from _common import record_measure
    from evidence_audio.error_rates import Measure

    threshold = report["parameters"]["clustering"]["threshold"]
    conditions = (f"pyannote.audio SpeakerDiarization: segmentation-3.0 + CAM++ embeddings (trunk run once per 20 s block), pyannote "
                  f"speaker-diarization-3.1 hyper-parameters (clustering threshold {threshold:.4f}, not tuned here); "
                  f"overlapping speech scored; torch on {report['threads']} CPU thread"
                  + ("s" if report["threads"] > 1 else ""))
    metrics = ["DER", "DER, 0.25 s collar"]

    def values(scored: dict) -> dict:
        return {"DER": scored["collar_0.0"]["pooled_der"], "DER, 0.25 s collar": scored["collar_0.25"]["pooled_der"]}

    command = ".venv/bin/python benchmarks/diarization.py --record"
    record_measure(Measure(
        id="diarization/der/diar_pyannote_sample", task="speaker diarization", metrics=metrics,
        values=values(report["sample"]), items=1, unit="recordings",
        samples={metric: "1 recording, 0.5 min" for metric in metrics},
        dataset="pyannote-audio sample.wav: 2-speaker telephone-style conversation, 30 s, reference RTTM (MIT)",
        conditions=conditions, benchmark=command,
        notes=f"real-time factor {report['sample']['real_time_factor']} (processing time / audio time)"))
    everything = values(report["debug_all"])
    record_measure(Measure(
        id="diarization/der/diar_pyannote_debug", task="speaker diarization", metrics=metrics,
        values=values(report["debug_dev_only"]), items=len(report["debug_dev_only"]["collar_0.0"]["files"]),
        unit="recordings", samples={metric: f"{len(report['debug_dev_only']['collar_0.0']['files'])} recordings, "
                                            f"{len(report['debug_dev_only']['collar_0.0']['files']) * 0.5:.1f} min"
                                    for metric in metrics},
        dataset="pyannote-audio test recordings: 30 s multi-speaker meeting excerpts with reference RTTM (MIT)",
        conditions=conditions + "; files dev00 and dev01 (trn files were looked at in a threshold sweep)",
        benchmark=command,
        notes=f"on all {len(report['debug_all']['collar_0.0']['files'])} files "
              f"({len(report['debug_all']['collar_0.0']['files']) * 0.5:.1f} min): DER {100 * everything['DER']:.1f} % "
              f"(collar 0), {100 * everything['DER, 0.25 s collar']:.1f} % (0.25 s collar)"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="sweep the clustering threshold on trn00-trn09")
    parser.add_argument("--long", type=float, metavar="MINUTES", help="measure a long concatenated file instead")
    parser.add_argument("--sawer", action="store_true", help="speaker-attributed WER (cpWER) on the sample")
    parser.add_argument("--clustering", type=int, metavar="N", help="peak memory of clustering N embeddings")
    parser.add_argument("--unbounded", action="store_true", help="with --clustering: pyannote's own linkage")
    parser.add_argument("--actors", action="store_true", help="RAVDESS actors: share found as one speaker")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-chunk-embeddings", action="store_true",
                        help="run CAM++ on every 10 s chunk as pyannote does (the method before block embeddings)")
    parser.add_argument("--record", action="store_true", help="write the DER figures into data/error_rates.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.per_chunk_embeddings:
        from pyannote.audio.pipelines import SpeakerDiarization

        diarize.BlockEmbeddingDiarization.get_embeddings = SpeakerDiarization.get_embeddings
    if args.tune:
        out = tune([round(t, 2) for t in np.arange(0.40, 0.96, 0.05)])
    elif args.actors:
        out = actors()
    elif args.clustering:
        out = clustering_memory(args.clustering, bounded=not args.unbounded)
    elif args.sawer:
        out = speaker_attributed_wer()
    elif args.long:
        out = long_file(args.long)
    else:
        out = evaluate()
        if args.record:
            record(out)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
