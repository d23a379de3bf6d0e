"""Words in noise: the transcription stage alone on the police-car-like scenes of car_scenes.py,
with the shipped decoding and voice-activity settings and with variants of them.

    nice -n 10 .venv/bin/python benchmarks/scene_words.py --seed 20261201 [--count 12] \
        [--variants shipped,no_fallback,seed1]

Each variant is ``transcribe()`` with one field of ``Decoding`` or ``VadOptions`` replaced (VARIANTS);
everything else as shipped. WER: jiwer, pooled, both texts normalised as benchmarks/asr.py does
(Whisper's English normaliser), per SNR and per scene. The ``seed`` variants change only the seed of
the sampled fallback: how far they move the WER is how much of it is chance.
Choose a setting on one seed and report it on another: never on the scenes you score.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr import normalise  # noqa: E402
from car_scenes import SEED, SNRS_DB, build  # noqa: E402

# name -> (Decoding fields, VadOptions fields) replaced
VARIANTS = {
    "shipped": ({}, {}),
    "seed1": ({"seed": 1}, {}),
    "seed2": ({"seed": 2}, {}),
    "no_fallback": ({"temperatures": (0.0,)}, {}),
    "fallback_to_0.4": ({"temperatures": (0.0, 0.2, 0.4)}, {}),
    "logprob_-1.5": ({"log_prob_threshold": -1.5}, {}),
    "beam_10": ({"beam_size": 10}, {}),
    "vad_0.4": ({}, {"threshold": 0.4}),
    "vad_pad_200": ({}, {"speech_pad_ms": 200}),
}


def main() -> None:
    import jiwer

    from evidence_audio.asr.decoding import DECODING
    from evidence_audio.asr.transcribe import load_models, transcribe
    from evidence_audio.asr.vad import VAD

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--variants", default="shipped,seed1,no_fallback")
    args = parser.parse_args()
    engine, vad_model, used = load_models("faster-whisper", "base")
    scenes = [build(i, args.seed) for i in range(args.count)]
    results = {}
    for name in args.variants.split(","):
        decoding_fields, vad_fields = VARIANTS[name]
        decoding, vad = replace(DECODING, **decoding_fields), replace(VAD, **vad_fields)
        texts = {}
        for scene in scenes:
            transcript = transcribe(engine, used[0].name, vad_model, scene.samples.astype("float32"),
                                    decoding=decoding, vad=vad)
            texts[scene.name] = (normalise(scene.text, "en"),
                                 normalise(" ".join(s.text for s in transcript.segments), "en"))
        groups = {"all": scenes, **{f"{snr:g} dB": [s for s in scenes if s.snr_db == snr] for snr in SNRS_DB}}
        results[name] = {g: round(jiwer.wer([texts[s.name][0] for s in members], [texts[s.name][1] for s in members]), 3)
                         for g, members in groups.items() if members}
        results[name]["scenes"] = {s.name: round(jiwer.wer(*texts[s.name]), 3) for s in scenes}
        print(name, json.dumps(results[name]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
