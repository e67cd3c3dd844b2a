"""CoT-VTM: the networks distilled from the teacher's reasoning (RationaleMLP, EmbedDiff), their checkpoint format,
the encoders they sit between (CLIP, MusicGen's T5) and the inference pipeline E_v -> E_r' -> E_m."""
