"""evidence-audio: forensic analysis of audio evidence with verifiable reports."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("evidence-audio")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.1.0+checkout"
