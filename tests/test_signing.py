"""Examiner keys, signed report folders, the custody log and the re-rendering check of verify.

Report folders here are written by the library around the real intake of examples/sample.wav (the
record of test_formats.py, every block filled in); one test runs the whole CLI with --sign on
examples/jfk.flac. Signatures are checked both ways with OpenSSH's own ssh-keygen.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES
from test_formats import full  # noqa: F401  (the fixture: a record with every block, and its samples)
from evidence_audio import custody, signing
from evidence_audio.pipeline import write_report
from evidence_audio.report.canonical import seal
from evidence_audio.report.formats import manifest, render_folder
from evidence_audio.report.output import written_by_this_tool
from evidence_audio.report.verify import verify

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (Debian openssh-client) is not installed")
EXAMINER = "Aysel Məmmədova"


def _cli(*args, input=None):
    # A session of its own, so without a controlling terminal: a hidden passphrase prompt (getpass)
    # reads the terminal when there is one, not stdin, and run from a terminal the test waited there.
    return subprocess.run([sys.executable, "-m", "evidence_audio.cli", *map(str, args)], capture_output=True,
                          text=True, input=input, timeout=900, start_new_session=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two examiners' key pairs: ours (passphrase-protected) and someone else's."""
    folder = tmp_path_factory.mktemp("keys")
    ours = signing.new_key_pair(EXAMINER, folder / "ours", b"correct horse")
    theirs = signing.new_key_pair("Someone Else", folder / "theirs")
    return ours, theirs


@pytest.fixture(scope="module")
def folders(full, keys, tmp_path_factory):  # noqa: F811
    """(signed folder, unsigned folder) of the same record, written by write_report."""
    record, samples = full
    base = tmp_path_factory.mktemp("folders")
    key = signing.load_private_key(keys[0].private, b"correct horse")
    return (write_report(record, base / "signed", samples=samples, signer=(key, EXAMINER)),
            write_report(record, base / "plain", samples=samples))


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / folder.name))


def _failed(checks) -> dict[str, str]:
    return {c.name: c.detail for c in checks if not c.passed}


def _notes(checks) -> dict[str, str]:
    return {c.name: c.detail for c in checks if c.note}


# --- keys ------------------------------------------------------------------------------------

def test_keys_new_writes_a_protected_openssh_key_and_prints_its_fingerprint(tmp_path):
    secret = tmp_path / "pass"
    secret.write_text("a long passphrase\n")
    result = _cli("keys", "new", "--examiner", EXAMINER, "-o", tmp_path / "k", "--passphrase-file", secret)
    assert result.returncode == 0, result.stderr
    private = tmp_path / "k" / "aysel-məmmədova_ed25519"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"BEGIN OPENSSH PRIVATE KEY" in private.read_bytes()
    with pytest.raises(signing.KeyError_, match="passphrase"):
        signing.load_private_key(private)
    with pytest.raises(signing.KeyError_, match="wrong passphrase"):
        signing.load_private_key(private, b"wrong")
    printed = dict(line.split(": ", 1) for line in result.stdout.splitlines())
    assert printed["public key"] == str(private) + ".pub"
    if SSH_KEYGEN:  # ssh-keygen reads the key with the passphrase and prints the same fingerprint
        derived = subprocess.run([SSH_KEYGEN, "-y", "-P", "a long passphrase", "-f", private], capture_output=True,
                                 text=True, check=True).stdout.split()
        assert derived[:2] == (tmp_path / "k" / (private.name + ".pub")).read_text().split()[:2]
        listed = subprocess.run([SSH_KEYGEN, "-l", "-f", f"{private}.pub"], capture_output=True, text=True,
                                check=True).stdout.split()
        assert listed[1] == printed["fingerprint"]
    again = _cli("keys", "new", "--examiner", EXAMINER, "-o", tmp_path / "k", "--no-passphrase")
    assert again.returncode == 7 and "exists already" in again.stderr
    prompted = _cli("keys", "new", "--examiner", "Typed In", "-o", tmp_path / "p", input="typed secret\ntyped secret\n")
    assert prompted.returncode == 0, prompted.stderr
    assert signing.load_private_key(tmp_path / "p" / "typed-in_ed25519", b"typed secret")


def test_keys_are_never_written_into_a_report_folder(folders):
    signed, _ = folders
    result = _cli("keys", "new", "--examiner", "X", "-o", signed, "--no-passphrase")
    assert result.returncode == 7 and "report folder" in result.stderr
    assert not any(p.name.startswith("x_") for p in signed.iterdir())
    inside = _cli("keys", "new", "--examiner", "X", "-o", signed / "keys", "--no-passphrase")
    assert inside.returncode == 7 and not (signed / "keys").exists()


# --- SSHSIG against OpenSSH's ssh-keygen --------------------------------------------------------

@needs_ssh_keygen
def test_our_signature_verifies_with_ssh_keygen_and_theirs_with_ours(folders, keys, tmp_path):
    signed, _ = folders
    ours, _ = keys
    command = [SSH_KEYGEN, "-Y", "verify", "-f", ours.allowed_signers, "-I", ours.principal, "-n", "evidence-audio",
               "-s", signed / signing.SIGNATURE_NAME]
    good = subprocess.run(command, input=(signed / signing.STATEMENT_NAME).read_bytes(), capture_output=True)
    assert good.returncode == 0 and ours.fingerprint.encode() in good.stdout, good.stderr
    forged = (signed / signing.STATEMENT_NAME).read_bytes().replace(b"Aysel", b"Aysal")
    assert subprocess.run(command, input=forged, capture_output=True).returncode != 0

    message = tmp_path / "message"
    message.write_bytes(b"signed by ssh-keygen\n")
    subprocess.run([SSH_KEYGEN, "-Y", "sign", "-f", ours.private, "-P", "correct horse", "-n", "evidence-audio",
                    message], capture_output=True, check=True)
    sig = (tmp_path / "message.sig").read_bytes()
    assert signing.fingerprint(signing.sshsig_verify(sig, message.read_bytes())) == ours.fingerprint
    with pytest.raises(signing.SignatureError, match="does not match"):
        signing.sshsig_verify(sig, b"signed by someone else\n")
    with pytest.raises(signing.SignatureError, match="namespace"):
        signing.sshsig_verify(sig, message.read_bytes(), namespace="file")


def test_truncated_or_damaged_signatures_fail(folders, tmp_path):
    signed, _ = folders
    sig = (signed / signing.SIGNATURE_NAME).read_bytes()
    lines = sig.splitlines(keepends=True)
    for damaged in (sig[:len(sig) // 2], b"".join(lines[:2] + lines[-1:]), sig.replace(lines[2], lines[2][::-1])):
        copy = tmp_path / f"c{len(damaged)}"
        shutil.copytree(signed, copy)
        (copy / signing.SIGNATURE_NAME).write_bytes(damaged)
        failed = _failed(verify(copy))
        assert set(failed) == {"signature"}, failed


# --- signed folders --------------------------------------------------------------------------

def test_a_signed_folder_is_the_unsigned_one_plus_signature_and_custody(folders, keys):
    signed, plain = folders
    names = {p.name for p in signed.iterdir()}
    assert names - {p.name for p in plain.iterdir()} == {signing.STATEMENT_NAME, signing.SIGNATURE_NAME}
    for name in manifest.parse((plain / manifest.MANIFEST_NAME).read_text()):
        assert (signed / name).read_bytes() == (plain / name).read_bytes(), name
    assert (signed / manifest.MANIFEST_NAME).read_bytes() == (plain / manifest.MANIFEST_NAME).read_bytes()
    said = json.loads((signed / signing.STATEMENT_NAME).read_text())
    assert said["manifest"]["sha256"] == hashlib.sha256((signed / manifest.MANIFEST_NAME).read_bytes()).hexdigest()
    assert said["record_integrity_sha256"] == json.loads((signed / "report.json").read_text())["integrity"]["digest"]
    assert (said["examiner"], said["key_fingerprint"]) == (EXAMINER, keys[0].fingerprint)
    assert written_by_this_tool(signed) and written_by_this_tool(plain)


def test_verify_names_the_signer_only_against_a_trusted_key(folders, keys):
    signed, plain = folders
    ours, theirs = keys
    trusted = verify(signed, None, signing.trusted_keys(ours.public))
    assert not _failed(trusted) and not _notes(trusted)
    signer = next(c.detail for c in trusted if c.name == "signer")
    assert EXAMINER in signer and ours.fingerprint in signer
    untrusted = verify(signed)
    assert not _failed(untrusted) and "not checked against a trusted key" in _notes(untrusted)["signer"]
    wrong = _failed(verify(signed, None, signing.trusted_keys(theirs.public)))
    assert set(wrong) == {"signer"} and "NOT a trusted key" in wrong["signer"]
    by_list = verify(signed, None, signing.trusted_keys(allowed_signers=ours.allowed_signers))
    assert not _failed(by_list) and f"trusted as {ours.principal}" in next(c.detail for c in by_list if c.name == "signer")
    assert _notes(verify(plain))["signature"] == "unsigned: this shows the files are consistent, not who made them"
    assert set(_failed(verify(plain, None, signing.trusted_keys(ours.public)))) == {"signature"}


def test_a_folder_edited_and_rehashed_fails(full, folders, keys, tmp_path):  # noqa: F811
    """The forger edits the record, re-seals it, re-renders every file and regenerates the manifest."""
    record, samples = full
    signed, _ = folders
    forged = _copy(signed, tmp_path)
    changed = seal(dict(record, provenance=dict(record["provenance"], case="another case")))
    files = render_folder(changed, samples)
    for name, data in files.items():
        (forged / name).write_bytes(data)
    checks = verify(forged, None, signing.trusted_keys(keys[0].public))
    failed = _failed(checks)
    assert set(failed) == {"signed statement", "custody log"}, failed  # the files themselves are consistent
    assert "manifest differs" in failed["signed statement"] and "integrity digest differs" in failed["signed statement"]

    # ... and re-signs with a key of their own: the statement fits, the signer is not the trusted one
    (forged / signing.STATEMENT_NAME).unlink()
    (forged / signing.SIGNATURE_NAME).unlink()
    (forged / custody.CUSTODY_NAME).write_bytes(custody.chain(custody.analysis_entries(changed, files)))
    mine = signing.load_private_key(keys[1].private)
    for name, data in signing.signed_files(files, mine, EXAMINER, (forged / custody.CUSTODY_NAME).read_bytes()).items():
        (forged / name).write_bytes(data)
    failed = _failed(verify(forged, None, signing.trusted_keys(keys[0].public)))
    assert set(failed) == {"signer"}, failed
    assert not _failed(verify(forged))  # without a key nothing establishes who made it, as the note says


def test_an_edited_html_is_caught_without_key_and_with_a_regenerated_manifest(folders, tmp_path):
    _, plain = folders
    copy = _copy(plain, tmp_path)
    page = copy / "report.html"
    page.write_bytes(page.read_bytes().replace("İş 2026/17".encode(), "İş 2026/18".encode()))
    files = {p.name: p.read_bytes() for p in copy.iterdir() if p.name in
             manifest.parse((copy / manifest.MANIFEST_NAME).read_text())}
    (copy / manifest.MANIFEST_NAME).write_bytes(manifest.render(files))
    failed = _failed(verify(copy))
    assert "readable files" in failed and "report.html" in failed["readable files"]
    assert "transcript.txt" not in failed["readable files"].split("(edited")[0]
    # given report.json rather than its folder, verify checks the same: report.json is part of the folder
    assert _failed(verify(copy / "report.json")) == failed


def test_with_the_recording_the_figure_and_pdf_are_compared_too(folders, tmp_path):
    _, plain = folders
    checks = {c.name: c for c in verify(plain, EXAMPLES / "sample.wav")}
    assert checks["readable files"].passed and "report.pdf" in checks["readable files"].detail
    assert "not re-rendered" not in checks["readable files"].detail
    copy = _copy(plain, tmp_path)
    pdf = copy / "report.pdf"
    pdf.write_bytes(pdf.read_bytes().replace(b"/Producer", b"/Producex"))
    failed = _failed(verify(copy, EXAMPLES / "sample.wav"))
    assert "report.pdf" in failed["readable files"]


# --- the custody log -------------------------------------------------------------------------

def _log_lines(folder: Path) -> list[bytes]:
    return (folder / custody.CUSTODY_NAME).read_bytes().splitlines(keepends=True)


def test_verify_appends_to_the_custody_log_and_the_chain_holds(folders, tmp_path):
    signed, _ = folders
    copy = _copy(signed, tmp_path)
    result = _cli("verify", copy, EXAMPLES / "sample.wav", "--examiner", "Second Examiner")
    assert result.returncode == 0, result.stdout + result.stderr
    entries, _, broken = custody.read_entries((copy / custody.CUSTODY_NAME).read_bytes())
    assert broken is None and [e["action"] for e in entries] == ["intake", "analysis", "signing", "verify"]
    assert entries[-1]["examiner"] == "Second Examiner" and entries[-1]["details"]["result"] == "VERIFIED"
    assert entries[0]["details"]["hashes"]["sha256"] == json.loads((copy / "report.json").read_text())["evidence"]["hashes"]["sha256"]
    assert not _failed(verify(copy))  # the appended entry keeps the folder verifiable
    # a log replaced by a link to a file elsewhere is never written through
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (copy / custody.CUSTODY_NAME).unlink()
    (copy / custody.CUSTODY_NAME).symlink_to(outside)
    assert _cli("verify", copy).returncode == 5 and outside.read_text() == "not yours\n"


def test_a_reordered_custody_log_names_the_breaking_entry(folders, tmp_path):
    signed, _ = folders
    copy = _copy(signed, tmp_path)
    custody.append(copy, "verify", "someone", {"result": "VERIFIED"})
    lines = _log_lines(copy)
    (copy / custody.CUSTODY_NAME).write_bytes(b"".join([lines[0], lines[2], lines[1], lines[3]]))
    failed = _failed(verify(copy))
    assert set(failed) == {"custody log"} and failed["custody log"].startswith("entry 2 (signing")


def test_a_missing_custody_entry_is_found(folders, tmp_path):
    signed, _ = folders
    copy = _copy(signed, tmp_path)
    custody.append(copy, "verify", "someone", {"result": "VERIFIED"})
    lines = _log_lines(copy)
    (copy / custody.CUSTODY_NAME).write_bytes(b"".join(lines[:2] + lines[3:]))  # the signing entry removed
    failed = _failed(verify(copy))
    assert set(failed) == {"custody log"} and "entry 3 (verify" in failed["custody log"]
    # the entries before signing cannot be cut either: the signed statement names the last one
    (copy / custody.CUSTODY_NAME).write_bytes(lines[0])
    failed = _failed(verify(copy))
    assert "lacks the entry the signature names" in failed["signed statement"]
    (copy / custody.CUSTODY_NAME).write_bytes(b"".join(lines)[:-5])
    assert "truncated" in _failed(verify(copy))["custody log"]


# --- the command line ------------------------------------------------------------------------

def test_sign_an_existing_folder_then_verify_on_the_command_line(folders, keys, tmp_path):
    _, plain = folders
    ours, theirs = keys
    copy = _copy(plain, tmp_path)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    secret = tmp_path / "pass"
    secret.write_text("correct horse")
    result = _cli("sign", copy, "--key", ours.private, "--passphrase-file", secret)
    assert result.returncode == 0, result.stderr
    assert ours.fingerprint in result.stdout and EXAMINER in result.stdout  # the name from the .pub comment
    after = {p.name: p.read_bytes() for p in copy.iterdir()}
    assert set(after) - set(before) == {signing.STATEMENT_NAME, signing.SIGNATURE_NAME}
    assert all(after[name] == data for name, data in before.items() if name != custody.CUSTODY_NAME)
    assert after[custody.CUSTODY_NAME].startswith(before[custody.CUSTODY_NAME])
    again = _cli("sign", copy, "--key", ours.private, "--passphrase-file", secret)
    assert again.returncode == 7 and "signed already" in again.stderr

    good = _cli("verify", copy, "--key", ours.public)
    assert good.returncode == 0 and f"PASS  signer: {EXAMINER}, key {ours.fingerprint}" in good.stdout
    wrong = _cli("verify", copy, "--key", theirs.public)
    assert wrong.returncode == 5 and "FAIL  signer" in wrong.stdout
    unsigned = _cli("verify", plain)
    assert unsigned.returncode == 0
    assert "NOTE  signature: unsigned: this shows the files are consistent, not who made them" in unsigned.stdout

    broken = _copy(plain, tmp_path / "b")
    (broken / "transcript.txt").write_text("changed")
    refused = _cli("sign", broken, "--key", theirs.private)
    assert refused.returncode == 5 and "does not verify" in refused.stderr
    assert not (broken / signing.SIGNATURE_NAME).exists()


def test_analyze_sign_on_the_command_line(keys, tmp_path):
    ours, _ = keys
    secret = tmp_path / "pass"
    secret.write_text("correct horse\n")
    out = tmp_path / "report"
    result = _cli("analyze", EXAMPLES / "jfk.flac", "-o", out, "--quiet", "--no-diarize", "--no-events",
                  "--no-authenticity", "--formats", "txt,html", "--examiner", EXAMINER,
                  "--sign", ours.private, "--passphrase-file", secret)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"report.json", "report.html", "listening-copy.opus", "transcript.txt",
                                               "manifest.sha256", custody.CUSTODY_NAME, signing.STATEMENT_NAME, signing.SIGNATURE_NAME}
    checked = _cli("verify", out, EXAMPLES / "jfk.flac", "--allowed-signers", ours.allowed_signers)
    assert checked.returncode == 0, checked.stdout
    entries = custody.read_entries((out / custody.CUSTODY_NAME).read_bytes())[0]
    assert [e["action"] for e in entries] == ["intake", "analysis", "signing", "verify"]
    assert entries[1]["details"]["settings"]["diarize"] is False
    bad_key = _cli("analyze", EXAMPLES / "jfk.flac", "-o", tmp_path / "x", "--sign", tmp_path / "nokey")
    assert bad_key.returncode == 3 and not (tmp_path / "x").exists()


def test_redact_from_a_report_is_entered_in_its_custody_log(folders, tmp_path):
    _, plain = folders
    copy = _copy(plain, tmp_path)
    result = _cli("redact", EXAMPLES / "sample.wav", "--ranges", "1-2", "--report", copy / "report.json",
                  "--speaker", "SPEAKER_2", "-o", tmp_path / "red")
    assert result.returncode == 0, result.stderr
    entries, _, broken = custody.read_entries((copy / custody.CUSTODY_NAME).read_bytes())
    assert broken is None and entries[-1]["action"] == "redact"
    derived = json.loads((tmp_path / "red" / "derivation.json").read_text())
    assert entries[-1]["details"]["derivative_sha256"] == derived["derivative"]["sha256"]
