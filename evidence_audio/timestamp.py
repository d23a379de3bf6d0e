"""Trusted time for a report folder: an RFC 3161 time-stamp over the SHA-256 of its manifest.sha256.

``timestamp.tsq`` is the request (DER TimeStampReq: SHA-256 of manifest.sha256, a random nonce,
the authority's certificate asked for); send it to any RFC 3161 authority, e.g.
``curl -H 'Content-Type: application/timestamp-query' --data-binary @timestamp.tsq URL > reply.tsr``.
``timestamp.tsr`` is the authority's reply (DER TimeStampResp), stored by ``timestamp attach`` after
checking it answers the request. ``verify`` checks that the token's message imprint is the SHA-256
of the manifest as it is now and that the token's CMS signature verifies with the certificate it
carries; whether that certificate belongs to an authority you trust is checked with
``openssl ts -verify -in timestamp.tsr -queryfile timestamp.tsq -CAfile AUTHORITY-CA.pem``.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from asn1crypto import cms, tsp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import load_der_x509_certificate

from .custody import log_derived
from .errors import InputError, OutputError, VerificationError

REQUEST_NAME = "timestamp.tsq"
REPLY_NAME = "timestamp.tsr"
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}


def manifest_digest(folder: Path) -> bytes:
    from .report.formats.manifest import MANIFEST_NAME

    try:
        return hashlib.sha256((Path(folder) / MANIFEST_NAME).read_bytes()).digest()
    except OSError:
        raise InputError(f"not a report folder: {folder} ({MANIFEST_NAME} missing)") from None


def request(folder: Path) -> Path:
    """Write ``timestamp.tsq`` for the folder's manifest digest, and say so in its custody log;
    OutputError (exit 7) if one exists."""
    folder = Path(folder)
    digest = manifest_digest(folder)
    query = tsp.TimeStampReq({"version": 1, "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                                                                "hashed_message": digest},
                              "nonce": secrets.randbits(63), "cert_req": True})
    path = folder / REQUEST_NAME
    try:
        with open(path, "xb") as handle:
            handle.write(query.dump())
    except FileExistsError:
        raise OutputError(f"{path} exists already (a request was made; attach its reply)") from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    log_derived(folder, "timestamp request", {"request_sha256": hashlib.sha256(query.dump()).hexdigest(),
                                              "manifest_sha256": digest.hex()})
    return path


def _token_info(reply: bytes) -> tuple[tsp.TSTInfo, cms.SignedData]:
    """(TSTInfo, SignedData) of a DER TimeStampResp; ValueError if it is not a granted time-stamp."""
    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise ValueError(f"the authority did not grant the time-stamp (status {status})")
        signed = response["time_stamp_token"]["content"]
        info = signed["encap_content_info"]["content"].parsed
        info["gen_time"].native  # noqa: B018 - parse now, so damage shows here
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - asn1crypto raises many types for damaged DER
        raise ValueError(f"not an RFC 3161 time-stamp reply ({type(exc).__name__})") from None
    return info, signed


def _check_signature(signed: cms.SignedData) -> str:
    """Verify the token's CMS signature with the certificate it carries; returns that certificate's subject."""
    (signer,) = signed["signer_infos"]
    certificates = [c.chosen for c in signed["certificates"] or []]
    sid = signer["sid"].chosen
    if isinstance(sid, cms.IssuerAndSerialNumber):
        cert = next((c for c in certificates if c.serial_number == sid["serial_number"].native
                     and c.issuer == sid["issuer"]), None)
    else:
        cert = next((c for c in certificates if c.key_identifier == sid.native), None)
    if cert is None:
        raise ValueError("the token carries no certificate of its signer (request it with the certificate)")
    hash_name = signer["digest_algorithm"]["algorithm"].native
    if hash_name not in _HASHES:
        raise ValueError(f"unsupported digest {hash_name}")
    content = signed["encap_content_info"]["content"].contents
    attrs = {a["type"].native: a["values"][0].native for a in signer["signed_attrs"]}
    if attrs.get("message_digest") != hashlib.new(hash_name, content).digest():
        raise ValueError("the token's signed digest does not match its content (altered)")
    data = signer["signed_attrs"].untag().dump()  # signed as a DER SET (RFC 5652, 5.4)
    key = load_der_x509_certificate(cert.dump()).public_key()
    algorithm = _HASHES[hash_name]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signer["signature"].native, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signer["signature"].native, data, ec.ECDSA(algorithm))
        else:
            raise ValueError(f"unsupported authority key type {type(key).__name__}")
    except InvalidSignature:
        raise ValueError("the token's signature does not verify (altered)") from None
    return cert.subject.human_friendly


def attach(folder: Path, reply_path: Path) -> dict:
    """Store the authority's reply as ``timestamp.tsr`` after checking it answers the folder's request
    (same imprint, same nonce) and its signature verifies, and add it to the folder's custody log.
    Returns {gen_time, serial, policy, tsa, signer}.

    Raises InputError (exit 3) for an unreadable reply or missing request, VerificationError (exit 5)
    for a reply that does not answer it, OutputError (exit 7) when a reply is attached already.
    """
    folder = Path(folder)
    try:
        reply = Path(reply_path).read_bytes()
        query = tsp.TimeStampReq.load((folder / REQUEST_NAME).read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read {exc.filename}: {exc.strerror} (make a request with 'timestamp request')") from None
    try:
        info, signed = _token_info(reply)
        signer = _check_signature(signed)
    except ValueError as exc:
        raise VerificationError(f"{reply_path}: {exc}") from None
    if info["message_imprint"].dump() != query["message_imprint"].dump():
        raise VerificationError(f"{reply_path} time-stamps another digest than this folder's request")
    if info["nonce"].native != query["nonce"].native:
        raise VerificationError(f"{reply_path} answers another request (nonce differs)")
    if info["message_imprint"]["hashed_message"].native != manifest_digest(folder):
        raise VerificationError("the manifest changed since the request was made")
    path = folder / REPLY_NAME
    try:
        with open(path, "xb") as handle:
            handle.write(reply)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError:
        raise OutputError(f"{path} exists already") from None
    said = describe(info, signer)
    log_derived(folder, "timestamp", dict(said, reply_sha256=hashlib.sha256(reply).hexdigest()))
    return said


def describe(info: tsp.TSTInfo, signer: str) -> dict:
    tsa = info["tsa"]
    return {"gen_time": info["gen_time"].native.isoformat().replace("+00:00", "Z"),
            "serial": str(info["serial_number"].native), "policy": info["policy"].dotted,
            "tsa": tsa.chosen.human_friendly if tsa and tsa.chosen is not None and hasattr(tsa.chosen, "human_friendly")
            else None, "signer": signer}


def check(folder: Path) -> list:
    """Checks of the folder's time-stamp (report.verify Check objects); none when there is none."""
    from .report.verify import Check

    folder = Path(folder)
    if not (folder / REPLY_NAME).is_file():
        return [Check("trusted time", True, f"{REQUEST_NAME} made, no reply attached", note=True)] \
            if (folder / REQUEST_NAME).is_file() else []
    try:
        info, signed = _token_info((folder / REPLY_NAME).read_bytes())
        signer = _check_signature(signed)
    except ValueError as exc:
        return [Check("trusted time", False, f"{REPLY_NAME}: {exc}")]
    imprint = info["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    try:
        current = manifest_digest(folder)
    except InputError:
        current = None
    if algorithm != "sha256" or imprint["hashed_message"].native != current:
        return [Check("trusted time", False, "the time-stamp is for another manifest than this folder's "
                                             "(files changed and re-hashed after time-stamping?)")]
    said = describe(info, signer)
    return [Check("trusted time", True, f"manifest.sha256 existed by {said['gen_time']} (authority {signer}, "
                                        f"serial {said['serial']}); the authority's certificate is not checked "
                                        "against a trust anchor here (openssl ts -verify -CAfile ...)")]
