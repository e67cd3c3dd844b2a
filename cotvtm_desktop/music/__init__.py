"""Music decoders: the procedural arranger + soundfont renderer (and, later, MusicGen)."""
