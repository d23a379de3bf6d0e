"""The CLI end to end: analyze writes a sealed folder, verify proves it, bad input fails cleanly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import EXAMPLES
from evidence_audio.cli import main
from evidence_audio.report.verify import schema_errors
from test_intake import BAD_INPUTS, make_bad_input


def run_cli(*args, cwd=None):
    """Run the installed console entry point as a user would, in a separate process."""
    return subprocess.run(
        [sys.executable, "-m", "evidence_audio.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=900,
    )


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """The JFK example analysed once with the embedded defaults: (recording copy, report folder, stat before)."""
    work = tmp_path_factory.mktemp("case")
    recording = work / "evidence" / "jfk.flac"
    recording.parent.mkdir()
    shutil.copy2(EXAMPLES / "jfk.flac", recording)
    before = os.stat(recording)
    listing = sorted(os.listdir(recording.parent))
    result = run_cli("analyze", recording, "-o", work / "out", "--case", "CASE-17", "--examiner", "A. Examiner", "--quiet")
    assert result.returncode == 0, result.stderr
    return recording, work / "out", before, listing


def test_analyze_never_touches_the_input(analysed):
    recording, _, before, listing = analysed
    after = os.stat(recording)
    assert (after.st_mtime_ns, after.st_ctime_ns, after.st_size, after.st_mode) == (
        before.st_mtime_ns, before.st_ctime_ns, before.st_size, before.st_mode)
    assert after.st_atime_ns == before.st_atime_ns
    assert sorted(os.listdir(recording.parent)) == listing
    assert (EXAMPLES / "jfk.flac").read_bytes() == recording.read_bytes()


def test_report_is_complete_and_conforms_to_schema(analysed):
    recording, out, _, _ = analysed
    record = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert schema_errors(record) == []
    assert record["evidence"]["file_name"] == "jfk.flac"
    assert record["provenance"]["case"] == "CASE-17"
    assert record["provenance"]["examiner"] == "A. Examiner"
    assert record["provenance"]["tool"]["name"] == "evidence-audio"
    threads = record["provenance"]["threads"]
    assert threads["ctranslate2"] == 2 and 1 <= threads["torch"] and threads["logical_cpus"] == os.cpu_count()
    assert threads["diarization"] == 1
    assert threads["stage_threads"] == (2 if os.cpu_count() > 1 else 1)  # the transcription beside the rest
    processor = record["provenance"]["processor"]  # words can differ between processors: named
    from evidence_audio.provenance import KERNEL_ENV
    assert processor["kernel_env"] == {k: os.environ[k] for k in KERNEL_ENV if k in os.environ}
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text(encoding="utf-8", errors="replace") if cpuinfo.exists() else ""
    names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
    if names:  # x86 Linux, as CI runs: checked against the kernel's own list
        assert processor["model"] == names[0] and processor["vendor"] and processor["vendor"] in text
        assert processor["isa"] and set(processor["isa"]) <= set(text.split())
    assert record["evidence"]["audio"]["decoded_duration_s"] == pytest.approx(11.0, abs=0.01)
    for model in record["provenance"]["models"]:
        assert model["files"] and all(len(h) == 64 for h in model["files"].values())
    assert not [p for p in out.parent.iterdir() if ".partial-" in p.name]


def test_verify_passes_for_the_report_and_its_recording(analysed):
    recording, out, _, _ = analysed
    result = run_cli("verify", out, recording)
    assert result.returncode == 0, result.stdout
    assert "FAIL" not in result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("VERIFIED")


def test_verify_fails_for_another_recording(analysed):
    _, out, _, _ = analysed
    result = run_cli("verify", out, EXAMPLES / "sample.wav")
    assert result.returncode == 5
    assert "FAIL  recording sha256" in result.stdout


def test_verify_recognises_a_rewrapped_copy(analysed, tmp_path):
    import soundfile

    recording, out, _, _ = analysed
    data, rate = soundfile.read(recording, dtype="int32", always_2d=True)
    copy = tmp_path / "copy.wav"
    soundfile.write(copy, data, rate, subtype="PCM_32")
    result = run_cli("verify", out, copy)
    assert result.returncode == 5
    assert "PASS  decoded audio: a different file holding the same decoded audio" in result.stdout


def test_changing_any_byte_of_the_report_fails_verification(analysed):
    from evidence_audio.report.verify import check_report

    _, out, _, _ = analysed
    raw = (out / "report.json").read_bytes()
    checks, _ = check_report(raw)
    assert all(c.passed for c in checks)
    for position in range(len(raw)):
        tampered = bytearray(raw)
        tampered[position] = raw[position] ^ 0x01
        checks, _ = check_report(bytes(tampered))
        assert not all(c.passed for c in checks), f"byte {position} changed and verification still passed"


def test_edited_report_is_rejected_by_the_cli(analysed, tmp_path):
    _, out, _, _ = analysed
    edited = tmp_path / "report.json"
    text = (out / "report.json").read_text(encoding="utf-8").replace("CASE-17", "CASE-18")
    edited.write_text(text, encoding="utf-8")
    result = run_cli("verify", edited)
    assert result.returncode == 5
    assert "FAIL  integrity digest" in result.stdout


def test_same_input_and_settings_give_the_same_analysis(analysed, tmp_path):
    recording, out, _, _ = analysed
    again = run_cli("analyze", recording, "-o", tmp_path / "again", "--case", "CASE-17", "--quiet")
    assert again.returncode == 0, again.stderr
    first = json.loads((out / "report.json").read_text(encoding="utf-8"))
    second = json.loads((tmp_path / "again" / "report.json").read_text(encoding="utf-8"))
    assert first["evidence"] == second["evidence"]
    assert first["analysis"] == second["analysis"]
    assert first["provenance"]["settings"] == second["provenance"]["settings"]


def test_existing_output_folder_is_not_overwritten(analysed):
    recording, out, _, _ = analysed
    before = (out / "report.json").read_bytes()
    result = run_cli("analyze", recording, "-o", out, "--quiet")
    assert result.returncode == 7
    assert (out / "report.json").read_bytes() == before


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_gives_one_line_and_leaves_nothing(tmp_path, name):
    path = make_bad_input(tmp_path, name)
    out = tmp_path / "out"
    result = run_cli("analyze", path, "-o", out, cwd=tmp_path)
    assert result.returncode in (3, 4)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("evidence-audio: error: "), result.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial-")]


def test_missing_report_is_a_one_line_error(tmp_path):
    result = run_cli("verify", tmp_path / "nothing.json")
    assert result.returncode == 3
    assert len(result.stderr.strip().splitlines()) == 1


def test_interrupted_write_leaves_no_report(tmp_path, monkeypatch):
    from evidence_audio.report import output

    calls = {"n": 0}
    real_fsync = os.fsync

    def interrupt_after_first_file(fd):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_fsync(fd)

    monkeypatch.setattr(output.os, "fsync", interrupt_after_first_file)
    with pytest.raises(KeyboardInterrupt):
        output.write_folder(tmp_path / "out", {"a.txt": b"a", "b.txt": b"b", "c.txt": b"c"})
    assert list(tmp_path.iterdir()) == []


def test_cli_lists_exit_codes():
    result = CliRunner().invoke(main, ["analyze", "--help"])
    assert result.exit_code == 0
    assert "Exit codes" in result.output


def test_root_launcher_runs_from_a_checkout():
    from conftest import REPO

    result = subprocess.run([sys.executable, str(REPO / "cli.py"), "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "evidence-audio" in result.stdout
