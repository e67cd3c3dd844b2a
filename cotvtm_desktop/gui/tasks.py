"""What the app asks of the CLI: inspect inputs, render a preview, export. One scoring job runs at a time (each
loads models and fills the CPU); inspections run beside it. Every job is a `cotvtm … --json-progress` child."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from cotvtm_desktop import config
from cotvtm_desktop.gui.cli_process import CliProcess
from cotvtm_desktop.gui.queue import USER_FIELDS, QueueItem, QueueModel, SegmentState
from cotvtm_desktop.gui.settings import Settings, is_project
from cotvtm_desktop.jobs.events import progress_shares
from cotvtm_desktop.media.probe import is_image_path

SEGMENT_THUMB_HEIGHT = 72
_ETA_AFTER_SECONDS = 10  # a pace measured over less than this is not worth showing (and procedural jobs are done)


class TaskRunner(QObject):
    """Queues preview and export jobs and keeps the queue's items up to date from their events."""

    segments_changed = Signal(str)  # item id: its segment strip has new content
    segment_progress = Signal(str, int, str)  # item id, segment index, "rendering" / "done"
    overall = Signal(float, str)  # fraction of the current run of jobs, and what is happening
    notice = Signal(str)  # a job's note: what it left out (an edit of a segment the plan no longer has)
    idle = Signal()

    def __init__(self, model: QueueModel, settings: Callable[[], Settings], data_dir: Path,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.model, self.settings, self.data_dir = model, settings, data_dir
        self.pending: deque[tuple[str, str]] = deque()  # (kind, item id); kind "preview" or "export"
        self.current: CliProcess | None = None
        self.current_item: QueueItem | None = None
        self.backend = ""  # the backend the running job uses, once it says
        self.clock = time.monotonic
        self._render_start: tuple[float, float] | None = None  # (time, rendered fraction) when rendering was first seen
        self.inspections: list[CliProcess] = []
        self._run_total = 0
        self._run_done = 0

    # --- paths ----------------------------------------------------------------------------------------------------
    def work_dir(self, item: QueueItem) -> Path:
        return self.data_dir / "work" / item.id

    def preview_path(self, item: QueueItem) -> Path:
        """The preview: the video, image or project (a small render of its picture) with its music."""
        return self.data_dir / "previews" / f"{item.id}.mp4"

    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    def edits_path(self, item: QueueItem) -> Path:
        return self.data_dir / "edits" / f"{item.id}.json"

    def forget(self, item: QueueItem) -> None:
        """Delete what the app keeps for an item as it was, now out of the queue or made anew (joined, a slideshow
        rearranged): its preview, and its segment audio (which can take hundreds of MB) and pictures unless the
        queue still has them (an item made anew keeps its id, and its pictures of the files it still shows);
        exported files stay."""
        queued = self.model.items
        if all(i.id != item.id for i in queued):
            shutil.rmtree(self.work_dir(item), ignore_errors=True)
        pictures = item.pictures().difference(*(i.pictures() for i in queued))
        for path in (self.preview_path(item), self.preview_path(item).with_suffix(".json"), self.edits_path(item),
                     self.parts_path(item), *map(Path, pictures)):
            path.unlink(missing_ok=True)

    # --- asking for work ------------------------------------------------------------------------------------------
    def inspect(self, items: list[QueueItem], at: list[float] | None = None) -> None:
        """Duration, kind and a thumbnail for each item (or, with `at`, one item's segment pictures)."""
        if not items:
            return
        by_path = {self._inspected_as(i): i for i in items}
        args = ["inspect", *by_path, "--thumbnails", str(self.thumbs_dir())]
        if at is not None:
            args += [a for t in at for a in ("--at", f"{t:.3f}")] + ["--height", str(SEGMENT_THUMB_HEIGHT)]
        process = CliProcess(args, self)
        process.event.connect(lambda e: self._inspected(by_path, e, at is not None))
        process.finished.connect(lambda status, message: self._inspection_done(process, by_path, status, message))
        self.inspections.append(process)
        process.start()

    def _inspected_as(self, item: QueueItem) -> str:
        """The file `cotvtm inspect` reads for an item: its own, or for a joined recording or a slideshow a timeline
        of its parts (a segment's picture may lie in any of them): as its last preview placed them (a slideshow's
        photos last whole bars of its music), else as queued."""
        if not item.parts:
            return item.path
        timeline = self.parts_path(item)
        if not timeline.exists():
            times = item.photo_times()
            self._write_parts(item, [{"path": p, **({"in": 0, "out": times.get(p, item.photo_seconds)}
                                                    if is_image_path(Path(p)) else {})} for p in item.files()])
        return str(timeline)

    def parts_path(self, item: QueueItem) -> Path:
        return self.edits_path(item).with_suffix(".parts.json")

    def _write_parts(self, item: QueueItem, clips: list[dict]) -> None:
        self.parts_path(item).parent.mkdir(parents=True, exist_ok=True)
        self.parts_path(item).write_text(json.dumps({"clips": clips}), encoding="utf-8")

    def preview(self, item: QueueItem) -> None:
        self._enqueue("preview", [item])

    def export(self, items: list[QueueItem]) -> None:
        self._enqueue("export", items)

    def regenerate(self, item: QueueItem, index: int) -> None:
        """A new seed for one segment; the preview re-renders it alone (the others come from the work folder)."""
        segment = item.segments[index]
        if segment.locked:
            return
        made_with = segment.edit_seed if segment.edit_seed is not None else segment.seed
        if made_with is not None:
            segment.earlier_seeds.append(made_with)
        segment.edit_seed = random.randrange(1, 2**31)
        self.model.changed(item)
        self.preview(item)

    def back(self, item: QueueItem, index: int) -> None:
        """The segment's music as it was before its last Regenerate (its seed then); the preview re-renders it."""
        segment = item.segments[index]
        if segment.locked or not segment.earlier_seeds:
            return
        segment.edit_seed = segment.earlier_seeds.pop()
        self.model.changed(item)
        self.preview(item)

    def busy(self) -> bool:
        return self.current is not None or bool(self.pending)

    def cancel(self) -> None:
        """Stop the running job (no partial file is left) and drop what was waiting."""
        for kind, item_id in self.pending:
            item = self.model.by_id(item_id)
            if item is not None and item.status == "queued":
                item.status = "cancelled"
                self.model.changed(item)
        self.pending.clear()
        if self.current is not None:
            self.current.cancel()

    def shut_down(self, msecs: int) -> None:
        """Cancel everything and wait for the running job to clean up (the app is closing)."""
        self.cancel()
        for process in list(self.inspections):
            process.kill()
        if self.current is not None:
            self.current.wait(msecs)

    # --- running --------------------------------------------------------------------------------------------------
    def _enqueue(self, kind: str, items: list[QueueItem]) -> None:
        for item in items:
            if item.status == "failed" and not item.kind:
                continue  # not a usable input: inspecting it already said why
            if (kind, item.id) not in self.pending:
                self.pending.append((kind, item.id))
                self._run_total += 1
                if self.current_item is not item:
                    item.status, item.progress, item.message = "queued", 0.0, ""
                    self.model.changed(item)
        self._next()

    def _next(self) -> None:
        if self.current is not None:
            return
        while self.pending:
            kind, item_id = self.pending.popleft()
            item = self.model.by_id(item_id)
            if item is None:
                continue
            if self._start(kind, item):
                return
        self._run_total = self._run_done = 0
        self.overall.emit(1.0, "")
        self.idle.emit()

    def _start(self, kind: str, item: QueueItem) -> bool:
        settings = self.settings()
        edits = self.edits_path(item)
        edits.parent.mkdir(parents=True, exist_ok=True)
        edits.write_text(json.dumps(item.edits(), indent=1), encoding="utf-8")
        if kind == "preview":
            output = self.preview_path(item)
            output.parent.mkdir(parents=True, exist_ok=True)
            extra = ["--overwrite"]
            if item.kind == "slideshow":  # a quick look: the export is full size
                extra += ["--slideshow-size", str(config.SLIDESHOW_PREVIEW_SIDE)]
        else:
            output = settings.output_for(item.named_for(), item.kind, {i.named_for(): i.kind for i in self.model.items})
            if output.exists() and not settings.replace_existing:
                self._finish_item(item, "skipped", f"{output.name} already exists (Settings › Replace existing "
                                  "outputs)")
                self._run_done += 1
                return False
            extra = [flag for flag, wanted in (("--overwrite", settings.replace_existing), ("--midi", settings.midi),
                                               ("--stems", settings.stems)) if wanted]
            if item.kind == "slideshow":
                extra += ["--slideshow-size", str(settings.slideshow_size)]
        command = ["project", "score"] if kind == "export" and is_project(Path(item.path)) else ["score"]
        silent_at = [a for start, end in item.silences for a in ("--silent-at", f"{start:.3f}-{end:.3f}")]
        args = [*command, *item.score_inputs(), "-o", str(output), "--work", str(self.work_dir(item)),
                "--segments", str(edits), "--json-progress", *settings.score_args(), *silent_at, *extra]
        self.current, self.current_item, self.backend = CliProcess(args, self), item, ""
        self._render_start = None
        self.current.event.connect(lambda event: self._on_event(kind, item, event))
        made_with = settings.score_args()
        self.current.finished.connect(lambda status, message: self._on_finished(kind, item, output, status, message,
                                                                                made_with))
        item.status, item.progress, item.message, item.notices = "working", 0.0, "", []
        self.model.changed(item)
        self._report(item, "Previewing" if kind == "preview" else "Exporting")
        self.current.start()
        return True

    def _on_event(self, kind: str, item: QueueItem, event: dict) -> None:
        kind_of = event.get("type")
        shares = progress_shares(item.kind == "slideshow")  # each stage's share of the item's progress bar
        if kind_of == "progress" and event.get("stage") == "analysing":
            item.progress = shares.analysis * event["fraction"]
        elif kind_of == "progress" and event.get("stage") == "rendering":
            done = (event["segment"] - 1 + event["fraction"]) / event["count"]
            item.progress = shares.analysis + shares.music * done
            self._render_start = self._render_start or (self.clock(), done)
            self.segment_progress.emit(item.id, event["segment"] - 1, "rendering")
        elif kind_of == "segment_done":
            item.progress = shares.analysis + shares.music * event["index"] / event["count"]
            self._render_start = self._render_start or (self.clock(), event["index"] / event["count"])
            self.segment_progress.emit(item.id, event["index"] - 1, "done")
        elif kind_of == "progress" and event.get("stage") == "picture":  # a project's for its preview, a slideshow's
            item.progress = shares.analysis + shares.music + shares.picture * event["fraction"]
        elif kind_of == "stage" and event.get("stage") in ("mixing", "writing"):
            item.progress = max(item.progress, shares.analysis + shares.music)
        elif kind_of == "backend":
            self.backend = event["name"]  # which one `auto` chose
        elif kind_of == "notice":
            item.notices.append(event["message"])
            self.notice.emit(event["message"])
        else:
            return
        self.model.changed(item, persist=False)
        self._report(item, "Previewing" if kind == "preview" else "Exporting")

    def _on_finished(self, kind: str, item: QueueItem, output: Path, status: str, message: str,
                     made_with: list[str]) -> None:
        self.current, self.current_item = None, None
        self._run_done += 1
        if status == "ok" and kind == "preview":
            item.preview, item.heard_settings = str(output), made_with
            self._read_manifest(item, output.with_suffix(".json"))
            self._finish_item(item, "preview ready", "")
            self.segments_changed.emit(item.id)
            self.inspect([item], [(s.start + s.end) / 2 for s in item.segments])
        elif status == "ok":
            item.output = str(output)
            self._finish_item(item, "exported", str(output))
        else:
            self._finish_item(item, status, message)
        self._next()

    def _finish_item(self, item: QueueItem, status: str, message: str) -> None:
        item.status, item.message = status, message
        item.progress = 1.0 if status in ("preview ready", "exported") else 0.0
        self.model.changed(item)

    def _report(self, item: QueueItem, verb: str) -> None:
        fraction = (self._run_done + item.progress) / max(self._run_total, 1)
        backend = f", {self.backend} backend" if self.backend else ""
        self.overall.emit(fraction, f"{verb} {item.name} ({self._run_done + 1} of {self._run_total}{backend})"
                                    f"{self._time_left(item)}")

    def _time_left(self, item: QueueItem) -> str:
        """How long the item's music still takes, from the pace of its segments so far: the neural backend on a
        CPU takes minutes per segment, and a bar alone does not say whether that means lunch or tomorrow."""
        if self._render_start is None:
            return ""
        started, done_then = self._render_start
        shares = progress_shares(item.kind == "slideshow")
        elapsed, done = self.clock() - started, (item.progress - shares.analysis) / shares.music
        if elapsed < _ETA_AFTER_SECONDS or done - done_then < 0.02 or done >= 1:
            return ""
        seconds = elapsed * (1 - done) / (done - done_then)
        if seconds < 60:
            return " — under a minute left"
        minutes = round(seconds / 60)
        return f" — about {minutes} min left" if minutes < 90 else f" — about {minutes // 60} h {minutes % 60} min left"

    def _read_manifest(self, item: QueueItem, path: Path) -> None:
        """The preview's segments, keeping the user's edits where the segment is still the same."""
        manifest = json.loads(path.read_text(encoding="utf-8"))
        item.duration = manifest["input"]["duration"]  # a project edited since it was queued has a new length
        if item.parts:  # where the preview placed them
            self._write_parts(item, manifest["clips"])
        item.cuts, item.voices = manifest.get("cuts", []), manifest.get("voices", [])
        item.levels = manifest.get("loudness", {}).get("levels", {})
        item.heard_silences = [list(s) for s in manifest["options"]["silences"]]
        # by times: a stretch without music renumbers the segments after it (their edits follow them, see edits())
        before = {(round(s.start, 2), round(s.end, 2)): s for s in item.segments}
        segments = []
        for entry in manifest["segments"]:
            index = entry["index"]
            arrangement = entry.get("arrangement", {})
            hits = [entry["start"] + h for h in arrangement.get("hits", [])]
            voices = [[entry["start"] + a, entry["start"] + b] for a, b in arrangement.get("voices", [])]
            fresh = SegmentState(index, entry["start"], entry["end"], entry.get("description", ""),
                                 entry.get("brief"), entry.get("seed"), hits, voices,
                                 in_silence=entry.get("in_silence", False))
            old = before.get((round(fresh.start, 2), round(fresh.end, 2)))
            if old is not None:
                fresh.take_edits({name: getattr(old, name) for name in USER_FIELDS})
                fresh.thumbnail = old.thumbnail
            fresh.heard = fresh.changes()  # edits are not possible while a job runs: these made the preview
            segments.append(fresh)
        item.segments = segments

    # --- inspection results ---------------------------------------------------------------------------------------
    def _inspected(self, by_path: dict[str, QueueItem], event: dict, segment_pictures: bool) -> None:
        item = by_path.get(event.get("input"))
        if item is None:
            return
        if event.get("type") == "error":
            item.status, item.message = "failed", event.get("message", "")
        elif segment_pictures:
            pictures = event.get("thumbnails", [])
            for segment, picture in zip(item.segments, pictures):
                segment.thumbnail = picture["path"]
            self.segments_changed.emit(item.id)
        else:
            item.kind, item.duration = event["kind"], event["duration"]
            item.thumbnail = (event.get("thumbnails") or [{}])[0].get("path", "")
            if item.status == "checking":
                item.status = "ready"
        self.model.changed(item)

    def _inspection_done(self, process: CliProcess, by_path: dict[str, QueueItem], status: str,
                         message: str) -> None:
        self.inspections.remove(process)
        for item in by_path.values():
            if item.status == "checking":  # the inspector itself failed
                item.status, item.message = "failed", message or "could not be inspected"
                self.model.changed(item)
        process.deleteLater()
