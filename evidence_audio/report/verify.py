"""Check that a report is intact and, given a recording, that the two belong together."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jsonschema

from ..errors import InputError
from ..intake import check_input, decode_file, hash_file
from .canonical import INTEGRITY_KEY, integrity_digest, render
from .formats import manifest

REPORT_NAME = "report.json"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads(files(__package__).joinpath("schema.json").read_text(encoding="utf-8"))


def schema_errors(record: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(record)]


def report_path(path: Path) -> Path:
    return path / REPORT_NAME if path.is_dir() else path


def check_report(raw: bytes) -> tuple[list[Check], dict | None]:
    """Checks on report.json alone: parse, exact layout, schema, integrity digest."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Check("report parses", False, f"not valid UTF-8 JSON ({exc})")], None
    if not isinstance(record, dict):
        return [Check("report parses", False, "top level is not an object")], None
    checks = [Check("report parses", True, "valid UTF-8 JSON")]
    checks.append(Check("report layout", raw == render(record),
                        "byte-identical to the canonical layout" if raw == render(record)
                        else "file bytes differ from the canonical layout (edited?)"))
    errors = schema_errors(record)
    checks.append(Check("report schema", not errors, "conforms to schema v1" if not errors else errors[0]))
    stated = (record.get(INTEGRITY_KEY) or {}).get("digest")
    actual = integrity_digest(record)
    checks.append(Check("integrity digest", stated == actual,
                        actual if stated == actual else f"recomputed {actual}, report states {stated}"))
    return checks, record


def check_recording(record: dict, recording: Path) -> list[Check]:
    """Checks that the recording is the exact file the report describes."""
    check_input(recording)
    evidence = record.get("evidence", {})
    expected = evidence.get("hashes", {})
    facts = hash_file(recording)
    checks = [Check("recording size", facts.size_bytes == evidence.get("size_bytes"),
                    f"{facts.size_bytes} bytes (report: {evidence.get('size_bytes')})")]
    for algorithm in ("sha256", "sha1", "md5"):
        got = getattr(facts, algorithm)
        checks.append(Check(f"recording {algorithm}", got == expected.get(algorithm),
                            got if got == expected.get(algorithm) else f"{got} (report: {expected.get(algorithm)})"))
    if facts.sha256 != expected.get("sha256"):
        pcm = decode_file(recording).pcm_sha256
        same = pcm == evidence.get("audio", {}).get("pcm_sha256")
        checks.append(Check("decoded audio", same,
                            "a different file holding the same decoded audio (re-wrapped copy)" if same
                            else "different decoded audio"))
    return checks


def check_folder(folder: Path) -> list[Check]:
    """Checks of the report folder against its manifest.sha256: every file listed, present and unchanged,
    and nothing else in the folder (no sub-folder, link or unlisted file). A missing manifest fails."""
    listing = folder / manifest.MANIFEST_NAME
    if listing.is_symlink() or not listing.is_file():
        return [Check("folder manifest", False, f"{manifest.MANIFEST_NAME} missing" if not os.path.lexists(listing)
                      else f"{manifest.MANIFEST_NAME} is not a regular file")]
    try:
        entries = manifest.parse(listing.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Check("folder manifest", False, f"{manifest.MANIFEST_NAME} unreadable: {exc}")]
    found = manifest.check_folder(folder, entries)
    checks = [Check("folder manifest", REPORT_NAME in entries,
                    f"{found.listed} files listed" if REPORT_NAME in entries else f"{REPORT_NAME} is not listed")]
    checks.append(Check("folder files", found.passed,
                        "every listed file present and unchanged, none unlisted" if found.passed else
                        "; ".join(f"{label}: {', '.join(names)}" for label, names in
                                  (("changed", found.changed), ("missing", found.missing),
                                   ("not listed", found.unlisted),
                                   ("not a regular file (folder or link)", found.irregular)) if names)))
    return checks


def verify(report: Path, recording: Path | None = None) -> list[Check]:
    path = report_path(Path(report))
    if not path.is_file():
        raise InputError(f"report not found: {path}")
    raw = path.read_bytes()
    checks, record = check_report(raw)
    checks += check_folder(path.parent)  # also when given report.json: its folder must be whole
    if record is not None and recording is not None:
        checks += check_recording(record, Path(recording))
    return checks
