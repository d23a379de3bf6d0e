"""Electric network frequency (ENF): the mains-hum trace near 50 Hz or 60 Hz and its strength.

A recording made near mains-powered equipment often carries a faint hum at the grid frequency.
The grid frequency wanders by tens of millihertz, the same way across a whole grid, so an expert
can compare the extracted trace with grid frequency records to date a recording or find edits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from math import gcd

import numpy as np

from ..values import score, seconds

NOMINAL_HZ = (50, 60)  # the world's two mains frequencies (Azerbaijan: 50 Hz)

CAN_SHOW = (
    "Whether a mains hum is present, at which nominal frequency (50 Hz, as in Azerbaijan and most "
    "of the world, or 60 Hz), how strong it is, and how its frequency moves over time. An expert "
    "can compare that trace with a grid operator's frequency records, and look for breaks in it."
)
CANNOT_SHOW = (
    "It cannot date the recording by itself: that needs reference grid data for the right grid and "
    "time. Battery-powered phones away from mains wiring often record no hum; hum can come from "
    "other sources (generators, fans); codecs and noise suppression can remove or distort it. "
    "A trace below about 6 dB strength is unreliable."
)

RATE = 1000  # the signal is decimated to 1 kHz before analysis
WINDOW_S = 4.0
HOP_S = 1.0
NFFT = 1 << 15  # zero-padded: about 0.03 Hz bins before interpolation
SEARCH_HZ = 1.0  # the trace is searched within +-1 Hz of the nominal frequency (or its harmonic)
NOISE_HZ = (2.0, 6.0)  # the reference noise lies 2-6 Hz either side
DETECTED_DB = 6.0
STEADY_HZ = 0.1  # a real grid trace stays within about +-0.1 Hz over minutes; noise peaks wander
TOP_HZ = 3 * 60 + NOISE_HZ[1] + 1  # nothing above the third harmonic of 60 Hz and its noise band is kept
BLOCK_FRAMES = 100  # frames transformed at once (about 80 MB), so memory does not grow with length
DECIMATE_BLOCK_S = 60  # seconds resampled at once


@dataclass
class ENF:
    nominal_hz: int | None
    harmonic: int
    strength_db: dict  # nominal -> median peak-to-neighbourhood ratio (dB) over frames
    detected: bool
    times: list[float] = field(default_factory=list)
    frequencies: list[float] = field(default_factory=list)
    frame_strength_db: list[float] = field(default_factory=list)

    def to_record(self) -> dict:
        freqs = np.asarray(self.frequencies)
        return {
            "indicator": "electric network frequency (mains hum)",
            "summary": (f"mains hum found near {self.nominal_hz} Hz (harmonic {self.harmonic}), strength "
                        f"{self.strength_db[str(self.nominal_hz)]:.1f} dB" if self.detected else
                        "no mains hum above the detection threshold"),
            "detected": self.detected,
            "nominal_hz": self.nominal_hz,
            "harmonic": self.harmonic,
            "strength_db": self.strength_db,
            "detection_threshold_db": DETECTED_DB,
            "trace": {
                "hop_s": HOP_S, "window_s": WINDOW_S,
                "time": [seconds(t) for t in self.times],
                "frequency_hz": [round(float(f), 4) for f in self.frequencies],
                "strength_db": [score(s) for s in self.frame_strength_db],
            },
            "trace_mean_hz": round(float(freqs.mean()), 4) if len(freqs) else None,
            "trace_std_hz": round(float(freqs.std()), 4) if len(freqs) else None,
            "can_show": CAN_SHOW,
            "cannot_show": CANNOT_SHOW,
        }


def _decimated(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The signal at RATE (float64), resampled a block at a time (each block with margins wider than
    the filter, cut on the output grid, so the result is that of one pass over the whole signal)."""
    from scipy.signal import resample_poly  # scipy loaded when a recording is examined, not on import

    up, down = RATE // gcd(RATE, sample_rate), sample_rate // gcd(RATE, sample_rate)
    step, margin = down * RATE * DECIMATE_BLOCK_S, down * 64  # 64 output samples of margin each side
    if len(samples) <= step + 2 * margin or up != 1:
        return resample_poly(samples.astype(np.float64), up, down)
    out = np.empty(-(-len(samples) // down), dtype=np.float64)  # filled in place: no second copy to join
    for start in range(0, len(samples), step):
        low, high = max(0, start - margin), min(len(samples), start + step + margin)
        y = resample_poly(samples[low:high].astype(np.float64), up, down)
        skip, count = (start - low) // down, -(-(min(start + step, len(samples)) - start) // down)
        out[start // down:start // down + count] = y[skip:skip + count]
    return out


def _power_blocks(samples: np.ndarray, sample_rate: int):
    """Frequencies (Hz, bins up to TOP_HZ), frame centre times (s) and an iterator over the power
    spectrogram of 4 s windows every second, BLOCK_FRAMES frames (columns) at a time: (bins, count)
    float64 each, so only one block of the spectrogram is ever held."""
    from scipy.signal import stft

    x = _decimated(samples, sample_rate)
    window, hop = int(WINDOW_S * RATE), int(HOP_S * RATE)
    if len(x) < window:
        x = np.pad(x, (0, window - len(x)))
    frames = 1 + (len(x) - window) // hop
    freqs = np.fft.rfftfreq(NFFT, 1 / RATE)
    kept = int(np.searchsorted(freqs, TOP_HZ, side="right"))

    def blocks():
        for first in range(0, frames, BLOCK_FRAMES):
            count = min(BLOCK_FRAMES, frames - first)
            piece = x[first * hop:(first + count - 1) * hop + window]
            _, _, z = stft(piece, fs=RATE, window="hann", nperseg=window, noverlap=window - hop, nfft=NFFT,
                           boundary=None, padded=False)
            yield np.abs(z[:kept]) ** 2

    times = (np.arange(frames) * hop + window / 2) / RATE
    return freqs[:kept], times, blocks()


def _trace(freqs, power, centre: float):
    """Peak frequency near centre in each frame (parabolic interpolation) and its strength in dB."""
    band = np.flatnonzero(np.abs(freqs - centre) <= SEARCH_HZ)
    offset = np.abs(freqs - centre)
    noise = np.flatnonzero((offset >= NOISE_HZ[0]) & (offset <= NOISE_HZ[1]))
    peaks = band[np.argmax(power[band], axis=0)]
    cols = np.arange(power.shape[1])
    left, mid, right = (np.log(power[peaks + d, cols] + 1e-30) for d in (-1, 0, 1))
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0.0)
    step = freqs[1] - freqs[0]
    frequency = freqs[peaks] + np.clip(shift, -0.5, 0.5) * step
    strength = 10 * np.log10(power[peaks, cols] / (np.median(power[noise], axis=0) + 1e-30) + 1e-30)
    return frequency, strength


def examine(samples: np.ndarray, sample_rate: int, nominal_hz: int | None = None) -> ENF:
    """Extract the ENF trace; with nominal_hz None, choose 50 or 60 Hz by strength.

    Each frame's peak and strength come from that frame's spectrum alone, so they are found a block
    of frames at a time (memory: one block, about 80 MB, and a few values per second of audio).
    """
    freqs, times, power_blocks = _power_blocks(samples, sample_rate)
    centres = [(nominal, harmonic) for nominal in ([nominal_hz] if nominal_hz else list(NOMINAL_HZ))
               for harmonic in (1, 2, 3) if nominal * harmonic + NOISE_HZ[1] < RATE / 2]
    traces: dict[tuple[int, int], list] = {centre: [] for centre in centres}
    for power in power_blocks:
        for nominal, harmonic in centres:
            traces[nominal, harmonic].append(_trace(freqs, power, nominal * harmonic))
    best = None
    strengths = {}
    for nominal, harmonic in centres:
        frequency, strength = (np.concatenate(part) for part in zip(*traces[nominal, harmonic]))
        median = float(np.median(strength))
        strengths[str(nominal)] = round(max(median, strengths.get(str(nominal), -np.inf)), 2)
        steady = float(np.std(frequency / harmonic)) <= STEADY_HZ
        if steady and (best is None or median > best[0]):
            best = (median, nominal, harmonic, frequency / harmonic, strength)
    detected = best is not None and best[0] >= DETECTED_DB
    if not detected:
        return ENF(nominal_hz=None, harmonic=0, strength_db=strengths, detected=False, times=list(times))
    median, nominal, harmonic, frequency, strength = best
    return ENF(nominal_hz=nominal, harmonic=harmonic, strength_db=strengths, detected=True,
               times=list(times), frequencies=list(frequency), frame_strength_db=list(strength))


def figure(result: dict):
    """Plot an ENF block: the trace (frequency over time) and its per-frame strength."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 4.5), sharex=True, constrained_layout=True)
    trace = result["trace"]
    if result["detected"]:
        top.plot(trace["time"], trace["frequency_hz"], marker=".", linewidth=1)
        top.axhline(result["nominal_hz"], color="0.6", linestyle="--", linewidth=0.8)
        top.set_ylabel("frequency (Hz)")
        bottom.plot(trace["time"], trace["strength_db"], color="tab:orange")
        top.set_title(f"ENF trace near {result['nominal_hz']} Hz (from harmonic {result['harmonic']})")
    else:
        top.text(0.5, 0.5, "no mains hum above the detection threshold", ha="center", transform=top.transAxes)
        strengths = ", ".join(f"{hz} Hz {db:.1f} dB" for hz, db in sorted((result.get("strength_db") or {}).items()))
        top.set_title(f"No mains hum found: strength {strengths or 'not measured'}, "
                      f"below the {result['detection_threshold_db']} dB detection threshold")
    bottom.axhline(result["detection_threshold_db"], color="red", linestyle=":", linewidth=0.8)
    bottom.set_ylabel("strength (dB)")
    bottom.set_xlabel("time (s)")
    return fig
