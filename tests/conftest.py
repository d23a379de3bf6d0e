"""Shared fixtures: real speech made with espeak-ng, paths to the shipped examples and eval data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from media import read, speak  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SHARED_EVAL = REPO.parent / "shared" / "eval"

SPOKEN = "The officer said stop. Help me, please. Give us the money and we will let you go."


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """About five seconds of synthetic English speech, 22.05 kHz mono 16-bit WAV."""
    return speak(SPOKEN, tmp_path_factory.mktemp("speech") / "speech.wav")


@pytest.fixture(scope="session")
def speech(speech_wav):
    """(samples (n, 1) float32, rate) of the synthetic speech."""
    return read(speech_wav)


@pytest.fixture(scope="session")
def shared_eval() -> Path:
    if not SHARED_EVAL.is_dir():
        pytest.skip("../shared/eval is not beside the checkout")
    return SHARED_EVAL
