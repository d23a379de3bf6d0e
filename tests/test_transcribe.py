"""Transcription on the real Whisper base weights, both engines, and the suspect rules.

Slow parts (model loading) are shared per module; the evaluation clips come from
../shared/eval and the tests that need them skip when it is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evidence_audio import models
from evidence_audio.asr.convert import checkpoint_bytes
from evidence_audio.asr.suspect import reasons, repetition_loop
from evidence_audio.asr.transcript import Segment, Word
from evidence_audio.errors import EvidenceError, ModelError
from evidence_audio.intake import decode_file
from evidence_audio.transcribe import load_models, pieces, transcribe

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
JFK = ROOT / "examples" / "jfk.flac"
QUOTE = "ask not what your country can do for you"


def eval_file(relative: str) -> Path:
    path = EVAL / relative
    if not path.is_file():
        pytest.skip(f"evaluation data absent: {path}")
    return path


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


@pytest.fixture(scope="module")
def faster():
    engine, vad, used = load_models("faster-whisper", "base", threads=2)
    return engine, vad, used


@pytest.fixture(scope="module")
def jfk_samples():
    return decode_file(JFK).samples


@pytest.fixture(scope="module")
def jfk_faster(faster, jfk_samples):
    engine, vad, used = faster
    return transcribe(engine, used[0].name, vad, jfk_samples)


def test_jfk_real_words_language_and_word_times(jfk_faster, jfk_samples):
    record = jfk_faster.to_record()
    text = " ".join(s["text"] for s in record["segments"])
    assert QUOTE in " ".join(words_of(text))
    assert record["language"]["code"] == "en" and record["language"]["forced"] is False
    assert record["language"]["probability"] > 0.8
    assert [t["code"] for t in record["language"]["top"]][0] == "en" and len(record["language"]["top"]) == 3
    duration = len(jfk_samples) / 16000
    words = [w for s in record["segments"] for w in s["words"]]
    assert len(words) >= 20
    for previous, word in zip(words, words[1:]):
        assert word["start"] >= previous["start"]
    for word in words:
        assert 0.0 <= word["start"] <= word["end"] <= duration
        assert 0.0 <= word["probability"] <= 1.0
    assert record["speech_regions"] and record["speech_regions"][0]["start"] < 1.0
    assert not any(s["suspect"] for s in record["segments"])


def test_decoding_is_deterministic(faster, jfk_samples, jfk_faster):
    engine, vad, used = faster
    again = transcribe(engine, used[0].name, vad, jfk_samples)
    assert again.to_record() == jfk_faster.to_record()


def test_long_recordings_go_in_pieces_with_the_same_result(faster, jfk_samples):
    """Two JFK takes 5 s apart, transcribed in two pieces (as a long recording is, to bound memory),
    give exactly what one piece gives: the same words at the same times."""
    import numpy as np

    engine, vad, used = faster
    twice = np.concatenate([jfk_samples, np.zeros(5 * 16000, np.float32), jfk_samples])
    whole = transcribe(engine, used[0].name, vad, twice).to_record()
    in_pieces = transcribe(engine, used[0].name, vad, twice, piece_s=12.0).to_record()
    assert len(pieces([(r["start"], r["end"]) for r in whole["speech_regions"]], len(twice) / 16000, 12.0)) == 2
    assert in_pieces == whole
    text = " ".join(words_of(" ".join(s["text"] for s in whole["segments"])))
    assert text.count(QUOTE) == 2


def test_pieces_group_clips_and_cut_only_overlong_ones():
    clips = [(5.0, 20.0), (30.0, 70.0), (75.0, 80.0), (100.0, 250.0)]
    assert pieces(clips, 300.0, limit=600.0) == [(0.0, 300.0, clips)]  # short recordings go whole
    found = pieces(clips, 300.0, limit=60.0)
    assert [(start, end) for start, end, _ in found] == [(4.0, 21.0), (29.0, 81.0), (99.0, 161.0), (159.0, 221.0),
                                                         (219.0, 251.0)]
    assert found[1][2] == [(1.0, 41.0), (46.0, 51.0)]
    assert [(a + start, b + start) for start, _, group in found for a, b in group] == [
        (5.0, 20.0), (30.0, 70.0), (75.0, 80.0), (100.0, 160.0), (160.0, 220.0), (220.0, 250.0)]


def test_openai_engine_on_converted_weights_gives_the_same_words(jfk_samples, jfk_faster):
    engine, vad, used = load_models("openai-whisper", "base", threads=2)
    assert used[0].name == "whisper-base-openai"
    result = transcribe(engine, used[0].name, vad, jfk_samples)
    ours = [w for s in result.segments for w in words_of(s.text)]
    theirs = [w for s in jfk_faster.segments for w in words_of(s.text)]
    assert ours == theirs
    assert result.language.code == "en"
    assert result.segments[0].words and result.segments[0].words[0].text


def test_conversion_is_byte_deterministic_and_matches_the_manifest():
    source = models.require("whisper-tiny.en")
    converted = models.require("whisper-tiny.en-openai")
    import hashlib

    assert hashlib.sha256(checkpoint_bytes(source.path)).hexdigest() == converted.files["tiny.en.pt"]


def test_forced_language_is_recorded(faster):
    engine, vad, used = faster
    samples = decode_file(eval_file("asr_en_misc/pisets_test_sound_en.wav")).samples
    forced = transcribe(engine, used[0].name, vad, samples, language="en")
    assert forced.language.forced and forced.language.code == "en"
    assert words_of(" ".join(s.text for s in forced.segments)) == ["neural", "networks", "are", "good"]
    with pytest.raises(EvidenceError, match="unknown language code"):
        transcribe(engine, used[0].name, vad, samples, language="xx")


def test_russian_is_identified_and_translated_to_english(faster):
    engine, vad, used = faster
    samples = decode_file(eval_file("asr_multilingual/pisets_ru.wav")).samples
    result = transcribe(engine, used[0].name, vad, samples, english=True).to_record()
    assert result["language"]["code"] == "ru"
    segment = result["segments"][0]
    assert "сети" in segment["text"].lower()  # the original text is kept
    english = segment["translation"].lower()
    assert "network" in english and "good" in english
    assert not re.search("[а-я]", english)


def test_noise_without_speech_is_not_transcribed_and_whole_audio_hallucinations_are_suspect(faster):
    engine, vad, used = faster
    samples = decode_file(eval_file("noise_recordings/freesound_cc0/fridge.wav")).samples
    speech_only = transcribe(engine, used[0].name, vad, samples)
    assert speech_only.speech_regions == [] and speech_only.segments == []
    everything = transcribe(engine, used[0].name, vad, samples, speech_only=False)
    assert everything.segments, "Whisper produced nothing on the fridge noise; the suspect rules went untested"
    for segment in everything.to_record()["segments"]:
        assert segment["suspect"] and "outside_speech_regions" in segment["suspect_reasons"]


def test_suspect_rules():
    words = [Word(i * 0.2, i * 0.2 + 0.2, "help", 0.9) for i in range(3)]
    calm = Segment(0.0, 0.6, "help help help", -0.2, 0.05, 1.2, 0.0, words)
    assert reasons(calm, [(0.0, 1.0)]) == []  # a real cry repeated three times is not a loop
    loop = Segment(0.0, 5.0, "thank you " * 6, -1.5, 0.7, 3.1, 1.0,
                   [Word(0, 0, w, 0.5) for w in ("thank you " * 6).split()])
    assert reasons(loop, []) == ["outside_speech_regions", "high_no_speech_probability", "high_compression_ratio",
                                 "low_avg_logprob", "repetition_loop"]
    assert repetition_loop("no no no no no no no no".split(), 4, 8, 4)
    assert not repetition_loop("stop stop stop please stop".split(), 4, 8, 4)


def test_model_choice_errors():
    from evidence_audio.asr.engines import resolve_model

    with pytest.raises(ModelError, match="neither"):
        resolve_model("faster-whisper", "/no/such/model")
    with pytest.raises(ModelError, match="is for openai-whisper"):
        resolve_model("faster-whisper", "whisper-base-openai")
    use = resolve_model("faster-whisper", models.require("whisper-tiny.en").path)
    assert use.name == "user:whisper-tiny.en" and "model.bin" in use.files


def test_cli_analyze_writes_the_transcript(tmp_path):
    from click.testing import CliRunner

    from evidence_audio.cli import main

    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["analyze", str(JFK), "-o", str(out), "--model", "tiny.en", "--no-diarize",
                                       "--no-events", "--no-authenticity", "--formats", "json", "-q"])
    assert result.exit_code == 0, result.output
    import json

    record = json.loads((out / "report.json").read_text(encoding="utf-8"))
    import jsonschema

    schema = json.loads((ROOT / "evidence_audio" / "report" / "schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(record, schema)
    assert sorted(record["analysis"]) == ["transcript"]  # stages switched off are absent, not empty
    assert record["provenance"]["settings"]["authenticity"] is False
    transcript = record["analysis"]["transcript"]
    assert QUOTE in " ".join(words_of(" ".join(s["text"] for s in transcript["segments"])))
    assert transcript["decoding"]["beam_size"] == 5 and transcript["model"] == "whisper-tiny.en"
    assert {m["name"] for m in record["provenance"]["models"]} >= {"whisper-tiny.en", "silero-vad"}
    bad = CliRunner().invoke(main, ["analyze", str(JFK), "-o", str(tmp_path / "x"), "--model", "/no/such", "-q"])
    assert bad.exit_code == 6 and "Traceback" not in bad.output
