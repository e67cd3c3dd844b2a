"""The procedural reasoner: the paper's step 2 (visual elements -> music elements) by the rules in
resources/music_rules.json, and step 3 (a description) through MusicBrief.description()."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.analysis.colour import COLOUR_NAMES
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.brief import NOTE_NAMES, PARTS, MusicBrief
from cotvtm_desktop.errors import UserError

# what a user may change in a segment's brief
EDITABLE = ("genre", "tempo_bpm", "key", "mode", "intensity", "lead", "chords", "bass", "without")
# the parts whose instrument a user may choose, with the music_rules.json list each is chosen from
CHOSEN_INSTRUMENTS = {"lead": "leads", "chords": "chords", "bass": "basses"}
TEMPO_RANGE = (40.0, 220.0)


@lru_cache(maxsize=1)
def music_rules() -> dict:
    return json.loads(config.resource_path("music_rules.json").read_text())


def choose_genre(visual: VisualElements) -> str:
    rules = music_rules()
    weights = rules["genre_choice"]

    def score(item: tuple[str, dict]) -> float:
        _, genre = item
        distance = np.hypot(visual.valence - genre["prototype"][0], visual.arousal - genre["prototype"][1])
        scene = sum(p * genre["scenes"].get(name, 0.0) for name, p in visual.objects.scenes.items())
        return -weights["distance_weight"] * distance + weights["scene_weight"] * scene

    return max(rules["genres"].items(), key=score)[0]


def tempo_for(genre: dict, arousal: float) -> float:
    low, high = genre["tempo"]
    return float(low + np.clip(arousal, 0, 1) * (high - low))


def _words(table: list[dict], value: float) -> str:
    return next(row["words"] for row in table if value < row["below"])


def _key(visual: VisualElements) -> str:
    table = music_rules()["key_from_colour"]
    chromatic = [c for c in visual.palette if c not in ("black", "white", "grey")]
    return table[(chromatic or visual.palette or [COLOUR_NAMES[0]])[0]]


def reason(visual: VisualElements, energy: float = 0.0) -> MusicBrief:
    """Music elements for one segment's visual elements; `energy` (-1 calmer .. 1 livelier) plays the picture's
    genre as for a calmer or livelier picture (music_rules.json "energy")."""
    rules = music_rules()
    name = choose_genre(visual)
    genre = rules["genres"][name]
    if energy:
        arousal = visual.arousal + energy * rules["energy"]["arousal_per_unit"]
        visual = replace(visual, arousal=float(np.clip(arousal, 0, 1)))
    emotion = next(row["words"] for row in rules["music_emotion_words"]
                   if row["valence"][0] <= visual.valence <= row["valence"][1]
                   and row["arousal"][0] <= visual.arousal <= row["arousal"][1])
    i = rules["intensity"]
    intensity = float(np.clip(i["bias"] + i["arousal"] * visual.arousal + i["brightness"] * visual.brightness, 0, 1))
    return MusicBrief(
        genre=name,
        instruments=band_of(name).instruments(),
        emotion=list(emotion),
        rhythm=_words(rules["rhythm_words"], visual.arousal),
        tempo_bpm=tempo_for(genre, visual.arousal),
        key=_key(visual),
        mode="major" if visual.valence >= rules["mode"]["major_from_valence"] else "minor",
        intensity=intensity,
        valence=visual.valence,
        arousal=visual.arousal,
    )


@dataclass(frozen=True)
class Band:
    """Who plays a segment's music: each pitched part's General MIDI program and name (None where it rests), the
    semitones the melody moves from its usual range, and the drums' style (None: no drums)."""
    melody: tuple[int, str] | None
    chords: tuple[int, str] | None
    bass: tuple[int, str] | None
    pad: tuple[int, str] | None
    drums: str | None
    transpose: int = 0

    def instruments(self) -> list[str]:
        """The display names, lead first, as a brief lists them."""
        names = [part[1] for part in (self.melody, self.chords, self.bass, self.pad) if part]
        return list(dict.fromkeys(names)) + (["drums"] if self.drums else [])

    def programs(self) -> list[tuple[int, str]]:
        """The (program, name) of each pitched part that plays."""
        return [part for part in (self.melody, self.chords, self.bass, self.pad) if part]


def band_of(genre: str, lead: str = "", without: list[str] = (), chords: str = "", bass: str = "") -> Band:
    """A genre's band (resources/music_rules.json), its melody played by `lead`, its chords by `chords` and its bass
    by `bass` where one is named (a part the genre lacks stays out), and the parts in `without` left out."""
    rules = music_rules()
    spec = rules["genres"][genre]
    parts = {role: tuple(spec["instruments"][role]) if spec["instruments"][role] else None
             for role in ("melody", "chords", "bass", "pad")}
    transpose = 0
    for role, field_name, name in (("melody", "lead", lead), ("chords", "chords", chords), ("bass", "bass", bass)):
        if name and parts[role]:
            chosen = rules[CHOSEN_INSTRUMENTS[field_name]][name]
            parts[role] = (chosen["program"], name)
            if role == "melody":  # a lower instrument plays the tune an octave down (music_rules.json "transpose")
                transpose = chosen.get("transpose", 0)
    parts = {role: None if role in without else part for role, part in parts.items()}
    return Band(**parts, drums=None if "drums" in without else spec["drums"], transpose=transpose)


def brief_band(brief: MusicBrief) -> Band:
    """The band a brief asks for."""
    return band_of(brief.genre, brief.lead, brief.without, brief.chords, brief.bass)


def edit_brief(brief: MusicBrief, changes: dict) -> MusicBrief:
    """`brief` with a user's changes (a subset of EDITABLE), checked; its instruments follow the genre, the chosen
    instruments and the parts left out, and a new genre brings its tempo for the picture's pace unless a tempo is
    given."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise UserError(f"a segment's brief cannot set {', '.join(unknown)}; it can set {', '.join(EDITABLE)}")
    genres = music_rules()["genres"]
    if "genre" in changes and changes["genre"] not in genres:
        raise UserError(f"unknown genre {changes['genre']!r}; choose one of {', '.join(genres)}")
    if "key" in changes and changes["key"] not in NOTE_NAMES:
        raise UserError(f"unknown key {changes['key']!r}; choose one of {', '.join(NOTE_NAMES)}")
    if "mode" in changes and changes["mode"] not in ("major", "minor"):
        raise UserError(f"unknown mode {changes['mode']!r}; choose major or minor")
    if "tempo_bpm" in changes and not TEMPO_RANGE[0] <= _number(changes, "tempo_bpm") <= TEMPO_RANGE[1]:
        raise UserError(f"tempo_bpm {changes['tempo_bpm']} is outside {TEMPO_RANGE[0]:g}-{TEMPO_RANGE[1]:g} BPM")
    if "intensity" in changes and not 0.0 <= _number(changes, "intensity") <= 1.0:
        raise UserError(f"intensity {changes['intensity']} is outside 0-1")
    for field_name, listed in CHOSEN_INSTRUMENTS.items():
        names = music_rules()[listed]
        if changes.get(field_name) and changes[field_name] not in names:
            raise UserError(f"unknown {field_name} instrument {changes[field_name]!r}; choose one of "
                            f"{', '.join(names)}")
    without = changes.get("without", [])
    if not isinstance(without, list) or not all(isinstance(p, str) and p in PARTS for p in without):
        raise UserError(f"without {without!r} must be a list of parts from {', '.join(PARTS)}")
    edited = replace(brief, **{k: float(v) if k in ("tempo_bpm", "intensity") else v for k, v in changes.items()})
    if "genre" in changes and "tempo_bpm" not in changes:  # the new genre's tempo for the picture's pace
        edited = replace(edited, tempo_bpm=tempo_for(genres[edited.genre], edited.arousal))
    edited = replace(edited, lead=edited.lead or "", chords=edited.chords or "", bass=edited.bass or "",
                     without=[p for p in PARTS if p in edited.without])
    band = brief_band(edited)
    if not band.programs() and not band.drums:
        raise UserError(f"without {', '.join(edited.without)}, {edited.genre} has no part left to play; keep a part "
                        "(or, for no music there, mute the segment)")
    return replace(edited, instruments=band.instruments())


def _number(changes: dict, name: str) -> float:
    try:
        return float(changes[name])
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, not {changes[name]!r}") from None
