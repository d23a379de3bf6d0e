"""Odd names, tags, permissions and signals: reported or shown safely, never a failure or a forged line."""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from conftest import EXAMPLES
from evidence_audio.escaping import lossless, printable
from evidence_audio.report.formats import pdf, rttm
from evidence_audio.report.verify import verify

FAST = ["--no-diarize", "--no-events", "--no-authenticity"]
FORGED = "Recording SHA-256: 0000000000000000000000000000000000000000000000000000000000000000"
# a file name with bytes that are not UTF-8, a line break planting a false hash line, and a terminal escape
ODD_NAME = b"bad\xff\xfe \x1b[31mred\n" + FORGED.encode() + b".flac"
TAGS = {
    "title": "x" * 5000,  # thousands of characters
    "comment": "\n".join(f"line {n}: " + "y" * 40 for n in range(60)),  # ~60 lines
    "artist": "会议录音 東京 회의 张伟",  # Chinese, Japanese, Korean
    "album": "evil\x1b]0;owned\x07\u009b31m\n" + FORGED,  # OSC, C1 CSI and a forged line
}


def cli(*args, env=None, prefix=(), **kwargs):
    return subprocess.run([*prefix, sys.executable, "-m", "evidence_audio.cli", *map(os.fsdecode, args)],
                          capture_output=True, env=env, timeout=600, **kwargs)


def tagged_clip(path: Path, tags: dict[str, str], seconds: float = 4.0) -> Path:
    """The first seconds of the JFK clip, re-muxed (not re-encoded) into FLAC with the given tags."""
    with av.open(str(EXAMPLES / "jfk.flac")) as source, av.open(str(path), "w", format="flac") as target:
        stream = target.add_stream_from_template(source.streams.audio[0])
        target.metadata.update(tags)
        for packet in source.demux(source.streams.audio[0]):
            if packet.dts is None or packet.pts * packet.time_base > seconds:
                continue
            packet.stream = stream
            target.mux(packet)
    return path


@pytest.fixture(scope="module")
def odd(tmp_path_factory):
    """One analysis of a recording with an odd name and odd tags, every report file written."""
    folder = tmp_path_factory.mktemp("odd")
    plain = tagged_clip(folder / "plain.flac", TAGS)
    recording = os.fsencode(folder) + b"/" + ODD_NAME
    os.rename(plain, recording)
    out = folder / "report"
    result = cli("analyze", recording, "-o", out, "-q", "--case", "CASE\n" + FORGED, *FAST)
    return recording, out, result


def test_a_name_that_is_not_utf8_is_recorded_escaped(odd):
    _, out, result = odd
    assert result.returncode == 0, result.stderr
    record = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert record["evidence"]["file_name"] == "bad\\xff\\xfe \x1b[31mred\n" + FORGED + ".flac"
    assert "\\xff\\xfe" in record["provenance"]["input_path"]
    assert all(c.passed for c in verify(out))


def test_no_name_or_tag_starts_a_line_of_its_own(odd):
    _, out, result = odd
    texts = {name: (out / name).read_text(encoding="utf-8") for name in ("transcript.txt", "transcript.srt",
                                                                          "transcript.vtt", "report.html")}
    texts["report.pdf"] = subprocess.run(["pdftotext", "-layout", str(out / "report.pdf"), "-"],
                                         capture_output=True, text=True, check=True).stdout
    texts["stdout"] = result.stdout.decode("utf-8")
    for name, text in texts.items():
        assert not [line for line in text.splitlines() if line.strip().startswith(FORGED)], name
        assert "\x1b" not in text and "\x07" not in text and "\u009b" not in text, name
    header = texts["transcript.txt"].splitlines()
    assert header[0] == "Transcript of bad\\xff\\xfe \\u001b[31mred\\u000a" + FORGED + ".flac"
    assert [line for line in header if line.startswith("Recording SHA-256:")] == [header[1]]
    assert "CASE\\u000a" + FORGED in texts["report.html"]
    assert rttm.uri({"evidence": {"file_name": "a\nb \x1b[2J.wav"}}) == "a\\u000ab_\\u001b[2J"


def test_long_and_many_line_tags_never_fail_a_writer(odd):
    _, out, result = odd
    assert result.returncode == 0, result.stderr
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert "more characters not shown; the full text is in" in text
    record = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert record["evidence"]["container"]["tags"]["title"] == TAGS["title"]  # kept whole in the record
    assert record["evidence"]["container"]["tags"]["comment"] == TAGS["comment"]


def test_cjk_names_keep_their_glyphs_in_the_pdf(odd, monkeypatch):
    _, out, _ = odd
    if not any(path.is_file() for path in pdf.FALLBACK_FONTS):
        pytest.skip("fonts-droid-fallback is not installed (install.sh installs it)")
    text = subprocess.run(["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True).stdout
    assert TAGS["artist"] in text
    assert "No font available" not in text
    # without the font, a visible replacement and a note that says so
    monkeypatch.setattr(pdf, "FALLBACK_FONTS", ())
    bare = out.parent / "bare.pdf"
    bare.write_bytes(pdf.render(json.loads((out / "report.json").read_text(encoding="utf-8"))))
    text = subprocess.run(["pdftotext", str(bare), "-"], capture_output=True, text=True).stdout
    assert "No font available here covers" in text and "U+4F1A" in text and "\ufffd" in text


def test_the_terminal_never_receives_control_characters(tmp_path):
    clip = tagged_clip(tmp_path / "tags.flac", {"title": TAGS["album"]})
    probe = cli("probe", clip)
    assert probe.returncode == 0
    out = probe.stdout.decode("utf-8")
    assert "\x1b" not in out and "\u009b" not in out and "\x07" not in out
    assert json.loads(out)["container"]["tags"]["title"] == TAGS["album"]  # still valid JSON, nothing lost
    missing = cli("probe", b"nowhere-\x1b[2J\x9b\n" + FORGED.encode() + b".flac")
    assert missing.returncode == 3
    assert missing.stderr.decode().count("\n") == 1 and b"\x1b" not in missing.stderr
    assert "nowhere-\\u001b[2J\\x9b\\u000a" in missing.stderr.decode()


def test_printable_and_lossless():
    assert printable("a\x1b[0m\r\n\u2028\u202eb\udcff") == "a\\u001b[0m\\u000d\\u000a\\u2028\\u202eb\\xff"
    assert printable("Ağ ə 中文 🙂") == "Ağ ə 中文 🙂"
    assert lossless({"k\udcfe": ["x\udcff", 1]}) == {"k\\xfe": ["x\\xff", 1]}


def as_user() -> list[str]:
    """A prefix that runs a command without the right to read what its permissions forbid (root drops it)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: permissions cannot be seen")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("command", ["probe", "analyze"])
def test_unreadable_input_is_the_one_line_exit_3(tmp_path, command):
    locked = tmp_path / "locked.flac"
    shutil.copy(EXAMPLES / "jfk.flac", locked)
    locked.chmod(0)
    result = cli(command, locked, *(["-q", *FAST] if command == "analyze" else []), prefix=as_user(), cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert result.stderr.decode().splitlines() == [f"evidence-audio: error: input is not readable "
                                                   f"(permission denied): {locked}"]


def test_unreadable_model_store_is_exit_6(tmp_path):
    store = tmp_path / "store"
    store.mkdir(mode=0)
    env = {**os.environ, "EVIDENCE_AUDIO_MODEL_DIR": str(store)}
    result = cli("analyze", EXAMPLES / "jfk.flac", "-o", tmp_path / "out", "-q", *FAST, env=env, prefix=as_user())
    assert result.returncode == 6, result.stderr
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1 and "cannot read the model store" in lines[0] and "Permission denied" in lines[0]
    assert not (tmp_path / "out").exists()


def leftovers(folder: Path) -> list[str]:
    return glob.glob(str(folder / ".*.partial-*")) + glob.glob(str(folder / ".*.old-*"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_while_the_report_is_written_leaves_nothing(tmp_path, signum):
    clip = tagged_clip(tmp_path / "clip.flac", {})
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "evidence_audio.cli", "analyze", str(clip), "-o", str(out),
                                *FAST], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "writing report files" in line:
            process.send_signal(signum)
            break
    lines += process.stderr.readlines()
    assert process.wait(timeout=120) == 128 + signum, lines
    assert lines[-1].startswith(f"evidence-audio: error: interrupted ({signal.Signals(signum).name})")
    assert not out.exists() and leftovers(tmp_path) == []


WRITER = """
import sys
from pathlib import Path
from evidence_audio.cli import one_line_errors
from evidence_audio.report.output import write_folder

one_line_errors(lambda: write_folder(Path(sys.argv[1]), {f"{n:05d}.bin": bytes(2048) for n in range(4000)}))()
"""


def test_sigterm_inside_the_folder_write_removes_the_partial_folder(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "out")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not leftovers(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    assert leftovers(tmp_path), "the partial folder never appeared"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    assert b"interrupted (SIGTERM)" in process.stderr.read()
    assert leftovers(tmp_path) == [] and not (tmp_path / "out").exists()


def test_verify_accounts_for_every_entry_of_the_folder(odd, tmp_path):
    _, out, _ = odd
    for name, change in {
        "sub-folder": lambda folder: (folder / "extra").mkdir(),
        "link": lambda folder: (folder / "extra.txt").symlink_to(folder / "report.json"),
        "listed file as link": lambda folder: ((folder / "transcript.txt").unlink(),
                                               (folder / "transcript.txt").symlink_to(out / "transcript.txt")),
    }.items():
        copy = tmp_path / name
        shutil.copytree(out, copy)
        assert all(c.passed for c in verify(copy))
        change(copy)
        failed = {c.name: c.detail for c in verify(copy) if not c.passed}
        assert list(failed) == ["folder files"] and "not a regular file" in failed["folder files"], name
    # a missing manifest fails, also when verify is given report.json itself
    copy = tmp_path / "no-manifest"
    shutil.copytree(out, copy)
    (copy / "manifest.sha256").unlink()
    (copy / "report.html").write_text("edited")
    # the edited page fails as well; report.json and its folder are checked alike
    for target in (copy, copy / "report.json"):
        assert {"folder manifest", "readable files"} <= {c.name for c in verify(target) if not c.passed}
    assert cli("verify", copy / "report.json").returncode == 5
