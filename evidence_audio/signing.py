"""Examiner keys and signed statements: who sealed a report folder, verifiable without evidence-audio.

* Keys are Ed25519 (RFC 8032). The private key is written in the OpenSSH private-key format (so
  ``ssh-keygen`` can use it), optionally encrypted with a passphrase (bcrypt KDF + AES-256-CTR, the
  OpenSSH default), with file mode 0600. The public key is one ``ssh-ed25519 <base64> <comment>`` line.
* A fingerprint is ``SHA256:`` + unpadded base64 of the SHA-256 of the public key blob, exactly as
  ``ssh-keygen -l`` prints it.
* A signature is OpenSSH's SSHSIG (PROTOCOL.sshsig in the OpenSSH sources), namespace
  ``evidence-audio``, hash sha512, armored. It signs ``statement.json``, which names the SHA-256 of
  ``manifest.sha256`` (itself naming every report file with its SHA-256) and the record's integrity
  digest. Check it without this tool::

      ssh-keygen -Y verify -f allowed_signers -I <principal> -n evidence-audio \\
          -s statement.json.sig < statement.json
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import __version__
from .errors import EvidenceError, InputError, OutputError

NAMESPACE = "evidence-audio"
STATEMENT_NAME = "statement.json"
SIGNATURE_NAME = "statement.json.sig"
STATEMENT_KIND = "evidence-audio signed statement v1"
_MAGIC = b"SSHSIG"
_ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_ARMOR_END = "-----END SSH SIGNATURE-----"
_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}


class KeyError_(EvidenceError):
    """A key file is missing, unreadable, of an unsupported type, or its passphrase is wrong (exit 3)."""

    exit_code = 3


class SignatureError(ValueError):
    """An SSHSIG signature that is malformed, for another namespace, or does not verify."""


# --- keys -------------------------------------------------------------------------------------

def principal_for(examiner: str) -> str:
    """The examiner's name as an allowed_signers principal: lower case, runs of other characters as '-'."""
    slug = re.sub(r"[^\w@.]+", "-", examiner.strip().lower()).strip("-_.")
    if not slug:
        raise ValueError(f"examiner name {examiner!r} has no letters or digits to name the key by")
    return slug


def public_blob(key: Ed25519PublicKey) -> bytes:
    """The SSH wire form of the public key: string 'ssh-ed25519', string key (32 bytes)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return _string(b"ssh-ed25519") + _string(raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """'SHA256:<base64, no padding>' of the public key blob, as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(public_blob(key)).digest()).decode("ascii").rstrip("=")


def public_line(key: Ed25519PublicKey, comment: str = "") -> str:
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")
    return f"{line} {comment}".rstrip()


@dataclass(frozen=True)
class KeyFiles:
    private: Path
    public: Path
    allowed_signers: Path
    principal: str
    fingerprint: str


def new_key_pair(examiner: str, out_dir: Path, passphrase: bytes | None = None) -> KeyFiles:
    """Write ``<principal>_ed25519`` (mode 0600), ``.pub`` and ``.allowed_signers`` into ``out_dir``.

    Raises OutputError (exit 7) when a file exists already, when ``out_dir`` is or lies inside a
    folder this tool wrote (keys are never written into a report folder), or when the folder cannot
    be written.
    """
    from .report.output import written_by_this_tool

    principal = principal_for(examiner)
    out_dir = Path(out_dir)
    for folder in (out_dir, *Path(os.path.abspath(out_dir)).parents):
        if written_by_this_tool(folder):
            raise OutputError(f"refusing to write keys into {out_dir}: {folder} is a report folder")
    private_path = out_dir / f"{principal}_ed25519"
    paths = (private_path, private_path.with_name(private_path.name + ".pub"),
             private_path.with_name(private_path.name + ".allowed_signers"))
    for path in paths:
        if os.path.lexists(path):
            raise OutputError(f"key file exists already: {path} (keys are never overwritten)")
    key = Ed25519PrivateKey.generate()
    encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                  else serialization.NoEncryption())
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption)
    public = public_line(key.public_key(), examiner.strip())
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_new(paths[0], private, 0o600)
        _write_new(paths[1], (public + "\n").encode("utf-8"), 0o644)
        _write_new(paths[2], allowed_signers_line(principal, key.public_key()).encode("utf-8"), 0o644)
    except OSError as exc:
        raise OutputError(f"cannot write key files into {out_dir}: {exc.strerror or exc}") from None
    return KeyFiles(*paths, principal=principal, fingerprint=fingerprint(key.public_key()))


def allowed_signers_line(principal: str, key: Ed25519PublicKey) -> str:
    return f'{principal} namespaces="{NAMESPACE}" {public_line(key)}\n'


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, mode)  # whatever the umask


def examiner_of(key: Path, examiner: str | None = None) -> str | None:
    """The name a statement signed with ``key`` gives: ``examiner`` if given, else the comment of the
    key's public half (KEY.pub, as 'keys new' writes it); None when neither names anyone."""
    if examiner:
        return examiner
    pub = key.with_name(key.name + ".pub")
    parts = pub.read_text(encoding="utf-8").split(maxsplit=2) if pub.is_file() else []
    return parts[2].strip() if len(parts) > 2 else None


def key_is_encrypted(path: Path) -> bool:
    """Whether the private key file at ``path`` needs a passphrase (raises KeyError_ if unreadable)."""
    try:
        serialization.load_ssh_private_key(_read(path), password=None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False  # reported by load_private_key
    return False


def load_private_key(path: Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """An Ed25519 private key from an OpenSSH private-key file; KeyError_ (exit 3) on any failure."""
    if passphrase and not key_is_encrypted(path):
        passphrase = None  # a passphrase given for an unprotected key is not needed
    try:
        key = serialization.load_ssh_private_key(_read(path), password=passphrase or None)
    except TypeError:
        raise KeyError_(f"private key {path} is protected: give its passphrase") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyError_(f"wrong passphrase for {path} (or a damaged key file)" if passphrase
                        and key_is_encrypted(path) else f"not an OpenSSH private key: {path} ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"private key {path} is not Ed25519 (make one with: evidence-audio keys new)")
    return key


def load_public_key(text: str, where: str = "public key") -> Ed25519PublicKey:
    """An Ed25519 public key from one OpenSSH line ('ssh-ed25519 AAAA... [comment]')."""
    try:
        key = serialization.load_ssh_public_key(" ".join(text.split()[:2]).encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError) as exc:
        raise KeyError_(f"{where} is not an OpenSSH public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyError_(f"{where} is not an Ed25519 key")
    return key


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyError_(f"cannot read key file {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class TrustedKey:
    principal: str  # the name the key is trusted under (allowed_signers principal, or the .pub comment)
    key: Ed25519PublicKey


def trusted_keys(public_key_file: Path | None = None, allowed_signers: Path | None = None) -> list[TrustedKey]:
    """Keys a signature may be checked against: one .pub file, or every Ed25519 line of an
    allowed_signers file (OpenSSH format; lines restricted by ``namespaces=`` to other namespaces,
    and ``cert-authority`` lines, are not used)."""
    found = []
    if public_key_file is not None:
        text = _read(public_key_file).decode("utf-8", "replace").strip()
        parts = text.split(maxsplit=2)
        found.append(TrustedKey(parts[2] if len(parts) > 2 else str(public_key_file),
                                load_public_key(text, str(public_key_file))))
    if allowed_signers is not None:
        for number, line in enumerate(_read(allowed_signers).decode("utf-8", "replace").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            tokens = re.findall(r'(?:[^\s"]|"[^"]*")+', line)
            at = next((i for i, t in enumerate(tokens) if t.startswith(("ssh-", "ecdsa-", "sk-"))), None)
            if at is None or at == 0 or at + 1 >= len(tokens):
                raise KeyError_(f"{allowed_signers} line {number} is not 'principals [options] key-type key'")
            options = ",".join(tokens[1:at]).lower()
            namespaces = re.search(r'namespaces="([^"]*)"', options)
            if "cert-authority" in options or (namespaces and NAMESPACE not in namespaces.group(1).split(",")):
                continue
            if tokens[at] != "ssh-ed25519":
                continue
            found.append(TrustedKey(tokens[0], load_public_key(" ".join(tokens[at:at + 2]),
                                                                f"{allowed_signers} line {number}")))
        if not found:
            raise KeyError_(f"{allowed_signers} names no Ed25519 key for namespace {NAMESPACE}")
    return found


# --- SSHSIG (PROTOCOL.sshsig) -------------------------------------------------------------------

def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise SignatureError("signature is truncated")
        piece = self.data[self.at:self.at + n]
        self.at += n
        return piece

    def uint32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def string(self) -> bytes:
        return self.take(self.uint32())


def _signed_data(namespace: str, hash_name: str, message: bytes) -> bytes:
    return (_MAGIC + _string(namespace.encode()) + _string(b"") + _string(hash_name.encode())
            + _string(_HASHES[hash_name](message).digest()))


def sshsig_sign(key: Ed25519PrivateKey, message: bytes, namespace: str = NAMESPACE) -> bytes:
    """An armored SSHSIG signature of ``message`` (what ``ssh-keygen -Y sign -n namespace`` writes)."""
    signature = key.sign(_signed_data(namespace, "sha512", message))
    blob = (_MAGIC + struct.pack(">I", 1) + _string(public_blob(key.public_key())) + _string(namespace.encode())
            + _string(b"") + _string(b"sha512") + _string(_string(b"ssh-ed25519") + _string(signature)))
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    return "\n".join([_ARMOR_BEGIN, *lines, _ARMOR_END, ""]).encode("ascii")


def sshsig_verify(armored: bytes, message: bytes, namespace: str = NAMESPACE) -> Ed25519PublicKey:
    """The public key that made the SSHSIG signature ``armored`` over ``message``.

    Raises SignatureError when the signature is malformed or truncated, is for another namespace,
    uses a key type other than Ed25519, or does not verify. Whether the key is trusted is the
    caller's question (compare it with :func:`trusted_keys`).
    """
    text = armored.decode("ascii", "replace").strip()
    if not (text.startswith(_ARMOR_BEGIN) and text.endswith(_ARMOR_END)):
        raise SignatureError("not an armored SSH signature (missing BEGIN/END lines: truncated?)")
    try:
        blob = base64.b64decode("".join(text[len(_ARMOR_BEGIN):-len(_ARMOR_END)].split()), validate=True)
    except ValueError:
        raise SignatureError("signature body is not base64 (damaged)") from None
    reader = _Reader(blob)
    if reader.take(6) != _MAGIC or reader.uint32() != 1:
        raise SignatureError("not an SSHSIG version 1 signature")
    key_blob = reader.string()
    signed_namespace = reader.string().decode("utf-8", "replace")
    reader.string()  # reserved
    hash_name = reader.string().decode("ascii", "replace")
    signature = _Reader(reader.string())
    if reader.at != len(blob):
        raise SignatureError("signature has trailing bytes")
    if signed_namespace != namespace:
        raise SignatureError(f"signature is for namespace {signed_namespace!r}, not {namespace!r}")
    if hash_name not in _HASHES:
        raise SignatureError(f"unsupported hash {hash_name!r}")
    keys = _Reader(key_blob)
    if keys.string() != b"ssh-ed25519" or signature.string() != b"ssh-ed25519":
        raise SignatureError("only Ed25519 signatures are supported")
    try:
        public = Ed25519PublicKey.from_public_bytes(keys.string())
        public.verify(signature.string(), _signed_data(namespace, hash_name, message))
    except (InvalidSignature, ValueError):
        raise SignatureError("signature does not match the statement (statement or signature altered)") from None
    return public


# --- the signed statement -------------------------------------------------------------------------

def statement(files: dict[str, bytes], examiner: str, key: Ed25519PublicKey, signed_utc: str,
              custody_head: str | None) -> dict:
    """What a signature asserts about a report folder, given its files {name: bytes}.

    Raises ValueError when the folder lacks report.json or manifest.sha256.
    """
    from .report.canonical import INTEGRITY_KEY
    from .report.formats.manifest import MANIFEST_NAME, parse

    if MANIFEST_NAME not in files or "report.json" not in files:
        raise ValueError("a signed report folder needs report.json and manifest.sha256")
    record = json.loads(files["report.json"].decode("utf-8"))
    return {
        "statement": STATEMENT_KIND,
        "namespace": NAMESPACE,
        "manifest": {"file": MANIFEST_NAME, "sha256": hashlib.sha256(files[MANIFEST_NAME]).hexdigest(),
                     "files": parse(files[MANIFEST_NAME].decode("utf-8"))},
        "record_integrity_sha256": (record.get(INTEGRITY_KEY) or {}).get("digest"),
        "evidence_sha256": ((record.get("evidence") or {}).get("hashes") or {}).get("sha256"),
        "examiner": examiner,
        "principal": principal_for(examiner),
        "key_fingerprint": fingerprint(key),
        "signed_utc": signed_utc,
        "tool": {"name": "evidence-audio", "version": __version__},
        "custody_head_sha256": custody_head,
    }


def sign_files(files: dict[str, bytes], key: Ed25519PrivateKey, examiner: str, signed_utc: str,
               custody_head: str | None = None) -> dict[str, bytes]:
    """{statement.json: bytes, statement.json.sig: bytes} for a report folder's files."""
    from .report.canonical import render

    data = render(statement(files, examiner, key.public_key(), signed_utc, custody_head))
    return {STATEMENT_NAME: data, SIGNATURE_NAME: sshsig_sign(key, data)}


def read_folder(folder: Path) -> dict[str, bytes]:
    """report.json and manifest.sha256 of a folder (InputError if missing)."""
    from .report.formats.manifest import MANIFEST_NAME

    try:
        return {name: (folder / name).read_bytes() for name in ("report.json", MANIFEST_NAME)}
    except OSError as exc:
        raise InputError(f"not a report folder: {folder} ({exc.strerror}: {exc.filename})") from None


# --- checking a folder's signature -------------------------------------------------------------

def check(folder: Path, record: dict | None, trusted: list[TrustedKey] | None) -> list:
    """Checks of the folder's signed statement and signature (report.verify Check objects).

    * unsigned, no key given: a note ("unsigned: ... consistent, not who made them");
      unsigned with a key given: a failure;
    * signed: the signature must verify over statement.json, and the statement must name this
      folder's manifest.sha256 (SHA-256), this record's integrity digest, the signing key's
      fingerprint and a custody entry present in custody.jsonl;
    * the signer must be one of ``trusted``; with no key given, a note says the signature was not
      checked against a trusted key.
    """
    from .custody import CUSTODY_NAME, entry_sha256
    from .report.formats.manifest import MANIFEST_NAME
    from .report.verify import Check

    folder = Path(folder)
    have = [(folder / name).is_file() for name in (STATEMENT_NAME, SIGNATURE_NAME)]
    if not any(have):
        if trusted:
            return [Check("signature", False, "the folder is unsigned, but a key to check it with was given")]
        return [Check("signature", True, "unsigned: this shows the files are consistent, not who made them",
                      note=True)]
    if not all(have):
        missing = STATEMENT_NAME if not have[0] else SIGNATURE_NAME
        return [Check("signature", False, f"{missing} is missing beside its partner")]
    data = (folder / STATEMENT_NAME).read_bytes()
    try:
        signer = sshsig_verify((folder / SIGNATURE_NAME).read_bytes(), data)
        said = json.loads(data.decode("utf-8"))
        if not isinstance(said, dict) or said.get("statement") != STATEMENT_KIND:
            raise SignatureError(f"{STATEMENT_NAME} is not a {STATEMENT_KIND}")
    except (SignatureError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [Check("signature", False, str(exc))]
    manifest_file = folder / MANIFEST_NAME
    manifest_sha = hashlib.sha256(manifest_file.read_bytes()).hexdigest() if manifest_file.is_file() else None
    custody_file = folder / CUSTODY_NAME
    custody_hashes = [entry_sha256(line) for line in custody_file.read_bytes().splitlines()] if custody_file.is_file() else []
    problems = [what for what, ok in (
        ("the manifest differs from the signed one (files changed and re-hashed after signing?)",
         (said.get("manifest") or {}).get("sha256") == manifest_sha),
        ("the record's integrity digest differs from the signed one",
         said.get("record_integrity_sha256") == ((record or {}).get("integrity") or {}).get("digest")),
        ("the statement names another key than the one that signed it",
         said.get("key_fingerprint") == fingerprint(signer)),
        (f"{CUSTODY_NAME} lacks the entry the signature names (entries removed or rewritten)",
         said.get("custody_head_sha256") in (None, *custody_hashes)),
    ) if not ok]
    checks = [Check("signed statement", not problems, "; ".join(problems) or
                    "signature intact; it names this manifest, this record's integrity digest and the signing key")]
    who = f"{said.get('examiner')}, key {fingerprint(signer)}, signed {said.get('signed_utc')}"
    if not trusted:
        checks.append(Check("signer", True, f"{who}; the signature was not checked against a trusted key "
                                            "(give --key or --allowed-signers)", note=True))
        return checks
    raw = public_blob(signer)
    match = next((t for t in trusted if public_blob(t.key) == raw), None)
    checks.append(Check("signer", match is not None,
                        f"{who}; trusted as {match.principal}" if match else
                        f"{who}: NOT a trusted key (trusted: {', '.join(fingerprint(t.key) for t in trusted)})"))
    return checks


# --- signing a report folder -----------------------------------------------------------------------

def signed_files(files: dict[str, bytes], key: Ed25519PrivateKey, examiner: str, log: bytes | None) -> dict[str, bytes]:
    """The statement, its signature and (when ``log`` is given) custody.jsonl with a signing entry,
    for a report folder's sealed ``files`` {name: bytes} whose custody log so far is ``log``."""
    from . import custody
    from .provenance import utc_now

    added = sign_files(files, key, examiner, utc_now(), custody.entry_sha256(log.splitlines()[-1]) if log else None)
    if log is not None:
        added[custody.CUSTODY_NAME] = custody.chain([("signing", examiner, _details(files, added), None)], log)
    return added


def _details(files: dict[str, bytes], added: dict[str, bytes]) -> dict:
    """The custody entry of a signing: what was signed, with which key."""
    from .report.formats.manifest import MANIFEST_NAME

    said = json.loads(added[STATEMENT_NAME])
    return {"key_fingerprint": said["key_fingerprint"],
            "manifest_sha256": hashlib.sha256(files[MANIFEST_NAME]).hexdigest(),
            **{f"{name}_sha256": hashlib.sha256(added[file]).hexdigest()
               for name, file in (("statement", STATEMENT_NAME), ("signature", SIGNATURE_NAME))}}


def sign_folder(folder: Path, key: Ed25519PrivateKey, examiner: str) -> Path:
    """Sign an existing report folder: add statement.json and statement.json.sig, and a signing entry
    to its custody log. report.json and every listed file stay as they are.

    Raises VerificationError (exit 5) when the folder does not verify (a signature must never vouch
    for a broken folder), OutputError (exit 7) when it is signed already or cannot be written.
    """
    from .custody import CUSTODY_NAME
    from .errors import VerificationError
    from .report.verify import verify

    folder = Path(folder)
    if (folder / STATEMENT_NAME).exists() or (folder / SIGNATURE_NAME).exists():
        raise OutputError(f"{folder} is signed already ({SIGNATURE_NAME} exists)")
    failed = [c for c in verify(folder) if not c.passed]
    if failed:
        raise VerificationError(f"refusing to sign {folder}: it does not verify ({failed[0].name}: {failed[0].detail})")
    from . import custody
    from .provenance import utc_now

    log = folder / CUSTODY_NAME
    head = custody.entry_sha256(log.read_bytes().splitlines()[-1]) if log.is_file() and log.stat().st_size else None
    files = read_folder(folder)
    added = sign_files(files, key, examiner, utc_now(), head)
    try:
        for name in (SIGNATURE_NAME, STATEMENT_NAME):
            temporary = folder / f".{name}.partial-{os.getpid()}"
            _write_new(temporary, added[name], 0o644)
            os.rename(temporary, folder / name)
        custody.append(folder, "signing", examiner, _details(files, added))  # later entries may precede it
    except OSError as exc:
        raise OutputError(f"cannot write the signature into {folder}: {exc.strerror or exc}") from None
    return folder / SIGNATURE_NAME
