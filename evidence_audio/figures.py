"""Matplotlib figures as PNG bytes, with no date or software stamp so re-runs give equal files."""

from __future__ import annotations

import io


def png_bytes(fig, dpi: float | None = 110) -> bytes:
    """The figure as PNG bytes at ``dpi`` (None: the figure's own); a pyplot figure is closed after.
    The one PNG helper: the ENF and compare figures and the report's timeline."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi or fig.dpi, metadata={"Software": None})
    if fig.canvas.manager is not None:  # made by pyplot, which keeps it until closed
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buffer.getvalue()
