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


def test_the_manifest_ships_as_package_data():
    """An installed (not editable) package reads its manifest from inside the package: the file lies in
    evidence_audio/data and pyproject's package-data takes it into the wheel."""
    import fnmatch
    import tomllib
    from importlib.resources import files
    from pathlib import Path

    packaged = Path(str(files("evidence_audio.data").joinpath("manifest.json")))
    assert models.MANIFEST_PATH == packaged.resolve() and packaged.is_file()
    root = Path(models.__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    relative = packaged.resolve().relative_to(root / "evidence_audio").as_posix()
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in globs["evidence_audio"])
    assert "whisper-base" in models.load_manifest()
