"""The soundtrack bar: the selected file's whole length under the player, and where the user chooses stretches without
music (a speech, a song sung, a toast) by dragging across it.

It shows the last preview's segments (numbered, as the tiles are), the loudness of its music and of the original
sound along it (the manifest's `levels`: the original's as a grey area, the music's as a line over it, as an editor
draws a track's level), the stretches the user asked to have no music in (hatched; they take effect at the next
preview: `--silent-at`), where the music dips under a voice in the original sound, and the play position. A click
plays from there; a drag chooses a stretch, whose menu sets it without music or gives it music again. Ends snap to a
scene cut nearby, as a silence usually belongs to a shot. While the preview plays, I and O mark a stretch's start
and end where it is (an editor's in and out points): the moment a speech begins is easier to catch by watching than
by dragging.

A long video (a wedding's speeches) is seen closer by zooming: the wheel zooms around the pointer, sideways (or
Shift and the wheel) moves along; Ctrl and +, - and 0 zoom around the play position and back to the whole. While
zoomed, a thin thumb at the foot shows where the view lies, and the view follows the play position off its edge.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (QAction, QBrush, QColor, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPen, QPolygonF,
                           QWheelEvent)
from PySide6.QtWidgets import QMenu, QToolTip, QWidget

from cotvtm_desktop.gui.queue import QueueItem
from cotvtm_desktop.media.segments import clock, joined

BAR_HEIGHT = 58
DRAG_PIXELS = 4  # a press that moves less than this is a click
SNAP_PIXELS = 6  # an end of a chosen stretch this close to a scene cut moves onto it
# shares of the height: segments above, the loudness of the music and the original sound, voices below, and at the
# foot where a zoomed view lies in the whole
SEGMENT_ROW, LEVEL_ROW, VOICE_ROW, VIEW_ROW = (0.0, 0.34), (0.38, 0.82), (0.84, 0.92), (0.95, 1.0)
ZOOM_STEP = 1.25  # one notch of the wheel
MIN_VIEW_SECONDS = 5.0  # zoomed in as far as it goes
PAN_SHARE = 0.1  # one notch sideways moves the view by this share of it
FOLLOW_MARGIN = 0.1  # the play position, run off the view's edge, reappears this share of it from the left
LEVEL_RANGE_DB = (-50.0, -6.0)  # momentary loudness at the level row's foot and top (a -16 LUFS mix peaks near -8)
SEGMENT_COLOURS = ("#8fb3d9", "#6b95c4")
ORIGINAL_LEVEL_COLOUR, MUSIC_LEVEL_COLOUR = "#b4b4b4", "#1f5fa8"
SILENCE_COLOUR, VOICE_COLOUR, PLAYHEAD_COLOUR = "#9a9a9a", "#e0913a", "#d62828"
SELECTION_COLOUR = QColor(255, 214, 10, 110)


def with_silence(silences: list[list[float]], start: float, end: float) -> list[list[float]]:
    """The stretches without music with [start, end] added: sorted, overlapping ones joined."""
    return joined([*silences, [start, end]])


def without_silence(silences: list[list[float]], start: float, end: float) -> list[list[float]]:
    """The stretches without music with [start, end] given music again (a stretch it splits becomes two)."""
    kept = []
    for a, b in silences:
        kept += [[a, min(b, start)]] if a < start else []
        kept += [[max(a, end), b]] if b > end else []
    return [s for s in kept if s[1] > s[0]]


class SoundtrackBar(QWidget):
    seek = Signal(float)  # seconds: play from there
    silences_changed = Signal(list)  # the item's new stretches without music, [[start, end], ...]
    segment_menu = Signal(int, QPoint)  # a right click on a segment outside any stretch: its index, where

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setFixedHeight(BAR_HEIGHT)
        self.setMouseTracking(True)  # the time under the pointer shows as a tooltip
        self.item: QueueItem | None = None
        self.position = 0.0
        self.selection: tuple[float, float] | None = None
        self._pressed_at: float | None = None
        self.marked: float | None = None  # a stretch's start marked at the play position (I), awaiting its end
        self.menu: QMenu | None = None
        self.view = (0.0, 1.0)  # the seconds from and to which the bar shows the file (all of it unless zoomed)
        self.setToolTip("Drag to choose a stretch (or press I and O while it plays); right-click a stretch or a "
                        "segment for its menu; the wheel zooms")
        self.show_item(None)

    def show_item(self, item: QueueItem | None) -> None:
        """An item with a length (a video or a project; an image's music has no timeline to choose from). The same
        item again (its new preview) keeps the view zoomed as it was."""
        before = self.item
        timed = item is not None and item.kind in ("video", "timeline", "slideshow") and item.duration > 0
        self.item = item if timed else None
        self.selection, self.position, self.marked = None, 0.0, None
        same = before is not None and self.item is not None and (before.id, before.duration) == (
            self.item.id, self.item.duration)
        if not same:
            self.view = (0.0, self.item.duration if self.item is not None else 1.0)
        self.setEnabled(self.item is not None)
        self.update()

    def mark_start(self) -> None:
        """A stretch starts at the play position (its end comes with mark_end)."""
        if self.item is not None:
            self.marked = self.snapped(self.position)
            self.selection = (self.marked, self.marked)
            self.update()

    def mark_end(self) -> QMenu | None:
        """The stretch marked ends at the play position: its menu opens under it, as after a drag."""
        if self.item is None or self.marked is None:
            return None
        start, end = sorted((self.marked, self.snapped(self.position)))
        self.marked = None
        if end <= start:
            self._clear_selection()
            return None
        return self.open_menu((start, end), self.mapToGlobal(QPointF(self.x_of(end), self.height()).toPoint()))

    def set_position(self, seconds: float) -> None:
        """The play position; running off the edge of a zoomed view, it takes the view along (unless the user
        moved the view away from it)."""
        start, end = self.view
        if self.zoomed() and start <= self.position <= end and not start <= seconds <= end:
            self._show_from(seconds - FOLLOW_MARGIN * (end - start), end - start)
        self.position = seconds
        self.update()

    # --- zoom -----------------------------------------------------------------------------------------------------
    def zoomed(self) -> bool:
        return self.item is not None and self.view[1] - self.view[0] < self.item.duration - 1e-9

    def zoom(self, factor: float, around: float | None = None) -> None:
        """The view `factor` times closer (under 1: farther), `around` seconds (the play position by default)
        staying where it is on the bar, or in the middle when it was out of view."""
        if self.item is None:
            return
        around = self.position if around is None else around
        start, end = self.view
        span = min(max((end - start) / factor, min(MIN_VIEW_SECONDS, self.item.duration)), self.item.duration)
        share = (around - start) / (end - start) if start <= around <= end else 0.5
        self._show_from(around - share * span, span)

    def pan(self, seconds: float) -> None:
        self._show_from(self.view[0] + seconds, self.view[1] - self.view[0])

    def show_whole(self) -> None:
        if self.item is not None:
            self._show_from(0.0, self.item.duration)

    def _show_from(self, start: float, span: float) -> None:
        start = min(max(start, 0.0), self.item.duration - span)
        self.view = (start, start + span)
        self.update()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if self.item is None:
            return
        delta = event.angleDelta()
        sideways = delta.x() or (delta.y() if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 0)
        if sideways:
            self.pan(-sideways / 120 * PAN_SHARE * (self.view[1] - self.view[0]))
        elif delta.y():
            self.zoom(ZOOM_STEP ** (delta.y() / 120), around=self.seconds_at(event.position().x()))
        event.accept()

    # --- geometry -------------------------------------------------------------------------------------------------
    def seconds_at(self, x: float) -> float:
        if self.item is None or self.width() <= 1:
            return 0.0
        start, end = self.view
        return start + min(max(x / (self.width() - 1), 0.0), 1.0) * (end - start)

    def x_of(self, seconds: float) -> float:
        start, end = self.view
        return 0.0 if self.item is None else (seconds - start) / (end - start) * (self.width() - 1)

    def snapped(self, seconds: float) -> float:
        """`seconds` moved onto a scene cut within SNAP_PIXELS, or onto an end of the file; else to 0.1 s."""
        if self.item is None:
            return seconds
        for edge in (0.0, self.item.duration, *self.item.cuts):
            if abs(self.x_of(edge) - self.x_of(seconds)) <= SNAP_PIXELS:
                return edge
        return round(seconds, 1)

    # --- mouse ----------------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        if self.item is None:
            return
        if event.button() == Qt.MouseButton.RightButton:
            seconds, at = self.seconds_at(event.position().x()), event.globalPosition().toPoint()
            stretch = self._stretch_at(seconds)
            segment = self.item.segment_at(seconds)
            if stretch is not None:
                self.open_menu(stretch, at)
            elif segment is not None:  # the window opens the segment's own menu (its tile's actions)
                self.segment_menu.emit(segment.index, at)
            return
        self._pressed_at = event.position().x()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.item is None:
            return
        x = event.position().x()
        if self._pressed_at is not None and abs(x - self._pressed_at) >= DRAG_PIXELS:
            a, b = sorted((self.seconds_at(self._pressed_at), self.seconds_at(x)))
            self.selection = (self.snapped(a), self.snapped(b))
            self.update()
        QToolTip.showText(event.globalPosition().toPoint(), self._describe(self.seconds_at(x)), self)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.item is None or self._pressed_at is None:
            return
        pressed, self._pressed_at = self._pressed_at, None
        if self.selection is not None and self.selection[1] > self.selection[0]:
            self.open_menu(self.selection, event.globalPosition().toPoint())
        elif abs(event.position().x() - pressed) < DRAG_PIXELS:
            self.seek.emit(self.seconds_at(event.position().x()))

    def open_menu(self, stretch: tuple[float, float] | None, at) -> QMenu | None:
        """The chosen stretch's menu (shown without waiting: the window stays live while it is open)."""
        if self.item is None or stretch is None:
            return None
        self.selection = stretch
        self.update()
        start, end = stretch
        menu = QMenu(self)
        quiet = QAction(f"No music from {clock(start)} to {clock(end)}", menu)
        quiet.triggered.connect(lambda: self._set_silences(with_silence(self.item.silences, start, end)))
        again = QAction(f"Music again from {clock(start)} to {clock(end)}", menu)
        again.triggered.connect(lambda: self._set_silences(without_silence(self.item.silences, start, end)))
        again.setEnabled(any(a < end and b > start for a, b in self.item.silences))
        quiet.setEnabled(not any(a <= start and b >= end for a, b in self.item.silences))
        play = QAction(f"Play from {clock(start)}", menu)
        play.triggered.connect(lambda: self.seek.emit(start))
        menu.addActions([quiet, again])
        menu.addSeparator()
        menu.addAction(play)
        menu.aboutToHide.connect(self._clear_selection)
        self.menu = menu
        menu.popup(at)
        return menu

    def _stretch_at(self, seconds: float) -> tuple[float, float] | None:
        """The stretch a right click is about: the chosen one, else the silence under the pointer."""
        if self.selection is not None and self.selection[0] <= seconds <= self.selection[1]:
            return self.selection
        return next(((a, b) for a, b in self.item.silences if a <= seconds <= b), None)

    def _set_silences(self, silences: list[list[float]]) -> None:
        self.item.silences = [[round(a, 3), round(b, 3)] for a, b in silences]
        self.silences_changed.emit(self.item.silences)
        self.update()

    def _clear_selection(self) -> None:
        self.selection = None
        self.update()

    def _describe(self, seconds: float) -> str:
        """What is at `seconds`, for the tooltip."""
        words = [clock(seconds)]
        segment = self.item.segment_at(seconds)
        if segment is not None:
            words.append(f"segment {segment.index + 1}")
        if any(a <= seconds <= b for a, b in self.item.silences):
            words.append("no music (you chose it)")
        if any(a <= seconds <= b for a, b in self.item.voices):
            words.append("the music dips for a voice")
        levels = self.item.levels
        if levels:
            window = min(int(seconds / levels["seconds"]), len(levels["music"]) - 1)
            heard = [f"music {levels['music'][window]} LUFS"]
            if "original" in levels:
                heard.append(f"original sound {levels['original'][window]} LUFS")
            words.append(", ".join(heard).replace("-", "\N{MINUS SIGN}"))
        return " · ".join(words)

    # --- painting -------------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        painter.fillRect(self.rect(), self.palette().base())
        if self.item is None:
            return
        height = self.height()
        top, bottom = SEGMENT_ROW[0] * height, SEGMENT_ROW[1] * height
        for segment in self.item.segments:
            rect = self._span(segment.start, segment.end, top, bottom)
            silent = segment.silent or segment.in_silence
            painter.fillRect(rect, QColor(SILENCE_COLOUR if silent else SEGMENT_COLOURS[segment.index % 2]))
            if rect.width() > 16:
                painter.setPen(QColor("white"))
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(segment.index + 1))
        self._paint_levels(painter, LEVEL_ROW[0] * height, LEVEL_ROW[1] * height)
        hatch = QBrush(QColor("#404040"), Qt.BrushStyle.BDiagPattern)
        for a, b in self.item.silences:  # as asked now: the segments above are the last preview's
            rect = self._span(a, b, 0, height)
            painter.fillRect(rect, QColor(SILENCE_COLOUR))
            painter.fillRect(rect, hatch)
        for a, b in self.item.voices:
            painter.fillRect(self._span(a, b, VOICE_ROW[0] * height, VOICE_ROW[1] * height), QColor(VOICE_COLOUR))
        painter.setPen(QPen(QColor("#303030")))
        for cut in self.item.cuts:
            x = self.x_of(cut)
            painter.drawLine(QPointF(x, 0), QPointF(x, 4))
        if self.selection is not None:
            painter.fillRect(self._span(*self.selection, 0, height), SELECTION_COLOUR)
        if self.zoomed():  # where the view lies in the whole
            whole = self.item.duration / (self.width() - 1)
            top, bottom = VIEW_ROW[0] * height, VIEW_ROW[1] * height
            painter.fillRect(QRectF(0, top, self.width(), bottom - top), QColor("#d8d8d8"))
            painter.fillRect(QRectF(self.view[0] / whole, top, max(3.0, (self.view[1] - self.view[0]) / whole),
                                    bottom - top), QColor("#505050"))
        painter.setPen(QPen(QColor(PLAYHEAD_COLOUR), 2))
        x = self.x_of(self.position)
        painter.drawLine(QPointF(x, 0), QPointF(x, height))

    def _paint_levels(self, painter: QPainter, top: float, bottom: float) -> None:
        """The original sound's loudness as a grey area, the music's as a line over it, one point per pixel."""
        levels = self.item.levels
        if not levels or self.width() < 2:
            return
        xs = np.arange(self.width(), dtype=float)
        if "original" in levels:
            heights = self._level_heights(levels["original"], levels["seconds"], top, bottom)
            outline = [QPointF(x, y) for x, y in zip(xs, heights)]
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(ORIGINAL_LEVEL_COLOUR))
            painter.drawPolygon(QPolygonF([QPointF(0, bottom), *outline, QPointF(xs[-1], bottom)]))
        heights = self._level_heights(levels["music"], levels["seconds"], top, bottom)
        line = QPainterPath(QPointF(0, heights[0]))
        for x, y in zip(xs[1:], heights[1:]):
            line.lineTo(x, y)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.strokePath(line, QPen(QColor(MUSIC_LEVEL_COLOUR), 1.5))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)

    def _level_heights(self, values: list[int], seconds: float, top: float, bottom: float) -> np.ndarray:
        """The y of each pixel column: the loudest of the levels whose windows it covers, on LEVEL_RANGE_DB."""
        columns, (start, end) = self.width(), self.view
        times = start + np.arange(columns + 1) / (columns - 1) * (end - start)  # each column's start, and the end
        bounds = np.minimum((times / seconds).astype(int), len(values) - 1)
        if bounds[-1] == len(values) - 1:  # the last column goes on to the levels' end
            bounds = bounds[:-1]
        # a column reaches to the next one's start; one within a window (zoomed close) takes that window's level
        loudest = np.maximum.reduceat(np.asarray(values, float), bounds)[:columns]
        floor, ceiling = LEVEL_RANGE_DB
        return bottom - np.clip((loudest - floor) / (ceiling - floor), 0.0, 1.0) * (bottom - top)

    def _span(self, start: float, end: float, top: float, bottom: float) -> QRectF:
        x = self.x_of(start)
        return QRectF(x, top, max(1.0, self.x_of(end) - x), bottom - top)
