"""Check that a report, or any other sealed record the tool writes, is intact and, given a recording,
that the two belong together.

Sealed records: report.json (``analyze``), indicators.json (``indicators``), compare.json
(``compare``) and derivation.json (``redact``); each is checked against its own JSON schema
(package data beside this module), chosen by the record's ``schema`` field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jsonschema
from referencing import Registry, Resource

from .. import __version__
from ..errors import InputError, MediaError, UsageError
from ..intake import check_input, decode_file, hash_file
from .canonical import INTEGRITY_KEY, integrity_digest, render
from .formats import manifest
from .formats.view import count
from .output import SIDE_RECORDS, side_folder_files

REPORT_NAME = "report.json"
# record file name -> (its schema id, the schema file beside this module)
RECORDS = {REPORT_NAME: ("evidence-audio/report/v1", "schema.json"),
           "indicators.json": ("evidence-audio/indicators/v1", "indicators.schema.json"),
           "compare.json": ("evidence-audio/compare/v1", "compare.schema.json"),
           "derivation.json": ("evidence-audio/derivation/v1", "derivation.schema.json")}
_RENDERINGS = {".pdf", ".html", ".htm", ".srt", ".vtt", ".txt", ".rttm", ".png"}
# The parts of report.html drawn from the recording's signal (the timeline figure with its clickable
# regions, the player with its listening copy), marked in the template; compared only with the recording.
_DRAWN_FROM_AUDIO = re.compile(rb"<!--drawn-from-audio-->.*?<!--/drawn-from-audio-->", re.S)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    note: bool = False  # says what was not or could not be checked; not counted as a check

    def line(self) -> str:
        return f"{'NOTE' if self.note else 'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}"


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
    checks += audio_identity_checks(evidence.get("audio", {}), recording, facts.sha256 == expected.get("sha256"))
    return checks


LEGACY_PCM_DEFINITION = "f32le, native rate and channels, interleaved, before downmix or resampling"


def audio_identity_checks(audio: dict, recording: Path, same_file: bool) -> list[Check]:
    """Decode the recording and compare its decoded-audio and packet identities with the report's.

    The same file must match both (a report edited to claim another file's hashes fails here); a
    different file is "the same audio" only when one identity matches exactly, and the check says which.
    """
    try:
        decoded = decode_file(recording)
    except MediaError as exc:
        return [Check("decoded audio", False, f"the recording cannot be decoded: {exc}")]
    pcm = decoded.pcm_sha256
    if audio.get("pcm_definition") == LEGACY_PCM_DEFINITION and decoded.streams:  # reports before packet_sha256
        pcm = decoded.streams[0].pcm_sha256
    same_pcm, same_packets = pcm == audio.get("pcm_sha256"), decoded.packet_sha256 == audio.get("packet_sha256")
    if same_file:
        return [Check("decoded audio identity", same_pcm, "every sample of every audio stream matches the report"
                      if same_pcm else f"{pcm} (report: {audio.get('pcm_sha256')}): the report does not "
                      "describe this file's audio"),
                Check("packet identity", same_packets or "packet_sha256" not in audio,
                      "every audio packet matches the report" if same_packets else
                      "not in this older report" if "packet_sha256" not in audio else
                      f"{decoded.packet_sha256} (report: {audio.get('packet_sha256')})")]
    if same_pcm:
        return [Check("decoded audio", True, "a different file holding the same decoded audio "
                      "(decoded-audio identity matches: every sample of every audio stream)")]
    if same_packets:
        return [Check("audio packets", True, "a different file holding the same audio, re-wrapped (packet identity "
                      "matches: every audio packet's payload; decoded samples differ, e.g. by a container's trim)")]
    return [Check("decoded audio", False, "different audio: neither the decoded-audio identity nor the packet "
                  "identity matches")]


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
    digest = hashlib.sha256(listing.read_bytes()).hexdigest()  # what a signature and a time-stamp name
    checks = [Check("folder manifest", REPORT_NAME in entries,
                    f"{count(found.listed, 'file')} listed; manifest SHA-256 {digest}" if REPORT_NAME in entries
                    else f"{REPORT_NAME} is not listed")]
    checks.append(Check("folder files", found.passed,
                        "every listed file present and unchanged, none unlisted" if found.passed else
                        "; ".join(f"{label}: {', '.join(names)}" for label, names in
                                  (("changed", found.changed), ("missing", found.missing),
                                   ("not listed", found.unlisted),
                                   ("not a regular file (folder or link)", found.irregular)) if names)))
    return checks


def check_side_folder(folder: Path, record_name: str, record: dict | None) -> list[Check]:
    """Checks of a side-record folder (no manifest): only the files the command writes, and
    a derivation's derivative file matching the SHA-256 its record states."""
    allowed = side_folder_files(record_name, record)
    derivative = next(iter(allowed - {record_name, *SIDE_RECORDS[record_name]}), None)  # a derivation's copy
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
        if samples is None and f.name in ("pdf", "audio"):
            skipped.append(f.file_name)
            continue
        try:
            expected = f.render(record, samples)
        except Exception as exc:  # noqa: BLE001 - a record the renderers cannot read is a failed check
            differ.append(f"{f.file_name} (cannot render: {type(exc).__name__})")
            continue
        actual = (folder / f.file_name).read_bytes()
        if samples is None and f.name == "html":
            expected, actual = _DRAWN_FROM_AUDIO.sub(b"", expected), _DRAWN_FROM_AUDIO.sub(b"", actual)
        elif samples is not None and expected != actual and f.name in ("html", "pdf"):
            # a folder written by the library without the signal (write_report(record, folder)) has
            # no figure or player: the file must then be exactly what the record gives without it
            if f.render(record, None) == actual:
                same.append(f"{f.file_name} (rendered without the audio signal)")
                continue
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
        parts.append("the timeline figure and the player of report.html were not compared (they are drawn from "
                     "the recording)")
    detail = "; ".join(parts)
    return [Check("readable files", not differ, detail)]


def analysis_samples(record: dict, recording: Path):
    """The recording's 16 kHz analysis signal if it is the one the record describes, else None."""
    audio = decode_file(recording)
    wanted = ((record.get("evidence") or {}).get("audio") or {}).get("analysis_sha256")
    return audio.samples if audio.analysis_sha256 == wanted else None


def verify(report: Path, recording: Path | None = None, trusted: list | None = None) -> list[Check]:
    """Every check of a sealed record (report.json, another record the tool writes, or its folder)
    and, given it, of the recording.

    Parameters
    ----------
    report : Path
        The record file or its folder.
    recording : Path, optional
        The evidence file: its size, hashes and decoded audio are compared with the record, and the
        renderings drawn from its signal are made again.
    trusted : list of signing.TrustedKey, optional
        The keys the folder's signature must come from; None: the signature is checked for
        consistency only, and a note says the signer is not established.

    Returns
    -------
    list of Check
        One line each (name, passed, detail; ``note`` for what was not checked). The CLI exits 5 when
        any counted check fails.

    Raises
    ------
    UsageError
        A rendering (report.pdf, ...) given instead of the record (exit 2).
    InputError
        The record or the recording is missing or unreadable (exit 3).
    """
    from .. import custody, signing, timestamp

    path = report_path(Path(report))
    if not path.is_file():
        raise InputError(f"report not found: {path}")
    raw = path.read_bytes()
    label = path.stem if path.name in RECORDS else "report"
    checks, record = check_report(raw, label)
    if path.name in SIDE_RECORDS:  # no manifest: its folder is checked when the folder is given
        checks += check_side_folder(path.parent, path.name, record) if Path(report).is_dir() else []
        if record is not None and recording is not None:
            checks += (check_recording(record, Path(recording)) if "evidence" in record
                       else check_named_file(record, Path(recording)))
        return checks
    checks += check_folder(path.parent)  # also when given report.json: its folder must be whole
    same_audio = False
    if record is not None and recording is not None:
        found = check_recording(record, Path(recording))
        checks += found
        same_audio = any(c.passed for c in found
                         if c.name in ("recording sha256", "decoded audio", "decoded audio identity"))
    # report.json is checked as part of its folder, as the folder itself is: the same checks either way
    if record is not None:
        samples = analysis_samples(record, Path(recording)) if same_audio else None
        checks += check_rendered(path.parent, record, samples)
    listing = path.parent / manifest.MANIFEST_NAME
    manifest_sha = hashlib.sha256(listing.read_bytes()).hexdigest() if listing.is_file() else None
    checks += signing.check(path.parent, record, trusted)
    checks += custody.check(path.parent, record, manifest_sha)
    checks += timestamp.check(path.parent)
    return checks
