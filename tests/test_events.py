"""Distress events: cue lists, frame merging, the shipped classifier on real recordings, the CLI."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from evidence_audio.cli import main
from evidence_audio.events import classifier, cues, frames
from evidence_audio.events.detector import DistressDetector, events_block
from evidence_audio.events.merge import Smoothing, merge_frames
from evidence_audio.intake import decode_file
from evidence_audio.report.verify import schema

from conftest import EXAMPLES

SCREAM = "events_scream_shout/devi_harikaa/screams/femaleScream-002.wav"
CRY = "events_cry_donateacry/hungry"


def _transcript(*segments):
    return {"segments": [
        {"id": i, "start": words[0][1], "end": words[-1][2], "text": " ".join(w[0] for w in words), "speaker": spk,
         "words": [{"text": w, "start": s, "end": e, "probability": 0.9} for w, s, e in words]}
        for i, (spk, words) in enumerate(segments)
    ]}


def test_every_cue_list_parses_into_known_categories():
    found = cues.phrases()
    assert {p.language for p in found} == set(cues.CUE_LANGUAGES)
    assert {p.category for p in found} == {"help", "stop", "plea", "pain", "threat", "money"}
    assert all(p.tokens for p in found)


def test_cues_are_timed_by_words_and_carry_the_speaker():
    transcript = _transcript(
        ("SPEAKER_1", [(" Please,", 1.0, 1.4), (" don't", 1.4, 1.6), (" hit", 1.6, 1.8), (" me!", 1.8, 2.0)]),
        ("SPEAKER_2", [(" That", 3.0, 3.2), (" was", 3.2, 3.4), (" helpful.", 3.4, 3.9)]),
        ("SPEAKER_2", [(" Помогите!", 5.0, 5.6), (" Не", 6.0, 6.1), (" бейте", 6.1, 6.5)]),
        ("SPEAKER_1", [(" YARDIM", 7.0, 7.5), (" edin", 7.5, 7.9)]),
    )
    found = cues.find_cues(transcript)
    spans = {(c["phrase"], c["language"], c["start"], c["end"], c["speaker"]) for c in found}
    assert ("please", "en", 1.0, 1.4, "SPEAKER_1") in spans
    assert ("don't hit me", "en", 1.4, 2.0, "SPEAKER_1") in spans
    assert ("don't hit", "en", 1.4, 1.8, "SPEAKER_1") not in spans  # inside the longer match
    assert ("помог*", "ru", 5.0, 5.6, "SPEAKER_2") in spans
    assert ("не бей*", "ru", 6.0, 6.5, "SPEAKER_2") in spans
    assert ("yardım*", "tr", 7.0, 7.5, "SPEAKER_1") not in spans  # "YARDIM" folds to "yardim", not "yardım"
    assert not [c for c in found if c["segment_id"] == 1]  # "helpful" is not "help"
    assert [c["start"] for c in found] == sorted(c["start"] for c in found)


def test_turkish_capitals_fold_to_the_listed_spelling():
    found = cues.find_cues(_transcript((None, [(" İmdat!", 0.5, 1.0), (" Yardım", 1.0, 1.5)])))
    assert {(c["phrase"], c["language"]) for c in found} >= {("imdat", "tr"), ("yardım*", "tr")}


def test_segments_without_word_timings_give_segment_times():
    transcript = {"segments": [{"id": 0, "start": 2.0, "end": 4.0, "text": "Stop it, it hurts."}]}
    found = cues.find_cues(transcript)
    assert {c["phrase"] for c in found} == {"stop it", "it hurts"}
    assert all((c["start"], c["end"], c["speaker"]) == (2.0, 4.0, None) for c in found)


def test_windows_cover_the_recording_every_hop():
    assert frames.frame_windows(0.6) == [(0.0, 0.6)]
    windows = frames.frame_windows(3.2)
    assert windows[0] == (0.0, 1.0) and windows[-1][1] == 3.2
    assert all(b[0] - a[0] == frames.HOP_S for a, b in zip(windows, windows[1:]))


def test_runs_of_windows_above_threshold_merge_into_events():
    starts = np.arange(10) * 0.5
    ends = starts + 1.0
    scores = np.zeros((10, 2))
    scores[[1, 2, 3], 0] = [0.6, 0.9, 0.7]
    scores[[8], 0] = 0.8
    scores[[5], 1] = 0.4
    events = merge_frames(starts, ends, scores, ("scream", "cry"), {"scream": 0.5, "cry": 0.5})
    assert [(e.label, e.start, e.end, e.score) for e in events] == [("scream", 0.5, 2.5, 0.9), ("scream", 4.0, 5.0, 0.8)]


def test_a_window_counts_for_the_class_furthest_above_its_threshold():
    starts = np.array([0.0, 0.5])
    scores = np.array([[0.6, 0.95], [0.9, 0.5]])  # window 0: scream 1.2x, cry 1.9x its threshold
    events = merge_frames(starts, starts + 1.0, scores, ("scream", "cry"), {"scream": 0.5, "cry": 0.5})
    assert [(e.label, e.start, e.end) for e in events] == [("cry", 0.0, 1.0), ("scream", 0.5, 1.5)]


def test_hysteresis_keeps_one_scream_with_a_weaker_middle_one_event():
    starts = np.arange(20) * 0.5
    scores = np.zeros((20, 1))
    scores[2:4, 0] = 0.9  # onset
    scores[4:10, 0] = 0.35  # the scream goes on, weaker: under the on threshold, over the off one
    scores[10:12, 0] = 0.8
    plain = merge_frames(starts, starts + 1.0, scores, ("scream",), {"scream": 0.5})
    assert [(e.start, e.end) for e in plain] == [(1.0, 2.5), (5.0, 6.5)]
    held = merge_frames(starts, starts + 1.0, scores, ("scream",), {"scream": 0.5}, Smoothing(off_ratio=0.5))
    assert [(e.start, e.end, e.score) for e in held] == [(1.0, 6.5, 0.9)]
    # windows over the off threshold alone never start an event
    scores[2:4, 0] = scores[10:12, 0] = 0.35
    assert merge_frames(starts, starts + 1.0, scores, ("scream",), {"scream": 0.5}, Smoothing(off_ratio=0.5)) == []


def test_short_events_are_dropped_unless_the_recording_is_shorter():
    starts = np.arange(10) * 0.5
    scores = np.zeros((10, 1))
    scores[1, 0] = 0.9  # one window: a 1 s event
    scores[5:8, 0] = 0.9  # three windows: 2.5 ... 4.5
    rule = Smoothing(min_event_s=1.5, merge_gap_s=0.0)
    events = merge_frames(starts, starts + 1.0, scores, ("scream",), {"scream": 0.5}, rule)
    assert [(e.start, e.end) for e in events] == [(2.5, 4.5)]
    short = merge_frames(np.array([0.0]), np.array([0.8]), np.array([[0.9]]), ("scream",), {"scream": 0.5}, rule)
    assert [(e.start, e.end) for e in short] == [(0.0, 0.8)]


def test_merge_gap_joins_events_of_one_class_only():
    starts = np.arange(12) * 0.5
    scores = np.zeros((12, 2))
    scores[[1, 6], 0] = 0.9  # scream windows 0.5-1.5 and 3.0-4.0: gap 1.5 s
    scores[[3], 1] = 0.9  # a cry between them
    for gap, expected in ((1.0, 2), (2.0, 1)):
        events = merge_frames(starts, starts + 1.0, scores, ("scream", "cry"), {"scream": 0.5, "cry": 0.5},
                              Smoothing(merge_gap_s=gap))
        assert sum(e.label == "scream" for e in events) == expected
        assert [(e.start, e.end) for e in events if e.label == "cry"] == [(1.5, 2.5)]


def test_classifier_file_keeps_smoothing_and_training_data():
    folder = classifier.Path(classifier.__file__).parents[1] / "data"
    assert "smoothing" in json.loads((folder / classifier.WEIGHTS_FILE).read_text(encoding="utf-8"))
    shipped = classifier.load(folder)
    assert 0 < shipped.smoothing.off_ratio <= 1 and shipped.smoothing.merge_gap_s >= 0
    assert shipped.training_data and not any("volvo" in line and "never used" not in line
                                             for line in shipped.training_data)
    again = classifier.from_json(shipped.to_json())
    assert (again.smoothing, again.training_data, again.thresholds) == (shipped.smoothing, shipped.training_data,
                                                                        shipped.thresholds)
    older = {k: v for k, v in shipped.to_json().items() if k not in ("smoothing", "training_data")}
    assert classifier.from_json(older).smoothing == Smoothing()  # files before smoothing: the plain rule


@pytest.fixture(scope="module")
def detector():
    return DistressDetector()


def test_scream_is_found_and_speech_is_not(detector, shared_eval):
    scream = decode_file(shared_eval / SCREAM).samples
    assert "scream" in {e.label for e in detector.detect(scream)}
    speech = decode_file(EXAMPLES / "jfk.flac").samples
    assert not [e for e in detector.detect(speech) if e.label in ("scream", "cry")]


@pytest.mark.parametrize("seconds", [0.5, 30.0, 61.3, 95.0])
def test_pooling_chunk_by_chunk_gives_the_vectors_of_all_steps_at_once(detector, seconds):
    # embed keeps only the steps open windows need; the vectors must be those of every step at once,
    # bit for bit, on either side of a chunk edge and for a recording shorter than one chunk.
    jfk = decode_file(EXAMPLES / "jfk.flac").samples
    samples = np.tile(jfk, 10)[: int(seconds * 16000)].astype(np.float32)
    whole = frames.pool(frames.encoder_steps(detector.encoder, samples), samples)
    streamed = frames.embed(detector.encoder, samples)
    for name in ("starts", "ends", "vectors", "level_db"):
        assert np.array_equal(getattr(whole, name), getattr(streamed, name)), name
    assert streamed.vectors.shape == (len(frames.frame_windows(seconds)), 512)


def test_a_recording_just_short_of_a_multiple_of_30_s_is_encoded_whole(detector):
    """959,900 samples (59.99 s): rounding the inner chunk edge down to a 20 ms step left a last
    chunk of 30.01 s, which made the events stage fail ("index can't contain negative values") and
    with it the whole analysis; such a length gets one chunk more. Every chunk of every length up to
    3 minutes fits in 30 s and starts on a 20 ms step, and lengths that always fitted keep their chunks."""
    limit, step = 480000, 320
    for n in range(1, 3 * limit + 1, 97):
        edges = frames.chunk_edges(n)
        assert edges[0] == 0 and edges[-1] == n and np.diff(edges).max() <= limit
        assert all(edge % step == 0 for edge in edges[1:-1])
        plain = (np.linspace(0, n, len(edges)).round().astype(int) // step) * step
        assert np.array_equal(edges[:-1], plain[:-1]) or n - plain[-2] > limit
    jfk = decode_file(EXAMPLES / "jfk.flac").samples
    samples = np.tile(jfk, 6)[:959900].astype(np.float32)
    assert len(frames.chunk_edges(len(samples))) == 4
    found = frames.embed(detector.encoder, samples)
    assert found.vectors.shape == (len(frames.frame_windows(59.99)), 512) and np.isfinite(found.vectors).all()


def test_events_block_is_deterministic_and_fits_the_schema(detector, shared_eval):
    # A 20 s scene: JFK speech, then a real infant cry from the evaluation set.
    jfk = decode_file(EXAMPLES / "jfk.flac").samples
    cry = decode_file(sorted((shared_eval / CRY).glob("*.wav"))[0]).samples
    scene = np.concatenate([jfk, cry]).astype(np.float32)
    transcript = _transcript(("SPEAKER_1", [(" Help", 0.2, 0.5), (" me", 0.5, 0.7)]))
    first = events_block(detector, scene, transcript)
    assert first == events_block(detector, scene, transcript)
    jsonschema.validate(first, schema()["properties"]["analysis"]["properties"]["events"])
    cries = [e for e in first["sound_events"] if e["class"] == "cry"]
    assert cries and cries[0]["start"] >= len(jfk) / 16000 - 1.0
    assert [c["phrase"] for c in first["transcript_cues"]] == ["help me"]
    assert first["not_detected"] == ["impact"]


def test_events_command_prints_one_json_line_per_event_and_skips_bad_files(shared_eval, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not audio")
    result = CliRunner().invoke(main, ["events", str(shared_eval / SCREAM), str(broken), str(EXAMPLES / "jfk.flac")])
    assert result.exit_code == 4, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and {line["file"] for line in lines} <= {str(shared_eval / SCREAM), str(EXAMPLES / "jfk.flac")}
    assert all(set(line) == {"file", "class", "start", "end", "score", "model"} for line in lines)
    assert "broken.wav" in result.stderr
    # one summary line per file on stderr, so "analysed, nothing found" differs from "skipped"
    summary = [line for line in result.stderr.splitlines() if ": analysed, " in line or ": skipped: " in line]
    scream_events = sum(line["file"] == str(shared_eval / SCREAM) for line in lines)
    jfk_events = sum(line["file"] == str(EXAMPLES / "jfk.flac") for line in lines)
    plural = lambda n: f"{n} event{'' if n == 1 else 's'}"  # noqa: E731
    assert summary == [f"evidence-audio: {shared_eval / SCREAM}: analysed, {plural(scream_events)}",
                       f"evidence-audio: {broken}: skipped: " + summary[1].split(": skipped: ", 1)[1],
                       f"evidence-audio: {EXAMPLES / 'jfk.flac'}: analysed, {plural(jfk_events)}"]
    assert scream_events >= 1 and jfk_events == 0
