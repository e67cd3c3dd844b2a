"""The procedural backend: visual measurements -> rules -> arrangement -> General MIDI soundfont audio.

Instant, offline, CPU-only, and the arrangement can be exported as MIDI. Segments are independent once planned,
so a long video renders them in worker processes, one per core up to a few (the renderer is numpy on small arrays:
threads would mostly wait for the GIL).
"""

from __future__ import annotations

import functools
import hashlib
import json
import multiprocessing
import os
import signal
import struct
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import pretty_midi

from cotvtm_desktop import config
from cotvtm_desktop.analysis.scan import Timeline
from cotvtm_desktop.analysis.visual import VisualElements
from cotvtm_desktop.brief import MusicBrief
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media.segments import Segment
from cotvtm_desktop.music.arranger import SegmentPlan, arrange_segment, plan_video, video_bar_seconds
from cotvtm_desktop.music.backend import SegmentEdit, SegmentMusic, silent_indices, silent_music
from cotvtm_desktop.music.midi_export import join_segments
from cotvtm_desktop.music.mixdown import ROLE_GAIN, STEMS, Room, mixdown, stem_mixdown
from cotvtm_desktop.music.soundfont import SoundFont, load_soundfont
from cotvtm_desktop.reasoning.rules import band_of, brief_band, edit_brief, music_rules, reason

RENDERER_VERSION = 19  # bump when arranging or rendering changes, so cached segment audio is not reused


class ProceduralBackend:
    name = "procedural"
    sample_rate = config.OUTPUT_SAMPLE_RATE  # rendered at the export rate: nothing to resample
    features_id = ""
    makes_midi = True
    sharp_starts = True  # a segment's notes begin on its first downbeat; it rings out under the next

    def __init__(self, seed: int = config.SEED, style: Mapping | None = None, soundfont: Path | None = None,
                 energy: float = 0.0):
        """`style`: brief changes for every segment, under each one's own edit (a genre, a lead, parts left out);
        `soundfont`: a General MIDI .sf2 or .sf3 to play the music with (default: the one pretty_midi ships); read
        here, so that a file it cannot use is said before any work; `energy`: -1 calmer .. 1 livelier than the
        picture asks for (reasoning.rules.reason)."""
        self.seed, self.energy = seed, energy
        self.style = dict(style or {})
        self.soundfont = Path(soundfont) if soundfont else config.soundfont_path()
        self.font = open_soundfont(self.soundfont)
        stat = self.soundfont.stat()  # a different font, or the same one changed, renders every segment again
        self.font_identity = [str(self.soundfont.resolve()), stat.st_size, stat.st_mtime_ns]
        self.runs_on = f"cpu, the General MIDI soundfont {self.soundfont.name}"

    def keyframe_features(self) -> None:
        return None  # the rules work from the scan's own measurements

    def plan(self, timeline: Timeline, segments: list[Segment], visuals: list[VisualElements],
             padding: float, voices: list[tuple[float, float]] = (),
             edits: Mapping[int, SegmentEdit] | None = None) -> list[SegmentMusic]:
        edits = edits or {}
        measured = [reason(v, self.energy) for v in visuals]
        changes = {s.index: {**self.style, **edits.get(s.index, SegmentEdit()).brief} for s in segments}
        edited = {i: (self._edited_brief(i, measured[i], c), set(c)) for i, c in changes.items() if c}
        seeds = [edits.get(s.index, SegmentEdit()).seed_or(self.seed) for s in segments]
        cuts = [[c - s.start for c in timeline.cuts if s.start < c < s.end] for s in segments]
        spoken = [[(max(a, s.start) - s.start, min(b, s.end) - s.start) for a, b in voices if a < s.end and b > s.start]
                  for s in segments]
        silent = silent_indices(segments, edits)
        self._check_instruments([edited[i][0] if i in edited else measured[i]
                                 for i in range(len(segments)) if i not in silent])
        plans = plan_video([s.duration for s in segments], measured, seeds, edited, cuts, spoken, silent)
        items = []
        for s, v, b, p, seed in zip(segments, visuals, measured, plans, seeds):
            if s.index in silent:
                items.append(silent_music(s, v))
                continue
            brief = edited[s.index][0] if s.index in edited else b
            details = {"visual": v.to_json(), "brief": brief.to_json(), "arrangement": p.to_json(), "seed": seed}
            items.append(SegmentMusic(s, brief.description(), self._cache_key(brief, p, seed, s.duration, padding),
                                      details, (brief, p, seed)))
        return items

    def render(self, plan: list[SegmentMusic], todo: list[int], padding: float, cached=None, cancel=None,
               on_step=None, stems: bool = False) -> Iterator[tuple[int, np.ndarray]]:
        """Each segment of `todo`, in order, from `padding` before its start (its silent lead-in) until its room
        has died away after its end: its last notes' release and reverberation ring out under the next segment
        (media.audio.stitch), as a band's do. A segment renders in a fraction of a second: cancel is checked
        between segments. `stems`: each part apart (mixdown.stem_mixdown's channels) instead of their mix."""
        jobs = [(plan[i].state, plan[i].segment.duration + padding + genre_room(plan[i].state[0].genre).seconds,
                 padding, self.sample_rate, stems, self.soundfont) for i in todo]
        workers = 1
        if len(todo) >= config.PARALLEL_RENDER_MIN_SEGMENTS:
            workers = min(len(todo), _usable_cores(), config.PARALLEL_RENDER_MAX_WORKERS)
        rendered = _in_workers(jobs, workers) if workers > 1 else render_segments(jobs)
        try:
            for i in todo:
                if cancel is not None and cancel.is_set():
                    return
                yield i, next(rendered)
        finally:
            rendered.close()  # stops the workers: cancelled, failed or abandoned

    stems = STEMS  # the parts render(stems=True) gives apart

    def bar_seconds(self, plan: list[SegmentMusic]) -> float | None:
        sounding = [m for m in plan if not m.silent]
        return video_bar_seconds([m.segment.duration for m in sounding], [m.state[0] for m in sounding])

    def write_midi(self, plan: list[SegmentMusic], path: Path) -> None:
        sounding = [m for m in plan if not m.silent]
        clips = [arrange_segment(*m.state) for m in sounding]
        joined = join_segments(clips, [m.segment.start for m in sounding], [m.state[1].bpm for m in sounding],
                               [genre_room(m.state[0].genre) for m in sounding])
        joined.write(str(path))

    @staticmethod
    def _edited_brief(index: int, brief: MusicBrief, changes: dict) -> MusicBrief:
        try:
            return edit_brief(brief, changes)
        except UserError as exc:
            raise UserError(f"segment {index + 1}: {exc}") from None

    def _check_instruments(self, briefs: list[MusicBrief]) -> None:
        """A UserError naming the instruments these briefs' music needs that the soundfont lacks (a font that is
        not General MIDI: a piano alone, say), which would otherwise leave their parts silent."""
        needed: dict[str, dict[tuple[int, int, str], None]] = {}
        for brief in briefs:
            band = brief_band(brief)
            wanted = [(0, program, name) for program, name in band.programs()]
            wanted += [(128, 0, "drums")] if band.drums else []
            needed.setdefault(brief.genre, {}).update(dict.fromkeys(wanted))
        missing = []
        for genre in sorted(needed):
            lacking = dict.fromkeys(f"{name} (General MIDI {'drum kit 1' if bank else f'program {program + 1}'})"
                                    for bank, program, name in needed[genre] if not self.font.plays(bank, program))
            if lacking:
                missing.append(f"{' or '.join(lacking)}, which {genre} needs")
        if missing:
            raise UserError(f"this soundfont has no {'; no '.join(missing)}; choose a General MIDI soundfont (one "
                            "with all 128 instruments and a drum kit)", self.soundfont)

    def _cache_key(self, brief: MusicBrief, plan: SegmentPlan, seed: int, seconds: float, padding: float) -> str:
        payload = json.dumps([RENDERER_VERSION, seed, brief.to_json(), plan.to_json(), round(seconds, 4),
                              padding, self.sample_rate, self.font_identity], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:20]


def open_soundfont(path: Path) -> SoundFont:
    """The soundfont at `path`, or a UserError naming it and saying why it cannot be used."""
    try:
        return load_soundfont(Path(path))
    except FileNotFoundError:
        raise UserError("soundfont not found; give the path of a General MIDI .sf2 or .sf3 file", path) from None
    except IsADirectoryError:
        raise UserError("is a folder; give the path of a General MIDI .sf2 or .sf3 file in it", path) from None
    except OSError as exc:  # not readable by this user, say
        raise UserError(f"the soundfont cannot be read ({exc.strerror or exc})", path) from None
    except (ValueError, struct.error) as exc:
        raise UserError(f"cannot be used as the soundfont: {exc}", path) from None


def render_segment(state: tuple, seconds: float, padding: float, rate: int, stems: bool = False,
                   soundfont: Path | None = None) -> np.ndarray:
    """One planned segment's audio, (n, 2) float32 (its stems: (n, 2 x len(STEMS))): `state` is its (brief,
    arrangement plan, seed), played with `soundfont` (default: the shipped one)."""
    return render_midi(arrange_segment(*state), seconds, padding, rate, genre_room(state[0].genre), stems,
                       soundfont, part_gains(state[0], soundfont))


def genre_room(genre: str) -> Room:
    """The room a genre's music plays in (resources/music_rules.json)."""
    return Room(**music_rules()["genres"][genre]["room"])


def part_gains(brief: MusicBrief, soundfont: Path | None = None) -> dict[str, float]:
    """Each part's level in a brief's mix: mixdown's, but where its genre sets its own (its "gain" in
    resources/music_rules.json: a sustained cello under a decaying piano is turned down, so the tune leads). A part
    the user gave another instrument (--lead, --chords, --bass) sounds as loud as the genre's own instrument did in
    `soundfont`, so the mix keeps its balance: sustained organ chords in place of a piano's decaying ones turned
    down to where the piano sat, a music box's tune up (by 12 dB at most either way)."""
    gains = {**ROLE_GAIN, **music_rules()["genres"][brief.genre].get("gain", {})}
    own, chosen = band_of(brief.genre), brief_band(brief)
    for role, pitches in _LEVEL_PITCHES.items():
        genre_part, chosen_part = getattr(own, role), getattr(chosen, role)
        if genre_part and chosen_part and genre_part[0] != chosen_part[0]:
            shifted = tuple(p + chosen.transpose for p in pitches) if role == "melody" else pitches
            ratio = instrument_level(soundfont, genre_part[0], pitches) / instrument_level(soundfont, chosen_part[0],
                                                                                            shifted)
            gains[role] *= float(np.clip(ratio, 1 / 4, 4))
    return gains


# where each part's instrument is heard for its level: the tune's register, a chord in the middle, a low bass note
_LEVEL_PITCHES = {"melody": (72,), "chords": (60, 64, 67), "bass": (36,)}


@functools.lru_cache(maxsize=64)
def instrument_level(soundfont: Path | None, program: int, pitches: tuple[int, ...]) -> float:
    """How loud a General MIDI `program` sounds in `soundfont` (None: the shipped one): the RMS of `pitches` held
    together for two seconds at a middling velocity and let ring, dry. A piano's decay and an organ's sustain both
    count, as they do in a part."""
    midi = pretty_midi.PrettyMIDI()
    played = pretty_midi.Instrument(program, name="melody")
    played.notes = [pretty_midi.Note(90, pitch, 0.0, 2.0) for pitch in pitches]
    midi.instruments.append(played)
    audio = render_midi(midi, 3.0, 0.0, config.OUTPUT_SAMPLE_RATE, None, False, soundfont, {**ROLE_GAIN, "melody": 1})
    return float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) + 1e-9


def render_segments(jobs: list[tuple]) -> Iterator[np.ndarray]:
    """render_segment over `jobs`, in order, in this process. All segments are arranged first and their notes
    announced to the soundfont, so that each oscillator renders once, at the longest length any segment needs."""
    if not jobs:
        return
    font = load_soundfont(jobs[0][5])  # one backend's jobs: one soundfont
    placed = [_placed_notes(arrange_segment(*job[0]), *job[1:4]) for job in jobs]
    for notes, job in zip(placed, jobs):
        _reserve(font, notes, job[3])
    for notes, (state, seconds, _, rate, stems, soundfont) in zip(placed, jobs):
        yield _mixed(font, notes, seconds, rate, genre_room(state[0].genre), stems, part_gains(state[0], soundfont))


def _in_workers(jobs: list[tuple], workers: int) -> Iterator[np.ndarray]:
    """render_segment over `jobs` in worker processes, results in order; at most two segments per worker are
    submitted ahead of the one taken, which bounds the audio held in memory."""
    with ProcessPoolExecutor(workers, mp_context=_worker_context(), initializer=_ignore_interrupts) as pool:
        ahead = 2 * workers
        futures = [pool.submit(render_segment, *job) for job in jobs[:ahead]]
        try:
            for k in range(len(jobs)):
                if k + ahead < len(jobs):
                    futures.append(pool.submit(render_segment, *jobs[k + ahead]))
                yield futures[k].result()
                futures[k] = None
        finally:  # closed early: drop the segments not yet started
            pool.shutdown(cancel_futures=True)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on (containers, taskset)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _worker_context():
    """Workers start from a clean server process that has imported this module once (forkserver), not by forking
    this one, whose threads (torch's, the cancel listener's) a fork would copy mid-flight; where there is no
    forkserver (Windows), they spawn."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def _ignore_interrupts() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it shuts the workers down


def render_midi(midi: pretty_midi.PrettyMIDI, seconds: float, offset: float, rate: int,
                room: Room | None = None, stems: bool = False, soundfont: Path | None = None,
                gains: Mapping[str, float] = ROLE_GAIN) -> np.ndarray:
    """Render `midi` through a General MIDI soundfont (default: the shipped one) into a (n, 2) float32 buffer of
    `seconds`, notes shifted by `offset` seconds, its tracks (named by role) at their `gains` and mixed in `room`
    (dry if None); with `stems`, each role of STEMS apart (mixdown.stem_mixdown)."""
    font = load_soundfont(Path(soundfont) if soundfont else config.soundfont_path())
    notes = _placed_notes(midi, seconds, offset, rate)
    _reserve(font, notes, rate)
    return _mixed(font, notes, seconds, rate, room, stems, gains)


_PlacedNote = tuple[int, int, str, pretty_midi.Note, int]  # bank, program, role, the note, its first sample


def _placed_notes(midi: pretty_midi.PrettyMIDI, seconds: float, offset: float, rate: int) -> list[_PlacedNote]:
    """The notes of `midi` that start within `seconds` once shifted by `offset`."""
    notes = []
    for instrument in midi.instruments:
        bank = 128 if instrument.is_drum else 0
        for note in instrument.notes:
            start = int(round((note.start + offset) * rate))
            if start < round(seconds * rate):
                notes.append((bank, instrument.program, instrument.name, note, start))
    return notes


def _reserve(font: SoundFont, notes: list[_PlacedNote], rate: int) -> None:
    for bank, program, _, note, _ in notes:
        font.reserve(bank, program, note.pitch, note.velocity, note.end - note.start, rate)


def _mixed(font: SoundFont, notes: list[_PlacedNote], seconds: float, rate: int, room: Room | None,
           stems: bool = False, gains: Mapping[str, float] = ROLE_GAIN) -> np.ndarray:
    length = int(round(seconds * rate))
    parts: dict[str, np.ndarray] = {}
    for bank, program, role, note, start in notes:
        audio = font.render_note(bank, program, note.pitch, note.velocity, note.end - note.start, rate,
                                 gains.get(role, 1.0))
        part = parts.setdefault(role, np.zeros((length, 2), np.float32))
        stop = min(length, start + len(audio))
        part[start:stop] += audio[:stop - start]
    return (stem_mixdown if stems else mixdown)(parts, length, room, rate)
