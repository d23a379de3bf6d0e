"""The files of a report folder: each format renders the sealed record (and, for figures, the audio) to bytes.

report.json is always written; manifest.sha256 always closes the folder. A format whose analysis
block is absent from the record (no transcript: no subtitles) is left out rather than written empty,
and so is a file whose renderer returns None (no listening copy when the page embeds none).
report.html brings listening-copy.opus with it: the copy the page embeds, written beside it so the
manifest lists its hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ...progress import Update
from .. import canonical
from . import html, listening, manifest, pdf, rttm, subtitles, text

Renderer = Callable[[dict, "np.ndarray | None"], "bytes | None"]  # None: no file


@dataclass(frozen=True)
class Format:
    name: str  # as given to --formats
    file_name: str
    render: Renderer
    needs: str | None = None  # the analysis block it shows; skipped without it
    description: str = ""


FORMATS = (
    Format("json", "report.json", lambda record, samples=None: canonical.render(record),
           description="the sealed record (always written)"),
    Format("html", "report.html", html.render, description="self-contained page with timeline and player"),
    Format("audio", listening.FILE_NAME, listening.render,
           description="the listening copy report.html embeds (derived, for listening only)"),
    Format("pdf", "report.pdf", pdf.render, description="for filing; integrity digest on every page"),
    Format("srt", "transcript.srt", subtitles.render_srt, "transcript", "subtitles"),
    Format("vtt", "transcript.vtt", subtitles.render_vtt, "transcript", "WebVTT subtitles with speakers"),
    Format("txt", "transcript.txt", text.render, "transcript", "plain-text transcript"),
    Format("rttm", "diarization.rttm", rttm.render, "speakers", "speaker turns, NIST RTTM"),
)
BY_NAME = {f.name: f for f in FORMATS}
ALWAYS = ("json",)


def parse_names(value: str) -> tuple[str, ...]:
    """'all' or a comma-separated list of format names -> names; raises ValueError naming an unknown one."""
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    if not names or names == ["all"]:
        return tuple(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown format {unknown[0]!r}; choose from all, {', '.join(BY_NAME)}")
    return tuple(dict.fromkeys(ALWAYS + tuple(names)))


def render_folder(record: dict, samples: np.ndarray | None = None, names: Iterable[str] | None = None,
                  progress: Update | None = None) -> dict[str, bytes]:
    """Every file of a report folder, rendered from the sealed record.

    Parameters
    ----------
    record : dict
        The sealed record (report/schema.json).
    samples : numpy.ndarray, optional
        Its analysis signal (float32, shape (n,), 16000 Hz) for the timeline figure and the listening
        copy; without it report.html has neither.
    names : iterable of str, optional
        Formats to render (``parse_names``); default all. A format whose analysis block is missing is left out.
    progress : callable, optional
        ``progress(files_done, files_in_all)``, called after each file.

    Returns
    -------
    dict of str to bytes
        File name -> bytes, report.json and manifest.sha256 (the SHA-256 of every other file) included.
    """
    wanted = set(ALWAYS) | set(names if names is not None else BY_NAME)
    if "html" in wanted:
        wanted.add("audio")  # the page's embedded copy, listed in the manifest
    present = (record.get("analysis") or {}).keys()
    chosen = [f for f in FORMATS if f.name in wanted and (f.needs is None or f.needs in present)]
    files = {}
    for done, f in enumerate(chosen, 1):
        data = f.render(record, samples)
        if data is not None:
            files[f.file_name] = data
        if progress:
            progress(done, len(chosen) + 1)
    files[manifest.MANIFEST_NAME] = manifest.render(files)
    if progress:
        progress(len(chosen) + 1, len(chosen) + 1)
    return files
