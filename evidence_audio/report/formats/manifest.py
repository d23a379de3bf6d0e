"""manifest.sha256: the SHA-256 of every other file in the report folder, in `sha256sum` format.

`sha256sum -c manifest.sha256`, run inside the folder, checks it with no evidence-audio installed.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "manifest.sha256"
# Files added to a report folder after it is sealed, so never listed: the custody log (appended to
# by every later verify), the signed statement with its signature and the RFC 3161 time-stamp
# request and reply (they name the manifest).
UNSEALED = ("custody.jsonl", "statement.json", "statement.json.sig", "timestamp.tsq", "timestamp.tsr")
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def render(files: dict[str, bytes]) -> bytes:
    """Manifest lines for the given files (by name), sorted by name."""
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                   for name, data in sorted(files.items()) if name != MANIFEST_NAME).encode("utf-8")


def parse(text: str) -> dict[str, str]:
    """{file name: sha256} from manifest text; raises ValueError on a malformed line."""
    entries = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"line {number} is not '<sha256>  <name>'")
        if "/" in match.group(2) or match.group(2) in (".", ".."):
            raise ValueError(f"line {number} names a path outside the folder")
        entries[match.group(2)] = match.group(1)
    return entries


@dataclass(frozen=True)
class FolderCheck:
    """The folder against its manifest: files changed, missing, present but not listed, and entries
    that are not regular files (sub-folders, symbolic links, pipes), which a report folder never holds."""

    listed: int
    changed: tuple[str, ...]
    missing: tuple[str, ...]
    unlisted: tuple[str, ...]
    irregular: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not (self.changed or self.missing or self.unlisted or self.irregular)


def check_folder(folder: Path, entries: dict[str, str]) -> FolderCheck:
    """Every entry of ``folder`` accounted for: listed regular files hashed, anything else named."""
    found = list(os.scandir(folder))
    irregular = tuple(sorted(e.name for e in found if e.is_symlink() or not e.is_file(follow_symlinks=False)))
    present = {e.name for e in found if e.name not in irregular and e.name not in (MANIFEST_NAME, *UNSEALED)}
    changed = tuple(sorted(name for name, sha in entries.items() if name in present
                           and hashlib.sha256((folder / name).read_bytes()).hexdigest() != sha))
    return FolderCheck(len(entries), changed, tuple(sorted(set(entries) - present - set(irregular))),
                       tuple(sorted(present - set(entries))), irregular)
