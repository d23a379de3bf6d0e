"""Canonical serialisation and the integrity hash of a report record.

* ``report.json`` is written as ``json.dumps(record, indent=2, sort_keys=True,
  ensure_ascii=False)`` plus a newline, in UTF-8: one exact byte layout, so any edit to the
  file, even of white space, is detected.
* The integrity digest is the SHA-256 of the RFC 8785 (JSON Canonicalization Scheme)
  serialisation of the record without its ``integrity`` block.
* Times are rounded to milliseconds and scores to four decimals before they enter a record
  (:mod:`evidence_audio.values`).
* Every string is valid UTF-8: a file-name byte that is not UTF-8 is recorded as ``\\xNN``
  (:func:`evidence_audio.escaping.lossless`).
"""

from __future__ import annotations

import hashlib
import json

import rfc8785

from ..escaping import lossless

INTEGRITY_KEY = "integrity"
CANONICALIZATION = "RFC 8785 (JCS) of the record without 'integrity', UTF-8"


def integrity_digest(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != INTEGRITY_KEY}
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


def seal(record: dict) -> dict:
    """Return the record, every string made valid UTF-8 (:func:`lossless`), with its integrity block added."""
    sealed = lossless({k: v for k, v in record.items() if k != INTEGRITY_KEY})
    sealed[INTEGRITY_KEY] = {
        "algorithm": "sha256",
        "canonicalization": CANONICALIZATION,
        "digest": integrity_digest(sealed),
    }
    return sealed


def render(record: dict) -> bytes:
    """The exact bytes of report.json for a record."""
    return (json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
