"""The command line behaves as people expect: times as the reports print them, usage errors exit 2,
a closed pipe ends quietly, every sealed record verifies, and the report keeps the examiner's folders private."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import EXAMPLES
from evidence_audio.cli import main
from evidence_audio.errors import UsageError
from evidence_audio.redact import parse_ranges, parse_time
from evidence_audio.report.canonical import render, seal
from evidence_audio.report.verify import schema_errors

JFK = EXAMPLES / "jfk.flac"  # 11.0 s


def test_python_m_evidence_audio_is_the_command():
    shown = subprocess.run([sys.executable, "-m", "evidence_audio", "--version"], capture_output=True, text=True)
    assert shown.returncode == 0 and shown.stdout.startswith("evidence-audio, version ")


@pytest.mark.parametrize("text, seconds", [
    ("45.39", 45.39), ("45", 45.0), ("0:45.4", 45.4), ("00:00:45.390", 45.39), ("1:02:03.5", 3723.5),
    ("12:30", 750.0), (" 0:07 ", 7.0),
])
def test_times_are_read_as_the_reports_print_them(text, seconds):
    assert parse_time(text) == pytest.approx(seconds, abs=1e-9)


def test_ranges_in_every_form_and_refusals():
    assert parse_ranges("1.5-3.2, 0:45-0:50.4,00:00:45.390-00:00:46.000", 60.0) == [
        (1.5, 3.2), (45.0, 50.4), (45.39, 46.0)]
    assert parse_ranges("0:05 - 0:11", 11.0) == [(5.0, 11.0)]
    assert parse_ranges("10.5-11.0005", 11.0) == [(10.5, 11.0005)]  # printed to the millisecond
    for bad, said in [("4-2", "after the start"), ("0:75-0:80", "0 to 59"), ("a-b", "START-END"), ("3", "START-END"),
                      ("1:2:3:4-5", "START-END"), ("10-12", "outside the recording"), ("0:45-0:50", "outside")]:
        with pytest.raises(UsageError, match=said):
            parse_ranges(bad, 11.0)


def test_redact_takes_report_times_and_refuses_bad_requests_as_usage_errors(tmp_path):
    runner = CliRunner()
    done = runner.invoke(main, ["redact", str(JFK), "--ranges", "0:02-0:04.5,00:00:06.250-00:00:07.000",
                                "-o", str(tmp_path / "ok")])
    assert done.exit_code == 0, done.output
    record = json.loads((tmp_path / "ok" / "derivation.json").read_text())
    assert [(o["start"], o["end"]) for o in record["operations"]] == [(2.0, 4.5), (6.25, 7.0)]
    report = tmp_path / "report.json"
    report.write_text(json.dumps(seal({"schema": "evidence-audio/report/v1", "evidence": json.loads(
        runner.invoke(main, ["probe", str(JFK)]).stdout), "provenance": {}, "analysis": {
        "speakers": {"labels": ["SPEAKER_1"], "turns": [{"start": 1.0, "end": 2.0, "speaker": "SPEAKER_1"}]}}})))
    for args, said in [(["--ranges", "0:45-0:50"], "outside the recording"), (["--ranges", "4-2"], "after the start"),
                       (["--ranges", "1:2"], "START-END"), ([], "nothing to redact"),
                       (["--speaker", "SPEAKER_9", "--report", str(report)], "not in the report"),
                       (["--speaker", "SPEAKER_1"], "needs --report"), (["--words", "x"], "go together")]:
        result = runner.invoke(main, ["redact", str(JFK), *args, "-o", str(tmp_path / "no")])
        assert result.exit_code == 2 and said in result.output, (args, result.output)
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("args", [["probe", str(JFK)], ["verify", str(EXAMPLES / "sample.wav")]])
def test_a_closed_output_pipe_ends_quietly(args):
    """As `... | head -c1` does once head has read enough: the reader is gone before the tool writes."""
    process = subprocess.Popen([sys.executable, "-m", "evidence_audio.cli", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=300) == 141 and errors == ""


def test_verify_accepts_every_sealed_record_and_points_from_renderings_to_it(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["indicators", str(JFK), "-o", str(tmp_path / "ind")]).exit_code == 0
    assert runner.invoke(main, ["redact", str(JFK), "--ranges", "1-2", "-o", str(tmp_path / "red")]).exit_code == 0
    assert runner.invoke(main, ["compare", str(JFK), str(JFK), "-o", str(tmp_path / "cmp")]).exit_code == 0
    for target, kind in [("ind", "indicators"), ("ind/indicators.json", "indicators"), ("red", "derivation"),
                         ("red/derivation.json", "derivation"), ("cmp", "compare"), ("cmp/compare.json", "compare")]:
        result = runner.invoke(main, ["verify", str(tmp_path / target), str(JFK)])
        assert result.exit_code == 0, result.output
        assert f"PASS  {kind} schema: conforms to evidence-audio/{kind}/v1" in result.output
    derivative = tmp_path / "red" / "jfk.redacted.flac"
    assert "the derivative it names" in runner.invoke(main, ["verify", str(tmp_path / "red"), str(derivative)]).output
    derivative.write_bytes(derivative.read_bytes()[:-1] + b"\0")
    altered = runner.invoke(main, ["verify", str(tmp_path / "red")])
    assert altered.exit_code == 5 and "FAIL  derivative sha256" in altered.output
    # a sealed record that breaks its own schema fails the schema check, not the digest
    record = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    del record["integrity"]
    record["comparison"]["coverage"] = "all"
    (tmp_path / "bad.json").write_bytes(render(seal(record)))
    bad = runner.invoke(main, ["verify", str(tmp_path / "bad.json")])
    assert bad.exit_code == 5 and "FAIL  report schema: comparison/coverage" in bad.output
    assert "PASS  integrity digest" in bad.output
    assert schema_errors(json.loads((tmp_path / "red" / "derivation.json").read_text()),
                         "evidence-audio/derivation/v1") == []
    for rendering in ("report.pdf", "report.html"):
        (tmp_path / "rep").mkdir(exist_ok=True)
        (tmp_path / "rep" / rendering).write_bytes(b"%PDF-1.7\n\xe2\x80\xff" if rendering.endswith("pdf") else b"<html>")
        result = runner.invoke(main, ["verify", str(tmp_path / "rep" / rendering)])
        assert result.exit_code == 2 and len(result.output.splitlines()) == 1, result.output
        assert f"verify its folder instead (evidence-audio verify {tmp_path / 'rep'})" in result.output


def test_the_report_records_the_file_name_unless_asked_for_the_path(tmp_path):
    runner = CliRunner()
    stages_off = ["--no-diarize", "--no-events", "--no-authenticity", "--formats", "json", "-q"]
    for flag, expected in [([], "jfk.flac"), (["--record-path"], str(JFK.absolute()))]:
        out = tmp_path / ("full" if flag else "name")
        result = runner.invoke(main, ["analyze", str(JFK), "-o", str(out), *stages_off, *flag])
        assert result.exit_code == 0, result.output
        record = json.loads((out / "report.json").read_text())
        assert record["provenance"]["input_path"] == expected
        assert record["provenance"]["settings"]["record_path"] is bool(flag)
        assert schema_errors(record) == []
        assert str(EXAMPLES) not in (out / "report.json").read_text() or flag
    assert "PASS  folder manifest: 1 file listed" in runner.invoke(main, ["verify", str(out)]).output
