"""evidence-audio: forensic analysis of audio evidence with verifiable reports."""

import os
import warnings
from importlib.metadata import PackageNotFoundError, version

# Nothing leaves the machine. Every library this package loads that can phone home is told not to,
# before it is imported (tests/test_network.py runs a full analysis with networking cut off and
# checks that nothing tried to connect):
# - pyannote.audio 4 sends usage metrics unless PYANNOTE_METRICS_ENABLED is 0: never;
# - onnxruntime (silero-vad runs on it) has built-in telemetry that ORT_DISABLE_TELEMETRY stops;
# - Hugging Face libraries: no telemetry and no hub requests (HF_HUB_OFFLINE) unless the user sets
#   HF_HUB_OFFLINE=0 to fetch a hub pipeline id on purpose (--diarization-pipeline, with HF_TOKEN).
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["DO_NOT_TRACK"] = "1"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# pyannote.audio warns that torchcodec cannot decode files; audio is always handed to it in memory.
warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly", category=UserWarning)

try:
    __version__ = version("evidence-audio")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.1.0+checkout"
