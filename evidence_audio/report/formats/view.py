"""What the human-readable reports show, read from a record that may lack any analysis block.

Every renderer (text, subtitles, HTML, PDF) takes its rows from here, so all of them say the
same thing about the same record.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...escaping import printable

LOW_CONFIDENCE = 0.5  # a word below this recogniser probability is marked in the reports


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 segment', '2 segments', '0 segments' (``plural`` for irregular nouns)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def clock(t: float | None, separator: str = ".") -> str:
    """A time in seconds as hh:mm:ss.mmm (``separator`` before the milliseconds: "," for SRT); '?' when
    unknown; a time before 0 (never in a record) as 00:00:00.000. The one clock formatter of the reports."""
    if t is None:
        return "?"
    ms = max(0, round(float(t) * 1000))
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def short_clock(t: float | None) -> str:
    """A time as m:ss.s (or h:mm:ss.s), for tables and figures."""
    if t is None:
        return "?"
    tenths = round(float(t) * 10)
    hours, rest = divmod(tenths, 36_000)
    minutes, rest = divmod(rest, 600)
    seconds = f"{rest // 10:02d}.{rest % 10}"
    return f"{hours}:{minutes:02d}:{seconds}" if hours else f"{minutes}:{seconds}"


def analysis(record: dict, block: str) -> dict:
    return (record.get("analysis") or {}).get(block) or {}


_NOTHING = {
    "transcript": ("Transcription did not run.", "No speech was transcribed."),
    "speakers": ("Speaker analysis did not run.", "No speaker turns were found."),
    "events": ("Event detection did not run.", "No distress event was detected."),
}


def nothing(record: dict, block: str) -> str:
    """What to say where a block has nothing to show: the stage did not run, or found nothing."""
    did_not_run, found_nothing = _NOTHING[block]
    return found_nothing if block in (record.get("analysis") or {}) else did_not_run


def duration(record: dict) -> float:
    audio = (record.get("evidence") or {}).get("audio") or {}
    samples, rate = audio.get("analysis_samples"), audio.get("analysis_sample_rate")
    if samples and rate:
        return samples / rate
    return audio.get("decoded_duration_s") or 0.0


def digest(record: dict) -> str:
    return (record.get("integrity") or {}).get("digest", "(not sealed)")


@dataclass(frozen=True)
class Word:
    text: str
    start: float | None
    end: float | None
    probability: float | None
    speaker: str | None = None

    @property
    def low_confidence(self) -> bool:
        return self.probability is not None and self.probability < LOW_CONFIDENCE


@dataclass(frozen=True)
class Line:
    """One transcript segment as the reports show it."""

    id: int | str
    start: float
    end: float
    speaker: str | None
    text: str
    translation: str | None
    suspect_reasons: tuple[str, ...]
    words: tuple[Word, ...] = field(default_factory=tuple)
    language: str | None = None
    translation_doubts: tuple[str, ...] = ()  # reasons to doubt the translation (already marked in it), in words
    untranscribed: bool = False  # speech without transcribed words (text is UNTRANSCRIBED)

    @property
    def suspect(self) -> bool:
        return bool(self.suspect_reasons)

    @property
    def doubtful(self) -> bool:
        """Suspect, or holding a low-confidence word: the subtitles and text mark it DOUBT_MARK."""
        return not self.untranscribed and (self.suspect or bool(self.low_confidence_words))

    @property
    def low_confidence_words(self) -> tuple[Word, ...]:
        return tuple(w for w in self.words if w.low_confidence)

    def fragments(self) -> list[tuple[str, str]]:
        """The text as (fragment, kind) pairs, kind "text", "low" (low confidence) or "speaker" (a change mark).

        Built from the words when the segment has them.

        The spacing between words is taken from the segment text, so languages written without
        spaces stay so. Where the words' speaker changes inside the segment, a "[SPEAKER_n]" fragment says so.
        """
        return [(fragment, kind) for fragment, kind, _ in self.timed_fragments()]

    def timed_fragments(self) -> list[tuple[str, str, Word | None]]:
        """:meth:`fragments` with the word each fragment shows (None for spacing, change marks and word-less text)."""
        if not self.words:
            return [(self.text, "text", None)]
        fragments: list[tuple[str, str, Word | None]] = []
        current = self.speaker
        for gap, token, word in self.spaced_words():
            if gap:
                fragments.append((gap, "text", None))
            if word.speaker and current and word.speaker != current:
                fragments += [(f"[{word.speaker}]", "speaker", None), (" ", "text", None)]
            current = word.speaker or current
            fragments.append((token, "low" if word.low_confidence else "text", word))
        return fragments

    def spaced_words(self) -> list[tuple[str, str, Word]]:
        """(spacing before, word text, word) for each word, the spacing taken from the segment text so
        that languages written without spaces stay so; a single space where the text does not show it."""
        spaced: list[tuple[str, str, Word]] = []
        position = 0
        for word in self.words:
            token = word.text.strip()
            found = self.text.find(token, position) if token else -1
            if found >= 0 and not self.text[position:found].strip():
                gap, position = self.text[position:found], found + len(token)
            else:
                gap = " " if spaced else ""
            spaced.append((gap, token, word))
        return spaced


_SUSPECT_REASONS = {
    "outside_speech_regions": lambda seg: "mostly outside the passages voice activity detection calls speech",
    "high_no_speech_probability": lambda seg: f"likely not speech (no-speech probability {seg['no_speech_prob']:.2f})",
    "high_compression_ratio": lambda seg: f"repetitive text (compression ratio {seg['compression_ratio']:.2f})",
    "low_avg_logprob": lambda seg: f"low recogniser confidence (average log-probability {seg['avg_logprob']:.2f})",
    "repetition_loop": lambda seg: "the same words repeat in a loop",
    "impossible_words_removed": lambda seg: (f"{len(seg['removed_words'])} words with impossible times removed "
                                             f"({', '.join(sorted({w['reason'].replace('_', ' ') for w in seg['removed_words']}))})"),
    "stock_phrase": lambda seg: "holds a stock phrase Whisper writes where nobody said it",
    "long_word": lambda seg: (f"a word spans {max(w['end'] - w['start'] for w in seg['words']):.1f} s: the recogniser "
                              "may have skipped speech under it (decoded again on its own where words were found)"),
    "length_ratio": lambda seg: "length far from the original's",
    "no_words_also_decoded_alone": lambda seg: "voice activity detection found speech here; no words were "
                                               "recognised, also when it was decoded again on its own",
    "only_doubtful_text_decoded_alone": lambda seg: ("voice activity detection found speech here; decoded again on "
                                                     f"its own it gave only doubtful text, not taken: “{seg['text']}”"),
}
DOUBT_MARK = "[?]"
DOUBT_NOTE = (f"{DOUBT_MARK} marks doubtful text (a suspect segment or a word recognised with probability below "
              f"{LOW_CONFIDENCE}); check it against the recording. \"[speech not transcribed]\" marks speech "
              "that voice activity detection found but no word was recognised in.")
UNTRANSCRIBED = "[speech not transcribed]"


def transcript_summary(lines: list[Line]) -> str:
    """'12 segments; 1 marked suspect; 3 words below probability 0.5' (and '; 1 stretch of speech not
    transcribed' where there is any), for the reports' summaries."""
    spoken = [line for line in lines if not line.untranscribed]
    missed = len(lines) - len(spoken)
    return (f"{count(len(spoken), 'segment')}; {sum(line.suspect for line in spoken)} marked suspect; "
            f"{count(sum(len(line.low_confidence_words) for line in spoken), 'word')} below probability {LOW_CONFIDENCE}"
            + (f"; {missed} {'stretch' if missed == 1 else 'stretches'} of speech not transcribed" if missed else ""))


def suspect_reason(code: str, segment: dict) -> str:
    """A suspect-segment reason code in words, with the segment's own figure where there is one."""
    try:
        return _SUSPECT_REASONS[code](segment)
    except (KeyError, TypeError, ValueError):
        return code.replace("_", " ")


def transcript_lines(record: dict, untranscribed: bool = True) -> list[Line]:
    """The transcript's segments and, with ``untranscribed``, its untranscribed speech, in time order."""
    lines = []
    for seg in analysis(record, "transcript").get("segments") or []:
        words = tuple(Word(w.get("text", ""), w.get("start"), w.get("end"), w.get("probability"), w.get("speaker"))
                      for w in seg.get("words") or [])
        reasons = tuple(suspect_reason(code, seg) for code in seg.get("suspect_reasons") or ())
        if seg.get("suspect") and not reasons:
            reasons = ("marked suspect",)
        doubts = tuple(suspect_reason(code, seg) for code in seg.get("translation_suspect_reasons") or ())
        lines.append(Line(seg.get("id", len(lines)), seg.get("start") or 0.0, seg.get("end") or 0.0,
                          seg.get("speaker"), (seg.get("text") or "").strip(),
                          translation_text(seg.get("translation"), doubts), reasons, words, seg.get("language"), doubts))
    if untranscribed:
        for number, gap in enumerate(analysis(record, "transcript").get("untranscribed_speech") or [], 1):
            lines.append(Line(f"u{number}", gap.get("start") or 0.0, gap.get("end") or 0.0, None, UNTRANSCRIBED,
                              None, (suspect_reason(gap.get("reason", "?"), gap),), (), gap.get("language"),
                              untranscribed=True))
        lines.sort(key=lambda line: (line.start, line.end))
    return lines


def translation_text(translation: str | None, doubts: tuple[str, ...]) -> str | None:
    """A translation as every report shows it: marked DOUBT_MARK, with its reasons, when doubtful."""
    if not translation:
        return translation
    text = translation.strip()
    return f"{DOUBT_MARK} {text} (doubtful translation: {'; '.join(doubts)})" if doubts else text


@dataclass(frozen=True)
class Event:
    """A distress sound or a distress phrase in the transcript, on one timeline."""

    kind: str  # "sound" or "speech"
    category: str
    start: float
    end: float
    detail: str
    score: float | None = None
    speaker: str | None = None
    segment_id: int | str | None = None


def _segment_at(lines: list[Line], start: float, end: float) -> int | str | None:
    """The transcript segment overlapping a time span most, else the nearest one, for linking."""
    if not lines:
        return None
    return max(lines, key=lambda line: (min(end, line.end) - max(start, line.start),
                                        -abs(line.start - start))).id


def events(record: dict) -> list[Event]:
    block = analysis(record, "events")
    lines = transcript_lines(record, untranscribed=False)
    found = [Event("sound", e.get("class", "?"), e.get("start") or 0.0, e.get("end") or 0.0,
                   f"detected by {e.get('model', '?')}", e.get("score"),
                   segment_id=_segment_at(lines, e.get("start") or 0.0, e.get("end") or 0.0))
             for e in block.get("sound_events") or []]
    found += [Event("speech", c.get("category", "?"), c.get("start") or 0.0, c.get("end") or 0.0,
                    f"“{c.get('phrase', '')}” ({c.get('language', '?')}) in: {c.get('text', '')}",
                    None, c.get("speaker"), c.get("segment_id"))
              for c in block.get("transcript_cues") or []]
    return sorted(found, key=lambda e: (e.start, e.end, e.kind, e.category))


SUMMARY_TIMES = 5  # event times a report's summary names per category; its events table lists all


def event_summary(found: list[Event]) -> list[tuple[str, int, list[tuple[int, Event]]]]:
    """Per category, in order of first occurrence: how many events, and the first ``SUMMARY_TIMES``
    with their 1-based positions in ``found`` (the events table), so a summary stays short."""
    groups: dict[str, list[tuple[int, Event]]] = {}
    for position, event in enumerate(found, 1):
        groups.setdefault(event.category, []).append((position, event))
    return [(category, len(items), items[:SUMMARY_TIMES]) for category, items in groups.items()]


@dataclass(frozen=True)
class Lane:
    """One speaker's turns, for the timeline."""

    speaker: str
    turns: tuple[tuple[float, float], ...]
    talk_time_s: float | None


def speaker_lanes(record: dict) -> list[Lane]:
    block = analysis(record, "speakers")
    turns = block.get("turns") or []
    labels = list(block.get("labels") or sorted({t.get("speaker") for t in turns if t.get("speaker")}))
    talk = block.get("talk_time_s") or {}
    return [Lane(label, tuple((t["start"], t["end"]) for t in turns if t.get("speaker") == label),
                 talk.get(label))
            for label in labels]


def reassigned_note(record: dict) -> str | None:
    """One sentence on turns the diarization re-assigned from a raised voice to a calm speaker; None if none."""
    moved = analysis(record, "speakers").get("reassigned") or []
    if not moved:
        return None
    by_speaker: dict[str, list] = {}
    for m in moved:
        by_speaker.setdefault(m["to"], []).append(m)
    parts = [f"{len(ms)} turn{'s' if len(ms) > 1 else ''} ({sum(m['end'] - m['start'] for m in ms):.1f} s) to {to}"
             for to, ms in sorted(by_speaker.items())]
    return ("Re-assigned as the same person raising the voice (louder speech whose voice print is close to a "
            f"quieter speaker's; listed in report.json, speakers.reassigned): {'; '.join(parts)}.")


def overlaps(record: dict) -> list[tuple[float, float, tuple[str, ...]]]:
    return [(o["start"], o["end"], tuple(o.get("speakers") or ()))
            for o in analysis(record, "speakers").get("overlaps") or []]


def language_summary(record: dict) -> str | None:
    """The languages found, each with its speech time, and what is known of the model's error rate on
    each; "not identified (no speech)" when there was no speech; None without a transcript."""
    from ...error_rates import language_error

    transcript = analysis(record, "transcript")
    language = transcript.get("language")
    if not language:
        return None
    if language.get("code") is None:
        return language.get("note") or "not identified (no speech)"
    found = transcript.get("languages") or [{"code": language["code"], "talk_time_s": None}]
    parts = [f"{item['code']}" + (f" ({item['talk_time_s']:.1f} s of speech)" if item.get("talk_time_s") is not None else "")
             for item in found]
    text = ", ".join(parts)
    if language.get("forced"):
        text += " (set by the examiner, not identified)"
    else:
        if language.get("probability") is not None:
            text += f"; probability of {language['code']} {language['probability']:.2f}"
        others = [f"{t['code']} {t['probability']:.2f}" for t in language.get("top") or []
                  if t.get("code") != language.get("code")]
        if others:
            text += f"; next most likely: {', '.join(others)}"
        if language.get("candidates"):
            text += f"; identified among {', '.join(language['candidates'])} only"
    figures = [language_error(transcript.get("model") or "?", item["code"]).text for item in found]
    return text + ". Error rates: " + "; ".join(figures) + "."


def cover_rows(record: dict) -> list[tuple[str, str]]:
    """Label/value pairs that identify the evidence and the analysis."""
    evidence = record.get("evidence") or {}
    provenance = record.get("provenance") or {}
    container = evidence.get("container") or {}
    audio = evidence.get("audio") or {}
    hashes = evidence.get("hashes") or {}
    tool = provenance.get("tool") or {}
    rows = [
        ("Case", printable(provenance.get("case") or "(not given)")),
        ("Examiner", printable(provenance.get("examiner") or "(not given)")),
        ("File name", printable(evidence.get("file_name", "?"))),
        ("Size", f"{evidence.get('size_bytes', '?')} bytes"),
        ("SHA-256", hashes.get("sha256", "?")),
        ("SHA-1", hashes.get("sha1", "?")),
        ("MD5", hashes.get("md5", "?")),
        ("Duration", f"{clock(audio.get('decoded_duration_s'))} decoded"
                     f" (container states {clock(container.get('duration_s'))})"),
        ("Container", f"{container.get('format_long_name', '?')} ({container.get('format', '?')})"),
    ]
    decoded = {s.get("index"): s for s in audio.get("streams") or []}
    for stream in container.get("streams") or []:
        if stream.get("kind") == "audio":
            got = decoded.get(stream.get("index")) or {}
            level = got.get("rms_dbfs")
            rows.append((f"Audio stream {stream.get('index')}",
                         ", ".join(str(v) for v in (stream.get("codec_long_name") or stream.get("codec"),
                                                    stream.get("sample_rate") and f"{stream['sample_rate']} Hz",
                                                    stream.get("channel_layout")
                                                    or (stream.get("channels") and f"{stream['channels']} ch"),
                                                    got and f"from {clock(got.get('start_time_s'))}, "
                                                            f"{clock(got.get('decoded_duration_s'))} decoded",
                                                    got and ("digital silence" if level is None
                                                             else f"RMS {level:.1f} dBFS"),
                                                    got and ("analysed" if got.get("analysed") else "not analysed"))
                                   if v)))
    for key, value in sorted((container.get("tags") or {}).items()):
        rows.append((f"Tag {printable(key)}", printable(value)))  # a tag never starts a line of its own
    rows.append(("Decoding", "damaged: " + f"{audio.get('decode_errors', 0)} decode errors"
                 + (", stopped early" if audio.get("decode_stopped_early") else "")
                 + "".join(f"; {f['what']} promises {f['promised_s']} s, {f['decoded_s']} s decoded"
                           for f in audio.get("shortfalls") or [])
                 + (f"; {audio['nonfinite_samples']} NaN/Inf samples replaced with 0"
                    if audio.get("nonfinite_samples") else "")
                 if audio.get("damaged") else "clean, no decode errors"))
    if audio.get("analysis_signal"):
        rows.append(("Audio analysed", audio["analysis_signal"]))
    for gap in audio.get("gaps") or []:
        rows.append(("Timestamp gap", f"stream {gap['stream_index']}: {gap['length_s']:+.3f} s at {clock(gap['start'])}"
                     + (" (filled with silence)" if gap.get("filled") else " (not filled)")))
    for change in audio.get("format_changes") or []:
        rows.append(("Format change", f"stream {change['stream_index']}: {change['what'].replace('_', ' ')} "
                     f"{change.get('before') or ''} -> {change.get('after') or ''} at {clock(change['time'])}"))
    rows.append(("Decoded audio SHA-256", audio.get("pcm_sha256", "?")))
    rows += [
        ("Analysis started (UTC)", provenance.get("started_utc", "?")),
        ("Analysis finished (UTC)", provenance.get("finished_utc", "?")),
        ("Tool", f"{tool.get('name', 'evidence-audio')} {tool.get('version', '?')}"
                 + (f" (source {tool['source_commit']})" if tool.get("source_commit") else "")),
        ("Python / platform", f"{provenance.get('python', '?')} on {provenance.get('platform', '?')}"),
        ("Record integrity (SHA-256)", digest(record)),
    ]
    return rows


def model_rows(record: dict) -> list[tuple[str, str, str]]:
    """(model, file, sha256) for every model weight file the analysis loaded."""
    return [(printable(f"{m.get('name', '?')} ({m.get('engine', '?')})"), printable(path), sha)
            for m in (record.get("provenance") or {}).get("models") or []
            for path, sha in sorted((m.get("files") or {}).items())]


def package_rows(record: dict) -> list[tuple[str, str]]:
    return sorted(((record.get("provenance") or {}).get("packages") or {}).items())


@dataclass(frozen=True)
class Authenticity:
    """The authenticity indicators as the reports list them (indicators, never verdicts)."""

    statement: str
    indicators: list[tuple[str, str, str, str]]  # (indicator, summary, can show, cannot show)
    findings: list[tuple[str, str, bool]]  # metadata (check, note, needs attention)
    candidates: list[tuple[float, str, str]]  # discontinuities (time, kind, detail)


def authenticity(record: dict) -> Authenticity | None:
    block = analysis(record, "authenticity")
    if not block:
        return None
    parts = [block[key] for key in ("metadata", "discontinuities", "enf", "content_credentials")
             if isinstance(block.get(key), dict)]
    return Authenticity(
        block.get("statement", ""),
        [(p.get("indicator", "?"), p.get("summary", ""), p.get("can_show", ""), p.get("cannot_show", "")) for p in parts],
        [(f.get("check", "?"), printable(f.get("note", "")), bool(f.get("attention")))
         for f in (block.get("metadata") or {}).get("findings") or []],
        [(c.get("time") or 0.0, c.get("kind", "?").replace("_", " "), c.get("detail", ""))
         for c in (block.get("discontinuities") or {}).get("candidates") or []],
    )
