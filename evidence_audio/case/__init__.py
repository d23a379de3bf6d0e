"""Cases: many recordings analysed alike, on Dask distributed, with one index to search them.

A case folder holds plain files:

* ``case.sqlite``: the index (see ``index``): recordings, hashes, states, transcripts (FTS5),
  events, speaker embeddings, and the analysis settings of the case;
* ``reports/<file name>-<sha256[:12]>.evidence/``: one sealed report folder per recording, exactly
  what ``evidence-audio analyze`` writes (``evidence-audio verify`` checks each);
* ``speaker-embeddings/<report folder name>.json``: each analysed recording's speaker centroids,
  written by the worker before its report folder, so that a report finished by a run killed before
  the index recorded it is taken into the index with them (see ``run.analyse_one``);
* ``case-custody.jsonl``: the case's chain-of-custody log (see ``custody_log``), which
  ``case verify`` checks against the index and the report folders;
* ``case-report.html`` and ``case-report.pdf``: the index of the case (``case report``).

The recordings stay where they are (the index holds their absolute paths); they are only read.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable

from ..errors import EvidenceError, InputError, OutputError
from ..escaping import lossless, printable
from ..intake import check_input, hash_file
from ..pipeline import Settings
from . import custody_log, index

REPORTS = "reports"
# Extensions taken when a folder is added (a file named on the command line is always taken).
MEDIA_SUFFIXES = frozenset(".wav .wave .flac .mp3 .m4a .aac .ogg .oga .opus .amr .3gp .3gpp .wma .aif .aiff .caf "
                           ".mp4 .m4v .mov .mkv .webm .avi".split())

def write_atomic(path: Path, data: bytes) -> None:
    """``data`` into ``path`` atomically and durably: a hidden temporary file beside it, flushed to disk,
    given the mode a new file gets (0666 less the umask), then renamed over ``path``."""
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}.partial-", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(staging, 0o666 & ~umask)
    os.replace(staging, path)


NOT_UTF8 = "path not valid UTF-8, which a case cannot hold; analyze the file on its own, or add a copy named in UTF-8"


@dataclass(frozen=True)
class Added:
    """What ``add`` did with each path found: added, or refused as a duplicate (of which file), or skipped."""

    path: Path
    outcome: str  # "added", "duplicate", "skipped"
    detail: str = ""


def init_case(folder: Path, settings: Settings, formats: Iterable[str]) -> Path:
    """Create the case folder and its index, fixing the settings every recording will be analysed with.

    Raises OutputError (exit 7) if the folder holds a case already or cannot be written.
    """
    import json

    folder = Path(os.path.abspath(folder))
    if index.index_path(folder).exists():
        raise OutputError(f"a case exists already in {folder}")
    try:
        (folder / REPORTS).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create case folder {folder}: {exc.strerror}") from None
    db = index.connect(folder, create=True)
    with db:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO case_info VALUES (?, ?)", [
            ("format", index.FORMAT), ("case", settings.case or ""), ("examiner", settings.examiner or ""),
            ("created_utc", index.utc_now()), ("settings", json.dumps(asdict(settings), sort_keys=True)),
            ("formats", ",".join(formats))])
    db.close()
    custody_log.start(folder, settings.examiner, {
        "case": settings.case or "", "examiner": settings.examiner or "", "index_format": index.FORMAT,
        "settings": json.loads(json.dumps(asdict(settings), sort_keys=True)), "formats": ",".join(formats)})
    return folder


def case_settings(db) -> tuple[Settings, tuple[str, ...]]:
    """The analysis settings and report formats fixed at ``case init``.

    Raises EvidenceError when the index holds a setting this version does not know (made by another version).
    """
    found = index.info(db)
    unknown = set(found["settings"]) - {f.name for f in fields(Settings)}
    if unknown:
        raise EvidenceError(f"the case was made with settings this version does not know: {', '.join(sorted(unknown))}")
    return Settings(**found["settings"]), tuple(f for f in found.get("formats", "").split(",") if f)


def _walk(paths: Iterable[Path]) -> Iterable[tuple[Path, bool]]:
    """(file, named): files named outright, and the files under folders (sorted, recursively)."""
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    yield Path(root) / name, False
        else:
            yield path, True


def add_paths(folder: Path, paths: Iterable[Path], echo: Callable[[Added], None] | None = None) -> list[Added]:
    """Hash each file (read-only) and add it to the case unless its SHA-256 is in the case already.

    Folders are searched recursively for media files (``MEDIA_SUFFIXES``); other files there are
    skipped and listed. A file named outright is always taken (a non-media file then fails at
    ``case run`` with its reason). Raises InputError (exit 3) for a named path that is missing or
    unreadable, or not valid UTF-8 (the index and the custody log hold text: such a file found in a
    folder is skipped and listed); a file inside the case folder is refused (the case's own files are
    not evidence).
    """
    folder = Path(os.path.abspath(folder))
    db = index.connect(folder)
    examiner = index.info(db).get("examiner")
    done: list[Added] = []
    try:
        for path, named in _walk(Path(p) for p in paths):
            path = Path(os.path.abspath(path))
            if not named and path.suffix.lower() not in MEDIA_SUFFIXES:
                result = Added(path, "skipped", "not a media file extension")
            elif folder == path or folder in path.parents:
                result = Added(path, "skipped", "inside the case folder")
            elif lossless(str(path)) != str(path):
                if named:
                    raise InputError(f"{NOT_UTF8}: {printable(path)}")
                result = Added(path, "skipped", NOT_UTF8)
            else:
                check_input(path)
                facts = hash_file(path)
                known = db.execute("SELECT path FROM recordings WHERE sha256 = ?", (facts.sha256,)).fetchone()
                if known:
                    result = Added(path, "duplicate", f"same SHA-256 {facts.sha256} as {known['path']}")
                    custody_log.append(folder, "add refused", examiner, {
                        "path": str(path), "sha256": facts.sha256, "duplicate_of": known["path"]})
                else:
                    report = f"{REPORTS}/{path.name}-{facts.sha256[:12]}.evidence"
                    # the log first: a kill before the row leaves an entry that adding the file again repeats
                    custody_log.append(folder, "add", examiner, {
                        "path": str(path), "size_bytes": facts.size_bytes, "sha256": facts.sha256,
                        "sha1": facts.sha1, "md5": facts.md5, "report": report})
                    with db:
                        db.execute("""INSERT INTO recordings (path, name, size_bytes, sha256, sha1, md5, added_utc,
                                      report) VALUES (?,?,?,?,?,?,?,?)""",
                                   (str(path), path.name, facts.size_bytes, facts.sha256, facts.sha1, facts.md5,
                                    index.utc_now(), report))
                    result = Added(path, "added", facts.sha256)
            done.append(result)
            if echo:
                echo(result)
    finally:
        db.close()
    if not done:
        raise InputError("no files found in the paths given")
    return done


def status(folder: Path) -> dict:
    """Counts by state, the case's settings, every failed file with its reason, and the custody log's state in words."""
    db = index.connect(folder)
    try:
        counts = {row["state"]: row["n"] for row in db.execute("SELECT state, COUNT(*) n FROM recordings GROUP BY state")}
        failed = [(row["path"], row["failure"]) for row in
                  db.execute("SELECT path, failure FROM recordings WHERE state='failed' ORDER BY path")]
        return {"info": index.info(db), "counts": counts, "failed": failed, "custody": custody_log.summary(folder)}
    finally:
        db.close()
