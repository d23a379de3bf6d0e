"""The model manifest: where each model's weights come from, and their verified hashes.

``data/manifest.json`` (package data, so an installed package finds it) names every model the
tool can use, the registry package files its weights are assembled from, and the SHA-256 each
assembled file must have. Weights are assembled once into the model store
(``EVIDENCE_AUDIO_MODEL_DIR``, default ``models/store`` in the checkout) and verified again every
time before they are used.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import ModelError
from .intake import sha256_file

REPO_MODELS = Path(__file__).resolve().parent.parent / "models"
MANIFEST_PATH = Path(__file__).resolve().parent / "data" / "manifest.json"


@dataclass(frozen=True)
class Source:
    package: str
    path: str


@dataclass(frozen=True)
class ModelFile:
    path: str
    sha256: str
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    engine: str
    format: str
    licence: str
    description: str
    files: tuple[ModelFile, ...]
    converted_from: str | None = None  # another manifest model these files are converted from
    converter: str | None = None  # "module:function" making the file from that model's folder


@dataclass(frozen=True)
class ModelUse:
    """A model as it was used: what a report records about it."""

    name: str
    engine: str
    path: str
    files: dict[str, str]  # relative path -> sha256

    def to_record(self) -> dict:
        return {"name": self.name, "engine": self.engine, "files": dict(sorted(self.files.items()))}

    def check_unchanged(self) -> None:
        """Hash the files again before they are read again (an engine that loads its model anew).

        Raises ModelError (exit 6) when a file no longer has the SHA-256 recorded here, the one a
        report names, or cannot be read.
        """
        root = Path(self.path)
        base = root.parent if root.is_file() else root
        for relative, digest in self.files.items():
            try:
                got = sha256_file(base / relative)
            except OSError as exc:
                raise ModelError(f"model {self.name}: {relative} cannot be read again: {exc}") from exc
            if got != digest:
                raise ModelError(f"model {self.name}: {relative} changed since it was verified "
                                 f"(sha256 {got}, was {digest})")


def store_dir() -> Path:
    return Path(os.environ.get("EVIDENCE_AUDIO_MODEL_DIR") or REPO_MODELS / "store")  # empty means unset


@lru_cache(maxsize=1)
def load_manifest() -> dict[str, ModelSpec]:
    data = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))
    specs = {}
    for entry in data["models"]:
        files = tuple(
            ModelFile(f["path"], f["sha256"], tuple(Source(**s) for s in f.get("sources", ())))
            for f in entry["files"]
        )
        specs[entry["name"]] = ModelSpec(
            name=entry["name"],
            engine=entry["engine"],
            format=entry["format"],
            licence=entry["licence"],
            description=entry["description"],
            files=files,
            converted_from=entry.get("converted_from"),
            converter=entry.get("converter"),
        )
    return specs


def spec(name: str) -> ModelSpec:
    try:
        return load_manifest()[name]
    except KeyError:
        known = ", ".join(sorted(load_manifest()))
        raise ModelError(f"unknown model {name!r} (known: {known})") from None


def _package_file(source: Source) -> Path:
    found = importlib.util.find_spec(source.package)
    if found is None or not found.submodule_search_locations:
        raise ModelError(f"model package {source.package!r} is not installed (run the README's install command)")
    path = Path(next(iter(found.submodule_search_locations))) / source.path
    if not path.is_file():
        raise ModelError(f"model package {source.package!r} lacks {source.path}")
    return path


def _convert(model: ModelSpec) -> bytes:
    """A converted model's file, made by the converter its manifest entry names (for openai-whisper
    checkpoints, ``asr.convert.checkpoint_bytes``) from the verified model it is converted from: the
    manifest, not this module, knows which engine converts what."""
    module, function = (model.converter or "").partition(":")[::2]
    if not module or not function:
        raise ModelError(f"{model.name}: the manifest names no converter for it")
    return getattr(importlib.import_module(module), function)(require(model.converted_from).path)


def model_dir(name: str) -> Path:
    return store_dir() / name


def _unusable_store(name: str, exc: OSError, action: str) -> ModelError:
    return ModelError(f"model {name}: cannot {action} the model store at {store_dir()}: "
                      f"{exc.strerror or exc} ({exc.filename}); check its permissions or set EVIDENCE_AUDIO_MODEL_DIR")


def install(name: str) -> Path:
    """Assemble a model's files from its packages into the store, verifying each hash.

    Raises ModelError (exit 6) when a file fails its hash or the store cannot be written.
    """
    try:
        return _install(name)
    except OSError as exc:
        raise _unusable_store(name, exc, "write") from exc


def _install(name: str) -> Path:
    model = spec(name)
    target = model_dir(name)
    target.mkdir(parents=True, exist_ok=True)
    for file in model.files:
        dest = target / file.path
        if dest.is_file() and sha256_file(dest) == file.sha256:
            continue
        if not file.sources and not model.converted_from:
            raise ModelError(f"{name}: {file.path} has no source package; it is made by another command")
        fd, tmp = tempfile.mkstemp(dir=target, prefix=".assemble-")
        try:
            with os.fdopen(fd, "wb") as out:
                if model.converted_from:
                    out.write(_convert(model))
                for source in file.sources:
                    with open(_package_file(source), "rb") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
            got = sha256_file(Path(tmp))
            if got != file.sha256:
                raise ModelError(f"{name}: assembled {file.path} has sha256 {got}, manifest says {file.sha256}")
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def verify(name: str) -> ModelUse:
    """Check every file of an installed model against the manifest; return how it is used.

    Raises ModelError (exit 6) when a file is missing, fails its hash, or cannot be read
    (the ModelError then comes from the PermissionError or other OSError).
    """
    model = spec(name)
    target = model_dir(name)
    files = {}
    for file in model.files:
        path = target / file.path
        try:
            present = path.is_file()
            got = sha256_file(path) if present else None
        except OSError as exc:
            raise _unusable_store(name, exc, "read") from exc
        if not present:
            raise ModelError(f"model {name} is not installed: {path} missing (run 'evidence-audio models install')")
        if got != file.sha256:
            raise ModelError(f"model {name}: {file.path} sha256 {got} does not match manifest {file.sha256}")
        files[file.path] = got
    return ModelUse(name=name, engine=model.engine, path=str(target), files=files)


def require(name: str) -> ModelUse:
    """A verified model, (re)assembling it from its packages when the store lacks it or holds a stale copy."""
    try:
        return verify(name)
    except ModelError as exc:
        if isinstance(exc.__cause__, OSError):
            raise  # a store that cannot be read is not repaired by writing to it
        install(name)
    return verify(name)


def user_model(path: str | os.PathLike, engine: str) -> ModelUse:
    """A user's own model file or folder, hashed so the report can name it exactly."""
    root = Path(path)
    if root.is_file():
        files = {root.name: sha256_file(root)}
    elif root.is_dir():
        files = {
            str(p.relative_to(root)): sha256_file(p)
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")
        }
        if not files:
            raise ModelError(f"model folder is empty: {root}")
    else:
        raise ModelError(f"model path not found: {root}")
    return ModelUse(name=f"user:{root.name}", engine=engine, path=str(root), files=files)
