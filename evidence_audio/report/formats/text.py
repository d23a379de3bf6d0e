"""transcript.txt: the transcript as plain UTF-8 text, one segment a line, with its provenance."""

from __future__ import annotations

from ...escaping import printable
from .view import (DOUBT_MARK, DOUBT_NOTE, LOW_CONFIDENCE, clock, digest, events, language_summary, nothing,
                   reassigned_note, transcript_lines)


def marked_text(line) -> str:
    """The segment text with low-confidence words in [?brackets]."""
    return "".join(f"[?{fragment}]" if kind == "low" else fragment for fragment, kind in line.fragments()).strip()


def render(record: dict, samples=None) -> bytes:
    evidence = record.get("evidence") or {}
    out = [
        f"Transcript of {printable(evidence.get('file_name', '?'))}",
        f"Recording SHA-256: {(evidence.get('hashes') or {}).get('sha256', '?')}",
        f"Report integrity SHA-256: {digest(record)}",
        f"Words in [?brackets] were recognised with probability below {LOW_CONFIDENCE}; "
        "lines marked SUSPECT may be recogniser errors: check them against the recording.",
        DOUBT_NOTE,
        f"Language: {language_summary(record) or nothing(record, 'transcript')}",
        *([reassigned_note(record)] if reassigned_note(record) else []),
        "",
    ]
    lines = transcript_lines(record)
    if not lines:
        out.append(nothing(record, "transcript"))
    for line in lines:
        speaker = f" {line.speaker}:" if line.speaker else ""
        if line.untranscribed:
            out.append(f"[{clock(line.start)} --> {clock(line.end)}] {line.text} ({'; '.join(line.suspect_reasons)})")
            continue
        suspect = f" [SUSPECT: {'; '.join(line.suspect_reasons)}]" if line.suspect else ""
        mark = f"{DOUBT_MARK} " if line.doubtful else ""
        out.append(f"[{clock(line.start)} --> {clock(line.end)}]{speaker} {mark}{marked_text(line)}{suspect}")
        if line.translation:
            out.append(f"    (English) {line.translation.strip()}")
    found = events(record)
    if found:
        out += ["", "Events"]
        out += [f"[{clock(e.start)} --> {clock(e.end)}] {e.kind} {e.category}"
                + (f" score {e.score:.2f}" if e.score is not None else "")
                + (f" {e.speaker}" if e.speaker else "") + f": {e.detail}" for e in found]
    return ("\n".join(out) + "\n").encode("utf-8")
