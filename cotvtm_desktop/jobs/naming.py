"""Outputs with names of their own: when two inputs would export to one file. Light (no media libraries), for the
GUI as much as the CLI."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable

# How an output is named, from the plain to the particular: by the input's stem, its whole file name, its folder too
_NAMINGS: tuple[Callable[[Path], str], ...] = (lambda p: p.stem, lambda p: p.name,
                                               lambda p: f"{p.parent.name} {p.name}")


def distinct_outputs(inputs: list[Path], named: Callable[[Path, str], Path]) -> dict[Path, Path]:
    """Each input's output, `named(input, name)`, name its stem. Inputs that would share an output (holiday.mp4 and
    holiday.mov, or HOLIDAY.MOV on a disk that ignores case; or holiday.jpg, whose holiday.scored.m4a would share
    the manifest holiday.scored.json) are named by their whole file name instead
    (holiday.mov.scored.mp4), and if they still would (a camera's MVI_0001.MOV from two card folders into one
    output folder), by their folder's name too (101CANON MVI_0001.MOV.scored.mp4)."""
    level = dict.fromkeys(inputs, 0)
    while True:
        outputs = {path: named(path, _NAMINGS[level[path]](path)) for path in inputs}
        shared = Counter(map(_same_file_key, outputs.values()))
        clashing = [path for path, output in outputs.items()
                    if shared[_same_file_key(output)] > 1 and level[path] < len(_NAMINGS) - 1]
        if not clashing:
            return outputs
        for path in clashing:
            level[path] += 1


def _same_file_key(path: Path) -> str:
    """Equal for two spellings of one output (a/../b, other case) on any disk, and for outputs that differ only in
    their extension: each brings files named by its stem (the manifest NAME.scored.json, a .mid, a project's .wav)."""
    return str(path.resolve().with_suffix("")).lower()
