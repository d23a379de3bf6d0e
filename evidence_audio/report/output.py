"""Write a report folder atomically: all files appear together, or none do, and never over evidence.

Before anything is analysed or written, :func:`check_output_folder` refuses (OutputError, exit 7) an
output folder that is an input file, contains one, is a symbolic link, cannot be created or written,
or exists and is not a folder this tool wrote (``--overwrite`` replaces only those).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import tempfile
from pathlib import Path
from typing import Iterable

from ..errors import OutputError
from .formats.manifest import MANIFEST_NAME, UNSEALED

# Signals that stop a command (Ctrl-C, hang-up, terminate); held back while the folder changes state.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# The sealed record of each kind of folder the tool writes, and the files written beside it.
SIDE_RECORDS = {"compare.json": ("compare.png",), "indicators.json": ("enf.png",), "derivation.json": ()}


def _is_within(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies anywhere inside it (both already resolved)."""
    return path == folder or folder in path.parents


def _manifest_names(folder: Path) -> set[str] | None:
    from .formats import manifest

    try:
        return set(manifest.parse((folder / MANIFEST_NAME).read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _sealed(path: Path) -> dict | None:
    """The record in ``path`` if it is a JSON object whose integrity digest is intact, else None."""
    from .canonical import INTEGRITY_KEY, integrity_digest

    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    stated = (record.get(INTEGRITY_KEY) or {}).get("digest")
    return record if stated and stated == integrity_digest(record) else None


def written_by_this_tool(folder: Path) -> bool:
    """Whether ``folder`` is an output folder this tool wrote, judged by its contents, not its name.

    A report folder: ``manifest.sha256`` and ``report.json``, and nothing the manifest does not list
    but the files added after sealing (custody log, signed statement and signature).
    A side-record folder (compare, indicators, redact): one sealed record with an intact integrity
    digest and only the files written beside it.
    """
    if folder.is_symlink() or not folder.is_dir():
        return False
    try:
        entries = {entry.name: entry for entry in os.scandir(folder)}
    except OSError:
        return False
    if any(entry.is_symlink() or not entry.is_file(follow_symlinks=False) for entry in entries.values()):
        return False
    names = set(entries)
    if {MANIFEST_NAME, "report.json"} <= names:
        listed = _manifest_names(folder)
        return listed is not None and names - {MANIFEST_NAME, *UNSEALED} <= listed
    for record_name in SIDE_RECORDS:
        if record_name in names:
            record = _sealed(folder / record_name)
            return record is not None and names <= side_folder_files(record_name, record)
    return False


def side_folder_files(record_name: str, record: dict | None) -> set[str]:
    """The files the command writing ``record_name`` puts in its folder: the record, the figure beside
    it, and for a derivation the derivative file its record names."""
    derivative = ((record or {}).get("derivative") or {}).get("file_name") if record_name == "derivation.json" else None
    return {record_name, *SIDE_RECORDS[record_name], *([derivative] if derivative else [])}


def default_output_folder(recording: str | Path, kind: str) -> Path:
    """``./<file name>.<kind>`` in the current folder: where analyze (kind ``evidence``), compare (of the
    clip, ``compare``), indicators (``indicators``) and redact (``redacted``) write by default."""
    return Path.cwd() / f"{Path(recording).name}.{kind}"


def write_side_folder(output: str | Path | None, kind: str, recording: str | Path, inputs: Iterable[str | Path],
                      overwrite: bool, make) -> tuple[Path, dict, dict[str, bytes]]:
    """Write the folder of a sealed side-record (compare, indicators, derivation): the folder (``output``,
    default :func:`default_output_folder` of ``recording`` and ``kind``) is checked before ``make()``
    computes ``(record, files)``, then written atomically. Returns (folder, record, files).
    Raises OutputError (exit 7) as :func:`check_output_folder` does."""
    out_dir = check_output_folder(output or default_output_folder(recording, kind), inputs, overwrite)
    record, files = make()
    return write_folder(out_dir, files, overwrite=overwrite, inputs=inputs), record, files


def check_output_folder(out_dir: str | Path, inputs: Iterable[str | Path] = (), overwrite: bool = False) -> Path:
    """Refuse an output folder that could harm the evidence or cannot be written; returns its absolute path.

    Raises OutputError (exit 7) when ``out_dir``:
    - is, contains, or lies above any of ``inputs`` (the evidence files read by the command);
    - is a symbolic link (dangling or not);
    - exists and ``overwrite`` is false, or exists and is not a folder this tool wrote
      (:func:`written_by_this_tool`), which ``--overwrite`` never replaces;
    - would be created under a path that is not a folder, or under a folder that cannot be written.
    Checked before an analysis starts, and again when the folder is written.
    """
    out_dir = Path(os.path.abspath(out_dir))
    if out_dir.is_symlink():
        raise OutputError(f"output folder is a symbolic link: {out_dir} (give the real folder)")
    resolved = out_dir.resolve()
    for source in inputs:
        source = Path(os.path.abspath(source))
        if _is_within(source.resolve(), resolved) or _is_within(source, out_dir):
            raise OutputError(f"output folder {out_dir} is or contains the input {source}: refused, "
                              "the evidence is never overwritten")
    if os.path.lexists(out_dir):
        if not overwrite:
            raise OutputError(f"output folder exists already: {out_dir} (use --overwrite to replace it)")
        if not written_by_this_tool(out_dir):
            raise OutputError(f"refusing to overwrite {out_dir}: it is not a report folder written by "
                              "evidence-audio (its manifest and record are missing or do not match)")
    parent = out_dir.parent
    while not parent.exists() and parent != parent.parent:
        if os.path.lexists(parent):
            raise OutputError(f"cannot write output folder {out_dir}: {parent} is a broken link")
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(f"cannot write output folder {out_dir}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write output folder {out_dir}: {parent} is not writable")
    return out_dir


@contextlib.contextmanager
def _signals_held():
    """A stop signal arriving during the block is acted on (by its own handler) only after the block."""
    if threading.current_thread() is not threading.main_thread():  # Python runs handlers in the main thread only
        yield
        return
    arrived: list[int] = []
    previous = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, lambda number, frame: arrived.append(number))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if arrived:
            signal.raise_signal(arrived[0])


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_folder(out_dir: Path, files: dict[str, bytes], overwrite: bool = False,
                 inputs: Iterable[str | Path] = ()) -> Path:
    """Write files into a hidden sibling folder, then rename it into place in one step.

    Ctrl-C, SIGTERM or SIGHUP (whatever raises out of it) leaves nothing: the hidden
    ``.<name>.partial-*`` folder is removed, and stop signals are held back while it is made, swapped
    into place or removed, so none lands between two steps. A crash of the machine leaves at most that
    hidden folder, never a report folder that looks complete.

    Parameters
    ----------
    out_dir : Path
        The folder to create (or, with ``overwrite``, to replace if this tool wrote it).
    files : dict of str to bytes
        File name -> content.
    overwrite : bool
        Replace an existing folder this tool wrote.
    inputs : iterable of path
        The evidence files, which the folder must not be, contain or lie above.

    Returns
    -------
    Path
        The folder's absolute path.

    Raises
    ------
    OutputError
        As :func:`check_output_folder`, or when writing fails (exit 7).
    """
    out_dir = check_output_folder(out_dir, inputs, overwrite)
    parent = out_dir.parent
    staging = None
    try:
        try:
            with _signals_held():
                parent.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=parent))
        except OSError as exc:
            raise OutputError(f"cannot write output folder {out_dir}: {exc.strerror}") from None
        for name, data in sorted(files.items()):
            path = staging / name
            with open(path, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, 0o755)
        _fsync_dir(staging)
        with _signals_held():
            if out_dir.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
                os.replace(out_dir, retired / "old")
                os.replace(staging, out_dir)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, out_dir)
            _fsync_dir(parent)
    except BaseException:
        with _signals_held():
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
