"""Speaker diarization: real pyannote pipeline with segmentation-3.0 and CAM++, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from media import speak

from evidence_audio.speakers import diarize
from evidence_audio.speakers.attribution import attribute_words
from evidence_audio.intake import decode_file
from evidence_audio.report.formats import rttm

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample.wav"
SAMPLE_RTTM = REPO.parent / "shared" / "eval" / "diar_pyannote_sample" / "sample.rttm"

# Three sections, two synthetic voices: A, then B, then A again, with short pauses.
SECTIONS = (
    ("en-us+m3", "Open the door now. We know you are inside the house. Come out slowly with your hands up."),
    ("en-us+f4", "Please do not hurt us. My brother is only nine years old and he is very scared."),
    ("en-us+m3", "Stay on the floor and keep quiet. Nobody leaves this room until we say so."),
)


def record_of(speakers: dict) -> dict:
    return {"evidence": {"file_name": "sample.wav"}, "analysis": {"speakers": speakers}}


def turns_of(speakers: dict):
    """The block's turns as a pyannote Annotation, as diarization.rttm is written."""
    return rttm.annotation(record_of(speakers))


@pytest.fixture(scope="module")
def diarizer():
    return diarize.load()


@pytest.fixture(scope="module")
def sample_block(diarizer):
    audio = decode_file(SAMPLE)
    return diarize.speakers_block(diarize.diarize(audio.samples, audio.sample_rate, diarizer, diarize.SpeakerLimits()))


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory):
    """A WAV of voice A, voice B, voice A, and each section's (start, end, voice, words)."""
    folder = tmp_path_factory.mktemp("voices")
    pieces, spans, t = [], [], 0.0
    for i, (voice, text) in enumerate(SECTIONS):
        samples, rate = soundfile.read(speak(text, folder / f"{i}.wav", voice=voice), dtype="float32")
        pieces += [samples, np.zeros(int(0.6 * rate), dtype=np.float32)]
        spans.append((t, t + len(samples) / rate, voice, text.split()))
        t += (len(samples) + int(0.6 * rate)) / rate
    path = folder / "two_voices.wav"
    soundfile.write(path, np.concatenate(pieces), rate)
    return path, spans


def test_sample_matches_reference_rttm(sample_block):
    """DER on pyannote's sample against its reference (measured 5.6 % at collar 0)."""
    if not SAMPLE_RTTM.is_file():
        pytest.skip("../shared/eval is not beside the checkout")
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference = load_rttm(SAMPLE_RTTM)["sample"]
    hypothesis = turns_of(sample_block)
    der = DiarizationErrorRate(collar=0.0, skip_overlap=False)(reference, hypothesis, uem=reference.get_timeline().extent())
    assert der < 0.10


def test_sample_has_two_speakers_labelled_in_order_of_first_speech(sample_block):
    assert sample_block["labels"] == ["SPEAKER_1", "SPEAKER_2"]
    firsts = [next(t["start"] for t in sample_block["turns"] if t["speaker"] == label) for label in sample_block["labels"]]
    assert firsts == sorted(firsts)
    assert sample_block["turns"][0]["speaker"] == "SPEAKER_1"


def test_talk_time_and_overlaps_agree_with_turns(sample_block):
    for label, talk in sample_block["talk_time_s"].items():
        spoken = turns_of(sample_block).label_duration(label)
        assert talk == pytest.approx(spoken, abs=0.002)
    assert sample_block["overlaps"], "the sample has overlapping speech"
    for region in sample_block["overlaps"]:
        assert len(region["speakers"]) >= 2
        for speaker in region["speakers"]:
            assert any(t["speaker"] == speaker and t["start"] <= region["start"] and region["end"] <= t["end"]
                       for t in sample_block["turns"])


def test_rttm_round_trips_through_pyannote(sample_block, tmp_path):
    from pyannote.database.util import load_rttm

    annotation = turns_of(sample_block)
    path = tmp_path / "diarization.rttm"
    path.write_bytes(rttm.render(record_of(sample_block)))
    loaded = load_rttm(path)["sample"]
    assert sorted(loaded.labels()) == sample_block["labels"]
    assert loaded.get_timeline().duration() == pytest.approx(annotation.get_timeline().duration(), abs=1e-3)
    for label in sample_block["labels"]:
        assert loaded.label_duration(label) == pytest.approx(sample_block["talk_time_s"][label], abs=0.002)


def test_speaker_count_limit_is_obeyed(diarizer, two_voices):
    audio = decode_file(two_voices[0])
    block = diarize.speakers_block(diarize.diarize(audio.samples, audio.sample_rate, diarizer,
                                                   diarize.SpeakerLimits(max_speakers=1)))
    assert block["labels"] == ["SPEAKER_1"]


def test_speaker_without_a_clustering_centroid_gets_one_from_its_own_speech(diarizer, two_voices, monkeypatch):
    """pyannote's centroid of a speaker of a short recording can be NaN (no chunk with 2 s of that
    speaker alone), and which one can differ between machines: every speaker with 2 s of speech
    gets a centroid anyway, in the same space (near pyannote's own where it gives one)."""
    audio = decode_file(two_voices[0])
    clustered = diarize.diarize(audio.samples, audio.sample_rate, diarizer, diarize.SpeakerLimits())
    assert set(clustered.centroids) == {"SPEAKER_1", "SPEAKER_2"}
    monkeypatch.setattr(diarize, "_centroids", lambda annotation, embeddings: {})  # as if every row were NaN
    fallback = diarize.diarize(audio.samples, audio.sample_rate, diarizer, diarize.SpeakerLimits())
    assert fallback.annotation == clustered.annotation and set(fallback.centroids) == {"SPEAKER_1", "SPEAKER_2"}
    cosine = lambda a, b: float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))  # noqa: E731
    for label, row in fallback.centroids.items():
        assert row.dtype == np.float32 and row.shape == (192,)
        assert cosine(row, clustered.centroids[label]) > 0.8
    assert cosine(fallback.centroids["SPEAKER_1"], fallback.centroids["SPEAKER_2"]) < 0.5  # still two voices
    short = audio.samples[:int(1.5 * audio.sample_rate)]  # under MIN_CENTROID_SPEECH_S of speech: none
    assert diarize.speech_centroids(diarize.relabel_by_first_speech(clustered.annotation.crop(
        diarize.Segment(0, 1.5))), short, audio.sample_rate, diarizer) == {}


def test_diarization_runs_on_one_torch_thread_and_restores_the_count(diarizer, two_voices, monkeypatch):
    """Under load, torch's one-thread-per-core pool made the speakers stage 40x slower (diarize.THREADS)."""
    import torch

    seen = []
    embeddings = diarizer.pipeline.get_embeddings
    monkeypatch.setattr(diarizer.pipeline, "get_embeddings",
                        lambda *a, **k: (seen.append(torch.get_num_threads()), embeddings(*a, **k))[1])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        audio = decode_file(two_voices[0])
        diarize.diarize(audio.samples, audio.sample_rate, diarizer, diarize.SpeakerLimits())
        assert seen == [diarize.THREADS] == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_words_of_two_voices_go_to_their_speakers(diarizer, two_voices):
    """Diarize A-B-A, then attribute words spread over each section's known span."""
    path, spans = two_voices
    audio = decode_file(path)
    block = diarize.speakers_block(diarize.diarize(audio.samples, audio.sample_rate, diarizer, diarize.SpeakerLimits()))
    assert len(block["labels"]) == 2

    segments = []
    for i, (start, end, _, words) in enumerate(spans):
        step = (end - start) / len(words)
        segments.append({"id": i, "start": start, "end": end, "text": " ".join(words), "words": [
            {"start": round(start + k * step, 3), "end": round(start + (k + 1) * step, 3), "text": w, "probability": 1.0}
            for k, w in enumerate(words)]})
    attributed = attribute_words({"segments": segments}, block)

    first, second, third = (seg["speaker"] for seg in attributed["segments"])
    assert first == third == "SPEAKER_1" and second == "SPEAKER_2"
    for seg in attributed["segments"]:
        agreeing = [w["speaker"] == seg["speaker"] for w in seg["words"]]
        assert sum(agreeing) >= 0.8 * len(agreeing)


def test_attribution_picks_largest_overlap_nearest_turn_and_flags_overlap():
    speakers = {
        "turns": [{"start": 0.0, "end": 2.0, "speaker": "SPEAKER_1"},
                  {"start": 1.5, "end": 4.0, "speaker": "SPEAKER_2"}],
        "overlaps": [{"start": 1.5, "end": 2.0, "speakers": ["SPEAKER_1", "SPEAKER_2"]}],
    }
    words = [(0.2, 0.6), (1.4, 1.9), (1.8, 2.6), (3.0, 3.5), (5.0, 5.2)]
    transcript = {"segments": [{"id": 0, "start": 0.2, "end": 5.2, "text": "a b c d e", "words": [
        {"start": s, "end": e, "text": "w", "probability": 1.0} for s, e in words]}]}
    out = attribute_words(transcript, speakers)
    got = [(w["speaker"], w["overlap"]) for w in out["segments"][0]["words"]]
    assert got == [("SPEAKER_1", False), ("SPEAKER_1", True), ("SPEAKER_2", True), ("SPEAKER_2", False),
                   ("SPEAKER_2", False)]
    assert out["segments"][0]["speaker"] == "SPEAKER_2"
    assert "speaker" not in transcript["segments"][0], "the input block is left as it was"


def test_same_input_gives_identical_block(diarizer, sample_block):
    audio = decode_file(SAMPLE)
    again = diarize.speakers_block(diarize.diarize(audio.samples, audio.sample_rate, diarizer, diarize.SpeakerLimits()))
    assert json.dumps(again, sort_keys=True) == json.dumps(sample_block, sort_keys=True)


NO_NETWORK = r"""
import json, socket, sys
attempts = []
def refuse(kind):
    def call(*args, **kwargs):
        attempts.append(kind + ' ' + repr(args[1:] if kind == 'connect' else args[:2]))
        raise OSError('network forbidden in this test')
    return call
socket.socket.connect = refuse('connect')
socket.socket.connect_ex = refuse('connect')
socket.getaddrinfo = refuse('getaddrinfo')
socket.create_connection = refuse('create_connection')
from evidence_audio.pipeline import Settings, analyze
record = analyze(sys.argv[1], Settings())
print(json.dumps({"attempts": attempts, "labels": record["analysis"]["speakers"]["labels"]}))
"""


def test_analysis_makes_no_network_connection_attempt(two_voices):
    """A whole analysis in a fresh interpreter whose sockets refuse and record every attempt."""
    path, _ = two_voices
    result = subprocess.run([sys.executable, "-c", NO_NETWORK, str(path)], capture_output=True, text=True,
                            cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["attempts"] == []
    assert outcome["labels"] == ["SPEAKER_1", "SPEAKER_2"]


def test_pipeline_folder_that_is_not_one_fails_cleanly(tmp_path):
    from evidence_audio.errors import ModelError

    with pytest.raises(ModelError, match="no config.yaml"):
        diarize.load(str(tmp_path))
    with pytest.raises(ModelError, match="not found"):
        diarize.load(str(tmp_path / "missing"))


def test_cli_refuses_min_speakers_above_max(tmp_path):
    from click.testing import CliRunner

    from evidence_audio.cli import main

    result = CliRunner().invoke(main, ["analyze", str(SAMPLE), "-o", str(tmp_path / "out"),
                                       "--min-speakers", "3", "--max-speakers", "2"])
    assert result.exit_code == 2
    assert "--min-speakers 3 is more than --max-speakers 2" in result.output
    assert not (tmp_path / "out").exists()


def test_block_embeddings_match_pyannotes_per_chunk_embeddings(diarizer):
    """CAM++'s trunk run once per 20 s block gives each (chunk, speaker) nearly the embedding that
    pyannote's per-chunk extraction gives (the speed-up must not change who is who)."""
    import torch
    from pyannote.audio.pipelines import SpeakerDiarization

    pipeline = diarizer.pipeline
    assert isinstance(pipeline, diarize.BlockEmbeddingDiarization)
    audio = decode_file(SAMPLE)
    file = {"waveform": torch.from_numpy(audio.samples)[None], "sample_rate": audio.sample_rate}
    with torch.inference_mode():
        segmentations = pipeline.get_segmentations(file)
        blocks = pipeline.get_embeddings(file, segmentations, exclude_overlap=True)
        chunks = SpeakerDiarization.get_embeddings(pipeline, file, segmentations, exclude_overlap=True)
    assert blocks.shape == chunks.shape
    active = segmentations.data.sum(axis=1) > 0.2 * segmentations.data.shape[1]  # pyannote's clustering filter
    a, b = blocks[active], chunks[active]
    cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    assert len(cosine) >= 10
    assert np.median(cosine) > 0.95 and cosine.min() > 0.85


def ravdess_actor(shared_eval, actor: int) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """One RAVDESS actor's neutral, calm, fearful and angry takes (file names 03-01-EE-II-SS-RR-AA:
    emotion EE, actor AA) joined with 1 s pauses, and each take's (start, end, emotion code)."""
    parts, spans, t = [], [], 0.0
    for emotion in ("01", "02", "06", "05"):
        for path in sorted((shared_eval / "ravdess_subset").glob(f"03-01-{emotion}-*-{actor:02d}.wav")):
            x = decode_file(path).samples
            parts += [x, np.zeros(16000, np.float32)]
            spans.append((t, t + len(x) / 16000, emotion))
            t += len(x) / 16000 + 1.0
    return np.concatenate(parts), spans


@pytest.mark.parametrize("actor", [1, 3])
def test_one_person_from_calm_to_shouting_stays_one_speaker(diarizer, shared_eval, actor):
    """RAVDESS actors 01 and 03 came out as two speakers (calm takes SPEAKER_1, fearful and angry
    SPEAKER_2): in a report of a beating that reads as a second person shouting."""
    samples, spans = ravdess_actor(shared_eval, actor)
    block = diarize.speakers_block(diarize.diarize(samples, 16000, diarizer, diarize.SpeakerLimits()))
    assert block["labels"] == ["SPEAKER_1"]
    assert block["settings"]["reassignment"] == diarize.STRAIN
    moved = block["reassigned"]
    assert moved and all(m["to"] == "SPEAKER_1" and m["level_difference_db"] >= 10 for m in moved)
    loud = [(a, b) for a, b, emotion in spans if emotion in ("05", "06")]
    assert all(any(m["start"] < b and m["end"] > a for a, b in loud) for m in moved)  # only raised-voice turns moved


def test_reconstruction_is_pyannotes_in_half_the_memory(diarizer):
    """The clustered segmentations (chunks, frames, clusters) are held in float32 and filled in
    place: the same discrete diarization as pyannote's reconstruct, whose float64 array of that
    shape was the 4-hour analysis's largest allocation."""
    import tracemalloc

    import torch
    from pyannote.audio.pipelines import SpeakerDiarization
    from pyannote.core import SlidingWindowFeature

    pipeline = diarizer.pipeline
    audio = decode_file(SAMPLE)
    with torch.inference_mode():
        segmentations = pipeline.get_segmentations({"waveform": torch.from_numpy(audio.samples)[None],
                                                    "sample_rate": audio.sample_rate})
    # the sample's real segmentations repeated to 600 chunks (10 minutes), spread over 15 clusters
    data = np.resize(segmentations.data, (600,) + segmentations.data.shape[1:])
    many = SlidingWindowFeature(data, segmentations.sliding_window)
    hard_clusters = np.random.default_rng(0).integers(-2, 15, size=(600, data.shape[2]))
    hard_clusters[hard_clusters == -1] = 0
    count = pipeline.speaker_count(many, pipeline._segmentation.model.receptive_field, warm_up=(0.0, 0.0))

    def peak(reconstruct):
        tracemalloc.start()
        try:
            result = reconstruct(pipeline, SlidingWindowFeature(data.copy(), many.sliding_window), hard_clusters, count)
            return result, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    ours, ours_peak = peak(diarize.BlockEmbeddingDiarization.reconstruct)
    theirs, their_peak = peak(SpeakerDiarization.reconstruct)
    window = lambda result: (result.sliding_window.start, result.sliding_window.duration, result.sliding_window.step)
    assert np.array_equal(ours.data, theirs.data) and window(ours) == window(theirs)
    assert ours.data.sum() > 0
    assert ours_peak < 0.7 * their_peak


def test_segmentation_batches_change_no_value_and_hold_a_quarter_of_the_memory(diarizer, tmp_path):
    """The segmentation model's windows go 8 at a time (SEGMENTATION_BATCH_SIZE): the same
    segmentations bit for bit as pyannote's batches of 32 on real speech, with the batch's
    activations at about a quarter (a process's resident memory while it segments 2 minutes of the
    sample's speech, above what it held before, sampled every 10 ms)."""
    import torch

    assert diarizer.pipeline._segmentation.batch_size == diarize.SEGMENTATION_BATCH_SIZE
    audio = decode_file(SAMPLE)
    speech = np.resize(audio.samples, 120 * audio.sample_rate)
    np.save(tmp_path / "speech.npy", speech)

    values = {}
    for batch in (diarize.SEGMENTATION_BATCH_SIZE, 32):
        diarizer.pipeline._segmentation.batch_size = batch
        try:
            with diarize.one_thread(), torch.inference_mode():
                values[batch] = diarizer.pipeline._segmentation(
                    {"waveform": torch.from_numpy(speech)[None], "sample_rate": audio.sample_rate}).data
        finally:
            diarizer.pipeline._segmentation.batch_size = diarize.SEGMENTATION_BATCH_SIZE
    assert np.array_equal(values[diarize.SEGMENTATION_BATCH_SIZE], values[32])

    script = """
import sys, numpy as np, torch
sys.path.insert(0, "benchmarks")
from long_recording import MemoryWatch
from evidence_audio.speakers import diarize
diarizer = diarize.load()
speech = np.load(sys.argv[2])
diarizer.pipeline._segmentation.batch_size = int(sys.argv[1])
with MemoryWatch(interval_s=0.01) as watch:
    before = watch.process.memory_info().rss / 2**20
    with watch.watching("segmentation"), diarize.one_thread(), torch.inference_mode():
        diarizer.pipeline._segmentation({"waveform": torch.from_numpy(speech)[None], "sample_rate": 16000})
print(watch.peaks["segmentation"] - before)
"""
    grown = {batch: float(subprocess.run([sys.executable, "-c", script, str(batch), str(tmp_path / "speech.npy")],
                                         capture_output=True, text=True, check=True, cwd=REPO).stdout.split()[-1])
             for batch in (diarize.SEGMENTATION_BATCH_SIZE, 32)}
    assert grown[32] > 200 and grown[diarize.SEGMENTATION_BATCH_SIZE] < grown[32] / 2, grown
