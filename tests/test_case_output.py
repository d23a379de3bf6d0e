"""What the case commands print and the case report show: a file name with a terminal escape and a
line break shown escaped everywhere, and a stage that did not run never shown as one that found nothing."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys

import pytest

from evidence_audio.report.formats import pdf

ODD = "a\x1b[31mred\nline.wav"
SHOWN = "a\\u001b[31mred\\u000aline.wav"
CJK = "会议录音 東京 회의.wav"
FAST = ("--no-diarize", "--no-events", "--no-authenticity", "--formats", "json,pdf")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "evidence_audio.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def clean(result) -> None:
    """Every line printed is one line of its own: no escape sequence, no stray warning."""
    for text in (result.stdout, result.stderr):
        assert "\x1b" not in text and "red\nline" not in text, text
        assert "glyphs" not in text, text


@pytest.fixture(scope="module")
def odd_case(tmp_path_factory, shared_eval):
    """A case (events, speakers and authenticity off) of one short recording under an odd name, analysed,
    and a second recording, named in Chinese and Korean, added after the run (not analysed yet)."""
    work = tmp_path_factory.mktemp("odd case")
    shutil.copy(shared_eval / "asr_en_misc" / "pisets_test_sound_en.wav", work / ODD)
    case = work / "case"
    steps = {"init": cli("case", "init", case, "--case", "K-20", "--examiner", "E", *FAST)}
    steps["add"] = cli("case", "add", case, work / ODD)
    steps["run"] = cli("case", "run", case, "--workers", "1")
    shutil.copy(shared_eval / "asr_en_misc" / "leopard_en_test.wav", work / CJK)
    steps["add later"] = cli("case", "add", case, work / CJK)
    steps["report"] = cli("case", "report", case)
    for name, result in steps.items():
        assert result.returncode == 0, (name, result.stdout, result.stderr)
    return case, steps


def test_case_commands_print_an_odd_name_escaped(odd_case):
    case, steps = odd_case
    with sqlite3.connect(case / "case.sqlite") as db:  # the index keeps the true name
        assert db.execute("SELECT name FROM recordings WHERE name LIKE 'a%'").fetchone()[0] == ODD
    for result in steps.values():
        clean(result)
    assert f"added: {case.parent / SHOWN}" in steps["add"].stdout.splitlines()
    assert any(line.startswith("done 1/1 " + SHOWN) for line in steps["run"].stdout.splitlines())
    words = cli("case", "search", case, "neural networks")
    clean(words)
    assert words.stdout.startswith(SHOWN + "  ") and len(words.stdout.splitlines()) == 1


def test_case_report_shows_an_odd_name_escaped(odd_case):
    from pypdf import PdfReader

    case, _ = odd_case
    page = (case / "case-report.html").read_text(encoding="utf-8")
    assert SHOWN in page and "\x1b" not in page and "red\nline" not in page
    assert 'href="reports/a%1B%5B31mred%0Aline.wav-' in page  # the link reaches the folder's true name
    text = "".join(p.extract_text() for p in PdfReader(case / "case-report.pdf").pages)
    assert SHOWN in text.replace("\n", "") and "\x1b" not in text
    if any(path.is_file() for path in pdf.FALLBACK_FONTS):  # the report PDF's fallback font (install.sh)
        assert CJK in text and "No font available" not in text
    else:
        assert "No font available here covers" in text
    report = next((case / "reports").iterdir())
    assert report.name.startswith(ODD)  # named from the true file name, as analyze names its folder
    text = "".join(p.extract_text() for p in PdfReader(report / "report.pdf").pages)  # the examiner's statement too
    assert f"on the recording {SHOWN}, identified" in text.replace("\n", " ") and "\x1b" not in text


def test_a_stage_that_did_not_run_is_not_shown_as_nothing_found(odd_case):
    case, _ = odd_case
    search = cli("case", "search", case, "--event", "scream")
    assert search.returncode == 0 and search.stdout == ""
    assert search.stderr.count("\n") == 1
    assert "not searched: 2 of 2 recordings" in search.stderr
    assert "1 analysed without event detection" in search.stderr and "1 not analysed yet" in search.stderr
    words = cli("case", "search", case, "networks")
    assert "not searched: 1 of 2 recordings (1 not analysed yet)" in words.stderr
    page = (case / "case-report.html").read_text(encoding="utf-8")
    row = next(r for r in page.split("<tr>") if SHOWN in r)
    cells = row.split("<td>")
    assert "did not run" in cells[6] and "did not run" in cells[7]  # speakers and events
    assert "-" not in (cells[6] + cells[7]).replace("</td>", "")
    pending = next(r for r in page.split("<tr>") if CJK in r)
    assert "did not run" not in pending and pending.split("<td>")[5] == "-</td>"  # language: not analysed


def test_an_event_search_that_looked_everywhere_says_nothing_more(tmp_path):
    """Events ran on every recording (found or not): no note; one without them, one pending: counted."""
    from evidence_audio.case import index

    db = index.connect(tmp_path, create=True)
    for n, (state, events) in enumerate((("done", 0), ("done", 2))):
        db.execute("INSERT INTO recordings (path, name, size_bytes, sha256, sha1, md5, added_utc, report, state, events)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?)", (f"/x/{n}", f"{n}.wav", 1, f"s{n}", "s", "m", "t", f"r{n}",
                                                     state, events))
    assert index.not_searched(db, events=True) is None and index.not_searched(db) is None
    db.execute("INSERT INTO recordings (path, name, size_bytes, sha256, sha1, md5, added_utc, report, state)"
               " VALUES ('/x/2', '2.wav', 1, 's2', 's', 'm', 't', 'r2', 'done'), ('/x/3', '3.wav', 1, 's3', 's', 'm',"
               " 't', 'r3', 'pending')")
    assert index.not_searched(db, events=True) == ("not searched: 2 of 4 recordings (1 analysed without event "
                                                   "detection, 1 not analysed yet)")
    assert index.not_searched(db) == "not searched: 1 of 4 recordings (1 not analysed yet)"
    db.close()


def test_a_path_that_is_not_utf8_is_refused_in_one_line(shared_eval, tmp_path):
    """The index and the custody log hold text: named, such a file is refused (exit 3); found in a folder, skipped."""
    import os

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    odd = os.fsencode(evidence) + b"/bad\xff.wav"
    shutil.copy(shared_eval / "asr_en_misc" / "pisets_test_sound_en.wav", odd)
    case = tmp_path / "case"
    assert cli("case", "init", case, "--case", "K-20b", "--examiner", "E", *FAST).returncode == 0
    named = subprocess.run([sys.executable, "-m", "evidence_audio.cli", "case", "add", str(case), os.fsdecode(odd)],
                           capture_output=True, text=True, timeout=600)
    assert named.returncode == 3 and named.stderr.count("\n") == 1 and "bad\\xff.wav" in named.stderr, named.stderr
    assert "not valid UTF-8" in named.stderr and "Traceback" not in named.stderr
    found = cli("case", "add", case, evidence)
    assert found.returncode == 0 and "skipped: " + str(evidence) + "/bad\\xff.wav (path not valid UTF-8" in found.stdout
    assert "0 added, 0 duplicate, 1 skipped" in found.stdout
