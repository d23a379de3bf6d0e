"""report/blocks.py mirrors report/schema.json: each TypedDict names exactly its schema object's
properties, and requires exactly what the schema requires."""

from __future__ import annotations

import pytest

from evidence_audio.report import blocks
from evidence_audio.report.verify import schema

ANALYSIS = ("properties", "analysis", "properties")
MIRRORS = [
    (blocks.TranscriptBlock, ANALYSIS + ("transcript",)),
    (blocks.Segment, ANALYSIS + ("transcript", "properties", "segments", "items")),
    (blocks.Word, ANALYSIS + ("transcript", "properties", "segments", "items", "properties", "words", "items")),
    (blocks.RemovedWord, ANALYSIS + ("transcript", "properties", "segments", "items", "properties", "removed_words",
                                     "items")),
    (blocks.SpeakersBlock, ANALYSIS + ("speakers",)),
    (blocks.Turn, ANALYSIS + ("speakers", "properties", "turns", "items")),
    (blocks.Overlap, ANALYSIS + ("speakers", "properties", "overlaps", "items")),
    (blocks.Reassigned, ANALYSIS + ("speakers", "properties", "reassigned", "items")),
    (blocks.EventsBlock, ANALYSIS + ("events",)),
    (blocks.SoundEvent, ANALYSIS + ("events", "properties", "sound_events", "items")),
    (blocks.TranscriptCue, ANALYSIS + ("events", "properties", "transcript_cues", "items")),
    (blocks.AuthenticityBlock, ANALYSIS + ("authenticity",)),
    (blocks.Analysis, ("properties", "analysis")),
]


@pytest.mark.parametrize("typed, path", MIRRORS, ids=[m[0].__name__ for m in MIRRORS])
def test_each_block_type_names_exactly_the_schema_properties(typed, path):
    node = schema()
    for key in path:
        node = node[key]
    assert typed.__required_keys__ | typed.__optional_keys__ == set(node["properties"])
    assert typed.__required_keys__ == set(node.get("required", []))


def test_a_real_record_has_the_typed_keys(tmp_path):
    from conftest import EXAMPLES
    from evidence_audio.pipeline import Settings, analyze

    record = analyze(EXAMPLES / "jfk.flac", Settings(diarize=False, events=False, authenticity=False))
    transcript = record["analysis"]["transcript"]
    assert set(transcript) <= blocks.TranscriptBlock.__required_keys__ | blocks.TranscriptBlock.__optional_keys__
    for segment in transcript["segments"]:
        assert blocks.Segment.__required_keys__ <= set(segment)
        for word in segment["words"]:
            assert blocks.Word.__required_keys__ <= set(word)
