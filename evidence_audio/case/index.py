"""The case index: one SQLite file (``case.sqlite``) per case folder.

Tables (all times in seconds from the start of the recording, UTC timestamps in ISO 8601):

* ``case_info(key, value)``: format, case reference, examiner, created_utc, and ``settings``
  (the JSON of ``pipeline.Settings`` every recording of the case is analysed with) and ``formats``.
* ``recordings``: one row per file added: absolute path, size, SHA-256 (unique: a case holds
  each file once), SHA-1, MD5, added_utc, the report folder (relative to the case folder),
  ``state`` (``pending``, ``done`` or ``failed``), ``failure`` (the reason, one line), and for
  a done file what its report says: integrity digest, decoded duration, languages, speaker and
  event counts, analysed_utc, the worker, its wall time and the worker's peak memory.
* ``transcript``: FTS5 over every transcript segment (text; recording, segment id, start, end,
  speaker unindexed).
* ``events``: sound events and transcript cues (kind ``sound`` or ``cue``) by class and time.
* ``speakers``: each diarized speaker of a recording with its talk time, the embedding model and
  its centroid (float32 little-endian bytes, 192 values for CAM++).

The index is written only by the process that runs ``case`` commands (the Dask client), never
by workers; each recording's rows are written in one transaction together with its state.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..escaping import printable

INDEX_NAME = "case.sqlite"
FORMAT = "evidence-audio/case/v1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS case_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS recordings (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    sha1 TEXT NOT NULL,
    md5 TEXT NOT NULL,
    added_utc TEXT NOT NULL,
    report TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
    failure TEXT,
    integrity TEXT,
    duration_s REAL,
    languages TEXT,
    speakers INTEGER,
    events INTEGER,
    analysed_utc TEXT,
    worker TEXT,
    analysis_s REAL,
    peak_memory_mb REAL
);
CREATE VIRTUAL TABLE IF NOT EXISTS transcript USING fts5(
    text, recording_id UNINDEXED, segment UNINDEXED, start UNINDEXED, end UNINDEXED, speaker UNINDEXED);
CREATE TABLE IF NOT EXISTS events (
    recording_id INTEGER NOT NULL REFERENCES recordings(id),
    kind TEXT NOT NULL CHECK (kind IN ('sound', 'cue')),
    class TEXT NOT NULL,
    start REAL NOT NULL,
    end REAL NOT NULL,
    score REAL,
    text TEXT
);
CREATE INDEX IF NOT EXISTS events_by_class ON events(class, start);
CREATE TABLE IF NOT EXISTS speakers (
    recording_id INTEGER NOT NULL REFERENCES recordings(id),
    label TEXT NOT NULL,
    talk_time_s REAL,
    model TEXT,
    embedding BLOB,
    PRIMARY KEY (recording_id, label)
);
"""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def index_path(folder: Path) -> Path:
    return Path(folder) / INDEX_NAME


def connect(folder: Path, create: bool = False) -> sqlite3.Connection:
    """The case index of ``folder``; InputError (exit 3) when it is not a case folder (and not ``create``)."""
    path = index_path(folder)
    if not create and not path.is_file():
        raise InputError(f"not a case folder (no {INDEX_NAME}): {folder} (start one with 'case init')")
    db = sqlite3.connect(path, timeout=60, isolation_level=None)  # transactions opened explicitly
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.executescript(SCHEMA)
    return db


def info(db: sqlite3.Connection) -> dict:
    """case_info as a dict; ``settings`` decoded from JSON."""
    found = {row["key"]: row["value"] for row in db.execute("SELECT key, value FROM case_info")}
    if "settings" in found:
        found["settings"] = json.loads(found["settings"])
    return found


def languages(record: dict) -> str:
    """The transcript's language code ('' when there is no transcript), '(forced)' when set by the examiner."""
    language = ((record.get("analysis") or {}).get("transcript") or {}).get("language") or {}
    code = language.get("code") or ""
    return f"{code} (forced)" if code and language.get("forced") else code


def store_result(db: sqlite3.Connection, recording_id: int, record: dict, centroids: dict[str, list[float]],
                 embedding_model: str | None, run_facts: dict) -> None:
    """A finished recording: its state, summary, transcript segments, events and speakers, in one transaction."""
    analysis = record.get("analysis") or {}
    transcript = analysis.get("transcript") or {}
    speakers = analysis.get("speakers") or {}
    events = analysis.get("events") or {}
    sound = events.get("sound_events") or []
    cues = events.get("transcript_cues") or []
    with db:
        db.execute("BEGIN IMMEDIATE")
        for table in ("transcript", "events", "speakers"):
            db.execute(f"DELETE FROM {table} WHERE recording_id = ?", (recording_id,))
        db.executemany("INSERT INTO transcript (text, recording_id, segment, start, end, speaker) VALUES (?,?,?,?,?,?)",
                       [(s.get("text", ""), recording_id, s.get("id"), s.get("start"), s.get("end"), s.get("speaker"))
                        for s in transcript.get("segments") or []])
        db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?)",
                       [(recording_id, "sound", e["class"], e["start"], e["end"], e.get("score"), None) for e in sound]
                       + [(recording_id, "cue", c["category"], c["start"], c["end"], None, c.get("text")) for c in cues])
        talk = speakers.get("talk_time_s") or {}
        db.executemany("INSERT INTO speakers VALUES (?,?,?,?,?)",
                       [(recording_id, label, talk.get(label), embedding_model if label in centroids else None,
                         np.asarray(centroids[label], dtype="<f4").tobytes() if label in centroids else None)
                        for label in speakers.get("labels") or []])
        audio = (record.get("evidence") or {}).get("audio") or {}
        db.execute("""UPDATE recordings SET state='done', failure=NULL, integrity=?, duration_s=?, languages=?,
                      speakers=?, events=?, analysed_utc=?, worker=?, analysis_s=?, peak_memory_mb=? WHERE id=?""",
                   (record["integrity"]["digest"], audio.get("decoded_duration_s"), languages(record),
                    len(speakers["labels"]) if "labels" in speakers else None,
                    len(sound) + len(cues) if events else None,
                    (record.get("provenance") or {}).get("finished_utc"), run_facts.get("worker"),
                    run_facts.get("analysis_s"), run_facts.get("peak_memory_mb"), recording_id))


def failure_text(reason: str) -> str:
    """A failure's reason as the index keeps it: one line, its control characters (a file name's line
    break or escape sequence) shown escaped (``escaping.printable``), at most 500 characters."""
    return printable(reason)[:500]


def store_failure(db: sqlite3.Connection, recording_id: int, reason: str) -> None:
    with db:
        db.execute("UPDATE recordings SET state='failed', failure=? WHERE id=?", (failure_text(reason), recording_id))


def not_searched(db: sqlite3.Connection, events: bool = False) -> str | None:
    """The recordings a search of the index cannot have looked at, in one line (None when it looked at all):
    those not analysed yet or failed and, for an event search, those analysed without event detection
    (``events`` NULL: the case was made with ``--no-events``), so that nothing found there is not read
    as nothing there."""
    total, pending, failed, off = db.execute(
        "SELECT COUNT(*), TOTAL(state = 'pending'), TOTAL(state = 'failed'), TOTAL(state = 'done' AND events IS NULL) "
        "FROM recordings").fetchone()
    counts = [(int(off) if events else 0, "analysed without event detection"), (int(pending), "not analysed yet"),
              (int(failed), "failed")]
    missed = sum(n for n, _ in counts)
    if not missed:
        return None
    return f"not searched: {missed} of {total} recordings ({', '.join(f'{n} {why}' for n, why in counts if n)})"


def search_words(db: sqlite3.Connection, query: str, limit: int = 200) -> list[sqlite3.Row]:
    """Transcript segments matching an FTS5 query (plain words: all must occur), best match first."""
    terms = " ".join('"' + word.replace('"', '""') + '"' for word in query.split())
    if not terms:
        return []
    return db.execute("""SELECT r.name, r.report, t.segment, t.start, t.end, t.speaker, t.text
                         FROM transcript t JOIN recordings r ON r.id = t.recording_id
                         WHERE transcript MATCH ? ORDER BY rank, r.name, t.start LIMIT ?""", (terms, limit)).fetchall()


def search_events(db: sqlite3.Connection, event_class: str) -> list[sqlite3.Row]:
    """Every sound event or transcript cue of this class, by recording and time."""
    return db.execute("""SELECT r.name, r.report, e.kind, e.class, e.start, e.end, e.score, e.text
                         FROM events e JOIN recordings r ON r.id = e.recording_id
                         WHERE e.class = ? ORDER BY r.name, e.start""", (event_class,)).fetchall()


def speaker_embeddings(db: sqlite3.Connection) -> list[tuple[int, str, str, str, np.ndarray]]:
    """(recording id, file name, report folder, label, centroid float32) of every speaker with an embedding."""
    return [(row["id"], row["name"], row["report"], row["label"], np.frombuffer(row["embedding"], dtype="<f4"))
            for row in db.execute("""SELECT r.id, r.name, r.report, s.label, s.embedding FROM speakers s
                                     JOIN recordings r ON r.id = s.recording_id
                                     WHERE s.embedding IS NOT NULL AND r.state = 'done' ORDER BY r.name, s.label""")]
