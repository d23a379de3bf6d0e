"""Container and metadata consistency: encoder tags, creation time, durations, stream layout."""

from __future__ import annotations

from datetime import datetime, timezone

from ..intake import Intake

CAN_SHOW = (
    "What the container says about itself: which software wrote it (when it says so), the "
    "creation time it claims, whether its declared durations agree with the audio that decodes, "
    "and whether its streams look like a single plain recording."
)
CANNOT_SHOW = (
    "Metadata is easy to write and to strip. Its absence or presence proves nothing on its own: "
    "messaging apps and platforms rewrite it, and an editor can copy a device's tags. Creation "
    "times come from the recording device's clock, which may be wrong."
)

# tags that name the writing software, by container
SOFTWARE_TAGS = ("encoder", "encoded_by", "software", "isft", "handler_name", "major_brand",
                 "compatible_brands", "com.apple.quicktime.software", "tool", "vendor_id", "comment")
TIME_TAGS = ("creation_time", "date", "icrd", "com.apple.quicktime.creationdate", "year")
EDITORS = {
    "audacity": "Audacity (audio editor)",
    "audition": "Adobe Audition (audio editor)",
    "adobe": "Adobe software",
    "garageband": "GarageBand (audio editor)",
    "logic": "Logic (audio editor)",
    "reaper": "REAPER (audio editor)",
    "wavepad": "WavePad (audio editor)",
    "ocenaudio": "ocenaudio (audio editor)",
    "izotope": "iZotope (audio repair/editing)",
    "sound forge": "Sound Forge (audio editor)",
    "goldwave": "GoldWave (audio editor)",
    "lavf": "FFmpeg libavformat (conversion or processing software)",
    "lavc": "FFmpeg libavcodec (conversion or processing software)",
    "sox": "SoX (conversion or processing software)",
}
DURATION_TOLERANCE_S = 0.1


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _finding(check: str, observed, note: str, attention: bool) -> dict:
    return {"check": check, "observed": observed, "note": note, "attention": attention}


def examine(intake: Intake) -> dict:
    """Metadata observations, each marked for attention where it departs from a plain recording."""
    container, audio = intake.container, intake.audio
    tags = {f"format:{k}": v for k, v in container.tags.items()}
    for stream in container.streams:
        tags.update({f"stream{stream.index}:{k}": v for k, v in stream.tags.items()})
    findings = []

    software = {k: v for k, v in sorted(tags.items()) if k.split(":", 1)[1].lower() in SOFTWARE_TAGS}
    named = sorted({label for v in software.values() for key, label in EDITORS.items() if key in v.lower()})
    findings.append(_finding(
        "writing software", software or None,
        ("tags name " + "; ".join(named) + ": the file was written or re-written by that software, not "
         "necessarily edited") if named else
        ("software tags present; none names a known editor or converter" if software else "no software tags"),
        bool(named)))

    times = {k: v for k, v in sorted(tags.items()) if k.split(":", 1)[1].lower() in TIME_TAGS}
    modified = _parse_time(intake.observed.modified)
    notes, attention = [], False
    for key, value in times.items():
        claimed = _parse_time(value)
        if claimed and modified and claimed > modified:
            notes.append(f"{key} ({value}) is later than the file's modification time ({intake.observed.modified})")
            attention = True
    findings.append(_finding(
        "creation time", times or None,
        "; ".join(notes) or ("claimed times do not contradict the file-system time" if times else "no creation time tag"),
        attention))

    declared = {"container": container.duration_s}
    declared.update({f"stream{s.index}": s.duration_s for s in container.streams if s.kind == "audio"})
    decoded = audio.native_duration_s
    off = {k: round(v - decoded, 3) for k, v in declared.items() if v is not None and abs(v - decoded) > DURATION_TOLERANCE_S}
    findings.append(_finding(
        "durations", {"decoded_s": round(decoded, 3), **{f"{k}_s": (round(v, 3) if v is not None else None)
                                                       for k, v in declared.items()}},
        (f"declared durations differ from the decoded audio by {off} s: the file may have been cut, "
         "appended to, or damaged, or its header was not updated") if off else
        "declared durations agree with the decoded audio (within 0.1 s)" if any(v is not None for v in declared.values())
        else "the container declares no duration",
        bool(off)))

    kinds = [s.kind for s in container.streams]
    layout_notes = []
    if kinds.count("audio") > 1:
        layout_notes.append(f"{kinds.count('audio')} audio streams (a plain recording has one)")
    if "video" in kinds:
        layout_notes.append("a video stream (cover art or video): the audio was muxed into a video or tagged")
    if any(k not in ("audio", "video") for k in kinds):
        layout_notes.append("data or subtitle streams present")
    if audio.decode_errors or audio.decode_stopped_early:
        layout_notes.append(f"{audio.decode_errors} decoding errors"
                            + (", decoding stopped early" if audio.decode_stopped_early else ""))
    layout_notes += [f"stream {c.stream_index}: " + (f"an ID3 tag inside the stream at {c.time:.3f} s (files joined?)"
                     if c.what == "id3_tag" else f"{c.what.replace('_', ' ')} {c.before} -> {c.after} at {c.time:.3f} s")
                     for c in audio.format_changes]
    layout_notes += [f"stream {g.stream_index}: timestamps jump {g.length_s:+.3f} s at {g.start:.3f} s" for g in audio.gaps]
    layout_notes += [f"{f.what} promises {f.promised_s:.3f} s, {f.decoded_s:.3f} s decoded" for f in audio.shortfalls]
    if audio.nonfinite_samples:
        layout_notes.append(f"{audio.nonfinite_samples} non-finite samples (NaN/Inf), replaced with 0")
    findings.append(_finding(
        "stream layout", {"streams": kinds, "sample_rate": audio.native_sample_rate,
                          "channels": audio.native_channels, "format": container.format_name},
        "; ".join(layout_notes) or "one audio stream, decodes without errors", bool(layout_notes)))

    flagged = [f["check"] for f in findings if f["attention"]]
    return {
        "indicator": "container and metadata consistency",
        "summary": ("worth an expert's attention: " + ", ".join(flagged)) if flagged else "nothing unusual in the metadata",
        "findings": findings,
        "can_show": CAN_SHOW,
        "cannot_show": CANNOT_SHOW,
    }
