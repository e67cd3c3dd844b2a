"""The arranger: MusicBriefs -> a multi-track MIDI arrangement, one clip per segment.

Video-level decisions come first (`plan_video`): one tonic and tempo family for the whole video unless a segment's
mood jumps, each segment a whole number of bars so every change of segment falls on a bar line, the chord
progression and four-bar phrases running on across segments, and the scene cuts inside a segment that its music
marks with a hit. Then each segment is arranged on its own (`arrange_segment`), so one segment can be regenerated
without touching the others.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np
import pretty_midi

from cotvtm_desktop.brief import PARTS, MusicBrief
from cotvtm_desktop.music.theory import chord_pitch_classes, lead_voices, scale_pitches, voicings
from cotvtm_desktop.reasoning.rules import Band, brief_band, music_rules

SHARP_MOOD_CHANGE = 0.3  # valence jump from the video's mean beyond which a segment takes its own key and mode
TEMPO_FAMILY = 0.2  # relative tempo difference a segment may have and still share the video's tempo
PHRASE_BARS = 4  # the melody states, repeats, varies and answers; drums fill into the next phrase
# A hit lands on the sixteenth note nearest its cut when that is this close (an accent sooner or later than the
# picture by more reads as out of sync); else on the cut itself, off the grid
HIT_SNAP_SECONDS = 0.05
VOICE_MARGIN_SECONDS = 0.15  # the melody keeps this clear of a voice on either side
# Two notes of one pitch in one part starting closer than this are one stroke (the fastest notes written, sixteenths
# at 146 bpm, are 100 ms apart)
ONE_STROKE_SECONDS = 0.03
# Dynamics as players shape a phrase: each note's velocity is scaled by where it falls in its four-bar phrase (bars
# from its start -> scale), growing into the third bar, where the tune turns, and easing off from there; the
# scale averages 1 over a phrase, so the level a genre and an intensity set stays. Within that, the tune's higher
# notes are played a little louder (this much velocity per semitone from the middle of its range, at most 8 %).
PHRASE_ARC = ((0.0, 0.93), (2.0, 1.06), (4.0, 0.95))
_ARC_BARS, _ARC_SCALES = zip(*PHRASE_ARC)  # as np.interp takes them, once rather than for every note
MELODY_RISE_PER_SEMITONE = 0.007
_DRUM = {"kick": 36, "snare": 38, "clap": 39, "hat": 42, "pedal_hat": 44, "open_hat": 46, "crash": 49,
         "ride": 51, "tambourine": 54, "shaker": 70, "low_tom": 41, "floor_tom": 43, "mid_tom": 47}


@dataclass(frozen=True)
class SegmentPlan:
    tonic: int
    mode: str
    bpm: float
    bars: int
    beats_per_bar: int
    bar_offset: int  # bars played before this segment: the progression runs on across segments
    progression: tuple[int, ...]
    final: bool  # the last segment, and any before a silent one, ends on a cadence
    hits: tuple[float, ...] = ()  # seconds from the segment's start of the scene cuts its music marks
    voices: tuple[tuple[float, float], ...] = ()  # (start, end) seconds from its start where the original speaks
    # the intensity the next segment's picture asks for: over its last bar the music goes halfway to that level (a
    # crescendo into a livelier scene, a softening into a calmer one); None where it ends on a cadence
    into: float | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "bpm": round(self.bpm, 3), "progression": list(self.progression),
                "hits": list(self.hits), "voices": [list(v) for v in self.voices]}


@dataclass(frozen=True)
class _VideoContext:
    valence: float
    tonic: int
    mode: str
    bpm: float


def plan_video(durations: list[float], briefs: list[MusicBrief], seeds: list[int],
               edits: dict[int, tuple[MusicBrief, set[str]]] | None = None,
               cuts: list[list[float]] | None = None,
               voices: list[list[tuple[float, float]]] | None = None,
               silent: set[int] = frozenset()) -> list[SegmentPlan]:
    """Every segment's plan. `seeds` holds each segment's seed (the video's, unless the user gave it its own),
    which picks its chord progression: segments sharing a seed share a progression running on across them.
    `edits` maps a segment index to (the user's brief for it, the fields they changed): that segment is planned
    from it (a changed key, mode or tempo taken as given) in the same video context and at the same bar position,
    so every other segment stays exactly as it was. `cuts` holds each segment's scene cuts, seconds from its start:
    the music marks those at least a bar apart; `voices`, where someone speaks in the original sound, (start, end)
    from its start: the melody rests there. The music ends with a cadence before each `silent` segment (the user
    wants none there; its plan is made, and its bars counted, so that no other segment changes) as it does at the
    video's end."""
    weights = np.array(durations)
    valence = float(np.average([b.valence for b in briefs], weights=weights))
    tonic_votes: dict[int, float] = {}
    for brief, weight in zip(briefs, weights):
        tonic_votes[brief.tonic] = tonic_votes.get(brief.tonic, 0.0) + weight
    context = _VideoContext(
        valence, max(tonic_votes, key=tonic_votes.get),
        "major" if valence >= music_rules()["mode"]["major_from_valence"] else "minor",
        _weighted_median([b.tempo_bpm for b in briefs], weights))

    plans, bar_offset, edits = [], 0, edits or {}
    cuts, voices = cuts or [[] for _ in durations], voices or [[] for _ in durations]
    for i, (brief, duration, seed) in enumerate(zip(briefs, durations, seeds)):
        final = i == len(briefs) - 1 or i + 1 in silent
        measured = _plan_segment(brief, duration, context, bar_offset, final, seed, cuts[i])
        if i in edits:
            edited, changed = edits[i]
            plans.append(_plan_segment(edited, duration, context, bar_offset, final, seed, cuts[i], changed))
        else:
            plans.append(measured)
        if not final:  # the next segment as its picture asks, not as edited: an edit changes no other segment
            plans[-1] = replace(plans[-1], into=round(briefs[i + 1].intensity, 4))
        if voices[i]:
            plans[-1] = replace(plans[-1], voices=tuple((round(a, 3), round(b, 3)) for a, b in voices[i]))
        bar_offset += measured.bars
    return plans


def video_bar_seconds(durations: list[float], briefs: list[MusicBrief]) -> float:
    """A bar of the video's music at the tempo its segments share (plan_video's), in the meter most of it is in:
    the unit a slideshow's photos are timed in, so that a segment of whole such bars keeps that tempo exactly."""
    meters: dict[int, float] = {}
    for brief, duration in zip(briefs, durations):
        meter = music_rules()["genres"][brief.genre]["meter"]
        meters[meter] = meters.get(meter, 0.0) + duration
    bpm = _weighted_median([b.tempo_bpm for b in briefs], np.array(durations))
    return max(meters, key=meters.__getitem__) * 60.0 / bpm


@lru_cache(maxsize=64)
def _progressions(seed: int) -> dict[str, tuple[int, ...]]:
    """The chord progression a seed picks for each mode."""
    rng = np.random.default_rng(seed)
    return {mode: tuple(options[rng.integers(len(options))]) for mode, options in music_rules()["progressions"].items()}


def _plan_segment(brief: MusicBrief, duration: float, context: _VideoContext, bar_offset: int, final: bool,
                  seed: int, cuts: list[float], given: set[str] = frozenset()) -> SegmentPlan:
    own_mood = abs(brief.valence - context.valence) > SHARP_MOOD_CHANGE or {"key", "mode"} & given
    tonic, mode = (brief.tonic, brief.mode) if own_mood else (context.tonic, context.mode)
    if "tempo_bpm" in given or abs(brief.tempo_bpm - context.bpm) / context.bpm > TEMPO_FAMILY:
        target = brief.tempo_bpm
    else:
        target = context.bpm
    beats = music_rules()["genres"][brief.genre]["meter"]
    bars = max(1, round(duration / (beats * 60.0 / target)))
    return SegmentPlan(tonic, mode, bars * beats * 60.0 / duration, bars, beats, bar_offset,
                       _progressions(seed)[mode], final, _hit_points(cuts, duration / bars, duration))


def _hit_points(cuts: list[float], bar_seconds: float, duration: float) -> tuple[float, ...]:
    """The cuts a segment's music marks: a bar apart at least, so a fast montage gets a hit on every other cut
    rather than a clatter, and half a bar clear of the segment's ends, where the music changes anyway."""
    hits: list[float] = []
    for cut in sorted(cuts):
        clear = bar_seconds / 2 <= cut <= duration - bar_seconds / 2
        if clear and (not hits or cut - hits[-1] >= bar_seconds):
            hits.append(round(cut, 4))
    return tuple(hits)


def _weighted_median(values: list[float], weights: np.ndarray) -> float:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(np.asarray(values)[order][np.searchsorted(cumulative, cumulative[-1] / 2)])


class _Clip:
    """Notes being written for one segment, on a beat grid, with seeded humanisation: each part draws from its own
    stream, so that leaving a part out (or giving the tune another instrument) leaves every other note as it was."""

    def __init__(self, plan: SegmentPlan, swing: float, seed: int, intensity: float):
        self.plan, self.swing, self.seed, self.intensity = plan, swing, seed, intensity
        self.streams: dict[str, np.random.Generator] = {}
        self.beat = 60.0 / plan.bpm
        self.midi = pretty_midi.PrettyMIDI(initial_tempo=plan.bpm)
        self.tracks: dict[str, pretty_midi.Instrument] = {}

    def track(self, role: str, program: int) -> pretty_midi.Instrument:
        if role not in self.tracks:
            self.tracks[role] = pretty_midi.Instrument(program, is_drum=role == "drums", name=role)
            self.midi.instruments.append(self.tracks[role])
        return self.tracks[role]

    def random(self, role: str) -> np.random.Generator:
        """The part's own random stream for this segment."""
        if role not in self.streams:
            self.streams[role] = np.random.default_rng([self.seed, self.plan.bar_offset, PARTS.index(role)])
        return self.streams[role]

    def time(self, beats: float) -> float:
        whole, part = divmod(beats, 1.0)
        if abs(part - 0.5) < 1e-6:  # swung offbeat eighths lean towards the triplet
            part += self.swing / 6
        return (whole + part) * self.beat

    def dynamics(self, beat: float) -> float:
        """The velocity scale of a note starting on `beat`: its place in the running phrase (PHRASE_ARC) and, over
        the segment's last bar, the way halfway to the next segment's level (SegmentPlan.into)."""
        bars = (self.plan.bar_offset + beat / self.plan.beats_per_bar) % PHRASE_BARS
        arc = float(np.interp(bars, _ARC_BARS, _ARC_SCALES))
        last_bar = (self.plan.bars - 1) * self.plan.beats_per_bar
        if self.plan.into is None or beat <= last_bar:
            return arc
        toward = base_velocity((self.intensity + self.plan.into) / 2) / base_velocity(self.intensity)
        return arc * (1 + (toward - 1) * (beat - last_bar) / self.plan.beats_per_bar)

    def note(self, role: str, program: int, pitch: int, start_beat: float, beats: float, velocity: float,
             jitter: float = 0.008, rest: bool = False) -> None:
        """A note; or, with `rest`, none, though its humanisation is drawn all the same, so that the notes after it
        come out as they would have."""
        rng = self.random(role)
        start = max(0.0, self.time(start_beat) + rng.normal(0, jitter))
        end = self.time(start_beat + beats) - 0.01
        vel = int(min(127.0, max(1.0, velocity * self.dynamics(start_beat) + rng.normal(0, 5))))
        if not rest:
            self.track(role, program).notes.append(pretty_midi.Note(vel, int(pitch), start, max(end, start + 0.05)))


def arrange_segment(brief: MusicBrief, plan: SegmentPlan, seed: int) -> pretty_midi.PrettyMIDI:
    """The arrangement of one segment, played by the band its brief asks for (a part it leaves out rests); time 0
    is the segment's start."""
    genre = music_rules()["genres"][brief.genre]
    clip = _Clip(plan, genre["swing"], seed, brief.intensity)
    band = brief_band(brief)
    chords = _chord_sequence(plan)
    velocity = base_velocity(brief.intensity)
    voicing, bar_voicings = None, []
    for bar, classes in enumerate(chords):
        voicing = lead_voices(voicing, voicings(classes, 52, 76))
        bar_voicings.append(voicing)
        beat0 = bar * plan.beats_per_bar
        closing = plan.final and bar == plan.bars - 1
        if band.chords:
            _accompany(clip, genre["accompaniment"], band.chords[0], voicing, beat0, plan.beats_per_bar,
                       velocity * 0.9, brief.intensity, closing)
        if band.bass:
            _bass(clip, band.bass[0], classes, beat0, plan.beats_per_bar, velocity, brief, closing)
        if band.pad:
            clip.note("pad", band.pad[0], voicing[0] - 12, beat0, plan.beats_per_bar, velocity * 0.7)
            for pitch in voicing[1:]:
                clip.note("pad", band.pad[0], pitch, beat0, plan.beats_per_bar, velocity * 0.7)
        if band.drums:
            _drums(clip, band.drums, beat0, plan.beats_per_bar, velocity, brief.intensity,
                   first=bar == 0, closing=closing, fill=_fill(plan, bar, brief.intensity))
    if band.melody:
        _melody(clip, band.melody[0], chords, plan, brief, velocity, band.transpose)
    _hits(clip, band, chords, bar_voicings, velocity)
    _one_voice_per_key(clip.midi)
    return clip.midi


def _one_voice_per_key(midi: pretty_midi.PrettyMIDI) -> None:
    """Each pitch of a part sounding once at a time, as a key or a string does. Notes of one pitch starting within
    ONE_STROKE_SECONDS of each other are one stroke: a cut's hit on a beat where the part already plays that note, a
    one-beat fill's two strokes on its one offbeat (struck twice a few milliseconds apart, a note sounds as one
    stroke through a comb filter, hollow, its level off by up to 6 dB either way); it is played as loud and when the
    louder is, held as long as the longer. A note struck again while it sounds (an arpeggio coming round to it, a
    hit on the bass's held root) ends there, its release sounding from there, as a General MIDI player plays a key
    struck again, rather than ringing on beside itself in a second voice."""
    for instrument in midi.instruments:
        dropped: set[int] = set()
        kept = None
        for note in sorted(instrument.notes, key=lambda n: (n.pitch, n.start)):
            if kept is None or kept.pitch != note.pitch:
                kept = note
            elif note.start - kept.start < ONE_STROKE_SECONDS:
                if note.velocity > kept.velocity:
                    kept.velocity, kept.start = note.velocity, note.start
                kept.end = max(kept.end, note.end)
                dropped.add(id(note))
            else:
                kept.end = min(kept.end, note.start)
                kept = note
        if dropped:
            instrument.notes = [note for note in instrument.notes if id(note) not in dropped]


def base_velocity(intensity: float) -> float:
    """The velocity a segment's notes are played at before accents, phrasing and humanisation."""
    return 50 + 50 * intensity


def _fill(plan: SegmentPlan, bar: int, intensity: float) -> int:
    """Beats of drum fill that end `bar`: two (one in a short bar) leading into the next segment, one at the end
    of a phrase when the music is lively, else none."""
    if bar == plan.bars - 1 and not plan.final:
        return 2 if plan.beats_per_bar >= 4 else 1
    phrase_end = (plan.bar_offset + bar) % PHRASE_BARS == PHRASE_BARS - 1
    return 1 if phrase_end and intensity > 0.45 and bar < plan.bars - 1 else 0


def _chord_sequence(plan: SegmentPlan) -> list[list[int]]:
    """One chord per bar, the progression continuing from earlier segments; a V-I cadence ends the video."""
    seventh = False
    degrees = [plan.progression[(plan.bar_offset + bar) % len(plan.progression)] for bar in range(plan.bars)]
    if plan.final:
        if plan.bars >= 2:
            degrees[-2] = 5
        degrees[-1] = 1
    return [chord_pitch_classes(plan.tonic, plan.mode, d, seventh, dominant_major=plan.final and d == 5)
            for d in degrees]


def _accompany(clip: _Clip, style: str, program: int, voicing: tuple[int, ...], beat0: float, beats: int,
               velocity: float, intensity: float, closing: bool) -> None:
    if closing or style == "pad":
        for pitch in voicing:
            clip.note("chords", program, pitch, beat0, beats, velocity * 0.8)
        return
    if style == "arpeggio":
        step = 0.5 if intensity > 0.45 else 1.0
        pattern = list(voicing) + list(voicing[-2:0:-1])
        for i, offset in enumerate(np.arange(0, beats, step)):
            clip.note("chords", program, pattern[i % len(pattern)], beat0 + offset, step * 1.5, velocity * 0.85)
    elif style in ("strum", "pulse", "power"):
        step = 0.5 if intensity > 0.5 or style != "strum" else 1.0
        pitches = (voicing[0] - 12, voicing[0] - 5, voicing[0]) if style == "power" else voicing
        for offset in np.arange(0, beats, step):
            accent = 1.0 if offset % 1 == 0 else 0.8
            for k, pitch in enumerate(pitches):  # a strum: strings sound a few ms apart
                clip.note("chords", program, pitch, beat0 + offset + (0.03 * k if style == "strum" else 0),
                          step * 0.9, velocity * accent)
    else:  # block: comping on the beats that the meter stresses
        for offset in (0, 2) if beats == 4 else (0,):
            for pitch in voicing:
                clip.note("chords", program, pitch, beat0 + offset, 1.5, velocity)


def _bass(clip: _Clip, program: int, classes: list[int], beat0: float, beats: int, velocity: float,
          brief: MusicBrief, closing: bool) -> None:
    root = 36 + (classes[0] - 36) % 12
    fifth = 36 + (classes[2] - 36) % 12
    if closing:
        clip.note("bass", program, root, beat0, beats, velocity)
    elif brief.intensity > 0.65:
        for offset in np.arange(0, beats, 0.5):
            clip.note("bass", program, root, beat0 + offset, 0.45, velocity * (1.0 if offset % 1 == 0 else 0.8))
    elif brief.genre == "lo-fi jazz":  # walking: root, third, fifth, approach to the next root
        walk = [root, 36 + (classes[1] - 36) % 12, fifth, root + 10]
        for offset in range(beats):
            clip.note("bass", program, walk[offset % 4], beat0 + offset, 1.0, velocity)
    else:
        clip.note("bass", program, root, beat0, 2 if beats == 4 else beats, velocity)
        if beats == 4:
            clip.note("bass", program, fifth, beat0 + 2, 2, velocity * 0.9)


def _drums(clip: _Clip, style: str, beat0: float, beats: int, velocity: float, intensity: float,
           first: bool, closing: bool, fill: int = 0) -> None:
    """One bar of the style's pattern; its last `fill` beats are a fill instead."""
    fill_from = beats - fill if fill else float("inf")

    def hit(name: str, offset: float, level: float = 1.0) -> None:
        if offset < fill_from:
            clip.note("drums", 0, _DRUM[name], beat0 + offset, 0.25, velocity * level, jitter=0.004)

    if closing:
        hit("crash", 0)
        hit("kick", 0)
        return
    if first and style in ("rock", "pop", "cinematic", "four_on_floor"):
        hit("crash", 0, 0.9)
    eighths = np.arange(0, beats, 0.5)
    backbeats = [1, 3] if beats == 4 else [1, 2]
    if style == "four_on_floor":
        for b in range(beats):
            hit("kick", b)
            hit("open_hat", b + 0.5, 0.6)
        for b in backbeats:
            hit("clap", b, 0.9)
        if intensity > 0.7:
            for t in np.arange(0, beats, 0.25):
                hit("hat", t, 0.45)
    elif style in ("pop", "rock"):
        for b in [0, 2] if beats == 4 else [0]:
            hit("kick", b)
        if style == "rock" or intensity > 0.6:
            hit("kick", beats - 1.5, 0.8)
        for b in backbeats:
            hit("snare", b)
        for t in eighths:
            hit("hat", t, 0.55 if t % 1 else 0.7)
    elif style == "jazz":
        for b in range(beats):
            hit("ride", b, 0.6)
            if b % 2 == 1:
                hit("ride", b + 0.5, 0.45)
                hit("pedal_hat", b, 0.5)
        hit("kick", 0, 0.4)
    elif style == "light":
        for t in eighths:
            hit("shaker", t, 0.5 if t % 1 else 0.65)
        hit("kick", 0, 0.6)
        for b in backbeats:
            hit("tambourine", b, 0.5)
    elif style == "cinematic":
        hit("floor_tom", 0, 0.9)
        hit("low_tom", beats - 1, 0.7)
        if intensity > 0.6:
            for t in eighths[1::2]:
                hit("mid_tom", t, 0.45)
    if fill:
        for name, offset, level in _FILLS[style](fill_from, beats):
            clip.note("drums", 0, _DRUM[name], beat0 + offset, 0.25, velocity * level, jitter=0.004)


def _rising(names: list[str], start: float, end: float, step: float) -> list[tuple[str, float, float]]:
    """Strokes every `step` beats from `start` to `end`, growing from soft to full, cycling through `names`."""
    times = np.arange(start, end - 1e-9, step)
    return [(names[k % len(names)], float(t), 0.55 + 0.45 * k / max(len(times) - 1, 1)) for k, t in enumerate(times)]


def _tom_run(start: float, end: float) -> list[tuple[str, float, float]]:
    """Snare sixteenths, then the toms from high to low over the last beat, growing."""
    strokes = _rising(["snare"], start, end - 1, 0.25)
    return strokes + [(name, end - 1 + 0.25 * k, 0.75 + 0.08 * k) for k, name in enumerate(
        ["mid_tom", "mid_tom", "low_tom", "floor_tom"])]


# (where the fill starts, the bar's beats) -> (drum, beat, level): each style's way into the next phrase
_FILLS = {
    "rock": _tom_run,
    "pop": lambda start, end: _rising(["snare"], start, end - 0.5, 0.5) + _rising(["snare"], end - 0.5, end, 0.25),
    "four_on_floor": lambda start, end: [("kick", float(b), 1.0) for b in np.arange(start, end)]
    + _rising(["snare"], start, end, 0.25),
    "cinematic": lambda start, end: _rising(["low_tom", "floor_tom"], start, end, 0.25 if end - start < 2 else 0.5),
    "jazz": lambda start, end: [("snare", start + 0.5, 0.6), ("snare", end - 0.5, 0.8), ("kick", end - 0.5, 0.7)],
    "light": lambda start, end: _rising(["tambourine"], start, end, 0.25),
}
_HIT_KIT = {"rock": ("crash", "kick"), "pop": ("crash", "kick"), "four_on_floor": ("crash", "kick"),
            "cinematic": ("crash", "floor_tom"), "jazz": ("crash", "kick"), "light": ("tambourine", "kick")}


def _hits(clip: _Clip, band: Band, chords: list[list[int]], bar_voicings: list[tuple[int, ...]],
          velocity: float) -> None:
    """An accent on each of the plan's hits: the bass's root with the drums' crash (a stab of the chord where
    there are no drums), on the sixteenth nearest the cut when that is near enough, else on the cut itself; a part
    that rests plays no hit."""
    plan = clip.plan
    for at in plan.hits:
        beat = at / clip.beat
        nearest = round(beat * 4) / 4
        if abs(nearest - beat) * clip.beat <= HIT_SNAP_SECONDS:
            beat = nearest
        bar = min(int(beat // plan.beats_per_bar), len(chords) - 1)
        if band.bass:
            clip.note("bass", band.bass[0], 36 + (chords[bar][0] - 36) % 12, beat, 1.0, velocity * 1.1,
                      jitter=0.002)
        if band.drums:
            for name in _HIT_KIT[band.drums]:
                clip.note("drums", 0, _DRUM[name], beat, 0.25, min(127.0, velocity * 1.15), jitter=0.002)
        elif band.chords:
            for pitch in bar_voicings[bar]:
                clip.note("chords", band.chords[0], pitch, beat, 1.0, velocity * 1.05, jitter=0.002)


def _melody(clip: _Clip, program: int, chords: list[list[int]], plan: SegmentPlan, brief: MusicBrief,
            velocity: float, transpose: int = 0) -> None:
    """Four-bar phrases over the changes: a one-bar motif (strong beats on chord tones, steps of the scale between)
    stated, stated again, turned over, and answered by a bar that lands on a chord tone and breathes. It rests
    where someone speaks in the original sound (scoring under dialogue: the accompaniment goes on, the tune makes
    room for the voice). `transpose` moves its range (D4-D6) into the lead instrument's."""
    scale = scale_pitches(plan.tonic, plan.mode, 62 + transpose, 86 + transpose)
    beats = plan.beats_per_bar
    density = 2 + int(round(brief.intensity * 4))  # notes per bar
    rng = clip.random("melody")
    onsets = sorted(rng.choice(np.arange(0, beats, 0.5), size=min(density, beats * 2), replace=False))
    contour = rng.integers(-2, 3, size=len(onsets))
    middle = scale[len(scale) // 2]
    pitch = middle
    sparse = brief.intensity < 0.25  # quiet scenes: the melody rests every other bar
    for bar, classes in enumerate(chords):
        position = (plan.bar_offset + bar) % PHRASE_BARS
        if position in (0, 1):  # the motif sets out from the middle of the range, and again from there
            pitch = middle
        if sparse and position % 2 == 1:
            continue
        closing = plan.final and bar == len(chords) - 1
        if closing:  # end on the tonic, held
            tonic = min((p for p in scale if p % 12 == plan.tonic), key=lambda p: abs(p - pitch))
            clip.note("melody", program, tonic, bar * beats, beats, velocity,
                      rest=_over_a_voice(clip, bar * beats, beats))
            continue
        if position == PHRASE_BARS - 1:  # the answer: a chord tone (its root if near) held, then a breath
            pitch = min((p for p in scale if p % 12 in classes),
                        key=lambda p: abs(p - pitch) + (0 if p % 12 == classes[0] else 1.5))
            clip.note("melody", program, pitch, bar * beats, beats - 1, velocity,
                      rest=_over_a_voice(clip, bar * beats, beats - 1))
            continue
        turn = -1 if position == 2 else 1  # the third bar turns the motif's contour over
        for i, onset in enumerate(onsets):
            target = pitch + turn * contour[i] * 2
            if onset % 1 == 0:  # strong beat: the nearest chord tone
                candidates = [p for p in scale if p % 12 in classes] or scale
            else:
                candidates = scale
            pitch = min(candidates, key=lambda p: abs(p - target))
            length = (onsets[i + 1] if i + 1 < len(onsets) else beats) - onset
            accent = 1.0 if onset % 1 == 0 else 0.85
            lift = float(np.clip(1 + MELODY_RISE_PER_SEMITONE * (pitch - middle), 0.92, 1.08))
            clip.note("melody", program, pitch, bar * beats + onset, length, velocity * accent * lift,
                      rest=_over_a_voice(clip, bar * beats + onset, length))


def _over_a_voice(clip: _Clip, start_beat: float, beats: float) -> bool:
    """Whether a note would sound while someone speaks (with a moment's margin either side)."""
    start, end = clip.time(start_beat) - VOICE_MARGIN_SECONDS, clip.time(start_beat + beats) + VOICE_MARGIN_SECONDS
    return any(start < voice_end and voice_start < end for voice_start, voice_end in clip.plan.voices)
