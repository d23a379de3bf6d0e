"""``case run``: analyse every recording of a case not yet analysed, on Dask distributed.

The engine is a ``distributed.LocalCluster`` (one worker process per core, one thread each) or an
existing Dask cluster reached at a scheduler address. Each recording is one task,
:func:`analyse_one`, that runs ``pipeline.analyze_with_audio`` and writes the sealed report folder
(atomically, by ``write_report``); the models stay loaded in the worker between tasks. Only the
client (this process) writes the index, one transaction per finished recording.

Resuming is by the files themselves: a recording is finished when its report folder exists,
verifies (``report.verify``: layout, schema, integrity digest, manifest) and describes the file's
SHA-256. Before submitting work, every recording is checked that way; only the others run. A
killed run leaves at most hidden ``.<name>.partial-*`` staging folders, which the next run removes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import resource
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..errors import EvidenceError, InputError, OutputError
from . import case_settings, index

_MODELS: dict[int, dict] = {}  # per worker process: a models cache for each thread that runs tasks


def models_cache() -> dict:
    """The models cache of the calling worker thread (filled by the pipeline on first use)."""
    return _MODELS.setdefault(threading.get_ident(), {})


def embedding_model(settings: dict) -> str:
    """The name of the model the speaker centroids come from, so only comparable ones are compared."""
    from ..speakers.diarize import EMBEDDING_MODEL

    source = settings.get("diarization_pipeline")
    return f"pyannote pipeline {source}" if source else EMBEDDING_MODEL


def finished_record(folder: Path, sha256: str) -> tuple[dict | None, str | None]:
    """(record, None) when ``folder`` is a sealed report folder of the file with this SHA-256;
    (None, reason) when it exists and is not; (None, None) when there is no such folder."""
    from ..report.verify import check_folder, check_report

    path = folder / "report.json"
    if not os.path.lexists(folder):
        return None, None
    if not path.is_file():
        return None, f"report folder exists without report.json: {folder}"
    checks, record = check_report(path.read_bytes())
    checks += check_folder(folder)
    failed = [c for c in checks if not c.passed]
    if failed:
        return None, f"report folder does not verify ({failed[0].name}: {failed[0].detail}): {folder}"
    found = ((record.get("evidence") or {}).get("hashes") or {}).get("sha256")
    if found != sha256:
        return None, f"report folder describes another file (SHA-256 {found}): {folder}"
    return record, None


def analyse_one(path: str, sha256: str, out_dir: str, settings: dict, formats: tuple[str, ...]) -> dict:
    """One recording, on a Dask worker: analyse, check it is the file added, write its report folder.

    Returns ``{"record", "centroids" (label -> list of float), "embedding_model", "worker",
    "analysis_s", "peak_memory_mb"}``, or ``{"failed": reason}`` for an error the user can act on
    (missing, not decodable, changed since added, report folder not writable). A folder already
    written for this file by an earlier attempt is returned as it is, never analysed again.
    """
    from ..pipeline import Settings, analyze_with_audio, write_report

    started = time.perf_counter()
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = f"pid {os.getpid()}"
    facts = {"worker": worker, "embedding_model": embedding_model(settings), "centroids": {}}
    try:
        record, reason = finished_record(Path(out_dir), sha256)
        if reason:
            return {"failed": reason, "exit_code": OutputError.exit_code}
        if record is None:
            centroids: dict = {}
            record, samples = analyze_with_audio(path, Settings(**settings), models=models_cache(), centroids=centroids)
            found = record["evidence"]["hashes"]["sha256"]
            if found != sha256:
                raise InputError(f"file changed since it was added to the case (SHA-256 now {found}): {path}")
            write_report(record, out_dir, samples=samples, formats=formats or None, inputs=[path])
            facts["centroids"] = {label: [float(x) for x in vector] for label, vector in centroids.items()}
    except EvidenceError as exc:
        return {"failed": str(exc), "exit_code": exc.exit_code}
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {**facts, "record": record, "analysis_s": round(time.perf_counter() - started, 3),
            "peak_memory_mb": round(peak_kib / 1024, 1)}


def _lock(folder: Path):
    """An exclusive lock on the case for the length of a run; OutputError (exit 7) if another run holds it."""
    handle = open(folder / "case.lock", "a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise OutputError(f"another 'case run' is working on {folder}") from None
    return handle


def reconcile(folder: Path, db, echo: Callable[[str], None], retry_failed: bool = False) -> list:
    """Check every recording against its report folder; return the rows still to analyse.

    A folder that verifies makes its recording done (its rows are written if a killed run had not);
    a done recording whose folder is gone is analysed again; a folder that exists and does not
    verify is never replaced: the recording is marked failed with the reason. Recordings that
    failed before are analysed again only with ``retry_failed``.
    """
    todo = []
    for row in db.execute("SELECT * FROM recordings ORDER BY id").fetchall():
        record, reason = finished_record(folder / row["report"], row["sha256"])
        if reason:
            index.store_failure(db, row["id"], reason + " (move it away to analyse the file again)")
        elif record is None:
            if row["state"] == "done":  # its report folder was removed: analysed again
                db.execute("UPDATE recordings SET state='pending', integrity=NULL WHERE id=?", (row["id"],))
            if row["state"] != "failed" or retry_failed:
                todo.append(row)
        elif row["state"] != "done" or row["integrity"] != record["integrity"]["digest"]:
            index.store_result(db, row["id"], record, {}, None, {})
            echo(f"found finished: {row['name']} (report written by an interrupted run; no speaker embeddings)")
    return todo


def run_case(folder: Path, workers: int | None = None, scheduler: str | None = None,
             echo: Callable[[str], None] = print, retry_failed: bool = False) -> dict[str, int]:
    """Analyse every recording of the case in ``folder`` that has no verified report folder yet.

    ``workers``: worker processes of the LocalCluster (default: one per CPU core); ``scheduler``:
    the address of an existing Dask scheduler (tcp://host:8786) to use instead. Every worker must
    read the recordings at the paths in the index and write into the case folder.
    Returns the counts {"analysed", "failed", "already" (done before), "failed_before" (not retried),
    "exit_code" (0, or that of the last recording that failed in this run)}.
    """
    from distributed import Client, LocalCluster, as_completed
    from distributed.client import FutureCancelledError

    folder = Path(os.path.abspath(folder))
    db = index.connect(folder)
    lock = _lock(folder)
    cluster = client = None
    try:
        settings, formats = case_settings(db)
        for stale in (folder / "reports").glob(".*.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # staging of a killed run: never a report
        todo = reconcile(folder, db, echo, retry_failed)
        total = db.execute("SELECT COUNT(*) FROM recordings").fetchone()[0]
        already = db.execute("SELECT COUNT(*) FROM recordings WHERE state = 'done'").fetchone()[0]
        counts = {"analysed": 0, "failed": 0, "already": already, "exit_code": 0,
                  "failed_before": 0 if retry_failed else total - already - len(todo)}
        echo(f"{len(todo)} of {total} recordings to analyse"
             + (f" ({counts['failed_before']} failed before: --retry-failed to try them again)"
                if counts["failed_before"] else ""))
        if not todo:
            return counts
        if scheduler:
            client = Client(scheduler, timeout="30s")
        else:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        echo(f"Dask scheduler {client.scheduler.address}, {len(client.scheduler_info()['workers'])} workers")
        plain = asdict(settings)
        futures = {client.submit(analyse_one, row["path"], row["sha256"], str(folder / row["report"]), plain,
                                 formats, pure=False): row for row in todo}
        for future in as_completed(futures):
            row = futures[future]
            try:
                result = future.result()
            except FutureCancelledError:
                raise EvidenceError("lost the Dask scheduler; finished reports are kept, run 'case run' again "
                                    "to analyse the rest") from None
            except Exception as exc:  # noqa: BLE001 - a crashed or killed worker, an internal error: this file fails alone
                result = {"failed": f"{type(exc).__name__}: {exc}", "exit_code": 1}
            if "failed" in result:
                index.store_failure(db, row["id"], result["failed"])
                counts["failed"] += 1
                counts["exit_code"] = result["exit_code"]
                echo(f"FAILED {row['name']}: {result['failed']}")
            else:
                index.store_result(db, row["id"], result["record"], result["centroids"], result["embedding_model"],
                                   result)
                counts["analysed"] += 1
                echo(f"done {counts['analysed'] + counts['failed']}/{len(todo)} {row['name']} "
                     f"({result['analysis_s']} s, {result['worker']}, peak {result['peak_memory_mb']} MB)")
            future.release()
        return counts
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        lock.close()
        db.close()
