"""The app's settings: what the user chose, persisted with QSettings, and the CLI options they stand for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings

from cotvtm_desktop import config
from cotvtm_desktop.jobs.naming import distinct_outputs

LOUDNESS_PRESETS = {-14.0: "−14 LUFS (streaming platforms)", -16.0: "−16 LUFS (phones, web; default)",
                    -23.0: "−23 LUFS (broadcast, EBU R128)"}
ENERGY_STOPS = {-1.0: "Much calmer", -0.5: "Calmer", 0.0: "As the picture asks", 0.5: "Livelier",
                1.0: "Much livelier"}  # --energy
SLIDESHOW_SIZE_NAMES = {720: "720p (HD)", 1080: "1080p (full HD)", 1440: "1440p", 2160: "2160p (4K)"}
BACKENDS = ("auto", "procedural", "neural")
DEVICES = ("auto", "cpu", "cuda")
NAME_FIELD = "{name}"


@dataclass
class Settings:
    backend: str = "auto"
    models_dir: str = ""  # empty: $COTVTM_MODELS or ~/.cotvtm/models, and the Hugging Face cache
    musicgen_size: str = config.MUSICGEN_SIZE  # which MusicGen to look for in the Hugging Face cache
    device: str = "auto"
    precision: str = config.MUSICGEN_PRECISION  # MusicGen's number format (neural)
    segment_seconds: float = config.SEGMENT_SECONDS
    photo_seconds: float = config.SLIDESHOW_PHOTO_SECONDS  # each photo's time on screen in a slideshow made from now on
    photo_dissolve: bool = False  # in a slideshow made from now on, photos dissolve into each other
    photo_dates: bool = False  # in a slideshow made from now on, each day's date over its first picture
    photo_places: bool = False  # in a slideshow made from now on, each place's town over its first picture
    slideshow_size: int = config.SLIDESHOW_SHORT_SIDE  # an exported slideshow's shorter side (its preview is small)
    genre: str = ""  # empty: each segment's from its picture (procedural)
    lead: str = ""  # the instrument for every segment's tune; empty: each genre's own (procedural)
    chords: str = ""  # the instrument for every segment's chords; empty: each genre's own (procedural)
    bass: str = ""  # the instrument for every segment's bass line; empty: each genre's own (procedural)
    without: str = ""  # the parts left out of the music, comma-separated ("drums,pad"; procedural)
    energy: float = 0.0  # -1 calmer .. 1 livelier than the picture asks for, the same genre (procedural)
    soundfont: str = ""  # a General MIDI .sf2 or .sf3 to play the procedural music with; empty: the shipped one
    keep_original_audio: bool = True
    duck_db: float = config.DUCK_DB
    music_db: float = config.MUSIC_LEVEL_DB
    lufs: float = config.TARGET_LUFS
    crossfade: float = config.CROSSFADE_SECONDS
    fade_in: float = config.FADE_IN_SECONDS
    fade_out: float = config.FADE_OUT_SECONDS
    seed: int = config.SEED
    output_dir: str = ""  # empty: beside each input
    naming: str = NAME_FIELD + config.OUTPUT_SUFFIX  # the output's name without extension
    midi: bool = False
    stems: bool = False  # export the music's parts apart too (procedural)
    music_only: bool = False  # export a video's music alone (WAV, for an editor's track) instead of the video
    replace_existing: bool = False

    @classmethod
    def load(cls, store: QSettings) -> Settings:
        values = {}
        for f in fields(cls):
            default = f.default
            raw = store.value(f.name, default)
            values[f.name] = _as_type(raw, default)
        return cls(**values)

    def save(self, store: QSettings) -> None:
        for name, value in asdict(self).items():
            store.setValue(name, value)
        store.sync()

    def output_for(self, input_path: Path, kind: str, queued: dict[Path, str] | None = None) -> Path:
        """Where an input's export goes, distinct from the exports of the other `queued` inputs (path -> kind): see
        jobs.naming.distinct_outputs."""
        kinds = {**(queued or {}), input_path: kind}

        def named(path: Path, name: str) -> Path:
            extension = (".mp4" if kinds[path] == "slideshow" and not self.music_only else
                         config.IMAGE_OUTPUT_EXTENSION if kinds[path] == "image" else
                         config.project_copy_suffix(path) if is_project(path) else  # a copy, the music beside it
                         config.TIMELINE_OUTPUT_EXTENSION if self.music_only or kinds[path] == "timeline" else ".mp4")
            stem = (self.naming or NAME_FIELD + config.OUTPUT_SUFFIX).replace(NAME_FIELD, name)
            folder = Path(self.output_dir) if self.output_dir else path.parent
            return folder / f"{stem}{extension}"

        return distinct_outputs(list(kinds), named)[input_path]

    def score_args(self) -> list[str]:
        """The `cotvtm score` options these settings stand for."""
        args = ["--backend", self.backend, "--device", self.device, "--precision", self.precision,
                "--segment-seconds", f"{self.segment_seconds:g}",
                "--lufs", f"{self.lufs:g}", "--duck-db", f"{self.duck_db:g}", "--music-db", f"{self.music_db:g}",
                "--crossfade", f"{self.crossfade:g}", "--fade-in", f"{self.fade_in:g}",
                "--fade-out", f"{self.fade_out:g}",
                "--seed", str(self.seed), *self.models_args()]
        if not self.keep_original_audio:
            args.append("--replace-audio")
        if self.genre:
            args += ["--genre", self.genre]
        for flag, chosen in (("--lead", self.lead), ("--chords", self.chords), ("--bass", self.bass)):
            if chosen:
                args += [flag, chosen]
        for part in filter(None, self.without.split(",")):
            args += ["--without", part]
        if self.energy:
            args += ["--energy", f"{self.energy:g}"]
        if self.soundfont:
            args += ["--soundfont", self.soundfont]
        return args

    def models_args(self) -> list[str]:
        """The options saying where the neural models are (`score` and `models check` share them)."""
        return ["--musicgen-size", self.musicgen_size] + (["--models", self.models_dir] if self.models_dir else [])


def is_project(path: Path) -> bool:
    """An editor project (exported with `cotvtm project score`), not a video, image or timeline .json: what
    media.timeline.is_project_path says, without bringing the media libraries into the window's process."""
    return path.suffix.lower() in config.PROJECT_EXTENSIONS


def _as_type(raw, default):
    """QSettings' ini files give strings back; turn them into the default's type (the default if unreadable)."""
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
    try:
        return type(default)(raw)
    except (TypeError, ValueError):
        return default
