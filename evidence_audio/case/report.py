"""``case report``: the index of a case as one HTML page and one PDF (case-report.html, case-report.pdf).

One row per recording: file name, size, SHA-256 / SHA-1 / MD5, state, decoded duration,
language, speaker count, events, and a link to its report folder (or the reason it failed).
A stage switched off in the case's settings reads "did not run", never "none" (it ran, found nothing).
Names, case and examiner are shown escaped (``escaping.printable``); the index keeps them exactly.
Both files are written atomically into the case folder, replacing the previous index.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

from .. import __version__
from ..escaping import printable
from . import index, write_atomic

COLUMNS = ("File", "Hashes", "State", "Duration", "Language", "Speakers", "Events", "Report")
DID_NOT_RUN = "did not run"
LEGEND = (f"'{DID_NOT_RUN}': the stage was switched off in the case's settings, nothing was looked for; "
          "'none': it ran and found nothing; '-': the recording is not analysed.")


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes // 60)}:{int(minutes % 60):02d}:{rest:06.3f}"


def _found(r: dict, count: int | None, detail: str = "") -> str:
    """A stage's cell: what it found ('none' for nothing), DID_NOT_RUN where it was off, '-' before analysis."""
    if r["state"] != "done":
        return "-"
    if count is None:
        return DID_NOT_RUN
    return detail or (str(count) if count else "none")


def rows(db) -> list[dict]:
    """Every recording of the case with what its report says, every text shown escaped (``printable``):
    ``languages_shown``, ``speakers_shown``, ``events_shown`` (counts by class) as ``_found`` gives them."""
    found = []
    for row in db.execute("SELECT * FROM recordings ORDER BY name, id"):
        classes = db.execute("SELECT class, COUNT(*) n FROM events WHERE recording_id = ? GROUP BY class ORDER BY class",
                             (row["id"],)).fetchall()
        r = dict(row)
        shown = {k: printable(r[k] or "") for k in ("name", "path", "failure")}
        shown["failure"] = shown["failure"].replace(shown["path"], shown["name"])  # no folder: it can name a source
        found.append({**r, **shown,
                      "languages_shown": _found(r, 0, printable(r["languages"] or "")),  # transcription always runs
                      "speakers_shown": _found(r, r["speakers"]),
                      "events_shown": printable(_found(r, r["events"], ", ".join(f"{c['class']} {c['n']}"
                                                                                  for c in classes)))})
    return found


def render_html(info: dict, recordings: list[dict], generated: str) -> str:
    def e(text) -> str:
        return html.escape(printable(text))

    body = []
    for r in recordings:
        report = (f'<a href="{e(quote(r["report"]))}/report.html">{e(r["report"])}</a>' if r["state"] == "done"
                  else e(r["failure"] or "not analysed yet"))
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in (
            f"{e(r['name'])}<br><small>{r['size_bytes']} bytes</small>",  # no folder: it can name a source
            f"<code>SHA-256 {r['sha256']}<br>SHA-1 {r['sha1']}<br>MD5 {r['md5']}</code>",
            e(r["state"]), _clock(r["duration_s"]), e(r["languages_shown"]), e(r["speakers_shown"]),
            e(r["events_shown"]), report)) + "</tr>")
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
the measured error rates. {e(LEGEND)} Settings of every analysis: <code>{e(str(info.get('settings')))}</code>.</p>
<table><thead><tr>{''.join(f'<th>{c}</th>' for c in COLUMNS)}</tr></thead><tbody>
{chr(10).join(body)}
</tbody></table></body></html>
"""


def render_pdf(info: dict, recordings: list[dict], generated: str) -> bytes:
    """case-report.pdf, landscape A4, in the report PDF's fonts (Chinese, Japanese, Korean names included;
    a character no font covers printed as U+FFFD with a note)."""
    from ..report.formats.pdf import UnicodeFPDF

    title = printable(f"Case {info.get('case') or '(no reference)'}")
    intro = printable(f"Examiner: {info.get('examiner') or '(not given)'}. Opened {info.get('created_utc', '?')}; "
                      f"index generated {generated} by evidence-audio {__version__}. Each report folder is sealed: "
                      f"check it with 'evidence-audio verify FOLDER RECORDING'. {LEGEND}")
    table_rows = [COLUMNS] + [(
        f"{r['name']}\n{r['size_bytes']} bytes", f"SHA-256 {r['sha256']}\nSHA-1 {r['sha1']}\nMD5 {r['md5']}",
        r["state"], _clock(r["duration_s"]), r["languages_shown"], r["speakers_shown"], r["events_shown"],
        f"{printable(r['report'])}/report.pdf" if r["state"] == "done" else (r["failure"] or "not analysed yet"))
        for r in recordings]
    pdf = UnicodeFPDF(set(title + intro + "".join("".join(row) for row in table_rows)), orientation="landscape",
                      format="A4")
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 14)
    pdf.cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=8)
    pdf.multi_cell(0, 4, intro, new_x="LMARGIN", new_y="NEXT")
    if pdf.unprintable:
        pdf.set_font("DejaVu", "B", 8)
        pdf.multi_cell(0, 4, pdf.unprintable_note("case-report.html and case.sqlite"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("DejaVu", size=7)
    with pdf.table(col_widths=(40, 80, 14, 20, 18, 16, 30, 59), text_align="LEFT", line_height=3.2) as table:
        for row in table_rows:
            table.row(row)
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
        write_atomic(folder / name, data)
        written.append(folder / name)
    return written
