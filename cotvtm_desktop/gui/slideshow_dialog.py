"""Arrange a slideshow: the order of its photos and videos (dragged, moved a place at a time, or sorted by when they
were taken or by name), which of them it shows, how long each photo is on screen (a chosen one longer or shorter)
or how long the whole film is, whether photos dissolve, and whether each day's date and each place's town show."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cotvtm_desktop import config
from cotvtm_desktop.gui.queue import QueueItem
from cotvtm_desktop.media.segments import clock

_ICON = QSize(128, 72)  # a 16:9 picture; an upright photo's stands in it
_CELL = QSize(148, 112)  # the picture and two lines of its name
_AS_THE_REST = 0.5  # the held seconds' box this far under the shortest time says "as the rest"


class SlideshowDialog(QDialog):
    """Shows the slideshow `item`'s files in order; `files()`, `photo_seconds()`, `held()`, `film_length()`,
    `dissolve()`, `show_dates()`, `show_places()` and `film_title()` read the result, `changed()` whether it differs
    from the item."""

    def __init__(self, item: QueueItem, parent: QWidget | None = None):
        super().__init__(parent)
        self.item = item
        self._held = dict(item.held)  # the photos on screen for their own seconds, by path
        self.setWindowTitle(f"Arrange the slideshow: {Path(item.path).name}")
        self.resize(720, 480)
        self.shown = QListWidget()
        self.shown.setViewMode(QListView.ViewMode.IconMode)
        self.shown.setFlow(QListView.Flow.LeftToRight)
        self.shown.setWrapping(True)
        self.shown.setResizeMode(QListView.ResizeMode.Adjust)
        self.shown.setMovement(QListView.Movement.Snap)
        self.shown.setIconSize(_ICON)
        self.shown.setGridSize(_CELL)
        self.shown.setWordWrap(True)
        self.shown.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.shown.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.shown.setDefaultDropAction(Qt.DropAction.MoveAction)
        for path in item.files():
            self.shown.addItem(self._entry(path))
        self.shown.setCurrentRow(0)

        self.earlier = self._button("◀ Earlier", "Ctrl+Left", lambda: self.move_selected(-1),
                                    "Show the selected files a place earlier (or drag them)")
        self.later = self._button("Later ▶", "Ctrl+Right", lambda: self.move_selected(1),
                                  "Show the selected files a place later")
        self.leave_out = self._button("Leave out", QKeySequence.StandardKey.Delete, self.leave_out_selected,
                                      "Leave the selected files out of the slideshow (not deleted); two stay at "
                                      "least")
        self.by_taken = self._button("Order taken", "Ctrl+T", self.sort_by_taken,
                                     "In the order they were taken (a photo's EXIF date, a video's creation time)")
        self.by_name = self._button("By name", "Ctrl+N", self.sort_by_name, "In the order of their names")
        self.seconds = QDoubleSpinBox(decimals=1, singleStep=0.5, suffix=" s")
        self.seconds.setRange(*config.SLIDESHOW_PHOTO_SECONDS_RANGE)
        self.seconds.setValue(item.photo_seconds)
        self.seconds.setToolTip("About how long each photo is on screen (procedural: the whole bars of its music "
                                "nearest this, so that the pictures change on the downbeat)")
        low, high = config.SLIDESHOW_PHOTO_SECONDS_RANGE
        self.hold = QDoubleSpinBox(decimals=1, singleStep=0.5, suffix=" s")
        self.hold.setRange(low - _AS_THE_REST, high)  # its lowest: no time of their own
        self.hold.setSpecialValueText("as the rest")
        self.hold.setToolTip("How long the selected photos are on screen, each (the best one longer, say); "
                             "'as the rest' gives them the time every photo has")
        self.length = QSpinBox(suffix=" s", maximum=config.SLIDESHOW_FILM_SECONDS_MAX, singleStep=5)
        self.length.setSpecialValueText("auto")  # 0: as long as its photos' seconds make it
        self.length.setValue(round(item.film_length))
        self.length.setToolTip("How long the whole film is (30 or 60 s for a phone's story, say): its photos share "
                               "what its videos leave, a selected photo's own seconds in proportion; auto: "
                               "as long as its photos' seconds make it")
        self.dissolves = QCheckBox("Photos dissolve into each other and into videos")
        self.dissolves.setChecked(item.dissolve)
        self.dissolves.setToolTip(f"Each photo dissolves into the next over {config.SLIDESHOW_DISSOLVE_SECONDS:g} s "
                                  "instead of cutting to it")
        self.dates = QCheckBox("Dates")
        self.dates.setChecked(item.dates)
        self.dates.setToolTip("Each day's date (Tuesday 2 July 2024) low over the first picture taken that day")
        self.places = QCheckBox("Places")
        self.places.setChecked(item.places)
        self.places.setToolTip("The town its pictures were taken in (Florence, Italy: from their GPS tags, named "
                               "offline) low over the first picture in each place")
        self.title_words = QLineEdit(item.title)
        self.title_words.setPlaceholderText("none")
        self.title_words.setToolTip("Words shown over the film's opening seconds: its name, say (a change of title "
                                    "or dissolve keeps the music and your edits)")
        self.summary = QLabel()
        self.said = QLabel()  # why a sort left the order as it was
        self.said.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)

        moves = QHBoxLayout()
        for button in (self.earlier, self.later, self.leave_out):
            moves.addWidget(button)
        moves.addStretch()
        for button in (self.by_taken, self.by_name):
            moves.addWidget(button)
        timing = QHBoxLayout()
        timing.addWidget(QLabel("Each photo about"))
        timing.addWidget(self.seconds)
        timing.addSpacing(16)
        timing.addWidget(QLabel("Selected photos"))
        timing.addWidget(self.hold)
        timing.addSpacing(16)
        timing.addWidget(QLabel("Film length"))
        timing.addWidget(self.length)
        timing.addStretch()
        timing.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Drag the pictures into the order they should show in; a change makes the "
                                "slideshow's music anew at its next preview."))
        layout.addWidget(self.shown)
        layout.addLayout(moves)
        layout.addLayout(timing)
        titled = QHBoxLayout()
        titled.addWidget(QLabel("Title"))
        titled.addWidget(self.title_words)
        titled.addSpacing(16)
        titled.addWidget(self.dissolves)
        titled.addSpacing(16)
        titled.addWidget(self.dates)
        titled.addWidget(self.places)
        layout.addLayout(titled)
        layout.addWidget(self.said)
        layout.addWidget(buttons)
        self.shown.itemSelectionChanged.connect(self._update)
        self.shown.model().rowsMoved.connect(self._update)
        self.seconds.valueChanged.connect(self._update)
        self.length.valueChanged.connect(self._update)
        self.hold.valueChanged.connect(self._hold_selected)
        self._update()

    # --- the result -----------------------------------------------------------------------------------------------
    def files(self) -> list[str]:
        return [self.shown.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.shown.count())]

    def photo_seconds(self) -> float:
        return round(self.seconds.value(), 1)

    def held(self) -> dict[str, float]:
        """The shown photos on screen for their own seconds, by path."""
        return {path: self._held[path] for path in dict.fromkeys(self.files()) if path in self._held}

    def film_length(self) -> float:
        """The film's length its photos share, seconds (0: as long as their own seconds make it)."""
        return float(self.length.value())

    def dissolve(self) -> bool:
        return self.dissolves.isChecked()

    def show_dates(self) -> bool:
        return self.dates.isChecked()

    def show_places(self) -> bool:
        return self.places.isChecked()

    def film_title(self) -> str:
        return " ".join(self.title_words.text().split())

    def changed(self) -> bool:
        return (self.files(), self.photo_seconds(), self.held(), self.film_length(), self.dissolve(),
                self.show_dates(), self.show_places(), self.film_title()) != (
            self.item.files(), self.item.photo_seconds, self.item.held, self.item.film_length, self.item.dissolve,
            self.item.dates, self.item.places, self.item.title)

    # --- what the buttons do --------------------------------------------------------------------------------------
    def move_selected(self, step: int) -> None:
        """The selected files a place earlier (`step` -1) or later (1); one at the end, and those beside it, stay."""
        chosen = self.shown.selectedItems()
        rows = sorted((self.shown.row(entry) for entry in chosen), reverse=step > 0)
        stuck = {-1 if step < 0 else self.shown.count()}
        for row in rows:
            if row + step in stuck:
                stuck.add(row)
            else:
                self.shown.insertItem(row + step, self.shown.takeItem(row))
        self._reselect(chosen)

    def leave_out_selected(self) -> None:
        chosen = self.shown.selectedItems()
        if self.shown.count() - len(chosen) >= 2:
            for entry in chosen:
                self.shown.takeItem(self.shown.row(entry))
        self._update()

    def sort_by_taken(self) -> None:
        from cotvtm_desktop.media.slideshow import in_taken_order, taken_at

        files = [Path(path) for path in self.files()]
        taken = [taken_at(path) for path in files]
        undated = [path.name for path, moment in zip(files, taken) if moment is None]
        if undated:
            named = ", ".join(undated[:3]) + " …" * (len(undated) > 3)
            self.said.setText(f"Not sorted: {named} {'does' if len(undated) == 1 else 'do'} not say when "
                              f"{'it was' if len(undated) == 1 else 'they were'} taken.")
            return
        self._order([str(path) for path in in_taken_order(files, taken)])

    def sort_by_name(self) -> None:
        self._order(sorted(self.files(), key=lambda path: (Path(path).name.casefold(), path)))

    def _hold_selected(self, seconds: float) -> None:
        """The selected photos on screen for `seconds` each, or (at the spin box's lowest) as long as the rest."""
        for path in self._selected_photos():
            if seconds < config.SLIDESHOW_PHOTO_SECONDS_RANGE[0]:
                self._held.pop(path, None)
            else:
                self._held[path] = round(seconds, 1)
        for row in range(self.shown.count()):
            self._label(self.shown.item(row))
        self._update()

    # --- helpers --------------------------------------------------------------------------------------------------
    def _button(self, text: str, keys, slot, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(slot)
        shortcut = QShortcut(QKeySequence(keys), self)
        shortcut.activated.connect(slot)
        button.setToolTip(f"{tip} ({shortcut.key().toString(QKeySequence.SequenceFormat.NativeText)})")
        button.setAutoDefault(False)  # Enter is OK's
        return button

    def _entry(self, path: str) -> QListWidgetItem:
        picture = self.item.file_thumbnails.get(path, "")
        entry = QListWidgetItem()
        if picture and Path(picture).exists():
            entry.setIcon(QIcon(QPixmap(picture)))
        entry.setData(Qt.ItemDataRole.UserRole, path)
        entry.setToolTip(path)
        entry.setFlags(entry.flags() & ~Qt.ItemFlag.ItemIsDropEnabled)  # dropped between pictures, not onto one
        self._label(entry)
        return entry

    def _label(self, entry: QListWidgetItem) -> None:
        """A file's name, and a video's length or a held photo's own seconds."""
        path = entry.data(Qt.ItemDataRole.UserRole)
        seconds = self.item.file_durations.get(path)
        said = clock(seconds) if seconds is not None else f"{self._held[path]:g} s" if path in self._held else ""
        entry.setText(Path(path).name + (f" · {said}" if said else ""))

    def _selected_photos(self) -> list[str]:
        return [path for path in (entry.data(Qt.ItemDataRole.UserRole) for entry in self.shown.selectedItems())
                if path not in self.item.file_durations]

    def _order(self, files: list[str]) -> None:
        chosen = self.shown.selectedItems()
        entries = {self.shown.item(row).data(Qt.ItemDataRole.UserRole): self.shown.item(row)
                   for row in range(self.shown.count())}
        while self.shown.count():
            self.shown.takeItem(0)
        for path in files:
            self.shown.addItem(entries[path])
        self.said.clear()
        self._reselect(chosen)

    def _reselect(self, chosen: list[QListWidgetItem]) -> None:
        for entry in chosen:
            entry.setSelected(True)
        if chosen:
            self.shown.scrollToItem(chosen[0])
        self._update()

    def _update(self, *_) -> None:
        files = self.files()
        photos = sum(path not in self.item.file_durations for path in files)
        seconds = replace(self.item, path=files[0], parts=files[1:], photo_seconds=self.seconds.value(),
                          held=self.held(), film_length=self.film_length()).film_seconds()
        self.seconds.setEnabled(not self.film_length())  # the length sets the photos' seconds
        videos = len(files) - photos
        counted = f"{photos} photo{'s' * (photos != 1)}" + (f", {videos} video{'s' * (videos != 1)}" if videos else "")
        self.summary.setText(f"{counted} · about {clock(seconds)}")
        rows = sorted(self.shown.row(entry) for entry in self.shown.selectedItems())
        # a selection gathered at the start (or end) has nowhere earlier (later) to go
        self.earlier.setEnabled(bool(rows) and rows != list(range(len(rows))))
        self.later.setEnabled(bool(rows) and rows != list(range(len(files) - len(rows), len(files))))
        self.leave_out.setEnabled(bool(rows) and len(files) - len(rows) >= 2)
        chosen = self._selected_photos()
        self.hold.setEnabled(bool(chosen))
        self.hold.blockSignals(True)  # showing the selection's time changes none
        self.hold.setValue(self._held.get(chosen[0], self.hold.minimum()) if chosen else self.hold.minimum())
        self.hold.blockSignals(False)
