"""``case-custody.jsonl``: the case's chain-of-custody log, append-only and hash-chained.

The same entry format as a report folder's ``custody.jsonl`` (``evidence_audio.custody``: seq,
previous_sha256, utc, action, examiner, account, tool, details), one JSON object a line. Actions:

* ``case init``: case reference, examiner, analysis settings and report formats of the case;
* ``add``: each recording added (absolute path, size, SHA-256, SHA-1, MD5); ``add refused``: a
  duplicate (its SHA-256 and the recording it duplicates);
* ``run start`` / ``run end``: the Dask engine (workers or scheduler address), counts;
* ``report``: each recording's finished report folder (relative path, the recording's SHA-256, the
  record's integrity digest, the SHA-256 of its ``manifest.sha256``, the worker);
  ``failure``: a recording that failed, with the reason;
* ``verify``: each ``case verify`` and its result.

Only the process running ``case`` commands writes it (never Dask workers), after the index row it
describes. ``case verify`` (``check``) reads it against the index and the report folders: an entry
removed, reordered or changed breaks the chain; a recording in the index without its ``add`` entry,
or a report folder that is not the one the log recorded, fails.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .. import custody
from ..errors import OutputError
from . import index

LOG_NAME = "case-custody.jsonl"


def log_path(folder: Path) -> Path:
    return Path(folder) / LOG_NAME


def start(folder: Path, examiner: str | None, details: dict) -> None:
    """Create the log with its ``case init`` entry (written to a new file; OutputError (exit 7) if one exists)."""
    try:
        with os.fdopen(os.open(log_path(folder), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as out:
            out.write(custody.chain([("case init", examiner, details, None)]))
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise OutputError(f"cannot create {log_path(folder)}: {exc.strerror or exc}") from None


def append(folder: Path, action: str, examiner: str | None, details: dict) -> str | None:
    """Append an entry; None (nothing written) for a case made before case custody logs.

    Raises OutputError (exit 7) when the log cannot be written.
    """
    path = log_path(folder)
    if not path.is_file() or path.is_symlink():
        return None
    try:
        return custody.append_to(path, action, examiner, details)
    except OSError as exc:
        raise OutputError(f"cannot append to {path}: {exc.strerror or exc}") from None


def summary(folder: Path) -> str:
    """The log's state in words: its entry count, whether its hash chain is unbroken, its last entry's SHA-256."""
    path = log_path(folder)
    if path.is_symlink() or not path.is_file():
        return f"no {LOG_NAME}" + (" (a symbolic link)" if path.is_symlink() else "")
    entries, hashes, broken = custody.read_entries(path.read_bytes())
    return f"{len(entries)} entries, " + (f"BROKEN: {broken}" if broken else
                                          f"hash chain unbroken, last entry SHA-256 {hashes[-1] if hashes else '-'}")


def report_details(folder: Path, row, record: dict, worker: str | None) -> dict:
    """The details of a ``report`` entry for a recording whose report folder is finished."""
    from ..report.formats.manifest import MANIFEST_NAME

    manifest = (Path(folder) / row["report"] / MANIFEST_NAME).read_bytes()
    return {"report": row["report"], "recording": row["path"], "sha256": row["sha256"],
            "record_integrity_sha256": record["integrity"]["digest"],
            "manifest_sha256": hashlib.sha256(manifest).hexdigest(), "worker": worker}


def check(folder: Path) -> list:
    """The case's checks (report.verify Check objects): the log's chain and its first entry, every
    recording of the index logged as added, every done recording's report folder verifying and being
    the one the log recorded. A case without a log gets a note, not a pass."""
    from ..report.formats.manifest import MANIFEST_NAME
    from ..report.verify import Check
    from .run import finished_record

    folder = Path(os.path.abspath(folder))
    path = log_path(folder)
    db = index.connect(folder)
    try:
        found = index.info(db)
        recordings = [dict(r) for r in db.execute("SELECT * FROM recordings ORDER BY id")]
    finally:
        db.close()
    checks = []
    if path.is_symlink() or not path.is_file():
        checks.append(Check("case custody log", False, f"{LOG_NAME} is a symbolic link") if path.is_symlink() else
                      Check("case custody log", True, f"no {LOG_NAME} (a case made before case custody logs): "
                                                      "custody not shown", note=True))
        entries = None
    else:
        entries, _, broken = custody.read_entries(path.read_bytes())
        first = (entries[0] if entries else {})
        details = first.get("details") or {}
        if broken:
            checks.append(Check("case custody log", False, broken))
        elif first.get("action") != "case init" or details.get("case") != found.get("case") \
                or details.get("settings") != found.get("settings"):
            checks.append(Check("case custody log", False, "entry 1 is not the 'case init' of this case's reference "
                                                           "and settings (the index or the log was changed)"))
        else:
            checks.append(Check("case custody log", True, f"{len(entries)} entries, hash chain unbroken, starts "
                                                          f"with the case init of {found.get('case')}"))
    added = {}
    reported = {}
    for item in entries or []:
        details = item.get("details") or {}
        if item.get("action") == "add":
            added[details.get("sha256")] = details
        elif item.get("action") == "report":
            reported[details.get("sha256")] = details  # the last one counts (a report analysed again)
    problems = []
    for row in recordings:
        if entries is not None:
            logged = added.get(row["sha256"])
            if logged is None or logged.get("path") != row["path"] or logged.get("md5") != row["md5"]:
                problems.append(f"{row['name']}: in the index without its 'add' entry in the log")
        if row["state"] != "done":
            continue
        record, reason = finished_record(folder / row["report"], row["sha256"])
        if record is None:
            problems.append(f"{row['name']}: {reason or 'report folder missing'}")
            continue
        if record["integrity"]["digest"] != row["integrity"]:
            problems.append(f"{row['name']}: the report's integrity digest is not the one in the index")
        if entries is not None:
            logged = reported.get(row["sha256"]) or {}
            manifest = hashlib.sha256((folder / row["report"] / MANIFEST_NAME).read_bytes()).hexdigest()
            if (logged.get("record_integrity_sha256"), logged.get("manifest_sha256"), logged.get("report")) != (
                    record["integrity"]["digest"], manifest, row["report"]):
                problems.append(f"{row['name']}: its report folder is not the one the log recorded")
    if entries is not None:
        extra = set(added) - {r["sha256"] for r in recordings}
        problems += [f"{added[s].get('path')}: logged as added but not in the index" for s in sorted(extra)]
    done = sum(r["state"] == "done" for r in recordings)
    checks.append(Check("recordings and reports", not problems, "; ".join(problems[:5]) + (
        f"; and {len(problems) - 5} more" if len(problems) > 5 else "") if problems else
        f"{len(recordings)} recordings in the index, {done} report folders verify"
        + (" and are those the log recorded" if entries is not None else "")))
    return checks
