"""MusicBrief: the music elements of one segment (the paper's M_e) and the description they add up to (X_mt)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
PARTS = ("melody", "chords", "bass", "pad", "drums")  # the parts of an arrangement, as its stems name them


@dataclass(frozen=True)
class MusicBrief:
    genre: str
    instruments: list[str]  # display names, lead first
    emotion: list[str]
    rhythm: str  # words, e.g. "slow, steady and gentle"
    tempo_bpm: float
    key: str  # tonic name, e.g. "D"
    mode: str  # "major" or "minor"
    intensity: float  # 0 quiet and sparse .. 1 loud and dense
    valence: float  # carried from the visual emotion; the arranger keeps one key per video unless it jumps
    arousal: float
    lead: str = ""  # the melody's instrument the user chose (resources/music_rules.json "leads"); "": the genre's
    without: list[str] = field(default_factory=list)  # PARTS the user left out of this segment's music
    chords: str = ""  # the chords' instrument the user chose (music_rules.json "chords"); "": the genre's
    bass: str = ""  # the bass's instrument the user chose (music_rules.json "basses"); "": the genre's

    @property
    def tonic(self) -> int:
        return NOTE_NAMES.index(self.key)

    def description(self) -> str:
        """One sentence in the style of the paper's music descriptions."""
        lead, *rest = self.instruments
        accompaniment = f", accompanied by {_join(rest)}" if rest else ""
        mood = " and ".join(self.emotion[:2])
        return (f"{_a(self.genre).capitalize()} {self.genre} piece led by {lead}{accompaniment}, creating "
                f"{_a(mood)} {mood} atmosphere with {_a(self.rhythm)} {self.rhythm} rhythm at "
                f"{round(self.tempo_bpm)} BPM in {self.key} {self.mode}.")

    def to_json(self) -> dict:
        data = asdict(self)
        data["tempo_bpm"] = round(self.tempo_bpm, 2)
        for key in ("intensity", "valence", "arousal"):
            data[key] = round(data[key], 4)
        data["description"] = self.description()
        return data

    @classmethod
    def from_json(cls, data: dict) -> "MusicBrief":
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**fields)


def summary_line(brief: dict) -> str:
    """genre · tempo · key · intensity of a brief as JSON (MusicBrief.to_json), in short, for a list of segments,
    and the lead, the chords' and the bass's instruments and the parts left out where the user chose them; what it
    lacks is left out. Intensity in per cent, as the app's Edit dialog sets it: how --energy or a livelier scene
    moved it shows."""
    parts = [brief.get("genre", ""), f"{round(float(brief['tempo_bpm']))} BPM" if "tempo_bpm" in brief else "",
             f"{brief.get('key', '')} {brief.get('mode', '')}".strip(),
             f"intensity {round(100 * float(brief['intensity']))} %" if "intensity" in brief else "",
             f"{brief['lead']} lead" if brief.get("lead") else "",
             f"{brief['chords']} chords" if brief.get("chords") else "",
             f"{brief['bass']} bass" if brief.get("bass") else "",
             f"no {_join(brief['without'])}" if brief.get("without") else ""]
    return " · ".join(part for part in parts if part)


def level_words(music_db: float) -> str:
    """A segment's own music level (--segment-db) in words; "" where the mix sets it."""
    if not music_db:
        return ""
    return f"music {abs(music_db):g} dB {'louder' if music_db > 0 else 'quieter'}"


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
