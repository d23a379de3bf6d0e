"""Discontinuity candidates: jumps in background noise floor, background spectrum, DC offset,
abrupt waveform steps (phase jumps), and silence made of digital zeros."""

from __future__ import annotations

import bisect

import numpy as np
import librosa
from scipy.ndimage import maximum_filter1d, median_filter, percentile_filter, uniform_filter1d

from ..intake import ANALYSIS_RATE
from ..values import score, seconds

CAN_SHOW = (
    "Moments where the recording changes abruptly in ways a single continuous take rarely does: "
    "the background noise level or colour changes at once, the DC offset shifts, the waveform "
    "jumps between two samples, or the audio drops to exact digital zero (which a microphone "
    "never produces). Each is a place for an expert to listen to and examine."
)
CANNOT_SHOW = (
    "Whether anything was edited. Doors, movement, a phone changing its gain or noise "
    "suppression, codec frames and network dropouts cause the same jumps; a splice inside "
    "matching background, or one smoothed by re-encoding, leaves no trace here. Absence of "
    "candidates is not evidence of an unedited recording."
)

FRAME = 320  # 20 ms
HOP = 160  # 10 ms
SIDE_FRAMES = 300  # 3 s compared on each side of a point
QUIET_PERCENTILE = 10  # the background is the quietest 10 % of frames on a side
FLOOR_JUMP_DB = 6.0
SPECTRUM_JUMP_DB = 4.0
ACTIVITY_MARGIN_DB = 3.0
DC_JUMP = 0.004  # in full scale: about -48 dBFS
STEP_RATIO = 30.0  # a sample step this many times the local typical step
STEP_MIN = 0.02
ZERO_RUN_S = 0.02
MIN_SEPARATION_S = 0.5
BLOCK_S = 60.0  # long recordings are examined a minute at a time, so memory does not grow with length

THRESHOLDS = {
    "noise_floor_jump_db": FLOOR_JUMP_DB, "background_spectrum_jump_db": SPECTRUM_JUMP_DB,
    "activity_change_margin_db": ACTIVITY_MARGIN_DB,
    "dc_jump_full_scale": DC_JUMP, "waveform_step_ratio": STEP_RATIO, "waveform_step_min": STEP_MIN,
    "digital_zero_run_s": ZERO_RUN_S, "compared_span_each_side_s": SIDE_FRAMES * HOP / ANALYSIS_RATE,
}


def _local_peaks(strength: np.ndarray, threshold: float, separation: int) -> np.ndarray:
    """Indices of local maxima (within ``separation`` either side) at or above threshold."""
    local = maximum_filter1d(strength, 2 * separation + 1, mode="nearest")
    return np.flatnonzero((strength >= threshold) & (strength == local))


def _separated(found: np.ndarray, strength: np.ndarray, separation: int) -> list[int]:
    """The strongest of ``found`` first, each kept only if at least ``separation`` from those kept."""
    kept: list[int] = []
    for i in sorted(found.tolist(), key=lambda j: (-strength[j], j)):
        at = bisect.bisect_left(kept, i)
        if (at == 0 or i - kept[at - 1] >= separation) and (at == len(kept) or kept[at] - i >= separation):
            kept.insert(at, i)
    return kept


def _peaks(strength: np.ndarray, threshold: float, separation: int) -> list[int]:
    """Indices of local maxima at or above threshold, at least separation apart (strongest first)."""
    return _separated(_local_peaks(strength, threshold, separation), strength, separation)


def _blocks(length: int, block: int, margin: int):
    """(start, end, start with margin, end with margin) of consecutive blocks covering ``length``."""
    for start in range(0, length, block):
        end = min(start + block, length)
        yield start, end, max(0, start - margin), min(length, end + margin)


def _side_quantile(values: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Per frame t: the q-percentile of values over the SIDE_FRAMES before t and from t on."""
    centred = percentile_filter(values, q, size=SIDE_FRAMES, mode="mirror")
    index = np.arange(len(values))
    before = centred[np.clip(index - SIDE_FRAMES // 2, 0, len(values) - 1)]
    after = centred[np.clip(index + SIDE_FRAMES // 2, 0, len(values) - 1)]
    return before, after


def band_power(samples: np.ndarray, first: int, count: int) -> np.ndarray:
    """16-band mel power of ``count`` centred 20 ms frames every 10 ms from frame ``first``
    (librosa's centred STFT, zero-padded at the recording's ends): float32, (count, 16)."""
    begin, end = first * HOP - FRAME // 2, (first + count - 1) * HOP + FRAME // 2
    piece = samples[max(begin, 0):min(end, len(samples))]
    piece = np.pad(piece, (max(0, -begin), max(0, end - len(samples))))
    return librosa.feature.melspectrogram(y=piece, sr=ANALYSIS_RATE, n_fft=FRAME, hop_length=HOP,
                                          n_mels=16, fmin=60.0, fmax=7600.0, center=False).T


def _background_block(samples: np.ndarray, frames: int, start: int, end: int, low: int,
                      high: int) -> tuple[np.ndarray, ...]:
    """Noise-floor jump, background-spectrum jump and the background level before and after (dB) of
    frames start..end, from the mel power of frames low..high (SIDE_FRAMES of margin each side, as
    ``_blocks`` gives them): each side's percentile window (SIDE_FRAMES wide) sits up to
    SIDE_FRAMES / 2 away, so the margin holds all it reads and a block's values are those of one pass
    over the whole recording."""
    mel = band_power(samples, low, high - low)
    bands_db = 10.0 * np.log10(mel + 1e-12)
    level_db = 10.0 * np.log10(mel.sum(axis=1) + 1e-12)
    index = np.arange(low, high)
    valid = (index >= SIDE_FRAMES // 3) & (index < frames - SIDE_FRAMES // 3)  # at least 1 s on each side
    before, after = _side_quantile(level_db, QUIET_PERCENTILE)
    typical_before, typical_after = _side_quantile(level_db, 50)
    # where the typical level moves more than the quietest frames, activity changed (speech
    # starting after silence), not the background: no background candidate there
    activity = np.abs(typical_after - typical_before) - np.abs(after - before) > ACTIVITY_MARGIN_DB
    valid &= ~activity
    floor_jump = np.where(valid, np.abs(after - before), 0.0)
    sides = [_side_quantile(bands_db[:, b], QUIET_PERCENTILE) for b in range(bands_db.shape[1])]
    shape_b, shape_a = (np.stack([side[k] for side in sides], 1) for k in (0, 1))
    diff = (shape_a - shape_a.mean(1, keepdims=True)) - (shape_b - shape_b.mean(1, keepdims=True))
    spectrum_jump = np.where(valid, np.sqrt(np.mean(diff ** 2, axis=1)), 0.0)
    keep = slice(start - low, end - low)
    return floor_jump[keep], spectrum_jump[keep], before[keep], after[keep]


def background_jumps(samples: np.ndarray) -> list[dict]:
    """Points where the background (quietest frames) changes level or spectral shape.

    Examined BLOCK_S at a time: memory holds a block's mel bands and four values per frame
    (about 23 MB for 4 hours), not the whole recording's bands.
    """
    frames = 1 + len(samples) // HOP
    blocks = [_background_block(samples, frames, *block)
              for block in _blocks(frames, int(BLOCK_S * ANALYSIS_RATE) // HOP, SIDE_FRAMES)]
    floor_jump, spectrum_jump, before, after = (np.concatenate(column) for column in zip(*blocks))
    del blocks
    separation = int(MIN_SEPARATION_S / (HOP / ANALYSIS_RATE))
    candidates = []
    for i in _peaks(floor_jump, FLOOR_JUMP_DB, separation):
        candidates.append({"time": seconds(i * HOP / ANALYSIS_RATE), "kind": "noise_floor_jump",
                           "strength": score(floor_jump[i]), "unit": "dB",
                           "detail": f"background level {before[i]:.1f} dB before, {after[i]:.1f} dB after"})
    for i in _peaks(spectrum_jump, SPECTRUM_JUMP_DB, separation):
        candidates.append({"time": seconds(i * HOP / ANALYSIS_RATE), "kind": "background_spectrum_jump",
                           "strength": score(spectrum_jump[i]), "unit": "dB (RMS over 16 bands, level removed)",
                           "detail": "the colour of the background noise changes"})
    return candidates


def dc_jumps(native: np.ndarray, rate: int) -> list[dict]:
    """Points where the DC offset (mean of a second of samples) shifts, per channel."""
    candidates = []
    block = max(rate // 100, 1)
    whole = len(native) // block * block
    step = block * int(BLOCK_S * 100)
    for channel in range(native.shape[1]):
        means = np.concatenate([
            native[start:min(start + step, whole), channel].astype(np.float64).reshape(-1, block).mean(axis=1)
            for start in range(0, whole, step)] or [np.zeros(0)])
        side = 100
        if len(means) < 2 * side:
            continue
        kernel = uniform_filter1d(means, side, mode="nearest")
        before = np.concatenate([np.full(side // 2, np.nan), kernel[:-side // 2]])
        after = np.concatenate([kernel[side // 2:], np.full(side // 2, np.nan)])
        jump = np.nan_to_num(np.abs(after - before))
        jump[: side] = jump[-side:] = 0.0
        for i in _peaks(jump, DC_JUMP, int(MIN_SEPARATION_S * 100)):
            candidates.append({"time": seconds(i * block / rate), "kind": "dc_jump", "strength": score(jump[i]),
                               "unit": "full scale", "channel": channel,
                               "detail": f"DC offset {before[i]:+.4f} before, {after[i]:+.4f} after"})
    return candidates


def waveform_steps(samples: np.ndarray) -> list[dict]:
    """Single-sample steps far larger than the local signal's steps (phase/waveform jumps)."""
    if len(samples) < 402:
        return []
    separation = int(MIN_SEPARATION_S * ANALYSIS_RATE)
    found, strengths, ratios, steps = [], {}, {}, {}
    # d2[i] = |x[i] - 2 x[i+1] + x[i+2]|; a block's margin covers the median and the peak window
    for start, end, low, high in _blocks(len(samples) - 2, int(BLOCK_S * ANALYSIS_RATE), separation + 81):
        d2 = np.abs(np.diff(samples[low:high + 2].astype(np.float64), n=2))
        typical = median_filter(d2, size=161, mode="nearest") + 1e-6
        ratio = d2 / typical
        strength = np.where(d2 >= STEP_MIN, ratio, 0.0)
        for i in _local_peaks(strength, STEP_RATIO, separation):
            at = low + int(i)
            if start <= at < end:
                found.append(at)
                strengths[at], ratios[at], steps[at] = strength[i], ratio[i], d2[i]
    candidates = []
    for i in _separated(np.array(found, dtype=np.int64), strengths, separation):
        candidates.append({"time": seconds((i + 1) / ANALYSIS_RATE), "kind": "waveform_step",
                           "strength": score(ratios[i]), "unit": "times the local typical step",
                           "detail": f"a jump of {steps[i]:.3f} full scale between neighbouring samples"})
    return candidates


def _zero_runs(native: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) sample indices of every run where all channels are exactly zero, a block at a time."""
    runs: list[tuple[int, int]] = []
    open_at = None  # start of a run still going at the end of the previous block
    for start, end, _, _ in _blocks(len(native), int(BLOCK_S * ANALYSIS_RATE), 0):
        silent = np.all(native[start:end] == 0.0, axis=1).astype(np.int8)
        edges = np.flatnonzero(np.diff(silent, prepend=np.int8(0), append=np.int8(0)))
        pairs = [(start + int(a), start + int(b)) for a, b in zip(edges[0::2], edges[1::2])]
        if open_at is not None:
            if pairs and pairs[0][0] == start:
                pairs[0] = (open_at, pairs[0][1])
            else:
                runs.append((open_at, start))
            open_at = None
        if pairs and pairs[-1][1] == end:
            open_at = pairs.pop()[0]
        runs += pairs
    if open_at is not None:
        runs.append((open_at, len(native)))
    return runs


def digital_zero_runs(native: np.ndarray, rate: int) -> list[dict]:
    """Runs where every channel is exactly zero for at least ZERO_RUN_S."""
    runs = []
    for a, b in _zero_runs(native):
        if (b - a) / rate >= ZERO_RUN_S:
            where = ("throughout" if a == 0 and b == len(native) else "at the start" if a == 0
                     else "at the end" if b == len(native) else "inside the recording")
            runs.append({"time": seconds(a / rate), "end": seconds(b / rate), "kind": "digital_zero_run",
                         "strength": seconds((b - a) / rate), "unit": "s",
                         "detail": f"{(b - a) / rate:.3f} s of exact digital zero {where}"})
    return runs


def timestamp_gaps(gaps) -> list[dict]:
    """The intake's jumps in stream timestamps (``intake.Gap``) as candidates: a hole or an overlap in
    the file's own timeline, where a player skips or repeats; gaps were filled with silence."""
    return [{"time": seconds(g.start), "end": seconds(g.start + max(g.length_s, 0.0)), "kind": "timestamp_gap",
             "strength": seconds(g.length_s), "unit": "s",
             "detail": (f"stream {g.stream_index}: timestamps jump {g.length_s:+.3f} s"
                        + (" (filled with silence)" if g.filled else " (not filled)"))} for g in gaps]


def examine(samples: np.ndarray, native: np.ndarray, native_rate: int, gaps=()) -> dict:
    """Discontinuity candidates of a recording (16 kHz mono analysis signal and native PCM, and the
    intake's timestamp gaps)."""
    candidates = (background_jumps(samples) + dc_jumps(native, native_rate) + waveform_steps(samples)
                  + digital_zero_runs(native, native_rate) + timestamp_gaps(gaps))
    candidates.sort(key=lambda c: (c["time"], c["kind"]))
    kinds = sorted({c["kind"] for c in candidates})
    return {
        "indicator": "discontinuity candidates",
        "summary": (f"{len(candidates)} candidate{'' if len(candidates) == 1 else 's'} to examine ({', '.join(kinds)})" if candidates
                    else "no candidates above the thresholds"),
        "candidates": candidates,
        "thresholds": THRESHOLDS,
        "can_show": CAN_SHOW,
        "cannot_show": CANNOT_SHOW,
    }
