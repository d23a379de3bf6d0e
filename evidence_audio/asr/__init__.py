"""Speech recognition: Whisper on two engines, voice activity, and doubt marking."""

# here, in a module that loads nothing, so the command line offers them without loading an engine
ENGINES = ("faster-whisper", "openai-whisper")
