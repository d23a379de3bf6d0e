"""Model store: hashes are checked before use, and a stale or damaged copy is rebuilt from its package."""

from __future__ import annotations

import pytest

from evidence_audio import models
from evidence_audio.errors import ModelError


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("EVIDENCE_AUDIO_MODEL_DIR", str(tmp_path))
    return tmp_path


def _only_file(name: str):
    (file,) = models.spec(name).files
    return models.model_dir(name) / file.path, file.sha256


def test_require_assembles_a_missing_model(store):
    use = models.require("silero-vad")
    path, sha = _only_file("silero-vad")
    assert path.is_file() and use.files == {path.name: sha}


def test_verify_refuses_a_damaged_copy_and_require_rebuilds_it(store):
    models.require("silero-vad")
    path, sha = _only_file("silero-vad")
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(ModelError, match="does not match manifest"):
        models.verify("silero-vad")
    use = models.require("silero-vad")
    assert models.sha256_file(path) == sha == use.files[path.name]
