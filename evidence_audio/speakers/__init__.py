"""Who spoke when: pyannote diarization with CAM++ embeddings, and each transcript word's speaker."""
