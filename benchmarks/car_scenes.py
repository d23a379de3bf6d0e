"""Police-car-like scenes, seeded, from ../shared/eval only, scored through the whole `analyze`.

    nice -n 10 .venv/bin/python benchmarks/car_scenes.py [--count 12] [--seed 20261201] [--tag NAME]

Each scene (about 50-70 s, 16 kHz) has 2-4 talkers taking turns, each talker a distinct person:
a NOIZEUS talker (clean/sp01-sp15, five IEEE sentences per talker: sp01-05, sp06-10, sp11-15), a RAVDESS
actor (ravdess_subset: the neutral, calm and fearful takes; the actor's strong angry takes are his or her
shouts) or a single-talker ASR clip (asr_en_misc: jfk, leopard_en_test). Every talker's utterances
are said in turns of one or two utterances, and said again (in the same order) until the scene holds
at least 32 s of speech, 0.2-1.2 s apart (some turns start 0.3 s before the
previous one ends). Distress events: one shout (an angry take) per RAVDESS talker, spoken in
place of a turn; one scream (events_scream_shout, label scream) and one cry (events_cry_donateacry),
each put over speech or into a gap at random, at -3..+6 dB against the speech level. Car-interior noise
(noise_recordings/spear volvoR1_16, mvolvoR1_16: NOISEX-92 Volvo 340 at 120 km/h) is added at 0, 5,
10 or 20 dB speech-to-noise ratio (the same number of scenes each; the speech level is that of the
utterances, shouts left out); half the scenes are reverberated
with a room impulse response (noise_recordings/speechbrain_rir) before the noise is added; each talker
has a gain of -4..+4 dB and the whole scene a gain of -12..0 dB.

References: RTTM (one turn per utterance or shout, trimmed to its sound within 30 dB of its peak;
screams and cries are not speech turns), events (class, start, end) and transcript (the utterances'
and shouts' texts in time order; screams and cries have none).

Scoring, all on the sealed record of `evidence_audio.pipeline.analyze_with_audio` with default settings
(authenticity off; it is not scored):
- WER: jiwer, pooled over scenes, on both texts normalised as benchmarks/asr.py does (Whisper's
  English normaliser);
- DER: pyannote.metrics, collar 0.25 s, overlapping speech scored, over the whole scene;
- events: a detected sound event matches an unmatched reference of the same class when their
  intervals overlap after widening the reference by 0.5 s on each side (scenes.match); each
  reference is matched at most once; precision, recall and F1 per class and pooled.

Held-out status: the car noise is never trained on (distress_data.CAR_LABELS); NOIZEUS and the ASR
clips are no event training data; screams, cries and RAVDESS angry/neutral/calm takes *are* the
clips the installed classifier was trained on (distress_training.py uses every trainable clip), so
the event figures are for known sounds in a new background, not for new sounds.
Scene audio and analyses are cached under /tmp/car_scenes (never in the repository).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr import normalise  # noqa: E402
from distress_augment import reverberate  # noqa: E402
from distress_data import EVAL, read_audio, rms  # noqa: E402
from scenes import _active, match  # noqa: E402

SR = 16000
SEED = 20261201
SNRS_DB = (0.0, 5.0, 10.0, 20.0)
CAR_NOISE = ("spear/volvoR1_16.wav", "spear/mvolvoR1_16.wav")
RIRS = ("rir1.wav", "rir2.wav", "rir3.wav", "rir4.wav")
CACHE = Path("/tmp/car_scenes")
COLLAR_S = 0.25
EVENT_COLLAR_S = 0.5
CLASSES = ("scream", "shout", "cry")
SPEECH_S = 32.0


@dataclass
class Utterance:
    path: Path
    text: str
    shout: bool = False
    label: str = ""  # the clip's event_label where the data gives one (ravdess_subset)


@dataclass
class Talker:
    name: str
    utterances: list[Utterance]
    shouts: list[Utterance] = field(default_factory=list)


@dataclass
class Scene:
    name: str
    snr_db: float
    rir: str | None
    samples: np.ndarray
    turns: list[tuple[float, float, str]]  # reference speech turns (start, end, talker)
    events: list[tuple[str, float, float, str]]  # (class, start, end, source)
    text: str
    # RAVDESS fearful takes (start, end): said as ordinary turns, but labelled distress by the data
    # (fearful_acted, is_distress 1) in no class the detector has; see score()
    fearful: list[tuple[float, float]] = field(default_factory=list)


def talkers() -> list[Talker]:
    """Every distinct talker of the shared clips that has transcribed speech."""
    found = []
    noizeus = EVAL / "noisy_speech_noizeus"
    rows = {r["file"]: r["transcript"] for r in csv.DictReader(open(noizeus / "transcripts.tsv"), delimiter="\t")}
    for t in range(3):  # sp01-sp15 are present: three talkers
        files = [f"clean/sp{i:02d}.wav" for i in range(5 * t + 1, 5 * t + 6)]
        found.append(Talker(f"noizeus{t + 1}", [Utterance(noizeus / f, rows[f]) for f in files]))
    ravdess = EVAL / "ravdess_subset"
    by_actor: dict[str, Talker] = {}
    for r in csv.DictReader(open(ravdess / "labels.csv")):
        talker = by_actor.setdefault(r["actor"], Talker(f"ravdess{int(r['actor']):02d}", []))
        take = Utterance(ravdess / r["file"], r["transcript"], shout=r["event_label"] == "shouting_angry_acted",
                         label=r["event_label"])
        if take.shout:
            talker.shouts.append(take)
        elif r["event_label"] in ("normal_speech", "fearful_acted"):
            talker.utterances.append(take)
    found += [by_actor[a] for a in sorted(by_actor, key=int)]
    misc = EVAL / "asr_en_misc"
    for stem in ("jfk_16k", "leopard_en_test"):
        found.append(Talker(stem.split("_")[0], [Utterance(misc / f"{stem}.wav", (misc / f"{stem}.txt").read_text().strip())]))
    return found


def _pool(folder: str, label: str | None) -> list[Path]:
    root = EVAL / folder
    return [root / r["file"] for r in csv.DictReader(open(root / "labels.csv")) if label is None or r["label"] == label]


_AUDIO: dict[Path, np.ndarray] = {}


def _audio(path: Path) -> np.ndarray:
    if path not in _AUDIO:
        _AUDIO[path] = _active(read_audio(path)).astype(np.float32)
    return _AUDIO[path]


def build(index: int, seed: int = SEED) -> Scene:
    """Scene `index` of the seeded series: the same index and seed give the same samples."""
    rng = np.random.default_rng([seed, index])
    everyone = talkers()
    ravdess = [t for t in everyone if t.shouts]
    others = [t for t in everyone if not t.shouts]
    count = int(rng.integers(2, 5))
    chosen = [ravdess[i] for i in rng.choice(len(ravdess), 1 + int(rng.integers(0, 2)), replace=False)]
    chosen += [others[i] for i in rng.choice(len(others), count - len(chosen), replace=False)]
    gain = {t.name: 10 ** (rng.uniform(-4, 4) / 20) for t in chosen}
    level = {t.name: 0.05 / np.mean([rms(_audio(u.path)) for u in t.utterances]) for t in chosen}
    said = sum(len(_audio(u.path)) for t in chosen for u in t.utterances) / SR
    rounds = int(np.ceil(SPEECH_S / said))  # the talkers say their sentences again until SPEECH_S is reached
    queues = {t.name: list(t.utterances) * rounds for t in chosen}
    for t in (t for t in chosen if t.shouts):  # the shout replaces one of the actor's turns, somewhere in the middle
        shout = t.shouts[int(rng.integers(len(t.shouts)))]
        queues[t.name].insert(int(rng.integers(1, len(queues[t.name]) + 1)), shout)
    placed = []  # (start sample, samples, talker, utterance)
    cursor, last = int(0.5 * SR), None
    while any(queues.values()):
        names = [n for n in queues if queues[n] and n != last] or [n for n in queues if queues[n]]
        name = names[int(rng.integers(len(names)))]
        for _ in range(min(len(queues[name]), int(rng.integers(1, 3)))):
            utt = queues[name].pop(0)
            x = _audio(utt.path) * level[name] * gain[name]
            gap = rng.uniform(-0.3, 0.0) if rng.random() < 0.15 and placed and placed[-1][2] != name else rng.uniform(0.2, 1.2)
            start = max(int(0.5 * SR), cursor + int(gap * SR))
            placed.append((start, x, name, utt))
            cursor = start + len(x)
            if utt.shout:
                break
        last = name
    length = cursor + int(1.0 * SR)
    speech = np.zeros(length, np.float64)
    for start, x, _, _ in placed:
        speech[start : start + len(x)] += x
    # the speech level (for the noise, screams and cries) is that of ordinary speech, shouts left out
    speech_rms = rms(np.concatenate([speech[s : s + len(x)] for s, x, _, u in placed if not u.shout]))
    dry = speech.copy()
    events = [("shout", s / SR, (s + len(x)) / SR, str(u.path.relative_to(EVAL))) for s, x, _, u in placed if u.shout]
    turn_spans = [(s, s + len(x)) for s, x, _, _ in placed]
    for label, pool in (("scream", _pool("events_scream_shout", "scream")), ("cry", _pool("events_cry_donateacry", None))):
        path = pool[int(rng.integers(len(pool)))]
        x = _audio(path)[: int(4.0 * SR)]
        x = x / rms(x) * speech_rms * 10 ** (rng.uniform(-3, 6) / 20)
        if rng.random() < 0.5:  # over a turn
            s0, s1 = turn_spans[int(rng.integers(len(turn_spans)))]
            start = int(rng.integers(s0, max(s0 + 1, s1 - len(x) // 2)))
        else:  # into a gap: a new pause between two turns
            k = int(rng.integers(1, len(turn_spans)))
            start = turn_spans[k][0]
            pause = len(x) + int(0.5 * SR)
            shifted = np.zeros(len(dry) + pause)
            shifted[:start], shifted[start + pause :] = dry[:start], dry[start:]
            dry = shifted
            events = [(c, a + pause / SR if a * SR >= start else a, b + pause / SR if a * SR >= start else b, p) for c, a, b, p in events]
            placed = [(s + pause if s >= start else s, x_, n, u) for s, x_, n, u in placed]
            turn_spans = [(a + pause, b + pause) if a >= start else (a, b) for a, b in turn_spans]
            start += int(0.25 * SR)
        end = min(len(dry), start + len(x))
        dry[start:end] += x[: end - start]
        events.append((label, start / SR, end / SR, str(path.relative_to(EVAL))))
    rir = None
    if rng.random() < 0.5:
        rir = RIRS[int(rng.integers(len(RIRS)))]
        # from the direct path on: the references keep their times
        dry = reverberate(dry, f"speechbrain_rir/{rir}").astype(np.float64)
    snr = SNRS_DB[index % len(SNRS_DB)]
    car = read_audio(EVAL / "noise_recordings" / CAR_NOISE[int(rng.integers(len(CAR_NOISE)))]).astype(np.float64)
    car = np.tile(car, len(dry) // len(car) + 2)
    offset = int(rng.integers(len(car) - len(dry)))
    car = car[offset : offset + len(dry)]
    mix = dry + car / rms(car) * speech_rms * 10 ** (-snr / 20)
    mix *= 10 ** (rng.uniform(-12, 0) / 20)
    peak = np.abs(mix).max()
    if peak > 0.99:
        mix *= 0.99 / peak
    turns = [(s / SR, (s + len(x)) / SR, name) for s, x, name, _ in placed]
    text = " ".join(u.text for _, _, _, u in sorted(placed, key=lambda p: p[0]))
    fearful = [(s / SR, (s + len(x)) / SR) for s, x, _, u in placed if u.label == "fearful_acted"]
    return Scene(f"car{index:03d}", snr, rir, mix.astype(np.float32), turns, sorted(events, key=lambda e: e[1]), text,
                 fearful)


def scene_file(scene: Scene, seed: int) -> Path:
    """The scene as a 16 kHz float WAV under CACHE (written once, atomically)."""
    import soundfile

    path = CACHE / f"seed{seed}" / f"{scene.name}.wav"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.wav")
        soundfile.write(tmp, scene.samples, SR, subtype="FLOAT")
        tmp.replace(path)
    return path


def analyse(path: Path, tag: str, models: dict, speakers_again: str | None = None) -> dict:
    """The sealed record of `analyze` on a scene, cached under CACHE/<tag>/.

    speakers_again: the tag of earlier analyses whose transcript and events are kept, the speakers
    stage (and word attribution) run again with the current code: the same record as a whole analysis
    when only diarization changed, in a third of the time.
    """
    from evidence_audio.pipeline import Settings, analyze_with_audio

    out = path.parent / tag / f"{path.stem}.json"
    if out.exists():
        return json.loads(out.read_text())
    if speakers_again:
        from evidence_audio.intake import decode_file
        from evidence_audio.speakers.attribution import attribute_words
        from evidence_audio.speakers.diarize import SpeakerOptions, speakers_stage

        record = json.loads((path.parent / speakers_again / f"{path.stem}.json").read_text())
        audio, options, analysis = decode_file(path), SpeakerOptions(), record["analysis"]
        if ("diarizer", None) not in models:  # the key analyze_with_audio keeps it under
            models[("diarizer", None)] = options.load()
        analysis["speakers"], _ = speakers_stage(audio.samples, audio.sample_rate, options,
                                                 loaded=models[("diarizer", None)])
        analysis["transcript"] = attribute_words(analysis["transcript"], analysis["speakers"])
    else:
        record = analyze_with_audio(path, Settings(authenticity=False), models=models)[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record))
    return record


def score(pairs: list[tuple[Scene, dict]]) -> dict:
    """WER, DER and event P/R/F1 of scenes with their records (pooled).

    Events are scored twice: strictly (every detection matching no reference of its class is false),
    and with the RAVDESS fearful takes unscored (``events_fearful_unscored``): a detection matching
    no reference but overlapping a fearful take (widened by the event collar) counts neither way.
    The data labels those takes distress (fearful_acted, is_distress 1), of no class the detector
    has, while the scenes say them as ordinary turns; ``on_fearful`` counts such detections.
    """
    import jiwer
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=COLLAR_S, skip_overlap=False)
    refs, hyps = [], []
    counts = {c: [0, 0, 0] for c in CLASSES}
    on_fearful = {c: 0 for c in CLASSES}
    for scene, record in pairs:
        analysis = record["analysis"]
        refs.append(normalise(scene.text, "en"))
        hyps.append(normalise(" ".join(s["text"] for s in analysis["transcript"]["segments"]), "en"))
        reference, hypothesis = Annotation(uri=scene.name), Annotation(uri=scene.name)
        for i, (a, b, who) in enumerate(scene.turns):
            reference[Segment(a, b), i] = who
        for i, t in enumerate(analysis["speakers"]["turns"]):
            hypothesis[Segment(t["start"], t["end"]), i] = t["speaker"]
        metric(reference, hypothesis, uem=Timeline([Segment(0, len(scene.samples) / SR)]))
        for c in CLASSES:
            # scenes.match reads .label, .start, .end (and a detection's .score)
            r = [SimpleNamespace(label=e[0], start=e[1], end=e[2]) for e in scene.events if e[0] == c]
            d = [SimpleNamespace(label=e["class"], start=e["start"], end=e["end"], score=e["score"])
                 for e in analysis["events"]["sound_events"] if e["class"] == c]
            tp, fp, fn, matched = match(r, d, EVENT_COLLAR_S)
            counts[c] = [counts[c][0] + tp, counts[c][1] + fp, counts[c][2] + fn]
            false = [x for x in d if all(x is not det for _, det in matched)]
            on_fearful[c] += sum(any(x.start < b + EVENT_COLLAR_S and x.end > a - EVENT_COLLAR_S
                                     for a, b in scene.fearful) for x in false)
    counts["all"] = [sum(counts[c][k] for c in CLASSES) for k in range(3)]
    on_fearful["all"] = sum(on_fearful.values())

    def rates(tp: int, fp: int, fn: int) -> dict:
        p, r = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 3), "recall": round(r, 3),
                "f1": round(2 * p * r / max(p + r, 1e-9), 3)}

    events = {c: rates(tp, fp, fn) for c, (tp, fp, fn) in counts.items()}
    unscored = {c: {**rates(tp, fp - on_fearful[c], fn), "on_fearful": on_fearful[c]}
                for c, (tp, fp, fn) in counts.items()}
    return {"scenes": len(pairs), "audio_s": round(sum(len(s.samples) for s, _ in pairs) / SR, 1),
            "wer": round(jiwer.wer(refs, hyps), 3), "der": round(abs(metric), 3), "events": events,
            "events_fearful_unscored": unscored}


def table(results: dict[str, dict]) -> str:
    """A Markdown table: one row per group."""
    head = ("| scenes | audio s | WER | DER (collar 0.25 s) | event F1 | scream P/R | shout P/R | cry P/R "
            "| event F1, fearful takes unscored |")
    rows = [head, "|---" * 9 + "|"]
    for name, r in results.items():
        e = r["events"]
        pr = " | ".join(f"{e[c]['precision']:.2f} / {e[c]['recall']:.2f}" for c in CLASSES)
        rows.append(f"| {name}: {r['scenes']} | {r['audio_s']:.0f} | {r['wer']:.3f} | {r['der']:.3f} | "
                    f"{e['all']['f1']:.3f} | {pr} | {r['events_fearful_unscored']['all']['f1']:.3f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--tag", default="default", help="cache folder of the analyses (one per code version)")
    parser.add_argument("--list", action="store_true", help="describe the scenes and stop")
    parser.add_argument("--record", action="store_true", help="write the figures into data/error_rates.json")
    parser.add_argument("--speakers-again", metavar="TAG", help="keep TAG's transcripts and events, diarize again")
    parser.add_argument("--without-reassignment", action="store_true",
                        help="diarize without the raised-voice re-assignment (diarize.STRAIN), for comparison")
    args = parser.parse_args()
    if args.without_reassignment:
        from evidence_audio.speakers import diarize

        diarize.STRAIN["max_distance"] = -1.0  # no centroid is that close: nothing is re-assigned
    models: dict = {}
    pairs = []
    for i in range(args.count):
        scene = build(i, args.seed)
        talkers_ = sorted({t[2] for t in scene.turns})
        print(f"{scene.name}: {len(scene.samples) / SR:.1f} s, SNR {scene.snr_db:g} dB, rir {scene.rir}, "
              f"talkers {', '.join(talkers_)}; events {', '.join(f'{c}@{a:.1f}' for c, a, _, _ in scene.events)}",
              file=sys.stderr, flush=True)
        if args.list:
            continue
        begin = time.perf_counter()
        analysed = analyse(scene_file(scene, args.seed), args.tag, models, args.speakers_again)
        print(f"  analysed in {time.perf_counter() - begin:.0f} s", file=sys.stderr, flush=True)
        pairs.append((scene, analysed))
    if args.list:
        return
    results = {"all": score(pairs)}
    for snr in SNRS_DB:
        results[f"{snr:g} dB"] = score([p for p in pairs if p[0].snr_db == snr])
    results["0-5 dB"] = score([p for p in pairs if p[0].snr_db <= 5])
    results["10-20 dB"] = score([p for p in pairs if p[0].snr_db >= 10])
    print(table(results))
    print(json.dumps(results, indent=1))
    if args.record:
        record(results, args)


MISSED = "reference distress events missed (no detection of their class)"
FALSE = "detected distress events that were false (matched no reference event of their class)"


def record(results: dict, args) -> None:
    """Write the scenes' figures into the package's error-rate table (quoted in every report)."""
    from _common import record_measure
    from evidence_audio.error_rates import Measure

    r = results["all"]
    e = r["events"]["all"]
    metrics = ["WER", "DER, 0.25 s collar", MISSED, FALSE]
    built = [build(i, args.seed) for i in range(r["scenes"])]
    words = sum(len(normalise(scene.text, "en").split()) for scene in built)
    screams = [path for scene in built for label, _, _, path in scene.events if label == "scream"]
    lab = sum(path.startswith("events_scream_shout/caneuro/") for path in screams)  # never trained on (licence)
    per_snr = "; ".join(f"{k}: WER {100 * v['wer']:.1f} %, DER {100 * v['der']:.1f} %, event F1 {v['events']['all']['f1']:.2f}"
                        for k, v in results.items() if k.endswith(" dB") and "-" not in k)
    minutes = f"{r['scenes']} recordings, {r['audio_s'] / 60:.1f} min"
    record_measure(Measure(
        id="scenes/whole-analysis/car_scenes", task="whole analysis of police-car-like scenes", metrics=metrics,
        values={"WER": r["wer"], "DER, 0.25 s collar": r["der"], MISSED: round(1 - e["recall"], 3),
                FALSE: round(1 - e["precision"], 3)},
        items=r["scenes"], unit="recordings",
        samples={"WER": f"{minutes}, {words} words", "DER, 0.25 s collar": minutes,
                 MISSED: f"{e['tp'] + e['fn']} reference events, {minutes}",
                 FALSE: f"{e['tp'] + e['fp']} detected events, {minutes}"},
        dataset=(f"{r['scenes']} scenes built by benchmarks/car_scenes.py (seed {args.seed}) from the project's "
                 "evaluation recordings: 2-4 talkers per scene (NOIZEUS talkers, RAVDESS actors, the JFK inaugural "
                 "excerpt, one LibriSpeech dev-clean utterance taken from Picovoice Leopard's test audio), RAVDESS "
                 f"angry takes as shouts, {len(screams)} screams ({lab} of them laboratory stimuli, the others "
                 "web-collected) and Donate-a-Cry infant cries over and between speech, NOISEX-92 Volvo car-interior "
                 "noise at 0/5/10/20 dB speech-to-noise ratio, half the scenes reverberated; the shouts, the cries "
                 "and the web-collected screams are clips the shipped distress classifier was trained on, so those "
                 "event figures are for known sounds in a new background"),
        conditions="default analysis settings (Whisper base int8); events matched by class, overlap with 0.5 s collar",
        benchmark=f"nice -n 10 .venv/bin/python benchmarks/car_scenes.py --count {r['scenes']} --seed {args.seed} --record",
        notes=(f"per speech-to-noise ratio: {per_snr}; with the RAVDESS fearful takes (labelled distress by "
               f"the data, of no class detected) unscored: event F1 {r['events_fearful_unscored']['all']['f1']:.2f} "
               f"({r['events_fearful_unscored']['all']['on_fearful']} detections on them); events and speakers "
               "also in docs/scenes.md")))


if __name__ == "__main__":
    main()
