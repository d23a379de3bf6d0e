"""compare: a clip cut from a recording, re-encoded, resampled, re-levelled or assembled from
pieces is placed in its original; an unrelated recording is not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soxr
from click.testing import CliRunner

from evidence_audio.cli import main
from evidence_audio.compare import compare
from evidence_audio.encode import encode
from evidence_audio.intake import decode_native, take_in
from evidence_audio.report.canonical import integrity_digest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ORIGINAL = EXAMPLES / "sample.wav"  # 30 s, 16 kHz mono, two speakers
RATE = 16000
TOLERANCE_S = 0.05


@pytest.fixture(scope="module")
def original_samples() -> np.ndarray:
    return decode_native(ORIGINAL).samples[:, 0]


@pytest.fixture(scope="module")
def original_intake():
    return take_in(ORIGINAL)


def _write(tmp_path: Path, name: str, samples: np.ndarray, rate: int, bit_rate: int | None = None) -> Path:
    path = tmp_path / name
    path.write_bytes(encode(samples, rate, path.suffix, bit_rate))
    return path


@pytest.mark.parametrize("suffix, rate, channels, gain, bit_rate", [
    (".mp3", 44100, 2, 0.5, 64000),   # resampled, stereo, -6 dB
    (".m4a", 16000, 1, 1.8, 48000),   # +5 dB
    (".opus", 48000, 1, 1.0, 16000),  # low-bitrate opus
])
def test_reencoded_clip_is_placed_within_50_ms(tmp_path, original_samples, original_intake, suffix, rate,
                                                channels, gain, bit_rate):
    start, end = 7.3, 19.1
    clip = soxr.resample(original_samples[int(start * RATE):int(end * RATE)] * gain, RATE, rate)
    clip = np.repeat(clip[:, None], channels, axis=1)
    result = compare(original_intake, take_in(_write(tmp_path, f"clip{suffix}", clip, rate, bit_rate)))
    assert result["found"]
    assert abs(result["offset_s"] - start) <= TOLERANCE_S
    assert len(result["pieces"]) == 1 and result["cut_points"] == []
    assert result["coverage"] >= 0.95 and result["similarity"] >= 0.9
    assert abs(result["pieces"][0]["gain_db"] - 20 * np.log10(gain)) < 1.5
    assert any("codec" in d for d in result["differences"])


def test_clip_assembled_from_three_pieces(tmp_path, original_samples, original_intake):
    parts = [(2.5, 6.3), (12.2, 18.7), (21.0, 24.0)]
    clip = np.concatenate([original_samples[int(a * RATE):int(b * RATE)] for a, b in parts])
    result = compare(original_intake, take_in(_write(tmp_path, "assembled.m4a", clip, RATE, 64000)))
    pieces = result["pieces"]
    assert len(pieces) == 3
    clip_starts = np.cumsum([0.0] + [b - a for a, b in parts])[:-1]
    for piece, (a, b), clip_start in zip(pieces, parts, clip_starts):
        assert abs(piece["original_start"] - a) <= TOLERANCE_S
        assert abs(piece["clip_start"] - clip_start) <= TOLERANCE_S
        assert abs(piece["offset_s"] - (a - clip_start)) <= TOLERANCE_S
    assert np.allclose(result["cut_points"], clip_starts[1:], atol=TOLERANCE_S)
    omitted = [(o["start"], o["end"]) for o in result["omitted_from_original"]]
    assert np.allclose(omitted, [(6.3, 12.2), (18.7, 21.0)], atol=TOLERANCE_S)


def test_material_not_in_the_original_is_reported(tmp_path, original_samples, original_intake):
    other = decode_native(EXAMPLES / "jfk.flac").samples.mean(axis=1)
    other = soxr.resample(other, 44100, RATE)[: 3 * RATE]
    clip = np.concatenate([original_samples[10 * RATE:16 * RATE], other, original_samples[16 * RATE:20 * RATE]])
    result = compare(original_intake, take_in(_write(tmp_path, "inserted.wav", clip, RATE)))
    assert len(result["not_found"]) == 1
    gap = result["not_found"][0]
    assert abs(gap["start"] - 6.0) <= 0.3 and abs(gap["end"] - 9.0) <= 0.3
    assert [round(p["offset_s"], 1) for p in result["pieces"]] == [10.0, 7.0]


def test_unrelated_recording_is_not_found(original_intake):
    result = compare(original_intake, take_in(EXAMPLES / "jfk.flac"))
    assert not result["found"] and result["pieces"] == [] and result["offset_s"] is None


def test_cli_writes_sealed_repeatable_output_and_leaves_inputs_alone(tmp_path, original_samples):
    clip = _write(tmp_path, "clip.mp3", original_samples[5 * RATE:15 * RATE], RATE, 64000)
    before = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (ORIGINAL, clip)]
    runner = CliRunner()
    first = runner.invoke(main, ["compare", str(ORIGINAL), str(clip), "-o", str(tmp_path / "a"), "--json"])
    assert first.exit_code == 0, first.output
    record = json.loads((tmp_path / "a" / "compare.json").read_text())
    assert record["integrity"]["digest"] == integrity_digest(record)
    assert abs(record["comparison"]["offset_s"] - 5.0) <= TOLERANCE_S
    assert (tmp_path / "a" / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    second = runner.invoke(main, ["compare", str(ORIGINAL), str(clip), "-o", str(tmp_path / "b")])
    assert second.exit_code == 0 and "offset 5.0" in second.output
    assert (tmp_path / "a" / "compare.json").read_bytes() == (tmp_path / "b" / "compare.json").read_bytes()
    again = runner.invoke(main, ["compare", str(ORIGINAL), str(clip), "-o", str(tmp_path / "a")])
    assert again.exit_code == 7
    assert [hashlib.sha256(p.read_bytes()).hexdigest() for p in (ORIGINAL, clip)] == before


def test_cli_one_line_error_for_a_missing_clip(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(ORIGINAL), str(tmp_path / "missing.mp3")])
    assert result.exit_code == 3 and "Traceback" not in result.output


def test_cli_clip_not_found_has_its_own_exit_code(tmp_path):
    result = CliRunner().invoke(main, ["compare", str(ORIGINAL), str(EXAMPLES / "jfk.flac"), "-o", str(tmp_path / "c")])
    assert result.exit_code == 8, result.output
    assert "the clip was not found in the original" in result.output
    record = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert record["comparison"]["found"] is False and record["integrity"]["digest"] == integrity_digest(record)
