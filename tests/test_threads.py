"""Thread counts: the transcription stage must leave torch's thread count as it found it.

Importing ``silero_vad`` calls ``torch.set_num_threads(1)`` as a side effect; without the guard in
``asr.vad.load_vad`` diarization and events would then run on one thread whatever the machine has.
The check runs in a fresh interpreter, because the side effect happens only on the first import.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import EXAMPLES, REPO

SCRIPT = r"""
import json, sys
import torch
torch.set_num_threads(3)
from evidence_audio.pipeline import Settings, analyze
record = analyze(sys.argv[1], Settings(diarize=False, events=False, authenticity=False))
print(json.dumps({"after": torch.get_num_threads(),
                  "recorded": record["provenance"]["threads"]["torch"],
                  "segments": len(record["analysis"]["transcript"]["segments"])}))
"""


def test_transcription_leaves_torch_thread_count_as_found():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(EXAMPLES / "jfk.flac")], env=env, cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["segments"] > 0  # the stage really ran (and imported silero_vad)
    assert result["after"] == 3
    assert result["recorded"] == 3  # the report records the thread count the stages ran with
