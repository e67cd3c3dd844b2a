"""Edit one segment: its music elements (procedural backend) or words for its music (neural backend), and how loud
its music is (either backend)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cotvtm_desktop import config
from cotvtm_desktop.brief import NOTE_NAMES, PARTS
from cotvtm_desktop.gui.queue import SegmentState
from cotvtm_desktop.gui.segment_strip import time_range
from cotvtm_desktop.reasoning.rules import CHOSEN_INSTRUMENTS, band_of, music_rules, tempo_for


def genres() -> list[str]:
    return list(music_rules()["genres"])


INSTRUMENT_PARTS = {"lead": ("melody", "tune"), "chords": ("chords", "chords"),
                    "bass": ("bass", "bass line")}  # a brief's chosen instrument: its part, what it plays in words


def instrument_choice(field_name: str) -> QComboBox:
    """The instrument for a part (`field_name`: lead, chords or bass): the genre's own (first, data "") or one of
    music_rules.json's list for it."""
    combo = QComboBox()
    combo.addItem("the genre's", "")
    for name in music_rules()[CHOSEN_INSTRUMENTS[field_name]]:
        combo.addItem(name, name)
    combo.setToolTip(f"The instrument that plays the {INSTRUMENT_PARTS[field_name][1]}")
    return combo


class PartChoice(QWidget):
    """A checkbox per part of the music (brief.PARTS): those unchecked are left out."""

    changed = Signal()

    def __init__(self, without: list[str] = ()):
        super().__init__()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.boxes = {part: QCheckBox(part) for part in PARTS}
        for part, box in self.boxes.items():
            box.setChecked(part not in without)
            box.toggled.connect(self.changed)
            row.addWidget(box)
        row.addStretch()

    def without(self) -> list[str]:
        return [part for part, box in self.boxes.items() if not box.isChecked()]


class SegmentDialog(QDialog):
    """Shows the segment's brief as the last preview made it, with the user's changes; `changes()` and `prompt()`
    read the result."""

    def __init__(self, segment: SegmentState, parent: QWidget | None = None):
        super().__init__(parent)
        self.segment = segment
        self.setWindowTitle(f"Segment {segment.index + 1} ({time_range(segment)})")
        brief = {"lead": "", "chords": "", "bass": "", "without": [], **(segment.brief or {}),
                 **segment.brief_changes}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.genre = QComboBox()
        self.genre.addItems(genres())
        self.tempo = QDoubleSpinBox(decimals=0, minimum=40, maximum=220, suffix=" BPM")
        self.key = QComboBox()
        self.key.addItems(NOTE_NAMES)
        self.mode = QComboBox()
        self.mode.addItems(["major", "minor"])
        self.intensity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        # the parts' instruments: each first item, the genre's own, is named by _follow_genre
        self.instruments = {name: instrument_choice(name) for name in INSTRUMENT_PARTS}
        self.lead = self.instruments["lead"]
        self.part_choice = PartChoice(brief["without"])
        self.parts = self.part_choice.boxes
        self.part_choice.changed.connect(self._check_parts)
        self.no_part = QLabel("Keep at least one part playing (or Mute the segment).")
        self.no_part.setVisible(False)
        editable = (self.genre, self.tempo, self.key, self.mode, self.intensity, *self.instruments.values(),
                    *self.parts.values())
        if segment.brief:
            self.genre.setCurrentText(brief["genre"])
            self.tempo.setValue(float(brief["tempo_bpm"]))
            self.key.setCurrentText(brief["key"])
            self.mode.setCurrentText(brief["mode"])
            self.intensity.setValue(round(100 * float(brief["intensity"])))
            for name, combo in self.instruments.items():
                combo.setCurrentIndex(max(0, combo.findData(brief[name])))
            self._follow_genre()
            self.genre.currentTextChanged.connect(self._genre_chosen)
        else:
            for widget in editable:
                widget.setEnabled(False)
            form.addRow(QLabel("This backend has no music brief to edit; describe the music in words below."))
        self.shown = self._chosen()  # what the dialog opened with: a field the user changes from it is an edit
        form.addRow("Genre", self.genre)
        form.addRow("Tempo", self.tempo)
        form.addRow("Key", self.key)
        form.addRow("Mode", self.mode)
        form.addRow("Intensity", self.intensity)
        for name, combo in self.instruments.items():
            form.addRow(name.capitalize(), combo)
        form.addRow("Parts", self.part_choice)
        form.addRow(self.no_part)
        self.words = QPlainTextEdit(segment.prompt)
        self.words.setPlaceholderText("e.g. a gentle acoustic guitar with soft hand percussion")
        self.words.setFixedHeight(70)
        form.addRow("Prompt (neural)", self.words)
        low, high = config.MUSIC_LEVEL_RANGE_DB
        self.music_db = QDoubleSpinBox(decimals=0, minimum=low, maximum=high, suffix=" dB")
        self.music_db.setValue(segment.music_db)
        self.music_db.setToolTip("This segment's music louder (+) or quieter (−) than the mix would put it (0: where "
                                 "the mix puts it); the rest of the music stays where it is")
        form.addRow("Music level", self.music_db)
        layout.addLayout(form)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

    def _genre_chosen(self) -> None:
        """A new genre brings its tempo for the picture's pace (as the backend gives it), unless a tempo was set."""
        if "tempo_bpm" not in self.segment.brief_changes and self.tempo.value() == self.shown["tempo_bpm"]:
            genre = music_rules()["genres"][self.genre.currentText()]
            self.tempo.setValue(round(tempo_for(genre, float(self.segment.brief["arousal"]))))
            self.shown["tempo_bpm"] = self.tempo.value()  # not the user's edit: it follows the genre
        self._follow_genre()

    def _follow_genre(self) -> None:
        """Name the genre's own instruments, and grey out the parts it does not have."""
        band = band_of(self.genre.currentText())
        has = {"melody": band.melody, "chords": band.chords, "bass": band.bass, "pad": band.pad, "drums": band.drums}
        for name, combo in self.instruments.items():
            own = has[INSTRUMENT_PARTS[name][0]]
            combo.setItemText(0, f"the genre's ({own[1]})" if own else "the genre's (none)")
        for part, box in self.parts.items():
            box.setEnabled(bool(has[part]))
            box.setToolTip("" if has[part] else f"{self.genre.currentText()} has no {part}")
        self._check_parts()

    def _check_parts(self) -> None:
        """OK only while some part plays; a part's instrument only while it plays."""
        playing = any(box.isChecked() and box.isEnabled() for box in self.parts.values())
        self.no_part.setVisible(not playing)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(playing)
        for name, combo in self.instruments.items():
            box = self.parts[INSTRUMENT_PARTS[name][0]]
            combo.setEnabled(bool(self.segment.brief) and box.isChecked() and box.isEnabled())

    def _chosen(self) -> dict:
        return {"genre": self.genre.currentText(), "tempo_bpm": self.tempo.value(), "key": self.key.currentText(),
                "mode": self.mode.currentText(), "intensity": self.intensity.value() / 100,
                **{name: combo.currentData() for name, combo in self.instruments.items()},
                "without": self.part_choice.without()}

    def changes(self) -> dict:
        """The segment's brief changes: those it had, and each field the user changed here."""
        if not self.segment.brief:
            return {}
        same = {"tempo_bpm": lambda a, b: round(float(a)) == round(float(b)),
                "intensity": lambda a, b: round(100 * float(a)) == round(100 * float(b))}
        edited = {k: v for k, v in self._chosen().items() if not same.get(k, lambda a, b: a == b)(v, self.shown[k])}
        return {**self.segment.brief_changes, **edited}

    def prompt(self) -> str:
        return self.words.toPlainText().strip()

    def level(self) -> float:
        """The segment's music level in dB (0: where the mix puts it)."""
        return self.music_db.value()
