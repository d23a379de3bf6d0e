"""The notebooks run top to bottom (each ends with a cell of checks that raises on a wrong result)."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("name", ["verify_published_clip.ipynb", "read_evidence_report.ipynb"])
def test_notebook_runs(name, monkeypatch):
    monkeypatch.delenv("EVIDENCE_REPORT", raising=False)
    monkeypatch.delenv("EVIDENCE_RECORDING", raising=False)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # raises CellExecutionError with the failing cell's traceback
    last = notebook.cells[-1]
    assert any("ok" in output.get("text", "") for output in last.outputs)
