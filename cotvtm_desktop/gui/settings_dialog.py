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

from cotvtm_desktop import config
from cotvtm_desktop.gui.cli_process import CliProcess
from cotvtm_desktop.gui.segment_dialog import INSTRUMENT_PARTS, PartChoice, genres, instrument_choice
from cotvtm_desktop.gui.settings import (BACKENDS, DEVICES, ENERGY_STOPS, LOUDNESS_PRESETS, SLIDESHOW_SIZE_NAMES,
                                         Settings)


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
        self.musicgen_size = QComboBox()
        self.musicgen_size.addItems(list(config.MUSICGEN_MODEL_IDS))
        self.musicgen_size.setCurrentText(settings.musicgen_size)
        self.musicgen_size.setToolTip("Which MusicGen to use from the Hugging Face cache (`cotvtm models fetch "
                                      "--musicgen SIZE` downloads one); a musicgen/ folder in the model folder wins")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.device)
        self.precision = QComboBox()
        self.precision.addItems(config.MUSICGEN_PRECISIONS)
        self.precision.setCurrentText(settings.precision)
        self.precision.setToolTip("MusicGen's number format. auto: bfloat16 where the GPU or CPU computes it (several "
                                  "times faster on a CPU with AVX-512), else float16 on a GPU, float32 on a CPU")
        self.segment_seconds = QDoubleSpinBox(decimals=1, minimum=2, maximum=30, suffix=" s")
        self.segment_seconds.setValue(settings.segment_seconds)
        low, high = config.SLIDESHOW_PHOTO_SECONDS_RANGE
        self.photo_seconds = QDoubleSpinBox(decimals=1, minimum=low, maximum=high, singleStep=0.5, suffix=" s")
        self.photo_seconds.setValue(settings.photo_seconds)
        self.photo_seconds.setToolTip("About how long each photo is on screen in a slideshow made from now on (select "
                                      "photos and videos, then Slideshow): procedural, the whole bars of its music "
                                      "nearest it, so that the pictures change on the downbeat")
        self.photo_dissolve = QCheckBox("Photos dissolve into each other and into videos")
        self.photo_dissolve.setChecked(settings.photo_dissolve)
        self.photo_dissolve.setToolTip("In a slideshow made from now on, each photo dissolves into the next over "
                                       f"{config.SLIDESHOW_DISSOLVE_SECONDS:g} s instead of cutting to it")
        self.photo_dates = QCheckBox("Each day's date over its first picture")
        self.photo_dates.setChecked(settings.photo_dates)
        self.photo_dates.setToolTip("In a slideshow made from now on, the day its pictures were taken (Tuesday 2 July "
                                    "2024) low over the first picture of each day")
        self.photo_places = QCheckBox("Each place's town over its first picture")
        self.photo_places.setChecked(settings.photo_places)
        self.photo_places.setToolTip("In a slideshow made from now on, the town its pictures were taken in (Florence, "
                                     "Italy: from their GPS tags, named offline) low over the first picture in each "
                                     "place")
        self.slideshow_size = QComboBox()
        for lines in config.SLIDESHOW_SIZES[1:]:  # the quick look's is the preview's
            self.slideshow_size.addItem(SLIDESHOW_SIZE_NAMES.get(lines, f"{lines}p"), lines)
        self.slideshow_size.setCurrentIndex(max(0, self.slideshow_size.findData(settings.slideshow_size)))
        self.slideshow_size.setToolTip("An exported slideshow's size (its preview is a quick look at "
                                       f"{config.SLIDESHOW_PREVIEW_SIDE} lines, made several times faster)")
        self.genre = QComboBox()
        self.genre.addItem("From the picture (each segment's own)", "")
        for name in genres():
            self.genre.addItem(name, name)
        self.genre.setCurrentIndex(max(0, self.genre.findData(settings.genre)))
        self.genre.setToolTip("One genre for every segment (procedural backend: with a genre set, auto uses it); "
                              "a segment's own edit still wins")
        self.instruments = {name: instrument_choice(name) for name in INSTRUMENT_PARTS}
        for name, combo in self.instruments.items():
            combo.setCurrentIndex(max(0, combo.findData(getattr(settings, name))))
            combo.setToolTip(f"The instrument that plays every segment's {INSTRUMENT_PARTS[name][1]} "
                             "(procedural backend: with one set, auto uses it); a segment's own edit still wins")
        self.lead = self.instruments["lead"]
        self.parts = PartChoice(settings.without.split(","))
        self.parts.setToolTip("The parts of the music to play; those unchecked are left out of every segment "
                              "(procedural backend); a segment's own edit still wins")
        self.energy = QComboBox()
        for value, label in ENERGY_STOPS.items():
            self.energy.addItem(label, value)
        if settings.energy not in ENERGY_STOPS:  # another value (from an older choice, say) is kept as it is
            self.energy.addItem(f"{settings.energy:+g}", settings.energy)
        self.energy.setCurrentIndex(self.energy.findData(settings.energy))
        self.energy.setToolTip("Each segment's genre played calmer (slower, softer, sparser) or livelier than its "
                               "picture asks for (procedural backend: with one set, auto uses it); a segment's own "
                               "tempo or intensity still wins")
        self.soundfont = self._path_field(settings.soundfont, "the small one shipped (TimGM6mb)", self._pick_soundfont,
                                          [str(path) for path in config.installed_soundfonts()])
        self.soundfont[1].setToolTip("A General MIDI soundfont (.sf2 or .sf3) to play the procedural music with "
                                     "(FluidR3_GM, GeneralUser GS or MuseScore General sound fuller than the shipped "
                                     "one); with one set, auto uses the procedural backend")
        self.keep_original = QCheckBox("Keep the original sound (the music makes room where someone speaks)")
        self.keep_original.setChecked(settings.keep_original_audio)
        self.duck_db = QDoubleSpinBox(decimals=0, minimum=0, maximum=40, suffix=" dB")
        self.duck_db.setValue(settings.duck_db)
        self.duck_db.setToolTip("How far the music dips while someone speaks, laughs or shouts in the original sound "
                                "(steady sound such as waves, traffic or wind never dips it)")
        low, high = config.MUSIC_LEVEL_RANGE_DB
        self.music_db = QDoubleSpinBox(decimals=0, minimum=low, maximum=high, suffix=" dB")
        self.music_db.setValue(settings.music_db)
        self.music_db.setToolTip("The music louder (+) or quieter (−) against the original sound than the mix puts "
                                 "it: 0 sets it 3 LU under the voices (and dips it while they speak), or 8 LU over "
                                 "sound that is background only")
        self.loudness = QComboBox()
        for value, label in LOUDNESS_PRESETS.items():
            self.loudness.addItem(label, value)
        self.loudness.setCurrentIndex(max(0, self.loudness.findData(settings.lufs)))
        self.crossfade = QDoubleSpinBox(decimals=2, minimum=0, maximum=4, singleStep=0.25, suffix=" s")
        self.crossfade.setValue(settings.crossfade)
        self.crossfade.setToolTip("Neural: how long MusicGen's segments cross-fade. A procedural segment comes in "
                                  "whole on its downbeat, the one before ringing out under it")
        self.fade_in, self.fade_out = (QDoubleSpinBox(decimals=1, minimum=config.FADE_RANGE_SECONDS[0],
                                                      maximum=config.FADE_RANGE_SECONDS[1], singleStep=0.5,
                                                      suffix=" s") for _ in range(2))
        self.fade_in.setValue(settings.fade_in)
        self.fade_out.setValue(settings.fade_out)
        self.fade_in.setToolTip("How long the music fades in at its start, and after a stretch without music")
        self.fade_out.setToolTip("How long the music fades out at its end (its last chord rings out under it), and "
                                 "before a stretch without music")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.seed.setValue(settings.seed)
        self.output_dir = self._folder_field(settings.output_dir, "beside each input")
        self.naming = QLineEdit(settings.naming)
        self.naming.setToolTip("{name} is the input's name; the extension is added")
        self.midi = QCheckBox("Also export the arrangement as MIDI (procedural backend)")
        self.midi.setChecked(settings.midi)
        self.stems = QCheckBox("Also export the music's parts apart: melody, chords, bass, pad, drums (procedural)")
        self.stems.setToolTip("A WAV per part in a NAME.stems folder beside the export, each as it sits in the mix: "
                              "for an editor or a DAW where you want, say, the drums quieter")
        self.stems.setChecked(settings.stems)
        self.music_only = QCheckBox("Export a video's music alone (WAV, for a track in your editor)")
        self.music_only.setToolTip("The music as it sits in the video's mix, ducked under the original sound, "
                                   "without it; previews still play the video")
        self.music_only.setChecked(settings.music_only)
        self.replace = QCheckBox("Replace existing outputs")
        self.replace.setChecked(settings.replace_existing)
        rows = [("Backend", self.backend), ("", self.models_status), ("Model folder", self.models_dir[0]),
                ("MusicGen", self.musicgen_size), ("Device", self.device), ("Precision", self.precision),
                ("Segment length", self.segment_seconds), ("Slideshow photos", self.photo_seconds),
                ("", self.photo_dissolve), ("", self.photo_dates), ("", self.photo_places),
                ("Slideshow size", self.slideshow_size),
                ("Genre", self.genre), ("Lead", self.lead), ("Chords", self.instruments["chords"]),
                ("Bass", self.instruments["bass"]),
                ("Parts", self.parts), ("Energy", self.energy), ("Soundfont", self.soundfont[0]),
                ("Original audio", self.keep_original), ("Ducking", self.duck_db), ("Music level", self.music_db),
                ("Loudness", self.loudness), ("Crossfade", self.crossfade), ("Fade in", self.fade_in),
                ("Fade out", self.fade_out),
                ("Seed", self.seed), ("Output folder", self.output_dir[0]), ("Output name", self.naming),
                ("MIDI", self.midi), ("Stems", self.stems), ("Music alone", self.music_only), ("", self.replace)]
        for label, widget in rows:
            form.addRow(label, widget)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.parts.changed.connect(lambda: ok.setEnabled(len(self.parts.without()) < len(self.parts.boxes)))
        # What `models check` says follows the model choices as they are edited.
        self.check: CliProcess | None = None
        self.checked_args: list[str] = []
        self.models_dir[1].editingFinished.connect(self._check_models)
        self.musicgen_size.currentTextChanged.connect(self._check_models)
        self._check_models()

    def _folder_field(self, value: str, placeholder: str) -> tuple[QWidget, QLineEdit]:
        return self._path_field(value, placeholder,
                                lambda start: QFileDialog.getExistingDirectory(self, "Choose a folder", start))

    def _pick_soundfont(self, start: str) -> str:
        return QFileDialog.getOpenFileName(self, "Choose a General MIDI soundfont", start,
                                           "SoundFont (*.sf2 *.SF2 *.sf3 *.SF3);;All files (*)")[0]

    def _path_field(self, value: str, placeholder: str, pick, choices: list[str] = ()) -> tuple[QWidget, QLineEdit]:
        """A line to type a path in and a Browse… button that asks `pick(current text)` for one; with `choices`
        (paths found on this computer), the line drops them down."""
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        if choices:
            field = QComboBox(editable=True)
            field.addItems(choices)
            field.setCurrentIndex(-1)  # none chosen until the user picks one
            edit = field.lineEdit()
            edit.setText(value)
        else:
            field = edit = QLineEdit(value)
        edit.setPlaceholderText(placeholder)
        browse = QPushButton("Browse…")
        browse.clicked.connect(lambda: edit.setText(pick(edit.text()) or edit.text()))
        line.addWidget(field, 1)
        line.addWidget(browse)
        return row, edit

    def _check_models(self) -> None:
        args = ["models", "check", "--json", *self.settings().models_args()]
        if args == self.checked_args:
            return
        self.checked_args = args
        if self.check is not None:
            self.check.kill()  # its answer would describe other folders (a check writes nothing: safe to kill)
        self._show_models_status("Checking the neural models…")
        check = self.check = CliProcess(args, self)
        check.event.connect(lambda event: check is self.check and event.get("type") == "models" and
                            self._show_models_status(*_models_summary(event)))
        check.finished.connect(lambda status, message: check is self.check and status == "failed" and
                               self._show_models_status(f"Could not check the models: {message}"))
        check.start()

    def _show_models_status(self, text: str, details: str = "") -> None:
        self.models_status.setText(text)
        self.models_status.setToolTip(details)
        self._fit_models_status()

    def _fit_models_status(self) -> None:
        # A form layout does not give a wrapped label the height of its lines (they would overlap the rows around
        # it): ask for that height at the label's width, and the dialog grows to fit.
        label = self.models_status
        label.setMinimumHeight(label.heightForWidth(label.width()))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_models_status()

    def settings(self) -> Settings:
        return Settings(
            backend=self.backend.currentText(), models_dir=self.models_dir[1].text().strip(),
            musicgen_size=self.musicgen_size.currentText(), device=self.device.currentText(),
            precision=self.precision.currentText(),
            segment_seconds=self.segment_seconds.value(), photo_seconds=self.photo_seconds.value(),
            photo_dissolve=self.photo_dissolve.isChecked(), photo_dates=self.photo_dates.isChecked(),
            photo_places=self.photo_places.isChecked(),
            slideshow_size=int(self.slideshow_size.currentData()),
            genre=self.genre.currentData(),
            lead=self.lead.currentData(), chords=self.instruments["chords"].currentData(),
            bass=self.instruments["bass"].currentData(), without=",".join(self.parts.without()),
            energy=float(self.energy.currentData()),
            soundfont=self.soundfont[1].text().strip(),
            keep_original_audio=self.keep_original.isChecked(), duck_db=self.duck_db.value(),
            music_db=self.music_db.value(), lufs=float(self.loudness.currentData()),
            crossfade=self.crossfade.value(), fade_in=self.fade_in.value(), fade_out=self.fade_out.value(),
            seed=self.seed.value(),
            output_dir=self.output_dir[1].text().strip(), naming=self.naming.text().strip() or self.base.naming,
            midi=self.midi.isChecked(), stems=self.stems.isChecked(), music_only=self.music_only.isChecked(),
            replace_existing=self.replace.isChecked())


def _models_summary(event: dict) -> tuple[str, str]:
    """What `models check --json` said, short enough for the dialog, and in full (for the tooltip)."""
    missing = [name for name in ("clip", "musicgen", "cotvtm") if (event.get(name) or {}).get("problem")]
    if event.get("backend") == "procedural" and missing:
        names = " or ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
        return (f"Auto uses procedural: no {names} model found for the neural backend (hover to see where it "
                "looked)", event["reason"])
    return f"Auto uses {event['reason']}", event["reason"]
