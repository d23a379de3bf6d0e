from evidence_audio.cli import main

main()
