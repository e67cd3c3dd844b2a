"""The segment strip: one tile per segment with its picture, time range and music, and the buttons that steer it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QIcon, QPixmap
from PySide6.QtWidgets import (QFrame, QGridLayout, QHBoxLayout, QLabel, QMenu, QPushButton, QScrollArea,
                               QSizePolicy, QToolButton, QVBoxLayout, QWidget)

from cotvtm_desktop.brief import level_words, summary_line
from cotvtm_desktop.gui.queue import QueueItem, SegmentState
from cotvtm_desktop.media.segments import clock, follows_notes

TILE_WIDTH = 260
MIN_HEIGHT = 300  # the strip's, before a preview has made tiles


def time_range(segment: SegmentState) -> str:
    return f"{clock(segment.start)}–{clock(segment.end)}"


def brief_summary(segment: SegmentState) -> str:
    """genre · tempo · key · intensity, with the user's changes applied."""
    if segment.silent:
        return "no music (muted)"
    if segment.in_silence:
        return "no music (a stretch you chose on the soundtrack bar)"
    line = summary_line({**(segment.brief or {}), **segment.brief_changes})
    return " · ".join(part for part in (line, level_words(segment.music_db)) if part)


def picture_and_sound_notes(segment: SegmentState) -> str:
    """How the segment's music follows the video beyond its brief: the cuts inside it that it hits, where its
    melody rests for a voice; one line each, empty when neither."""
    return "\n".join(follows_notes(segment.hits, segment.voices))


class SegmentTile(QFrame):
    regenerate = Signal(int)
    edit = Signal(int)
    lock = Signal(int, bool)
    mute = Signal(int, bool)
    play = Signal(int)
    back = Signal(int)

    def __init__(self, segment: SegmentState, parent: QWidget | None = None):
        super().__init__(parent)
        self.index = segment.index
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(TILE_WIDTH)
        self.setObjectName("tile")  # the strip's style sheet outlines the playing one
        layout = QVBoxLayout(self)
        self.picture = QToolButton(autoRaise=True)  # its picture: click it to hear the segment in the preview
        self.picture.setFixedHeight(76)
        self.picture.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.picture.setToolTip("Play the preview from this segment")
        if segment.thumbnail:
            pixmap = QPixmap(segment.thumbnail).scaledToHeight(72, Qt.TransformationMode.SmoothTransformation)
            self.picture.setIcon(QIcon(pixmap))
            self.picture.setIconSize(pixmap.size())
        else:
            self.picture.setText("▶")
        self.picture.clicked.connect(lambda: self.play.emit(self.index))
        self.title = QLabel(f"<b>{segment.index + 1}</b>  {time_range(segment)}")
        self.state = QLabel("")
        self.summary = QLabel(brief_summary(segment))
        self.summary.setWordWrap(True)
        self.follows = QLabel(picture_and_sound_notes(segment))
        self.follows.setWordWrap(True)
        self.follows.setToolTip("A scene cut inside this segment gets an accent in the music, and the melody makes "
                                "room where someone speaks in the original sound (procedural backend)")
        self.follows.setVisible(bool(segment.hits or segment.voices))
        self.description = QLabel(segment.prompt or segment.description)
        self.description.setWordWrap(True)
        self.description.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.description.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.description.setToolTip(segment.description)
        self.show_changes(segment)
        buttons = QGridLayout()  # two rows: four buttons side by side would not fit the tile's width
        # a split button: a click makes new music, its menu goes back to the music a click replaced
        self.regenerate_button = QToolButton(text="Regenerate",
                                             popupMode=QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.regenerate_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.regenerate_button.setToolTip("New music for this segment only (a new seed); its menu goes back to the "
                                          "music before")
        self.back_action = QAction("Back to the music before", self)
        self.has_earlier = bool(segment.earlier_seeds)
        menu = QMenu(self.regenerate_button)
        menu.addAction(self.back_action)
        self.regenerate_button.setMenu(menu)
        self.back_action.triggered.connect(lambda: self.back.emit(self.index))
        self.edit_button = QPushButton("Edit…")
        self.lock_button = QPushButton("Lock")
        self.lock_button.setCheckable(True)
        self.lock_button.setChecked(segment.locked)
        self.lock_button.setToolTip("Keep this segment's music whatever else changes")
        self.mute_button = QPushButton("Mute")
        self.mute_button.setCheckable(True)
        self.mute_button.setChecked(segment.silent or segment.in_silence)
        self.mute_button.setToolTip("No music in this segment (a toast, a song sung): the music before ends here "
                                    "and the next begins afresh")
        for k, button in enumerate((self.regenerate_button, self.edit_button, self.lock_button, self.mute_button)):
            buttons.addWidget(button, k // 2, k % 2)
        buttons.setColumnStretch(0, 1)
        buttons.setColumnStretch(1, 1)
        self.regenerate_button.clicked.connect(lambda: self.regenerate.emit(self.index))
        self.edit_button.clicked.connect(lambda: self.edit.emit(self.index))
        self.lock_button.toggled.connect(lambda on: self.lock.emit(self.index, on))
        self.mute_button.toggled.connect(lambda on: self.mute.emit(self.index, on))
        self.mute_button.toggled.connect(lambda on: self.enable(self.idle))
        self.idle = True  # no job runs (the window says otherwise through enable)
        self._locked(segment.locked)
        for widget in (self.picture, self.title, self.summary, self.follows, self.description, self.state):
            layout.addWidget(widget)
        layout.addLayout(buttons)

    def menu(self) -> QMenu:
        """Its buttons' actions as a menu (the soundtrack bar's right click on the segment), enabled as they are."""
        menu = QMenu(self)
        play = menu.addAction("Play from here")
        play.triggered.connect(lambda: self.play.emit(self.index))
        menu.addSeparator()
        for text, button in ((self.regenerate_button.text(), self.regenerate_button),
                             (self.edit_button.text(), self.edit_button),
                             ("Unlock" if self.lock_button.isChecked() else "Lock", self.lock_button),
                             ("Give it music again" if self.mute_button.isChecked() else "Mute", self.mute_button)):
            action = menu.addAction(text)
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
            if button is self.regenerate_button:
                menu.addAction(self.back_action)  # the split button's own menu
        return menu

    def show_changes(self, segment: SegmentState) -> None:
        """Its music as the user has now set it, and whether the last preview made it so."""
        self.summary.setText(brief_summary(segment))
        self.state.setText("edited: preview to hear it" if segment.unheard() else "")

    def _locked(self, locked: bool) -> None:
        self.enable(self.idle)
        self.lock_button.setText("Locked" if locked else "Lock")

    def enable(self, idle: bool) -> None:
        """The buttons that change the music: none while a job runs; a locked or muted segment's music is not
        regenerated or edited."""
        self.idle = idle
        free = idle and not self.lock_button.isChecked() and not self.mute_button.isChecked()
        self.regenerate_button.setEnabled(free)
        self.back_action.setEnabled(free and self.has_earlier)
        self.edit_button.setEnabled(free)
        self.mute_button.setEnabled(idle)

    def set_state(self, text: str) -> None:
        self.state.setText(text)


class Tiles(Sequence):
    """A strip's tiles by segment index, each made the first time it is wanted (scrolled into view, or asked for):
    made all at once, a two-hour video's 720 tiles froze the window for about 3 s on each selection and edit
    (benchmarks/segment_strip.py)."""

    def __init__(self, make: Callable[[int], SegmentTile], count: int, made: Callable[[SegmentTile], None]):
        """`make(index)` makes a tile; `made(tile)` is told of it once it is in `made` (what it does may make
        others: asking for this one again then finds it)."""
        self._make, self._count, self._told = make, count, made
        self.made: dict[int, SegmentTile] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> SegmentTile:
        if not -self._count <= index < self._count:
            raise IndexError(index)
        index %= self._count
        if index not in self.made:
            self.made[index] = self._make(index)
            self._told(self.made[index])
        return self.made[index]


class SegmentStrip(QScrollArea):
    """All tiles of the selected item, side by side, scrolling sideways; a tile is made as it comes into view."""

    regenerate = Signal(int)
    edit = Signal(int)
    lock = Signal(int, bool)
    mute = Signal(int, bool)
    play = Signal(int)
    back = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.idle = True  # no job runs: the tiles' buttons that change the music are enabled
        self.item_id = self.shown_status = ""
        self.playing: int | None = None  # the index of the tile outlined as playing
        self.setStyleSheet('QFrame#tile[playing="true"] { border: 2px solid palette(highlight); border-radius: 3px; }')
        self.horizontalScrollBar().valueChanged.connect(lambda _: self._make_tiles_in_view())
        self.show_item(None)

    def show_item(self, item: QueueItem | None) -> None:
        """Tiles for `item`'s segments; the same item shown again (after an edit, a preview) keeps its scroll."""
        kept = self.horizontalScrollBar().value() if item is not None and item.id == self.item_id else 0
        self.item_id = item.id if item else ""
        self.playing = None
        self.shown_status = item.status if item else ""
        self.segments = list(item.segments) if item else []
        self.states: dict[int, str] = {}  # a tile's state line, said before the tile was made
        content = QWidget()
        self.row = QHBoxLayout(content)
        places = []  # where each tile goes, TILE_WIDTH wide, empty until it is made
        if not self.segments:
            if item is None:
                hint = "Add videos or images (drop them here, or Add…), then Preview."
            elif item.status in ("working", "queued"):
                hint = "Making the music… the segments appear here when it is ready."
            else:
                hint = "Press Preview: this file's segments appear here, each with its music."
            self.row.addWidget(QLabel(hint, alignment=Qt.AlignmentFlag.AlignCenter))
        for _ in self.segments:
            place = QWidget()
            place.setFixedWidth(TILE_WIDTH)
            QVBoxLayout(place).setContentsMargins(0, 0, 0, 0)
            places.append(place)
            self.row.addWidget(place)
        if self.segments:
            self.row.addStretch(1)
        self.tiles = Tiles(self._make_tile, len(self.segments), self._fit_tile)
        self.setMinimumHeight(MIN_HEIGHT)
        self.places: list[QWidget] = []  # none yet: setting the content scrolls to its start, making no tile there
        self.setWidget(content)
        self.places = places
        self.horizontalScrollBar().setValue(kept)
        self._make_tiles_in_view()

    def _make_tile(self, index: int) -> SegmentTile:
        tile = SegmentTile(self.segments[index])
        for signal, to in ((tile.regenerate, self.regenerate), (tile.edit, self.edit), (tile.lock, self.lock),
                           (tile.mute, self.mute), (tile.play, self.play), (tile.back, self.back)):
            signal.connect(to)
        tile.lock.connect(lambda _, on, t=tile: t._locked(on))
        tile.enable(self.idle)
        if index in self.states:
            tile.set_state(self.states[index])
        if index == self.playing:
            self._outline(tile, True)
        self.places[index].layout().addWidget(tile)
        return tile

    def _make_tiles_in_view(self) -> None:
        """Make the tiles in view, and a view's width of them either side (so a scroll shows them made)."""
        if not self.places:
            return
        pitch = TILE_WIDTH + max(self.row.spacing(), 0)
        left, width = self.horizontalScrollBar().value() - self.row.contentsMargins().left(), self.viewport().width()
        first, last = max(0, (left - width) // pitch), min(len(self.places) - 1, (left + 2 * width) // pitch)
        for index in range(first, last + 1):
            self.tiles[index]  # made as it is asked for

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._make_tiles_in_view()

    def _fit_tile(self, tile: SegmentTile) -> None:
        """Ask for the height the tallest tile made so far needs at its width (a tile's words wrap: a layout's plain
        size hint would not know their height), so the window's splitter gives the strip room for its buttons."""
        margins = self.row.contentsMargins().top() + self.row.contentsMargins().bottom() + 2 * self.frameWidth()
        needed = tile.heightForWidth(TILE_WIDTH) + margins + self.horizontalScrollBar().sizeHint().height()
        self.setMinimumHeight(max(self.minimumHeight(), needed))

    def enable(self, idle: bool) -> None:
        """The tiles' buttons that change the music: none while a job runs (SegmentTile.enable)."""
        self.idle = idle
        for tile in self.tiles.made.values():
            tile.enable(idle)

    def mark_playing(self, index: int | None) -> None:
        """Outline the tile of the segment the preview plays (None: none) and bring it into view, once as it starts
        playing (the user may scroll away while it plays)."""
        if index == self.playing:
            return
        self.playing = index
        for tile in self.tiles.made.values():
            self._outline(tile, tile.index == index)
        if index is not None:
            self.ensureWidgetVisible(self.tiles[index])

    @staticmethod
    def _outline(tile: SegmentTile, playing: bool) -> None:
        if tile.property("playing") != playing:
            tile.setProperty("playing", playing)
            tile.style().unpolish(tile)  # the style sheet's [playing="true"] follows the property
            tile.style().polish(tile)

    def set_segment_state(self, index: int, text: str) -> None:
        self.states[index] = text
        if index in self.tiles.made:
            self.tiles.made[index].set_state(text)
