"""Convert CTranslate2 Whisper weights into an openai-whisper checkpoint.

CTranslate2 stores Whisper with fused attention projections (query/key/value for self
attention, key/value for cross attention) under its own layer names. openai-whisper wants
them split and named as in ``whisper/model.py``. The tensors are copied bit for bit (float16
stays float16), so both engines run the very same weights.
"""

from __future__ import annotations

import io
import json
import re
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import ModelError

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ctranslate2(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` (aliases resolved), by name."""
    buf = Path(model_bin).read_bytes()
    pos = 0

    def unpack(fmt: str):
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        length = unpack("H")
        value = buf[pos:pos + length - 1].decode("utf-8")
        pos += length
        return value

    unpack("I")  # binary version
    if string() != "WhisperSpec":
        raise ModelError(f"{model_bin} is not a CTranslate2 Whisper model")
    unpack("I")  # spec revision
    variables = {}
    for _ in range(unpack("I")):
        name = string()
        shape = tuple(unpack("I") for _ in range(unpack("B")))
        type_id = unpack("B")
        size = unpack("I")
        if type_id not in _DTYPES:
            raise ModelError(f"{model_bin}: variable {name} has unsupported type id {type_id}")
        variables[name] = np.frombuffer(buf, _DTYPES[type_id], size // np.dtype(_DTYPES[type_id]).itemsize,
                                        pos).reshape(shape)
        pos += size
    for _ in range(unpack("I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def _layers(variables: dict, prefix: str) -> int:
    pattern = re.compile(rf"{prefix}/layer_(\d+)/")
    return len({match.group(1) for name in variables if (match := pattern.match(name))})


def _linear(out: dict, variables: dict, source: str, target: str, bias: bool = True) -> None:
    out[f"{target}.weight"] = variables[f"{source}/weight"]
    if bias:
        out[f"{target}.bias"] = variables[f"{source}/bias"]


def _norm(out: dict, variables: dict, source: str, target: str) -> None:
    out[f"{target}.weight"] = variables[f"{source}/gamma"]
    out[f"{target}.bias"] = variables[f"{source}/beta"]


def _split(out: dict, variables: dict, source: str, targets: list[str]) -> None:
    """Split a fused projection; the key projection has no bias in Whisper (CTranslate2 stores zeros)."""
    weights = np.split(variables[f"{source}/weight"], len(targets))
    biases = np.split(variables[f"{source}/bias"], len(targets))
    for target, weight, bias in zip(targets, weights, biases):
        out[f"{target}.weight"] = weight
        if target.endswith(".key"):
            if np.any(bias != 0):
                raise ModelError(f"{source}: non-zero key bias; not a Whisper attention layer")
            continue
        out[f"{target}.bias"] = bias


def _ffn(out: dict, variables: dict, source: str, target: str) -> None:
    _linear(out, variables, f"{source}/ffn/linear_0", f"{target}.mlp.0")
    _linear(out, variables, f"{source}/ffn/linear_1", f"{target}.mlp.2")
    _norm(out, variables, f"{source}/ffn/layer_norm", f"{target}.mlp_ln")


def _self_attention(out: dict, variables: dict, source: str, target: str) -> None:
    """Fused QKV projection split into query, key and value; output projection; its layer norm."""
    _split(out, variables, f"{source}/self_attention/linear_0",
           [f"{target}.attn.query", f"{target}.attn.key", f"{target}.attn.value"])
    _linear(out, variables, f"{source}/self_attention/linear_1", f"{target}.attn.out")
    _norm(out, variables, f"{source}/self_attention/layer_norm", f"{target}.attn_ln")


def openai_checkpoint(model_dir: str | Path) -> dict:
    """The openai-whisper checkpoint (``dims``, ``model_state_dict``, ``alignment_heads``) of a CTranslate2 folder."""
    model_dir = Path(model_dir)
    variables = read_ctranslate2(model_dir / "model.bin")
    if any(name.endswith("weight_scale") for name in variables):
        raise ModelError(f"{model_dir} holds quantized weights; convert from a float16/float32 CTranslate2 model")
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    out: dict[str, np.ndarray] = {}
    for conv in ("conv1", "conv2"):
        _linear(out, variables, f"encoder/{conv}", f"encoder.{conv}")
    out["encoder.positional_embedding"] = variables["encoder/position_encodings/encodings"]
    n_audio_layer = _layers(variables, "encoder")
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        _self_attention(out, variables, src, dst)
        _ffn(out, variables, src, dst)
    _norm(out, variables, "encoder/layer_norm", "encoder.ln_post")

    out["decoder.token_embedding.weight"] = variables["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = variables["decoder/position_encodings/encodings"]
    n_text_layer = _layers(variables, "decoder")
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        _self_attention(out, variables, src, dst)
        _linear(out, variables, f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
        _split(out, variables, f"{src}/attention/linear_1", [f"{dst}.cross_attn.key", f"{dst}.cross_attn.value"])
        _linear(out, variables, f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
        _norm(out, variables, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        _ffn(out, variables, src, dst)
    _norm(out, variables, "decoder/layer_norm", "decoder.ln")

    dims = {
        "n_mels": int(variables["encoder/conv1/weight"].shape[1]),
        "n_audio_ctx": int(variables["encoder/position_encodings/encodings"].shape[0]),
        "n_audio_state": int(variables["encoder/conv1/weight"].shape[0]),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(variables["decoder/embeddings/weight"].shape[0]),
        "n_text_ctx": int(variables["decoder/position_encodings/encodings"].shape[0]),
        "n_text_state": int(variables["decoder/embeddings/weight"].shape[1]),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    state = {name: torch.from_numpy(np.array(value)) for name, value in sorted(out.items())}
    heads = [[int(layer), int(head)] for layer, head in config.get("alignment_heads", [])]
    return {"dims": dims, "model_state_dict": state, "alignment_heads": heads}


def checkpoint_bytes(model_dir: str | Path) -> bytes:
    """The converted checkpoint as ``torch.save`` writes it (the same bytes on every run)."""
    buffer = io.BytesIO()
    torch.save(openai_checkpoint(model_dir), buffer)
    return buffer.getvalue()
