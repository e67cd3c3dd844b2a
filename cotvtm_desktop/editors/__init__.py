"""Editor projects and plugins' shared pieces: reading an edit into a timeline input, writing the music back."""
