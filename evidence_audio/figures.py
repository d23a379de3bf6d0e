"""Matplotlib figures as PNG bytes, with no date or software stamp so re-runs give equal files."""

from __future__ import annotations

import io


def png_bytes(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
