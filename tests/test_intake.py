"""Intake: every input format decodes, hashes are exact, damaged files are analysed as far as they go."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from evidence_audio.errors import InputError, MediaError
from evidence_audio.intake import ANALYSIS_RATE, take_in
from media import encode

FORMATS = [
    # name, codec, container, out_rate, layout, video codec, expected container format, expected codec
    ("speech.wav", "pcm_s16le", "wav", None, "mono", None, "wav", "pcm_s16le"),
    ("speech.flac", "flac", "flac", None, "stereo", None, "flac", "flac"),
    ("speech.mp3", "libmp3lame", "mp3", 44100, "stereo", None, "mp3", "mp3"),
    ("speech.m4a", "aac", "ipod", 44100, "stereo", None, "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    ("speech.aac", "aac", "adts", 22050, "mono", None, "aac", "aac"),
    ("speech.opus", "libopus", "ogg", 48000, "mono", None, "ogg", "opus"),
    ("speech.amr", "libopencore_amrnb", "amr", 8000, "mono", None, "amr", "amr_nb"),
    ("video.mp4", "aac", "mp4", 44100, "stereo", "libx264", "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    ("video.mov", "aac", "mov", 48000, "mono", "mpeg4", "mov,mp4,m4a,3gp,3g2,mj2", "aac"),
    ("video.mkv", "libopus", "matroska", 48000, "stereo", "libx264", "matroska,webm", "opus"),
    ("video.webm", "libopus", "webm", 48000, "mono", "libvpx", "matroska,webm", "opus"),
]


@pytest.mark.parametrize("name,codec,container,rate,layout,video,fmt,expect_codec", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_format_is_taken_in(tmp_path, speech, name, codec, container, rate, layout, video, fmt, expect_codec):
    samples, native = speech
    path = encode(samples, native, tmp_path / name, codec, container, out_rate=rate, layout=layout, video_codec=video)
    intake = take_in(path)
    data = path.read_bytes()
    assert intake.file.sha256 == hashlib.sha256(data).hexdigest()
    assert intake.file.sha1 == hashlib.sha1(data).hexdigest()
    assert intake.file.md5 == hashlib.md5(data).hexdigest()
    assert intake.file.size_bytes == len(data)
    assert intake.container.format_name == fmt
    audio_streams = [s for s in intake.container.streams if s.kind == "audio"]
    assert audio_streams[0].codec == expect_codec
    if video:
        assert any(s.kind == "video" for s in intake.container.streams)
    expected_s = len(samples) / native
    assert intake.audio.sample_rate == ANALYSIS_RATE
    assert intake.audio.duration_s == pytest.approx(expected_s, abs=0.15)
    assert intake.audio.native_channels == (2 if layout == "stereo" else 1)
    assert intake.audio.decode_errors == 0
    # the analysis signal carries the speech, not silence
    assert float(np.sqrt(np.mean(intake.audio.samples**2))) > 0.01


def test_rewrapped_copy_has_same_pcm_hash_and_other_file_hash(tmp_path, speech):
    samples, rate = speech
    wav = take_in(encode(samples, rate, tmp_path / "a.wav", "pcm_s16le", "wav"))
    flac = take_in(encode(samples, rate, tmp_path / "a.flac", "flac", "flac"))
    assert wav.file.sha256 != flac.file.sha256
    assert wav.audio.pcm_sha256 == flac.audio.pcm_sha256
    assert wav.audio.analysis_sha256 == flac.audio.analysis_sha256


def test_lossy_reencode_changes_pcm_hash(tmp_path, speech):
    samples, rate = speech
    wav = take_in(encode(samples, rate, tmp_path / "a.wav", "pcm_s16le", "wav"))
    mp3 = take_in(encode(samples, rate, tmp_path / "a.mp3", "libmp3lame", "mp3", out_rate=rate))
    assert wav.audio.pcm_sha256 != mp3.audio.pcm_sha256


def test_truncated_wav_is_analysed_as_far_as_it_decodes(tmp_path, speech):
    samples, rate = speech
    full = encode(samples, rate, tmp_path / "full.wav", "pcm_s16le", "wav")
    cut = tmp_path / "truncated.wav"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    intake = take_in(cut)
    assert intake.audio.native_duration_s == pytest.approx(len(samples) / rate / 2, abs=0.1)


def test_truncated_download_reports_decoded_against_container_duration(tmp_path, speech):
    samples, rate = speech
    full = encode(samples, rate, tmp_path / "full.m4a", "aac", "ipod", out_rate=44100, options={"movflags": "faststart"})
    cut = tmp_path / "truncated.m4a"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    intake = take_in(cut)
    assert intake.container.duration_s == pytest.approx(len(samples) / rate, abs=0.1)
    assert 0.5 < intake.audio.native_duration_s < intake.container.duration_s - 1.0


def test_corrupt_frames_are_counted_not_fatal(tmp_path, speech):
    samples, rate = speech
    clean = encode(samples, rate, tmp_path / "clean.mp3", "libmp3lame", "mp3", out_rate=rate)
    data = bytearray(clean.read_bytes())
    rng = np.random.default_rng(7)
    middle = len(data) // 2
    data[middle : middle + 4000] = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    intake = take_in(damaged)
    assert intake.audio.native_duration_s > 1.0
    assert intake.audio.pcm_sha256 != take_in(clean).audio.pcm_sha256


BAD_INPUTS = {
    "missing": (None, InputError),
    "directory": ("", InputError),
    "empty.wav": (b"", MediaError),
    "notes.txt": (b"not audio at all\n" * 50, MediaError),
    "noise.mp3": (bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8)), MediaError),
}


def make_bad_input(directory, name):
    content, _ = BAD_INPUTS[name]
    if content == "":
        return directory
    path = directory / name
    if content is not None:
        path.write_bytes(content)
    return path


@pytest.mark.parametrize("name", BAD_INPUTS)
def test_bad_input_raises_a_clear_error(tmp_path, name):
    with pytest.raises(BAD_INPUTS[name][1]) as caught:
        take_in(make_bad_input(tmp_path, name))
    assert "\n" not in str(caught.value)


def test_video_without_audio_is_refused(tmp_path, speech):
    samples, rate = speech
    path = encode(samples, rate, tmp_path / "silent.mp4", "aac", "mp4", video_codec="libx264", audio=False)
    with pytest.raises(MediaError, match="no audio stream"):
        take_in(path)


def _with_info_chunk(wav: bytes, tag: bytes, value: bytes) -> bytes:
    """A RIFF WAV with a LIST/INFO chunk appended, its value in raw bytes."""
    value += b"\0" * (1 + (len(value) + 1) % 2)  # NUL-terminated, padded to an even size
    info = b"INFO" + tag + len(value).to_bytes(4, "little") + value
    data = wav + b"LIST" + len(info).to_bytes(4, "little") + info
    return data[:4] + (len(data) - 8).to_bytes(4, "little") + data[8:]


def test_tags_that_are_not_utf8_are_kept_as_escapes(tmp_path, speech_wav):
    """Old editors write Latin-1 tags ('\\xa9' for the copyright sign); intake must not fail on them."""
    path = tmp_path / "latin1-tags.wav"
    path.write_bytes(_with_info_chunk(speech_wav.read_bytes(), b"ICOP", b"\xa9 NCH Software"))
    intake = take_in(path)
    assert intake.container.tags["copyright"] == "\\xa9 NCH Software"
    assert intake.file.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
