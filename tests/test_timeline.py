"""Intake never silently drops or shifts audio: every sample of every audio stream, on the player's timeline.

Each case is built with PyAV from real speech (examples/jfk.flac, ../shared/eval clips) and checked
for the right value: word times where a player shows them, every stream decoded and hashed, rate
changes and gaps reported as facts, identities that a re-wrap keeps and a different recording
breaks, and short or damaged files reported as such.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile

from conftest import EXAMPLES
from evidence_audio.authenticity import indicators
from evidence_audio.errors import MediaError
from evidence_audio.intake import ANALYSIS_RATE, take_in
from evidence_audio.report.canonical import render, seal
from evidence_audio.report.record import evidence_block
from evidence_audio.report.verify import check_recording, verify

JFK_WORDS = ("and so my fellow americans ask not what your country can do for you "
             "ask what you can do for your country").split()


def jfk() -> tuple[np.ndarray, int]:
    """JFK's sentence: (n, 2) float32 at 44.1 kHz (both channels the same)."""
    samples, rate = soundfile.read(EXAMPLES / "jfk.flac", dtype="float32", always_2d=True)
    return samples, rate


def write(out, samples: np.ndarray, rate: int, codec: str, layout: str, out_rate: int | None = None,
          offset: int = 0, jump: tuple[int, int] | None = None, stream=None):
    """Encode (n, channels) samples into an open container. ``offset``: pts of the first sample (in
    1/out_rate); ``jump``: (at sample, by samples) moves every later frame's pts forward."""
    stream = stream or out.add_stream(codec, rate=out_rate or rate, layout=layout)
    resampler = av.AudioResampler(format=stream.format, layout=layout, rate=stream.rate,
                                  frame_size=stream.frame_size or 1024)
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout=layout)
    frame.sample_rate = rate
    position = 0
    for chunk in resampler.resample(frame) + resampler.resample(None):
        chunk.pts = offset + position + (jump[1] if jump and position >= jump[0] else 0)
        chunk.time_base = Fraction(1, stream.rate)
        position += chunk.samples
        out.mux(stream.encode(chunk))
    out.mux(stream.encode(None))
    return stream


def encoded(path: Path, samples, rate, codec, layout, fmt=None, **kwargs) -> Path:
    with av.open(str(path), "w", format=fmt) as out:
        write(out, samples, rate, codec, layout, **kwargs)
    return path


@pytest.fixture(scope="module")
def asr():
    from evidence_audio.asr.transcribe import load_models

    engine, vad, used = load_models("faster-whisper", "base", threads=2)
    return engine, vad, used[0].name


def words(asr, samples: np.ndarray) -> list[tuple[str, float, float]]:
    """(word lower-cased without punctuation, start, end) of the transcript of a 16 kHz signal."""
    from evidence_audio.asr.transcribe import transcribe

    engine, vad, name = asr
    record = transcribe(engine, name, vad, samples, language="en").to_record()
    return [(re.sub(r"[^\w']", "", w["text"].lower()), w["start"], w["end"])
            for s in record["segments"] for w in s["words"]]


def first(found, word):
    return next(w for w in found if w[0] == word)


# 1 -------------------------------------------------------------------------------------------------
def test_polarity_inverted_stereo_analyses_one_channel_and_says_why(tmp_path, asr):
    samples, rate = jfk()
    path = tmp_path / "inverted.wav"
    soundfile.write(path, np.stack([samples[:, 0], -samples[:, 0]], 1), rate, subtype="PCM_16")
    intake = take_in(path)
    stream = intake.audio.streams[0]
    assert stream.mix_to_channels_db < -60  # the mean of the channels is silence
    assert "channel 1 of 2 alone" in intake.audio.analysis_signal and "cancel" in intake.audio.analysis_signal
    assert float(np.sqrt(np.mean(intake.audio.samples ** 2))) > 0.05
    assert [w for w, _, _ in words(asr, intake.audio.samples)] == JFK_WORDS
    block = evidence_block(intake)["audio"]
    assert block["analysis_signal"] == intake.audio.analysis_signal


# 2 -------------------------------------------------------------------------------------------------
def test_audio_that_starts_late_is_timed_as_a_player_shows_it(tmp_path, asr):
    samples, rate = jfk()
    path = tmp_path / "late.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        write(out, samples, rate, "aac", "stereo", offset=4 * rate)
        for i in range(150):  # 15 s of video from 0 s
            image = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i % 255, np.uint8), format="rgb24")
            image.pts, image.time_base = i, Fraction(1, 10)
            out.mux(video.encode(image))
        out.mux(video.encode(None))
    intake = take_in(path)
    assert intake.audio.streams[0].start_time_s == pytest.approx(4.0, abs=0.05)
    assert evidence_block(intake)["audio"]["streams"][0]["start_time_s"] == pytest.approx(4.0, abs=0.05)
    found = words(asr, intake.audio.samples)
    assert [w for w, _, _ in found] == JFK_WORDS
    assert found[0][1] == pytest.approx(4.0, abs=0.2)  # 0.02 s when the late start was ignored
    assert found[-1][2] == pytest.approx(14.4, abs=0.3)


# 3 -------------------------------------------------------------------------------------------------
def test_a_timestamp_hole_is_filled_with_silence_and_reported(tmp_path, asr):
    samples, rate = jfk()
    path = encoded(tmp_path / "hole.mkv", samples, rate, "aac", "stereo", jump=(int(5.1 * rate), 3 * rate))
    intake = take_in(path)
    [gap] = intake.audio.gaps
    assert (gap.start, gap.length_s, gap.filled) == (pytest.approx(5.1, abs=0.05), pytest.approx(3.0, abs=0.01), True)
    assert not intake.audio.damaged
    found = words(asr, intake.audio.samples)
    assert first(found, "your")[1] == pytest.approx(8.5, abs=0.3)
    assert found[-1][2] == pytest.approx(13.4, abs=0.3)
    candidates = indicators(intake, native=False)["discontinuities"]["candidates"]
    hole = [c for c in candidates if c["kind"] == "timestamp_gap"]
    assert hole and hole[0]["time"] == pytest.approx(5.1, abs=0.05) and hole[0]["strength"] == pytest.approx(3.0, abs=0.01)


# 4 -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def joined_mp3(tmp_path_factory, shared_eval):
    """11 s of JFK at 44.1 kHz, then 5.9 s of another speaker at 22.05 kHz, joined byte for byte."""
    folder = tmp_path_factory.mktemp("joined")
    samples, rate = jfk()
    other, other_rate = soundfile.read(shared_eval / "asr_en_misc" / "leopard_en_test.wav", dtype="float32",
                                       always_2d=True)
    a = encoded(folder / "a.mp3", samples, rate, "libmp3lame", "stereo")
    b = encoded(folder / "b.mp3", np.repeat(other, 2, 1), other_rate, "libmp3lame", "stereo", out_rate=22050)
    path = folder / "joined.mp3"
    path.write_bytes(a.read_bytes() + b.read_bytes())
    return path, a, b


def test_a_sample_rate_change_is_decoded_and_reported_as_a_fact(joined_mp3, asr):
    path, _, _ = joined_mp3
    intake = take_in(path)
    stream = intake.audio.streams[0]
    assert stream.sample_rates == [44100, 22050]
    assert stream.decoded_duration_s == pytest.approx(11.0 + 5.855, abs=0.1)
    assert intake.audio.duration_s == pytest.approx(16.9, abs=0.15)
    [change] = [c for c in intake.audio.format_changes if c.what == "sample_rate"]
    assert (change.before, change.after, change.time) == ("44100 Hz", "22050 Hz", pytest.approx(11.04, abs=0.1))
    assert intake.audio.decode_errors == 0 and not intake.audio.damaged
    said = [w for w, _, _ in words(asr, intake.audio.samples)]
    assert said[:22] == JFK_WORDS and {"quilter", "gospel"} <= set(said)


def test_a_channel_layout_change_is_reported(tmp_path):
    samples, rate = jfk()
    a = encoded(tmp_path / "a.mp3", samples, rate, "libmp3lame", "stereo")
    b = encoded(tmp_path / "b.mp3", samples[:, :1], rate, "libmp3lame", "mono")
    path = tmp_path / "joined.mp3"
    path.write_bytes(a.read_bytes() + b.read_bytes())
    audio = take_in(path).audio
    [change] = [c for c in audio.format_changes if c.what == "channel_layout"]
    assert (change.before, change.after, change.time) == ("stereo", "mono", pytest.approx(11.0, abs=0.1))
    assert audio.streams[0].decoded_duration_s == pytest.approx(22.0, abs=0.1)


# 5 -------------------------------------------------------------------------------------------------
def two_streams(path: Path, first: np.ndarray, second: np.ndarray, rate: int) -> Path:
    """A screen recording's layout: stream 0 desktop audio (stereo), stream 1 the microphone (mono)."""
    with av.open(str(path), "w") as out:
        desktop = out.add_stream("aac", rate=48000, layout="stereo")
        microphone = out.add_stream("aac", rate=48000, layout="mono")
        write(out, first, rate, "aac", "stereo", stream=desktop)
        write(out, second, rate, "aac", "mono", stream=microphone)
    return path


def test_every_stream_is_decoded_and_the_ones_with_signal_analysed(tmp_path, asr):
    samples, rate = jfk()
    path = two_streams(tmp_path / "screen.mkv", np.zeros((12 * rate, 2), np.float32), samples[:, :1], rate)
    intake = take_in(path)
    desktop, microphone = intake.audio.streams
    assert (desktop.index, desktop.carries_signal, desktop.analysed) == (0, False, False)
    assert (microphone.index, microphone.carries_signal, microphone.analysed) == (1, True, True)
    assert desktop.decoded_duration_s == pytest.approx(12.0, abs=0.05)
    assert microphone.decoded_duration_s == pytest.approx(11.0, abs=0.05)
    assert desktop.rms_dbfs is None and microphone.rms_dbfs == pytest.approx(-17.0, abs=1.0)
    assert [w for w, _, _ in words(asr, intake.audio.samples)] == JFK_WORDS
    listed = evidence_block(intake)["audio"]["streams"]
    assert [(s["index"], s["analysed"]) for s in listed] == [(0, False), (1, True)]
    only_desktop = take_in(path, stream=0)
    assert only_desktop.audio.analysed_streams == [0] and not np.any(only_desktop.audio.samples)
    with pytest.raises(MediaError, match="not an audio stream"):
        take_in(path, stream=5)


def test_streams_with_signal_are_summed_on_the_timeline(tmp_path):
    samples, rate = jfk()
    tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(12 * rate) / rate)).astype(np.float32)
    path = two_streams(tmp_path / "both.mkv", np.stack([tone, tone], 1), samples[:, :1], rate)
    audio = take_in(path).audio
    assert audio.analysed_streams == [0, 1]
    alone = take_in(path, stream=1).audio.samples
    mixed = audio.samples[:len(alone)]
    assert np.corrcoef(mixed - alone, take_in(path, stream=0).audio.samples[:len(alone)])[0, 1] > 0.99


# 6 -------------------------------------------------------------------------------------------------
def test_the_decoded_identity_covers_every_stream_and_every_part(tmp_path, joined_mp3):
    samples, rate = jfk()
    speech = samples[:, :1]
    silent = two_streams(tmp_path / "silent.mkv", np.zeros((12 * rate, 2), np.float32), speech, rate)
    other = two_streams(tmp_path / "other.mkv", np.repeat(speech[::-1], 2, 1), speech, rate)
    a, b = take_in(silent).audio, take_in(other).audio
    assert a.streams[1].pcm_sha256 == b.streams[1].pcm_sha256 and a.pcm_sha256 != b.pcm_sha256
    assert a.packet_sha256 != b.packet_sha256
    path, first_part, _ = joined_mp3
    changed = tmp_path / "changed.mp3"
    other_part = encoded(tmp_path / "c.mp3", np.repeat(speech[: 6 * rate:2], 2, 1), rate // 2, "libmp3lame",
                         "stereo", out_rate=22050)
    changed.write_bytes(first_part.read_bytes() + other_part.read_bytes())
    assert take_in(changed).audio.pcm_sha256 != take_in(path).audio.pcm_sha256
    record = {"evidence": evidence_block(take_in(path))}
    checks = check_recording(record, changed)
    assert not checks[-1].passed and checks[-1].detail.startswith("different audio")


def test_a_lossless_rewrap_verifies_as_the_same_audio_rewrapped(tmp_path):
    samples, rate = jfk()
    m4a = encoded(tmp_path / "evidence.m4a", samples, rate, "aac", "stereo", fmt="ipod")
    record = {"evidence": evidence_block(take_in(m4a))}
    for name, fmt in (("copy.mka", "matroska"), ("copy.aac", "adts")):
        copy = tmp_path / name
        with av.open(str(m4a)) as source, av.open(str(copy), "w", format=fmt) as out:
            stream = out.add_stream_from_template(source.streams.audio[0])
            for packet in source.demux(source.streams.audio[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    out.mux(packet)
        checks = check_recording(record, copy)
        assert not next(c for c in checks if c.name == "recording sha256").passed
        assert checks[-1].name == "audio packets" and checks[-1].passed, checks[-1].line()
        assert "same audio, re-wrapped" in checks[-1].detail
    reencoded = encoded(tmp_path / "reencoded.m4a", samples * 0.9, rate, "aac", "stereo", fmt="ipod")
    checks = check_recording(record, reencoded)
    assert not checks[-1].passed and "different audio" in checks[-1].detail
    same = check_recording(record, m4a)
    assert all(c.passed for c in same) and [c.name for c in same][-2:] == ["decoded audio identity", "packet identity"]


def test_a_resealed_report_claiming_another_recording_fails(tmp_path, shared_eval):
    """A report of one recording, edited to claim another recording's size and hashes and resealed."""
    from evidence_audio.intake import hash_file

    samples, rate = jfk()
    evidence = tmp_path / "jfk.flac"
    soundfile.write(evidence, samples, rate, subtype="PCM_16")
    other = tmp_path / "other.flac"
    other_samples, other_rate = soundfile.read(shared_eval / "asr_en_misc" / "leopard_en_test.wav", dtype="float32")
    soundfile.write(other, other_samples, other_rate, subtype="PCM_16")
    block = evidence_block(take_in(evidence))
    facts = hash_file(other)
    block.update(size_bytes=facts.size_bytes, hashes={"sha256": facts.sha256, "sha1": facts.sha1, "md5": facts.md5})
    report = tmp_path / "report.json"
    report.write_bytes(render(seal({"schema": "evidence-audio/report/v1", "evidence": block, "provenance": {},
                                    "analysis": {}})))
    checks = verify(report, other)
    assert all(c.passed for c in checks if c.name.startswith("recording "))
    failed = [c for c in checks if not c.passed]
    assert "decoded audio identity" in [c.name for c in failed]


# 7 -------------------------------------------------------------------------------------------------
def test_an_m4a_whose_index_is_missing_says_so(tmp_path):
    samples, rate = jfk()
    full = encoded(tmp_path / "full.m4a", samples, rate, "aac", "stereo", fmt="ipod")  # moov at the end
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    with pytest.raises(MediaError, match=r"MP4/M4A file whose index \(moov box\) is missing") as caught:
        take_in(cut)
    assert caught.value.exit_code == 4


# odd input (issue 21 item 3) -----------------------------------------------------------------------
def test_a_nan_sample_is_counted_replaced_and_reported(tmp_path, asr):
    samples, rate = jfk()
    samples = samples.copy()
    samples[rate, 0] = np.nan
    path = tmp_path / "nan.wav"
    soundfile.write(path, samples, rate, subtype="FLOAT")
    intake = take_in(path)
    assert intake.audio.nonfinite_samples == 1
    assert intake.audio.streams[0].first_nonfinite_time == pytest.approx(1.0, abs=0.001)
    assert intake.audio.damaged and np.isfinite(intake.audio.samples).all()
    block = evidence_block(intake)["audio"]
    assert (block["nonfinite_samples"], block["nonfinite_replaced_with"], block["damaged"]) == (1, 0.0, True)
    assert [w for w, _, _ in words(asr, intake.audio.samples)] == JFK_WORDS


def test_zeros_inside_a_flac_are_a_gap_and_a_shortfall_not_a_shift(tmp_path):
    samples, rate = jfk()
    clean = tmp_path / "clean.flac"
    soundfile.write(clean, samples, rate, subtype="PCM_16")
    data = bytearray(clean.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 100_000] = bytes(100_000)
    path = tmp_path / "zeros.flac"
    path.write_bytes(bytes(data))
    audio = take_in(path).audio
    [short] = [s for s in audio.shortfalls if s.what == "stream duration"]
    assert short.promised_s == pytest.approx(11.0) and short.missing_s > 0.5
    [gap] = audio.gaps
    assert gap.length_s == pytest.approx(short.missing_s, abs=0.01) and gap.filled
    assert audio.damaged and audio.duration_s == pytest.approx(11.0, abs=0.01)  # later audio keeps its time


def test_a_wav_holding_half_of_what_its_header_promises_is_short(tmp_path):
    samples, rate = jfk()
    full = tmp_path / "full.wav"
    soundfile.write(full, np.tile(samples, (3, 1))[: 30 * rate], rate, subtype="PCM_16")
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    audio = take_in(cut).audio
    [short] = audio.shortfalls
    assert (short.what, short.promised_s, short.decoded_s) == ("WAV data chunk size", pytest.approx(30.0),
                                                               pytest.approx(15.0, abs=0.01))
    assert audio.damaged and not take_in(full).audio.damaged


def test_an_mp3_cut_to_nine_percent_is_short(tmp_path):
    samples, rate = jfk()
    full = encoded(tmp_path / "full.mp3", samples, rate, "libmp3lame", "stereo")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.09)])
    audio = take_in(cut).audio
    assert audio.damaged and not take_in(full).audio.damaged
    short = next(s for s in audio.shortfalls if s.what == "stream duration")
    assert short.promised_s == pytest.approx(11.0, abs=0.05) and short.decoded_s < 1.5


def test_a_wav_with_an_unknown_format_tag_is_not_decodable(tmp_path):
    samples, rate = jfk()
    path = tmp_path / "tag.wav"
    soundfile.write(path, samples, rate, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.find(b"fmt ") + 8
    data[at:at + 2] = (0x1234).to_bytes(2, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="not decodable") as caught:
        take_in(path)
    assert caught.value.exit_code == 4 and "\n" not in str(caught.value)


def test_analysis_signal_of_a_plain_file_is_unchanged(tmp_path):
    """The JFK example's analysis signal is the one every earlier report described."""
    audio = take_in(EXAMPLES / "jfk.flac").audio
    assert audio.analysis_sha256 == "047ff9c991b6ad296268e323607b5c3e906395f10b5bdb086b8c12ba595b8e1b"
    assert len(audio.samples) == 11 * ANALYSIS_RATE and audio.gaps == [] and audio.shortfalls == []


def test_analyze_stream_option_picks_one_stream_and_refuses_a_missing_one(tmp_path):
    import json

    from click.testing import CliRunner

    from evidence_audio.cli import main

    samples, rate = jfk()
    path = two_streams(tmp_path / "screen.mkv", np.zeros((12 * rate, 2), np.float32), samples[:, :1], rate)
    quick = ["--no-diarize", "--no-events", "--no-authenticity", "--quiet", "--formats", "json,html"]
    missing = CliRunner().invoke(main, ["analyze", str(path), "--stream", "7", "-o", str(tmp_path / "x"), *quick])
    assert missing.exit_code == 4 and "not an audio stream" in missing.output
    done = CliRunner().invoke(main, ["analyze", str(path), "--stream", "1", "-o", str(tmp_path / "out"), *quick])
    assert done.exit_code == 0, done.output
    record = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert record["provenance"]["settings"]["stream"] == 1
    assert record["evidence"]["audio"]["analysed_streams"] == [1]
    assert len(record["analysis"]["transcript"]["segments"]) >= 1
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "digital silence" in page and "not analysed" in page
