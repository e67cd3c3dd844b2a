"""The Settings window: every choice in `Settings`, and what `cotvtm models check` says about the backends."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from cotvtm_desktop.gui.cli_process import CliProcess
from cotvtm_desktop.gui.settings import BACKENDS, DEVICES, LOUDNESS_PRESETS, Settings


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.base = settings
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.backend = QComboBox()
        self.backend.addItems(BACKENDS)
        self.backend.setCurrentText(settings.backend)
        self.models_status = QLabel("Checking the neural models…")
        self.models_status.setWordWrap(True)
        self.models_dir = self._folder_field(settings.models_dir, "default: ~/.cotvtm/models and the HF cache")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.device)
        self.segment_seconds = QDoubleSpinBox(decimals=1, minimum=2, maximum=30, suffix=" s")
        self.segment_seconds.setValue(settings.segment_seconds)
        self.keep_original = QCheckBox("Keep the original sound, music ducked under it")
        self.keep_original.setChecked(settings.keep_original_audio)
        self.duck_db = QDoubleSpinBox(decimals=0, minimum=0, maximum=40, suffix=" dB")
        self.duck_db.setValue(settings.duck_db)
        self.loudness = QComboBox()
        for value, label in LOUDNESS_PRESETS.items():
            self.loudness.addItem(label, value)
        self.loudness.setCurrentIndex(max(0, self.loudness.findData(settings.lufs)))
        self.crossfade = QDoubleSpinBox(decimals=2, minimum=0, maximum=4, singleStep=0.25, suffix=" s")
        self.crossfade.setValue(settings.crossfade)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.seed.setValue(settings.seed)
        self.output_dir = self._folder_field(settings.output_dir, "beside each input")
        self.naming = QLineEdit(settings.naming)
        self.naming.setToolTip("{name} is the input's name; the extension is added")
        self.midi = QCheckBox("Also export the arrangement as MIDI (procedural backend)")
        self.midi.setChecked(settings.midi)
        self.replace = QCheckBox("Replace existing outputs")
        self.replace.setChecked(settings.replace_existing)
        rows = [("Backend", self.backend), ("", self.models_status), ("Model folder", self.models_dir[0]),
                ("Device", self.device), ("Segment length", self.segment_seconds),
                ("Original audio", self.keep_original),
                ("Ducking", self.duck_db), ("Loudness", self.loudness), ("Crossfade", self.crossfade),
                ("Seed", self.seed), ("Output folder", self.output_dir[0]), ("Output name", self.naming),
                ("MIDI", self.midi), ("", self.replace)]
        for label, widget in rows:
            form.addRow(label, widget)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self._check_models()

    def _folder_field(self, value: str, placeholder: str) -> tuple[QWidget, QLineEdit]:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(value)
        edit.setPlaceholderText(placeholder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: edit.setText(QFileDialog.getExistingDirectory(self, "Choose a folder",
                                                                                     edit.text()) or edit.text()))
        line.addWidget(edit, 1)
        line.addWidget(browse)
        return row, edit

    def _check_models(self) -> None:
        args = ["models", "check", "--json"] + (["--models", self.base.models_dir] if self.base.models_dir else [])
        self.check = CliProcess(args, self)
        self.check.event.connect(self._models_checked)
        self.check.finished.connect(lambda status, message: status == "failed" and self.models_status.setText(
            f"Could not check the models: {message}"))
        self.check.start()

    def _models_checked(self, event: dict) -> None:
        if event.get("type") == "models":
            self.models_status.setText(f"Auto uses {event['reason']}")

    def settings(self) -> Settings:
        return Settings(
            backend=self.backend.currentText(), models_dir=self.models_dir[1].text().strip(),
            device=self.device.currentText(), segment_seconds=self.segment_seconds.value(),
            keep_original_audio=self.keep_original.isChecked(), duck_db=self.duck_db.value(),
            lufs=float(self.loudness.currentData()), crossfade=self.crossfade.value(), seed=self.seed.value(),
            output_dir=self.output_dir[1].text().strip(), naming=self.naming.text().strip() or self.base.naming,
            midi=self.midi.isChecked(), replace_existing=self.replace.isChecked())
