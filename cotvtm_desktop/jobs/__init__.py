"""Jobs: one input -> one scored output, safely (atomic writes, per-segment cache, resume, cancel, events)."""
