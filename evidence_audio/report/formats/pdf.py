"""report.pdf: the report for filing, with the record's integrity digest and page n of N on every page.

The text is set in DejaVu Sans, embedded from matplotlib's own font folder, which covers
Latin (Azerbaijani ə ğ ı ş ç ö ü included), Cyrillic, Greek and more.
"""

from __future__ import annotations

import io
import json
import re
import struct
from datetime import datetime, timezone
from pathlib import Path

import matplotlib
from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

from . import method, timeline
from .view import (LOW_CONFIDENCE, authenticity, clock, cover_rows, digest, event_summary, events, language_summary,
                   model_rows, nothing, package_rows, short_clock, speaker_lanes, transcript_lines)

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf", "I": "DejaVuSans-Oblique.ttf",
         "BI": "DejaVuSans-BoldOblique.ttf"}
MONO = "DejaVuSansMono.ttf"
SUSPECT_FILL = (253, 226, 226)
HEADINGS = FontFace(emphasis="BOLD", fill_color=(235, 235, 235))
_MARKUP = re.compile(r"(\*\*|__|~~|--)")


def _escape(text: str) -> str:
    """Text for a markdown-enabled cell, shown literally: backslashes doubled, markers escaped (fpdf2 rules)."""
    return _MARKUP.sub(r"\\\1", text.replace("\\", "\\\\"))


def _styled(text: str, marker: str) -> str:
    """Text between a pair of markdown markers, its leading space kept outside them."""
    stripped = text.strip()
    if not stripped:
        return text
    return f"{text[:len(text) - len(text.lstrip())]}{marker}{_escape(stripped)}{marker}"


def _marked(line) -> str:
    """Segment text with low-confidence words underlined and speaker changes in bold (fpdf2 markdown)."""
    markers = {"low": "--", "speaker": "**"}
    return "".join(_styled(piece, markers[kind]) if kind in markers else _escape(piece)
                   for piece, kind in line.pieces()).strip()


class _Report(FPDF):
    def __init__(self, digest: str, file_name: str):
        super().__init__(format="A4", unit="mm")
        self.digest, self.file_name = digest, file_name
        for style, name in FONTS.items():
            self.add_font("DejaVu", style, FONT_DIR / name)
        self.add_font("DejaVuMono", "", FONT_DIR / MONO)
        self.set_auto_page_break(True, margin=18)
        self.set_margins(15, 15, 15)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font("DejaVuMono", size=7)
        self.set_text_color(60, 60, 60)
        self.cell(0, 4, f"record integrity SHA-256 {self.digest}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", size=7)
        name = self.file_name if len(self.file_name) <= 90 else self.file_name[:89] + "…"
        self.cell(self.epw - 30, 4, name)
        self.cell(30, 4, f"page {self.page_no()} of {{nb}}", align="R")
        self.set_text_color(0, 0, 0)

    def heading(self, text: str, need: float = 30) -> None:
        """A section heading, on a new page unless it and `need` mm of what follows fit."""
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
                row.cell(label, style=FontFace(emphasis="BOLD"))
                row.cell(str(value))

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


def _transcript(pdf: _Report, record: dict) -> None:
    lines = transcript_lines(record)
    if not lines:
        pdf.paragraph(nothing(record, "transcript"))
        return
    pdf.paragraph(f"Underlined words were recognised with probability below {LOW_CONFIDENCE}. "
                  "A bold [SPEAKER_n] marks a change of speaker inside a segment. "
                  "Shaded rows are suspect segments, with the reasons.", size=8, style="I")
    pdf.set_font("DejaVu", size=8.5)
    with pdf.table(col_widths=(2.2, 2, 8), headings_style=HEADINGS, line_height=4.3, padding=1,
                   text_align="LEFT", markdown=True) as table:
        table.row(("Time", "Speaker", "Text" + (" / English translation" if any(l.translation for l in lines) else "")))
        for line in lines:
            style = FontFace(fill_color=SUSPECT_FILL) if line.suspect else None
            row = table.row()
            row.cell(f"{clock(line.start)}\n{clock(line.end)}", style=style)
            row.cell(_escape(line.speaker or ""), style=style)
            text = _marked(line)
            if line.translation:
                text += "\n" + _styled(line.translation.strip(), "__")
            if line.suspect:
                text += f"\n**suspect:** {_escape('; '.join(line.suspect_reasons))}"
            row.cell(text, style=style)


def _authenticity(pdf: _Report, record: dict) -> None:
    found = authenticity(record)
    if found is None:
        return
    pdf.heading("Authenticity indicators")
    pdf.paragraph(found.statement, size=8.5)
    pdf.ln(1)
    pdf.grid(("Indicator", "Result", "What it can show", "What it cannot show"), found.indicators, (2, 2.4, 3.8, 3.8),
             size=7.5)
    if found.findings:
        pdf.ln(2)
        pdf.grid(("Metadata check", "Observation"),
                 [(check, note + (" (worth an expert's attention)" if attention else ""))
                  for check, note, attention in found.findings], (1, 4))
    if found.candidates:
        pdf.ln(2)
        pdf.grid(("Time", "Discontinuity to examine", "Detail"),
                 [(clock(time), kind, detail) for time, kind, detail in found.candidates], (1.3, 2.2, 5))


def render(record: dict, samples=None) -> bytes:
    file_name = (record.get("evidence") or {}).get("file_name", "?")
    pdf = _Report(digest(record), file_name)
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
    pdf.heading("Evidence and analysis")
    pdf.facts(cover_rows(record))

    pdf.heading("Summary")
    lanes = speaker_lanes(record)
    found = events(record)
    lines = transcript_lines(record)
    pdf.facts([
        ("Language", language_summary(record) or nothing(record, "transcript")),
        ("Speakers", "; ".join(lane.speaker + (f": {lane.talk_time_s:.1f} s" if lane.talk_time_s is not None else "")
                               for lane in lanes) or nothing(record, "speakers")),
        ("Distress events", "; ".join(f"{category}: {count} ("
                                      + ", ".join(short_clock(e.start) for _, e in first)
                                      + (", ..." if count > len(first) else "") + ")"
                                      for category, count, first in event_summary(found))
                            or nothing(record, "events")),
        ("Transcript", f"{len(lines)} segments; {sum(l.suspect for l in lines)} marked suspect; "
                       f"{sum(len(l.low_confidence_words) for l in lines)} words below probability {LOW_CONFIDENCE}"),
    ])

    figure = timeline.render(record, samples)
    pixels_wide, pixels_high = struct.unpack(">II", figure[16:24])  # the PNG header's IHDR size
    pdf.heading("Timeline", need=pdf.epw * pixels_high / pixels_wide)
    pdf.image(io.BytesIO(figure), w=pdf.epw)

    pdf.heading("Transcript")
    _transcript(pdf, record)

    pdf.heading("Events")
    if found:
        pdf.grid(("Time", "Kind", "Category", "Score", "Details"),
                 [(f"{clock(e.start)}\n{clock(e.end)}", "sound" if e.kind == "sound" else "words", e.category,
                   f"{e.score:.2f}" if e.score is not None else "", f"{e.speaker or ''} {e.detail}".strip())
                  for e in found], (2.2, 1.2, 1.4, 1, 6.4))
    else:
        pdf.paragraph(nothing(record, "events"))

    _authenticity(pdf, record)

    pdf.heading("Method and known error rates")
    pdf.facts(method.stages(record) + [("Settings", json.dumps((record.get("provenance") or {}).get("settings") or {},
                                                               sort_keys=True, ensure_ascii=False))])
    pdf.ln(2)
    models = model_rows(record)
    if models:
        pdf.grid(("Model", "File", "SHA-256"), models, (3, 3, 6), size=7.5)
    else:
        pdf.paragraph("No model was loaded.")
    pdf.ln(2)
    pdf.grid(("Package", "Version"), package_rows(record), (1, 1), size=7.5)
    pdf.heading("Measured error rates of this tool")
    pdf.grid(("Task", "Result", "Dataset", "How measured"), method.error_rate_rows(), (2.2, 2, 4, 3.8), size=7.5)
    pdf.heading("Limitations")
    for text in method.LIMITATIONS:
        pdf.paragraph(f"• {text}", size=8.5)
    return bytes(pdf.output())
