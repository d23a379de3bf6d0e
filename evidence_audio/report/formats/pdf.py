"""report.pdf: the report for filing, with the record's integrity digest, the case reference and page n of N
on every page, ending with a statement block for the examiner's signature. A section heading always
starts on the page that holds the beginning of what follows it.

The text is set in DejaVu Sans, embedded from matplotlib's own font folder, which covers
Latin (Azerbaijani ə ğ ı ş ç ö ü included), Cyrillic, Greek and more. Where the record holds
characters DejaVu lacks (Chinese, Japanese, Korean names or speech), Droid Sans Fallback (Debian's
fonts-droid-fallback, installed by install.sh) supplies them; a character no font covers is printed
as U+FFFD and a note near the top of the PDF names it. A table cell longer than MAX_CELL characters
(a tag of thousands) is cut with a visible note, as a row taller than a page cannot be set.
"""

from __future__ import annotations

import io
import json
import re
import struct
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
from fpdf import FPDF, FontFace
from fpdf.enums import MethodReturnValue, XPos, YPos

from ...escaping import printable
from . import method, timeline
from .view import (LOW_CONFIDENCE, authenticity, clock, cover_rows, digest, event_summary, events, language_summary,
                   model_rows, nothing, package_rows, short_clock, speaker_lanes, transcript_lines, transcript_summary)

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf",
         "BI": "DejaVuSans-BoldOblique.ttf"}
MONO = "DejaVuSansMono.ttf"
FALLBACK_FONTS = (Path("/usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf"),  # Hangul included
                  Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"))
REPLACEMENT = "\ufffd"
MAX_CELL = 600  # characters shown in one table cell
SUSPECT_FILL = (253, 226, 226)
HEADINGS = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
# The transcript table's styles are marked with control characters that never reach the page, so no
# text (runs of - _ * ~, backslashes, "[x](y)", "{nb}") can be read as markup: it prints as in report.json.
_BOLD, _ITALIC, _STRIKE, _UNDERLINE, _ESCAPE = "\x11\x11", "\x12\x12", "\x13\x13", "\x14\x14", "\x10"
_CONTROLS = re.compile("[\x10-\x14]")


def _escape(text: str) -> str:
    """Text shown literally in a markup-enabled cell (the control characters of the markers dropped)."""
    return _CONTROLS.sub("", text)


def _styled(text: str, marker: str) -> str:
    """Text between a pair of markers, its leading space kept outside them."""
    stripped = text.strip()
    if not stripped:
        return text
    return f"{text[:len(text) - len(text.lstrip())]}{marker}{_escape(stripped)}{marker}"


def _marked(line) -> str:
    """Segment text with low-confidence words underlined and speaker changes in bold; neighbouring
    fragments of one kind are marked as one run, so markers never touch."""
    markers = {"low": _UNDERLINE, "speaker": _BOLD}
    runs: list[tuple[str, str]] = []
    for fragment, kind in line.fragments():
        if runs and runs[-1][1] == kind:
            runs[-1] = (runs[-1][0] + fragment, kind)
        else:
            runs.append((fragment, kind))
    return "".join(_styled(piece, markers[kind]) if kind in markers else _escape(piece) for piece, kind in runs).strip()


def _fit(text) -> str:
    """A table cell's text, cut at MAX_CELL characters with a note saying how much is not shown."""
    text = str(text)
    if len(text) <= MAX_CELL:
        return text
    return f"{text[:MAX_CELL]} … [{len(text) - MAX_CELL} more characters not shown; the full text is in report.json]"


def _characters(value, found: set[str]) -> set[str]:
    """Every character of every string (keys included) in a record."""
    if isinstance(value, str):
        found.update(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _characters(key, found)
            _characters(item, found)
    elif isinstance(value, list):
        for item in value:
            _characters(item, found)
    return found


class UnicodeFPDF(FPDF):
    """An FPDF with DejaVu Sans ("DejaVu", styles "", B, I, BI) and DejaVu Sans Mono ("DejaVuMono") added, and
    the fallback fonts (FALLBACK_FONTS) where ``characters`` (every character the document will print) need
    them. ``unprintable``: the characters no font here covers, printed as REPLACEMENT (say so in the document).
    Other arguments go to FPDF."""

    def __init__(self, characters: set[str] = frozenset(), **kwargs):
        super().__init__(**kwargs)
        for style, name in FONTS.items():
            self.add_font("DejaVu", style, FONT_DIR / name)
        self.add_font("DejaVuMono", "", FONT_DIR / MONO)
        # characters that are drawn (control characters are shown escaped) and that DejaVu lacks
        lacking = {c for c in characters if unicodedata.category(c) not in ("Cc", "Cs", "Zl", "Zp")
                   and ord(c) not in self.fonts["dejavu"].cmap}
        fallbacks = []
        for number, path in enumerate(FALLBACK_FONTS):
            if lacking and path.is_file():
                self.add_font(f"fallback{number}", "", path)
                fallbacks.append(f"fallback{number}")
        if fallbacks:
            self.set_fallback_fonts(fallbacks, exact_match=False)
            lacking = {c for c in lacking if not any(ord(c) in self.fonts[key].cmap for key in fallbacks)}
        self.unprintable = frozenset(lacking)

    def normalize_text(self, text: str) -> str:
        if self.unprintable:
            text = "".join(REPLACEMENT if c in self.unprintable else c for c in text)
        return super().normalize_text(text)

    def unprintable_note(self, holders: str) -> str:
        """The note a document prints when ``unprintable`` is not empty; ``holders``: the files holding them exactly."""
        return (f"No font available here covers {len(self.unprintable)} character(s) of the record ("
                + ", ".join(f"U+{ord(c):04X}" for c in sorted(self.unprintable)[:8])
                + (", ..." if len(self.unprintable) > 8 else "") + f"); each is printed as {REPLACEMENT}. "
                f"{holders} hold them exactly.")


class _Report(UnicodeFPDF):
    MARKDOWN_BOLD_MARKER, MARKDOWN_ITALICS_MARKER = _BOLD, _ITALIC
    MARKDOWN_STRIKETHROUGH_MARKER, MARKDOWN_UNDERLINE_MARKER = _STRIKE, _UNDERLINE
    MARKDOWN_MARKERS = (_BOLD, _ITALIC, _STRIKE, _UNDERLINE)
    MARKDOWN_ESCAPE_CHARACTER = _ESCAPE
    MARKDOWN_LINK_REGEX = re.compile(r"(?!)")  # never: "[text](target)" in a transcript stays text

    def __init__(self, digest: str, file_name: str, case: str | None = None, characters: set[str] = frozenset()):
        super().__init__(characters, format="A4", unit="mm")
        self.alias_nb_pages("\x15\x15")  # the page count's placeholder, never in text ("{nb}" stays "{nb}")
        self.digest, self.file_name, self.case = digest, file_name, case
        self.set_auto_page_break(True, margin=18)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("DejaVuMono", size=7)
        self.set_text_color(60, 60, 60)
        stamp = f"record integrity SHA-256 {self.digest}"
        width = self.get_string_width(stamp) + 2
        self.cell(width, 4, stamp)
        self.set_font("DejaVu", size=7)
        self.cell(0, 4, self.fitted(f"case {self.case or '(not given)'}", self.epw - width), align="R",
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        name = self.file_name if len(self.file_name) <= 90 else self.file_name[:89] + "…"
        self.cell(self.epw - 30, 4, name)
        self.cell(30, 4, f"page {self.page_no()} of {self.str_alias_nb_pages}", align="R")
        self.set_text_color(0, 0, 0)

    def fitted(self, text: str, width: float) -> str:
        """``text`` cut short with "…" to fit ``width`` mm in the current font."""
        if self.get_string_width(text) <= width:
            return text
        while text and self.get_string_width(text + "…") > width:
            text = text[:-1]
        return text + "…"

    def text_height(self, text: str, width: float, line_height: float, size: float, style: str = "",
                    markdown: bool = False) -> float:
        """Height (mm) of ``text`` wrapped into ``width`` mm, as multi_cell and table cells set it."""
        self.set_font("DejaVu", style, size)
        lines = self.multi_cell(width, line_height, text, dry_run=True, output=MethodReturnValue.LINES,
                                markdown=markdown, padding=0)
        self.set_font("DejaVu", size=9)
        return len(lines) * line_height

    def rows_height(self, rows: list[tuple[str, ...]], widths: tuple[float, ...], size: float,
                    line_height: float | None = None, header: bool = False, markdown: bool = False) -> float:
        """Height (mm) of table rows (padding 1 mm) over the page width; ``header``: the first row is bold."""
        line_height = line_height or size * 0.5
        return sum(max(self.text_height(str(value), self.epw * w / sum(widths) - 2, line_height, size,
                                        "B" if header and i == 0 else "", markdown) for value, w in zip(row, widths)) + 2
                   for i, row in enumerate(rows))

    def heading(self, text: str, need: float = 30) -> None:
        """A section heading, on a new page unless it and `need` mm of what follows fit (callers give the
        height of what must stay with it: a table's heading row and first row, a paragraph)."""
        if self.get_y() + 11 + need > self.page_break_trigger:
            self.add_page()
        self.ln(3)
        self.start_section(text)  # an entry in the PDF's bookmarks
        self.set_font("DejaVu", "B", 13)
        self.cell(0, 8, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=9)

    def paragraph(self, text: str, size: float = 9, style: str = "") -> None:
        self.set_font("DejaVu", style, size)
        self.multi_cell(0, 4.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=9)

    def facts(self, rows: list[tuple[str, str]]) -> None:
        self.set_font("DejaVu", size=8.5)
        with self.table(col_widths=(1, 3), first_row_as_headings=False, line_height=4.6, padding=1,
                        text_align="LEFT") as table:
            for label, value in rows:
                row = table.row()
                row.cell(_fit(label), style=FontFace(emphasis="BOLD"))
                row.cell(_fit(value))

    def grid_need(self, header: tuple[str, ...], rows: list[tuple[str, ...]], widths: tuple[float, ...],
                  size: float = 8.5) -> float:
        """Height of a grid's heading row and first row: what a heading above it must keep with it."""
        return self.rows_height([header, *rows[:1]], widths, size, header=True) + 2

    def grid(self, header: tuple[str, ...], rows: list[tuple[str, ...]], widths: tuple[float, ...],
             size: float = 8.5) -> None:
        self.set_font("DejaVu", size=size)
        with self.table(col_widths=widths, headings_style=HEADINGS, line_height=size * 0.5, padding=1,
                        text_align="LEFT") as table:
            table.row(header)
            for values in rows:
                table.row(values)


def _creation_date(record: dict) -> datetime:
    """The analysis time, so the same record always gives the same PDF bytes."""
    stamp = (record.get("provenance") or {}).get("finished_utc") or "1970-01-01T00:00:00Z"
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=timezone.utc)


TRANSCRIPT_NOTE = (f"Underlined words were recognised with probability below {LOW_CONFIDENCE}. "
                   "A bold [SPEAKER_n] marks a change of speaker inside a segment. "
                   "Shaded rows are suspect segments, with the reasons.")
TRANSCRIPT_WIDTHS = (2.2, 2, 8)


def _transcript_rows(lines) -> list[tuple[str, str, str]]:
    """(time, speaker, marked text) per segment, the text with its translation and suspect reasons."""
    rows = []
    for line in lines:
        text = _marked(line)
        if line.translation:
            text += "\n" + _styled(line.translation.strip(), _ITALIC)
        if line.suspect:
            text += f"\n{_BOLD}suspect:{_BOLD} {_escape('; '.join(line.suspect_reasons))}"
        rows.append((f"{clock(line.start)}\n{clock(line.end)}", _escape(line.speaker or ""), text))
    return rows


def _transcript(pdf: _Report, record: dict) -> None:
    lines = transcript_lines(record)
    if not lines:
        pdf.heading("Transcript")
        pdf.paragraph(nothing(record, "transcript"))
        return
    rows = _transcript_rows(lines)
    header = ("Time", "Speaker", "Text" + (" / English translation" if any(l.translation for l in lines) else ""))
    pdf.heading("Transcript", need=pdf.text_height(TRANSCRIPT_NOTE, pdf.epw, 4.6, 8, "I")
                + pdf.rows_height([header, rows[0]], TRANSCRIPT_WIDTHS, 8.5, 4.3, header=True, markdown=True) + 2)
    pdf.paragraph(TRANSCRIPT_NOTE, size=8, style="I")
    pdf.set_font("DejaVu", size=8.5)
    with pdf.table(col_widths=TRANSCRIPT_WIDTHS, headings_style=HEADINGS, line_height=4.3, padding=1,
                   text_align="LEFT", markdown=True) as table:
        table.row(header)
        for line, values in zip(lines, rows):
            style = FontFace(fill_color=SUSPECT_FILL) if line.suspect else None
            row = table.row()
            for value in values:
                row.cell(value, style=style)


def _authenticity(pdf: _Report, record: dict) -> None:
    found = authenticity(record)
    if found is None:
        return
    header, widths = ("Indicator", "Result", "What it can show", "What it cannot show"), (2, 2.4, 3.8, 3.8)
    pdf.heading("Authenticity indicators", need=pdf.text_height(found.statement, pdf.epw, 4.6, 8.5) + 1
                + pdf.grid_need(header, found.indicators, widths, 7.5))
    pdf.paragraph(found.statement, size=8.5)
    pdf.ln(1)
    pdf.grid(header, found.indicators, widths, size=7.5)
    tables = []
    if found.findings:
        tables.append((("Metadata check", "Observation"),
                       [(check, _fit(note) + (" (worth an expert's attention)" if attention else ""))
                        for check, note, attention in found.findings], (1, 4)))
    if found.candidates:
        tables.append((("Time", "Discontinuity to examine", "Detail"),
                       [(clock(time), kind, detail) for time, kind, detail in found.candidates], (1.3, 2.2, 5)))
    for header, rows, widths in tables:
        if pdf.will_page_break(2 + pdf.grid_need(header, rows, widths)):
            pdf.add_page()
        else:
            pdf.ln(2)
        pdf.grid(header, rows, widths)


def _statement(pdf: _Report, record: dict) -> None:
    """The examiner's statement: what the signature covers, then name, case, date, place and signature."""
    provenance = record.get("provenance") or {}
    evidence = record.get("evidence") or {}
    name = printable(evidence.get("file_name", "?"))
    text = (f"I ran the analysis described in this report on the recording {name}, "
            "identified by the hashes on its first page. This report was generated from its sealed record, report.json, whose integrity digest is printed at the foot of "
            "every page. The automatic results are aids for a person listening to the recording, with the "
            "limitations stated above; they are not findings.")
    fields = [("Name", printable(provenance.get("examiner") or "")), ("Case", printable(provenance.get("case") or "")),
              ("Date", ""), ("Place", ""), ("Signature", "")]
    pdf.heading("Examiner's statement", need=pdf.text_height(text, pdf.epw, 4.6, 9) + 4 + 10 * len(fields))
    pdf.paragraph(text)
    pdf.ln(4)
    for label, value in fields:
        pdf.set_font("DejaVu", "B", 9)
        pdf.cell(25, 10, label, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font("DejaVu", size=9)
        pdf.cell(95, 10, pdf.fitted(value, 93), border="B", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render(record: dict, samples=None) -> bytes:
    file_name = printable((record.get("evidence") or {}).get("file_name", "?"))
    case = (record.get("provenance") or {}).get("case")
    pdf = _Report(digest(record), file_name, case and printable(case), _characters(record, set()))
    pdf.set_title(f"Audio evidence report: {file_name}")
    pdf.set_creator("evidence-audio")
    pdf.set_producer("evidence-audio (fpdf2)")
    pdf.set_creation_date(_creation_date(record))
    pdf.add_page()

    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 9, "Audio evidence report", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph("Generated from report.json, the sealed record of this analysis; its integrity digest "
                  "(SHA-256 of the record's RFC 8785 form) is printed at the foot of every page. "
                  "Check it with: evidence-audio verify <report folder> <recording>. This document cannot show "
                  "who made it: a signed folder holds statement.json.sig, an examiner's signature over the "
                  "SHA-256 of every file, this one included; evidence-audio verify <report folder> --key "
                  "<examiner.pub> names the signer.", size=8, style="I")
    if pdf.unprintable:
        pdf.paragraph(pdf.unprintable_note("report.json and report.html"), size=8, style="B")
    pdf.heading("Evidence and analysis")
    pdf.facts(cover_rows(record))

    lanes = speaker_lanes(record)
    found = events(record)
    lines = transcript_lines(record)
    summary = [
        ("Language", language_summary(record) or nothing(record, "transcript")),
        ("Speakers", "; ".join(lane.speaker + (f": {lane.talk_time_s:.1f} s" if lane.talk_time_s is not None else "")
                               for lane in lanes) or nothing(record, "speakers")),
        ("Distress events", "; ".join(f"{category}: {count} ("
                                      + ", ".join(short_clock(e.start) for _, e in first)
                                      + (", ..." if count > len(first) else "") + ")"
                                      for category, count, first in event_summary(found))
                            or nothing(record, "events")),
        ("Transcript", transcript_summary(lines)),
    ]
    pdf.heading("Summary", need=pdf.rows_height(summary, (1, 3), 8.5, 4.6))
    pdf.facts(summary)

    figure = timeline.render(record, samples)
    pixels_wide, pixels_high = struct.unpack(">II", figure[16:24])  # the PNG header's IHDR size
    pdf.heading("Timeline", need=pdf.epw * pixels_high / pixels_wide)
    pdf.image(io.BytesIO(figure), w=pdf.epw)

    _transcript(pdf, record)

    if found:
        header, widths = ("Time", "Kind", "Category", "Score", "Details"), (2.2, 1.2, 1.4, 1, 6.4)
        rows = [(f"{clock(e.start)}\n{clock(e.end)}", "sound" if e.kind == "sound" else "words", e.category,
                 f"{e.score:.2f}" if e.score is not None else "", f"{e.speaker or ''} {e.detail}".strip())
                for e in found]
        pdf.heading("Events", need=pdf.grid_need(header, rows, widths))
        pdf.grid(header, rows, widths)
    else:
        pdf.heading("Events", need=10)
        pdf.paragraph(nothing(record, "events"))

    _authenticity(pdf, record)

    stages = method.stages(record) + [("Settings", json.dumps((record.get("provenance") or {}).get("settings") or {},
                                                              sort_keys=True, ensure_ascii=False))]
    pdf.heading("Method and known error rates", need=pdf.rows_height(stages[:2], (1, 3), 8.5, 4.6))
    pdf.facts(stages)
    pdf.ln(2)
    models = model_rows(record)
    if models:
        pdf.grid(("Model", "File", "SHA-256"), models, (3, 3, 6), size=7.5)
    else:
        pdf.paragraph("No model was loaded.")
    pdf.ln(2)
    pdf.grid(("Package", "Version"), package_rows(record), (1, 1), size=7.5)
    header, rates, widths = ("Task", "Result", "Dataset", "How measured"), method.error_rate_rows(), (2.2, 2.6, 3.4, 3.8)
    pdf.heading("Measured error rates of this tool", need=pdf.grid_need(header, rates, widths, 7.5))
    pdf.grid(header, rates, widths, size=7.5)
    limits = method.limitations(record)
    pdf.heading("Limitations", need=pdf.text_height(f"• {limits[0]}", pdf.epw, 4.6, 8.5))
    for text in limits:
        pdf.paragraph(f"• {text}", size=8.5)
    _statement(pdf, record)
    return bytes(pdf.output())
