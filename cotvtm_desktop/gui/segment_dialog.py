"""Edit one segment: its music elements (procedural backend) or words for its music (neural backend), and how loud
its music is (either backend)."""

from __future__ import annotations

import json
from functools import lru_cache

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPlainTextEdit,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cotvtm_desktop import config
from cotvtm_desktop.brief import NOTE_NAMES
from cotvtm_desktop.gui.queue import SegmentState
from cotvtm_desktop.gui.segment_strip import time_range


@lru_cache(maxsize=1)
def genres() -> list[str]:
    return list(json.loads(config.resource_path("music_rules.json").read_text())["genres"])


class SegmentDialog(QDialog):
    """Shows the segment's brief as measured, with the user's changes; `changes()` and `prompt()` read the result."""

    def __init__(self, segment: SegmentState, parent: QWidget | None = None):
        super().__init__(parent)
        self.segment = segment
        self.setWindowTitle(f"Segment {segment.index + 1} ({time_range(segment)})")
        brief = {**(segment.brief or {}), **segment.brief_changes}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.genre = QComboBox()
        self.genre.addItems(genres())
        self.tempo = QDoubleSpinBox(decimals=0, minimum=40, maximum=220, suffix=" BPM")
        self.key = QComboBox()
        self.key.addItems(NOTE_NAMES)
        self.mode = QComboBox()
        self.mode.addItems(["major", "minor"])
        self.intensity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        if brief:
            self.genre.setCurrentText(brief["genre"])
            self.tempo.setValue(float(brief["tempo_bpm"]))
            self.key.setCurrentText(brief["key"])
            self.mode.setCurrentText(brief["mode"])
            self.intensity.setValue(round(100 * float(brief["intensity"])))
        else:
            for widget in (self.genre, self.tempo, self.key, self.mode, self.intensity):
                widget.setEnabled(False)
            form.addRow(QLabel("This backend has no music brief to edit; describe the music in words below."))
        form.addRow("Genre", self.genre)
        form.addRow("Tempo", self.tempo)
        form.addRow("Key", self.key)
        form.addRow("Mode", self.mode)
        form.addRow("Intensity", self.intensity)
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
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def changes(self) -> dict:
        """The fields that differ from the measured brief."""
        measured = self.segment.brief
        if not measured:
            return {}
        chosen = {"genre": self.genre.currentText(), "tempo_bpm": self.tempo.value(), "key": self.key.currentText(),
                  "mode": self.mode.currentText(), "intensity": self.intensity.value() / 100}
        same = {"tempo_bpm": lambda a, b: round(float(a)) == round(float(b)),
                "intensity": lambda a, b: round(100 * float(a)) == round(100 * float(b))}
        return {k: v for k, v in chosen.items() if not same.get(k, lambda a, b: a == b)(v, measured[k])}

    def prompt(self) -> str:
        return self.words.toPlainText().strip()

    def level(self) -> float:
        """The segment's music level in dB (0: where the mix puts it)."""
        return self.music_db.value()
