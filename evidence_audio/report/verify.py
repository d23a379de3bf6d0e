"""Check that a report, or any other sealed record the tool writes, is intact and, given a recording,
that the two belong together.

Sealed records: report.json (``analyze``), indicators.json (``indicators``), compare.json
(``compare``) and derivation.json (``redact``); each is checked against its own JSON schema
(package data beside this module), chosen by the record's ``schema`` field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from ..errors import InputError, UsageError
from ..intake import check_input, decode_file, hash_file
from .canonical import INTEGRITY_KEY, integrity_digest, render
from .formats import manifest
from .formats.view import count
from .output import SIDE_RECORDS

REPORT_NAME = "report.json"
# record file name -> (its schema id, the schema file beside this module)
RECORDS = {REPORT_NAME: ("evidence-audio/report/v1", "schema.json"),
           "indicators.json": ("evidence-audio/indicators/v1", "indicators.schema.json"),
           "compare.json": ("evidence-audio/compare/v1", "compare.schema.json"),
           "derivation.json": ("evidence-audio/derivation/v1", "derivation.schema.json")}
_RENDERINGS = {".pdf", ".html", ".htm", ".srt", ".vtt", ".txt", ".rttm", ".png"}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


@lru_cache(maxsize=None)
def schema(file_name: str = "schema.json") -> dict:
    """A record schema (JSON Schema 2020-12) from the package: schema.json (report.json) or one of RECORDS."""
    return json.loads(files(__package__).joinpath(file_name).read_text(encoding="utf-8"))


def schema_errors(record: dict, schema_id: str = RECORDS[REPORT_NAME][0]) -> list[str]:
    """'path: message' for every way ``record`` breaks the schema with this id (the side records'
    schemas refer to parts of the report's)."""
    by_id = {key: schema(name) for key, name in RECORDS.values()}
    registry = Registry().with_resources((key, Resource.from_contents(value)) for key, value in by_id.items())
    validator = jsonschema.Draft202012Validator(by_id[schema_id], registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in validator.iter_errors(record)]


def report_path(path: Path) -> Path:
    """The sealed record to check: the path itself, or the record file in a folder the tool wrote.

    Raises UsageError (exit 2) for a rendering (report.pdf, report.html, ...), naming what to verify instead.
    """
    if path.is_dir():
        return next((path / name for name in RECORDS if (path / name).is_file()), path / REPORT_NAME)
    if path.suffix.lower() in _RENDERINGS:
        raise UsageError(f"{path.name} is a rendering of a sealed record, not the record itself: verify its "
                         f"folder instead (evidence-audio verify {path.parent})")
    return path


def check_report(raw: bytes, label: str = "report") -> tuple[list[Check], dict | None]:
    """Checks on one sealed record file alone: parse, exact layout, schema, integrity digest.
    ``label`` names the record in the check lines ("report", "derivation", ...)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Check(f"{label} parses", False, f"not valid UTF-8 JSON ({exc})")], None
    if not isinstance(record, dict):
        return [Check(f"{label} parses", False, "top level is not an object")], None
    checks = [Check(f"{label} parses", True, "valid UTF-8 JSON")]
    checks.append(Check(f"{label} layout", raw == render(record),
                        "byte-identical to the canonical layout" if raw == render(record)
                        else "file bytes differ from the canonical layout (edited?)"))
    known = {key for key, _ in RECORDS.values()}
    schema_id = record.get("schema") if record.get("schema") in known else RECORDS.get(
        f"{label}.json", RECORDS[REPORT_NAME])[0]
    errors = schema_errors(record, schema_id)
    checks.append(Check(f"{label} schema", not errors, f"conforms to {schema_id}" if not errors else errors[0]))
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


def check_folder(folder: Path, required: bool) -> list[Check]:
    """Checks of the report folder against its manifest.sha256: every file listed, present and unchanged."""
    listing = folder / manifest.MANIFEST_NAME
    if not listing.is_file():
        return [Check("folder manifest", False, f"{manifest.MANIFEST_NAME} missing")] if required else []
    try:
        entries = manifest.parse(listing.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return [Check("folder manifest", False, f"{manifest.MANIFEST_NAME} unreadable: {exc}")]
    found = manifest.check_folder(folder, entries)
    checks = [Check("folder manifest", REPORT_NAME in entries,
                    f"{count(found.listed, 'file')} listed" if REPORT_NAME in entries else f"{REPORT_NAME} is not listed")]
    checks.append(Check("folder files", found.passed,
                        "every listed file present and unchanged, none unlisted" if found.passed else
                        "; ".join(f"{label}: {', '.join(names)}" for label, names in
                                  (("changed", found.changed), ("missing", found.missing),
                                   ("not listed", found.unlisted)) if names)))
    return checks


def check_side_folder(folder: Path, record_name: str, record: dict | None) -> list[Check]:
    """Checks of a side-record folder (no manifest): only the files the command writes, and
    a derivation's derivative file matching the SHA-256 its record states."""
    derivative = ((record or {}).get("derivative") or {}).get("file_name") if record_name == "derivation.json" else None
    allowed = {record_name, *SIDE_RECORDS[record_name], *([derivative] if derivative else [])}
    extra = sorted(p.name for p in folder.iterdir() if p.name not in allowed)
    figures = [name for name in SIDE_RECORDS[record_name] if (folder / name).is_file()]
    checks = [Check("folder files", not extra, "only the files the command writes"
                    + (f" ({', '.join(figures)}: a figure, not covered by the digest)" if figures else "")
                    if not extra else f"not written by the command: {', '.join(extra)}")]
    if derivative:
        path = folder / derivative
        got = hash_file(path).sha256 if path.is_file() else None
        want = record["derivative"].get("sha256")
        checks.append(Check("derivative sha256", got == want, got if got == want else
                            f"{got or 'file missing'} (derivation.json: {want})"))
    return checks


def check_named_file(record: dict, recording: Path) -> list[Check]:
    """For a derivation or comparison: the file given is one of those it names (by SHA-256)."""
    check_input(recording)
    got = hash_file(recording).sha256
    named = {role: block.get("sha256") for role, block in
             ({**record, **(record.get("comparison") or {})}).items()
             if role in ("original", "derivative", "clip") and isinstance(block, dict)}
    role = next((r for r, sha in named.items() if sha == got), None)
    return [Check("recording sha256", role is not None, f"{got}: the {role} it names" if role
                  else f"{got} (record names: {', '.join(f'{r} {s}' for r, s in named.items())})")]


def verify(report: Path, recording: Path | None = None) -> list[Check]:
    """Checks of a sealed record (report.json, indicators.json, compare.json, derivation.json, or a
    folder holding one) and, given it, of the recording it describes. Raises InputError when the
    record is missing, UsageError for a rendering such as report.pdf."""
    path = report_path(Path(report))
    if not path.is_file():
        raise InputError(f"report not found: {path}")
    raw = path.read_bytes()
    label = path.stem if path.name in RECORDS else "report"
    checks, record = check_report(raw, label)
    if path.name in SIDE_RECORDS and Path(report).is_dir():
        checks += check_side_folder(path.parent, path.name, record)
    else:
        checks += check_folder(path.parent, required=Path(report).is_dir())
    if record is not None and recording is not None:
        checks += (check_recording(record, Path(recording)) if "evidence" in record
                   else check_named_file(record, Path(recording)))
    return checks
