"""The project's measured error rates (data/error_rates.json), shown in every report and kept by the benchmarks.

A benchmark measures, then calls ``record_measure(Measure(...))`` to replace its entry in the
package's file; the reports quote the file as it stands in the installed version.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from . import __version__

FORMAT = "evidence-audio/error-rates/v1"
DATA_PATH = Path(__file__).resolve().parent / "data" / "error_rates.json"


@dataclass(frozen=True)
class Measure:
    """One measured figure set: a task, its metrics, their values on one dataset."""

    id: str  # "<task>/<metric>/<dataset folder>", e.g. "diarization/der/diar_pyannote_debug"
    task: str
    metrics: list[str]
    values: dict[str, float] | None  # metric -> fraction (0.12 = 12 %); None: not yet measured
    items: int | None  # recordings, clips, sentences or reference events measured (see unit)
    dataset: str
    conditions: str | None = None  # model, settings, anything the figure depends on
    benchmark: str | None = None  # the exact command that produced it
    measured_utc: str | None = None
    tool_version: str | None = None
    notes: str | None = None
    unit: str = "recordings"  # what items counts
    samples: dict[str, str] | None = None  # metric -> its own sample size, e.g. "4 clips, 65 words, 0.5 min"
    language_figures: dict[str, str] | None = None  # language code -> the metric that is its error rate on ordinary
    # speech, for a metric not named "<WER or CER>, <code>" (e.g. {"en": "WER, clean"})

    @property
    def measured(self) -> bool:
        return bool(self.values)

    def sample(self, metric: str) -> str:
        """The sample size behind one figure, as recorded per metric ('4 clips, 65 words, 0.5 min'), else
        'sample size not recorded'. A measure's ``items`` alone is no figure's sample: one joined recording of
        9 clips is not '9 recordings', and a precision rests on detections, not on every clip."""
        return (self.samples or {}).get(metric) or "sample size not recorded"

    def language_figures_for(self, code: str) -> list[str]:
        """This measure's metrics that are an error rate on language ``code``: "WER, <code>" or "CER, <code>",
        and the metric ``language_figures`` names for it."""
        named = [f"{metric}, {code}" for metric in LANGUAGE_METRICS] + [(self.language_figures or {}).get(code)]
        return [name for name in named if name and name in (self.values or {})]

    def summary(self) -> str:
        """The values as text, each with its sample size: 'DER: 12.3 % (2 recordings, 1.0 min)', or 'not yet measured'."""
        if not self.values:
            return "not yet measured"
        return "; ".join(f"{name}: {100 * self.values[name]:.1f} % ({self.sample(name)})"
                         for name in self.metrics if name in self.values)


def load(path: Path = DATA_PATH) -> list[Measure]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not an {FORMAT} file")
    names = {f.name for f in fields(Measure)}
    return [Measure(**{k: v for k, v in entry.items() if k in names}) for entry in data["measures"]]


def record_measure(measure: Measure, path: Path) -> None:
    """Replace (or add) the entry with this id in the table at ``path``, stamped with the time and tool
    version, atomically. No default: the benchmarks name the source tree's table (benchmarks/_common.py),
    so an installed package's data is never rewritten in place."""
    path = Path(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    stamped = asdict(measure) | {
        "measured_utc": measure.measured_utc or datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "tool_version": measure.tool_version or __version__,
    }
    data["measures"] = sorted([m for m in data["measures"] if m["id"] != measure.id] + [stamped], key=lambda m: m["id"])
    handle, staging = tempfile.mkstemp(prefix=".error_rates.", dir=path.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(staging, path)


PUBLISHED_PATH = Path(__file__).resolve().parent / "data" / "published_error_rates.json"
LANGUAGE_METRICS = ("WER", "CER")


@dataclass(frozen=True)
class LanguageError:
    """What is known of a model's error rate on one language, for the report."""

    code: str
    measured: str | None  # "WER 3.4 % measured by this project on <sample> (error-rate table: '<task>', <metric>)"
    published: str | None  # "WER 30.1 % (<source>)", from data/published_error_rates.json
    weak: bool  # a small model on a language it was not measured on
    text: str  # the sentence the report prints


def model_size(model: str) -> str:
    """'whisper-base' -> 'base'; a user model keeps its name."""
    return model.removeprefix("whisper-").removesuffix("-openai").split(".")[0]


def sample_units(sample: str) -> int:
    """The words (or characters) a sample text counts: '15 sentences, 116 words, 0.7 min' -> 116; 0 if none."""
    found = re.search(r"(\d+) (?:words|characters)\b", sample)
    return int(found.group(1)) if found else 0


def language_error(model: str, code: str, path: Path = DATA_PATH, published_path: Path = PUBLISHED_PATH) -> LanguageError:
    """The measured error rate of ``model`` (a manifest name such as ``whisper-base``) on language
    ``code`` from the project's table: of every figure on that language (``Measure.language_figures_for``)
    in a measure whose conditions name the model, the one on the most reference words (characters for
    CER), quoted with its sample size and its row's task, saying how many others (on samples no larger)
    the table also holds; never a measure's internal id. Else "not measured" with the published figure for that model
    size and its source (data/published_error_rates.json)."""
    size = model_size(model)
    candidates = [(sample_units(m.sample(name)), m, name) for m in load(path)
                  if m.values and f"whisper-{size} " in f"{m.conditions} " for name in m.language_figures_for(code)]
    measured = None
    if candidates:
        _, m, name = max(candidates, key=lambda c: c[0])  # the first of equal samples, in the table's order
        metric = name.split(",")[0]
        measured = (f"{metric} {100 * m.values[name]:.1f} % measured by this project on {m.sample(name)} "
                    f"(error-rate table: '{m.task}', {name})")
        if len(candidates) > 1:
            others = len(candidates) - 1
            measured += f"; {others} other {code} figure{'s' if others > 1 else ''} on samples no larger in that table"
    table = json.loads(Path(published_path).read_text(encoding="utf-8"))
    figure = ((table.get("figures") or {}).get(size) or {}).get(code)
    published = (f"{'; '.join(f'{k} {100 * v:.1f} %' for k, v in figure.items())} published ({table['source']})"
                 if figure else None)
    weak = measured is None and size in table.get("small_models", [])
    if measured:
        text = f"{code}: {measured}"
    else:
        text = f"{code}: error rate not measured for whisper-{size}; " + (
            published or f"no published figure in this package's table (see {table['source']})")
    if weak:
        text += (f". This model's {code} transcription is weak and unchecked: a larger Whisper model can be "
                 "given with --model PATH")
    return LanguageError(code, measured, published, weak, text)
