"""The main window: the queue on the left; the selected file's preview and segment strip on the right."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QSettings, QSize, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTableView,
    QToolBar,
)

from cotvtm_desktop import __version__, config
from cotvtm_desktop.gui.history import EditHistory
from cotvtm_desktop.gui.preview import PreviewPane
from cotvtm_desktop.gui.queue import QUEUE_FILE, THUMB_HEIGHT, QueueItem, QueueModel
from cotvtm_desktop.gui.segment_dialog import SegmentDialog
from cotvtm_desktop.gui.segment_strip import SegmentStrip
from cotvtm_desktop.gui.settings import Settings
from cotvtm_desktop.gui.settings_dialog import SettingsDialog
from cotvtm_desktop.gui.slideshow_dialog import SlideshowDialog
from cotvtm_desktop.gui.soundtrack_bar import without_silence
from cotvtm_desktop.gui.tasks import TaskRunner

CLOSE_WAIT_MS = 20000  # how long closing waits for a cancelled job to clean up
PLAY_LEAD_IN_SECONDS = 2.0  # a segment plays from this long before it: the music is heard changing into it
NOTICE_MS = 20000  # how long a job's note stays in the status bar (it stays in the file's tooltip)


class MainWindow(QMainWindow):
    def __init__(self, store: QSettings, data_dir: Path):
        super().__init__()
        self.store, self.data_dir = store, data_dir
        self.settings = Settings.load(store)
        self.setWindowTitle(f"cotvtm {__version__}: music for your videos")
        self.setAcceptDrops(True)
        self.resize(1280, 720)  # fits a 1366×768 screen with its panel

        self.queue = QueueModel(data_dir / QUEUE_FILE, self)
        self.queue.load()
        self.tasks = TaskRunner(self.queue, lambda: self.settings, data_dir, self)
        self.history = EditHistory()

        self.table = QTableView()
        self.table.setModel(self.queue)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(54)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(0, 230)
        header.resizeSection(1, 64)
        self.table.setIconSize(QSize(round(THUMB_HEIGHT * 16 / 9), THUMB_HEIGHT))
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.table.doubleClicked.connect(self._arrange)  # a slideshow's row: its files and their order
        self.preview = PreviewPane(lambda: self.settings.score_args())
        self.strip = SegmentStrip()
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.preview)
        right.addWidget(self.strip)
        right.setSizes([400, 300])
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(right)
        split.setSizes([460, 820])
        self.setCentralWidget(split)

        self.progress = QProgressBar()
        self.progress.setMaximumWidth(320)
        self.progress.setVisible(False)
        self.activity = QLabel("")
        self.statusBar().addWidget(self.activity, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self._actions()

        self.strip.regenerate.connect(self._regenerate)
        self.strip.edit.connect(self._edit_segment)
        self.strip.lock.connect(self._lock)
        self.strip.mute.connect(self._mute)
        self.strip.play.connect(self._play_segment)
        self.strip.back.connect(self._back)
        self.preview.bar.silences_changed.connect(self._silences_changed)
        self.preview.bar.segment_menu.connect(self._segment_menu)
        self.preview.bar.seek.connect(self._show_tile_at)
        self.preview.playing_at.connect(self._follow_playback)
        self.segment_menu: QMenu | None = None
        self.tasks.notice.connect(lambda text: self.statusBar().showMessage(f"Note: {text}", NOTICE_MS))
        self.tasks.segments_changed.connect(self._segments_changed)
        self.tasks.segment_progress.connect(self._segment_progress)
        self.tasks.overall.connect(self._overall)
        self.queue.dataChanged.connect(self._item_changed)
        self.tasks.inspect([i for i in self.queue.items if not i.kind and i.status == "checking"])
        self._update_actions()

    # --- actions --------------------------------------------------------------------------------------------------
    def _actions(self) -> None:
        bar = QToolBar("Main")
        bar.setMovable(False)
        self.addToolBar(bar)

        def action(text: str, shortcut, slot, tip: str) -> QAction:
            act = QAction(text, self)
            act.setShortcut(QKeySequence(shortcut))
            act.setToolTip(f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
            act.triggered.connect(slot)
            bar.addAction(act)
            return act

        self.add_action = action("Add…", QKeySequence.StandardKey.Open, self._add_files, "Add videos or images")
        self.add_folder_action = action("Add folder…", "Ctrl+Shift+O", self._add_folder, "Add a folder")
        self.remove_action = action("Remove", QKeySequence.StandardKey.Delete, self._remove, "Remove from the queue")
        self.join_action = action("Join", "Ctrl+J", self._join, "Score the selected videos as one recording, in "
                                  "queue order: the parts a camera split it into (GoPro chapters, a DVD's VOBs)")
        self.slideshow_action = action("Slideshow", "Ctrl+L", self._slideshow, "Show the selected photos and videos "
                                       "one after another as one scored film, in the order they were taken (else "
                                       "queue order), each photo for the Settings' seconds, slowly moving")
        self.arrange_action = action("Arrange…", "Ctrl+Shift+L", self._arrange, "Change the selected slideshow: "
                                     "the order of its photos and videos, which it shows, each photo's seconds, "
                                     "its title")
        self.undo_action = action("Undo", QKeySequence.StandardKey.Undo, self._undo, "Take back the last change")
        self.redo_action = action("Redo", QKeySequence.StandardKey.Redo, self._redo, "Make the change again")
        bar.addSeparator()
        self.preview_action = action("Preview", "Ctrl+P", self._preview, "Make the music and play it")
        self.export_action = action("Export", "Ctrl+E", self._export, "Write the selected file's scored copy")
        self.export_all_action = action("Export all", "Ctrl+Shift+E", self._export_all, "Export every file")
        self.cancel_action = action("Cancel", "Esc", self.tasks.cancel, "Stop the running job")
        bar.addSeparator()
        self.open_action = action("Open output folder", "Ctrl+Shift+F", self._open_output, "Show the exported file")
        self.settings_action = action("Settings…", QKeySequence.StandardKey.Preferences, self._edit_settings,
                                      "Backend, loudness, output folder")
        if self.settings_action.shortcut().isEmpty():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        # the soundtrack bar's in and out points at the play position, and its zoom around it (keys only: the bar's
        # words name them)
        bar = self.preview.bar
        for keys, do in ((["I"], bar.mark_start), (["O"], bar.mark_end),
                         ([QKeySequence.StandardKey.ZoomIn, "Ctrl+="], lambda: bar.zoom(2)),
                         ([QKeySequence.StandardKey.ZoomOut], lambda: bar.zoom(1 / 2)), (["Ctrl+0"], bar.show_whole)):
            act = QAction(self)
            act.setShortcuts([QKeySequence(key) for key in keys])
            act.triggered.connect(do)
            self.addAction(act)

    def _update_actions(self) -> None:
        item = self.selected()
        usable = item is not None and bool(item.kind) and item.status != "working"
        busy = self.tasks.busy()
        self.preview_action.setEnabled(usable)
        self.export_action.setEnabled(usable)
        self.export_all_action.setEnabled(any(i.kind for i in self.queue.items))
        self.remove_action.setEnabled(item is not None and item.status not in ("working", "queued"))
        self.join_action.setEnabled(not busy and self._joinable(("video",)) is not None)
        self.slideshow_action.setEnabled(not busy and self._joinable(("video", "image", "slideshow")) is not None)
        self.arrange_action.setEnabled(usable and not busy and item.kind == "slideshow" and item.status != "queued")
        self.cancel_action.setEnabled(busy)
        self.open_action.setEnabled(item is not None and bool(item.output))
        for act, what, verb in ((self.undo_action, self.history.next_undo(item), "Undo"),
                                (self.redo_action, self.history.next_redo(item), "Redo")):
            act.setEnabled(what is not None and not busy)
            keys = act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            act.setToolTip(f"{verb} {what} ({keys})" if what else f"{verb}: nothing to {verb.lower()} ({keys})")
        self.strip.enable(not busy)

    # --- queue ----------------------------------------------------------------------------------------------------
    def add_paths(self, paths: list[Path]) -> list[QueueItem]:
        new = self.queue.add(paths)
        self.tasks.inspect(new)
        if new and self.selected() is None:
            self.table.selectRow(self.queue.items.index(new[0]))
        self.activity.setText(f"Added {len(new)} file{'s' if len(new) != 1 else ''}" if new else
                              "Nothing new to add (already queued, or no videos or images there)")
        return new

    def selected(self) -> QueueItem | None:
        rows = self.table.selectionModel().selectedRows()
        return self.queue.items[rows[0].row()] if rows else None

    def _add_files(self) -> None:
        media = " ".join(f"*{e}" for e in config.VIDEO_EXTENSIONS + config.IMAGE_EXTENSIONS)
        projects = " ".join(f"*{e}" for e in config.PROJECT_EXTENSIONS)
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add videos, images or editor projects", "",
            f"Videos, images and editor projects ({media} {projects});;Videos and images ({media});;"
            f"Editor projects: Final Cut Pro, Shotcut, Kdenlive, FCP 7 XML, OpenTimelineIO, EDL ({projects})")
        self.add_paths([Path(f) for f in files])

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of videos and images")
        if folder:
            self.add_paths([Path(folder)])

    def _remove(self) -> None:
        item = self.selected()
        if item is not None and item.status not in ("working", "queued"):
            self.preview.stop()
            self.queue.remove(item)
            self.tasks.forget(item)
            self.history.forget(item)

    def all_selected(self) -> list[QueueItem]:
        """The selected items, in queue order."""
        return [self.queue.items[row] for row in sorted(i.row() for i in self.table.selectionModel().selectedRows())]

    def _joinable(self, kinds: tuple[str, ...]) -> list[QueueItem] | None:
        """The selected items, when they can join as one: two or more inspected items of these kinds (not joined
        recordings), none at work."""
        items = self.all_selected()
        if len(items) < 2 or any(i.kind not in kinds or (i.parts and i.kind != "slideshow")
                                 or i.status in ("working", "queued") for i in items):
            return None
        return items

    def _join(self) -> None:
        items = self._joinable(("video",))
        if items is not None:
            joined = self._put_together(items, self.queue.join)
            self.activity.setText(f"Joined {len(items)} files as one recording: {joined.name}")

    def _slideshow(self) -> None:
        """The selected photos and videos as one slideshow, in the order they were taken (else queue order); a
        slideshow among them takes them in after its own, in its order. The moving part of a Live Photo among them
        stays in the queue (its photo shows), and so do the other shots of a burst (the sharpest shows)."""
        from cotvtm_desktop.media.slideshow import in_taken_order, live_photo_motions, similar_shots

        items = self._joinable(("video", "image", "slideshow"))
        if items is not None:
            shows = [i for i in items if i.kind == "slideshow"]
            by_path = {Path(i.path): i for i in items if i.kind != "slideshow"}
            shown_paths = [*(Path(f) for show in shows for f in show.files()), *by_path]
            motions = live_photo_motions(shown_paths, {p: i.duration for p, i in by_path.items() if i.kind == "video"})
            if len(items) - len(motions) < 2:
                self.activity.setText("A slideshow needs two photos or videos (a Live Photo's video is its photo's)")
                return
            taken = [path for path in in_taken_order(list(by_path)) if path not in motions]
            similar = similar_shots(taken)
            if len(shows) + len(taken) - len(similar) < 2:
                similar = {}
            ordered = [*shows, *(by_path[path] for path in taken if path not in similar)]
            shown = self._put_together(ordered, lambda i: self.queue.slideshow(i, self.settings.photo_seconds,
                                                                                self.settings.photo_dissolve,
                                                                                self.settings.photo_dates,
                                                                                self.settings.photo_places))
            several = len(motions) != 1
            kept = [f"{len(motions)} Live Photo video{'s' * several} left in the queue: "
                    f"{'their photos show' if several else 'its photo shows'}"] if motions else []
            if similar:
                kept.append(f"{len(similar)} shot{'s' * (len(similar) != 1)} of a burst left in the queue: the "
                            "sharpest shows")
            self.activity.setText(f"Made a slideshow of {len(shown.files())} files: {shown.name}"
                                  + (f" ({'; '.join(kept)})" if kept else ""))

    def _arrange(self, *_) -> None:
        """The selected slideshow's files, their order, its photos' seconds, dissolve and title, changed in a
        dialog."""
        item = self.selected()
        if item is None or item.kind != "slideshow" or item.status in ("working", "queued") or self.tasks.busy():
            return
        dialog = SlideshowDialog(item, self)
        if dialog.exec() and dialog.changed():
            made = self._put_together([item], lambda i: self.queue.arrange(
                item, dialog.files(), dialog.photo_seconds(), dialog.dissolve(), dialog.film_title(), dialog.held(),
                dialog.film_length(), dialog.show_dates(), dialog.show_places()))
            self.activity.setText(f"Changed the slideshow ({len(dialog.files())} files): preview it to see and hear "
                                  "it anew" if not made.segments else "Changed the slideshow's picture (its music "
                                  "and your edits stay): preview it to see it")

    def _put_together(self, items: list[QueueItem], make: Callable[[list[QueueItem]], QueueItem]) -> QueueItem:
        """One queue item made of `items` by `make`, selected; what the app kept for each (previews, segment audio)
        no longer fits and goes, but their pictures that the new item shows."""
        self.preview.stop()
        made = make(items)
        for item in items:
            self.tasks.forget(item)
            self.history.forget(item)
        self.table.selectRow(self.queue.items.index(made))
        self._selected()
        return made

    def _item_changed(self, *_) -> None:
        item = self.selected()
        if item is not None and item.thumbnail != self.preview.thumbnail:  # its picture arrived
            self.preview.show_item(item)
        if item is not None and not item.segments and item.status != self.strip.shown_status:
            self.strip.show_item(item)  # says what is happening (progress events alone change nothing there)
        self._update_actions()

    def _selected(self, *_) -> None:
        item = self.selected()
        if item is not None:
            self.history.seen(item)
        self.preview.show_item(item)
        self.strip.show_item(item)
        self._update_actions()

    # --- jobs -----------------------------------------------------------------------------------------------------
    def _preview(self) -> None:
        item = self.selected()
        if item is not None:
            self.preview.stop()
            self.tasks.preview(item)
            self._update_actions()

    def _export(self) -> None:
        item = self.selected()
        if item is not None:
            self.tasks.export([item])
            self._update_actions()

    def _export_all(self) -> None:
        self.tasks.export([i for i in self.queue.items if i.kind])
        self._update_actions()

    def _open_output(self) -> None:
        item = self.selected()
        if item is not None and item.output:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(item.output).parent)))

    def _overall(self, fraction: float, text: str) -> None:
        self.progress.setVisible(bool(text))
        self.progress.setValue(round(100 * fraction))
        self.activity.setText(text or "Ready")
        self._update_actions()

    def _segments_changed(self, item_id: str) -> None:
        for changed in self.queue.items:
            if changed.id == item_id:  # a preview made its segments anew: the next change starts from them
                self.history.seen(changed)
        item = self.selected()
        if item is not None and item.id == item_id:
            self.strip.show_item(item)
            self.preview.show_item(item)
            self._update_actions()

    def _segment_progress(self, item_id: str, index: int, state: str) -> None:
        if self.strip.item_id == item_id:
            self.strip.set_segment_state(index, "rendering…" if state == "rendering" else "new music")

    # --- segments -------------------------------------------------------------------------------------------------
    def _regenerate(self, index: int) -> None:
        self._new_music(index, self.tasks.regenerate, "queued for new music", f"new music for segment {index + 1}")

    def _back(self, index: int) -> None:
        self._new_music(index, self.tasks.back, "queued: the music before",
                        f"going back to segment {index + 1}'s music before")

    def _new_music(self, index: int, change, state: str, what: str) -> None:
        """Change one segment's music (`change(item, index)` queues its preview) and say so on its tile."""
        item = self.selected()
        if item is not None and not self.tasks.busy():
            self.preview.stop()
            change(item, index)
            self.history.record(item, what)
            self.strip.set_segment_state(index, state)
            self._update_actions()

    def _edit_segment(self, index: int) -> None:
        item = self.selected()
        if item is None:
            return
        segment = item.segments[index]
        dialog = SegmentDialog(segment, self)
        if dialog.exec():
            segment.brief_changes, segment.prompt, segment.music_db = dialog.changes(), dialog.prompt(), dialog.level()
            self.history.record(item, f"the edit of segment {index + 1}")
            self.queue.changed(item)
            self.strip.show_item(item)
            self._update_actions()

    def _lock(self, index: int, locked: bool) -> None:
        item = self.selected()
        if item is not None:
            item.segments[index].locked = locked
            self.history.record(item, f"{'locking' if locked else 'unlocking'} segment {index + 1}")
            self.queue.changed(item)
            self._update_actions()

    def _play_segment(self, index: int) -> None:
        item = self.selected()
        if item is not None and item.preview:  # a moment before it, to hear the music change into it
            self.preview.play_from(max(0.0, item.segments[index].start - PLAY_LEAD_IN_SECONDS))

    def _mute(self, index: int, silent: bool) -> None:
        item = self.selected()
        if item is None:
            return
        segment = item.segments[index]
        segment.silent = silent
        if not silent and segment.in_silence:  # its music back: the stretch chosen on the bar gives way
            segment.in_silence = False
            item.silences = without_silence(item.silences, segment.start, segment.end)
            self.preview.show_soundtrack(item)
        self.history.record(item, f"{'muting' if silent else 'un-muting'} segment {index + 1}")
        self.queue.changed(item)
        self.strip.tiles[index].show_changes(segment)
        self._update_actions()

    def _segment_menu(self, index: int, at: QPoint) -> None:
        """A segment's tile, brought into view, and its actions as a menu where the soundtrack bar was clicked."""
        if 0 <= index < len(self.strip.tiles):
            tile = self.strip.tiles[index]
            self.strip.ensureWidgetVisible(tile)
            self.segment_menu = tile.menu()
            self.segment_menu.popup(at)

    def _show_tile_at(self, seconds: float) -> None:
        """The tile of the segment playing from `seconds` (a click on the soundtrack bar), brought into view."""
        index = self._segment_at(seconds)
        if index is not None:
            self.strip.ensureWidgetVisible(self.strip.tiles[index])

    def _follow_playback(self, seconds: float) -> None:
        """The tiles follow the preview as it plays: the playing segment's outlined and in view."""
        self.strip.mark_playing(self._segment_at(seconds))

    def _segment_at(self, seconds: float) -> int | None:
        """The index of the selected file's segment (and tile) running at `seconds`."""
        item = self.selected()
        segment = item.segment_at(seconds) if item is not None else None
        return segment.index if segment is not None and segment.index < len(self.strip.tiles) else None

    def _silences_changed(self, silences: list) -> None:
        item = self.selected()
        if item is not None:
            self.history.record(item, "the change to the stretches without music")
            self.queue.changed(item)
            self.preview.show_soundtrack(item)
            self._update_actions()

    def _undo(self) -> None:
        self._take(self.history.undo, "Undone")

    def _redo(self) -> None:
        self._take(self.history.redo, "Done again")

    def _take(self, step, said: str) -> None:
        """Undo or redo one change to the selected file's edits; its tiles and soundtrack bar show the result."""
        item = self.selected()
        if item is None or self.tasks.busy():
            return
        what = step(item)
        if what is not None:
            self.preview.stop()
            self.queue.changed(item)
            self.strip.show_item(item)
            self.preview.show_soundtrack(item)
            self.statusBar().showMessage(f"{said}: {what}", NOTICE_MS)
        self._update_actions()

    # --- settings -------------------------------------------------------------------------------------------------
    def _edit_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if dialog.exec():
            self.settings = dialog.settings()
            self.settings.save(self.store)
            self.preview.show_soundtrack(self.selected())  # says whether the preview was made with these

    # --- drag and drop, closing -----------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.tasks.busy():
            answer = QMessageBox.question(self, "A job is running", "Stop the running job and quit? Nothing "
                                          "half-written is left behind; its finished segments are kept.")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.tasks.shut_down(CLOSE_WAIT_MS)
        self.preview.stop()
        self.queue.save()
        event.accept()

