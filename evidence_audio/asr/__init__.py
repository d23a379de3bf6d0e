"""Speech recognition: Whisper on two engines, voice activity, and doubt marking."""
