"""What software, on what machine, with what settings and models, made a report."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import av

from . import __version__
from .intake import ObservedStat
from .models import ModelUse

KEY_PACKAGES = (
    "numpy", "av", "soxr", "soundfile", "librosa", "torch", "torchaudio", "ctranslate2",
    "faster-whisper", "openai-whisper", "pyannote.audio", "pyannote.core", "silero-vad",
    "onnxruntime", "rfc8785",
)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _package_versions() -> dict[str, str]:
    found = {}
    for name in KEY_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _threads(stage_threads: int) -> dict[str, int | None]:
    """CPU threads each numeric library ran with: float results can differ with the count; and
    ``stage_threads``, how many stages ran at once (2: the transcription beside the other stages, see
    ``pipeline.analyze_with_audio``), which changes their timing, not their results."""
    import torch

    from .asr.faster import CPU_THREADS
    from .speakers.diarize import THREADS

    return {"logical_cpus": os.cpu_count(), "torch": torch.get_num_threads(), "ctranslate2": CPU_THREADS,
            "diarization": THREADS, "stage_threads": stage_threads}


# Instruction-set extensions the numeric libraries choose their kernels by (CTranslate2, oneDNN, MKL,
# OpenBLAS): a subset of /proc/cpuinfo's flags, kept short so the record stays readable.
KERNEL_ISA = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl",
              "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "asimd", "sve")


# Environment variables that make the numeric libraries pick other kernels than they would on this
# processor: CTranslate2's (CT2_USE_MKL: Intel MKL or not, by default only on a GenuineIntel
# processor; CT2_FORCE_CPU_ISA), oneDNN's, Intel MKL's, OpenBLAS's (the spectrogram) and torch's.
KERNEL_ENV = ("CT2_USE_MKL", "CT2_FORCE_CPU_ISA", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_CBWR",
              "MKL_ENABLE_INSTRUCTIONS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ATEN_CPU_CAPABILITY")


def _processor() -> dict[str, object]:
    """The processor the analysis ran on: ``model`` (its name, e.g. "AMD EPYC"), ``vendor`` and
    ``isa`` (those of ``KERNEL_ISA`` it has), read from /proc/cpuinfo (None and [] where not readable,
    not Linux); and ``kernel_env``, those of ``KERNEL_ENV`` that are set.

    Recorded because words can differ between processors, not only between thread counts: the
    numeric libraries pick their kernels by instruction set and vendor (CTranslate2's int8 products
    run on Intel MKL only on a GenuineIntel processor, on oneDNN elsewhere: its cpu/backend.cc), and
    on an AMD EPYC (2026-12-07) Whisper base decoded a 0 dB car scene with other words than on an
    earlier machine (tests/test_transcribe.py, the stretched-word scene).
    """
    model = vendor = None
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and model is None:
                    model = value
                elif key == "vendor_id" and vendor is None:
                    vendor = value
                elif key in ("flags", "Features") and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"model": model, "vendor": vendor,
            "isa": [name for name in KERNEL_ISA if name in flags],
            "kernel_env": {name: os.environ[name] for name in KERNEL_ENV if name in os.environ}}


def _git_commit() -> str | None:
    """The checkout's commit (``-dirty`` when changed), read without writing anything in the checkout.

    ``GIT_OPTIONAL_LOCKS=0`` stops git from refreshing (and so locking and rewriting) its index, as
    ``git describe --dirty`` otherwise does in the install folder on every run.
    """
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=10, check=True,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@dataclass
class Provenance:
    """Collected while the pipeline runs; rendered into the record's provenance block."""

    input_path: str
    observed: ObservedStat
    settings: dict
    case: str | None = None
    examiner: str | None = None
    started_utc: str = field(default_factory=utc_now)
    finished_utc: str | None = None
    models: list[ModelUse] = field(default_factory=list)
    stage_threads: int = 1

    def to_record(self) -> dict:
        block = {
            "tool": {"name": "evidence-audio", "version": __version__, "source_commit": _git_commit()},
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": _processor(),
            "threads": _threads(self.stage_threads),
            "packages": _package_versions(),
            "ffmpeg_libraries": {k: ".".join(map(str, v)) for k, v in sorted(av.library_versions.items())},
            "models": [m.to_record() for m in self.models],
            "settings": self.settings,
            "input_path": self.input_path,
            "observed_file_times": {
                "modified": self.observed.modified,
                "accessed": self.observed.accessed,
                "changed": self.observed.changed,
            },
            "started_utc": self.started_utc,
            "finished_utc": self.finished_utc,
            "case": self.case,
            "examiner": self.examiner,
        }
        return block
