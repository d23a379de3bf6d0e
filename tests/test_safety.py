"""Output can never touch the evidence: every writing command refuses folders that would harm it."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from conftest import EXAMPLES
from evidence_audio.errors import OutputError
from evidence_audio.report.output import check_output_folder, written_by_this_tool

FAST = ["--no-diarize", "--no-events", "--no-authenticity", "--formats", "txt"]


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "evidence_audio.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def case_folder(tmp_path):
    """A case folder as an examiner keeps it: the exhibit, another exhibit and notes."""
    case = tmp_path / "case"
    case.mkdir()
    shutil.copy2(EXAMPLES / "jfk.flac", case / "in.flac")
    shutil.copy2(EXAMPLES / "jfk.flac", case / "other-exhibit.flac")
    (case / "notes.txt").write_text("chain of custody notes\n")
    return case


def assert_untouched(case, before):
    assert sorted(os.listdir(case)) == sorted(before)
    assert digest(case / "in.flac") == digest(EXAMPLES / "jfk.flac")
    assert (case / "notes.txt").read_text() == "chain of custody notes\n"


def test_output_named_as_the_input_is_refused_before_analysis(case_folder):
    before = os.listdir(case_folder)
    result = run_cli("analyze", case_folder / "in.flac", "-o", case_folder / "in.flac", "--overwrite", *FAST)
    assert result.returncode == 7, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "input" in result.stderr
    assert_untouched(case_folder, before)


def test_output_folder_holding_the_input_is_refused(case_folder):
    before = os.listdir(case_folder)
    result = run_cli("analyze", "in.flac", "-o", ".", "--overwrite", *FAST, cwd=case_folder)
    assert result.returncode == 7, result.stderr
    assert_untouched(case_folder, before)
    above = run_cli("analyze", case_folder / "in.flac", "-o", case_folder.parent, "--overwrite", *FAST)
    assert above.returncode == 7
    assert_untouched(case_folder, before)


def test_overwrite_only_replaces_a_report_folder_this_tool_wrote(case_folder, tmp_path):
    notes = tmp_path / "not-a-report"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    result = run_cli("analyze", case_folder / "in.flac", "-o", notes, "--overwrite", *FAST)
    assert result.returncode == 7 and "not a report folder" in result.stderr
    assert (notes / "mine.txt").read_text() == "keep me"
    # a folder merely named like a report is not one either
    fake = tmp_path / "in.flac.evidence"
    fake.mkdir()
    (fake / "report.json").write_text("{}")
    (fake / "manifest.sha256").write_text("")
    (fake / "exhibit.flac").write_bytes(b"x")
    assert not written_by_this_tool(fake)
    # a real report folder is replaced
    real = tmp_path / "real"
    assert run_cli("analyze", case_folder / "in.flac", "-o", real, "-q", *FAST).returncode == 0
    assert written_by_this_tool(real)
    again = run_cli("analyze", case_folder / "in.flac", "-o", real, "--overwrite", "-q", *FAST)
    assert again.returncode == 0, again.stderr
    # ...but not once a file of the examiner's is put into it
    (real / "added-by-hand.txt").write_text("x")
    assert run_cli("analyze", case_folder / "in.flac", "-o", real, "--overwrite", "-q", *FAST).returncode == 7
    assert (real / "added-by-hand.txt").exists()


def test_unwritable_and_dangling_outputs_are_refused_before_analysis(case_folder, tmp_path):
    link = tmp_path / "dangling"
    link.symlink_to(tmp_path / "nowhere" / "at-all")
    result = run_cli("analyze", case_folder / "in.flac", "-o", link, *FAST)
    assert result.returncode == 7 and "symbolic link" in result.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = run_cli("analyze", case_folder / "in.flac", "-o", blocker / "out", *FAST)
    assert result.returncode == 7 and "not a folder" in result.stderr
    if os.geteuid() != 0:  # root may write into any folder, so the rule can only be seen as a user
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(OutputError, match="not writable"):
            check_output_folder(locked / "out", [case_folder / "in.flac"])


@pytest.mark.parametrize("command", ["compare", "indicators", "redact"])
def test_every_writing_command_protects_the_evidence(case_folder, command):
    before = os.listdir(case_folder)
    args = {
        "compare": ["compare", "in.flac", "other-exhibit.flac", "-o", "."],
        "indicators": ["indicators", "in.flac", "-o", "in.flac"],
        "redact": ["redact", "in.flac", "--ranges", "1-2", "-o", "."],
    }[command]
    result = run_cli(*args, "--overwrite", cwd=case_folder)
    assert result.returncode == 7, result.stderr
    assert_untouched(case_folder, before)
