"""The CLI as a person runs it: in an interactive terminal (a pseudo-terminal), not only in a pipe.

Code that runs only when stderr is a terminal (the rich progress display) is exercised here; a crash
there once stopped the README's own analyse command in every real terminal.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import textwrap
import time

from conftest import EXAMPLES, REPO

FAKE_STAGES = textwrap.dedent("""
    import sys, time
    from evidence_audio.progress import for_stderr
    assert sys.stderr.isatty()
    with for_stderr(False) as progress:
        with progress.stage("decoding and hashing"):
            time.sleep(0.05)
        with progress.stage("transcription", total=None, unit="s") as update:
            update(0)                 # no total yet: this once crashed the display
            update(3.0, 11.0)         # the total arrives with the first segment
            update(11.0)
        with progress.stage("speakers") as update:
            update(2, 5)
        with progress.stage("writing report files", unit="files") as update:
            for done in range(1, 4):
                update(done, 3)
    print("FAKE-STAGES-DONE", file=sys.stderr)
""")


def run_in_terminal(argv: list[str], cwd=None, timeout: float = 600, columns: int = 120) -> tuple[int, str]:
    """Run ``argv`` with stdin, stdout and stderr on a fresh pseudo-terminal; (exit status, everything shown)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                               close_fds=True, start_new_session=True)
    os.close(slave)
    shown = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError as exc:  # EIO: the terminal's other side closed
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not chunk:
                    break
                shown += chunk
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise AssertionError(f"{argv} did not finish in {timeout} s; shown:\n{shown.decode(errors='replace')}")
    finally:
        os.close(master)
    return process.wait(timeout=60), shown.decode("utf-8", errors="replace")


def test_progress_display_runs_under_a_terminal():
    status, shown = run_in_terminal([sys.executable, "-c", FAKE_STAGES], cwd=REPO, timeout=120)
    assert status == 0, shown
    assert "FAKE-STAGES-DONE" in shown
    assert "Traceback" not in shown
    for stage in ("decoding and hashing", "transcription", "speakers", "writing report files"):
        assert stage in shown
    assert "11/11 s" in shown and "3/3 files" in shown


def test_readme_analyse_command_works_in_a_terminal(tmp_path):
    out = tmp_path / "jfk-report"
    status, shown = run_in_terminal(
        [sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"), "-o", str(out),
         "--no-diarize", "--no-events", "--no-authenticity"], cwd=tmp_path)
    assert status == 0, shown
    assert "internal error" not in shown and "Traceback" not in shown
    assert "transcription" in shown and "writing report files" in shown
    names = set(os.listdir(out))
    assert {"report.json", "manifest.sha256", "report.html", "report.pdf", "transcript.txt",
            "transcript.srt", "transcript.vtt"} <= names
    record = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert "ask not what your country can do for you" in " ".join(
        s["text"] for s in record["analysis"]["transcript"]["segments"]).lower()


def test_plain_log_lines_without_a_terminal(tmp_path):
    """Without a terminal (a log file), each stage gets a start and an end line with its duration."""
    result = subprocess.run(
        [sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"), "-o", str(tmp_path / "r"),
         "--no-diarize", "--no-events", "--no-authenticity", "--formats", "txt"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for stage in ("decoding and hashing", "transcription", "re-hashing the input", "writing report files"):
        assert f"evidence-audio: {stage} ..." in lines
        assert any(line.startswith(f"evidence-audio: {stage} done in ") and line.endswith(" s") for line in lines)
    quiet = subprocess.run(
        [sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"), "-o", str(tmp_path / "q"),
         "--no-diarize", "--no-events", "--no-authenticity", "--formats", "txt", "-q"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert quiet.returncode == 0 and quiet.stderr == ""
