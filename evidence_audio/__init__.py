"""evidence-audio: forensic analysis of audio evidence with verifiable reports."""

import os
import warnings
from importlib.metadata import PackageNotFoundError, version

# pyannote.audio 4 sends usage telemetry unless this is set before it is imported: never.
os.environ["PYANNOTE_METRICS_ENABLED"] = "0"
# pyannote.audio warns that torchcodec cannot decode files; audio is always handed to it in memory.
warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly", category=UserWarning)

try:
    __version__ = version("evidence-audio")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.1.0+checkout"
