"""The queue: the inputs the user added, each with its segments and the user's edits, kept as JSON in the app's
data folder so it survives a restart."""

from __future__ import annotations

import copy
import json
import os
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QPixmap

from cotvtm_desktop import config

QUEUE_FILE = "queue.json"
QUEUE_VERSION = 1
THUMB_HEIGHT = 48
# what the user sets on a segment (the rest is what the last preview made): kept across a preview by the segment's
# times, and what Undo takes back
USER_FIELDS = ("locked", "edit_seed", "earlier_seeds", "prompt", "brief_changes", "silent", "music_db")


@dataclass
class SegmentState:
    """One segment as the last preview made it, plus what the user changed."""

    index: int  # from 0
    start: float
    end: float
    description: str = ""
    brief: dict | None = None  # the procedural backend's music elements
    seed: int | None = None  # the seed its music was made with
    hits: list[float] = field(default_factory=list)  # the cuts its music marks, seconds from the input's start
    voices: list[list[float]] = field(default_factory=list)  # [start, end] where its melody rests for a voice
    thumbnail: str = ""
    locked: bool = False  # keeps its seed and brief whatever else changes
    edit_seed: int | None = None
    earlier_seeds: list[int] = field(default_factory=list)  # what Regenerate replaced, latest last: Back returns to it
    prompt: str = ""
    brief_changes: dict = field(default_factory=dict)
    silent: bool = False  # the user wants no music here
    music_db: float = 0.0  # its music this much louder (negative: quieter) than the mix puts it
    in_silence: bool = False  # in a stretch without music the user chose on the soundtrack bar (item.silences)
    heard: dict = field(default_factory=dict)  # changes() as the last preview made it

    def edit(self) -> dict:
        """This segment's entry in the `--segments` file (empty when the user changed nothing): named by its times
        too, so that it follows the segment when a stretch without music renumbers the plan."""
        entry = {}
        seed = self.edit_seed if self.edit_seed is not None else (self.seed if self.locked else None)
        if seed is not None:
            entry["seed"] = seed
        if self.prompt:
            entry["prompt"] = self.prompt
        if self.brief_changes:
            entry["brief"] = dict(self.brief_changes)
        if self.silent:
            entry["silent"] = True
        if self.music_db:
            entry["music_db"] = self.music_db
        return {**entry, "start": self.start, "end": self.end} if entry else {}

    def changes(self) -> dict:
        """What the user changed about its music (a lock changes nothing: it keeps the music as it is)."""
        changed = {"seed": self.edit_seed} if self.edit_seed is not None else {}
        return {**changed, **{k: v for k, v in (("prompt", self.prompt), ("brief", self.brief_changes),
                                                ("silent", self.silent), ("in_silence", self.in_silence),
                                                ("music_db", self.music_db)) if v}}

    def unheard(self) -> bool:
        """Whether the user changed it since the last preview."""
        return self.changes() != self.heard

    def user_edits(self) -> dict:
        """A copy of what the user set on it (USER_FIELDS), and whether it lies in a stretch without music."""
        return copy.deepcopy({name: getattr(self, name) for name in (*USER_FIELDS, "in_silence")})

    def take_edits(self, edits: dict) -> None:
        for name, value in copy.deepcopy(edits).items():
            setattr(self, name, value)


@dataclass
class QueueItem:
    path: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    kind: str = ""  # "video", "image" or "timeline" (an editor project) once inspected; or "slideshow"
    duration: float = 0.0
    thumbnail: str = ""
    status: str = "checking"  # checking, ready, working, preview ready, exported, failed, cancelled
    message: str = ""
    progress: float = 0.0
    output: str = ""  # the exported file
    preview: str = ""  # the last preview render
    segments: list[SegmentState] = field(default_factory=list)
    silences: list[list[float]] = field(default_factory=list)  # [start, end] seconds the user wants no music in
    heard_silences: list[list[float]] = field(default_factory=list)  # the silences the last preview was made with
    heard_settings: list[str] = field(default_factory=list)  # the Settings' score options the last preview had
    cuts: list[float] = field(default_factory=list)  # scene cuts the last preview found, seconds
    voices: list[list[float]] = field(default_factory=list)  # where the last preview's music dips under a voice
    levels: dict = field(default_factory=dict)  # the last preview's loudness envelopes (the manifest's levels)
    notices: list[str] = field(default_factory=list)  # what the last job said was left out (an edit, say)
    # the files that continue this one's recording (score --join), or that a slideshow shows after it
    parts: list[str] = field(default_factory=list)
    photo_seconds: float = 0.0  # a slideshow's: each photo's time on screen
    held: dict[str, float] = field(default_factory=dict)  # a slideshow's: photos on screen for their own seconds
    film_length: float = 0.0  # a slideshow's length its photos share (0: theirs make it)
    dissolve: bool = False  # a slideshow's: photos dissolve into each other
    dates: bool = False  # a slideshow's: each day's date over its first picture
    places: bool = False  # a slideshow's: each place's town over its first picture
    file_thumbnails: dict[str, str] = field(default_factory=dict)  # a slideshow's: each file's picture, by path
    file_durations: dict[str, float] = field(default_factory=dict)  # a slideshow's: each video's length, by path
    title: str = ""  # a slideshow's: words over its opening seconds

    @property
    def name(self) -> str:
        more, name = len(self.parts), Path(self.path).name
        if self.kind == "slideshow":
            return f"Slideshow: {name} + {more} more"
        return f"{name} + {more} part{'s' * (more != 1)}" if more else name

    def files(self) -> list[str]:
        """Its file, and the files that continue its recording or its slideshow, in order."""
        return [self.path, *self.parts]

    def named_for(self) -> Path:
        """What its export is named after: a slideshow's folder, where all its files lie in one (Rome.scored.mp4
        beside Rome, as `score Rome --slideshow` names it); else its file."""
        folders = {Path(path).parent for path in self.files()}
        return folders.pop() if self.kind == "slideshow" and len(folders) == 1 else Path(self.path)

    def photo_times(self) -> dict[str, float]:
        """A slideshow's photos' seconds on screen, by path, before its music fits them to its bars: each its own
        (held) or photo_seconds, scaled alike to fill film_length where one is set (as `score --film-length`)."""
        from cotvtm_desktop.errors import UserError
        from cotvtm_desktop.media.slideshow import photo_times

        photos = [path for path in self.files() if path not in self.file_durations]
        times = [self.held.get(path, self.photo_seconds) for path in photos]
        if self.film_length and photos:
            videos = sum(self.file_durations.get(path, 0.0) for path in self.files())
            try:
                times = photo_times(times, videos, self.film_length)
            except UserError:
                pass  # the files do not fit in it: their job says so
        return dict(zip(photos, times))

    def film_seconds(self) -> float:
        """About how long a slideshow's film is: its videos whole, its photos for their times (photo_times)."""
        times = self.photo_times()
        return sum(self.file_durations.get(path, times.get(path, 0.0)) for path in self.files())

    def pictures(self) -> set[str]:
        """The thumbnails the app keeps for it: its own, its slideshow's files', its segments'."""
        return {p for p in (self.thumbnail, *self.file_thumbnails.values(), *(s.thumbnail for s in self.segments)) if p}

    def score_inputs(self) -> list[str]:
        """What `cotvtm score` is given for this item: its file, and its recording's other parts with --join (or
        the photos and videos of its slideshow, with --slideshow)."""
        if self.kind == "slideshow":
            # --keep-similar: the app chose its files (Slideshow leaves a burst's other shots out, in the queue)
            return [self.path, *self.parts, "--slideshow", "--keep-similar",
                    "--photo-seconds", f"{self.photo_seconds:g}",
                    *(arg for path, seconds in self.held.items() for arg in ("--hold", f"{path}={seconds:g}")),
                    *(["--film-length", f"{self.film_length:g}"] if self.film_length else []),
                    *(["--dissolve"] if self.dissolve else []), *(["--dates"] if self.dates else []),
                    *(["--places"] if self.places else []),
                    *(["--title", self.title] if self.title else [])]
        return [self.path, *self.parts, "--join"] if self.parts else [self.path]

    def edits(self) -> dict:
        """The `cotvtm score --segments` file's content for this item."""
        return {"segments": {str(s.index + 1): s.edit() for s in self.segments if s.edit()}}

    def segment_at(self, seconds: float) -> SegmentState | None:
        """The last preview's segment running at `seconds`."""
        return next((s for s in self.segments if s.start <= seconds < s.end), None)

    def silences_unheard(self) -> bool:
        """Whether the user changed the stretches without music since the last preview."""
        return self.silences != self.heard_silences

    def settings_unheard(self, score_args: list[str]) -> bool:
        """Whether the settings' score options (Settings.score_args) differ from those the last preview was made
        with: an export now would not sound as the preview does."""
        return bool(self.preview and self.heard_settings) and self.heard_settings != score_args

    def user_edits(self) -> dict:
        """A copy of everything the user set on this file: its stretches without music, each segment's edits by its
        times (a preview made with a stretch without music renumbers the segments after it)."""
        return {"silences": copy.deepcopy(self.silences),
                "segments": {(s.start, s.end): s.user_edits() for s in self.segments}}

    def take_edits(self, edits: dict) -> None:
        """Back to `edits` (user_edits() of before): a segment the last preview made anew keeps its own, but it is
        no longer in a stretch without music that is gone."""
        self.silences = copy.deepcopy(edits["silences"])
        for segment in self.segments:
            if (segment.start, segment.end) in edits["segments"]:
                segment.take_edits(edits["segments"][(segment.start, segment.end)])
            segment.in_silence = segment.in_silence and any(a < segment.end and b > segment.start
                                                            for a, b in self.silences)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> QueueItem:
        known = {f.name for f in fields(cls)}
        item = cls(**{k: v for k, v in data.items() if k in known and k != "segments"})
        segment_fields = {f.name for f in fields(SegmentState)}
        item.segments = [SegmentState(**{k: v for k, v in s.items() if k in segment_fields})
                         for s in data.get("segments", [])]
        if item.status in ("checking", "working"):  # the app closed while it ran: nothing of it survived
            item.status, item.progress = ("ready" if item.kind else "checking"), 0.0
        return item


def media_files(paths: list[Path]) -> list[Path]:
    """The videos and images among `paths`, folders expanded (recursively, sorted)."""
    wanted = config.VIDEO_EXTENSIONS + config.IMAGE_EXTENSIONS
    found = []
    for path in paths:
        if config.is_media_folder(path):
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted
                            and config.WORK_DIR_NAME not in p.parts)
        else:  # a file named by the user is queued whatever it is: inspecting it says why it cannot be scored
            found.append(path)
    return found


class QueueModel(QAbstractTableModel):
    """The queue as a table: name (with thumbnail), duration, status."""

    COLUMNS = ("File", "Duration", "Status")

    def __init__(self, store: Path, parent: QObject | None = None):
        super().__init__(parent)
        self.store = store
        self.items: list[QueueItem] = []
        self._pixmaps: dict[str, QPixmap] = {}

    # --- contents -------------------------------------------------------------------------------------------------
    def add(self, paths: list[Path]) -> list[QueueItem]:
        """Queue the media files among `paths` not already queued; returns the new items."""
        queued = {str(Path(i.path).resolve()) for i in self.items}
        new = []
        for path in media_files(paths):
            key = str(path.resolve())
            if key not in queued:
                queued.add(key)
                new.append(QueueItem(str(path.resolve())))
        if new:
            self.beginInsertRows(QModelIndex(), len(self.items), len(self.items) + len(new) - 1)
            self.items += new
            self.endInsertRows()
            self.save()
        return new

    def join(self, items: list[QueueItem]) -> QueueItem:
        """The inspected videos `items` (in queue order: the parts of one recording a camera split) become the first
        of them, the others its parts, out of the queue; what was made or set for any of them goes (their picture
        and timing change)."""
        items = sorted(items, key=self.items.index)
        first = items[0]
        for other in items[1:]:
            self.remove(other)
        fresh = QueueItem(first.path, kind="video", status="ready", thumbnail=first.thumbnail,
                          duration=sum(i.duration for i in items),
                          parts=[*first.parts, *(path for i in items[1:] for path in (i.path, *i.parts))])
        self.items[self.items.index(first)] = fresh
        self.changed(fresh)
        return fresh

    def slideshow(self, items: list[QueueItem], photo_seconds: float, dissolve: bool = False,
                  dates: bool = False, places: bool = False) -> QueueItem:
        """The inspected photos and videos `items`, in that order, become one slideshow item in the queue place of
        the first of them queued, each photo on screen for about `photo_seconds` (and, with `dissolve`, dissolving
        into the next; with `dates` and `places`, each day's date and each place's town over its first picture);
        they leave the queue. A slideshow among them brings its files, in its order, and its seconds (its photos'
        own too, its length), dissolve, dates and title."""
        earliest = min(items, key=self.items.index)
        for item in items:
            if item is not earliest:
                self.remove(item)
        thumbnails, durations, held, length = {}, {}, {}, 0.0
        for item in items:
            held.update(item.held)
            length = length or item.film_length
            thumbnails.update(item.file_thumbnails if item.kind == "slideshow" else {item.path: item.thumbnail})
            durations.update(item.file_durations if item.kind == "slideshow" else
                             {item.path: item.duration} if item.kind == "video" else {})
        earlier = next((i for i in items if i.kind == "slideshow"), None)
        title = ""
        if earlier is not None:
            photo_seconds, dissolve, title = earlier.photo_seconds, earlier.dissolve, earlier.title
            dates, places = earlier.dates, earlier.places
        shown = QueueItem(items[0].path, id=earliest.id if earliest is earlier else uuid.uuid4().hex[:12],
                          kind="slideshow", file_thumbnails=thumbnails, file_durations=durations)
        self.items[self.items.index(earliest)] = shown
        return self.arrange(shown, [path for i in items for path in i.files()], photo_seconds, dissolve, title, held,
                            length, dates, places)

    def arrange(self, item: QueueItem, files: list[str], photo_seconds: float, dissolve: bool,
                title: str = "", held: dict[str, float] | None = None, film_length: float = 0.0,
                dates: bool = False, places: bool = False) -> QueueItem:
        """The slideshow `item` anew, showing `files` (some of its own) in this order, each photo for about
        `photo_seconds` (those `held`, by path, for their own seconds; all scaled alike to fill `film_length`, where
        one is given), dissolving with `dissolve`, under `title` (and each day's date and each place's town, with
        `dates` and `places`): what its last preview made (its segments and their edits, its stretches without
        music) fits it no more and goes — but for a new dissolve, title, dates or places alone, which change its
        picture, not its timing or its music; what it exported stays its output. It keeps its id (and with it the
        app's work folder, whose pictures of its photos serve again where they move alike)."""
        held = {path: seconds for path, seconds in (held or {}).items() if path in files}
        if (files, photo_seconds, held, film_length) == (item.files(), item.photo_seconds, item.held,
                                                         item.film_length):
            shown = replace(item, dissolve=dissolve, title=title, dates=dates, places=places, preview="",
                            status="ready", message="", progress=0.0)
            self.items[self.items.index(item)] = shown
            self.changed(shown)
            return shown
        shown = QueueItem(files[0], id=item.id, kind="slideshow", status="ready", output=item.output,
                          thumbnail=item.file_thumbnails.get(files[0], ""), parts=files[1:], title=title,
                          photo_seconds=photo_seconds, held=held, film_length=film_length, dissolve=dissolve,
                          dates=dates, places=places,
                          file_thumbnails={p: item.file_thumbnails[p] for p in files if item.file_thumbnails.get(p)},
                          file_durations={p: item.file_durations[p] for p in files if p in item.file_durations})
        shown.duration = shown.film_seconds()
        self.items[self.items.index(item)] = shown
        self.changed(shown)
        return shown

    def remove(self, item: QueueItem) -> None:
        row = self.items.index(item)
        self.beginRemoveRows(QModelIndex(), row, row)
        self.items.pop(row)
        self.endRemoveRows()
        self.save()

    def by_id(self, item_id: str) -> QueueItem | None:
        return next((i for i in self.items if i.id == item_id), None)

    def changed(self, item: QueueItem, persist: bool = True) -> None:
        row = self.items.index(item)
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
        if persist:
            self.save()

    # --- persistence ----------------------------------------------------------------------------------------------
    def save(self) -> None:
        self.store.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.store.with_name(f".{self.store.name}.tmp{os.getpid()}")
        tmp.write_text(json.dumps({"version": QUEUE_VERSION, "items": [i.to_json() for i in self.items]}, indent=1),
                       encoding="utf-8")
        tmp.replace(self.store)

    def load(self) -> None:
        try:
            data = json.loads(self.store.read_text(encoding="utf-8"))
            items = [QueueItem.from_json(d) for d in data.get("items", [])]
        except (OSError, ValueError, TypeError):
            items = []  # no queue yet, or an unreadable one: start empty
        self.beginResetModel()
        self.items = items
        self.endResetModel()

    # --- QAbstractTableModel --------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (item.name, format_duration(item) if item.kind else "…", status_text(item))[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join([item.message or item.path, *item.notices])
        if role == Qt.ItemDataRole.DecorationRole and column == 0 and item.thumbnail:
            return self._pixmap(item.thumbnail)
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None

    def _pixmap(self, path: str) -> QPixmap:
        if path not in self._pixmaps:
            picture = QPixmap(path)
            self._pixmaps[path] = picture.scaledToHeight(THUMB_HEIGHT, Qt.TransformationMode.SmoothTransformation)
        return self._pixmaps[path]


def format_duration(item: QueueItem) -> str:
    if item.kind == "image":
        return "image"
    minutes, seconds = divmod(round(item.duration), 60)
    return f"{minutes}:{seconds:02d}"


def status_text(item: QueueItem) -> str:
    if item.status == "working":
        return f"working {round(100 * item.progress)} %"
    if item.status in ("failed", "skipped") and item.message:
        return f"{item.status}: {item.message}"
    if item.notices and item.status in ("preview ready", "exported"):
        return f"{item.status} (see the note)" if len(item.notices) == 1 else f"{item.status} (see the notes)"
    return item.status
