"""The transcription beside the other stages (``pipeline.analyze_with_audio(side_by_side=True)``).

Running the speakers, events and authenticity stages on a second thread while the transcription runs
must change when things happen, never what the record says; a stage that fails on either thread must
fail the analysis with its own error, and a failed transcription must stop the other stages at their
next boundary.
"""

from __future__ import annotations

import json
import threading

import pytest

from conftest import EXAMPLES
from evidence_audio import pipeline
from evidence_audio.errors import EvidenceError
from evidence_audio.pipeline import Settings, analyze_with_audio


def test_side_by_side_gives_the_same_record_as_one_stage_at_a_time():
    models: dict = {}
    records = {mode: analyze_with_audio(EXAMPLES / "sample.wav", Settings(), models=models, side_by_side=mode)[0]
               for mode in (True, False)}
    beside, alone = records[True], records[False]
    assert beside["analysis"]["transcript"]["segments"]  # every stage really ran
    assert beside["analysis"]["speakers"]["turns"]
    assert "sound_events" in beside["analysis"]["events"] and beside["analysis"]["authenticity"]
    assert beside["analysis"] == alone["analysis"]
    assert beside["provenance"]["models"] == alone["provenance"]["models"]
    assert beside["provenance"]["threads"]["stage_threads"] == 2
    assert alone["provenance"]["threads"]["stage_threads"] == 1


def _fake_transcript(samples, rate, options, *, loaded=None, progress=None):
    return {"segments": [], "language": None}, []


@pytest.fixture
def no_models(monkeypatch):
    """Stages that load nothing: these tests are about the threads, not the models."""
    from evidence_audio.asr import transcribe
    from evidence_audio.speakers import diarize

    monkeypatch.setattr(transcribe.TranscriptionOptions, "load", lambda self: None)
    monkeypatch.setattr(diarize.SpeakerOptions, "load", lambda self: None)


def test_a_stage_failing_beside_the_transcription_fails_the_analysis(monkeypatch, no_models):
    from evidence_audio.asr import transcribe
    from evidence_audio.speakers import diarize

    def failing_speakers(*args, **kwargs):
        raise EvidenceError("the speakers stage failed")

    monkeypatch.setattr(transcribe, "transcript_stage", _fake_transcript)
    monkeypatch.setattr(diarize, "speakers_stage", failing_speakers)
    with pytest.raises(EvidenceError, match="the speakers stage failed"):
        analyze_with_audio(EXAMPLES / "jfk.flac", Settings(events=False, authenticity=False), side_by_side=True)


def test_a_failed_transcription_stops_the_other_stages(monkeypatch, no_models):
    from evidence_audio.asr import transcribe
    from evidence_audio.events import detector
    from evidence_audio.speakers import diarize

    speakers_started, release = threading.Event(), threading.Event()
    events_ran = []

    def slow_speakers(*args, **kwargs):
        speakers_started.set()
        release.wait(30)
        return {"turns": []}, []

    def failing_transcript(*args, **kwargs):
        assert speakers_started.wait(30)
        raise EvidenceError("the transcription failed")

    monkeypatch.setattr(transcribe, "transcript_stage", failing_transcript)
    monkeypatch.setattr(diarize, "speakers_stage", slow_speakers)
    monkeypatch.setattr(detector, "events_stage", lambda *a, **k: events_ran.append(1))
    with pytest.raises(EvidenceError, match="the transcription failed"):
        analyze_with_audio(EXAMPLES / "jfk.flac", Settings(authenticity=False), side_by_side=True)
    release.set()
    for thread in threading.enumerate():
        if thread.name == pipeline.STAGES_THREAD:
            thread.join(30)
    assert events_ran == []  # the events stage never started after the transcription failed
    assert not pipeline.stages_still_running()


def test_the_diarizer_is_freed_before_the_events_stage_without_a_models_cache(monkeypatch):
    """Without a models cache (one analysis, as the CLI runs it) the speakers stage's models are
    released when it ends, before the events stage loads its encoder beside the transcription."""
    import gc
    import weakref

    from evidence_audio.asr import transcribe
    from evidence_audio.events import detector
    from evidence_audio.speakers import diarize

    class Diarizer:  # what SpeakerOptions.load gives, standing in for pyannote's pipeline
        pass

    watched: list = []  # a weak reference to each diarizer loaded
    alive_at_events: list = []

    def load(self):
        diarizer = Diarizer()
        watched.append(weakref.ref(diarizer))
        return diarizer

    def events(*args, **kwargs):
        gc.collect()
        alive_at_events.append(watched[-1]() is not None)
        return {"sound_events": []}, []

    monkeypatch.setattr(transcribe.TranscriptionOptions, "load", lambda self: None)
    monkeypatch.setattr(transcribe, "transcript_stage", _fake_transcript)
    monkeypatch.setattr(diarize.SpeakerOptions, "load", load)
    monkeypatch.setattr(diarize, "speakers_stage", lambda *a, **k: ({"turns": []}, []))
    monkeypatch.setattr(detector.EventOptions, "load", lambda self: None)
    monkeypatch.setattr(detector, "events_stage", events)
    for side_by_side in (True, False):
        analyze_with_audio(EXAMPLES / "jfk.flac", Settings(authenticity=False), side_by_side=side_by_side)
    assert len(watched) == 2 and alive_at_events == [False, False]


def test_side_by_side_by_default_only_with_more_than_one_core(monkeypatch, no_models):
    from evidence_audio.asr import transcribe

    monkeypatch.setattr(transcribe, "transcript_stage", _fake_transcript)
    for cores, expected in ((1, 1), (2, 2), (None, 1)):
        monkeypatch.setattr(pipeline.os, "cpu_count", lambda cores=cores: cores)
        record, _ = analyze_with_audio(EXAMPLES / "jfk.flac", Settings(diarize=False, events=False, authenticity=False))
        assert record["provenance"]["threads"]["stage_threads"] == expected


def test_the_cli_runs_one_stage_at_a_time_when_asked(tmp_path):
    from click.testing import CliRunner

    from evidence_audio.cli import main

    result = CliRunner().invoke(main, ["analyze", str(EXAMPLES / "jfk.flac"), "-o", str(tmp_path / "out"), "-q",
                                       "--no-diarize", "--no-events", "--one-stage-at-a-time"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert record["provenance"]["threads"]["stage_threads"] == 1
    assert "fellow Americans" in " ".join(s["text"] for s in record["analysis"]["transcript"]["segments"])
