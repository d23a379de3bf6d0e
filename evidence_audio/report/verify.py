"""Check that a report is intact and, given a recording, that the two belong together."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jsonschema

from .. import __version__
from ..errors import InputError
from ..intake import check_input, decode_file, hash_file
from .canonical import INTEGRITY_KEY, integrity_digest, render
from .formats import manifest

REPORT_NAME = "report.json"
_FIGURE = re.compile(rb"data:image/png;base64,[A-Za-z0-9+/=]*")


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    note: bool = False  # says what was not or could not be checked; not counted as a check

    def line(self) -> str:
        return f"{'NOTE' if self.note else 'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


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
    digest = hashlib.sha256(listing.read_bytes()).hexdigest()  # what a signature and a time-stamp name
    checks = [Check("folder manifest", REPORT_NAME in entries,
                    f"{found.listed} files listed; manifest SHA-256 {digest}" if REPORT_NAME in entries
                    else f"{REPORT_NAME} is not listed")]
    checks.append(Check("folder files", found.passed,
                        "every listed file present and unchanged, none unlisted" if found.passed else
                        "; ".join(f"{label}: {', '.join(names)}" for label, names in
                                  (("changed", found.changed), ("missing", found.missing),
                                   ("not listed", found.unlisted)) if names)))
    return checks


def check_rendered(folder: Path, record: dict, samples=None) -> list[Check]:
    """The readable files re-rendered from report.json and compared byte for byte.

    Without ``samples`` (the recording's 16 kHz analysis signal) the timeline figure cannot be
    drawn: report.html is compared with its figure left out, report.pdf is not compared.
    """
    from .formats import FORMATS

    present = [f for f in FORMATS if f.name != "json" and (folder / f.file_name).is_file()]
    if not present:
        return []
    same, differ, skipped = [], [], []
    for f in present:
        if samples is None and f.name == "pdf":
            skipped.append(f.file_name)
            continue
        try:
            expected = f.render(record, samples)
        except Exception as exc:  # noqa: BLE001 - a record the renderers cannot read is a failed check
            differ.append(f"{f.file_name} (cannot render: {type(exc).__name__})")
            continue
        actual = (folder / f.file_name).read_bytes()
        if samples is None and f.name == "html":
            expected, actual = _FIGURE.sub(b"", expected), _FIGURE.sub(b"", actual)
        (same if expected == actual else differ).append(f.file_name)
    parts = []
    if differ:
        version = ((record.get("provenance") or {}).get("tool") or {}).get("version")
        why = "edited" if version == __version__ else f"edited, or made by evidence-audio {version}, this is {__version__}"
        parts.append(f"differ from report.json re-rendered: {', '.join(differ)} ({why})")
    if same:
        parts.append(f"byte-identical when re-rendered: {', '.join(same)}")
    if skipped:
        parts.append(f"not re-rendered without the recording: {', '.join(skipped)}")
    if samples is None and any(f.name == "html" for f in present):
        parts.append("the timeline figure of report.html was not compared (it is drawn from the recording)")
    detail = "; ".join(parts)
    return [Check("readable files", not differ, detail)]


def analysis_samples(record: dict, recording: Path):
    """The recording's 16 kHz analysis signal if it is the one the record describes, else None."""
    audio = decode_file(recording)
    wanted = ((record.get("evidence") or {}).get("audio") or {}).get("analysis_sha256")
    return audio.samples if audio.analysis_sha256 == wanted else None


def verify(report: Path, recording: Path | None = None, trusted: list | None = None) -> list[Check]:
    """Every check of a report (report.json or its folder) and, given it, of the recording.

    ``trusted``: signing.TrustedKey list the folder's signature must come from (None: the signature
    is checked for consistency only, and a note says the signer is not established).
    """
    from .. import custody, signing, timestamp

    path = report_path(Path(report))
    if not path.is_file():
        raise InputError(f"report not found: {path}")
    raw = path.read_bytes()
    checks, record = check_report(raw)
    checks += check_folder(path.parent, required=Path(report).is_dir())
    same_audio = False
    if record is not None and recording is not None:
        found = check_recording(record, Path(recording))
        checks += found
        same_audio = any(c.passed for c in found if c.name in ("recording sha256", "decoded audio"))
    if record is not None and Path(report).is_dir():
        samples = analysis_samples(record, Path(recording)) if same_audio else None
        checks += check_rendered(path.parent, record, samples)
    if Path(report).is_dir() or trusted:
        listing = path.parent / manifest.MANIFEST_NAME
        manifest_sha = hashlib.sha256(listing.read_bytes()).hexdigest() if listing.is_file() else None
        checks += signing.check(path.parent, record, trusted)
        checks += custody.check(path.parent, record, manifest_sha)
        checks += timestamp.check(path.parent)
    return checks
