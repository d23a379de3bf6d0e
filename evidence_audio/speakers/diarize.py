"""Speaker diarization: who spoke when, with pyannote.audio, fully offline.

The default pipeline is pyannote.audio's ``SpeakerDiarization`` built from local files only:
pyannote/segmentation-3.0 and CAM++ speaker embeddings (see ``campplus``), both
verified against ``evidence_audio/data/manifest.json``, with the hyper-parameters of pyannote's
speaker-diarization-3.1 (agglomerative clustering, its threshold included: see ``CLUSTERING``
for why), and with memory bounded on long recordings (see ``clustering``). Alternatively a
complete pyannote pipeline folder (e.g. speaker-diarization-community-1) or, when online, a hub
id with ``HF_TOKEN``.

The recording is passed in memory, so pyannote never decodes files itself.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


import numpy as np

import torch

from pyannote.audio import Model, Pipeline
from pyannote.audio.core.plda import PLDA
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.core import Annotation, Segment, SlidingWindowFeature

from .. import models
from .clustering import MAX_LINKAGE, BoundedAgglomerativeClustering
from ..errors import ModelError
from ..progress import Update
from ..models import ModelUse
from ..report.blocks import SpeakersBlock
from ..values import seconds
from . import SpeakerLimits
from .campplus import CAMPPlusEmbedding, embed_chunks

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
BATCH_SIZE = 32  # CAM++ windows per batch where pyannote embeds (the block embeddings do not batch)
# 10 s windows per batch of the segmentation model. At 32 its activations (SincNet's 80 filter
# outputs for every window of the batch) held about 360 MiB above the loaded models, while the
# transcription's working memory is also held on a long recording; at 8, about 120 MiB, and 5 minutes
# took 9.0 s instead of 10.7 s. The segmentation's values are the same bit for bit at 4, 8, 16 and 32
# (tests/test_diarize.py), so the speakers are too (docs/diarization.md).
SEGMENTATION_BATCH_SIZE = 8
# A person who goes from calm speech to shouting can come out as two speakers: CAM++ embeddings of
# strained voice lie far from the same person's calm ones (RAVDESS actors, calm vs fearful/angry
# takes: cosine distance 0.40-0.69 between the two clusters' centroids). A speaker with at most
# `max_speech_s` of speech that is at least `min_level_difference_db` louder than another speaker's,
# and whose centroid lies within `max_distance` (cosine) of that quieter speaker's, is taken to be that
# speaker raising the voice: its turns are re-assigned to the quieter speaker, and the report lists
# every re-assigned turn. Chosen on benchmarks/diarization.py --actors, the pyannote debug and sample
# files and the police-car scenes of benchmarks/car_scenes.py (seeds 20261201 and 20261202): without
# the speech cap, whole talkers who happened to be louder were merged into others.
# Figures in docs/scenes.md.
STRAIN = {"max_distance": 0.7, "min_level_difference_db": 10.0, "max_speech_s": 10.0}
# The shortest speech a centroid is computed from when pyannote's clustering gives the speaker none:
# the calibration of voice scores (case/voice.py, data/voice_matching.json) was measured on CAM++
# embeddings of 2 s pieces and longer.
MIN_CENTROID_SPEECH_S = 2.0
# Diarization runs torch on one thread, whatever the machine has. With torch's default (one thread
# per core), pyannote's thousands of small operations each wait at a barrier for the slowest thread,
# and on a machine with anything else running that thread is often descheduled: the speakers stage
# of a 60 s clip took 250 s instead of 6 s on 2 cores beside two busy processes
# (benchmarks/speed.py --file, 2026-12-01). On an idle 2-core machine one thread costs about 1 s a
# minute of audio (2.4 -> 3.5 s for that clip). One count on every machine also keeps float sums,
# hence borderline turns, the same between machines with different core counts.
THREADS = 1


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
    # each speaker's centroid (label -> float32 (dimension,)): as the pipeline clustered it (pyannote's
    # DiarizeOutput.speaker_embeddings, the mean of the speaker's clean chunk embeddings); for a speaker
    # the pipeline gave none (too little clean speech in any one chunk: NaN or zero rows), the embedding
    # model run on the speaker's speech without overlap (see ``speech_centroids``); none under
    # MIN_CENTROID_SPEECH_S seconds of such speech
    centroids: dict[str, np.ndarray] = field(default_factory=dict)
    # turns re-assigned from a raised-voice speaker to a calm one (see merge_strained)
    reassigned: list[dict] = field(default_factory=list)


class BlockEmbeddingDiarization(SpeakerDiarization):
    """pyannote's ``SpeakerDiarization`` with CAM++'s frame-level trunk run once per block.

    pyannote embeds each (chunk, local speaker) pair by running the embedding network on the whole
    10 s chunk; with chunks every second, each second of audio goes through the network ten times.
    Here the trunk runs on 20 s blocks (``campplus.embed_chunks``) and each pair pools its
    chunk's slice of frames with pyannote's own mask (overlap excluded when enough clean speech
    remains, as in ``SpeakerDiarization.get_embeddings``). Segmentation, clustering and
    reconstruction are pyannote's. Needs the recording in memory (``{"waveform", "sample_rate"}``).
    """

    def __init__(self, *args, campplus: CAMPPlusEmbedding, **kwargs):
        super().__init__(*args, **kwargs)
        self.campplus = campplus

    def get_embeddings(self, file, binary_segmentations, exclude_overlap: bool = False, hook=None):
        data = np.nan_to_num(binary_segmentations.data, nan=0.0).astype(np.float32)
        masks = data
        if exclude_overlap:
            num_frames = data.shape[1]
            chunk_s = binary_segmentations.sliding_window.duration
            min_frames = math.ceil(num_frames * self._embedding.min_num_samples / (chunk_s * self._embedding.sample_rate))
            clean = data * (data.sum(axis=2, keepdims=True) < 2)
            enough = clean.sum(axis=1, keepdims=True) > min_frames  # (chunks, 1, speakers)
            masks = np.where(enough, clean, data)
        starts = [chunk.start for chunk, _ in binary_segmentations]
        samples = file["waveform"][0].float()
        progress = (lambda done, total: hook("embeddings", None, total=total, completed=done)) if hook else None
        return embed_chunks(self.campplus, samples, starts, binary_segmentations.sliding_window.duration,
                            torch.from_numpy(masks), progress).numpy()

    def reconstruct(self, segmentations: SlidingWindowFeature, hard_clusters: np.ndarray,
                    count: SlidingWindowFeature) -> SlidingWindowFeature:
        """pyannote's ``SpeakerDiarization.reconstruct`` (each chunk's local speakers put in their
        clusters' columns, then ``to_diarization``), holding the clustered segmentations in the
        segmentation's own dtype (float32, so every value is kept exactly) instead of pyannote's
        float64: 0.7 GB instead of 1.4 GB for 4 hours and 20 speakers, the largest array of a long
        analysis. The result is the same: ``Inference.aggregate`` multiplies each score by float64
        windows either way.
        """
        num_chunks, num_frames, _ = segmentations.data.shape
        clustered = np.full((num_chunks, num_frames, np.max(hard_clusters) + 1), np.nan,
                            dtype=np.result_type(segmentations.data.dtype, np.float32))
        for c, (cluster, (_, segmentation)) in enumerate(zip(hard_clusters, segmentations)):
            for k in np.unique(cluster):
                if k != -2:  # -2: a local speaker that is not active in the chunk
                    clustered[c, :, k] = np.max(segmentation[:, cluster == k], axis=1)
        return self.to_diarization(SlidingWindowFeature(clustered, segmentations.sliding_window), count)


def build_default() -> Diarizer:
    """pyannote's SpeakerDiarization from the verified segmentation-3.0 and CAM++ files."""
    segmentation_use = models.require(SEGMENTATION_MODEL)
    embedding_use = models.require(EMBEDDING_MODEL)
    segmentation = Model.from_pretrained(str(Path(segmentation_use.path) / "pytorch_model.bin"))
    embedding = CAMPPlusEmbedding(Path(embedding_use.path) / "campplus_cn_en_common.pt")
    pipeline = BlockEmbeddingDiarization(
        segmentation=segmentation,
        embedding=embedding,
        campplus=embedding,
        # pyannote 4 insists on a PLDA object; agglomerative clustering never reads it.
        plda=PLDA.__new__(PLDA),
        clustering="AgglomerativeClustering",
        segmentation_batch_size=SEGMENTATION_BATCH_SIZE,
        embedding_batch_size=BATCH_SIZE,
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
    """Run the pipeline on a mono waveform held in memory (pyannote never reads a file).

    Parameters
    ----------
    samples : numpy.ndarray
        float32 (converted if not), shape (n,), mono.
    sample_rate : int
        Its rate in Hz (16000 in the pipeline).
    diarizer : Diarizer
        From :func:`load`.
    limits : SpeakerLimits
        Exact, least or most number of speakers.
    progress : callable, optional
        ``progress(completed, total)``, fed from pyannote's ``hook`` (its steps' counts).

    Returns
    -------
    Diarization
        Turns (seconds) labelled SPEAKER_1.. in order of first speech, the settings used, and each
        speaker's embedding centroid where the pipeline gives one.
    """
    audio = {"waveform": torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None], "sample_rate": sample_rate}
    with one_thread():
        return _diarize(audio, samples, sample_rate, diarizer, limits, progress)


@contextmanager
def one_thread():
    """torch on ``THREADS`` threads inside the block, and on as many as before after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _diarize(audio: dict, samples: np.ndarray, sample_rate: int, diarizer: Diarizer, limits: SpeakerLimits,
             progress: Update | None) -> Diarization:
    with torch.inference_mode(), warnings.catch_warnings():
        # pyannote probes the embedding model with ever shorter inputs; one-frame pooling warns
        warnings.filterwarnings("ignore", message=r"std\(\): degrees of freedom")
        # a cluster without clean chunk embeddings gets a NaN centroid from np.mean (filled in below)
        warnings.filterwarnings("ignore", message="Mean of empty slice")
        warnings.filterwarnings("ignore", message="invalid value encountered in divide")
        hook = _progress_hook(progress) if progress else None
        output = diarizer.pipeline(audio, hook=hook, **limits.to_kwargs())
    annotation = getattr(output, "speaker_diarization", output)
    centroids = _centroids(annotation, getattr(output, "speaker_embeddings", None))
    settings = {**diarizer.parameters, **limits.to_kwargs()}
    reassigned: list = []
    if diarizer.description == DEFAULT_PIPELINE and not limits.num_speakers:
        settings["reassignment"] = dict(STRAIN)
        annotation, centroids, reassigned = merge_strained(relabel_by_first_speech(annotation), centroids, samples,
                                                           sample_rate, limits.min_speakers or 1)
    if reassigned:
        centroids = {_first_speech_names(annotation)[k]: v for k, v in centroids.items()}
    annotation = relabel_by_first_speech(annotation)
    centroids = {**speech_centroids(annotation, samples, sample_rate, diarizer, skip=set(centroids)), **centroids}
    return Diarization(
        annotation=annotation,
        engine="pyannote.audio",
        pipeline=diarizer.description,
        settings=settings,
        centroids=dict(sorted(centroids.items(), key=lambda item: _speaker_order(item[0]))),
        reassigned=reassigned,
    )


def speech_centroids(annotation: Annotation, samples: np.ndarray, sample_rate: int, diarizer: Diarizer,
                     skip: set = frozenset()) -> dict[str, np.ndarray]:
    """Each speaker's embedding from its own speech: the pipeline's embedding model run once on the
    speaker's turns without overlap, joined (float32 (dimension,) by label).

    For speakers that pyannote's clustering leaves without a centroid: its centroids average only
    chunk embeddings with at least 20 % of the 10 s chunk spoken by that speaker alone
    (``filter_embeddings``), so a speaker of a short recording can have none, and which one has
    none can differ between machines with the last bits of the segmentation scores. Speakers in
    ``skip``, with under ``MIN_CENTROID_SPEECH_S`` seconds of such speech, or of a recording not at the
    embedding model's rate get none.
    """
    embedding = getattr(diarizer.pipeline, "_embedding", None)
    if embedding is None or getattr(embedding, "sample_rate", None) != sample_rate:
        return {}
    overlap = annotation.get_overlap()
    found = {}
    for label in annotation.labels():
        if label in skip:
            continue
        alone = annotation.label_timeline(label).extrude(overlap)
        parts = [samples[int(round(s.start * sample_rate)):int(round(s.end * sample_rate))] for s in alone]
        speech = np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        if speech.shape[0] < MIN_CENTROID_SPEECH_S * sample_rate:
            continue
        with torch.inference_mode():
            row = np.asarray(embedding(torch.from_numpy(speech)[None, None]), dtype=np.float32)[0]
        if np.all(np.isfinite(row)) and np.any(row):
            found[label] = row
    return found


def merge_strained(annotation: Annotation, centroids: dict[str, np.ndarray], samples: np.ndarray, sample_rate: int,
                   min_speakers: int = 1, rule: dict | None = None) -> tuple[Annotation, dict[str, np.ndarray], list[dict]]:
    """Re-assign a raised-voice speaker's turns to the calm speaker it most resembles (rule: ``STRAIN``).

    Speakers are taken loudest first (level: dB of the mean square of the samples in their turns); each
    with at most ``max_speech_s`` seconds of speech goes to the nearest (cosine distance of centroids)
    speaker at least ``min_level_difference_db`` quieter within ``max_distance``, never below
    ``min_speakers`` speakers. Returns the annotation
    with the merged labels (same-label turns that touch joined), the remaining centroids, and one
    ``{"start", "end", "to", "distance", "level_difference_db"}`` per re-assigned turn (seconds; ``to``:
    the label it now has, after relabelling by first speech; ``distance``: cosine distance of the two
    centroids; ``level_difference_db``: how much louder the re-assigned speech was).
    """
    def level(label: str) -> float:
        parts = [samples[int(s.start * sample_rate):int(s.end * sample_rate)] for s in annotation.label_timeline(label)]
        x = np.concatenate(parts).astype(np.float64) if parts else np.zeros(1)
        return float(10 * np.log10(np.mean(np.square(x)) + 1e-12))

    def distance(a: str, b: str) -> float:
        return float(1 - centroids[a] @ centroids[b] / (np.linalg.norm(centroids[a]) * np.linalg.norm(centroids[b])))

    rule = rule or STRAIN
    levels = {label: level(label) for label in annotation.labels() if label in centroids}
    target: dict[str, tuple[str, float, float]] = {}
    for loud in sorted(levels, key=lambda k: (-levels[k], k)):
        if len(levels) - len(target) <= min_speakers:
            break
        near = sorted((distance(loud, calm), calm) for calm in levels
                      if calm != loud and calm not in target and loud not in {t[0] for t in target.values()}
                      and levels[loud] - levels[calm] >= rule["min_level_difference_db"])
        if near and near[0][0] <= rule["max_distance"] and annotation.label_duration(loud) <= rule["max_speech_s"]:
            target[loud] = (near[0][1], near[0][0], levels[loud] - levels[near[0][1]])
    if not target:
        return annotation, centroids, []
    merged = annotation.rename_labels({k: v[0] for k, v in target.items()}).support()
    names = _first_speech_names(merged)
    reassigned = [{"start": seconds(turn.start), "end": seconds(turn.end), "to": names[target[label][0]],
                   "distance": round(target[label][1], 3), "level_difference_db": round(target[label][2], 1)}
                  for turn, _, label in annotation.itertracks(yield_label=True) if label in target]
    return merged, {k: v for k, v in centroids.items() if k not in target}, reassigned


def _centroids(annotation: Annotation, embeddings) -> dict[str, np.ndarray]:
    """Rows of pyannote's ``speaker_embeddings`` (in ``annotation.labels()`` order) by first-speech label."""
    if embeddings is None:
        return {}
    names = _first_speech_names(annotation)
    return {names[label]: np.asarray(row, dtype=np.float32) for label, row in zip(annotation.labels(), embeddings)
            if np.all(np.isfinite(row)) and np.any(row)}


@dataclass(frozen=True)
class SpeakerOptions:
    """What the speakers stage is asked for (the diarization fields of ``pipeline.Settings``)."""

    pipeline: str | None = None  # a local pyannote pipeline folder or a hub id; None: the default pipeline
    limits: SpeakerLimits = SpeakerLimits()

    def load(self) -> Diarizer:
        return load(self.pipeline)


def speakers_stage(samples: np.ndarray, sample_rate: int, options: SpeakerOptions, *, loaded: Diarizer | None = None,
                   progress: Update | None = None,
                   centroids: dict | None = None) -> tuple[SpeakersBlock, list[ModelUse]]:
    """The speakers stage: the report's ``analysis.speakers`` block and the models used.

    Parameters
    ----------
    samples : numpy.ndarray
        Mono float32 waveform, shape (n,), in [-1, 1] (the 16 kHz analysis signal in the pipeline).
    sample_rate : int
        Its rate in Hz (pyannote resamples anything else to 16 kHz).
    options : SpeakerOptions
        The pipeline to load and the speaker-count limits.
    loaded : Diarizer, optional
        ``options.load()``'s result, kept by a caller that analyses many recordings; loaded here if None.
    progress : callable, optional
        ``progress(completed, total)`` from pyannote's step counts.
    centroids : dict, optional
        Receives each speaker's centroid (label -> float32 (dimension,); see ``Diarization.centroids``).

    Returns
    -------
    block : dict
        ``analysis.speakers``: turns, overlaps and talk time (seconds, rounded to 1 ms), labels SPEAKER_1..
        in order of first speech.
    models_used : list of models.ModelUse
        The segmentation and embedding models (or the user's pipeline folder), with their file hashes.

    Raises
    ------
    ModelError
        A model or pipeline is missing, unreadable or does not match the manifest (exit 6).
    """
    diarizer = loaded or options.load()
    diarization = diarize(samples, sample_rate, diarizer, options.limits, progress)
    if centroids is not None:
        centroids.update(diarization.centroids)
    return speakers_block(diarization), list(diarizer.models)


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


def speakers_block(diarization: Diarization) -> SpeakersBlock:
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
        **({"reassigned": diarization.reassigned} if diarization.reassigned else {}),
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
