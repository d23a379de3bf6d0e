"""Check that a report is intact and, given a recording, that the two belong together."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import jsonschema

from ..errors import InputError, MediaError
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
                    f"{found.listed} files listed" if REPORT_NAME in entries else f"{REPORT_NAME} is not listed")]
    checks.append(Check("folder files", found.passed,
                        "every listed file present and unchanged, none unlisted" if found.passed else
                        "; ".join(f"{label}: {', '.join(names)}" for label, names in
                                  (("changed", found.changed), ("missing", found.missing),
                                   ("not listed", found.unlisted)) if names)))
    return checks


def verify(report: Path, recording: Path | None = None) -> list[Check]:
    path = report_path(Path(report))
    if not path.is_file():
        raise InputError(f"report not found: {path}")
    raw = path.read_bytes()
    checks, record = check_report(raw)
    checks += check_folder(path.parent, required=Path(report).is_dir())
    if record is not None and recording is not None:
        checks += check_recording(record, Path(recording))
    return checks
