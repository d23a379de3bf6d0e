"""report.html: one self-contained page (styles, script, figure and listening copy inline, nothing loaded
from elsewhere).

The page plays the recording from any transcript segment or word, event, speaker turn or indicator
time (elements with a ``data-t`` attribute, in seconds); see listening.py for the audio it embeds.
Without JavaScript it reads as a static document. The same record and samples give the same bytes.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jinja2

from ...escaping import printable
from . import listening, method, timeline
from .view import (LOW_CONFIDENCE, authenticity, clock, cover_rows, digest, event_summary, events, language_summary,
                   model_rows, nothing, package_rows, reassigned_note, short_clock, speaker_lanes, transcript_lines,
                   transcript_summary)

_ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=False)


def _audio(record: dict, samples) -> dict:
    """What the page says and plays: mode "embed", "link" or "none", the src, and the statement."""
    mode, link = listening.presentation(record)
    copy = listening.listening_copy(record, samples)
    evidence = record.get("evidence") or {}
    if copy:
        return {"mode": "embed", "src": copy.data_uri, "sha256": copy.sha256, "file_name": listening.FILE_NAME,
                "codec": listening.CODEC, "bit_rate": listening.BIT_RATE, "size": len(copy.data),
                "analysis_sha256": (evidence.get("audio") or {}).get("analysis_sha256", "?")}
    if mode == "link":
        try:
            return {"mode": "link", "src": listening.link_url(link), "path": link,
                    "sha256": (evidence.get("hashes") or {}).get("sha256", "?")}
        except ValueError as exc:  # a record not written by analyze: never a URL in the page
            return {"mode": "none", "reason": f"the link to the recording was refused: {exc}"}
    return {"mode": "none", "reason": "no listening copy was asked for (--no-embed-audio)" if mode == "none"
            else "the page was rendered without the audio signal"}


def render(record: dict, samples=None) -> bytes:
    lines = transcript_lines(record)
    found = events(record)
    figure, regions = timeline.render_with_regions(record, samples)
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        digest=digest(record),
        file_name=printable((record.get("evidence") or {}).get("file_name", "?")),
        cover=cover_rows(record),
        language=language_summary(record),
        nothing={block: nothing(record, block) for block in ("transcript", "speakers", "events")},
        lanes=speaker_lanes(record),
        reassigned=reassigned_note(record),
        events=found,
        event_summary=event_summary(found),
        lines=lines,
        authenticity=authenticity(record),
        has_translation=any(line.translation for line in lines),
        transcript_summary=transcript_summary(lines),
        low_confidence=LOW_CONFIDENCE,
        timeline_png=base64.b64encode(figure).decode("ascii"),
        regions=regions,
        audio=_audio(record, samples),
        seconds=lambda t: f"{float(t or 0.0):.3f}",
        stages=method.stages(record),
        settings=json.dumps((record.get("provenance") or {}).get("settings") or {}, sort_keys=True, ensure_ascii=False),
        models=model_rows(record),
        packages=package_rows(record),
        rates=method.error_rate_rows(),
        limitations=method.limitations(record),
        clock=clock,
        short_clock=short_clock,
    )
    return page.encode("utf-8")
