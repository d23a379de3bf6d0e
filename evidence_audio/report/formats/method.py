"""The method section: what ran, how well it is known to work, and what automatic analysis cannot do."""

from __future__ import annotations

from ... import error_rates
from .view import LOW_CONFIDENCE, analysis

_LIMITATIONS = (
    "The transcript is made by a speech recogniser, not a person. On noisy, distant, overlapping, "
    "shouted or crying speech it leaves out words, mishears them, and can produce fluent text that was "
    "never said (hallucination), most often over music, noise or silence. Every passage relied on must be "
    "checked by a person listening to the recording.",
    f"Words recognised with probability below {LOW_CONFIDENCE} are marked; segments flagged as suspect "
    "(repetitive text, low average probability, likely non-speech, stock phrases) are marked with the reasons; "
    "words whose times cannot be speech are removed and listed in the record; speech in which no word was "
    "recognised is shown as untranscribed. Each speech region's language is identified from its own audio, "
    "which is less reliable on short regions and on languages the model saw little of.",
    "The error rates above were measured on public recordings that are cleaner than most evidence; "
    "expect more errors on phone recordings of violent scenes.",
    "Speaker labels (SPEAKER_1, ...) only say which passages sound like the same voice within this "
    "recording; they do not identify anyone. Short turns, overlapping speech and similar voices are "
    "often attributed to the wrong label.",
    "{events}",
    "Times are measured from the start of the decoded audio, in seconds, rounded to the millisecond.",
)


# event classes as the limitations name them
_EVENT_NAMES = {"scream": "screams", "shout": "shouting", "cry": "crying", "impact": "blows (impact sounds)"}


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def limitations(record: dict) -> list[str]:
    """The limitations of this analysis, matching what ran: the event classes it detects and those it cannot."""
    block = analysis(record, "events")
    if not block:
        events = "Distress event detection did not run: nothing in this report says whether screams, " \
                 "crying, shouting or blows can be heard."
    else:
        missing = list(block.get("not_detected") or [])
        found = [_EVENT_NAMES.get(c, c) for c in block.get("classes") or [] if c not in missing]
        events = (f"Detected {_listed(found) or 'events'} are candidates for a person to listen to, with the "
                  "detector's score; a missed event is not evidence that nothing happened, and a detection is "
                  "not proof of what caused the sound.")
        if missing:
            events += f" This version does not detect {_listed([_EVENT_NAMES.get(c, c) for c in missing])} at all."
    return [text.replace("{events}", events) for text in _LIMITATIONS]


def stages(record: dict) -> list[tuple[str, str]]:
    """(stage, what ran) for each analysis block in the record."""
    rows = []
    transcript = analysis(record, "transcript")
    if transcript:
        rows.append(("Transcription", f"{transcript.get('engine', '?')} with model {transcript.get('model', '?')}, "
                                      f"task {transcript.get('task', '?')}"))
    speakers = analysis(record, "speakers")
    if speakers:
        rows.append(("Speakers", f"{speakers.get('engine', '?')}, pipeline {speakers.get('pipeline', '?')}"))
    events = analysis(record, "events")
    if events:
        missing = events.get("not_detected") or []
        thresholds = ", ".join(f"{name} {value}" for name, value in sorted((events.get("thresholds") or {}).items()))
        rows.append(("Distress events", f"model {events.get('model', '?')} on {events.get('encoder', '?')} embeddings, "
                                        f"window {events.get('window_s', '?')} s, hop {events.get('hop_s', '?')} s, "
                                        f"thresholds {thresholds or '?'}"
                                        + (f"; cannot detect: {', '.join(missing)}" if missing else "")))
    return rows or [("Analysis", "no analysis stage ran: this report identifies the recording only")]


def error_rate_rows() -> list[tuple[str, str, str, str]]:
    """(task, figures, dataset, how measured) for every measure the package ships."""
    return [(m.task, m.summary(), m.dataset,
             "; ".join(p for p in (m.conditions, m.benchmark and f"command: {m.benchmark}",
                                   m.measured_utc and f"measured {m.measured_utc} with version {m.tool_version}",
                                   m.notes) if p))
            for m in error_rates.load()]
