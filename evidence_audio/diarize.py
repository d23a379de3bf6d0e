"""Speaker diarization: who spoke when, with pyannote.audio, fully offline.

The default pipeline is pyannote.audio's ``SpeakerDiarization`` built from local files only:
pyannote/segmentation-3.0 and CAM++ speaker embeddings (see ``speaker_embedding``), both
verified against ``models/manifest.json``, with the hyper-parameters of pyannote's
speaker-diarization-3.1 (agglomerative clustering, its threshold included: see ``CLUSTERING``
for why), and with memory bounded on long recordings (see ``clustering``). Alternatively a
complete pyannote pipeline folder (e.g. speaker-diarization-community-1) or, when online, a hub
id with ``HF_TOKEN``.

The recording is passed in memory, so pyannote never decodes files itself.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


import numpy as np

import torch

from pyannote.audio import Model, Pipeline
from pyannote.audio.core.plda import PLDA
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.core import Annotation, Segment

from . import models
from .clustering import MAX_LINKAGE, BoundedAgglomerativeClustering
from .errors import ModelError
from .progress import Update
from .models import ModelUse
from .report.canonical import seconds
from .speaker_embedding import CAMPPlusEmbedding

SEGMENTATION_MODEL = "pyannote-segmentation-3.0"
EMBEDDING_MODEL = "campplus-cn-en-common"
DEFAULT_PIPELINE = "pyannote.audio SpeakerDiarization (segmentation-3.0 + CAM++, agglomerative)"

# pyannote/speaker-diarization-3.1's config.yaml, threshold included. A sweep for CAM++ on the
# pyannote debug *training* files (trn00-trn09; benchmarks/diarization.py --tune) preferred 0.85
# (DER 28.2 % against 30.5 % at 0.7046), but on the held-out two-speaker sample 0.85 merged both
# speakers (DER 43.8 % against 5.6 %): 30-second clips say little about a distance threshold, so
# pyannote's own value stays.
SEGMENTATION = {"min_duration_off": 0.0}
CLUSTERING = {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7045654963945799}
PIPELINE_OPTIONS = {"segmentation_step": 0.1, "embedding_exclude_overlap": True}
BATCH_SIZE = 32
# CAM++ on 32 chunks of 10 s at once held about 200 MB more at its peak than on 8 (benchmarks/case_run.py
# memory); the speaker turns are the same and the centroids differ below 1e-6.
EMBEDDING_BATCH_SIZE = 8


@dataclass(frozen=True)
class SpeakerLimits:
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def __post_init__(self):
        low, high = self.min_speakers, self.max_speakers
        if any(n is not None and n < 1 for n in (self.num_speakers, low, high)):
            raise ValueError("speaker counts must be at least 1")
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_speakers {low} is more than max_speakers {high}")

    def to_kwargs(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass
class Diarizer:
    """A loaded diarization pipeline and the models it was built from."""

    pipeline: Pipeline
    description: str
    parameters: dict
    models: list[ModelUse] = field(default_factory=list)


@dataclass(frozen=True)
class Diarization:
    """Speaker turns relabelled SPEAKER_1.. in order of first speech."""

    annotation: Annotation
    engine: str
    pipeline: str
    settings: dict
    # each speaker's centroid as the pipeline clustered it (label -> float32 (dimension,)), where the
    # pipeline gives one (pyannote's DiarizeOutput.speaker_embeddings); speakers it padded with zeros left out
    centroids: dict[str, np.ndarray] = field(default_factory=dict)


def build_default() -> Diarizer:
    """pyannote's SpeakerDiarization from the verified segmentation-3.0 and CAM++ files."""
    segmentation_use = models.require(SEGMENTATION_MODEL)
    embedding_use = models.require(EMBEDDING_MODEL)
    segmentation = Model.from_pretrained(str(Path(segmentation_use.path) / "pytorch_model.bin"))
    embedding = CAMPPlusEmbedding(Path(embedding_use.path) / "campplus_cn_en_common.pt")
    pipeline = SpeakerDiarization(
        segmentation=segmentation,
        embedding=embedding,
        # pyannote 4 insists on a PLDA object; agglomerative clustering never reads it.
        plda=PLDA.__new__(PLDA),
        clustering="AgglomerativeClustering",
        segmentation_batch_size=BATCH_SIZE,
        embedding_batch_size=EMBEDDING_BATCH_SIZE,
        **PIPELINE_OPTIONS,
    )
    pipeline.clustering = BoundedAgglomerativeClustering(metric="cosine")
    parameters = {"segmentation": dict(SEGMENTATION), "clustering": dict(CLUSTERING)}
    pipeline.instantiate(parameters)
    recorded = {**PIPELINE_OPTIONS, **parameters, "max_linkage": MAX_LINKAGE}
    return Diarizer(pipeline, DEFAULT_PIPELINE, recorded, [segmentation_use, embedding_use])


def build_from(source: str) -> Diarizer:
    """A complete pyannote pipeline: a local folder, or a hub id (needs network and HF_TOKEN)."""
    folder = Path(source)
    if not folder.is_dir():
        if not re.fullmatch(r"[\w-]+/[\w.-]+", source):
            raise ModelError(f"diarization pipeline not found: {source} (a folder, or a hub id like owner/name)")
        from huggingface_hub import snapshot_download

        try:
            folder = Path(snapshot_download(source, token=os.environ.get("HF_TOKEN")))
        except Exception as exc:  # network, auth or gated-model errors all end here
            raise ModelError(f"cannot fetch diarization pipeline {source}: {type(exc).__name__}") from None
    if not (folder / "config.yaml").is_file():
        raise ModelError(f"not a pyannote pipeline folder (no config.yaml): {folder}")
    use = models.user_model(folder, engine="pyannote.audio")
    try:
        pipeline = Pipeline.from_pretrained(folder)
    except Exception as exc:
        raise ModelError(f"cannot load pyannote pipeline {folder}: {exc}".splitlines()[0]) from None
    if pipeline is None:
        raise ModelError(f"cannot load pyannote pipeline {folder}")
    return Diarizer(pipeline, f"pyannote pipeline {folder.name}", _plain(pipeline.parameters(instantiated=True)), [use])


def load(source: str | None = None) -> Diarizer:
    return build_from(source) if source else build_default()


def diarize(samples: np.ndarray, sample_rate: int, diarizer: Diarizer, limits: SpeakerLimits,
            progress: Update | None = None) -> Diarization:
    """Run the pipeline on a mono waveform held in memory.

    ``progress(completed, total)`` is fed from pyannote's ``hook`` (its steps' completed/total counts).
    """
    audio = {"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None], "sample_rate": sample_rate}
    with torch.inference_mode(), warnings.catch_warnings():
        # pyannote probes the embedding model with ever shorter inputs; one-frame pooling warns
        warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom")
        hook = _progress_hook(progress) if progress else None
        output = diarizer.pipeline(audio, hook=hook, **limits.to_kwargs())
    annotation = getattr(output, "speaker_diarization", output)
    return Diarization(
        annotation=relabel_by_first_speech(annotation),
        engine="pyannote.audio",
        pipeline=diarizer.description,
        settings={**diarizer.parameters, **limits.to_kwargs()},
        centroids=_centroids(annotation, getattr(output, "speaker_embeddings", None)),
    )


def _centroids(annotation: Annotation, embeddings) -> dict[str, np.ndarray]:
    """Rows of pyannote's ``speaker_embeddings`` (in ``annotation.labels()`` order) by first-speech label."""
    if embeddings is None:
        return {}
    names = _first_speech_names(annotation)
    return {names[label]: np.asarray(row, dtype=np.float32) for label, row in zip(annotation.labels(), embeddings)
            if np.all(np.isfinite(row)) and np.any(row)}


def speakers_stage(samples: np.ndarray, sample_rate: int, source: str | None, limits: SpeakerLimits,
                   progress: Update | None = None, diarizer: Diarizer | None = None,
                   centroids: dict | None = None) -> tuple[dict, list[ModelUse]]:
    """The report's speakers block for a recording, and the models used to make it.

    ``diarizer``: one already loaded from ``source`` (default: loaded here). ``centroids``, when given,
    receives each speaker's centroid (label -> float32 (dimension,); see ``Diarization.centroids``).
    """
    diarizer = diarizer or load(source)
    diarization = diarize(samples, sample_rate, diarizer, limits, progress)
    if centroids is not None:
        centroids.update(diarization.centroids)
    return speakers_block(diarization), diarizer.models


def _progress_hook(progress: Update) -> Callable[..., None]:
    """A pyannote pipeline ``hook`` that passes each step's completed/total counts on to ``progress``."""

    def hook(step_name, step_artifact, file=None, total=None, completed=None):
        if total:
            progress(completed or 0, total)

    return hook


def relabel_by_first_speech(annotation: Annotation) -> Annotation:
    """SPEAKER_1, SPEAKER_2, ... in the order each speaker is first heard."""
    return annotation.rename_labels(_first_speech_names(annotation))


def _first_speech_names(annotation: Annotation) -> dict:
    """Each label of ``annotation`` -> SPEAKER_n, n counted in the order speakers are first heard."""
    order: list = []
    for _, _, label in annotation.itertracks(yield_label=True):
        if label not in order:
            order.append(label)
    return {old: f"SPEAKER_{i}" for i, old in enumerate(order, 1)}


def overlaps(annotation: Annotation) -> list[tuple[Segment, list[str]]]:
    """Regions where two or more speakers talk at once, with who is talking."""
    regions = []
    for region in annotation.get_overlap().support():
        speakers = sorted(annotation.crop(region, mode="intersection").labels(), key=_speaker_order)
        regions.append((region, speakers))
    return regions


def speakers_block(diarization: Diarization) -> dict:
    """The report's ``analysis.speakers`` object."""
    annotation = diarization.annotation
    labels = sorted(annotation.labels(), key=_speaker_order)
    return {
        "engine": diarization.engine,
        "pipeline": diarization.pipeline,
        "settings": diarization.settings,
        "labels": labels,
        "turns": [
            {"start": seconds(turn.start), "end": seconds(turn.end), "speaker": label}
            for turn, _, label in annotation.itertracks(yield_label=True)
        ],
        "overlaps": [
            {"start": seconds(region.start), "end": seconds(region.end), "speakers": speakers}
            for region, speakers in overlaps(annotation)
        ],
        "talk_time_s": {label: seconds(annotation.label_duration(label)) for label in labels},
    }


def _speaker_order(label: str) -> tuple[int, str]:
    number = label.rsplit("_", 1)[-1]
    return (int(number), label) if number.isdigit() else (1 << 30, label)


def _plain(value):
    """Pipeline parameters as JSON-ready values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value
