"""Write a report folder atomically: all files appear together, or none do."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..errors import OutputError


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_folder(out_dir: Path, files: dict[str, bytes], overwrite: bool = False) -> Path:
    """Write files into a hidden sibling folder, then rename it into place in one step.

    A crash or Ctrl-C leaves at most a hidden ``.<name>.partial-*`` folder, never a report
    folder that looks complete.
    """
    out_dir = Path(out_dir).absolute()
    if out_dir.exists() and not overwrite:
        raise OutputError(f"output folder exists already: {out_dir} (use --overwrite to replace it)")
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot write output folder {out_dir}: {exc.strerror}") from None
    try:
        for name, data in sorted(files.items()):
            path = staging / name
            with open(path, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(staging, 0o755)
        _fsync_dir(staging)
        if out_dir.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=parent))
            os.replace(out_dir, retired / "old")
            os.replace(staging, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir
