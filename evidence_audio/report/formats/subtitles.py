"""transcript.srt and transcript.vtt: one cue per transcript segment, for video and audio editors.

Doubtful cues (suspect segments, low-confidence words) carry DOUBT_MARK before their text, and
speech without transcribed words a "[speech not transcribed]" cue; the VTT explains both in a NOTE,
the SRT (which has no comments) in a first cue over the first two seconds.
"""

from __future__ import annotations

from .view import DOUBT_MARK, DOUBT_NOTE, transcript_lines


def _stamp(t: float, separator: str) -> str:
    ms = max(0, round(float(t) * 1000))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def _cue_lines(text: str) -> list[str]:
    """Cue text without blank lines, which would end the cue early."""
    return [part.strip() for part in text.splitlines() if part.strip()] or ["…"]


def _end(line) -> float:
    return max(line.end, line.start + 0.001)


def _marked(line, text: list[str]) -> list[str]:
    """The cue text with DOUBT_MARK before it when the line is doubtful."""
    return [f"{DOUBT_MARK} {text[0]}"] + text[1:] if line.doubtful else text


NOTE_END_S = 2.0  # the SRT's explanation cue lasts this long


def render_srt(record: dict, samples=None) -> bytes:
    lines = transcript_lines(record)
    cues = []
    if any(line.doubtful or line.untranscribed for line in lines):
        cues.append(f"1\n{_stamp(0, ',')} --> {_stamp(NOTE_END_S, ',')}\n{DOUBT_NOTE}\n")
    for number, line in enumerate(lines, start=len(cues) + 1):
        text = _marked(line, _cue_lines(line.text))
        if line.speaker:
            text[0] = f"{line.speaker}: {text[0]}"
        if line.translation:
            text += [f"[en] {t}" for t in _cue_lines(line.translation)]
        cues.append(f"{number}\n{_stamp(line.start, ',')} --> {_stamp(_end(line), ',')}\n" + "\n".join(text) + "\n")
    return "\n".join(cues).encode("utf-8")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")


def render_vtt(record: dict, samples=None) -> bytes:
    cues = ["WEBVTT\n", f"NOTE {_vtt_escape(DOUBT_NOTE)}\n"]
    for line in transcript_lines(record):
        text = _marked(line, [_vtt_escape(t) for t in _cue_lines(line.text)])
        if line.speaker:
            text[0] = f"<v {_vtt_escape(line.speaker)}>{text[0]}"
        if line.translation:
            text += [f"<lang en>{_vtt_escape(t)}</lang>" for t in _cue_lines(line.translation)]
        cues.append(f"{line.id}\n{_stamp(line.start, '.')} --> {_stamp(_end(line), '.')}\n" + "\n".join(text) + "\n")
    return "\n".join(cues).encode("utf-8")
