"""custody.jsonl: the chain-of-custody record of a report folder, one JSON object a line, hash-chained.

Each entry says who (examiner, login account), what (action and its details), when (UTC) and with
which tool (name and version) did something with the evidence or its report, in the sense of
SWGDE's chain-of-custody documentation. Actions: ``intake`` (the recording's hashes), ``analysis``
(settings, record integrity digest, manifest digest), ``signing``, ``verify`` (each later check and
its result), ``redact`` (a derivative made from the report), ``timestamp request`` and
``timestamp`` (RFC 3161 trusted time).

Every entry holds ``previous_sha256``, the SHA-256 of the previous entry's line (its UTF-8 bytes
without the newline; ``null`` in the first), and ``seq``, its 1-based position. An entry that is
removed, reordered or changed breaks the chain at the entry after it, and ``verify`` names that
entry. The log is appended to after the report is sealed, so it is not in manifest.sha256; the
signed statement names the last entry before signing (``custody_head_sha256``), so the entries up
to the signature cannot be cut or rewritten without the signature check failing.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
from pathlib import Path

from . import __version__

CUSTODY_NAME = "custody.jsonl"


def entry_sha256(line: bytes) -> str:
    """SHA-256 (hex) of one entry: its line's bytes without the newline."""
    return hashlib.sha256(line.rstrip(b"\n")).hexdigest()


def _account() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def entry(previous: bytes | None, seq: int, action: str, examiner: str | None, details: dict,
          utc: str | None = None) -> bytes:
    """One entry line (no newline): compact JSON, keys sorted, UTF-8."""
    from .provenance import utc_now

    body = {"seq": seq, "previous_sha256": entry_sha256(previous) if previous is not None else None,
            "utc": utc or utc_now(), "action": action, "examiner": examiner, "account": _account(),
            "tool": {"name": "evidence-audio", "version": __version__}, "details": details}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def chain(entries: list[tuple[str, str | None, dict, str | None]], log: bytes = b"") -> bytes:
    """``log`` with entries (action, examiner, details, utc) appended; returns the whole log."""
    lines = log.splitlines()
    for action, examiner, details, utc in entries:
        lines.append(entry(lines[-1] if lines else None, len(lines) + 1, action, examiner, details, utc))
    return b"".join(line + b"\n" for line in lines)


def analysis_entries(record: dict, files: dict[str, bytes]) -> list[tuple]:
    """The intake and analysis entries of a freshly written report folder ({name: bytes})."""
    from .report.formats.manifest import MANIFEST_NAME

    evidence, provenance = record.get("evidence") or {}, record.get("provenance") or {}
    examiner = provenance.get("examiner")
    intake = {"file_name": evidence.get("file_name"), "input_path": provenance.get("input_path"),
              "size_bytes": evidence.get("size_bytes"), "hashes": evidence.get("hashes"),
              "pcm_sha256": (evidence.get("audio") or {}).get("pcm_sha256"),
              "observed_file_times": provenance.get("observed_file_times")}
    analysis = {"case": provenance.get("case"), "settings": provenance.get("settings"),
                "models": [m.get("name") for m in provenance.get("models") or []],
                "record_integrity_sha256": (record.get("integrity") or {}).get("digest"),
                "manifest_sha256": hashlib.sha256(files[MANIFEST_NAME]).hexdigest(),
                "files": sorted(n for n in files if n != MANIFEST_NAME)}
    return [("intake", examiner, intake, provenance.get("started_utc")),
            ("analysis", examiner, analysis, provenance.get("finished_utc"))]


def append(folder: Path, action: str, examiner: str | None, details: dict) -> str | None:
    """Append one entry to ``folder/custody.jsonl`` (under an exclusive lock); returns its SHA-256.

    Returns None, writing nothing, when the folder has no custody log (or the log is a symbolic
    link). Raises OSError when it cannot be written.
    """
    path = Path(folder) / CUSTODY_NAME
    if not path.is_file() or path.is_symlink():
        return None  # a link is never followed: it could point anywhere outside the folder
    return append_to(path, action, examiner, details)


def append_to(path: Path, action: str, examiner: str | None, details: dict) -> str:
    """Append one entry to the custody log at ``path`` (an existing file, never followed if a link) under an
    exclusive lock; returns its SHA-256. Raises OSError when it cannot be written."""
    with os.fdopen(os.open(path, os.O_RDWR | os.O_NOFOLLOW), "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = handle.read().splitlines()
        line = entry(lines[-1] if lines else None, len(lines) + 1, action, examiner, details)
        handle.seek(0, os.SEEK_END)
        handle.write(line + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return entry_sha256(line)


def read_entries(data: bytes) -> tuple[list[dict], list[str], str | None]:
    """(entries, their SHA-256s, the first break or None) of a custody log's bytes.

    Entries are read up to the first that does not parse, is out of sequence, or does not hold
    the SHA-256 of the one before it.
    """
    entries, hashes = [], []
    if data and not data.endswith(b"\n"):
        return entries, hashes, "the log does not end with a complete line (truncated?)"
    for number, line in enumerate(data.split(b"\n")[:-1] if data else [], 1):
        try:
            item = json.loads(line.decode("utf-8"))
            if not isinstance(item, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return entries, hashes, f"entry {number} is not a JSON object ({exc})"
        label = f"entry {number} ({item.get('action')}, {item.get('utc')})"
        expected = hashes[-1] if hashes else None
        if item.get("seq") != number:
            return entries, hashes, f"{label} says it is entry {item.get('seq')}: entries removed or reordered"
        if item.get("previous_sha256") != expected:
            return entries, hashes, (f"{label} does not hold the SHA-256 of entry {number - 1}: an entry before "
                                     "it was removed, reordered or changed" if number > 1 else
                                     f"{label} should start the chain (previous_sha256 null)")
        entries.append(item)
        hashes.append(entry_sha256(line))
    return entries, hashes, None


def check(folder: Path, record: dict | None, manifest_sha256: str | None) -> list:
    """Checks of ``folder/custody.jsonl``: an unbroken chain that starts with the intake and analysis
    of this record. Returns report.verify Check objects (a note when there is no log)."""
    from .report.verify import Check

    path = Path(folder) / CUSTODY_NAME
    if path.is_symlink():
        return [Check("custody log", False, f"{CUSTODY_NAME} is a symbolic link, not the folder's own log")]
    if not path.is_file():
        return [Check("custody log", True, f"no {CUSTODY_NAME} (a folder made before custody logs, or "
                                           "one removed): custody not shown", note=True)]
    entries, _, broken = read_entries(path.read_bytes())
    if broken:
        return [Check("custody log", False, broken)]
    first = entries[0] if entries else {}
    evidence_sha = (((record or {}).get("evidence") or {}).get("hashes") or {}).get("sha256")
    digest = ((record or {}).get("integrity") or {}).get("digest")
    analysis = next((e for e in entries if e.get("action") == "analysis"), {})
    problems = []
    if first.get("action") != "intake" or (first.get("details") or {}).get("hashes", {}).get("sha256") != evidence_sha:
        problems.append("entry 1 is not the intake of this recording")
    if (analysis.get("details") or {}).get("record_integrity_sha256") != digest:
        problems.append("no analysis entry for this record's integrity digest")
    elif (analysis.get("details") or {}).get("manifest_sha256") != manifest_sha256:
        problems.append("the manifest differs from the one written at analysis (regenerated?)")
    if problems:
        return [Check("custody log", False, "; ".join(problems))]
    return [Check("custody log", True, f"{len(entries)} entries, hash chain unbroken, starts with this "
                                       "recording's intake and this record's analysis")]


def log_verify(report: Path, recording: Path | None, checks: list, trusted: list | None,
               examiner: str | None) -> str:
    """Add a verify entry to the custody log of the report's folder; returns what happened, in words
    ("" when the folder has no log). A folder that cannot be written is reported, not an error."""
    from .signing import fingerprint

    folder = Path(report) if Path(report).is_dir() else Path(report).parent
    counted = [c for c in checks if not c.note]
    failed = [c.name for c in counted if not c.passed]
    details = {"result": "NOT VERIFIED" if failed else "VERIFIED", "checks": len(counted), "failed": failed,
               "recording": str(Path(recording).absolute()) if recording else None,
               "trusted_keys": [fingerprint(t.key) for t in trusted or []]}
    try:
        added = append(folder, "verify", examiner, details)
    except OSError as exc:
        return f"this verification was not added to {CUSTODY_NAME}: {exc.strerror or exc}"
    return f"entry {added[:12]}... added to {folder / CUSTODY_NAME}" if added else ""


def log_derived(report: Path, action: str, details: dict) -> None:
    """Add a ``redact`` (or other derivation) entry to the custody log of ``report`` (report.json or its
    folder), if it has one; a log that cannot be written is left as it is (the derivation record
    holds the same facts)."""
    try:
        append(Path(report) if Path(report).is_dir() else Path(report).parent, action, None, details)
    except OSError:
        pass
