"""Transcript cues: words and phrases of distress or coercion, found in the transcript's words.

Phrase lists are data files, evidence_audio/data/cues/<language>.tsv (category, phrase); a word
ending in * matches any word that starts with it (for inflected languages). Every list is applied
to every transcript, since recordings mix languages; each cue names the list that matched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..report.blocks import TranscriptBlock, TranscriptCue
from ..values import seconds

CUE_LANGUAGES = ("en", "ru", "az", "tr")


@dataclass(frozen=True)
class Phrase:
    category: str
    language: str
    text: str
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class Token:
    text: str  # normalised
    start: float
    end: float
    speaker: str | None
    segment_id: int


def normalise(text: str) -> list[str]:
    """Words of a text, case-folded, without punctuation (apostrophes kept, dotted capital I folded)."""
    text = unicodedata.normalize("NFKC", text).replace("İ", "i").replace("’", "'").casefold()
    text = text.replace("i̇", "i")
    return re.findall(r"[\w']+\*?", text)


@lru_cache(maxsize=1)
def phrases() -> tuple[Phrase, ...]:
    """Every phrase of every cue list."""
    found = []
    for language in CUE_LANGUAGES:
        data = resources.files("evidence_audio.data.cues").joinpath(f"{language}.tsv").read_text(encoding="utf-8")
        for line in data.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            category, text = line.split("\t")[:2]
            found.append(Phrase(category, language, text, tuple(normalise(text))))
    return tuple(found)


def _tokens(transcript: TranscriptBlock) -> list[Token]:
    """Transcript words as tokens; a segment without word timings counts as one span."""
    tokens = []
    for segment in transcript.get("segments", []):
        words = segment.get("words") or [
            {"text": segment["text"], "start": segment["start"], "end": segment["end"]}
        ]
        for word in words:
            speaker = word.get("speaker", segment.get("speaker"))
            for part in normalise(word["text"]):
                tokens.append(Token(part.rstrip("*"), word["start"], word["end"], speaker, segment["id"]))
    return tokens


def _matches(pattern: str, word: str) -> bool:
    return word.startswith(pattern[:-1]) if pattern.endswith("*") else word == pattern


def _matches_in(tokens: list[Token]) -> list[tuple[Phrase, int, int]]:
    """(phrase, first token, end token) of every match, without those inside a longer match of the
    same list ("help" inside "help me")."""
    found = []
    for phrase in phrases():
        n = len(phrase.tokens)
        for i in range(len(tokens) - n + 1):
            if all(_matches(p, t.text) for p, t in zip(phrase.tokens, tokens[i : i + n])):
                found.append((phrase, i, i + n))
    return [
        (phrase, a, b) for phrase, a, b in found
        if not any(other.language == phrase.language and c <= a and b <= d and d - c > b - a
                   for other, c, d in found)
    ]


def find_cues(transcript: TranscriptBlock) -> list[TranscriptCue]:
    """Every occurrence of a cue phrase in the transcript, in time order."""
    tokens = _tokens(transcript)
    cues = [
        {
            "category": phrase.category,
            "language": phrase.language,
            "phrase": phrase.text,
            "text": " ".join(t.text for t in tokens[a:b]),
            "start": seconds(tokens[a].start),
            "end": seconds(tokens[b - 1].end),
            "speaker": tokens[a].speaker,
            "segment_id": tokens[a].segment_id,
        }
        for phrase, a, b in _matches_in(tokens)
    ]
    return sorted(cues, key=lambda c: (c["start"], c["end"], c["language"], c["phrase"]))
