"""The procedural reasoner: the paper's step 2 (visual elements -> music elements) by the rules in
resources/music_rules.json, and step 3 (a description) through MusicBrief.description()."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import lru_cache

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.analysis.colour import COLOUR_NAMES
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.brief import NOTE_NAMES, MusicBrief
from cotvtm_desktop.errors import UserError

EDITABLE = ("genre", "tempo_bpm", "key", "mode", "intensity")  # what a user may change in a segment's brief
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


def reason(visual: VisualElements) -> MusicBrief:
    """Music elements for one segment's visual elements."""
    rules = music_rules()
    name = choose_genre(visual)
    genre = rules["genres"][name]
    emotion = next(row["words"] for row in rules["music_emotion_words"]
                   if row["valence"][0] <= visual.valence <= row["valence"][1]
                   and row["arousal"][0] <= visual.arousal <= row["arousal"][1])
    i = rules["intensity"]
    intensity = float(np.clip(i["bias"] + i["arousal"] * visual.arousal + i["brightness"] * visual.brightness, 0, 1))
    return MusicBrief(
        genre=name,
        instruments=instruments_of(genre),
        emotion=list(emotion),
        rhythm=_words(rules["rhythm_words"], visual.arousal),
        tempo_bpm=tempo_for(genre, visual.arousal),
        key=_key(visual),
        mode="major" if visual.valence >= rules["mode"]["major_from_valence"] else "minor",
        intensity=intensity,
        valence=visual.valence,
        arousal=visual.arousal,
    )


def instruments_of(genre: dict) -> list[str]:
    """A genre's instruments by display name, lead first."""
    roles = ("melody", "chords", "bass", "pad")
    names = list(dict.fromkeys(genre["instruments"][r][1] for r in roles if genre["instruments"][r]))
    return names + ["drums"] if genre["drums"] else names


def edit_brief(brief: MusicBrief, changes: dict) -> MusicBrief:
    """`brief` with a user's changes (a subset of EDITABLE), checked; a new genre brings its instruments."""
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
    edited = replace(brief, **{k: float(v) if k in ("tempo_bpm", "intensity") else v for k, v in changes.items()})
    if "genre" in changes:
        edited = replace(edited, instruments=instruments_of(genres[changes["genre"]]))
    return edited


def _number(changes: dict, name: str) -> float:
    try:
        return float(changes[name])
    except (TypeError, ValueError):
        raise UserError(f"{name} must be a number, not {changes[name]!r}") from None
