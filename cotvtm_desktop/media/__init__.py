"""Media in and out: probe, segment plan, frames, audio stitching and loudness, muxing."""
