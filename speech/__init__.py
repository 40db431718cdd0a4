"""Local speech recognition (Vosk): models, per-call recognizers, endpointing."""
