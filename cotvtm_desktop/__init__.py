"""cotvtm-desktop: score home videos with music, offline (CoT-VTM)."""

__version__ = "0.1.0"
