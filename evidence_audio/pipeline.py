"""One pipeline that composes the stages into a sealed report record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .intake import confirm_unchanged, take_in
from .provenance import Provenance, utc_now
from .report.canonical import seal
from .report.formats import render_folder
from .report.output import write_folder
from .report.record import build_record, evidence_block
from .progress import NoProgress, Progress


@dataclass(frozen=True)
class Settings:
    """Every setting that can change an analysis; recorded in full in the report."""

    case: str | None = None
    examiner: str | None = None
    engine: str = "faster-whisper"  # or openai-whisper (the same weights, converted)
    model: str = "base"  # base, tiny.en, a manifest name, or the path of an own model
    compute_type: str = "int8"  # faster-whisper only
    language: str | None = None  # forced language code; None: identified by the model
    languages: tuple[str, ...] | None = None  # identification restricted to these codes (--languages)
    translate: bool = False  # add an English translation beside every segment
    speech_only: bool = True  # transcribe only the regions voice activity calls speech
    diarize: bool = True
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    diarization_pipeline: str | None = None  # a local pyannote pipeline folder, or a hub id (online)
    events: bool = True  # distress sound events and transcript cues (thresholds: in the events block)
    authenticity: bool = True  # metadata, discontinuity and mains-hum indicators (with their limits)

    def to_record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("case", "examiner")}


def analyze(path: str | Path, settings: Settings, progress: Progress | None = None) -> dict:
    """Analyse a recording and return its sealed report record."""
    return analyze_with_audio(path, settings, progress)[0]


def analyze_with_audio(path: str | Path, settings: Settings,
                       progress: Progress | None = None) -> tuple[dict, np.ndarray]:
    """The sealed record, and the 16 kHz mono signal it describes (for the report's timeline figure)."""
    progress = progress or NoProgress()
    with progress.stage("decoding and hashing"):
        intake = take_in(path)
    provenance = Provenance(
        input_path=str(Path(path).absolute()),
        observed=intake.observed,
        settings=settings.to_record(),
        case=settings.case,
        examiner=settings.examiner,
    )
    analysis: dict = {}
    duration = len(intake.audio.samples) / intake.audio.sample_rate
    with progress.stage("transcription", total=duration, unit="s") as update:
        add_transcript(analysis, intake.audio, settings, provenance, update)
    if settings.diarize:
        with progress.stage("speakers") as update:
            add_speakers(analysis, intake.audio, settings, provenance, update)
    if settings.events:
        with progress.stage("distress events"):
            add_events(analysis, intake.audio, provenance)
    if settings.authenticity:
        from .authenticity import indicators

        with progress.stage("authenticity indicators"):
            analysis["authenticity"] = indicators(intake, native=False)
    with progress.stage("re-hashing the input"):
        confirm_unchanged(intake)
    provenance.finished_utc = utc_now()
    return seal(build_record(evidence_block(intake), provenance.to_record(), analysis)), intake.audio.samples


def add_transcript(analysis: dict, audio, settings: Settings, provenance: Provenance,
                   progress: Callable[[float, float], None] | None = None) -> None:
    """Whisper transcript on the speech regions, with language, confidence and doubt marks."""
    from .transcribe import load_models, transcribe

    engine, vad_model, used = load_models(settings.engine, settings.model, settings.compute_type)
    provenance.models.extend(used)
    transcript = transcribe(engine, used[0].name, vad_model, audio.samples, language=settings.language,
                            languages=list(settings.languages) if settings.languages else None, english=settings.translate, speech_only=settings.speech_only, progress=progress)
    analysis["transcript"] = transcript.to_record()


def add_speakers(analysis: dict, audio, settings: Settings, provenance: Provenance,
                 progress: Callable[..., None] | None = None) -> None:
    """Diarize, and give every transcript word (if there is a transcript) its speaker."""
    from .attribution import attribute_words
    from .diarize import SpeakerLimits, speakers_stage

    limits = SpeakerLimits(settings.num_speakers, settings.min_speakers, settings.max_speakers)
    speakers, used = speakers_stage(audio.samples, audio.sample_rate, settings.diarization_pipeline, limits,
                                   progress=progress)
    provenance.models.extend(used)
    analysis["speakers"] = speakers
    if "transcript" in analysis:
        analysis["transcript"] = attribute_words(analysis["transcript"], speakers)


def add_events(analysis: dict, audio, provenance: Provenance) -> None:
    """Sound events and transcript cues; reads the transcript, changes nothing else."""
    from .events.detector import DistressDetector, events_block

    detector = DistressDetector()
    provenance.models.extend(m for m in detector.model_uses if m not in provenance.models)
    analysis["events"] = events_block(detector, audio.samples, analysis.get("transcript"))


def render_outputs(record: dict, samples: np.ndarray | None = None, formats: Iterable[str] | None = None,
                   progress: Callable[..., None] | None = None) -> dict[str, bytes]:
    """Every file of the report folder, by name: the chosen formats (default all) and manifest.sha256.

    ``progress(files_done, files_in_all)`` is called after each file is rendered.
    """
    return render_folder(record, samples, formats, progress=progress)


def write_report(record: dict, out_dir: str | Path, overwrite: bool = False, samples: np.ndarray | None = None,
                 formats: Iterable[str] | None = None, progress: Progress | None = None,
                 inputs: Iterable[str | Path] = ()) -> Path:
    """Render the report files and write them atomically into ``out_dir``; returns the folder's path.

    Raises OutputError (exit 7) when the folder cannot be written, exists already without ``overwrite``,
    is not a report folder this tool wrote, or is, contains or lies above one of ``inputs``.
    """
    progress = progress or NoProgress()
    with progress.stage("writing report files", unit="files") as update:
        files = render_outputs(record, samples, formats, progress=update)
        return write_folder(Path(out_dir), files, overwrite=overwrite, inputs=inputs)


def default_output_dir(path: str | Path) -> Path:
    return Path.cwd() / f"{Path(path).name}.evidence"
