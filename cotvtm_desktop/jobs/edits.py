"""Per-segment edits from a file (`cotvtm score --segments FILE`), the way the GUI hands them to the CLI.

    {"segments": {"3": {"seed": 7, "prompt": "a slow cello lament", "brief": {"genre": "rock", "tempo_bpm": 120}}}}

Segment numbers count from 1, as everywhere a user sees them. `seed` gives the segment its own draw, `prompt`
steers it in words (neural backend), `brief` changes its music elements (procedural backend; see
reasoning/rules.py EDITABLE), `"silent": true` leaves it without music (either backend), `"music_db": -6` sets its
music 6 dB quieter than the mix would (either backend; from -20 to 20). Segments not named keep the video's seed, their
measured brief and their level.

`"start"` and `"end"` (seconds, as the manifest gives them) name the segment by its times instead: the edit follows
it whatever its number becomes (a stretch without music added before it renumbers the segments after it), and is
left out, with a notice, when no segment runs from `start` to `end` any more. The desktop app writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

from cotvtm_desktop import config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.segments import Segment, clock
from cotvtm_desktop.music.backend import SegmentEdit

FIELDS = ("seed", "prompt", "brief", "silent", "music_db", "start", "end")
SAME_TIME_SECONDS = 0.05  # a segment runs from an edit's start to its end when both are this close


def read_segment_edits(path: Path) -> dict[int, SegmentEdit]:
    """Segment index (from 0) -> its edit, or a UserError naming the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError("no such segments file", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read the segments file ({exc})", path) from None
    segments = data.get("segments") if isinstance(data, dict) else None
    if not isinstance(segments, dict):
        raise UserError('expected {"segments": {"1": {...}, ...}}', path)
    return {_index(number, path): _edit(number, fields, path) for number, fields in segments.items()}


def _index(number: str, path: Path) -> int:
    if not str(number).isdigit() or int(number) < 1:
        raise UserError(f"segment {number!r}: segments are numbered from 1", path)
    return int(number) - 1


def _edit(number: str, fields: object, path: Path) -> SegmentEdit:
    where = f"segment {number}"
    if not isinstance(fields, dict):
        raise UserError(f"{where}: expected an object with {', '.join(FIELDS)}", path)
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise UserError(f"{where}: unknown field {', '.join(unknown)} (known: {', '.join(FIELDS)})", path)
    seed, prompt, brief = fields.get("seed"), fields.get("prompt"), fields.get("brief") or {}
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise UserError(f"{where}: seed must be a whole number ≥ 0", path)
    if prompt is not None and not isinstance(prompt, str):
        raise UserError(f"{where}: prompt must be text", path)
    if not isinstance(brief, dict):
        raise UserError(f"{where}: brief must be an object", path)
    silent = fields.get("silent", False)
    if not isinstance(silent, bool):
        raise UserError(f"{where}: silent must be true or false", path)
    music_db, (low, high) = fields.get("music_db", 0.0), config.MUSIC_LEVEL_RANGE_DB
    if not isinstance(music_db, (int, float)) or isinstance(music_db, bool) or not low <= music_db <= high:
        raise UserError(f"{where}: music_db must be a number of dB from {low:g} to {high:g}", path)
    return SegmentEdit(seed, (prompt or "").strip() or None, dict(brief), silent, _at(fields, where, path),
                       float(music_db))


def _at(fields: dict, where: str, path: Path) -> tuple[float, float] | None:
    if "start" not in fields and "end" not in fields:
        return None
    start, end = fields.get("start"), fields.get("end")
    if not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (start, end)) or not 0 <= start < end:
        raise UserError(f"{where}: start and end must both be given, in seconds, start before end", path)
    return float(start), float(end)


def place_edits(edits: Mapping[int, SegmentEdit], segments: list[Segment]) -> tuple[dict[int, SegmentEdit], list[str]]:
    """The edits by the index of the segment they apply to in this plan (an edit with times goes to the segment
    that runs then), and a sentence for each left out: its segment is not in the plan."""
    placed: dict[int, SegmentEdit] = {}
    left_out: dict[int, str] = {}
    for index, edit in sorted(edits.items(), key=lambda e: e[1].at is not None):  # timed edits win a tie
        if edit.at is None:
            if index < len(segments):
                placed[index] = edit
            else:
                left_out[index] = (f"the edit of segment {index + 1} is left out: there are {len(segments)} "
                                   f"segment{'s' if len(segments) != 1 else ''}")
            continue
        start, end = edit.at
        match = next((s for s in segments if abs(s.start - start) <= SAME_TIME_SECONDS
                      and abs(s.end - end) <= SAME_TIME_SECONDS), None)
        if match is not None:
            placed[match.index] = edit
        else:
            left_out[index] = (f"the edit of segment {index + 1} ({clock(start)}–{clock(end)}) is left out: no "
                               "segment runs then any more (the video, the segment length or the stretches without "
                               "music changed)")
    return placed, [left_out[k] for k in sorted(left_out)]
