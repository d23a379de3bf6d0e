"""The human-readable report files: PDF, HTML, SRT/VTT/TXT, RTTM, the manifest, and --formats.

Two inputs: the real pipeline run on examples/jfk.flac by the CLI (whatever stages it has), and a
record sealed here around the real intake of examples/sample.wav with every analysis block filled in,
Azerbaijani and Cyrillic text included. That second record is test input for the renderers (fonts,
escaping, marking), not an analysis result.
"""

from __future__ import annotations

import base64
import hashlib
import html
import html.parser
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pypdf
import pytest
import srt
import webvtt
from pyannote.database.util import load_rttm

from conftest import EXAMPLES, REPO
from evidence_audio import error_rates
from evidence_audio.intake import take_in
from evidence_audio.provenance import Provenance
from evidence_audio.report.canonical import seal
from evidence_audio.report.formats import BY_NAME, manifest, parse_names, render_folder
from evidence_audio.report.record import build_record, evidence_block
from evidence_audio.report.verify import schema_errors, verify

AZERBAIJANI = "Uşağı döymə! Çox ağrıyır, şəhər ölür."
RUSSIAN = "Не бейте его, пожалуйста -- **помогите** <b>"
LOW_WORDS = ("Çox", "şəhər")


def _words(text, start, probabilities, speakers):
    return [{"start": round(start + 0.6 * i, 3), "end": round(start + 0.6 * (i + 1), 3), "text": word,
             "probability": p, "speaker": speaker, "overlap": False}
            for i, (word, p, speaker) in enumerate(zip(text.split(), probabilities, speakers))]


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """(record with every block, 16 kHz samples) around the real intake of examples/sample.wav."""
    intake = take_in(EXAMPLES / "sample.wav")
    provenance = Provenance(input_path=str(EXAMPLES / "sample.wav"), observed=intake.observed, settings={},
                            case="İş 2026/17 Bakı", examiner="Aysel Məmmədova")
    provenance.finished_utc = provenance.started_utc
    analysis = {
        "transcript": {
            "engine": "faster-whisper", "model": "whisper-base", "task": "transcribe",
            "language": {"code": "az", "probability": 0.81, "forced": False,
                         "top": [{"code": "az", "probability": 0.81}, {"code": "tr", "probability": 0.12},
                                 {"code": "ru", "probability": 0.03}]},
            "decoding": {"beam_size": 5, "temperatures": [0.0], "condition_on_previous_text": False, "seed": 0},
            "vad": {"threshold": 0.5, "transcribe_speech_only": True}, "suspect_thresholds": {},
            "speech_regions": [{"start": 0.5, "end": 8.1}],
            "segments": [
                {"id": 0, "start": 0.5, "end": 4.1, "text": " " + AZERBAIJANI, "avg_logprob": -0.3,
                 "no_speech_prob": 0.01, "compression_ratio": 1.2, "temperature": 0.0, "suspect": False,
                 "suspect_reasons": [],
                 "translation": "Don't beat the child! It hurts a lot.", "speaker": "SPEAKER_1",
                 "translation_suspect": True, "translation_suspect_reasons": ["length_ratio"],
                 "language": "az", "language_probability": 0.81, "removed_words": [], "decoded_alone": False,
                 "words": _words(AZERBAIJANI, 0.5, [0.9, 0.95, 0.3, 0.8, 0.42, 0.9],
                                  ["SPEAKER_1"] * 5 + ["SPEAKER_2"])},
                {"id": 1, "start": 5.0, "end": 8.1, "text": " " + RUSSIAN, "avg_logprob": -1.2,
                 "no_speech_prob": 0.4, "compression_ratio": 2.6, "temperature": 0.0, "suspect": True,
                 "suspect_reasons": ["high_compression_ratio"], "speaker": "SPEAKER_2", "words": []},
            ],
            "languages": [{"code": "az", "talk_time_s": 3.6, "segments": 1}, {"code": "ru", "talk_time_s": 3.1, "segments": 1}],
            "untranscribed_speech": [{"start": 9.0, "end": 11.5, "language": "az", "reason": "no_words_also_decoded_alone",
                                      "text": None}]},
        "speakers": {"engine": "pyannote.audio", "pipeline": "test", "settings": {},
                     "labels": ["SPEAKER_1", "SPEAKER_2"],
                     "turns": [{"start": 0.5, "end": 4.2, "speaker": "SPEAKER_1"},
                               {"start": 3.9, "end": 8.1, "speaker": "SPEAKER_2"},
                               {"start": 9.0, "end": 12.0, "speaker": "SPEAKER_1"}],
                     "overlaps": [{"start": 3.9, "end": 4.2, "speakers": ["SPEAKER_1", "SPEAKER_2"]}],
                     "talk_time_s": {"SPEAKER_1": 6.7, "SPEAKER_2": 4.2}},
        "events": {"model": "test", "encoder": "test-encoder", "classes": ["scream", "shout", "cry", "impact"],
                   "not_detected": [], "thresholds": {"scream": 0.5}, "window_s": 1.0, "hop_s": 0.5,
                   "sound_events": [{"class": "scream", "start": 2.0, "end": 3.5, "score": 0.91, "model": "test"},
                                    {"class": "impact", "start": 6.0, "end": 6.2, "score": 0.66, "model": "test"}],
                   "transcript_cues": [{"category": "plea", "language": "ru", "phrase": "не бейте",
                                        "text": "Не бейте его", "start": 5.0, "end": 5.6, "speaker": "SPEAKER_2",
                                        "segment_id": 1}]},
    }
    record = seal(build_record(evidence_block(intake), provenance.to_record(), analysis))
    assert schema_errors(record) == []
    return record, intake.audio.samples


@pytest.fixture(scope="module")
def files(full):
    record, samples = full
    return render_folder(record, samples)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """The CLI run on examples/jfk.flac with every format: the report folder."""
    out = tmp_path_factory.mktemp("jfk") / "report"
    result = subprocess.run([sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"),
                             "-o", str(out), "--case", "CASE-6", "--quiet"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return out


def _pdf_pages(data: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


# --- the folder written by the CLI -------------------------------------------------------------

def test_cli_folder_has_the_record_the_readable_reports_and_a_manifest(analysed):
    names = {p.name for p in analysed.iterdir()}
    assert {"report.json", "report.html", "report.pdf", "manifest.sha256"} <= names
    record = json.loads((analysed / "report.json").read_text(encoding="utf-8"))
    for block, file_names in (("transcript", {"transcript.srt", "transcript.vtt", "transcript.txt"}),
                              ("speakers", {"diarization.rttm"})):
        assert (file_names <= names) == (block in record["analysis"])
    listed = manifest.parse((analysed / "manifest.sha256").read_text(encoding="utf-8"))
    assert set(listed) == names - {"manifest.sha256", "custody.jsonl"}  # the log grows after sealing
    assert "listening-copy.opus" in listed and record["provenance"]["settings"]["embed_audio"] is True


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_manifest_checks_with_sha256sum(analysed):
    result = subprocess.run(["sha256sum", "--strict", "-c", "manifest.sha256"], cwd=analysed, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(list(analysed.iterdir())) - 2  # not the manifest or custody.jsonl


def test_cli_pdf_carries_hashes_and_integrity_on_every_page(analysed):
    record = json.loads((analysed / "report.json").read_text(encoding="utf-8"))
    pages = _pdf_pages((analysed / "report.pdf").read_bytes())
    text = "\n".join(pages)
    for value in record["evidence"]["hashes"].values():
        assert value in text
    for number, page in enumerate(pages, start=1):
        assert record["integrity"]["digest"] in page
        assert f"page {number} of {len(pages)}" in page
    for segment in record["analysis"].get("transcript", {}).get("segments", []):
        for word in segment["text"].split()[:3]:
            assert word in text
    page = (analysed / "report.html").read_text(encoding="utf-8")
    authenticity = record["analysis"].get("authenticity")
    if authenticity:
        for part in ("metadata", "discontinuities", "enf"):
            assert authenticity[part]["summary"] in " ".join(text.split())  # table cells wrap lines
            assert authenticity[part]["summary"] in html.unescape(page)


def test_verify_checks_the_folder_against_its_manifest(analysed, tmp_path):
    assert all(c.passed for c in verify(analysed))
    copy = tmp_path / "copy"
    shutil.copytree(analysed, copy)
    html_file = copy / "report.html"
    html_file.write_bytes(html_file.read_bytes().replace(b"CASE-6", b"CASE-7"))
    (copy / "notes.txt").write_text("added later")
    failed = {c.name: c.detail for c in verify(copy) if not c.passed}
    assert set(failed) == {"folder files", "readable files"}  # the page no longer says what report.json says
    assert "changed: report.html" in failed["folder files"] and "not listed: notes.txt" in failed["folder files"]
    (copy / "manifest.sha256").unlink()
    # the custody log's analysis entry names the manifest written then
    assert [c.name for c in verify(copy) if not c.passed] == ["folder manifest", "readable files", "custody log"]


def test_formats_option_limits_the_files(tmp_path):
    bogus = subprocess.run([sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"),
                            "-o", str(tmp_path / "x"), "--formats", "pdf,docx"], capture_output=True, text=True)
    assert bogus.returncode == 2 and "docx" in bogus.stderr
    assert not (tmp_path / "x").exists()
    assert parse_names("all") == tuple(BY_NAME)
    assert parse_names("PDF, srt") == ("json", "pdf", "srt")


# --- the renderers on a record with every block ---------------------------------------------------

def test_chosen_formats_and_absent_blocks(full):
    record, samples = full
    chosen = render_folder(record, samples, parse_names("srt,rttm"))
    assert set(chosen) == {"report.json", "transcript.srt", "diarization.rttm", "manifest.sha256"}
    bare = render_folder(seal(dict(record, analysis={})), None)
    assert set(bare) == {"report.json", "report.html", "report.pdf", "manifest.sha256"}
    pdf_text = "\n".join(_pdf_pages(bare["report.pdf"]))
    for said in ("Transcription did not run.", "Speaker analysis did not run.", "Event detection did not run."):
        assert said in bare["report.html"].decode("utf-8") and said in pdf_text
    quiet = seal(dict(record, analysis=dict(record["analysis"], events=dict(record["analysis"]["events"],
                                                                          sound_events=[], transcript_cues=[]))))
    assert "No distress event was detected." in render_folder(quiet, None, ("html",))["report.html"].decode("utf-8")


def test_rendering_is_deterministic(full, files):
    record, samples = full
    assert render_folder(record, samples) == files


def test_pdf_text_fonts_and_marks(full, files):
    record, _ = full
    reader = pypdf.PdfReader(io.BytesIO(files["report.pdf"]))
    pages = [page.extract_text() for page in reader.pages]
    text = "\n".join(pages)
    for value in (*record["evidence"]["hashes"].values(), "İş 2026/17 Bakı", "Aysel Məmmədova",
                  "şəhər", "ağrıyır", "Не бейте его", "-- **помогите** <b>", "Don't beat the child!",
                  "repetitive text (compression ratio 2.60)", "SPEAKER_1: 6.7 s", "scream: 1 (0:02.0)"):
        assert value in text, value
    for number, page in enumerate(pages, start=1):
        assert record["integrity"]["digest"] in page and f"page {number} of {len(pages)}" in page
    fonts = {font["/BaseFont"] for page in reader.pages
             for font in page["/Resources"]["/Font"].values() if "/BaseFont" in font.get_object()}
    assert fonts and all("DejaVu" in name for name in fonts)
    assert reader.metadata.creation_date.year == int(record["provenance"]["finished_utc"][:4])
    assert {"Transcript", "Events", "Method and known error rates"} <= {entry.title for entry in reader.outline}


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils pdftoppm not installed")
def test_pdf_pages_render_to_images(files, tmp_path):
    (tmp_path / "report.pdf").write_bytes(files["report.pdf"])
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True)
    from PIL import Image

    images = sorted(tmp_path.glob("page*.png"))
    assert len(images) == len(pypdf.PdfReader(tmp_path / "report.pdf").pages) >= 2
    first = np.asarray(Image.open(images[0]).convert("L"))
    assert (first < 128).mean() > 0.01  # ink on the cover, not a blank page


def test_srt_and_vtt_parse_with_speakers_and_times(full, files):
    record, _ = full
    segments = record["analysis"]["transcript"]["segments"]
    *cues, gap, note = list(srt.parse(files["transcript.srt"].decode("utf-8")))  # segments, untranscribed, explanation
    # the explanation of [?] hides no speech: the first cue starts at 0.5 s, so it comes after the last
    assert note.content == "[?] marks doubtful text (see the report)" and note.start == gap.end
    assert gap.content == "[speech not transcribed]" and gap.start.total_seconds() == 9.0
    # the first segment's last word is SPEAKER_2's: a cue of its own, from that word's time; the segment's
    # other cues (split at word times to fit their lines) cover the rest of it without a gap
    last_word = segments[0]["words"][-1]
    first = [c for c in cues if c.start.total_seconds() < segments[1]["start"]]
    times = [(c.start.total_seconds(), c.end.total_seconds()) for c in first]
    word_ends = {w["end"] for w in segments[0]["words"]}
    assert times[0][0] == segments[0]["start"] and times[-1] == (last_word["start"], segments[0]["end"])
    assert all(a[1] == b[0] or a[1] in word_ends for a, b in zip(times, times[1:]))
    assert [(c.start.total_seconds(), c.end.total_seconds()) for c in cues[len(first):]] == [
        (segments[1]["start"], segments[1]["end"])]
    assert first[0].content.startswith("SPEAKER_1: [?] Uşağı") and "Don't beat the child!" in " ".join(
        c.content for c in first)
    assert first[-1].content.startswith("SPEAKER_2: ölür.")  # no low-confidence word in this cue: no mark
    for cue in first:  # the mark only on cues holding a low-confidence word (segment 0 is not suspect)
        assert cue.content.split(": ", 1)[1].startswith("[?] ") == any(
            w in cue.content for w in LOW_WORDS), cue.content
    assert RUSSIAN in " ".join(cues[-1].content.split("\n")).replace("SPEAKER_2: ", "")
    vtt = webvtt.from_buffer(io.StringIO(files["transcript.vtt"].decode("utf-8")))
    assert vtt[0].start == "00:00:00.500" and ("00:00:03.500", "00:00:04.100") in [(c.start, c.end) for c in vtt]
    assert [c.voice for c in vtt][-3:-1] == ["SPEAKER_2", "SPEAKER_2"]
    assert (vtt[-2].start, vtt[-2].end) == ("00:00:05.000", "00:00:08.100")
    assert RUSSIAN in " ".join(html.unescape(vtt[-2].text).split("\n"))  # WebVTT escapes < > & as HTML entities


def test_txt_marks_low_confidence_words_and_suspect_segments(files):
    text = files["transcript.txt"].decode("utf-8")
    for word in LOW_WORDS:
        assert f"[?{word}]" in text
    assert "SPEAKER_1: [?] Uşağı döymə! [?Çox] ağrıyır, [?şəhər] [SPEAKER_2] ölür." in text  # speaker changes inside
    assert "[00:00:05.000 --> 00:00:08.100] SPEAKER_2: [?] " + RUSSIAN + " [SUSPECT: repetitive text (compression ratio 2.60)]" in text


def test_doubt_and_untranscribed_speech_show_in_every_format(full, files):
    """The [?] mark on doubtful cues and translations, its explanation, and the untranscribed speech,
    in SRT, VTT, TXT, HTML and PDF; the languages with their speech time and error-rate statement."""
    record, _ = full
    srt_text, vtt_text = files["transcript.srt"].decode("utf-8"), files["transcript.vtt"].decode("utf-8")
    txt = files["transcript.txt"].decode("utf-8")
    page = html.unescape(files["report.html"].decode("utf-8"))
    pdf_text = " ".join(_pdf_pages(files["report.pdf"])).replace("\n", " ")
    doubtful = "[?] Don't beat the child! It hurts a lot. (doubtful translation: length far from the original's)"
    for name, text in (("srt", srt_text), ("vtt", vtt_text), ("txt", txt), ("html", page)):
        assert "[speech not transcribed]" in text, name
        if name in ("srt", "vtt"):  # subtitles wrap the translation over the cues' lines
            assert "[?] Don't beat the child!" in text and "(doubtful translation: length far from" in text, name
        else:
            assert doubtful in text, name
    assert "[speech not transcribed]" in pdf_text and "doubtful translation" in pdf_text
    assert "NOTE [?] marks doubtful text" in vtt_text and "\n<v SPEAKER_1>[?] " in vtt_text
    assert "\n<v SPEAKER_2>[?] " in vtt_text  # the suspect segment
    assert "[00:00:09.000 --> 00:00:11.500] [speech not transcribed] (voice activity detection found speech" in txt
    assert "SPEAKER_1: [?] Uşağı" in txt
    language = [line for line in txt.splitlines() if line.startswith("Language: ")][0]
    assert language.startswith("Language: az (3.6 s of speech), ru (3.1 s of speech)")
    assert "az: error rate not measured for whisper-base" in language and "--model PATH" in language
    assert "Error rates: " in page and "--model PATH" in page


def test_no_speech_language_is_said_so(full):
    from evidence_audio.report.formats.view import language_summary

    record, _ = full
    transcript = dict(record["analysis"]["transcript"], language={"code": None, "probability": None, "forced": False,
                                                                    "top": [], "note": "not identified (no speech)"})
    assert language_summary({"analysis": {"transcript": transcript}}) == "not identified (no speech)"


def test_rttm_reads_back_as_the_speaker_turns(full, files, tmp_path):
    record, _ = full
    (tmp_path / "d.rttm").write_bytes(files["diarization.rttm"])
    (annotation,) = load_rttm(tmp_path / "d.rttm").values()
    turns = sorted((round(s.start, 3), round(s.end, 3), label) for s, _, label in annotation.itertracks(yield_label=True))
    assert turns == sorted((t["start"], t["end"], t["speaker"]) for t in record["analysis"]["speakers"]["turns"])


class _References(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.references = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.references += [value for name, value in attrs if name in ("src", "href", "srcset", "data", "action")]
        if tag == "script":
            self.references += [f"script with {name}" for name, _ in attrs]  # an inline script has none


def test_html_is_self_contained_and_escapes_the_transcript(full, files):
    record, _ = full
    page = files["report.html"].decode("utf-8")
    parser = _References()
    parser.feed(page)
    assert not {"link", "iframe", "object", "embed"} & set(parser.tags) and parser.tags.count("script") == 1
    assert parser.references and all(r.startswith(("#", "data:image/png;base64,", "data:audio/ogg;codecs=opus;base64,"))
                                     for r in parser.references)
    assert not re.search(r"url\(|@import|https?://|fetch\(|XMLHttpRequest|import\(", page.split("<body>")[0]
                         + page.split("<script>")[1])
    assert "img" in parser.tags and "<b>" not in page  # the transcript's "<b>" stays text
    assert "&lt;b&gt;" in page and AZERBAIJANI.split()[0] in page
    for word in LOW_WORDS:  # still marked, and a click plays each from its start
        start = next(w["start"] for w in record["analysis"]["transcript"]["segments"][0]["words"] if w["text"] == word)
        assert re.search(f'<span class="w low" data-t="{start:.3f}" data-end="[0-9.]+" title="low confidence">{word}</span>',
                         page)
    assert '<b class="turn">[SPEAKER_2]</b> <span class="w" data-t="3.500" data-end="4.100">ölür.</span>' in page
    assert page.count('class="suspect"') == 2 and record["integrity"]["digest"] in page  # + untranscribed speech
    assert '<a href="#segment-1">' in page  # the plea jumps to its transcript line
    # the scream at 2.0 s plays from its own time, not from the row it links to (0.5 s)
    assert '<a class="t" href="#event-1" data-t="2.000">00:00:02.000</a>' in page
    assert '<a class="jump" href="#event-1" data-t="2.000">0:02.0</a>' in page  # from the summary too


def _with_settings(record, **settings):
    body = {k: v for k, v in record.items() if k != "integrity"}
    return seal(dict(body, provenance=dict(body["provenance"], settings=dict(body["provenance"]["settings"], **settings))))


def test_listening_copy_is_the_analysis_signal_stated_and_listed(full, files, tmp_path):
    """The copy decodes to the analysis signal, aligned to the sample (click times hold), and the page
    states its hash, which the manifest lists too; rendering again gives the same bytes."""
    from evidence_audio.intake import decode_native
    from evidence_audio.report.formats import listening

    record, samples = full
    copy = files["listening-copy.opus"]
    digest = hashlib.sha256(copy).hexdigest()
    assert manifest.parse(files["manifest.sha256"].decode())["listening-copy.opus"] == digest
    page = files["report.html"].decode("utf-8")
    assert f'<span class="hash">{digest}</span>' in page and "for listening only" in page
    assert f"data:audio/ogg;codecs=opus;base64,{base64.b64encode(copy).decode()}" in page
    assert record["evidence"]["audio"]["analysis_sha256"] in page
    (tmp_path / "copy.opus").write_bytes(copy)
    decoded = decode_native(tmp_path / "copy.opus")
    assert decoded.codec == "opus" and 8 * len(copy) / 30.0 < 1.2 * listening.BIT_RATE
    heard = decoded.samples[:, 0][::3][:len(samples)]  # Opus decodes at 48 kHz
    assert abs(len(heard) - len(samples)) < 16
    lags = np.arange(-40, 41)
    scores = [float(np.dot(np.roll(heard, lag)[100:-100], samples[:len(heard)][100:-100])) for lag in lags]
    assert lags[int(np.argmax(scores))] == 0  # aligned within 1/16 ms
    assert np.corrcoef(heard[:len(samples)], samples[:len(heard)])[0, 1] > 0.9
    listening._last = None  # encode again, from scratch
    again = render_folder(record, samples.copy())
    assert again == files


def test_audio_can_be_left_out_or_linked(full):
    record, samples = full
    bare = render_folder(_with_settings(record, embed_audio=False), samples, ("html",))
    assert set(bare) == {"report.json", "report.html", "manifest.sha256"}
    page = bare["report.html"].decode("utf-8")
    assert "<audio" not in page and "<script" not in page and "No audio in this page" in page
    linked = render_folder(_with_settings(record, link_audio="../evidence files/call #1.wav"), samples, ("html",))
    page = linked["report.html"].decode("utf-8")
    assert "listening-copy.opus" not in linked and "data:audio" not in page
    assert '<audio id="audio" controls preload="auto" src="../evidence%20files/call%20%231.wav">' in page
    assert record["evidence"]["hashes"]["sha256"] in page
    page = render_folder(_with_settings(record, link_audio="https://example.org/a.wav"), samples, ("html",))["report.html"]
    assert b"example.org" not in page.split(b"No audio in this page")[0] and b"<audio" not in page
    without_samples = render_folder(record, None, ("html",))["report.html"].decode("utf-8")
    assert "rendered without the audio signal" in without_samples


def test_cli_links_the_original_instead_of_embedding(tmp_path):
    out = tmp_path / "report"
    result = subprocess.run([sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"), "-o",
                             str(out), "-q", "--no-diarize", "--no-events", "--no-authenticity", "--formats", "html",
                             "--link-audio", "../jfk.flac"], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["custody.jsonl", "manifest.sha256", "report.html", "report.json"]
    settings = json.loads((out / "report.json").read_text(encoding="utf-8"))["provenance"]["settings"]
    assert settings["link_audio"] == "../jfk.flac" and settings["embed_audio"] is False
    assert '<audio id="audio" controls preload="auto" src="../jfk.flac">' in (out / "report.html").read_text("utf-8")


def test_link_audio_refuses_urls_and_absolute_paths():
    for value in ("https://example.org/a.wav", "/evidence/a.wav", "file:///a.wav", "C:\\a.wav", " "):
        result = subprocess.run([sys.executable, "-m", "evidence_audio.cli", "analyze", str(EXAMPLES / "jfk.flac"),
                                 "--link-audio", value], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "is not a relative path" in result.stderr, (value, result.stderr)


# --- small parts ------------------------------------------------------------------------------------

def test_manifest_refuses_paths_outside_the_folder():
    with pytest.raises(ValueError):
        manifest.parse(f"{'0' * 64}  ../report.json\n")
    with pytest.raises(ValueError):
        manifest.parse("not a manifest line\n")
    assert manifest.parse(f"{'a' * 64} *report.json\n") == {"report.json": "a" * 64}


def test_error_rates_load_and_update(tmp_path):
    shipped = error_rates.load()
    assert shipped and all(m.values is None or set(m.values) <= set(m.metrics) for m in shipped)
    copy = tmp_path / "error_rates.json"
    shutil.copy(error_rates.DATA_PATH, copy)
    first = shipped[0]
    error_rates.record_measure(error_rates.Measure(first.id, first.task, first.metrics, {first.metrics[0]: 0.25}, 3,
                                                   first.dataset, benchmark="python benchmarks/x.py"), copy)
    updated = {m.id: m for m in error_rates.load(copy)}
    assert len(updated) == len(shipped)
    assert updated[first.id].summary().startswith(f"{first.metrics[0]}: 25.0 %")
    assert updated[first.id].measured_utc and updated[first.id].tool_version


def test_error_rate_per_language_measured_or_not(tmp_path):
    copy = tmp_path / "error_rates.json"
    shutil.copy(error_rates.DATA_PATH, copy)
    error_rates.record_measure(error_rates.Measure(
        "transcription/wer/mixed_languages", "mixed", ["WER, ru"], {"WER, ru": 0.25}, 1, "pisets_ru",
        conditions="faster-whisper whisper-base int8, the product's stage"), copy)
    russian = error_rates.language_error("whisper-base", "ru", copy)
    assert russian.measured and russian.text.startswith("ru: WER 25.0 % measured by this project") and not russian.weak
    azerbaijani = error_rates.language_error("whisper-base", "az", copy)
    assert azerbaijani.measured is None and azerbaijani.weak
    assert "not measured for whisper-base" in azerbaijani.text and "Radford" in azerbaijani.text
    assert "weak" in azerbaijani.text and "--model PATH" in azerbaijani.text
    other = error_rates.language_error("whisper-small", "ru", copy)  # measured on base, not on small
    assert other.measured is None and not other.weak
    published = tmp_path / "published.json"
    table = json.loads(error_rates.PUBLISHED_PATH.read_text(encoding="utf-8"))
    published.write_text(json.dumps(table | {"figures": {"base": {"az": {"WER": 0.5}}}}), encoding="utf-8")
    quoted = error_rates.language_error("whisper-base", "az", copy, published)
    assert "WER 50.0 % published (Radford" in quoted.text and quoted.weak


def test_pdf_shows_markup_characters_and_backslashes_literally(full):
    record, _ = full
    literal = ["C:\\path\\ end\\", "x -- y ** z __ w ~~ v", "a\\\\b \\-- c", "***x***", "\\\\\\**"]
    body = {k: v for k, v in record.items() if k != "integrity"}
    transcript = dict(body["analysis"]["transcript"])
    transcript["segments"] = [dict(transcript["segments"][1], text=" | ".join(literal),
                                   translation="trans \\ lation __x__\\")]
    text = "\n".join(_pdf_pages(BY_NAME["pdf"].render(seal(dict(body, analysis={"transcript": transcript})), None)))
    for value in literal + ["trans \\ lation __x__\\"]:
        assert value in text, value


def test_many_events_are_counted_in_the_summary_and_all_listed(full):
    """Hours of audio give hundreds of events: the summary counts them per category with the first
    few times (naming them all once made a PDF table row taller than a page), the tables list all."""
    record, _ = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    sounds = [{"class": "scream" if i % 3 else "cry", "start": 30.0 * i, "end": 30.0 * i + 1.5, "score": 0.8,
               "model": "test"} for i in range(480)]
    many = seal(dict(body, analysis=dict(body["analysis"], events=dict(body["analysis"]["events"], sound_events=sounds,
                                                                         transcript_cues=[]))))
    summary = "cry: 160 (0:00.0, 1:30.0, 3:00.0, 4:30.0, 6:00.0, ...); scream: 320 (0:30.0, 1:00.0, 2:00.0, 2:30.0"
    pdf_text = " ".join(" ".join(_pdf_pages(BY_NAME["pdf"].render(many, None))).split())
    assert summary in pdf_text and "3:59:30.000" in pdf_text
    page = BY_NAME["html"].render(many, None).decode("utf-8")
    assert 'cry: 160 (<a class="jump" href="#event-1" data-t="0.000">0:00.0</a>, <a class="jump" href="#event-4" data-t="90.000">1:30.0</a>' in page
    assert 'id="event-480"' in page and 'id="event-481"' not in page


def test_every_report_field_is_documented():
    """docs/record.md names every property the JSON Schemas of the report and the other sealed records allow."""
    schema = [json.loads(path.read_text(encoding="utf-8")) for path in (REPO / "evidence_audio" / "report").glob("*.json")]
    assert len(schema) == 4
    documented = set(re.findall(r"[\w.\[\]]+", " ".join(re.findall(r"`([^`]+)`", (REPO / "docs" / "record.md")
                                                                .read_text(encoding="utf-8")))))
    names = {part for name in documented for part in re.split(r"[.\[\]]+", name) if part}

    def properties(node):
        if isinstance(node, dict):
            yield from node.get("properties", {})
            for value in node.values():
                yield from properties(value)
        elif isinstance(node, list):
            for value in node:
                yield from properties(value)

    assert sorted(set(properties(schema)) - names) == []


def _font_alphabet() -> list[str]:
    """Characters every DejaVu face the PDF uses can draw: Latin, Greek, Cyrillic letters and digits
    (left-to-right, no combining marks, one code point a glyph), plus the markup characters."""
    import unicodedata

    from fontTools.ttLib import TTFont

    from evidence_audio.report.formats.pdf import FONT_DIR, FONTS

    covered = set.intersection(*(set(TTFont(FONT_DIR / name).getBestCmap()) for name in FONTS.values()))
    letters = [chr(c) for c in sorted(covered) if 0x30 <= c < 0x530 and unicodedata.category(chr(c))[0] in "LN"
               and not unicodedata.combining(chr(c)) and unicodedata.normalize("NFKC", chr(c)) == chr(c)]
    return letters + list("-_*~\\[](){}<>#`|!.,;:?'\"/@&%+=^$") * 4


def test_pdf_never_alters_transcript_text(full, tmp_path):
    """Property: random strings with markup characters, split into words of random confidence and
    speaker, come out of pdftotext exactly as in the record (whitespace aside)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils pdftotext not installed")
    rng = np.random.default_rng(20261201)
    alphabet = _font_alphabet()
    record, _ = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    fixed = ["по-магнитив", "a--b", "x---y", "__init__", "**bold**", "~~s~~", "[x](y)", "{nb}", "\\--", "a\\", "--"]
    segments, texts = [], []
    for number in range(40):
        tokens = [fixed[number]] if number < len(fixed) else [
            "".join(rng.choice(alphabet, size=int(rng.integers(1, 10)))) for _ in range(int(rng.integers(1, 9)))]
        words, start = [], float(number)
        for token in tokens:  # each token split into 1-3 recogniser pieces, as Whisper splits words
            speaker = str(rng.choice(["SPEAKER_1", "SPEAKER_2"]))
            cuts = sorted(set(rng.integers(1, len(token), size=int(rng.integers(0, 3))).tolist())) if len(token) > 1 else []
            for i, piece in enumerate(token[a:b] for a, b in zip([0, *cuts], [*cuts, len(token)])):
                words.append({"start": start, "end": start + 0.1, "text": (" " if i == 0 else "") + piece,
                              "probability": float(rng.choice([0.2, 0.9])),
                              "speaker": speaker, "overlap": False})
                start += 0.1
        text = " ".join(tokens)
        texts.append(text)
        segments.append({"id": number, "start": float(number), "end": start, "text": " " + text,
                         "speaker": "SPEAKER_1", "words": words, "suspect": False, "suspect_reasons": []})
    transcript = dict(body["analysis"]["transcript"], segments=segments)
    (tmp_path / "r.pdf").write_bytes(BY_NAME["pdf"].render(seal(dict(body, analysis={"transcript": transcript})), None))
    subprocess.run(["pdftotext", "-raw", "-enc", "UTF-8", str(tmp_path / "r.pdf"), str(tmp_path / "r.txt")], check=True)
    extracted = " ".join((tmp_path / "r.txt").read_text(encoding="utf-8").split())
    extracted = re.sub(r" ?\[SPEAKER_\d\] ?", " ", extracted)  # the speaker-change marks the PDF adds
    for text in texts:
        assert " ".join(text.split()) in extracted, text


def test_pdf_headings_stay_with_their_tables_and_every_footer_has_the_case(full):
    """Whatever the transcript's length, a heading is on the page where its table (or text) begins, the
    case reference is in every footer, and the examiner's statement block ends the report."""
    record, _ = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    template = body["analysis"]["transcript"]["segments"][1]
    first_rate = error_rates.load()[0].task
    for extra in range(16, 26):  # rows of about 10 mm move the later headings over a page foot (21, 22 stranded one)
        segments = [dict(template, id=i, start=10.0 + i, end=10.5 + i, text=" Line number %d of the test." % i,
                         suspect=False, suspect_reasons=[]) for i in range(extra)]
        transcript = dict(body["analysis"]["transcript"], segments=body["analysis"]["transcript"]["segments"] + segments)
        sealed = seal(dict(body, analysis=dict(body["analysis"], transcript=transcript)))
        reader = pypdf.PdfReader(io.BytesIO(BY_NAME["pdf"].render(sealed, None)))
        pages = [" ".join(page.extract_text().split()) for page in reader.pages]
        follows = {"Transcript": "00:00:00.500", "Events": "00:00:02.000", "Authenticity indicators": "Indicator",
                   "Measured error rates of this tool": first_rate, "Examiner's statement": "Signature",
                   "Limitations": "The transcript is made by a speech recogniser"}
        for entry in reader.outline:
            if entry.title in follows:
                page = pages[reader.get_destination_page_number(entry)]
                after = page[page.index(entry.title) + len(entry.title):]
                assert follows[entry.title] in after, (extra, entry.title, after[:200])
        assert all("case İş 2026/17 Bakı" in page for page in pages)
        assert pages[-1].split("Examiner's statement")[-1].split("record integrity")[0].strip().endswith("Signature")
        assert "Aysel Məmmədova" in pages[-1].split("Examiner's statement")[-1]


def test_report_wording_counts_limits_and_sample_sizes(full):
    """'1 segment' not '1 segments'; blows listed as not detected when the model cannot; every error-rate
    figure in the HTML and PDF with the number of clips, words or minutes it rests on."""
    record, _ = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    one = dict(body["analysis"]["transcript"], segments=body["analysis"]["transcript"]["segments"][1:])
    events = dict(body["analysis"]["events"], not_detected=["impact"], sound_events=[])
    sealed = seal(dict(body, analysis=dict(body["analysis"], transcript=one, events=events)))
    pdf_text = " ".join(" ".join(_pdf_pages(BY_NAME["pdf"].render(sealed, None))).split())
    page = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", BY_NAME["html"].render(sealed, None).decode())).split())
    for text in (pdf_text, page):
        assert "1 segment; 1 marked suspect; 0 words below probability" in text
        assert "Detected screams, shouting and crying are candidates" in text
        assert "This version does not detect blows (impact sounds) at all." in text
        assert "WER: 0.0 % (4 clips, 3 distinct utterances, 65 words, 0.5 min)" in text  # jfk.flac = jfk_16k.wav
        assert not re.search(r"\b1 (segments|items|words)\b", text)
        assert "thresholds scream 0.5" in text and "{'scream'" not in text  # no Python dict shown
    for measure in error_rates.load():
        for name in measure.values or {}:
            assert (measure.samples or {}).get(name), (measure.id, name)  # its own sample, never '<items> <unit>'
            assert re.search(rf"{re.escape(name)}: [\d.]+ % \(\d+ (\w+ )?(clips?|recordings?|sentences|reference events|detected events"
                             rf"|speech segments)\b", measure.summary()), (measure.id, name)
        assert "sample size not recorded" not in measure.summary()


def test_mixed_language_figures_rest_on_one_clip_each_of_one_recording(shared_eval):
    """The recording that changes language is one recording joined from one clip per language: each
    language's figure gives that clip's reference words (characters for ja/ko, as the benchmark scores
    them) and seconds, never '9 recordings'."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from mixed_language import build
    from asr import CHARACTER_LANGUAGES, normalise

    measure = {m.id: m for m in error_rates.load()}["transcription/wer/mixed_languages"]
    codes = [name.split(", ")[1] for name in measure.metrics if name[:4] in ("WER,", "CER,")]
    _, parts = build(codes, 2.5)
    assert measure.items == 1 and not re.search(r"\b([2-9]|\d\d+) recordings\b", measure.summary())
    for code, start, end, reference in parts:
        text = normalise(reference, code)
        size = f"{len(text.replace(' ', ''))} characters" if code in CHARACTER_LANGUAGES else f"{len(text.split())} words"
        name = f"{'CER' if code in CHARACTER_LANGUAGES else 'WER'}, {code}"
        assert measure.sample(name) == f"1 clip, {size}, {end - start:.1f} s, in 1 joined recording of {len(parts)} languages"
    assert measure.sample("language accuracy per segment").endswith(f"in 1 joined recording of {len(parts)} clips, "
                                                                    f"{(end + 2.5) / 60:.1f} min")


def test_english_language_line_quotes_the_largest_english_sample_without_ids(full, tmp_path):
    """An English report's Language line quotes the English figure on the most words, with its sample
    size and the row's task, says others exist, and shows no internal id of the table."""
    record, _ = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    transcript = dict(body["analysis"]["transcript"], language={"code": "en", "probability": 0.98, "forced": False},
                      languages=[{"code": "en", "talk_time_s": 7.0, "segments": 2}])
    sealed = seal(dict(body, analysis=dict(body["analysis"], transcript=transcript)))
    line = [x for x in BY_NAME["txt"].render(sealed, None).decode("utf-8").splitlines() if x.startswith("Language: ")][0]
    english = [(int(re.search(r"(\d+) words", m.sample(name)).group(1)), m, name)
               for m in error_rates.load() for name in m.language_figures_for("en")]
    assert len(english) >= 3  # asr_en_misc, NOIZEUS clean, the mixed-language recording's jfk part
    words, largest, name = max(english, key=lambda e: e[0])
    assert words > 65 and "22 words" not in line  # not the one jfk clip of the mixed-language recording
    assert (f"en: WER {100 * largest.values[name]:.1f} % measured by this project on {largest.sample(name)} "
            f"(error-rate table: '{largest.task}', {name}); {len(english) - 1} other en figures") in line
    page = html.unescape(BY_NAME["html"].render(sealed, None).decode())
    for measure in error_rates.load():
        assert measure.id not in line and measure.id not in page

    # in any order, the larger sample wins; a language in one row only names no others
    table = tmp_path / "error_rates.json"
    table.write_text(json.dumps({"format": error_rates.FORMAT, "measures": []}), encoding="utf-8")
    for id_, value, sample in (("a/small", 0.0, "1 clip, 22 words, 11.0 s"), ("b/large", 0.1, "30 clips, 400 words, 3.0 min"),
                               ("c/middle", 0.05, "4 clips, 65 words, 0.5 min")):
        error_rates.record_measure(error_rates.Measure(
            id_, f"task {id_}", ["WER, en", "WER, de"], {"WER, en": value, "WER, de": value}, 1, "data",
            conditions="faster-whisper whisper-base int8", samples={"WER, en": sample, "WER, de": sample}), table)
    chosen = error_rates.language_error("whisper-base", "en", table)
    assert chosen.text == ("en: WER 10.0 % measured by this project on 30 clips, 400 words, 3.0 min "
                           "(error-rate table: 'task b/large', WER, en); 2 other en figures on samples no larger in that table")
    assert "b/large" not in chosen.text.replace("'task b/large'", "")


def test_enf_figure_without_hum_says_so_in_words():
    from evidence_audio.authenticity import enf

    silence_with_noise = np.random.default_rng(0).normal(0, 0.01, 16000 * 20).astype(np.float32)
    block = enf.examine(silence_with_noise, 16000).to_record()
    assert not block["detected"]
    title = enf.figure(block).axes[0].get_title()
    assert title.startswith("No mains hum found") and "{" not in title and "below the" in title


def test_timeline_regions_lie_on_the_drawn_turns_and_events(full):
    """report.html lays its clickable regions over the figure: each must sit on what it stands for."""
    import matplotlib.colors
    import matplotlib.image

    from evidence_audio.report.formats import timeline

    record, samples = full
    png, regions = timeline.render_with_regions(record, samples)
    image = matplotlib.image.imread(io.BytesIO(png), format="png")[:, :, :3]
    height, width = image.shape[:2]
    colours = {"SPEAKER_1": timeline.LANE_COLOURS[0], "SPEAKER_2": timeline.LANE_COLOURS[1],
               **timeline.CATEGORY_COLOURS}
    kinds = [r.kind for r in regions]
    assert kinds.count("spectrogram") == 1 and kinds.count("turn") == 3 and kinds.count("event") == 3
    for region in regions:
        if region.kind == "spectrogram" or region.label not in colours:
            continue
        x = round((region.left + region.width / 2) * width / 100)
        y = round((region.top + region.height / 2) * height / 100)
        expected = np.array(matplotlib.colors.to_rgb(colours[region.label]))
        assert np.abs(image[y, x] - expected).max() < 0.05, region


def test_reassigned_turns_are_said_in_html_and_txt_and_conform(full):
    """Turns the diarization re-assigned from a raised voice to a calm speaker are said in the
    readable reports, and the record with them conforms to the schema."""
    record, _ = full
    body = {k: v for k, v in record.items() if k != "integrity"}
    moved = [{"start": 9.0, "end": 10.5, "to": "SPEAKER_1", "distance": 0.57, "level_difference_db": 23.1},
             {"start": 11.0, "end": 12.0, "to": "SPEAKER_1", "distance": 0.57, "level_difference_db": 23.1}]
    speakers = dict(body["analysis"]["speakers"], reassigned=moved)
    changed = seal(dict(body, analysis=dict(body["analysis"], speakers=speakers)))
    assert schema_errors(changed) == []
    line = "raising the voice"
    text = BY_NAME["txt"].render(changed, None).decode("utf-8")
    assert "2 turns (2.5 s) to SPEAKER_1" in text and line in text
    assert "2 turns (2.5 s) to SPEAKER_1" in BY_NAME["html"].render(changed, None).decode("utf-8")
    assert line not in BY_NAME["txt"].render(record, None).decode("utf-8")


def test_every_reason_to_doubt_the_schema_allows_is_said_in_words():
    """Each code of segments' and translations' suspect_reasons and of untranscribed_speech's reason has
    its sentence in the reports (none falls back to the bare code), long_word with the word's length."""
    from evidence_audio.report.formats.view import suspect_reason

    schema = json.loads((REPO / "evidence_audio" / "report" / "schema.json").read_text())
    found = []

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("suspect_reasons", "translation_suspect_reasons"):
                    found.extend(value["items"]["enum"])
                elif key == "untranscribed_speech":
                    found.extend(value["items"]["properties"]["reason"]["enum"])
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert "long_word" in found and "no_words_also_decoded_alone" in found
    segment = {"no_speech_prob": 0.7, "compression_ratio": 2.5, "avg_logprob": -1.2, "text": "to welcome",
               "removed_words": [{"reason": "outside_segment"}],
               "words": [{"start": 48.34, "end": 56.58}, {"start": 56.58, "end": 56.84}]}
    for code in found:
        assert suspect_reason(code, segment) != code.replace("_", " "), code
    assert suspect_reason("long_word", segment).startswith("a word spans 8.2 s")
