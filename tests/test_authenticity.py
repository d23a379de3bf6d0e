"""Authenticity indicators on constructed cases: a splice, inserted digital silence, a synthetic
50 Hz mains hum, and the metadata of a file written by FFmpeg."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soxr
from click.testing import CliRunner

from evidence_audio.authenticity import discontinuity, enf, indicators
from evidence_audio.cli import main
from evidence_audio.encode import encode
from evidence_audio.intake import decode_native, take_in
from evidence_audio.report.canonical import integrity_digest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RATE = 16000


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return decode_native(EXAMPLES / "sample.wav").samples[:, 0]


@pytest.fixture(scope="module")
def other_speech() -> np.ndarray:
    jfk = decode_native(EXAMPLES / "jfk.flac").samples.mean(axis=1)
    return soxr.resample(jfk, 44100, RATE).astype(np.float32)


def _wav(tmp_path: Path, name: str, samples: np.ndarray) -> Path:
    path = tmp_path / name
    path.write_bytes(encode(samples, RATE, ".wav"))
    return path


def _times(block: dict, kinds: set[str] | None = None) -> list[float]:
    return [c["time"] for c in block["candidates"] if kinds is None or c["kind"] in kinds]


def test_splice_point_is_among_the_candidates(tmp_path, speech, other_speech):
    spliced = np.concatenate([other_speech[: 6 * RATE], speech[10 * RATE:20 * RATE]])
    native = decode_native(_wav(tmp_path, "spliced.wav", spliced))
    block = discontinuity.examine(spliced, native.samples, native.sample_rate)
    assert any(abs(t - 6.0) <= 0.1 for t in _times(block)), block["candidates"]
    # the same audio without the splice gives no candidate there
    native = decode_native(_wav(tmp_path, "plain.wav", speech))
    plain = discontinuity.examine(speech, native.samples, native.sample_rate)
    assert not any(abs(t - 16.0) <= 0.1 for t in _times(plain))


def test_inserted_digital_silence_is_found(tmp_path, speech):
    edited = np.concatenate([speech[: 12 * RATE], np.zeros(int(0.4 * RATE), np.float32), speech[12 * RATE:]])
    native = decode_native(_wav(tmp_path, "zeros.wav", edited))
    block = discontinuity.examine(edited, native.samples, native.sample_rate)
    runs = [c for c in block["candidates"] if c["kind"] == "digital_zero_run"]
    assert len(runs) == 1 and runs[0]["time"] == pytest.approx(12.0, abs=0.01)
    assert runs[0]["end"] - runs[0]["time"] == pytest.approx(0.4, abs=0.01)
    original = decode_native(EXAMPLES / "sample.wav")
    assert not discontinuity.digital_zero_runs(original.samples, original.sample_rate)


def test_long_recordings_are_examined_a_block_at_a_time_with_the_same_result(monkeypatch, speech, other_speech):
    """Blocks (a minute by default; here under 2 s, so every edge is crossed) bound memory on long
    recordings and change nothing: same candidates, same mains-hum trace."""
    edited = np.concatenate([other_speech[: 6 * RATE], speech[10 * RATE:20 * RATE]])
    edited[int(3.0 * RATE):int(4.3 * RATE)] = 0.0  # a zero run across block edges
    edited[int(12 * RATE):] += 0.01  # a DC jump
    t = np.arange(len(edited)) / RATE
    edited = (edited + 10 ** (-45 / 20) * np.sin(2 * np.pi * 50.0 * t)).astype(np.float32)
    edited[int(3.0 * RATE):int(4.3 * RATE)] = 0.0
    native = np.stack([edited, 0.5 * edited], axis=1)
    whole = discontinuity.examine(edited, native, RATE), enf.examine(edited, RATE).to_record()
    monkeypatch.setattr(discontinuity, "BLOCK_S", 1.7)
    monkeypatch.setattr(enf, "BLOCK_FRAMES", 3)
    monkeypatch.setattr(enf, "DECIMATE_BLOCK_S", 1)
    in_blocks = discontinuity.examine(edited, native, RATE), enf.examine(edited, RATE).to_record()
    assert in_blocks == whole
    runs = [c for c in whole[0]["candidates"] if c["kind"] == "digital_zero_run"]
    assert [(r["time"], r["end"]) for r in runs] == [(3.0, 4.3)]
    assert whole[1]["detected"] and {c["kind"] for c in whole[0]["candidates"]} >= {"dc_jump", "digital_zero_run"}


@pytest.mark.parametrize("examine", [discontinuity.background_jumps, lambda x: enf.examine(x, RATE)],
                         ids=["background", "mains hum"])
def test_memory_of_the_signal_indicators_hardly_grows_with_length(speech, examine):
    """Ten more minutes of audio (38 MB of signal) may add a few values per frame, never the
    spectrogram: before blockwise traces and jumps, 30 more minutes cost these two 75-90 MB each."""
    import tracemalloc

    def peak_bytes(minutes: int) -> int:
        signal = np.resize(speech, minutes * 60 * RATE)
        tracemalloc.start()
        try:
            examine(signal)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak_bytes(1)  # caches (mel filters, FFT plans) are made once, outside the comparison
    assert peak_bytes(40) - peak_bytes(10) < 30 * 2**20


def test_synthetic_50_hz_hum_is_traced(speech):
    t = np.arange(len(speech)) / RATE
    wander = 50.0 + 0.03 * np.sin(2 * np.pi * t / 10.0)  # the grid drifting by +-30 mHz
    hum = 10 ** (-45 / 20) * np.sin(2 * np.pi * np.cumsum(wander) / RATE)
    result = enf.examine((speech + hum).astype(np.float32), RATE).to_record()
    assert result["detected"] and result["nominal_hz"] == 50
    assert result["strength_db"]["50"] > 20
    times = np.array(result["trace"]["time"])
    trace = np.array(result["trace"]["frequency_hz"])
    truth = 50.0 + 0.03 * np.sin(2 * np.pi * times / 10.0)
    assert np.max(np.abs(trace - truth)) < 0.01
    assert np.corrcoef(trace, truth)[0, 1] > 0.95
    forced = enf.examine((speech + hum).astype(np.float32), RATE, nominal_hz=60).to_record()
    assert not forced["detected"]


def test_no_hum_in_white_noise():
    noise = np.random.default_rng(0).normal(0, 0.05, 20 * RATE).astype(np.float32)
    result = enf.examine(noise, RATE).to_record()
    assert not result["detected"] and result["trace"]["frequency_hz"] == []


def test_metadata_names_the_writing_software_and_every_indicator_states_its_limits(tmp_path, speech):
    block = indicators(take_in(_wav(tmp_path, "speech.wav", speech[: 5 * RATE])))
    software = next(f for f in block["metadata"]["findings"] if f["check"] == "writing software")
    assert software["attention"] and "FFmpeg" in software["note"]  # PyAV's wav muxer writes ISFT=Lavf...
    durations = next(f for f in block["metadata"]["findings"] if f["check"] == "durations")
    assert not durations["attention"]
    for key in ("metadata", "discontinuities", "enf"):
        assert block[key]["can_show"] and block[key]["cannot_show"]


def test_cli_indicators_writes_sealed_json_and_plot(tmp_path):
    result = CliRunner().invoke(main, ["indicators", str(EXAMPLES / "jfk.flac"), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "indicators.json").read_text())
    assert record["integrity"]["digest"] == integrity_digest(record)
    assert record["evidence"]["hashes"]["sha256"]
    assert (tmp_path / "out" / "enf.png").read_bytes()[:4] == b"\x89PNG"
    bad = CliRunner().invoke(main, ["indicators", str(tmp_path)])
    assert bad.exit_code == 3


def test_report_carries_a_valid_repeatable_authenticity_block():
    from evidence_audio.pipeline import Settings, analyze
    from evidence_audio.report.canonical import render
    from evidence_audio.report.verify import schema_errors

    settings = Settings(diarize=False, events=False)  # only the indicators stage runs here
    first, second = (analyze(EXAMPLES / "jfk.flac", settings) for _ in range(2))
    assert schema_errors(first) == []
    block = first["analysis"]["authenticity"]
    assert block["enf"]["detected"] and block["enf"]["nominal_hz"] == 60  # the 1961 recording's US mains hum
    assert block["discontinuities"]["dc_and_zero_runs_from"] == "16 kHz mono analysis signal"
    assert render(first["analysis"]) == render(second["analysis"])
