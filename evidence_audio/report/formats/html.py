"""report.html: one self-contained page (styles and figure inline, nothing loaded from elsewhere)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jinja2

from ...escaping import printable
from . import method, timeline
from .view import (LOW_CONFIDENCE, authenticity, clock, cover_rows, digest, event_summary, events, language_summary,
                   model_rows, nothing, package_rows, short_clock, speaker_lanes, transcript_lines, transcript_summary)

_ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True,
                                  undefined=jinja2.StrictUndefined, trim_blocks=False)


def render(record: dict, samples=None) -> bytes:
    lines = transcript_lines(record)
    found = events(record)
    page = _ENVIRONMENT.get_template("report.html.j2").render(
        digest=digest(record),
        file_name=printable((record.get("evidence") or {}).get("file_name", "?")),
        cover=cover_rows(record),
        language=language_summary(record),
        nothing={block: nothing(record, block) for block in ("transcript", "speakers", "events")},
        lanes=speaker_lanes(record),
        events=found,
        event_summary=event_summary(found),
        lines=lines,
        authenticity=authenticity(record),
        has_translation=any(line.translation for line in lines),
        transcript_summary=transcript_summary(lines),
        low_confidence=LOW_CONFIDENCE,
        timeline_png=base64.b64encode(timeline.render(record, samples)).decode("ascii"),
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
