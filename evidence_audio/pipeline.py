"""One pipeline that composes the stages into a sealed report record."""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from . import custody, signing
from .heap import trim_heap
from .intake import check_media, confirm_unchanged, take_in
from .provenance import Provenance, utc_now
from .report.blocks import Analysis
from .report.canonical import seal
from .report.formats import render_folder
from .report.output import write_folder
from .report.record import build_record, evidence_block
from .speakers import SpeakerLimits
from .progress import NoProgress, Progress, Update


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
    record_path: bool = False  # provenance.input_path: the full path; default the file name only
    stream: int | None = None  # analyse only this audio stream; None: every stream that carries signal
    # How report.html presents the audio (no effect on the analysis; see report/formats/listening.py):
    embed_audio: bool = True  # embed a compressed listening copy of the analysis signal
    link_audio: str | None = None  # instead, play the original from this path relative to the report folder

    def __post_init__(self):
        self.speaker_limits()  # raises UsageError (exit 2) for impossible speaker counts, before any work

    def speaker_limits(self) -> SpeakerLimits:
        return SpeakerLimits(self.num_speakers, self.min_speakers, self.max_speakers)

    def to_record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("case", "examiner")}


def analyze(path: str | Path, settings: Settings, progress: Progress | None = None) -> dict:
    """Analyse a recording and return its sealed report record.

    Parameters
    ----------
    path : str or Path
        The recording (any container and codec FFmpeg reads); opened read-only, never written.
    settings : Settings
        Every setting that can change the analysis; recorded in ``provenance.settings``.
    progress : Progress, optional
        Where each stage reports its progress (default: nowhere).

    Returns
    -------
    dict
        The sealed record (report/schema.json): ``evidence``, ``provenance``, ``analysis`` and ``integrity``.

    Raises
    ------
    InputError
        The input is missing, a directory or unreadable (exit 3).
    MediaError
        The input holds no decodable audio (exit 4).
    ModelError
        A model is missing or does not match the manifest (exit 6).
    EvidenceError
        Any other request the analysis cannot meet, e.g. an unknown language code (exit 1), or the input
        changed while it was analysed.
    """
    return analyze_with_audio(path, settings, progress)[0]


def analyze_with_audio(path: str | Path, settings: Settings, progress: Progress | None = None,
                       models: dict | None = None, centroids: dict | None = None,
                       side_by_side: bool | None = None) -> tuple[dict, np.ndarray]:
    """The sealed record, and the 16 kHz mono signal it describes (for the report's timeline figure).

    Every stage is called the same way, ``block, models_used = stage(samples, sample_rate, options)``;
    this function alone puts the blocks together (the transcript's words get their speakers, the
    events block its transcript cues) and records the models used.

    ``models``: a cache the caller keeps between recordings (an empty dict at first): each stage
    loads its models into it once and reuses them; the analysis is the same as without it.
    ``centroids``, when given, receives each diarized speaker's embedding centroid
    (label -> float32 (dimension,); see ``speakers.diarize.Diarization.centroids``).
    ``side_by_side``: run the transcription on this thread and the speakers, events and authenticity
    stages on a second one at the same time (default: when the machine has more than one CPU core;
    a caller that already runs one analysis per core passes False). The record is the same either way;
    ``provenance.threads.stage_threads`` says which ran.
    """
    progress = progress or NoProgress()
    for earlier in list(_RUNNING):  # stages of an interrupted earlier call may share the models cache
        earlier.stop(wait=True)
    if side_by_side is None:
        side_by_side = (os.cpu_count() or 1) > 1
    check_media(path)  # a bad input fails here, in one line, before any stage is shown
    with progress.stage("decoding and hashing"):
        intake = take_in(path, settings.stream)
    provenance = Provenance(
        input_path=str(Path(path).absolute()) if settings.record_path else Path(path).name,
        observed=intake.observed,
        settings=settings.to_record(),
        case=settings.case,
        examiner=settings.examiner,
        stage_threads=2 if side_by_side else 1,
    )
    samples, rate = intake.audio.samples, intake.audio.sample_rate
    analysis: Analysis = {}

    def record(block_name: str, block: dict, used: list) -> None:
        analysis[block_name] = block
        provenance.models.extend(m for m in used if m not in provenance.models)

    from .asr.transcribe import TranscriptionOptions, transcript_stage

    options = TranscriptionOptions(settings.engine, settings.model, settings.compute_type, settings.language,
                                   settings.languages, settings.translate, settings.speech_only)
    with progress.stage("transcription", total=len(samples) / rate, unit="s") as update:
        # loaded before the other stages start: loading silero-vad touches torch's thread count
        loaded = _loaded(models, ("whisper", options.engine, options.model, options.compute_type), options.load)
        others = _Beside(_other_stages, side_by_side, samples, rate, intake, settings, progress, models, centroids)
        try:
            transcript = transcript_stage(samples, rate, options, loaded=loaded, progress=update)
        except BaseException as exc:
            others.stop(wait=not isinstance(exc, KeyboardInterrupt))  # Ctrl-C ends at once (cli: os._exit)
            raise
    blocks = others.result()
    record("transcript", *transcript)  # in this order whichever stage ended first, as the record is the same
    for name, (block, used) in blocks.items():
        record(name, block, used)
    if "speakers" in analysis:
        from .speakers.attribution import attribute_words

        analysis["transcript"] = attribute_words(analysis["transcript"], analysis["speakers"])
    if "events" in analysis:
        from .events.cues import find_cues

        analysis["events"]["transcript_cues"] = find_cues(analysis["transcript"])
    with progress.stage("re-hashing the input"):
        confirm_unchanged(intake)
    provenance.finished_utc = utc_now()
    return seal(build_record(evidence_block(intake), provenance.to_record(), analysis)), samples


def _other_stages(samples: np.ndarray, rate: int, intake, settings: Settings, progress: Progress,
                  models: dict | None, centroids: dict | None, stopped: threading.Event) -> dict[str, tuple]:
    """The speakers, events and authenticity stages, one after another (those the settings ask for):
    block name -> (block, models used). None of them needs the transcript; ``stopped`` set (the
    transcription failed or was interrupted) ends them at their next progress report or stage."""
    blocks: dict[str, tuple] = {}

    def checked(update: Update) -> Update:
        def report(*args, **kwargs):
            if stopped.is_set():
                raise _Stopped()
            update(*args, **kwargs)
        return report

    if settings.diarize and not stopped.is_set():
        from .speakers.diarize import SpeakerOptions, speakers_stage

        options = SpeakerOptions(settings.diarization_pipeline, settings.speaker_limits())
        with progress.stage("speakers") as update:
            blocks["speakers"] = speakers_stage(samples, rate, options, progress=checked(update), centroids=centroids,
                                                loaded=_loaded(models, ("diarizer", options.pipeline), options.load))
        trim_heap()  # pyannote's models (without a models cache) and per-window arrays, freed, go back
        # before the events encoder allocates
    if settings.events and not stopped.is_set():
        from .events.detector import EventOptions, events_stage

        options = EventOptions()
        with progress.stage("distress events"):
            blocks["events"] = events_stage(samples, rate, options, loaded=_loaded(models, ("distress",), options.load))
        trim_heap()
    if settings.authenticity and not stopped.is_set():
        from .authenticity import AuthenticityOptions, authenticity_stage

        with progress.stage("authenticity indicators"):
            blocks["authenticity"] = authenticity_stage(samples, rate, AuthenticityOptions(intake, native=False))
    return blocks


class _Stopped(Exception):
    """Raised inside the other stages' thread when the transcription has failed: nothing to finish."""


STAGES_THREAD = "evidence-audio stages"


def stages_still_running() -> bool:
    """Whether a thread of other stages is still running after its analysis was interrupted.

    Such a thread is a daemon in native code (torch, CTranslate2): a process that then exits through
    the interpreter's shutdown can abort in the native libraries' exit handlers, so the CLI leaves
    with ``os._exit`` instead (its outputs are already removed or never made).
    """
    return bool(_RUNNING)


_RUNNING: set = set()  # the _Beside objects whose thread was started and has not ended (Thread.is_alive
# can turn False early when KeyboardInterrupt hits Thread.join, on Python 3.11)


class _Beside:
    """``work(*args, stopped)`` on a thread of its own (``side_by_side``) while the caller goes on, or
    on the caller's thread when it asks for the result; :meth:`result` returns what it returned or
    raises what it raised.

    The thread is a daemon, so Ctrl-C does not wait for it. :meth:`stop` makes it end at its next
    progress report or stage. Its error is raised only after the caller's own stage ended without
    one, so the error (and exit code) reported is the one a run of one stage at a time reports.
    Every stage fixes its own thread counts (CTranslate2's, torch's for diarization), so running
    stages side by side changes their timing, not their results (``tests/test_pipeline_side_by_side.py``).
    """

    def __init__(self, work: Callable, side_by_side: bool, *args):
        self._stopped = threading.Event()
        self._outcome: dict = {}
        self._work, self._args = work, args
        self._thread = None
        if side_by_side:
            self._thread = threading.Thread(target=self._run, name=STAGES_THREAD, daemon=True)
            _RUNNING.add(self)  # before the start: an error on the caller's thread may come first
            self._thread.start()

    def _run(self) -> None:
        try:
            self._outcome["value"] = self._work(*self._args, self._stopped)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread by result()
            self._outcome["error"] = exc
        finally:
            _RUNNING.discard(self)

    def stop(self, wait: bool) -> None:
        """Tell the work to end; with ``wait``, return once it has."""
        self._stopped.set()
        if wait and self._thread is not None:
            self._thread.join()

    def result(self):
        if self._thread is None:
            self._run()
        else:
            try:
                self._thread.join()
            except BaseException:  # Ctrl-C while waiting: the other stages end at their next report
                self._stopped.set()
                raise
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["value"]


def _loaded(models: dict | None, key: tuple, load: Callable[[], object]):
    """What ``load()`` returned for ``key``, loaded once when the caller keeps a ``models`` cache."""
    if models is None:
        return load()
    if key not in models:
        models[key] = load()
    return models[key]


def render_outputs(record: dict, samples: np.ndarray | None = None, formats: Iterable[str] | None = None,
                   progress: Update | None = None) -> dict[str, bytes]:
    """Every file of the report folder, by name: the chosen formats (default all) and manifest.sha256.

    ``progress(files_done, files_in_all)`` is called after each file is rendered.
    """
    return render_folder(record, samples, formats, progress=progress)


def write_report(record: dict, out_dir: str | Path, overwrite: bool = False, samples: np.ndarray | None = None,
                 formats: Iterable[str] | None = None, progress: Progress | None = None,
                 inputs: Iterable[str | Path] = (), signer: tuple | None = None) -> Path:
    """Render the report files and write them atomically into ``out_dir``; returns the folder's path.

    The folder gets custody.jsonl (intake and analysis entries) beside the sealed files; with
    ``signer`` = (Ed25519 private key, examiner name) also the signed statement and its signature
    (see evidence_audio.signing), written in the same atomic step.

    Raises OutputError (exit 7) when the folder cannot be written, exists already without ``overwrite``,
    is not a report folder this tool wrote, or is, contains or lies above one of ``inputs``.
    """
    progress = progress or NoProgress()
    with progress.stage("writing report files", unit="files") as update:
        files = render_outputs(record, samples, formats, progress=update)
        log = custody.chain(custody.analysis_entries(record, files))
        files = {**files, custody.CUSTODY_NAME: log,
                 **(signing.signed_files(files, *signer, log) if signer else {})}
        return write_folder(Path(out_dir), files, overwrite=overwrite, inputs=inputs)
