"""Build the blocks of a report record (schema v1) from the pipeline's dataclasses."""

from __future__ import annotations

from dataclasses import asdict

from ..intake import AudioStream, DecodedAudio, Intake, StreamInfo
from ..values import seconds

SCHEMA_ID = "evidence-audio/report/v1"
PCM_DEFINITION = ("SHA-256 of one line per audio stream, in order: 'a<k> <rate>:<channels>:<samples>[,...] "
                  "<SHA-256 of every decoded sample, f32le interleaved, at its own rate and channels>'; "
                  "before replacement, gap filling, downmix or resampling (docs/record.md)")
PACKET_DEFINITION = ("SHA-256 of one line per audio stream, in order: 'a<k> <codec>:<packets> <SHA-256 of every "
                     "packet payload in order>' (ADTS headers and ID3 tags left out); survives lossless re-wrapping")
ANALYSIS_DEFINITION = ("f32le, 16 kHz (soxr HQ) on the file's timeline (gaps and late starts as zeros); per stream "
                       "the channel mean (or the one channel named in analysis_signal); analysed streams summed")


def _stream(stream: StreamInfo) -> dict:
    block = {k: v for k, v in asdict(stream).items() if v is not None}
    if "duration_s" in block:
        block["duration_s"] = seconds(block["duration_s"])
    return block


def evidence_block(intake: Intake) -> dict:
    """What the evidence is: its bytes, its container, its decoded audio."""
    file, container, audio = intake.file, intake.container, intake.audio
    return {
        "file_name": file.name,
        "size_bytes": file.size_bytes,
        "hashes": {"sha256": file.sha256, "sha1": file.sha1, "md5": file.md5},
        "container": {
            "format": container.format_name,
            "format_long_name": container.format_long_name,
            "duration_s": seconds(container.duration_s),
            "bit_rate": container.bit_rate,
            "tags": container.tags,
            "streams": [_stream(s) for s in container.streams],
        },
        "audio": audio_block(audio, container.duration_s),
    }


def audio_block(audio: DecodedAudio, container_duration_s: float | None) -> dict:
    """The decoded audio: every stream, the signal analysed, identities, gaps, changes, shortfalls."""
    return {
        "stream_index": audio.stream_index,
        "native_sample_rate": audio.native_sample_rate,
        "native_channels": audio.native_channels,
        "native_samples": audio.native_samples,
        "decoded_duration_s": seconds(audio.native_duration_s),
        "container_duration_s": seconds(container_duration_s),
        "decode_errors": audio.decode_errors,
        "decode_stopped_early": audio.decode_stopped_early,
        "damaged": audio.damaged,
        "pcm_sha256": audio.pcm_sha256,
        "pcm_definition": PCM_DEFINITION,
        "packet_sha256": audio.packet_sha256,
        "packet_definition": PACKET_DEFINITION,
        "timeline_origin_s": seconds(audio.timeline_origin_s),
        "streams": [_audio_stream(s) for s in audio.streams],
        "analysed_streams": list(audio.analysed_streams),
        "analysis_signal": audio.analysis_signal,
        "gaps": [{**asdict(g), "start": seconds(g.start), "length_s": seconds(g.length_s),
                  "filled_with": "digital silence (zeros)" if g.filled else None} for g in audio.gaps],
        "format_changes": [{**asdict(c), "time": seconds(c.time)} for c in audio.format_changes],
        "shortfalls": [{"stream_index": f.stream_index, "what": f.what, "promised_s": seconds(f.promised_s),
                        "decoded_s": seconds(f.decoded_s), "missing_s": seconds(f.missing_s)} for f in audio.shortfalls],
        "nonfinite_samples": audio.nonfinite_samples,
        "nonfinite_replaced_with": 0.0,
        "analysis_sample_rate": audio.sample_rate,
        "analysis_samples": len(audio.samples),
        "analysis_sha256": audio.analysis_sha256,
        "analysis_definition": ANALYSIS_DEFINITION,
    }


def _audio_stream(s: AudioStream) -> dict:
    block = asdict(s)
    block["segments"] = [list(x) for x in s.segments]
    for key in ("start_time_s", "end_time_s", "decoded_duration_s", "first_nonfinite_time"):
        block[key] = seconds(block[key]) if block[key] is not None else None
    return block


def build_record(evidence: dict, provenance: dict, analysis: dict) -> dict:
    return {"schema": SCHEMA_ID, "evidence": evidence, "provenance": provenance, "analysis": analysis}
