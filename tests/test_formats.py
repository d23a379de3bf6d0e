"""The human-readable report files: PDF, HTML, SRT/VTT/TXT, RTTM, the manifest, and --formats.

Two inputs: the real pipeline run on examples/jfk.flac by the CLI (whatever stages it has), and a
record sealed here around the real intake of examples/sample.wav with every analysis block filled in,
Azerbaijani and Cyrillic text included. That second record is test input for the renderers (fonts,
escaping, marking), not an analysis result.
"""

from __future__ import annotations

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
    assert set(listed) == names - {"manifest.sha256"}


@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="coreutils sha256sum not installed")
def test_manifest_checks_with_sha256sum(analysed):
    result = subprocess.run(["sha256sum", "--strict", "-c", "manifest.sha256"], cwd=analysed, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == len(list(analysed.iterdir())) - 1


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
    assert set(failed) == {"folder files"}
    assert "changed: report.html" in failed["folder files"] and "not listed: notes.txt" in failed["folder files"]
    (copy / "manifest.sha256").unlink()
    assert [c.name for c in verify(copy) if not c.passed] == ["folder manifest"]


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
    note, *cues, gap = list(srt.parse(files["transcript.srt"].decode("utf-8")))  # explanation, segments, untranscribed
    assert "[?] marks doubtful text" in note.content and note.start.total_seconds() == 0
    assert [c.start.total_seconds() for c in cues] == [s["start"] for s in segments]
    assert [c.end.total_seconds() for c in cues] == [s["end"] for s in segments]
    assert cues[0].content.startswith("SPEAKER_1: [?] " + AZERBAIJANI) and "Don't beat the child!" in cues[0].content
    assert RUSSIAN in cues[1].content
    assert gap.content == "[speech not transcribed]" and gap.start.total_seconds() == 9.0
    vtt = webvtt.from_buffer(io.StringIO(files["transcript.vtt"].decode("utf-8")))
    assert [(c.start, c.end) for c in vtt][:2] == [("00:00:00.500", "00:00:04.100"), ("00:00:05.000", "00:00:08.100")]
    assert vtt[0].voice == "SPEAKER_1" and vtt[1].voice == "SPEAKER_2"
    assert RUSSIAN in html.unescape(vtt[1].text)  # WebVTT escapes < > & as HTML entities


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


def test_html_is_self_contained_and_escapes_the_transcript(full, files):
    record, _ = full
    page = files["report.html"].decode("utf-8")
    parser = _References()
    parser.feed(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parser.tags)
    assert parser.references and all(r.startswith(("#", "data:image/png;base64,")) for r in parser.references)
    assert not re.search(r"url\(|@import|https?://", page.split("<body>")[0])
    assert "img" in parser.tags and "<b>" not in page  # the transcript's "<b>" stays text
    assert "&lt;b&gt;" in page and AZERBAIJANI.split()[0] in page
    for word in LOW_WORDS:
        assert f'<span class="low" title="low confidence">{word}</span>' in page
    assert '<b class="turn">[SPEAKER_2]</b> ölür.' in page
    assert page.count('class="suspect"') == 2 and record["integrity"]["digest"] in page  # + untranscribed speech
    assert '<a href="#segment-1">' in page  # the plea jumps to its transcript line


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
    assert 'cry: 160 (<a href="#event-1">0:00.0</a>, <a href="#event-4">1:30.0</a>' in page
    assert 'id="event-480"' in page and 'id="event-481"' not in page


def test_every_report_field_is_documented():
    """docs/record.md names every property the record's JSON Schema allows."""
    schema = json.loads((REPO / "evidence_audio" / "report" / "schema.json").read_text(encoding="utf-8"))
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
