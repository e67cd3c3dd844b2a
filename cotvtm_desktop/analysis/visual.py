"""Visual elements of a segment (the paper's V_e = object, emotion, dynamic, colour), from a scan's measurements."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.analysis.colour import palette_names
from cotvtm_desktop.analysis.objects import ObjectTags, tag_objects
from cotvtm_desktop.analysis.scan import Timeline


@lru_cache(maxsize=1)
def visual_rules() -> dict:
    return json.loads(config.resource_path("visual_rules.json").read_text())


@dataclass(frozen=True)
class VisualElements:
    # colour
    brightness: float
    saturation: float
    warmth: float  # -1 cool .. 1 warm
    palette: list[str]
    # dynamic
    motion: float  # 0 still .. 1 fast (normalised motion energy)
    cut_rate: float  # 0 .. 1 (normalised cuts per minute)
    # objects
    objects: ObjectTags
    # emotion (estimated from the above)
    valence: float
    arousal: float

    @property
    def dynamic(self) -> float:
        return float(np.clip(0.75 * self.motion + 0.25 * self.cut_rate, 0, 1))

    def words(self) -> dict[str, list[str]]:
        """The elements in words, as the paper's step 1 states them."""
        rules = visual_rules()
        emotion = next(r["words"] for r in rules["emotion_words"]
                       if r["valence"][0] <= self.valence <= r["valence"][1]
                       and r["arousal"][0] <= self.arousal <= r["arousal"][1])
        dynamic = next(r["words"] for r in rules["dynamic_words"] if self.dynamic < r["below"])
        return {"object": [name for name, _ in self.objects.labels[:3]], "emotion": emotion,
                "dynamic": dynamic, "color": self._colour_words()}

    def _colour_words(self) -> list[str]:
        c = visual_rules()["colour_words"]
        words = []
        if self.warmth > c["warm_above"]:
            words.append("warm tones")
        elif self.warmth < c["cool_below"]:
            words.append("cool tones")
        if self.brightness > c["bright_above"]:
            words.append("bright")
        elif self.brightness < c["dark_below"]:
            words.append("dark")
        if self.saturation > c["vivid_above"]:
            words.append("vivid")
        elif self.saturation < c["muted_below"]:
            words.append("muted")
        return words + self.palette

    def to_json(self) -> dict:
        numbers = {k: round(float(getattr(self, k)), 4) for k in
                   ("brightness", "saturation", "warmth", "motion", "cut_rate", "valence", "arousal")}
        return {**numbers, "palette": self.palette, "objects": self.objects.to_json(), "words": self.words()}


def estimate_emotion(brightness: float, saturation: float, warmth: float, motion: float,
                     cut_rate: float = 0.0) -> tuple[float, float]:
    """Valence and arousal in [0, 1]; see resources/visual_rules.json for the coefficients and their sources."""
    rules = visual_rules()
    v, a = rules["valence"], rules["arousal"]
    valence = (v["bias"] + v["brightness"] * (brightness - v["brightness_centre"])
               + v["saturation"] * (saturation - v["saturation_centre"]) + v["warmth"] * warmth)
    arousal = (a["bias"] + a["brightness"] * (brightness - a["brightness_centre"])
               + a["saturation"] * (saturation - a["saturation_centre"]) + a["motion"] * motion
               + a["cut_rate"] * cut_rate)
    return float(np.clip(valence, 0, 1)), float(np.clip(arousal, 0, 1))


def describe_segment(timeline: Timeline, start: float, end: float) -> VisualElements:
    frames = timeline.frames_between(start, end)
    norm = visual_rules()["normalise"]
    brightness = float(timeline.brightness[frames].mean())
    saturation = float(timeline.saturation[frames].mean())
    warmth = float(timeline.warmth[frames].mean())
    motion_level = float(np.clip(np.median(timeline.motion[frames]) / norm["motion_energy_full"], 0, 1))
    cuts = sum(start < c < end for c in timeline.cuts)
    cut_rate = float(np.clip(cuts / max(end - start, 1e-6) * 60 / norm["cuts_per_minute_full"], 0, 1))
    valence, arousal = estimate_emotion(brightness, saturation, warmth, motion_level, cut_rate)
    return VisualElements(
        brightness=brightness, saturation=saturation, warmth=warmth,
        palette=palette_names(timeline.palette[frames].mean(axis=0)),
        motion=motion_level, cut_rate=cut_rate,
        objects=tag_objects(timeline.keyframe_probabilities[timeline.keyframes_between(start, end)]),
        valence=valence, arousal=arousal,
    )
