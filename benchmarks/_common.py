"""What the benchmarks share: the error-rate table they update is the source tree's.

A benchmark run with ``--record`` rewrites its own entry of ``evidence_audio/data/error_rates.json``
in the checkout it is run from (then committed, so the next release quotes it), never the copy an
installed package reads.
"""

from __future__ import annotations

from pathlib import Path

from evidence_audio import error_rates

ROOT = Path(__file__).resolve().parents[1]
ERROR_RATES = ROOT / "evidence_audio" / "data" / "error_rates.json"


def record_measure(measure: error_rates.Measure) -> None:
    """Replace (or add) ``measure`` in the source tree's error-rate table."""
    if not ERROR_RATES.is_file():
        raise SystemExit(f"--record updates the checkout's table, which is missing: {ERROR_RATES}")
    error_rates.record_measure(measure, ERROR_RATES)
