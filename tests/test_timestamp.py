"""RFC 3161 trusted time for a report folder, answered by a local test authority made with `openssl ts`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_formats import full  # noqa: F401  (the fixture: a record with every block, and its samples)
from evidence_audio import custody, timestamp
from evidence_audio.pipeline import write_report
from evidence_audio.report.formats import manifest
from evidence_audio.report.verify import verify

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl (Debian openssl) is not installed")

CONFIG = """[ tsa ]
default_tsa = test_tsa
[ test_tsa ]
serial = {dir}/serial
signer_cert = {dir}/tsa.crt
certs = {dir}/ca.crt
signer_key = {dir}/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_alg = sha256
[ tsa_ext ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = critical,timeStamping
"""


def _openssl(*args, cwd):
    return subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, capture_output=True, text=True, check=True)


@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    """A test time-stamp authority: root CA, RSA signing certificate for timeStamping, openssl config."""
    where = tmp_path_factory.mktemp("tsa")
    (where / "tsa.cnf").write_text(CONFIG.format(dir=where))
    (where / "serial").write_text("01\n")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
             "-out", "ca.crt", "-subj", "/CN=Test TSA Root", "-days", "3650", cwd=where)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
             "-subj", "/CN=Test Time-Stamp Authority", cwd=where)
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.crt",
             "-days", "3650", "-extfile", "tsa.cnf", "-extensions", "tsa_ext", cwd=where)
    return where


def _reply(authority: Path, query: Path, out: Path) -> Path:
    _openssl("ts", "-reply", "-config", authority / "tsa.cnf", "-queryfile", query, "-out", out, cwd=authority)
    return out


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "evidence_audio.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture()
def folder(full, tmp_path):  # noqa: F811
    record, samples = full
    return write_report(record, tmp_path / "report", samples=samples)


def test_request_attach_and_verify_with_a_local_authority(folder, authority, tmp_path):
    made = _cli("timestamp", "request", folder)
    assert made.returncode == 0, made.stderr
    query = folder / timestamp.REQUEST_NAME
    reply = _reply(authority, query, tmp_path / "reply.tsr")
    # openssl agrees the request is for this manifest, and the reply answers it
    _openssl("ts", "-verify", "-in", reply, "-queryfile", query, "-CAfile", authority / "ca.crt", cwd=tmp_path)
    _openssl("ts", "-verify", "-in", reply, "-data", folder / manifest.MANIFEST_NAME, "-CAfile", authority / "ca.crt",
             cwd=tmp_path)
    attached = _cli("timestamp", "attach", folder, reply)
    assert attached.returncode == 0, attached.stderr
    assert "Test Time-Stamp Authority" in attached.stdout
    checks = {c.name: c for c in verify(folder)}
    assert checks["trusted time"].passed and "Test Time-Stamp Authority" in checks["trusted time"].detail
    assert all(c.passed for c in checks.values())
    entries, _, broken = custody.read_entries((folder / custody.CUSTODY_NAME).read_bytes())
    assert broken is None and [e["action"] for e in entries][-2:] == ["timestamp request", "timestamp"]
    again = _cli("timestamp", "attach", folder, reply)
    assert again.returncode == 7


def test_a_rehashed_folder_or_damaged_token_fails(folder, authority, tmp_path):
    timestamp.request(folder)
    timestamp.attach(folder, _reply(authority, folder / timestamp.REQUEST_NAME, tmp_path / "reply.tsr"))
    token = folder / timestamp.REPLY_NAME
    good = token.read_bytes()
    token.write_bytes(good[:-40] + bytes(b ^ 0xFF for b in good[-40:]))  # inside the signature
    assert not {c.name: c for c in verify(folder)}["trusted time"].passed
    token.write_bytes(good)
    (folder / "transcript.txt").write_text("edited\n")
    files = {name: (folder / name).read_bytes() for name in manifest.parse((folder / manifest.MANIFEST_NAME).read_text())}
    (folder / manifest.MANIFEST_NAME).write_bytes(manifest.render(files))
    failed = {c.name: c.detail for c in verify(folder) if not c.passed}
    assert "another manifest" in failed["trusted time"]


def test_a_reply_to_another_request_is_refused(folder, authority, tmp_path):
    other = tmp_path / "other.tsq"
    _openssl("ts", "-query", "-data", folder / manifest.MANIFEST_NAME, "-sha256", "-cert", "-out", other, cwd=tmp_path)
    timestamp.request(folder)
    result = _cli("timestamp", "attach", folder, _reply(authority, other, tmp_path / "reply.tsr"))
    assert result.returncode == 5 and "nonce" in result.stderr
    assert not (folder / timestamp.REPLY_NAME).exists()
