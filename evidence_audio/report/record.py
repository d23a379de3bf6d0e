"""Build the blocks of a report record (schema v1) from the pipeline's dataclasses."""

from __future__ import annotations

from dataclasses import asdict

from ..intake import Intake, StreamInfo
from .canonical import seconds

SCHEMA_ID = "evidence-audio/report/v1"


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
        "audio": {
            "stream_index": audio.stream_index,
            "native_sample_rate": audio.native_sample_rate,
            "native_channels": audio.native_channels,
            "native_samples": audio.native_samples,
            "decoded_duration_s": seconds(audio.native_duration_s),
            "container_duration_s": seconds(container.duration_s),
            "decode_errors": audio.decode_errors,
            "decode_stopped_early": audio.decode_stopped_early,
            "damaged": audio.decode_errors > 0 or audio.decode_stopped_early,
            "pcm_sha256": audio.pcm_sha256,
            "pcm_definition": "f32le, native rate and channels, interleaved, before downmix or resampling",
            "analysis_sample_rate": audio.sample_rate,
            "analysis_samples": len(audio.samples),
            "analysis_sha256": audio.analysis_sha256,
            "analysis_definition": "f32le, mono (channel mean), 16 kHz (soxr HQ)",
        },
    }


def build_record(evidence: dict, provenance: dict, analysis: dict) -> dict:
    return {"schema": SCHEMA_ID, "evidence": evidence, "provenance": provenance, "analysis": analysis}
