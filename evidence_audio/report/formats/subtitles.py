"""transcript.srt and transcript.vtt: the transcript as readable subtitle cues, for video and audio editors.

A cue holds at most ``LINES`` lines of ``WIDTH`` characters (the usual broadcast limits; an SRT
speaker label counts). A longer segment is split into several cues at its word times; a change of
speaker inside a segment (the words' speakers, after attribution) starts a new cue. An English
translation takes the second line of each cue, and is left out where it repeats the original.
Doubtful cues (suspect segments, low-confidence words) carry DOUBT_MARK before their text, and
speech without transcribed words a "[speech not transcribed]" cue; the VTT explains both in a NOTE,
the SRT (which has no comments) in a first cue over the first two seconds.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from .view import DOUBT_MARK, DOUBT_NOTE, Line, clock, transcript_lines

WIDTH = 42  # characters per subtitle line
LINES = 2  # lines per cue


@dataclass(frozen=True)
class Cue:
    """One subtitle: its times (s), the speaker, the text lines and the translation lines."""

    start: float
    end: float
    speaker: str | None
    lines: tuple[str, ...]
    translation: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Token:
    text: str  # the word with the spacing before it, as in the segment text
    start: float | None
    end: float | None
    speaker: str | None
    doubtful: bool = False  # a word recognised with low confidence


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_long_words=True, break_on_hyphens=False) or ["…"]


def _join(tokens: list[_Token]) -> str:
    return "".join(t.text for t in tokens).strip()


def _tokens(line: Line) -> list[_Token]:
    """The segment's words with their times and speakers (the spacing taken from the segment text)."""
    if not line.words:  # a run longer than a line (a script without spaces) is cut into line lengths
        return [_Token(w[i:i + WIDTH], None, None, line.speaker) for w in re.findall(r"\s*\S+", line.text)
                for i in range(0, len(w), WIDTH)]
    tokens = [_Token(gap + token, word.start, word.end, word.speaker or line.speaker, word.low_confidence)
              for gap, token, word in line.spaced_words()]
    return [t for t in tokens if t.text.strip()]


def _same(a: str, b: str) -> bool:
    """True when two texts differ only in case, spacing and punctuation."""
    return re.sub(r"\W+", "", a.casefold()) == re.sub(r"\W+", "", b.casefold())


def _chunks(tokens: list[_Token], lines: int, labelled: bool, mark: str = "") -> list[list[_Token]]:
    """Consecutive runs of one speaker that fit ``lines`` lines (with the speaker label, if ``labelled``,
    and ``mark`` before the text)."""
    chunks: list[list[_Token]] = []
    for token in tokens:
        current = chunks[-1] if chunks else None
        label = (f"{token.speaker}: " if labelled and token.speaker else "") + mark
        if current and current[0].speaker == token.speaker and len(_wrap(label + _join(current + [token]))) <= lines:
            current.append(token)
        else:
            chunks.append([token])
    return chunks


def _times(line: Line, chunks: list[list[_Token]]) -> list[tuple[float, float]]:
    """Each chunk's (start, end): its words' times, else a share of the segment by characters;
    the first starts with the segment and the last ends with it."""
    total = sum(len(_join(c)) for c in chunks) or 1
    span, done, times = max(line.end - line.start, 0.0), 0, []
    for chunk in chunks:
        share_start = line.start + span * done / total
        done += len(_join(chunk))
        start = chunk[0].start if chunk[0].start is not None else share_start
        end = chunk[-1].end if chunk[-1].end is not None else line.start + span * done / total
        times.append((start, end))
    times[0] = (line.start, times[0][1])
    times[-1] = (times[-1][0], line.end)
    fixed, previous = [], line.start
    for start, end in times:  # in order, never overlapping, never empty
        start = max(start, previous)
        end = max(end, start + 0.001)
        fixed.append((start, end))
        previous = end
    return fixed


def cues(record: dict, labelled: bool = False) -> list[Cue]:
    """The record's transcript as cues; ``labelled``: the text lines begin with "SPEAKER_n: " (SRT)."""
    out = []
    for line in transcript_lines(record):
        translation = line.translation.strip() if line.translation else ""
        translated = bool(translation) and not _same(translation, line.text)
        room = f"{DOUBT_MARK} " if line.doubtful else ""  # kept free on every cue of a doubtful segment
        chunks = (_chunks(_tokens(line), 1 if translated else LINES, labelled, room)
                  or [[_Token("…", None, None, line.speaker)]])
        extra = _wrap(translation) if translated else []
        while len(chunks) < len(extra) and any(len(c) > 1 for c in chunks):  # one translation line a cue
            longest = max(range(len(chunks)), key=lambda i: (len(chunks[i]), len(_join(chunks[i]))))
            half = len(chunks[longest]) // 2
            chunks[longest:longest + 1] = [chunks[longest][:half], chunks[longest][half:]]
        shares = [[] for _ in chunks]
        for i, text in enumerate(extra):
            shares[min(i * len(chunks) // len(extra), len(chunks) - 1)].append(text)
        for chunk, (start, end), share in zip(chunks, _times(line, chunks), shares):
            speaker = chunk[0].speaker
            label = f"{speaker}: " if labelled and speaker else ""
            # the mark where this cue is doubtful: a suspect segment, or a low-confidence word in the cue
            mark = room if line.suspect or any(t.doubtful for t in chunk) else ""
            out.append(Cue(start, end, speaker, tuple(_wrap(label + mark + _join(chunk))), tuple(share)))
    return out


NOTE_S = 2.0  # the SRT's explanation cue lasts at most this long
SRT_NOTE = f"{DOUBT_MARK} marks doubtful text (see the report)"  # one line: an SRT has no comments


def render_srt(record: dict, samples=None) -> bytes:
    """transcript.srt. Where a cue is marked doubtful, a one-line cue explains the mark, placed where it
    hides no speech: before the first cue when that starts 1 s or more in, else after the last."""
    found = [(cue.start, cue.end, "\n".join(cue.lines + cue.translation)) for cue in cues(record, labelled=True)]
    if any(DOUBT_MARK in text for _, _, text in found):
        first = found[0][0]
        note = (0.0, min(NOTE_S, first)) if first >= 1.0 else (found[-1][1], found[-1][1] + NOTE_S)
        found = sorted(found + [(*note, SRT_NOTE)], key=lambda cue: cue[0])
    blocks = [f"{number}\n{clock(start, ',')} --> {clock(end, ',')}\n{text}\n"
              for number, (start, end, text) in enumerate(found, start=1)]
    return "\n".join(blocks).encode("utf-8")


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("-->", "--&gt;")


def render_vtt(record: dict, samples=None) -> bytes:
    blocks = ["WEBVTT\n", f"NOTE {_vtt_escape(DOUBT_NOTE)}\n"]
    for number, cue in enumerate(cues(record), start=1):
        text = [_vtt_escape(t) for t in cue.lines]
        if cue.speaker:
            text[0] = f"<v {_vtt_escape(cue.speaker)}>{text[0]}"
        text += [f"<lang en>{_vtt_escape(t)}</lang>" for t in cue.translation]
        blocks.append(f"{number}\n{clock(cue.start)} --> {clock(cue.end)}\n" + "\n".join(text) + "\n")
    return "\n".join(blocks).encode("utf-8")
