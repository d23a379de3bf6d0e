"""Content credentials: C2PA manifests embedded in the recording, read with c2pa-python (c2pa-rs).

Read offline: fetching remote manifests and OCSP responses is switched off, and no trust list is
configured, so a signer's certificate is never checked against the C2PA trust list.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version

from ..intake import Intake, open_read_only

CAN_SHOW = (
    "Whether the file carries C2PA content credentials (a signed manifest saying which device or "
    "software made or edited it), which claim generator and certificate signed them, and whether "
    "the manifest is intact and still matches the audio bytes it covers."
)
CANNOT_SHOW = (
    "Most recordings carry no credentials, and stripping them leaves an ordinary file: absence "
    "proves nothing. The certificate is not checked against a trust list here, so a valid "
    "manifest shows it is intact and signed by the certificate it names, not that the signer is "
    "who the certificate says; credentials say what the signer claims, not what happened."
)
# container (PyAV format name) -> the media type c2pa reads it as
MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac",
               "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4"}
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}


def _reader_name() -> str | None:
    try:
        import c2pa

        return f"c2pa-python {version('c2pa-python')} ({c2pa.sdk_version()})"
    except (ImportError, PackageNotFoundError, OSError):
        return None


def _manifest(label: str, manifest: dict, active: bool) -> dict:
    info = manifest.get("signature_info") or {}
    generators = manifest.get("claim_generator_info") or []
    generator = "; ".join(" ".join(str(g.get(k)) for k in ("name", "version") if g.get(k)) for g in generators)
    actions = []
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            actions += [str(a.get("action")) for a in (assertion.get("data") or {}).get("actions") or []]
    return {"label": label, "active": active, "title": manifest.get("title"),
            "claim_generator": generator or manifest.get("claim_generator"),
            "signer": {k: info.get(k) for k in ("common_name", "issuer", "alg", "cert_serial_number", "time")},
            "actions": actions}


def examine(intake: Intake) -> dict:
    """The ``content_credentials`` indicator: C2PA manifests in the recording, if any.

    Returns {"indicator", "summary", "checked", "present", "reader", "validation_state",
    "validation_failures", "manifests", "can_show", "cannot_show"}; never raises for a file
    without credentials or a container c2pa cannot read (``checked`` false, the reason in summary).
    """
    block = {"indicator": "content credentials (C2PA)", "checked": False, "present": None,
             "reader": _reader_name(), "validation_state": None, "validation_failures": [], "manifests": [],
             "can_show": CAN_SHOW, "cannot_show": CANNOT_SHOW}
    media_type = MEDIA_TYPES.get(intake.container.format_name)
    if block["reader"] is None:
        return dict(block, summary="not checked: c2pa-python is not installed")
    if media_type is None:
        return dict(block, summary=f"not checked: c2pa does not read {intake.container.format_name} files")
    import c2pa

    try:
        with open_read_only(intake.path) as handle:
            reader = c2pa.Reader(media_type, handle, context=c2pa.Context(c2pa.Settings.from_dict(OFFLINE)))
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except c2pa.C2paError.ManifestNotFound:
        return dict(block, checked=True, present=False, summary="no C2PA manifest embedded")
    except c2pa.C2paError as exc:
        return dict(block, checked=True, present=True,
                    summary=f"a C2PA manifest store is present but could not be read ({str(exc)[:200]})")
    active = store.get("active_manifest")
    manifests = [_manifest(label, m, label == active) for label, m in sorted((store.get("manifests") or {}).items())]
    failures = [{"code": s.get("code"), "explanation": s.get("explanation")} for s in store.get("validation_status") or []]
    head = next((m for m in manifests if m["active"]), manifests[0] if manifests else None)
    signer = (head or {}).get("signer") or {}
    intact = state in ("Valid", "Trusted")
    summary = (f"{len(manifests)} C2PA manifest(s); active: claim generator {head and head['claim_generator']}, "
               f"signed by {signer.get('common_name')} (issuer {signer.get('issuer')}); validation state {state}"
               + ("" if intact else f" ({', '.join(f['code'] for f in failures if f['code'] != 'signingCredential.untrusted')})")
               + "; certificate not checked against a trust list")
    return dict(block, checked=True, present=True, validation_state=state, validation_failures=failures,
                manifests=manifests, summary=summary, attention=not intact)
