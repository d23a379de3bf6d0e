"""Redaction: the chosen ranges are silent, bleeped or disguised; every other sample is identical
to the original's; the derivation record ties both files together by hash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evidence_audio.intake import decode_native
from evidence_audio.cli import main
from evidence_audio.intake import take_in
from evidence_audio.redact import BLEEP_HZ, FADE_S, Operation, redact
from evidence_audio.report.canonical import integrity_digest, seal
from evidence_audio.report.record import build_record, evidence_block

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _outside(n: int, rate: int, ranges) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for a, b in ranges:
        mask[int(round(a * rate)):int(round(b * rate))] = False
    return mask


def _inside(x: np.ndarray, rate: int, a: float, b: float) -> np.ndarray:
    """The part of a range past its fades."""
    pad = FADE_S + 0.001
    return x[int((a + pad) * rate):int((b - pad) * rate)]


def _harmonicity(x: np.ndarray, rate: int) -> float:
    """Median over loud 40 ms frames of the best normalised autocorrelation at 2.5-12.5 ms (voice pitch)."""
    size, values = int(0.04 * rate), []
    loud = np.sqrt(np.mean(x ** 2))
    for start in range(0, len(x) - size, size // 2):
        frame = x[start:start + size] - x[start:start + size].mean()
        if np.sqrt(np.mean(frame ** 2)) < loud:
            continue
        ac = np.correlate(frame, frame, "full")[size - 1:]
        values.append(ac[int(0.0025 * rate):int(0.0125 * rate)].max() / ac[0])
    return float(np.median(values))


@pytest.mark.parametrize("name", ["sample.wav", "jfk.flac"])  # 16-bit mono wav; 24-bit stereo 44.1 kHz flac
def test_ranges_are_muted_or_bleeped_and_the_rest_is_bit_identical(tmp_path, name):
    source = EXAMPLES / name
    intake = take_in(source)
    operations = [Operation("bleep", 1.0, 2.0, "range given"), Operation("mute", 3.0, 3.5, "range given")]
    out_name, data, record = redact(intake, operations)
    (tmp_path / out_name).write_bytes(data)
    before, after = decode_native(source), decode_native(tmp_path / out_name)
    rate = before.sample_rate
    assert after.samples.shape == before.samples.shape and after.sample_rate == rate
    keep = _outside(len(before.samples), rate, [(1.0, 2.0), (3.0, 3.5)])
    assert np.array_equal(after.samples[keep], before.samples[keep])
    assert np.all(_inside(after.samples, rate, 3.0, 3.5) == 0.0)
    bleep = _inside(after.samples[:, 0], rate, 1.0, 2.0).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(bleep))
    assert np.fft.rfftfreq(len(bleep), 1 / rate)[np.argmax(spectrum)] == pytest.approx(BLEEP_HZ, abs=2)
    assert record["derivative"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["original"]["sha256"] == intake.file.sha256
    assert record["integrity"]["digest"] == integrity_digest(record)
    assert [(o["mode"], o["start"], o["end"]) for o in record["operations"]] == [("bleep", 1.0, 2.0), ("mute", 3.0, 3.5)]


def test_disguise_removes_the_voice_pitch_and_keeps_the_level(tmp_path):
    intake = take_in(EXAMPLES / "jfk.flac")
    name, data, _ = redact(intake, [Operation("disguise", 0.3, 10.5, "range given")], ".wav")
    (tmp_path / name).write_bytes(data)
    after = decode_native(tmp_path / name).samples[:, 0].astype(np.float64)
    before = decode_native(EXAMPLES / "jfk.flac").samples[:, 0].astype(np.float64)
    rate = 44100
    a, b = int(0.5 * rate), int(10.3 * rate)
    assert _harmonicity(before[a:b], rate) > 0.6
    assert _harmonicity(after[a:b], rate) < 0.45
    assert abs(np.corrcoef(before[a:b], after[a:b])[0, 1]) < 0.1
    level = 20 * np.log10(np.sqrt(np.mean(after[a:b] ** 2)) / np.sqrt(np.mean(before[a:b] ** 2)))
    assert abs(level) < 3


def _report_for(path: Path, analysis: dict) -> dict:
    """A sealed report of the real file whose analysis blocks are given: stands in for a full analyze
    run (ASR and diarization models), which the redaction does not depend on."""
    return seal(build_record(evidence_block(take_in(path)), {}, analysis))


def test_cli_words_and_speaker_from_a_report(tmp_path):
    source = EXAMPLES / "sample.wav"
    report = _report_for(source, {
        "transcript": {"segments": [{"id": 0, "start": 0.5, "end": 3.0, "text": "Hello Anna, come here.", "words": [
            {"start": 0.5, "end": 0.9, "text": " Hello", "probability": 0.9},
            {"start": 1.0, "end": 1.4, "text": " Anna,", "probability": 0.9},
            {"start": 1.5, "end": 3.0, "text": " come here.", "probability": 0.9}]}]},
        "speakers": {"labels": ["SPEAKER_1", "SPEAKER_2"], "turns": [
            {"start": 4.0, "end": 6.0, "speaker": "SPEAKER_2"}, {"start": 6.0, "end": 8.0, "speaker": "SPEAKER_1"},
            {"start": 9.0, "end": 10.0, "speaker": "SPEAKER_2"}]},
    })
    report_path = tmp_path / "report.json"
    report_path.write_text(json.dumps(report))
    runner = CliRunner()
    result = runner.invoke(main, ["redact", str(source), "--words-from", str(report_path), "--words", "anna",
                                  "--speaker", "SPEAKER_2", "--report", str(report_path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "derivation.json").read_text())
    assert [(o["mode"], o["start"], o["end"], o["reason"]) for o in record["operations"]] == [
        ("bleep", 0.95, 1.45, "word 'anna'"),
        ("disguise", 4.0, 6.0, "speaker SPEAKER_2"), ("disguise", 9.0, 10.0, "speaker SPEAKER_2")]
    before = decode_native(source)
    after = decode_native(tmp_path / "out" / "sample.redacted.wav")
    keep = _outside(len(before.samples), 16000, [(0.95, 1.45), (4.0, 6.0), (9.0, 10.0)])
    assert np.array_equal(after.samples[keep], before.samples[keep])
    assert not np.array_equal(after.samples[~keep], before.samples[~keep])

    altered = dict(report, analysis={**report["analysis"], "speakers": {"labels": [], "turns": []}})
    report_path.write_text(json.dumps(altered))
    refused = runner.invoke(main, ["redact", str(source), "--speaker", "SPEAKER_2", "--report", str(report_path)])
    assert refused.exit_code == 5 and "integrity" in refused.output
    report_path.write_text(json.dumps(_report_for(EXAMPLES / "jfk.flac", {})))
    other = runner.invoke(main, ["redact", str(source), "--speaker", "SPEAKER_2", "--report", str(report_path)])
    assert other.exit_code == 5 and "another file" in other.output


def test_cli_lossy_output_and_input_errors(tmp_path):
    source = EXAMPLES / "jfk.flac"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    runner = CliRunner()
    result = runner.invoke(main, ["redact", str(source), "--ranges", "2-4", "--format", "mp3", "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "m" / "derivation.json").read_text())
    assert record["derivative"]["format"] == "mp3" and "before encoding" in record["unchanged_outside_operations"]
    assert hashlib.sha256((tmp_path / "m" / "jfk.redacted.mp3").read_bytes()).hexdigest() == record["derivative"]["sha256"]
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    assert runner.invoke(main, ["redact", str(source), "--ranges", "4-2"]).exit_code == 2
    assert runner.invoke(main, ["redact", str(source), "--ranges", "20-30", "-o", str(tmp_path / "x")]).exit_code == 2
    assert runner.invoke(main, ["redact", str(source), "-o", str(tmp_path / "y")]).exit_code == 2
