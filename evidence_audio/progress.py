"""Progress of an analysis, stage by stage, for a person watching a terminal or reading a log.

Three displays share one interface (:class:`Progress`):

- :class:`TerminalProgress`: one ``rich`` progress display on stderr (stage name, a bar where the
  total is known, elapsed time and an estimate of the time left), for an interactive terminal;
- :class:`LogProgress`: one plain line per stage on stderr when it starts and when it ends, with its
  duration, for a log file or a pipe;
- :class:`NoProgress`: nothing (``--quiet``).

A stage is entered with ``with progress.stage(name, total=None, unit="s") as update:`` and reports
with ``update(completed, total=None)``; the total may be unknown at first (``None``) and given later.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Callable, Iterator, Protocol, TextIO

Update = Callable[..., None]  # update(completed: float, total: float | None = None) -> None


def _ignore(completed: float, total: float | None = None) -> None:
    return None


class Progress(Protocol):
    """What the pipeline reports to: named stages, each with optional completed/total counts."""

    def stage(self, name: str, total: float | None = None, unit: str = "") -> contextlib.AbstractContextManager[Update]:
        ...


class NoProgress:
    """Reports nothing."""

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = "") -> Iterator[Update]:
        yield _ignore


class LogProgress:
    """One line per stage on ``stream`` (default stderr) at its start and its end, with its duration.

    Example lines::

        evidence-audio: transcription ...
        evidence-audio: transcription done in 12.4 s
    """

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.clock = clock

    def _line(self, text: str) -> None:
        stream = self.stream or sys.stderr
        stream.write(f"evidence-audio: {text}\n")  # one write: two stages' lines never mix
        stream.flush()

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = "") -> Iterator[Update]:
        started = self.clock()
        self._line(f"{name} ...")
        try:
            yield _ignore
        except BaseException:
            self._line(f"{name} stopped after {self.clock() - started:.1f} s")
            raise
        self._line(f"{name} done in {self.clock() - started:.1f} s")


class TerminalProgress:
    """A ``rich`` progress display on a terminal: every stage a row with a bar, counts, elapsed and left.

    Use as a context manager around the whole analysis; finished stages stay visible with their time.
    """

    def __init__(self, console=None):
        from rich.console import Console
        from rich.progress import BarColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._display = RichProgress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )

    def __enter__(self) -> "TerminalProgress":
        self._display.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._display.__exit__(*exc)

    @staticmethod
    def _counts(completed: float, total: float | None, unit: str) -> str:
        if total is None:
            return ""
        suffix = f" {unit}" if unit else ""
        return f"{completed:.0f}/{total:.0f}{suffix}"

    @contextlib.contextmanager
    def stage(self, name: str, total: float | None = None, unit: str = "") -> Iterator[Update]:
        task = self._display.add_task(name, total=total, counts=self._counts(0, total, unit))
        known = {"total": total}

        def update(completed: float, total: float | None = None) -> None:
            if total is not None:
                known["total"] = total
            self._display.update(task, completed=completed, total=known["total"],
                                 counts=self._counts(completed, known["total"], unit))

        try:
            yield update
        finally:
            final = known["total"] if known["total"] is not None else 1
            self._display.update(task, total=final, completed=final,
                                 counts=self._counts(final, known["total"], unit))
            self._display.stop_task(task)


@contextlib.contextmanager
def for_stderr(quiet: bool, stream: TextIO | None = None) -> Iterator[Progress]:
    """The display that fits stderr: none when quiet, rich on a terminal, plain lines otherwise."""
    stream = stream or sys.stderr
    if quiet:
        yield NoProgress()
    elif stream.isatty():
        from rich.console import Console

        with TerminalProgress(Console(file=stream)) as display:
            yield display
    else:
        yield LogProgress(stream)
