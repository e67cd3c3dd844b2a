"""Measured visual elements (the paper's step 1, from pixels instead of a caption): colour, dynamic, objects and
emotion."""
