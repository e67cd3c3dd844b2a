"""Play the selected item with its new soundtrack before exporting.

Qt Multimedia (from PySide6-Addons) plays video and sound. Where it cannot load (on Linux it needs the PulseAudio
client library, libpulse0), the pane shows the item's picture and says why it cannot play.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QStackedLayout, QVBoxLayout, QWidget

from cotvtm_desktop.gui.queue import QueueItem
from cotvtm_desktop.gui.soundtrack_bar import SoundtrackBar

LONG_SECONDS = 60.0  # a file this long gets the soundtrack bar's zoom named in its words


def _multimedia():
    """(QMediaPlayer, QAudioOutput, QVideoWidget or None) or the reason they cannot be used."""
    try:
        from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer
    except ImportError as exc:
        return f"Qt Multimedia could not load ({exc}); on Linux install libpulse0"
    try:
        from PySide6.QtMultimediaWidgets import QVideoWidget
    except ImportError:
        QVideoWidget = None
    return QMediaPlayer, QAudioOutput, QVideoWidget, bool(QMediaDevices.audioOutputs())


class PreviewPane(QWidget):
    playing_at = Signal(float)  # the play position moved (playing, or sought), seconds
    def __init__(self, score_args: Callable[[], list[str]] = list, parent: QWidget | None = None):
        """`score_args`: the settings' score options now, to say when a preview was made with others."""
        super().__init__(parent)
        self.score_args = score_args
        self.player = None
        self.thumbnail = ""  # the picture shown
        self.shown: tuple[str, str, str] | None = None  # (item id, its picture, its preview) on show
        layout = QVBoxLayout(self)
        self.stack = QStackedLayout()
        self.picture = QLabel("No preview yet", alignment=Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(320, 180)
        self.stack.addWidget(self.picture)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        controls = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setEnabled(False)
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setEnabled(False)
        controls.addWidget(self.play_button)
        controls.addWidget(self.position, 1)
        self.bar = SoundtrackBar()
        self.bar.seek.connect(self.play_from)
        self.bar_note = QLabel("")
        self.bar_note.setWordWrap(True)
        layout.addLayout(self.stack, 1)
        layout.addLayout(controls)
        layout.addWidget(self.bar)
        layout.addWidget(self.bar_note)
        layout.addWidget(self.note)
        found = _multimedia()
        if isinstance(found, str):
            self.unavailable = found
            self.note.setText(f"Playback unavailable: {found}. The exported file plays in any player.")
            return
        self.unavailable = ""
        player_class, audio_class, video_class, has_speakers = found
        self.player = player_class(self)
        self.audio = audio_class(self)
        self.player.setAudioOutput(self.audio)
        if video_class is not None:
            self.video = video_class()
            self.stack.addWidget(self.video)
            self.player.setVideoOutput(self.video)
        else:
            self.video = None
            self.note.setText("Video playback unavailable (Qt Multimedia Widgets missing): sound only.")
        if not has_speakers:
            self.note.setText("No sound output device found: the preview plays without sound.")
        self.play_button.clicked.connect(self.toggle)
        self.player.durationChanged.connect(lambda ms: self.position.setRange(0, ms))
        self.player.positionChanged.connect(self._moved)
        self.position.sliderMoved.connect(self.player.setPosition)
        self.player.errorOccurred.connect(lambda error, text: self.note.setText(f"Cannot play the preview: {text}"))

    def show_item(self, item: QueueItem | None) -> None:
        """The item's picture, and its preview loaded for playing where there is one. The item already shown, with
        the same picture and preview, is left as it is: news about it (its segments' pictures arriving after a
        preview, say) must not stop what is playing."""
        shown = (item.id, item.thumbnail, item.preview) if item else None
        if shown is not None and shown == self.shown:
            self.show_soundtrack(item)
            return
        self.stop()
        self.shown = shown
        self.thumbnail = item.thumbnail if item else ""
        picture = QPixmap(self.thumbnail) if self.thumbnail else QPixmap()
        if picture.isNull():
            self.picture.setText("Preview to hear the music" if item else "No file selected")
        else:
            self.picture.setPixmap(picture.scaled(480, 270, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))
        self.stack.setCurrentWidget(self.picture)
        ready = bool(item and item.preview and self.player is not None)
        self.play_button.setEnabled(ready)
        self.position.setEnabled(ready)
        if ready:
            self.player.setSource(QUrl.fromLocalFile(item.preview))
        self.bar.show_item(item)
        self.show_soundtrack(item)

    def show_soundtrack(self, item: QueueItem | None) -> None:
        """The soundtrack bar's words: how to use it, and whether the stretches chosen were heard yet."""
        self.bar.update()
        if self.bar.item is None:
            self.bar_note.setText("")
            return
        chosen = len(item.silences)
        text = ("Drag across the bar to choose a stretch without music (a speech, a song sung), or press I and O "
                "where it starts and ends as the preview plays; a click plays from there." if not chosen else
                f"{chosen} stretch{'es' if chosen > 1 else ''} without music (hatched; right-click one to give it "
                "music again).")
        if item.levels:
            text += " Grey: the original sound's loudness; blue: the music's."
        if item.voices:
            text += " Orange: where the music dips for a voice."
        if item.silences_unheard():
            text += " Changed: preview to hear it."
        if item.settings_unheard(self.score_args()):
            text += " The settings changed since this preview: preview to hear them (an export uses them)."
        if item.duration > LONG_SECONDS:
            text += " The wheel zooms (Ctrl+0: all of it)."
        self.bar_note.setText(text)

    def toggle(self) -> None:
        if self.player is None:
            return
        if self.player.playbackState() == self.player.PlaybackState.PlayingState:
            self.player.pause()
            self.play_button.setText("Play")
        else:
            if self.video is not None:
                self.stack.setCurrentWidget(self.video)
            self.player.play()
            self.play_button.setText("Pause")

    def play_from(self, seconds: float) -> None:
        """Play the loaded preview from `seconds`."""
        if self.player is None or not self.play_button.isEnabled():
            return
        self.player.setPosition(round(seconds * 1000))
        if self.player.playbackState() != self.player.PlaybackState.PlayingState:
            self.toggle()

    def stop(self) -> None:
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())
        self.play_button.setText("Play")
        self.shown = None  # shown again in full next time

    def _moved(self, ms: int) -> None:
        if not self.position.isSliderDown():
            self.position.setValue(ms)
        self.bar.set_position(ms / 1000)
        self.playing_at.emit(ms / 1000)
