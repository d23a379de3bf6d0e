"""C2PA content credentials in the authenticity block: a WAV and an MP3 signed here with c2pa-python.

The c2pa-python wheel ships no certificates, so the test makes its own throw-away chain with
`cryptography`: a test root CA and an ES256 signing certificate with the key usages C2PA requires.
The files are read back offline, as an analysis reads them.
"""

from __future__ import annotations

import datetime
import io
import json
import subprocess
import sys

import pytest

from conftest import EXAMPLES
from evidence_audio.authenticity import credentials, indicators
from evidence_audio.encode import encode
from evidence_audio.intake import decode_native, take_in
from evidence_audio.report.formats import html

c2pa = pytest.importorskip("c2pa", reason="c2pa-python is not installed")


def _name(common_name: str):
    from cryptography.x509 import Name, NameAttribute
    from cryptography.x509.oid import NameOID

    return Name([NameAttribute(NameOID.COMMON_NAME, common_name), NameAttribute(NameOID.ORGANIZATION_NAME, "Test Org"),
                 NameAttribute(NameOID.COUNTRY_NAME, "AZ")])


def _test_chain() -> tuple[bytes, bytes]:
    """(certificate chain PEM: signer then root, signer's private key PEM), valid 2025-2035."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    def usage(**on):
        names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
                 "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
        return x509.KeyUsage(**{n: on.get(n, False) for n in names})

    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    root_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root = (x509.CertificateBuilder().subject_name(_name("Test Root CA")).issuer_name(_name("Test Root CA"))
            .public_key(root_key.public_key()).serial_number(1).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name("Test Recorder")).issuer_name(root.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(digital_signature=True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (leaf.public_bytes(pem) + root.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _signed(source: bytes, media_type: str) -> bytes:
    chain, key = _test_chain()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(b"es256", chain, key, None))
    manifest = {"claim_generator_info": [{"name": "field-recorder-test", "version": "2.1"}], "title": "interview",
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created",
                     "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
    out = io.BytesIO()
    c2pa.Builder(json.dumps(manifest)).sign(signer, media_type, io.BytesIO(source), out)
    return out.getvalue()


@pytest.fixture(scope="module")
def signed_wav(tmp_path_factory):
    path = tmp_path_factory.mktemp("c2pa") / "signed.wav"
    path.write_bytes(_signed((EXAMPLES / "sample.wav").read_bytes(), "audio/wav"))
    return path


def test_a_signed_wav_is_listed_with_generator_signer_and_state(signed_wav):
    found = credentials.examine(take_in(signed_wav))
    assert found["checked"] and found["present"] and found["validation_state"] == "Valid"
    (manifest,) = found["manifests"]
    assert manifest["active"] and manifest["claim_generator"].startswith("field-recorder-test 2.1")
    assert manifest["signer"]["common_name"] == "Test Recorder" and manifest["signer"]["issuer"] == "Test Org"
    assert manifest["actions"] == ["c2pa.created"]
    assert [f["code"] for f in found["validation_failures"]] == ["signingCredential.untrusted"]
    assert "Test Recorder" in found["summary"] and "not checked against a trust list" in found["summary"]


def test_audio_changed_after_signing_is_invalid(signed_wav, tmp_path):
    data = bytearray(signed_wav.read_bytes())
    data[len(data) // 2] ^= 0x01  # one sample bit, inside the hashed audio
    changed = tmp_path / "changed.wav"
    changed.write_bytes(bytes(data))
    found = credentials.examine(take_in(changed))
    assert found["present"] and found["validation_state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in {f["code"] for f in found["validation_failures"]}
    assert "assertion.dataHash.mismatch" in found["summary"]


def test_a_signed_mp3_and_files_without_credentials(tmp_path):
    speech = decode_native(EXAMPLES / "sample.wav")
    mp3 = tmp_path / "plain.mp3"
    mp3.write_bytes(encode(speech.samples, speech.sample_rate, ".mp3"))
    plain = credentials.examine(take_in(mp3))
    assert plain["checked"] and plain["present"] is False and plain["summary"] == "no C2PA manifest embedded"
    signed = tmp_path / "signed.mp3"
    signed.write_bytes(_signed(mp3.read_bytes(), "audio/mpeg"))
    found = credentials.examine(take_in(signed))
    assert found["present"] and found["validation_state"] == "Valid"
    opus = tmp_path / "x.opus"
    opus.write_bytes(encode(speech.samples, speech.sample_rate, ".opus"))
    assert credentials.examine(take_in(opus))["checked"] is False


def test_credentials_appear_in_the_authenticity_block_and_the_report(signed_wav):
    intake = take_in(signed_wav)
    block = indicators(intake, native=False)
    assert block["content_credentials"]["present"]
    record = {"evidence": {"file_name": "signed.wav"}, "provenance": {}, "analysis": {"authenticity": block}}
    page = html.render(record).decode("utf-8")
    assert "content credentials (C2PA)" in page and "Test Recorder" in page
    shown = subprocess.run([sys.executable, "-m", "evidence_audio.cli", "indicators", signed_wav, "-o",
                            signed_wav.parent / "ind"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "content credentials (C2PA): 1 C2PA manifest(s)" in shown.stdout
