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

import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..errors import EvidenceError, InputError, OutputError
from ..heap import trim_heap
from . import case_settings, custody_log, index, write_atomic

_MODELS: dict[int, dict] = {}  # per worker process: a models cache for each thread that runs tasks


class StagePeaks:
    """A pipeline progress (``progress.Progress``) that measures the peak resident memory of each stage.

    Linux only: the kernel's peak RSS (``VmHWM`` in /proc/self/status) is reset when a stage starts
    (writing 5 to /proc/self/clear_refs) and read when it ends. ``peaks``: stage name -> MB (the
    largest over the recordings measured); ``peak_mb()``: the process's peak over all stages so far
    (None where /proc gives no figures).
    """

    _lifetime: float | None = None  # per process: resetting VmHWM also resets getrusage's ru_maxrss

    def __init__(self):
        self.peaks: dict[str, float] = {}

    @staticmethod
    def _vm(key: str) -> float | None:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith(key + ":"):
                        return round(int(line.split()[1]) / 1024, 1)  # kB -> MB
        except OSError:
            return None
        return None

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = ""):
        StagePeaks._record(self._vm("VmHWM"))  # what ran before the stage
        trim_heap()  # what the stage before freed goes back to the system before this one allocates
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
        except OSError:
            pass
        try:
            yield lambda completed, total=None: None
        finally:
            peak = self._vm("VmHWM")
            if peak is not None:
                self.peaks[name] = max(peak, self.peaks.get(name, 0.0))
            StagePeaks._record(peak)

    @classmethod
    def _record(cls, peak: float | None) -> None:
        if peak is not None:
            cls._lifetime = max(peak, cls._lifetime or 0.0)

    @classmethod
    def peak_mb(cls) -> float | None:
        return cls._lifetime


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


EMBEDDINGS = "speaker-embeddings"


def centroids_file(folder: Path, report: str) -> Path:
    """Where the case in ``folder`` keeps the speaker centroids of the report folder ``report``."""
    return folder / EMBEDDINGS / f"{Path(report).name}.json"


def write_centroids(path: Path, sha256: str, model: str, centroids: dict[str, list[float]]) -> None:
    """``{"sha256", "embedding_model", "centroids"}`` as JSON, written as the case's other files are
    (``write_atomic``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"sha256": sha256, "embedding_model": model, "centroids": centroids}).encode())


def read_centroids(path: Path, sha256: str) -> tuple[dict[str, list[float]] | None, str | None, str | None]:
    """(centroids, embedding model, None) kept for the file with this SHA-256 (an empty dict: no speaker
    had one); (None, None, why) when none are kept for it (no file, another file's, unreadable)."""
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None, "none kept"
    except (OSError, ValueError) as exc:
        return None, None, f"{path.name} unreadable: {exc}".splitlines()[0]
    if not isinstance(kept, dict) or kept.get("sha256") != sha256:
        return None, None, f"{path.name} is of another file"
    return kept.get("centroids") or {}, kept.get("embedding_model"), None


def analyse_one(path: str, sha256: str, out_dir: str, settings: dict, formats: tuple[str, ...],
                centroids_path: str | None = None) -> dict:
    """One recording, on a Dask worker: analyse, check it is the file added, write its report folder.

    Returns ``{"record", "centroids" (label -> list of float), "embedding_model", "worker",
    "analysis_s", "peak_memory_mb" (the worker process's peak resident memory so far, MB),
    "peak_memory_by_stage_mb" (this file's stages), "memory_after_mb" (resident once the file's
    memory is released)}`` (see ``StagePeaks``), or ``{"failed": reason}`` for an error the user can act on
    (missing, not decodable, changed since added, report folder not writable). A folder already
    written for this file by an earlier attempt is returned as it is, never analysed again.
    ``centroids_path``: where the centroids are also written (``write_centroids``), before the
    report folder, and read back for a folder written earlier.
    """
    from ..pipeline import Settings, analyze_with_audio, write_report

    started = time.perf_counter()
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = f"pid {os.getpid()}"
    facts = {"worker": worker, "embedding_model": embedding_model(settings), "centroids": {}}
    stages = StagePeaks()
    try:
        record, reason = finished_record(Path(out_dir), sha256)
        if reason:
            return {"failed": reason, "exit_code": OutputError.exit_code}
        if record is not None and centroids_path:
            kept, model, _ = read_centroids(Path(centroids_path), sha256)
            if kept is not None:
                facts["centroids"], facts["embedding_model"] = kept, model
        if record is None:
            centroids: dict = {}
            record, samples = analyze_with_audio(path, Settings(**settings), progress=stages, models=models_cache(),
                                                 centroids=centroids, side_by_side=False)  # one worker per core
            found = record["evidence"]["hashes"]["sha256"]
            if found != sha256:
                raise InputError(f"file changed since it was added to the case (SHA-256 now {found}): {path}")
            facts["centroids"] = {label: [float(x) for x in vector] for label, vector in centroids.items()}
            if centroids_path:
                write_centroids(Path(centroids_path), sha256, facts["embedding_model"], facts["centroids"])
            write_report(record, out_dir, samples=samples, formats=formats or None, inputs=[path], progress=stages)
            del samples
    except EvidenceError as exc:
        return {"failed": str(exc), "exit_code": exc.exit_code}
    finally:
        release_memory()
    return {**facts, "record": record, "analysis_s": round(time.perf_counter() - started, 3),
            "peak_memory_mb": stages.peak_mb(), "peak_memory_by_stage_mb": stages.peaks,
            "memory_after_mb": stages._vm("VmRSS")}


def release_memory() -> None:
    """After a recording: collect its garbage and trim the heap, so the worker starts the next one lean."""
    import gc

    gc.collect()
    trim_heap()


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
    examiner = index.info(db).get("examiner")
    for row in db.execute("SELECT * FROM recordings ORDER BY id").fetchall():
        record, reason = finished_record(folder / row["report"], row["sha256"])
        if reason:
            reason += " (move it away to analyse the file again)"
            if row["state"] != "failed" or row["failure"] != index.failure_text(reason):
                custody_log.append(folder, "failure", examiner, {"recording": row["path"], "sha256": row["sha256"],
                                                                 "reason": reason})
            index.store_failure(db, row["id"], reason)
        elif record is None:
            if row["state"] == "done":  # its report folder was removed: analysed again
                db.execute("UPDATE recordings SET state='pending', integrity=NULL WHERE id=?", (row["id"],))
            if row["state"] != "failed" or retry_failed:
                todo.append(row)
        elif row["state"] != "done" or row["integrity"] != record["integrity"]["digest"]:
            centroids, model, why = read_centroids(centroids_file(folder, row["report"]), row["sha256"])
            custody_log.append(folder, "report", examiner, custody_log.report_details(folder, row, record, None))
            index.store_result(db, row["id"], record, centroids or {}, model, {})
            speakers = record["analysis"].get("speakers")
            echo(f"found finished: {row['name']} (report written by an interrupted run"
                 + ("" if not speakers or centroids else
                    f"; no speaker embeddings: {why}" if why else
                    "; no speaker had enough speech for an embedding") + ")")
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
        for stale in (folder / EMBEDDINGS).glob(".*.partial-*"):
            stale.unlink(missing_ok=True)
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
        engine = {"scheduler": client.scheduler.address, "workers": len(client.scheduler_info()["workers"]),
                  "local_cluster": cluster is not None}
        echo(f"Dask scheduler {engine['scheduler']}, {engine['workers']} workers")
        examiner = index.info(db).get("examiner")
        custody_log.append(folder, "run start", examiner, {**engine, "to_analyse": len(todo), "recordings": total})
        plain = asdict(settings)
        futures = {client.submit(analyse_one, row["path"], row["sha256"], str(folder / row["report"]), plain,
                                 formats, str(centroids_file(folder, row["report"])), pure=False): row for row in todo}
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
                custody_log.append(folder, "failure", examiner, {"recording": row["path"], "sha256": row["sha256"],
                                                                 "reason": result["failed"]})
                index.store_failure(db, row["id"], result["failed"])
                counts["failed"] += 1
                counts["exit_code"] = result["exit_code"]
                echo(f"FAILED {row['name']}: {result['failed']}")
            else:
                custody_log.append(folder, "report", examiner,  # the log first: a kill between the two is
                                   custody_log.report_details(folder, row, result["record"], result["worker"]))
                index.store_result(db, row["id"], result["record"], result["centroids"], result["embedding_model"],
                                   result)  # mended by the next run (the folder verifies, its row is written)
                counts["analysed"] += 1
                echo(f"done {counts['analysed'] + counts['failed']}/{len(todo)} {row['name']} "
                     f"({result['analysis_s']} s, {result['worker']}, peak {result['peak_memory_mb']} MB)")
            future.release()
        custody_log.append(folder, "run end", examiner, {k: v for k, v in counts.items() if k != "exit_code"})
        return counts
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        lock.close()
        db.close()
