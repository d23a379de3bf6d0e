"""``python -m evidence_audio``: the evidence-audio command line."""

from evidence_audio.cli import main

main(prog_name="evidence-audio")
