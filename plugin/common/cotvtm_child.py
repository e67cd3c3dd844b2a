"""Drive the `cotvtm` CLI as a child process from an editor's own Python (Blender, DaVinci Resolve).

Standard library only: the editor's Python never gets cotvtm, torch or Qt installed into it. The protocol is the
CLI's `--json-progress` one (cotvtm_desktop/jobs/events.py): one JSON event per line on stdout, the line `cancel`
on stdin stops the job within a segment, exit status 0 done, 130 cancelled, 1 failed with an `error` event.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

_ANALYSIS, _RENDER = 0.3, 0.6  # share of the progress bar for analysis and for the segments; the rest is writing
# The procedural backend's genres (cotvtm_desktop/resources/music_rules.json; a test keeps the two the same), for an
# editor's menu: `--genre G` gives every segment of the edit that genre instead of the one its picture suggests.
GENRES = ("ambient", "piano ballad", "melancholic strings", "cinematic orchestral", "acoustic folk", "playful",
          "lo-fi jazz", "upbeat pop", "electronic dance", "rock")
# ... its instruments for the tune (`--lead NAME`, "leads" there) and the parts of its music (`--without PART`).
LEADS = ("piano", "electric piano", "music box", "vibraphone", "marimba", "organ", "accordion", "harmonica",
         "nylon guitar", "electric guitar", "overdriven guitar", "violin", "cello", "strings", "choir", "trumpet",
         "french horn", "alto saxophone", "tenor saxophone", "oboe", "clarinet", "flute", "pan flute", "square lead",
         "saw lead")
# ... the instruments for its chords and for its bass line (`--chords NAME`, `--bass NAME`: "chords", "basses").
CHORDS = ("piano", "electric piano", "vibraphone", "marimba", "organ", "accordion", "nylon guitar", "acoustic guitar",
          "electric guitar", "distorted guitar", "harp", "strings", "slow strings", "pizzicato strings", "choir",
          "synth pad")
BASSES = ("acoustic bass", "electric bass", "fretless bass", "synth bass", "cello", "contrabass", "tuba")
PARTS = ("melody", "chords", "bass", "pad", "drums")


def cotvtm_command(executable: str = "") -> list[str]:
    """How to run cotvtm: the configured executable, else `cotvtm` on PATH; a clear error if neither exists."""
    candidate = executable.strip() or "cotvtm"
    found = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
    if found is None:
        raise FileNotFoundError(f"cannot find the cotvtm program ({candidate!r}); install cotvtm-desktop or set "
                                "its path in the add-on's preferences")
    return [found]


@dataclass(frozen=True)
class Placed:
    """A picture clip on an editor's timeline: `path` shown from `start` to `end` (timeline frames, end exclusive),
    beginning at `source_first` (frames into the file, at the timeline's rate); a higher `layer` covers a lower."""

    path: str
    source_first: float
    start: int
    end: int
    layer: int


def flatten(placed: list[Placed], start: int, end: int, fps: float) -> list[dict]:
    """What the viewer shows from `start` to `end`: at each moment the topmost clip, as timeline-input clips (source
    seconds), with gaps where nothing shows."""
    inside = [p for p in placed if p.end > start and p.start < end]
    cuts = sorted({start, end, *(max(start, min(end, f)) for p in inside for f in (p.start, p.end))})
    pieces: list[tuple[Placed | None, int, int]] = []
    for a, b in zip(cuts, cuts[1:]):
        covering = [p for p in inside if p.start <= a and p.end >= b]
        top = max(covering, key=lambda p: p.layer) if covering else None
        if pieces and pieces[-1][0] is top:
            pieces[-1] = (top, pieces[-1][1], b)
        else:
            pieces.append((top, a, b))
    clips = []
    for clip, a, b in pieces:
        if clip is None:
            clips.append({"blank": (b - a) / fps})
        else:
            first = clip.source_first + a - clip.start
            clips.append({"path": clip.path, "in": first / fps, "out": (first + b - a) / fps})
    return clips


def safe_name(name: str, fallback: str = "timeline") -> str:
    """`name` (a scene's, a timeline's) as a file name on any system."""
    return "".join(c if c.isalnum() or c in " -_" else "_" for c in name) or fallback


def work_folder(music_folder: Path, name: str) -> Path:
    """Where the timeline `name`'s measurements and segment music are kept between runs (`cotvtm score --work`):
    scored again after an edit, only what changed is measured and made again (minutes per segment saved with the
    neural backend on a CPU)."""
    return music_folder / ".cotvtm-work" / safe_name(name)


def write_timeline(clips: list[dict], path: Path) -> Path:
    """A timeline input file: clips as {"path", "in", "out"} in source seconds, gaps as {"blank": seconds}."""
    path.write_text(json.dumps({"clips": clips}, indent=1), encoding="utf-8")
    return path


def music_args(*, genre: str = "", stems: bool = False, soundfont: str = "", lead: str = "", chords: str = "",
               bass: str = "", without: tuple[str, ...] = (), energy: float = 0.0) -> list[str]:
    """The `cotvtm score` options for the music's style the editors let one choose: one genre for the whole
    timeline, its parts apart, a General MIDI soundfont to play it with, the instruments for its tune, its chords
    and its bass line, the parts left out, its energy (-1 calmer .. 1 livelier than the picture asks; each
    procedural; empty or 0: not chosen)."""
    instruments = {"--lead": lead, "--chords": chords, "--bass": bass}
    return [*(["--genre", genre] if genre else []), *(["--stems"] if stems else []),
            *(["--soundfont", soundfont] if soundfont else []),
            *(arg for option, name in instruments.items() if name for arg in (option, name)),
            *(arg for part in without for arg in ("--without", part)),
            *(["--energy", f"{energy:g}"] if energy else [])]


def stem_files(music: Path) -> list[Path]:
    """The music's parts that `cotvtm score --stems` wrote beside `music`, in the order its manifest lists them."""
    stems = json.loads(music.with_suffix(".json").read_text(encoding="utf-8"))["stems"]
    return [Path(stems["folder"]) / name for name in stems["files"]]


class CotvtmJob:
    """One running `cotvtm` command. Call `poll()` often (from a timer): it returns the new events and updates
    `fraction`, `status` ("running", "done", "cancelled", "failed") and `message`."""

    def __init__(self, args: list[str], executable: str = ""):
        command = cotvtm_command(executable) + args + ["--json-progress"]
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, encoding="utf-8", env=environment)
        self.fraction, self.status, self.message = 0.0, "running", ""
        self._events: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        self._error = ""
        self._readers = [threading.Thread(target=self._read_events, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()

    def poll(self) -> list[dict]:
        events = []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        for event in events:
            self._follow(event)
        if self.status == "running" and self.process.poll() is not None and not any(
                r.is_alive() for r in self._readers) and self._events.empty():
            self._finish(self.process.returncode)
        return events

    def cancel(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write("cancel\n")
                self.process.stdin.flush()
            except OSError:
                self.process.terminate()

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends (scripts without an event loop); returns the status."""
        self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        self.poll()
        return self.status

    def _follow(self, event: dict) -> None:
        kind = event.get("type")
        if kind == "progress" and event.get("stage") == "analysing":
            self.fraction = _ANALYSIS * event["fraction"]
        elif kind == "progress" and event.get("stage") == "rendering":
            self.fraction = _ANALYSIS + _RENDER * (event["segment"] - 1 + event["fraction"]) / event["count"]
        elif kind == "segment_done":
            self.fraction = _ANALYSIS + _RENDER * event["index"] / event["count"]
        elif kind == "error":
            self._error = event.get("message", "")

    def _finish(self, code: int) -> None:
        if code == 0:
            self.status, self.fraction = "done", 1.0
        elif code == 130:
            self.status, self.message = "cancelled", "cancelled; nothing was written"
        else:
            self.status = "failed"
            self.message = self._error or (self._stderr[-1].strip() if self._stderr else f"exit status {code}")

    def _read_events(self) -> None:
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                self._events.put(event)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            if line.strip():
                self._stderr.append(line)
