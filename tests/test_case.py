"""Cases on a real Dask LocalCluster with 2 workers: duplicates refused, a bad file failing alone,
a run killed half-way (SIGKILL of the whole process group) finished by the next run with every
file analysed exactly once, and the index searched by words, event class and voice."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from pathlib import Path

import numpy as np
import pytest

from media import speak
from evidence_audio.case.run import analyse_one, finished_record, models_cache
from evidence_audio.case.voice import calibration

FAST = ("--no-events", "--no-authenticity", "--formats", "json,html,txt")
OTHER_TEXT = "We are waiting at the station. Bring the documents tomorrow morning, and call me when you arrive."


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "evidence_audio.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600, **kwargs)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows(case):
    with sqlite3.connect(case / "case.sqlite") as db:
        db.row_factory = sqlite3.Row
        return {r["name"]: dict(r) for r in db.execute("SELECT * FROM recordings")}


@pytest.fixture(scope="module")
def finished_case(tmp_path_factory, shared_eval, speech_wav):
    """A case of 6 recordings (and a duplicate refused), its first run killed at half (3 reports),
    then run again: (case folder, evidence files with their SHA-256, facts of both runs)."""
    work = tmp_path_factory.mktemp("case")
    evidence = work / "evidence"
    evidence.mkdir()
    shutil.copy(speech_wav, evidence / "voice_a.wav")
    speak(OTHER_TEXT, evidence / "voice_b.wav")
    for name in ("pisets_test_sound_en.wav", "leopard_en_test.wav", "jfk_16k.wav"):
        shutil.copy(shared_eval / "asr_en_misc" / name, evidence / name)
    (evidence / "notes").mkdir()
    (evidence / "notes" / "broken.wav").write_bytes(b"RIFF this is no audio at all" * 10)
    (evidence / "notes" / "readme.txt").write_text("not media")
    shutil.copy(shared_eval / "asr_en_misc" / "leopard_en_test.wav", work / "leopard copy.wav")
    hashes = {p: sha256(p) for p in evidence.rglob("*") if p.is_file()}
    mtimes = {p: p.stat().st_mtime_ns for p in hashes}
    case = work / "case"

    init = cli("case", "init", case, "--case", "K-18", "--examiner", "A. Examiner", *FAST)
    assert init.returncode == 0, init.stderr
    added = cli("case", "add", case, evidence, work / "leopard copy.wav")
    assert added.returncode == 0, added.stderr
    again = cli("case", "add", case, evidence / "jfk_16k.wav")

    first = subprocess.Popen([sys.executable, "-m", "evidence_audio.cli", "case", "run", case, "--workers", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    done_at_kill: dict = {}
    try:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline and first.poll() is None:
            done_at_kill = {n: r for n, r in rows(case).items() if r["state"] == "done"}
            if len(done_at_kill) >= 3:  # about half of the 6
                break
            time.sleep(0.1)
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the client, the scheduler, the nannies and both workers
        first.wait()
    folders_after_kill = {p.name: p for p in (case / "reports").iterdir() if not p.name.startswith(".")}
    kept = {name: os.stat(case / r["report"] / "report.json").st_ino for name, r in done_at_kill.items()}
    second = cli("case", "run", case, "--workers", "2")
    return case, evidence, hashes, mtimes, dict(added=added, again=again, done_at_kill=done_at_kill,
                                               folders_after_kill=folders_after_kill, kept=kept, second=second)


def test_add_refuses_duplicates_and_skips_non_media(finished_case):
    case, evidence, *_ , facts = finished_case
    out = facts["added"].stdout
    assert "REFUSED duplicate" in out and "leopard copy.wav" in out and "same SHA-256" in out
    assert "skipped" in out and "readme.txt" in out
    assert "6 added, 1 duplicate, 1 skipped" in out
    assert "REFUSED duplicate" in facts["again"].stdout and "0 added, 1 duplicate" in facts["again"].stdout
    assert len(rows(case)) == 6


def test_killed_run_is_finished_by_the_next_with_every_file_analysed_once(finished_case):
    case, evidence, hashes, mtimes, facts = finished_case
    done_at_kill = facts["done_at_kill"]
    assert 1 <= len(done_at_kill) < 5, "the first run was not killed half-way"
    by_folder = {r["report"].split("/")[1]: r for r in rows(case).values()}
    for name, folder in facts["folders_after_kill"].items():  # nothing that looks like a report is half written
        assert finished_record(folder, by_folder[name]["sha256"])[0] is not None
    second = facts["second"]
    assert second.returncode in (0, 4), second.stdout + second.stderr  # 4 unless the broken file failed before the kill
    found = rows(case)
    assert {n for n, r in found.items() if r["state"] == "done"} == {
        "voice_a.wav", "voice_b.wav", "pisets_test_sound_en.wav", "leopard_en_test.wav", "jfk_16k.wav"}
    assert found["broken.wav"]["state"] == "failed"
    assert "not a recognisable audio or video file" in found["broken.wav"]["failure"]
    # the second run analysed only what the first had not finished, and rewrote none of its reports
    to_analyse = int(second.stdout.split(" of 6 recordings to analyse")[0].rsplit("\n", 1)[-1])
    assert to_analyse <= 6 - len(done_at_kill)
    for name, inode in facts["kept"].items():
        assert os.stat(case / found[name]["report"] / "report.json").st_ino == inode
        assert found[name]["integrity"] == done_at_kill[name]["integrity"]
    reports = sorted(p.name for p in (case / "reports").iterdir())
    assert reports == sorted(r["report"].split("/")[1] for r in found.values() if r["state"] == "done")
    with sqlite3.connect(case / "case.sqlite") as db:  # each finished file's rows in the index once, no more
        for r in found.values():
            count = lambda table: db.execute(f"SELECT COUNT(*) FROM {table} WHERE recording_id = ?",  # noqa: E731
                                             (r["id"],)).fetchone()[0]
            if r["state"] == "done":
                analysis = json.loads((case / r["report"] / "report.json").read_text(encoding="utf-8"))["analysis"]
                assert count("transcript") == len(analysis["transcript"]["segments"]) > 0
                assert count("speakers") == len(analysis["speakers"]["labels"]) > 0
            else:
                assert count("transcript") == count("speakers") == 0
    for r in found.values():
        if r["state"] == "done":
            verify = cli("verify", case / r["report"], r["path"])
            assert verify.returncode == 0, verify.stdout
    assert len({r["worker"] for r in found.values() if r["worker"]}) >= 2  # the work was spread over both workers
    assert all(r["peak_memory_mb"] is None or r["peak_memory_mb"] < 1536 for r in found.values())
    # the evidence was only read
    assert {p: sha256(p) for p in hashes} == hashes
    assert {p: p.stat().st_mtime_ns for p in hashes} == mtimes
    status = cli("case", "status", case)
    assert "5 done, 1 failed, 0 pending" in status.stdout and "broken.wav" in status.stdout
    rerun = cli("case", "run", case, "--workers", "2")
    assert rerun.returncode == 0 and "0 of 6 recordings to analyse (1 failed before" in rerun.stdout
    retry = cli("case", "run", case, "--workers", "1", "--retry-failed")
    assert retry.returncode == 4 and "1 of 6 recordings to analyse" in retry.stdout


def test_search_words_events_and_voices(finished_case):
    case, *_ = finished_case
    words = cli("case", "search", case, "apostle gospel")
    assert words.returncode == 0 and "leopard_en_test.wav" in words.stdout and "jfk" not in words.stdout
    assert "ask not what your country" in cli("case", "search", case, "country").stdout.lower()
    events = cli("case", "search", case, "--event", "scream")  # events were off in this case: not looked at, said so
    assert events.returncode == 0 and events.stdout == ""
    assert events.stderr == "not searched: 6 of 6 recordings (5 analysed without event detection, 1 failed)\n"
    voices = cli("case", "search", case, "--voice", "voice_a.wav:SPEAKER_1")
    assert voices.returncode == 0, voices.stderr
    ranked = [line.split() for line in voices.stdout.splitlines() if line[:4].strip().isdigit()]
    assert "SPEAKER_1" in ranked[0] and "voice_b.wav" in ranked[0]  # the same synthetic voice first
    # each candidate: cosine, its calibrated log10 likelihood ratio, and the held-out error rates at that cosine
    measured = calibration()
    held = measured["held_out"]
    for line in ranked:
        cosine, log10_lr, false_match, miss = float(line[1]), float(line[2]), float(line[3]), float(line[5])
        expected = (measured["calibration"]["slope"] * cosine + measured["calibration"]["intercept"]) / math.log(10)
        assert abs(log10_lr - expected) < 0.02
        assert abs(false_match - 100 * np.mean(np.array(held["different_scores"]) >= cosine)) < 0.1
        assert abs(miss - 100 * np.mean(np.array(held["same_scores"]) < cosine)) < 0.1
        assert ("*" in line) == (log10_lr >= 0)
    assert f"{held['same_trials']} same-voice and {held['different_trials']} different-voice pairs" in voices.stdout
    assert f"equal error rate {100 * held['eer']:.1f} %" in voices.stdout
    assert held["same_trials"] >= 100 and measured["fit"]["same_trials"] >= 100
    bad = cli("case", "search", case, "--voice", "nothing.wav:SPEAKER_1")
    assert bad.returncode == 3 and bad.stderr.count("\n") == 1


def test_case_report_lists_every_recording(finished_case):
    from pypdf import PdfReader

    case, *_ = finished_case
    result = cli("case", "report", case)
    assert result.returncode == 0, result.stderr
    page = (case / "case-report.html").read_text(encoding="utf-8")
    text = "".join(p.extract_text() for p in PdfReader(case / "case-report.pdf").pages)
    for r in rows(case).values():
        assert r["sha256"] in page and r["md5"] in page
        assert str(Path(r["path"]).parent) not in page  # a folder can name a source: names only
        assert r["sha256"][:40] in text.replace("\n", "")
        if r["state"] == "done":
            assert f'href="{r["report"]}/report.html"' in page
    assert "not a recognisable audio or video file" in page
    assert page.count("<td>did not run</td>") == 5  # events were off: each analysed recording's Events cell says so


def test_report_finished_by_a_killed_run_keeps_its_speaker_embeddings(shared_eval, tmp_path):
    """The worker wrote the report folder, the run was killed before the index recorded it: the next
    run takes the folder in without analysing again, and with the speaker centroids the worker kept."""
    from dataclasses import asdict

    from evidence_audio.case import case_settings, index
    from evidence_audio.case.run import centroids_file

    case = tmp_path / "case"
    assert cli("case", "init", case, "--case", "K-18c", "--examiner", "C", *FAST).returncode == 0
    assert cli("case", "add", case, shared_eval / "asr_en_misc" / "leopard_en_test.wav").returncode == 0
    row = rows(case)["leopard_en_test.wav"]
    with index.connect(case) as db:
        settings, formats = case_settings(db)
    result = analyse_one(row["path"], row["sha256"], str(case / row["report"]), asdict(settings), formats,
                         str(centroids_file(case, row["report"])))
    assert set(result["centroids"]) == {"SPEAKER_1"} and rows(case)["leopard_en_test.wav"]["state"] == "pending"
    again = cli("case", "run", case, "--workers", "1")
    assert again.returncode == 0, again.stderr
    assert "0 of 1 recordings to analyse" in again.stdout
    assert "found finished: leopard_en_test.wav (report written by an interrupted run)" in again.stdout
    with sqlite3.connect(case / "case.sqlite") as db:
        model, blob = db.execute("SELECT model, embedding FROM speakers WHERE label = 'SPEAKER_1'").fetchone()
    assert model == "campplus-cn-en-common"
    assert np.array_equal(np.frombuffer(blob, dtype="<f4"), np.asarray(result["centroids"]["SPEAKER_1"], dtype="<f4"))
    voices = cli("case", "search", case, "--voice", "leopard_en_test.wav:SPEAKER_1")
    assert voices.returncode == 0, voices.stderr
    # a rate that is not zero never prints as 0.0 (held out: 1 false match in 2396 pairs)
    for rate, count in re.findall(r"([\d.]+) % (?:false matches|misses) \((\d+) of", voices.stdout):
        assert (float(rate) > 0) == (int(count) > 0)
    missing = cli("case", "search", case, "--voice", "leopard_en_test.wav:SPEAKER_9")
    assert missing.returncode == 3 and "has no speaker SPEAKER_9 in the case index (its speakers: SPEAKER_1)" in missing.stderr
    kept = centroids_file(case, row["report"])
    umask = os.umask(0)
    os.umask(umask)
    assert kept.stat().st_mode & 0o777 == 0o666 & ~umask  # readable as the case's other files
    assert cli("case", "verify", case).returncode == 0


def test_models_load_once_per_worker_and_give_the_same_analysis(shared_eval, tmp_path, monkeypatch):
    from evidence_audio.speakers import diarize
    from evidence_audio.asr import transcribe
    from evidence_audio.pipeline import Settings, analyze_with_audio

    loads = {"whisper": 0, "diarizer": 0}
    for module, name, key in ((transcribe, "load_models", "whisper"), (diarize, "load", "diarizer")):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _o=original, _k=key, **k: (loads.__setitem__(_k, loads[_k] + 1), _o(*a, **k))[1])
    settings = Settings(events=False, authenticity=False)
    models_cache().clear()
    results = []
    for i, name in enumerate(("pisets_test_sound_en.wav", "leopard_en_test.wav")):
        path = shared_eval / "asr_en_misc" / name
        results.append(analyse_one(str(path), sha256(path), str(tmp_path / f"r{i}"), vars(settings), ("json",)))
    assert loads == {"whisper": 1, "diarizer": 1}
    assert results[1]["centroids"]["SPEAKER_1"] and len(results[1]["centroids"]["SPEAKER_1"]) == 192
    fresh, _ = analyze_with_audio(shared_eval / "asr_en_misc" / "leopard_en_test.wav", settings)
    assert fresh["analysis"] == results[1]["record"]["analysis"]


def test_run_on_an_existing_dask_cluster(shared_eval, tmp_path):
    """--scheduler: the same case run submitted to a cluster started elsewhere (here: in this process)."""
    from distributed import LocalCluster

    case = tmp_path / "case"
    assert cli("case", "init", case, "--case", "K-18b", "--examiner", "B", "--no-diarize", *FAST).returncode == 0
    assert cli("case", "add", case, shared_eval / "asr_en_misc" / "pisets_test_sound_en.wav").returncode == 0
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        result = cli("case", "run", case, "--scheduler", cluster.scheduler_address)
        assert cluster.scheduler_address in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert rows(case)["pisets_test_sound_en.wav"]["state"] == "done"
    assert "neural networks" in cli("case", "search", case, "networks").stdout.lower()


def test_case_custody_log_records_each_step_and_case_verify_detects_tampering(finished_case, tmp_path):
    case, *_ = finished_case
    log = case / "case-custody.jsonl"
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    actions = [e["action"] for e in entries]
    assert actions[0] == "case init" and entries[0]["details"]["case"] == "K-18"
    assert entries[0]["examiner"] == "A. Examiner" and entries[0]["details"]["settings"]["events"] is False
    found = rows(case)
    added = {e["details"]["sha256"] for e in entries if e["action"] == "add"}
    assert added == {r["sha256"] for r in found.values()} and actions.count("add") == 6
    assert actions.count("add refused") == 2  # "leopard copy.wav" in the first add, jfk_16k.wav added again
    assert "run start" in actions and "run end" in actions
    reported = {e["details"]["sha256"]: e["details"] for e in entries if e["action"] == "report"}
    assert set(reported) == {r["sha256"] for r in found.values() if r["state"] == "done"}
    assert all(reported[r["sha256"]]["record_integrity_sha256"] == r["integrity"] for r in found.values() if r["integrity"])
    assert any(e["action"] == "failure" and "broken.wav" in e["details"]["recording"] for e in entries)
    assert "hash chain unbroken" in cli("case", "status", case).stdout

    good = cli("case", "verify", case, "--examiner", "C. Checker")
    assert good.returncode == 0 and "VERIFIED: 2 of 2 checks passed" in good.stdout, good.stdout + good.stderr
    last = json.loads(log.read_text(encoding="utf-8").splitlines()[-1])
    assert last["action"] == "verify" and last["examiner"] == "C. Checker" and last["details"]["result"] == "VERIFIED"

    def tampered(change) -> str:
        copy = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(case, copy)
        change(copy)
        result = cli("case", "verify", copy)
        assert result.returncode == 5, result.stdout + result.stderr
        return result.stdout

    def edit_entry(copy):  # an add entry's MD5 changed (the rest of the chain left as it was)
        lines = (copy / "case-custody.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        n = actions.index("add")
        lines[n] = lines[n].replace('"md5":"', '"md5":"0')
        (copy / "case-custody.jsonl").write_text("".join(lines), encoding="utf-8")

    assert "FAIL  case custody log: entry " in tampered(edit_entry)

    def cut_reports(copy):  # the log cut back to before the reports (a shorter log is still a chain)
        lines = (copy / "case-custody.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (copy / "case-custody.jsonl").write_text("".join(lines[:actions.index("run start") + 1]), encoding="utf-8")

    assert "is not the one the log recorded" in tampered(cut_reports)

    def index_row(copy):  # a recording's hashes changed in the index
        with sqlite3.connect(copy / "case.sqlite") as db:
            db.execute("UPDATE recordings SET md5 = 'ffff' WHERE name = 'jfk_16k.wav'")

    assert "jfk_16k.wav: in the index without its 'add' entry" in tampered(index_row)

    def report_file(copy):  # a report's transcript edited
        text = copy / found["jfk_16k.wav"]["report"] / "transcript.txt"
        text.write_text(text.read_text(encoding="utf-8").replace("country", "county"), encoding="utf-8")

    assert "FAIL  recordings and reports: jfk_16k.wav: report folder does not verify" in tampered(report_file)
