"""The timeline figure: spectrogram, one lane per speaker, distress events marked (PNG bytes).

:func:`render_with_regions` also returns where each speaker turn and event lies on the image, so
report.html can lay clickable regions over it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ...figures import png_bytes
from ...intake import ANALYSIS_RATE
from .view import duration, events, nothing, overlaps, short_clock, speaker_lanes

FRAME = 512  # 32 ms analysis window
MAX_FRAMES = 1000  # columns of the spectrogram image (about one per pixel), however long the recording
CATEGORY_COLOURS = {"scream": "#d62728", "cry": "#9467bd", "shout": "#ff7f0e", "impact": "#111111"}
LANE_COLOURS = ("#1f77b4", "#2ca02c", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def spectrogram(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """Log power (dB) of Hann-windowed frames, at most MAX_FRAMES of them; returns (dB[freq, time], hop_s)."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) < FRAME:
        samples = np.pad(samples, (0, FRAME - len(samples)))
    hop = max(FRAME // 2, int(np.ceil((len(samples) - FRAME) / MAX_FRAMES)) or 1)
    starts = np.arange(0, len(samples) - FRAME + 1, hop)
    frames = samples[starts[:, None] + np.arange(FRAME)[None, :]] * np.hanning(FRAME).astype(np.float32)
    power = np.abs(np.fft.rfft(frames, axis=1)[:, :FRAME // 2]) ** 2
    power = power.reshape(len(starts), FRAME // 4, 2).mean(axis=2)  # 31 Hz bins are finer than the figure shows
    return (10 * np.log10(power + 1e-10)).T, hop / ANALYSIS_RATE


@dataclass(frozen=True)
class Region:
    """Where a span of time is drawn on the figure, in percent of the image (from its top-left corner)."""

    kind: str  # "spectrogram" (the whole recording), "turn" or "event"
    label: str  # speaker label or event category
    start: float  # seconds
    end: float
    left: float  # percent of the image width
    top: float  # percent of the image height
    width: float
    height: float


MIN_REGION_WIDTH = 0.4  # percent of the image: a short turn or event stays big enough to click


def render(record: dict, samples: np.ndarray | None = None) -> bytes:
    """The figure as PNG; without samples, the lanes only."""
    return render_with_regions(record, samples)[0]


def _region(ax, kind: str, label: str, start: float, end: float, total: float, y0: float, y1: float) -> Region:
    """A Region for the span start..end drawn between y0 and y1 (fractions of the axes height)."""
    box = ax.get_position()  # figure fraction, origin bottom-left
    left = box.x0 + box.width * start / total
    width = max(box.width * (end - start) / total, MIN_REGION_WIDTH / 100)
    top = 1 - (box.y0 + box.height * y1)
    return Region(kind, label, round(start, 3), round(end, 3), round(100 * left, 3), round(100 * top, 3),
                  round(100 * width, 3), round(100 * box.height * (y1 - y0), 3))


def render_with_regions(record: dict, samples: np.ndarray | None = None) -> tuple[bytes, list[Region]]:
    """The figure as PNG, and the regions of the spectrogram, every speaker turn and every event on it."""
    lanes = speaker_lanes(record)
    found = events(record)
    total = max(duration(record), 0.001)
    rows = [("spectrogram", 2.2)] if samples is not None else []
    rows += [(lane.speaker, 0.45) for lane in lanes] + [("events", 0.7)]
    height = 0.75 + sum(h for _, h in rows)
    figure = Figure(figsize=(10, height), dpi=130)
    axes = figure.subplots(len(rows), 1, sharex=True, gridspec_kw={"height_ratios": [h for _, h in rows], "hspace": 0.08})
    axes = list(np.atleast_1d(axes))
    figure.subplots_adjust(left=0.12, right=0.96, top=1 - 0.1 / height, bottom=0.6 / height)

    regions: list[Region] = []
    if samples is not None:
        ax = axes.pop(0)
        regions.append(_region(ax, "spectrogram", "spectrogram", 0.0, total, total, 0.0, 1.0))
        power, hop_s = spectrogram(samples)
        floor = np.percentile(power, 5)
        ax.imshow(power, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                  extent=(0, power.shape[1] * hop_s, 0, ANALYSIS_RATE / 2000), vmin=floor, vmax=power.max())
        ax.set_ylabel("kHz")
        for event in found:
            if event.kind == "sound":
                ax.axvspan(event.start, event.end, fill=False, edgecolor=CATEGORY_COLOURS.get(event.category, "red"),
                           linewidth=1.2)

    for ax, lane, colour in zip(axes, lanes, LANE_COLOURS * (len(lanes) // len(LANE_COLOURS) + 1)):
        ax.broken_barh([(start, end - start) for start, end in lane.turns], (0.15, 0.7), facecolors=colour)
        regions += [_region(ax, "turn", lane.speaker, start, end, total, 0.15, 0.85) for start, end in lane.turns]
        for start, end, _ in overlaps(record):
            ax.axvspan(start, end, color="#999999", alpha=0.25, linewidth=0)
        ax.set_yticks([0.5], [lane.speaker], fontsize=8)
        ax.set_ylim(0, 1)

    ax = axes[-1]
    categories = sorted({e.category for e in found})
    for event in found:
        y = categories.index(event.category)
        regions.append(_region(ax, "event", event.category, event.start, event.end, total,
                               (y + 0.1) / len(categories), (y + 0.9) / len(categories)))
        colour = CATEGORY_COLOURS.get(event.category, "#444444")
        if event.kind == "sound":
            ax.broken_barh([(event.start, max(event.end - event.start, total / 400))], (y + 0.15, 0.7),
                           facecolors=colour)
        else:
            ax.plot([event.start], [y + 0.5], marker="v", color=colour, markersize=7, linestyle="none")
    ax.set_yticks([i + 0.5 for i in range(len(categories))], categories, fontsize=8)
    if not categories:
        ax.text(0.5, 0.5, nothing(record, "events"), transform=ax.transAxes, ha="center", va="center", fontsize=8)
    ax.set_ylim(0, max(len(categories), 1))
    ax.set_xlim(0, total)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda t, _: short_clock(t)))
    ax.set_xlabel("time (m:ss.s); bars: detected sounds, triangles: distress words in the transcript")

    return png_bytes(figure, dpi=None), regions
