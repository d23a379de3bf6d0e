"""Locate a clip in its original: offset, similarity, pieces, cut points and what differs.

Method (recorded in the result as ``method``):

1. Both files are decoded to the 16 kHz mono analysis signal (resampling and stereo/mono
   differences vanish here).
2. Each 10 ms frame becomes a 32-band log-mel vector (100-4000 Hz, the band every common codec
   keeps) minus its own mean, which makes it blind to gain.
3. Windows of the clip (1.5 s, every 0.5 s) are matched against every position of the original
   by cosine similarity; the lags of confident windows are the candidate placements.
4. Every clip frame is assigned to one candidate lag, or to "not found", by dynamic programming
   over the smoothed, loudness-weighted frame similarity with a switching cost. Runs of one
   lag are the pieces of the original the clip was assembled from; changes are cut points.
5. Each piece's offset is refined to the sample by waveform cross-correlation (normalised, so
   gain does not matter) and its level difference is measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import librosa
import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import correlate

from .errors import MediaError
from .intake import ANALYSIS_RATE, Intake
from .values import score, seconds

HOP = 160  # samples per frame: 10 ms
FRAME_S = HOP / ANALYSIS_RATE
WINDOW_FRAMES = 150  # 1.5 s clip windows for the search
WINDOW_HOP_FRAMES = 50
MIN_CLIP_FRAMES = 50  # clips under 0.5 s are too short to place reliably
WINDOW_MATCH = 0.8  # a window at least this similar is a confident placement
FRAME_MATCH = 0.7  # smoothed frame similarity above which a frame counts as found
SWITCH_COST = 8.0  # in frames' worth of similarity: a cut must be worth this much
SMOOTH_FRAMES = 31
LAG_MERGE_FRAMES = 3
REFINE_SAMPLES = 480  # +-30 ms search for the sample-exact offset
MIN_REPORTED_S = 0.1

METHOD = {
    "signal": "16 kHz mono analysis signal of each file",
    "features": "log-mel, 32 bands 100-4000 Hz, 10 ms hop, each frame minus its mean (gain-blind)",
    "search": "cosine similarity of 1.5 s clip windows (0.5 s hop) at every position of the original",
    "assignment": "dynamic programming over smoothed loudness-weighted frame similarity, switch cost",
    "refinement": "normalised waveform cross-correlation within +-30 ms per piece",
    "window_match": WINDOW_MATCH,
    "frame_match": FRAME_MATCH,
}

LIMITS = (
    "Finds material of the original in the clip even after re-encoding, resampling, gain and "
    "channel changes. It does not detect speed or pitch changes, time-stretching, or content "
    "mixed over the original (the affected stretch shows as lower similarity or 'not found'). "
    "Cut points are placed to about 10-20 ms. A high similarity shows the audio content "
    "matches; it does not show which file was recorded first."
)


@dataclass(frozen=True)
class Piece:
    """A stretch of the clip that is a stretch of the original."""

    clip_start: float
    clip_end: float
    original_start: float
    original_end: float
    offset_s: float  # original time minus clip time
    similarity: float  # mean frame similarity of the features, 0..1
    waveform_correlation: float  # normalised cross-correlation at the refined offset
    gain_db: float  # clip level minus original level


@dataclass(frozen=True)
class Comparison:
    original_duration_s: float
    clip_duration_s: float
    pieces: list[Piece]
    not_found: list[tuple[float, float]]  # clip stretches with no match in the original
    cut_points: list[float]  # clip times where the clip jumps to another place in the original
    omitted: list[tuple[float, float]]  # original stretches skipped between consecutive pieces
    similarity_profile: list[tuple[float, float]]  # (clip time, similarity of the assigned frame)
    differences: list[str] = field(default_factory=list)


def features(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gain-blind log-mel frames (T, 32) and each frame's RMS amplitude (T,)."""
    power = librosa.feature.melspectrogram(
        y=samples, sr=ANALYSIS_RATE, n_fft=512, hop_length=HOP, n_mels=32, fmin=100.0, fmax=4000.0,
        center=True, power=2.0,
    ).T.astype(np.float64)
    total = power.sum(axis=1, keepdims=True)
    logmel = np.log(power + 1e-3 * total / power.shape[1] + 1e-20)
    logmel -= logmel.mean(axis=1, keepdims=True)
    logmel -= logmel.mean(axis=0, keepdims=True)  # the recording's average colour (microphone, codec, room)
    rms = librosa.feature.rms(y=samples, frame_length=512, hop_length=HOP, center=True)[0].astype(np.float64)
    n = min(len(logmel), len(rms))
    return logmel[:n], rms[:n]


def _sliding_cosine(original: np.ndarray, window: np.ndarray, original_energy: np.ndarray) -> np.ndarray:
    """Cosine similarity of window (W, B) with original[i:i+W] for every i."""
    dots = correlate(original, window, mode="valid", method="fft")[:, 0]
    w = len(window)
    norms = np.sqrt(np.maximum(original_energy[w:] - original_energy[:-w], 1e-12) * float((window ** 2).sum()))
    return dots / np.maximum(norms, 1e-12)


def _candidate_lags(orig: np.ndarray, clip: np.ndarray) -> list[int]:
    """Lags (original frame minus clip frame) of confidently placed clip windows."""
    width = min(WINDOW_FRAMES, len(clip))
    energy = np.concatenate([[0.0], np.cumsum((orig ** 2).sum(axis=1))])
    lags: list[int] = []
    starts = list(range(0, len(clip) - width + 1, WINDOW_HOP_FRAMES))
    if starts[-1] != len(clip) - width:
        starts.append(len(clip) - width)
    for start in starts:
        window = clip[start:start + width]
        if float((window ** 2).sum()) < 1e-9:
            continue
        sims = _sliding_cosine(orig, window, energy)
        best = int(np.argmax(sims))
        if sims[best] >= WINDOW_MATCH:
            lags.append(best - start)
    merged: list[int] = []
    for lag in sorted(set(lags), key=lambda v: (-lags.count(v), v)):
        if all(abs(lag - m) > LAG_MERGE_FRAMES for m in merged):
            merged.append(lag)
    return sorted(merged)


def _frame_similarity(orig: np.ndarray, clip: np.ndarray, lag: int) -> np.ndarray:
    """Cosine similarity of each clip frame with the original frame at lag (-1 outside it)."""
    idx = np.arange(len(clip)) + lag
    inside = (idx >= 0) & (idx < len(orig))
    o = orig[np.clip(idx, 0, len(orig) - 1)]
    num = (o * clip).sum(axis=1)
    den = np.sqrt((o ** 2).sum(axis=1) * (clip ** 2).sum(axis=1))
    return np.where(inside & (den > 1e-12), num / np.maximum(den, 1e-12), -1.0)


def _smooth(sims: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Loudness-weighted moving average, so that pauses do not decide a placement."""
    smoothed_w = uniform_filter1d(weight, SMOOTH_FRAMES, mode="nearest")
    smoothed = uniform_filter1d(sims * weight, SMOOTH_FRAMES, mode="nearest")
    return np.where(smoothed_w > 1e-12, smoothed / np.maximum(smoothed_w, 1e-12), -1.0)


def _refine_cuts(labels: np.ndarray, raw: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Move each change between two lags to the frame that best splits the raw similarities."""
    labels = labels.copy()
    runs = _runs(labels)
    for (a, a_start, _), (b, t, b_end) in zip(runs, runs[1:]):
        if a < 0 or b < 0:
            continue
        lo, hi = max(t - SMOOTH_FRAMES, a_start + 1), min(t + SMOOTH_FRAMES, b_end - 1)
        if hi <= lo:
            continue
        gain_a, gain_b = raw[a, lo:hi] * weight[lo:hi], raw[b, lo:hi] * weight[lo:hi]
        # total for a split at lo + i: a before, b from there on
        totals = np.concatenate([[0.0], np.cumsum(gain_a)]) + np.concatenate([np.cumsum(gain_b[::-1])[::-1], [0.0]])
        split = lo + int(np.argmax(totals))
        labels[lo:split], labels[split:hi] = a, b
    return labels


def _assign(similarity: np.ndarray) -> np.ndarray:
    """Per frame, the index of the chosen lag, or -1 for not found (Viterbi with a switch cost)."""
    k, n = similarity.shape
    gain = np.vstack([similarity - FRAME_MATCH, np.zeros((1, n))])  # last state: not found
    states = k + 1
    best = gain[:, 0].copy()
    back = np.zeros((states, n), dtype=np.int32)
    for t in range(1, n):
        leader = int(np.argmax(best))
        stay = best
        switch = best[leader] - SWITCH_COST
        take_switch = switch > stay
        back[:, t] = np.where(take_switch, leader, np.arange(states))
        best = np.where(take_switch, switch, stay) + gain[:, t]
    path = np.empty(n, dtype=np.int32)
    path[-1] = int(np.argmax(best))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[path[t], t]
    return np.where(path == k, -1, path)


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(label, first frame, end frame) for each run of equal labels."""
    edges = np.flatnonzero(np.diff(labels)) + 1
    bounds = np.concatenate([[0], edges, [len(labels)]])
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _refine(original: np.ndarray, clip: np.ndarray, clip_start: int, clip_end: int, lag: int) -> tuple[int, float]:
    """Sample-exact lag and the normalised waveform correlation there."""
    middle = (clip_start + clip_end) // 2
    half = min((clip_end - clip_start) // 2, 5 * ANALYSIS_RATE)
    a, b = middle - half, middle + half
    segment = clip[a:b].astype(np.float64)
    lo, hi = a + lag - REFINE_SAMPLES, b + lag + REFINE_SAMPLES
    if len(segment) < 160 or lo < 0 or hi > len(original):
        lo, hi = max(lo, 0), min(hi, len(original))
        if hi - lo < len(segment) or len(segment) < 160:
            return lag, 0.0
    region = original[lo:hi].astype(np.float64)
    dots = correlate(region, segment, mode="valid", method="fft")
    energy = np.concatenate([[0.0], np.cumsum(region ** 2)])
    norms = np.sqrt((energy[len(segment):] - energy[:-len(segment)]) * float((segment ** 2).sum()))
    ncc = dots / np.maximum(norms, 1e-12)
    best = int(np.argmax(np.abs(ncc)))
    return lo + best - a, float(ncc[best])


def _level_db(x: np.ndarray) -> float:
    return 20.0 * np.log10(max(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))), 1e-10))


def _spans(runs, labels_wanted, min_frames) -> list[tuple[float, float]]:
    return [(a * FRAME_S, b * FRAME_S) for label, a, b in runs if label in labels_wanted and b - a >= min_frames]


def compare_signals(original: np.ndarray, clip: np.ndarray) -> Comparison:
    """Place a clip in its original: where each stretch of the clip comes from, and what differs.

    Parameters
    ----------
    original, clip : numpy.ndarray
        float32, shape (n,), mono, 16000 Hz (``intake.take_in(...).audio.samples``); level-blind.

    Returns
    -------
    Comparison
        The pieces found (clip and original times in seconds, offset, similarity 0-1, gain in dB), the
        clip stretches not found, cut points, original stretches omitted, a similarity profile and
        the differences in words.

    Raises
    ------
    MediaError
        The clip is shorter than 0.5 s, or the original much shorter than the clip (exit 4).
    """
    orig_f, _ = features(original)
    clip_f, clip_rms = features(clip)
    if len(clip_f) < MIN_CLIP_FRAMES:
        raise MediaError(f"clip is too short to place ({len(clip) / ANALYSIS_RATE:.2f} s; need 0.5 s)")
    if len(orig_f) < len(clip_f) // 4:
        raise MediaError("the original is much shorter than the clip; give the longer recording first")
    lags = _candidate_lags(orig_f, clip_f)
    min_frames = int(round(MIN_REPORTED_S / FRAME_S))
    if not lags:
        labels = np.full(len(clip_f), -1)
        similarity = np.full((1, len(clip_f)), 0.0)
    else:
        raw = np.vstack([_frame_similarity(orig_f, clip_f, lag) for lag in lags])
        similarity = np.vstack([_smooth(r, clip_rms) for r in raw])
        labels = _refine_cuts(_assign(similarity), raw, clip_rms)
    runs = _runs(labels)
    pieces: list[Piece] = []
    for label, a, b in runs:
        if label < 0 or b - a < min_frames:
            continue
        lag_samples, corr = _refine(original, clip, a * HOP, min(b * HOP, len(clip)), lags[label] * HOP)
        c0, c1 = a * HOP, min(b * HOP, len(clip))
        o0, o1 = max(c0 + lag_samples, 0), min(c1 + lag_samples, len(original))
        gain = _level_db(clip[c0:c1]) - _level_db(original[o0:o1]) if o1 > o0 else 0.0
        pieces.append(Piece(
            clip_start=seconds(c0 / ANALYSIS_RATE), clip_end=seconds(c1 / ANALYSIS_RATE),
            original_start=seconds(o0 / ANALYSIS_RATE), original_end=seconds(o1 / ANALYSIS_RATE),
            offset_s=seconds(lag_samples / ANALYSIS_RATE),
            similarity=score(max(float(np.mean(similarity[label, a:b])), 0.0)),
            waveform_correlation=score(corr), gain_db=round(float(gain), 2),
        ))
    not_found = [(seconds(a), seconds(b)) for a, b in _spans(runs, {-1}, min_frames)]
    cuts = [p.clip_start for p in pieces[1:]]
    omitted, differences = [], []
    for before, after in zip(pieces, pieces[1:]):
        if after.original_start - before.original_end > MIN_REPORTED_S:
            omitted.append((before.original_end, after.original_start))
        elif after.original_start < before.original_end - MIN_REPORTED_S:
            differences.append(
                f"at clip {after.clip_start:.2f} s the clip goes back in the original "
                f"(from {before.original_end:.2f} s to {after.original_start:.2f} s): material repeated or reordered")
    chosen = np.where(labels >= 0, similarity[np.maximum(labels, 0), np.arange(len(labels))], 0.0)
    step = int(round(0.25 / FRAME_S))
    profile = [(seconds(t * FRAME_S), score(max(float(np.mean(chosen[t:t + step])), 0.0)))
               for t in range(0, len(chosen), step)]
    comparison = Comparison(
        original_duration_s=seconds(len(original) / ANALYSIS_RATE), clip_duration_s=seconds(len(clip) / ANALYSIS_RATE),
        pieces=pieces, not_found=not_found, cut_points=cuts, omitted=omitted, similarity_profile=profile,
    )
    return _with_differences(comparison, differences)


def _with_differences(c: Comparison, extra: list[str]) -> Comparison:
    notes = []
    if not c.pieces:
        notes.append("no part of the clip was found in the original")
    for a, b in c.not_found:
        notes.append(f"clip {a:.2f}-{b:.2f} s ({b - a:.2f} s) was not found in the original (added, replaced or too altered)")
    for a, b in c.omitted:
        notes.append(f"original {a:.2f}-{b:.2f} s ({b - a:.2f} s) is missing between consecutive pieces of the clip")
    for t in c.cut_points:
        notes.append(f"cut at clip {t:.2f} s: the clip jumps to another place in the original")
    gains = [p.gain_db for p in c.pieces]
    if gains and max(abs(g) for g in gains) >= 1.0:
        notes.append(f"level differs from the original by {', '.join(f'{g:+.1f} dB' for g in gains)} (per piece)")
    for p in c.pieces:
        if p.similarity < 0.8:
            notes.append(f"clip {p.clip_start:.2f}-{p.clip_end:.2f} s matches only loosely (similarity {p.similarity:.2f}): "
                         "heavy re-encoding, noise or material mixed over it")
    return replace(c, differences=extra + notes)


def _file_facts(intake: Intake) -> dict:
    stream = next((s for s in intake.container.streams if s.kind == "audio"), None)
    return {
        "file_name": intake.file.name,
        "sha256": intake.file.sha256,
        "format": intake.container.format_name,
        "codec": stream.codec if stream else None,
        "sample_rate": intake.audio.native_sample_rate,
        "channels": intake.audio.native_channels,
        "bit_rate": (stream.bit_rate if stream else None) or intake.container.bit_rate,
        "duration_s": seconds(intake.audio.native_duration_s),
    }


def format_differences(original: dict, clip: dict) -> list[str]:
    """Differences of encoding between the two files, in words."""
    notes = []
    for key, label in (("format", "container"), ("codec", "codec"), ("sample_rate", "sample rate"),
                       ("channels", "channels")):
        if original[key] != clip[key]:
            notes.append(f"{label}: original {original[key]}, clip {clip[key]}")
    return notes


def compare(original: Intake, clip: Intake) -> dict:
    """The comparison block (JSON-ready) for two taken-in files."""
    result = compare_signals(original.audio.samples, clip.audio.samples)
    orig_facts, clip_facts = _file_facts(original), _file_facts(clip)
    covered = sum(p.clip_end - p.clip_start for p in result.pieces)
    first = result.pieces[0] if result.pieces else None
    return {
        "original": orig_facts,
        "clip": clip_facts,
        "found": bool(result.pieces),
        "offset_s": first.offset_s if first else None,
        "coverage": score(covered / result.clip_duration_s) if result.clip_duration_s else 0.0,
        "similarity": score(sum(p.similarity * (p.clip_end - p.clip_start) for p in result.pieces) / covered)
        if covered else 0.0,
        "pieces": [asdict(p) for p in result.pieces],
        "cut_points": result.cut_points,
        "not_found": [{"start": a, "end": b} for a, b in result.not_found],
        "omitted_from_original": [{"start": a, "end": b} for a, b in result.omitted],
        "differences": format_differences(orig_facts, clip_facts) + result.differences,
        "similarity_profile": [{"time": t, "similarity": s} for t, s in result.similarity_profile],
        "method": METHOD,
        "limits": LIMITS,
    }


def figure(result: dict, original: np.ndarray, clip: np.ndarray):
    """A matplotlib figure: where each piece of the clip sits in the original, and the similarity."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 5.5), constrained_layout=True)
    for ax, signal, name in ((top, original, "original"), (bottom, clip, "clip")):
        step = max(len(signal) // 4000, 1)
        t = np.arange(0, len(signal), step) / ANALYSIS_RATE
        ax.plot(t, signal[::step], color="0.6", linewidth=0.5)
        ax.set_xlim(0, max(len(signal) / ANALYSIS_RATE, 1e-3))
        ax.set_ylabel(f"{name}\namplitude")
    colours = matplotlib.colormaps["tab10"]
    for i, p in enumerate(result["pieces"]):
        colour = colours(i % 10)
        top.axvspan(p["original_start"], p["original_end"], color=colour, alpha=0.3)
        bottom.axvspan(p["clip_start"], p["clip_end"], color=colour, alpha=0.3)
        top.text(p["original_start"], top.get_ylim()[1] * 0.85, f" piece {i + 1}", fontsize=8)
    for span in result["not_found"]:
        bottom.axvspan(span["start"], span["end"], color="red", alpha=0.25)
    for t in result["cut_points"]:
        bottom.axvline(t, color="red", linewidth=1.2)
    twin = bottom.twinx()
    profile = result["similarity_profile"]
    twin.plot([p["time"] for p in profile], [p["similarity"] for p in profile], color="black", linewidth=1)
    twin.set_ylim(0, 1.05)
    twin.set_ylabel("similarity")
    bottom.set_xlabel("time (s)")
    top.set_title("Where the clip sits in the original (shaded pieces; red: cut points / not found)")
    return fig


def summary(result: dict) -> list[str]:
    """A few plain lines for the terminal."""
    if not result["found"]:
        return ["the clip was not found in the original"]
    lines = [f"found: offset {result['offset_s']:.3f} s, similarity {result['similarity']:.3f}, "
             f"coverage {result['coverage'] * 100:.1f} % of the clip, {len(result['pieces'])} piece{'' if len(result['pieces']) == 1 else 's'}"]
    for i, p in enumerate(result["pieces"], 1):
        lines.append(f"  piece {i}: clip {p['clip_start']:.3f}-{p['clip_end']:.3f} s = original "
                     f"{p['original_start']:.3f}-{p['original_end']:.3f} s (similarity {p['similarity']:.3f}, "
                     f"level {p['gain_db']:+.1f} dB)")
    lines += [f"  - {d}" for d in result["differences"]]
    return lines


def compare_files(original_path, clip_path) -> tuple[dict, dict[str, bytes]]:
    """Sealed comparison record and the files of its output folder (compare.json, compare.png)."""
    from . import __version__
    from .figures import png_bytes
    from .intake import take_in
    from .report.canonical import render, seal

    original, clip = take_in(original_path), take_in(clip_path)
    result = compare(original, clip)
    record = seal({"schema": "evidence-audio/compare/v1", "tool": {"name": "evidence-audio", "version": __version__},
                   "comparison": result})
    figure_png = png_bytes(figure(result, original.audio.samples, clip.audio.samples))
    return record, {"compare.json": render(record), "compare.png": figure_png}
