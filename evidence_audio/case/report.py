"""``case report``: the index of a case as one HTML page and one PDF (case-report.html, case-report.pdf).

One row per recording: file name, size, SHA-256 / SHA-1 / MD5, state, decoded duration,
language, speaker count, events, and a link to its report folder (or the reason it failed).
Both files are written atomically into the case folder, replacing the previous index.
"""

from __future__ import annotations

import html
import os
import tempfile
from pathlib import Path

from .. import __version__
from . import index

COLUMNS = ("File", "Hashes", "State", "Duration", "Language", "Speakers", "Events", "Report")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes // 60)}:{int(minutes % 60):02d}:{rest:06.3f}"


def rows(db) -> list[dict]:
    """Every recording of the case with what its report says (events: counts by class)."""
    found = []
    for row in db.execute("SELECT * FROM recordings ORDER BY name, id"):
        classes = db.execute("SELECT class, COUNT(*) n FROM events WHERE recording_id = ? GROUP BY class ORDER BY class",
                             (row["id"],)).fetchall()
        found.append({**dict(row), "event_classes": ", ".join(f"{c['class']} {c['n']}" for c in classes)})
    return found


def _write_atomic(path: Path, data: bytes) -> None:
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(staging, 0o644)
    os.replace(staging, path)


def render_html(info: dict, recordings: list[dict], generated: str) -> str:
    e = html.escape
    body = []
    for r in recordings:
        report = (f'<a href="{e(r["report"])}/report.html">{e(r["report"])}</a>' if r["state"] == "done"
                  else e(r["failure"] or "not analysed yet"))
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in (
            f"{e(r['name'])}<br><small>{e(r['path'])}<br>{r['size_bytes']} bytes</small>",
            f"<code>SHA-256 {r['sha256']}<br>SHA-1 {r['sha1']}<br>MD5 {r['md5']}</code>",
            e(r["state"]), _clock(r["duration_s"]), e(r["languages"] or "-"),
            "-" if r["speakers"] is None else r["speakers"],
            e(r["event_classes"] or ("none" if r["events"] == 0 else "-")), report)) + "</tr>")
    counts = {s: sum(r["state"] == s for r in recordings) for s in ("done", "failed", "pending")}
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Case {e(info.get('case') or '')}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #bbb;
padding:4px;vertical-align:top;font-size:90%}}code{{font-size:85%}}</style></head><body>
<h1>Case {e(info.get('case') or '(no reference)')}</h1>
<p>Examiner: {e(info.get('examiner') or '(not given)')}. Case opened {e(info.get('created_utc', '?'))}; this index
generated {e(generated)} by evidence-audio {__version__}. {len(recordings)} recordings: {counts['done']} analysed,
{counts['failed']} failed, {counts['pending']} not analysed yet.</p>
<p>Each report folder is sealed: check it with <code>evidence-audio verify FOLDER RECORDING</code>. Events are
counted by class (sound events and transcript cues); the report of each recording gives their times and
the measured error rates. Settings of every analysis: <code>{e(str(info.get('settings')))}</code>.</p>
<table><thead><tr>{''.join(f'<th>{c}</th>' for c in COLUMNS)}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""


def render_pdf(info: dict, recordings: list[dict], generated: str) -> bytes:
    from fpdf import FPDF

    from ..report.formats.pdf import FONT_DIR, FONTS, MONO

    pdf = FPDF(orientation="landscape", format="A4")
    for style, name in FONTS.items():
        pdf.add_font("DejaVu", style, FONT_DIR / name)
    pdf.add_font("DejaVuMono", "", FONT_DIR / MONO)
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 8, f"Case {info.get('case') or '(no reference)'}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=8)
    pdf.multi_cell(0, 4, f"Examiner: {info.get('examiner') or '(not given)'}. Opened {info.get('created_utc', '?')}; "
                         f"index generated {generated} by evidence-audio {__version__}. Each report folder is sealed: "
                         f"check it with 'evidence-audio verify FOLDER RECORDING'.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", size=7)
    with pdf.table(col_widths=(40, 80, 12, 20, 18, 16, 30, 61), text_align="LEFT", line_height=3.2) as table:
        table.row(COLUMNS)
        for r in recordings:
            table.row((f"{r['name']}\n{r['size_bytes']} bytes",
                       f"SHA-256 {r['sha256']}\nSHA-1 {r['sha1']}\nMD5 {r['md5']}", r["state"], _clock(r["duration_s"]),
                       r["languages"] or "-", "-" if r["speakers"] is None else str(r["speakers"]),
                       r["event_classes"] or ("none" if r["events"] == 0 else "-"),
                       f"{r['report']}/report.pdf" if r["state"] == "done" else (r["failure"] or "not analysed yet")))
    return bytes(pdf.output())


def write_case_report(folder: Path) -> list[Path]:
    """Write case-report.html and case-report.pdf into the case folder; returns their paths."""
    folder = Path(os.path.abspath(folder))
    db = index.connect(folder)
    try:
        info, recordings = index.info(db), rows(db)
    finally:
        db.close()
    generated = index.utc_now()
    written = []
    for name, data in (("case-report.html", render_html(info, recordings, generated).encode("utf-8")),
                       ("case-report.pdf", render_pdf(info, recordings, generated))):
        _write_atomic(folder / name, data)
        written.append(folder / name)
    return written
