"""One job: score one input file into one output file.

prepare: probe -> scan (colour, motion, cuts, objects, backend features) -> segment plan -> visual elements ->
         the backend's plan for every segment
render:  per-segment music, cached in the work folder, stitched, ducked under the original audio and measured as
         it comes (by itself; or with other jobs' in one batch, and then stitched in finish)
finish:  loudness -> AAC (chunks in parallel) -> mux under a temporary name -> rename -> manifest
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import shutil
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from cotvtm_desktop import __version__, config
from cotvtm_desktop.analysis import objects
from cotvtm_desktop.analysis.scan import RememberedPart, Timeline, scan_image, scan_timeline, scan_video
from cotvtm_desktop.analysis.visual import describe_segment
from cotvtm_desktop.errors import BadMediaError, Cancelled, OutputError, UserError, disk_errors, os_error
from cotvtm_desktop.jobs.backends import choose_backend
from cotvtm_desktop.jobs.edits import place_edits
from cotvtm_desktop.jobs.events import EventSink, no_events
from cotvtm_desktop.jobs.workdir import WorkDir, cache_key, input_fingerprint, stored_audio
from cotvtm_desktop.media import aac, audio, mux, proxy
from cotvtm_desktop.media.probe import MediaInfo, probe
from cotvtm_desktop.media.segments import Segment, plan_segments
from cotvtm_desktop.media.slideshow import bar_lines, film_captions, fitted_to_bars, slideshow_clips
from cotvtm_desktop.media.timeline import (Clip, clips_of, is_project_path, is_timeline_path, joined_clips,
                                           read_timeline, timeline_info)
from cotvtm_desktop.music.backend import MusicBackend, SegmentEdit, SegmentMusic

OUTPUT_EXTENSIONS_FOR_IMAGES = (".m4a", ".wav", ".flac", ".mp4")
# the music alone, for an editor's audio track; or, as .mp4, with a small render of the edit's picture (a preview)
OUTPUT_EXTENSIONS_FOR_TIMELINES = (".wav", ".flac", ".m4a", ".mp4")
# A video scored to an audio file gets its music alone, ducked as in the mp4's mix: a track for an editor
OUTPUT_EXTENSIONS_FOR_VIDEOS = (".mp4", ".wav", ".flac", ".m4a")


@dataclass(frozen=True)
class ScoreOptions:
    segment_seconds: float = config.SEGMENT_SECONDS
    target_lufs: float = config.TARGET_LUFS
    replace_audio: bool = False
    duck_db: float = config.DUCK_DB
    music_db: float = config.MUSIC_LEVEL_DB  # the music this much louder than the mix would put it
    seed: int = config.SEED
    midi: bool = False
    stems: bool = False  # the music's parts apart, each as a WAV in a folder beside the output
    overwrite: bool = False
    resume: bool = False
    image_seconds: float = config.IMAGE_SECONDS
    photo_seconds: float = config.SLIDESHOW_PHOTO_SECONDS  # a slideshow's: each photo's time on screen
    held: dict[str, float] = field(default_factory=dict)  # a slideshow's photos (by name or path) on screen this long
    film_length: float | None = None  # a slideshow's length: its photos share what its videos leave
    exact_photo_seconds: bool = False  # a slideshow's photos exactly their seconds, not fitted to the music's bars
    keep_similar: bool = False  # a slideshow shows every shot of a burst, not only the sharpest
    dates: bool = False  # a slideshow shows the day over the first picture of each day it was taken on
    places: bool = False  # a slideshow shows the town over the first picture taken in each place
    dissolve: bool = False  # a slideshow's photos dissolve into each other (SLIDESHOW_DISSOLVE_SECONDS), not cut
    slideshow_size: int = config.SLIDESHOW_SHORT_SIDE  # a slideshow's picture: the lines on its shorter side
    title: str = ""  # a slideshow's: words over its opening seconds
    crossfade: float = config.CROSSFADE_SECONDS
    fade_in: float = config.FADE_IN_SECONDS
    fade_out: float = config.FADE_OUT_SECONDS
    keep_work: bool = False
    backend: str = "auto"  # auto, procedural or neural
    models_dir: Path | None = None  # neural: folder holding clip/, musicgen/, cotvtm/
    clip: Path | None = None  # neural: per-model folders that override models_dir
    musicgen: Path | None = None
    cotvtm: Path | None = None
    musicgen_size: str = config.MUSICGEN_SIZE
    device: str = "auto"
    precision: str = config.MUSICGEN_PRECISION  # neural: MusicGen's number format
    continuity: bool = True  # neural: each segment continues from the end of the one before
    segments: dict[int, SegmentEdit] = field(default_factory=dict)  # segment index (from 0) -> the user's edit
    silences: tuple[tuple[float, float], ...] = ()  # (start, end) seconds to have no music in
    genre: str | None = None  # procedural: every segment's genre, not the measured one (a segment's own edit wins)
    lead: str | None = None  # procedural: every segment's melody played by this instrument (music_rules.json leads)
    chords: str | None = None  # procedural: every segment's chords played by this instrument (music_rules.json)
    bass: str | None = None  # procedural: every segment's bass played by this instrument (music_rules.json basses)
    without: tuple[str, ...] = ()  # procedural: parts (brief.PARTS) left out of every segment's music
    energy: float = 0.0  # procedural: -1 calmer .. 1 livelier music than the picture asks for (the same genre)
    soundfont: Path | None = None  # procedural: a General MIDI .sf2 or .sf3 to play the music with (None: shipped)
    work_dir: Path | None = None  # where segment audio and analysis are cached; kept when given (the GUI's)

    def style(self) -> dict:
        """The procedural brief's fields these options set for every segment (under each one's own edit)."""
        style = {"genre": self.genre, "lead": self.lead, "chords": self.chords, "bass": self.bass,
                 "without": list(self.without)}
        return {name: value for name, value in style.items() if value}


def default_output(input_path: Path, out_dir: Path | None = None, extension: str | None = None) -> Path:
    """holiday.mp4 -> holiday.scored.mp4 (photo.jpg -> photo.scored.m4a, edit.json -> edit.scored.wav), beside the
    input or in `out_dir`; `extension` (".wav", say) replaces the kind's default."""
    from cotvtm_desktop.media.probe import is_image_path

    if extension is not None:
        suffix = extension
    elif is_timeline_path(input_path):
        suffix = config.TIMELINE_OUTPUT_EXTENSION
    else:
        suffix = config.IMAGE_OUTPUT_EXTENSION if is_image_path(input_path) else ".mp4"
    return (out_dir or input_path.parent) / f"{input_path.stem}{config.OUTPUT_SUFFIX}{suffix}"


def manifest_path(output: Path) -> Path:
    return output.with_suffix(".json")


def midi_path(output: Path) -> Path:
    return output.with_suffix(".mid")


def stems_folder(output: Path) -> Path:
    """holiday.scored.mp4 -> holiday.scored.stems/ (melody.wav, chords.wav, ...)"""
    return output.with_suffix(".stems")


def stem_files(output: Path, parts: Iterable[str]) -> list[Path]:
    """Each part's file in the output's stems folder."""
    return [stems_folder(output) / f"{part}.wav" for part in parts]


def written_files(output: Path, options: ScoreOptions) -> dict[Path, str]:
    """Every file a job writes, named for a message: the output, its manifest, its MIDI file with --midi and its
    stems' folder with --stems."""
    written = {output: "the output", manifest_path(output): f"the manifest {manifest_path(output).name}"}
    if options.midi:
        written[midi_path(output)] = f"the MIDI file {midi_path(output).name}"
    if options.stems:
        written[stems_folder(output)] = f"the stems' folder {stems_folder(output).name}"
    return written


def score(input_path: Path, output: Path, options: ScoreOptions = ScoreOptions(), events: EventSink = no_events,
          cancel: threading.Event | None = None, backend: tuple[MusicBackend, str] | None = None,
          then: Sequence[Path] = (), slideshow: bool = False) -> dict:
    """Score `input_path` into `output`. Returns the manifest. Raises UserError for every expected failure,
    leaving no partial output behind. `backend` (from choose_backend) lets a batch load models once. `then`: the
    files that continue the recording `input_path` begins (a camera's split parts), scored with it as one video;
    with `slideshow`, the photos and videos shown after it (media/slideshow.py)."""
    job = start_job(input_path, output, options, events, cancel, backend, then, slideshow)
    job.render()
    return job.finish()


_NOT_JOINED = "a recording joined from its parts has their picture and their first sound only"
_TIMING_PLANS = 3  # a slideshow's photos are timed to the music planned for them at most this often
_SAME_BAR = 0.01  # a bar changed by less than this fraction from one plan to the next is taken as found


def start_job(input_path: Path, output: Path, options: ScoreOptions = ScoreOptions(),
              events: EventSink = no_events, cancel: threading.Event | None = None,
              backend: tuple[MusicBackend, str] | None = None, then: Sequence[Path] = (),
              slideshow: bool = False) -> "Job":
    """Check, probe, analyse and plan one input: a Job whose music can then be rendered (by itself, or together
    with other jobs' in one batch) and finished."""
    input_path, output = Path(input_path), Path(output)
    started = time.perf_counter()
    _check_output(input_path, output, options)
    reuse_work = options.resume or options.work_dir is not None  # a given work folder is always reused
    if not reuse_work:  # a fresh job analyses: the object model loads while the input is probed
        warm_up()
    backend = backend or choose_backend(options)
    if options.midi and not backend[0].makes_midi:
        raise UserError(f"--midi needs the procedural backend: the {backend[0].name} backend makes audio, not "
                        "notes (use --backend procedural, or leave out --midi)")
    if options.soundfont is not None and not backend[0].makes_midi:  # a backend that makes notes plays them
        raise UserError(f"--soundfont needs the procedural backend: the {backend[0].name} backend makes its sound "
                        "itself, not with a soundfont (use --backend procedural, or leave out --soundfont)")
    if options.stems and not backend[0].stems:
        raise UserError(f"--stems needs the procedural backend: the {backend[0].name} backend makes its music as one "
                        "mix, with no parts to write apart (use --backend procedural, or leave out --stems)")
    left_out = []  # why each of a slideshow's files left out of it is
    if slideshow:  # one after another, a photo on screen for photo_seconds: a timeline whose picture is made
        clips, left_out = slideshow_clips([input_path, *map(Path, then)], options.photo_seconds, options.held,
                                          options.film_length, options.keep_similar)
    elif then:  # the parts of one recording, as one timeline whose picture is theirs, whole
        clips = joined_clips([input_path, *map(Path, then)])
    else:
        clips = read_clips(input_path) if is_timeline_path(input_path) else []
    info = timeline_info(input_path, clips) if clips else probe(input_path)
    if info.kind != "image" and info.duration < config.MIN_VIDEO_SECONDS:
        raise BadMediaError(f"is {info.duration:.2f} s long: too short to score (music needs at least "
                            f"{config.MIN_VIDEO_SECONDS:g} s)", input_path)
    work = WorkDir(output, options.work_dir)
    with disk_errors(output):
        work.prepare(reuse_work)
        timing = time.perf_counter()
        # a backend that makes notes plays to a beat it chooses (MusicGen's, none a plan states: not planned for)
        bar = None  # the music's bar the photos last whole numbers of
        if slideshow and not options.exact_photo_seconds and backend[0].makes_midi:
            clips, bar = _photos_on_bars(info, output, options, cancel, work, backend, started, clips)
            info = timeline_info(input_path, clips)
        timing = round(time.perf_counter() - timing, 3)
        events({"type": "job_started", "input": str(input_path), "output": str(output), "kind": info.kind,
                "duration": info.duration, **({"slideshow": len(clips)} if slideshow else {})})
        for why in left_out:
            events({"type": "notice", "input": str(input_path), "message": f"left out of the slideshow: {why}"})
        job = Job(info, output, options, events, cancel, work, backend, started, clips,
                  joined=bool(then) and not slideshow, slideshow=slideshow, photo_bar=bar)
        if slideshow:  # the plans the photos were timed by measured the clips: the analysis after reuses that
            job.timings["photo timing"] = timing
        job.prepare()
    return job


def _photos_on_bars(info: MediaInfo, output: Path, options: ScoreOptions, cancel: threading.Event | None,
                    work: WorkDir, backend: tuple[MusicBackend, str], started: float, clips: list[Clip]
                    ) -> tuple[list[Clip], float | None]:
    """A slideshow's photos each on screen for whole bars of the music its picture asks for, so that they change on
    the downbeat (slideshow.fitted_to_bars). That music is planned from the picture alone (no segment's edit, no
    stretch without music, the original sound not measured: editing a segment never moves a photo), then again
    with the photos so timed, whose music may move to another tempo, until the bar stays (three plans at most; the
    clips' measurements stay in the work folder, and only the first plan measures them). Returns the clips so
    timed and the bar (None where the backend has no bar to keep)."""
    sketch_options = replace(options, segments={}, silences=(), replace_audio=True)
    timed, bar = clips, None
    for _ in range(_TIMING_PLANS):
        sketch = Job(timeline_info(info.path, timed), output, sketch_options, no_events, cancel, work, backend,
                     started, timed, slideshow=True, photo_bar=bar)
        sketch.prepare()
        found = backend[0].bar_seconds(sketch.plan)
        if found is None or (bar is not None and abs(found - bar) <= _SAME_BAR * bar):
            break
        bar, timed = found, fitted_to_bars(clips, found, options.film_length)
    return timed, bar


def read_clips(path: Path) -> list[Clip]:
    """A timeline input's clips: a timeline JSON's, or the main video track's of an editor project."""
    if is_project_path(path):
        from cotvtm_desktop.editors import editor_for  # OpenTimelineIO loads only for a project

        return clips_of(editor_for(path).read_project(path).timeline(), path)
    return read_timeline(path)


class Job:
    """One input on its way to one output: prepare (analysis and plan), render, finish (mix, mux, manifest)."""

    def __init__(self, info: MediaInfo, output: Path, options: ScoreOptions, events: EventSink,
                 cancel: threading.Event | None, work: WorkDir, backend: tuple[MusicBackend, str], started: float,
                 clips: list[Clip] | None = None, joined: bool = False, slideshow: bool = False,
                 photo_bar: float | None = None):
        self.info, self.output, self.options, self.events, self.cancel, self.work = (
            info, output, options, events, cancel, work)
        self.clips = clips or []  # a timeline input's clips
        self.joined = joined  # the clips are the parts of one recording: the mp4 shows their picture whole
        self.slideshow = slideshow  # the clips are photos and videos: the mp4 shows their picture made full size
        self.photo_bar = photo_bar  # a slideshow's photos last whole bars of this many seconds (fitted_to_bars)
        self.backend, self.backend_reason = backend
        self.started = started
        self.timings: dict[str, float] = {}
        self.input = str(info.path)
        self.padding = options.crossfade / 2
        self.keep_original = info.has_audio and not options.replace_audio
        # a track for an editor, to lay under the clip's (or the edit's) own sound
        self.music_only = info.kind in ("video", "timeline") and output.suffix.lower() != ".mp4"
        self.premixed: audio.Premix | None = None
        self.ducking: audio.Ducking | None = None  # the music's dips under the kept original sound
        self.voices: list[tuple[float, float]] = []  # where they are: the original's foreground (a voice, laughter)
        # a video's other tracks (more sound, subtitles), which the scored mp4 carries after its own sound
        self.tracks = mux.source_tracks(info) if info.kind == "video" and not self.music_only else []
        if joined and not self.music_only:  # the parts' other tracks (more sound, GoPro telemetry) are not joined
            self.tracks = [replace(t, why_left_out=_NOT_JOINED) for t in mux.source_tracks(self.clips[0].info)]

    def prepare(self) -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="original-levels") as pool:
            # the original's sound is measured beside the picture (FFmpeg decodes and filters without the GIL)
            levels = pool.submit(self._measure_original) if self.keep_original else None
            self.timeline = self._timed("analysis", self._analyse)
            if levels is not None:  # dips where someone speaks: the background may change at cuts and joins
                self.ducking = audio.plan_ducking(*levels.result(), self.options.duck_db,
                                                  audio.hop_seconds(config.OUTPUT_SAMPLE_RATE), self.timeline.cuts)
        segments = self._segments(self.timeline)
        self.visuals = [describe_segment(self.timeline, s.start, s.end) for s in segments]
        if self.ducking is not None:  # where the music makes room for a voice: from just before it, held through
            self.voices = self.ducking.foreground_spans()  # its pauses
        edits, left_out = place_edits(self.options.segments, segments)
        for sentence in left_out:  # named on a command line, or kept by a front end from before the input changed
            self._notice(sentence)
        for track in self.tracks:  # what a viewer would miss; data tracks are named in the manifest only
            if track.why_left_out and track.type != "data":
                self._notice(f"{track.sentence()} is not in the scored mp4: {track.why_left_out} (the original "
                             "keeps it)")
        self.plan = self.backend.plan(self.timeline, segments, self.visuals, self.padding, self.voices, edits)
        self.segment_db = {}  # a segment without music keeps the level before it: no ramp into its silence
        for m in self.plan:
            self.segment_db[m.segment.index] = (self.segment_db.get(m.segment.index - 1, 0.0) if m.silent else
                                                edits.get(m.segment.index, SegmentEdit()).music_db)
        if all(m.silent for m in self.plan):
            raise UserError("every segment is set to have no music (--silent, --silent-at, the segments file's "
                            "\"silent\" or the app's Mute), so there is none to add", self.info.path)
        self._stage("rendering")

    def _notice(self, sentence: str) -> None:
        self.events({"type": "notice", "input": self.input, "message": f"{self.info.path.name}: {sentence}"})

    def _measure_original(self) -> tuple[np.ndarray, np.ndarray]:
        rate = config.OUTPUT_SAMPLE_RATE
        original = self._original_sound(rate)
        try:
            return audio.original_levels(original, int(round(self.info.duration * rate)), rate, self.cancel)
        finally:
            original.close()

    def todo(self) -> list[int]:
        """Segments still to render; those the work folder already has are reported done."""
        missing = []
        for m in self.plan:
            if m.silent or self.work.has_segment(m.segment.index, m.cache_key):
                self._segment_done(m, True)
            else:
                missing.append(m.segment.index)
        return missing

    def cached_audio(self, index: int) -> np.ndarray | None:
        """A rendered segment's audio from the work folder (None for a silent one: no music to continue from)."""
        return None if self.plan[index].silent else self.work.load_segment(index, self.plan[index].cache_key)

    def segment_audio(self, index: int) -> np.ndarray:
        """A segment's music, rendered already, or the silence the user asked for there."""
        return self._silence(index, 2) if self.plan[index].silent else self.cached_audio(index)

    def _silence(self, index: int, channels: int) -> np.ndarray:
        samples = round((self.plan[index].segment.duration + 2 * self.padding) * self.backend.sample_rate)
        return np.zeros((samples, channels), np.float32)

    def save_rendered(self, index: int, music: np.ndarray) -> None:
        with disk_errors(self.output):
            self.work.save_segment(index, self.plan[index].cache_key, music, self.backend.sample_rate)
        self._segment_done(self.plan[index], False)

    def render(self) -> None:
        """Render the missing segments and mix the music as it comes; each rendered segment is cached in the work
        folder on a thread of its own (libsndfile writes without the GIL) while the next one renders."""
        def run() -> None:
            todo = self.todo()
            rendered = self.backend.render(self.plan, todo, self.padding, self.cached_audio, self.cancel,
                                           self.step_reporter())
            saving: list[Future] = []  # the last segment's, at most: segments are saved in order

            def in_order() -> Iterator[np.ndarray]:  # the cached segments and the rendered ones
                missing = set(todo)
                for m in self.plan:
                    if m.segment.index not in missing:
                        yield self.segment_audio(m.segment.index)
                        continue
                    index, music = next(rendered, (None, None))
                    if index is None:
                        self._check_cancel()  # a backend stops yielding once cancelled
                    if index != m.segment.index:
                        raise RuntimeError(f"{self.backend.name} rendered segment {index} for {m.segment.index}")
                    if saving:
                        saving.pop().result()
                    self._check_cancel()  # a segment rendered after a stop is not kept
                    music = stored_audio(music)  # mixed as kept, so a re-render from the work folder is the same
                    saving.append(saver.submit(self.save_rendered, index, music))
                    yield music

            # closing stops render workers; the saver is left last, once its last write is done
            with ThreadPoolExecutor(1, thread_name_prefix="save") as saver, disk_errors(self.output), \
                    contextlib.closing(rendered):
                self._premix(in_order())
                if saving:
                    saving.pop().result()

        self._timed("music", run)

    def finish(self) -> dict:
        """Mix (unless rendering did), write the output and its manifest, clean up. Returns the manifest."""
        with disk_errors(self.output):
            picture = self._timed("picture", self._render_picture) if self._with_picture() else None
            self._stage("mixing")
            loudness, soundtrack = self._timed("mixing", self._master)
            self._stage("writing")
            video_stream = self._timed("writing", lambda: self._write(soundtrack, self.plan, picture))
            manifest = self._manifest(loudness, video_stream)
            _write_atomic_text(manifest_path(self.output),
                               json.dumps(manifest, indent=2, ensure_ascii=False, default=str))
        if not (self.options.keep_work or self.options.work_dir):
            self.work.remove()
        self.events({"type": "file_done", "input": self.input, "output": str(self.output),
                     "seconds": manifest["timings"]["total"]})
        return manifest

    def _manifest(self, loudness: dict, video_stream: str | None) -> dict:
        self.timings["total"] = round(time.perf_counter() - self.started, 3)
        return {
            "versions": _versions(),
            "input": self.info.to_json(), "output": str(self.output), "backend": self.backend.name,
            "runs_on": self.backend.runs_on,
            **({"clips": [c.to_json() for c in self.clips]} if self.clips else {}),
            "backend_reason": self.backend_reason, "seed": self.options.seed, "options": asdict(self.options),
            "video_stream": video_stream,  # copied, or how it was re-encoded (None: no video picture written)
            **({"tracks": [t.to_json() for t in self.tracks]} if self.tracks else {}),
            "cuts": [round(c, 3) for c in self.timeline.cuts],
            "voices": [[round(a, 2), round(b, 2)] for a, b in self.voices],  # where the music dips
            "segments": self.segments_json(),
            "loudness": loudness, "timings": self.timings,
            **({"stems": {"folder": str(stems_folder(self.output)),
                          "files": [f.name for f in stem_files(self.output, self.backend.stems)]}}
               if self.options.stems else {}),
        }

    def segments_json(self) -> list[dict]:
        """The planned segments as the manifest lists them: times, description, the backend's details."""
        return [{**m.segment.to_json(), "description": m.description, **m.details,
                 **({"music_db": self.segment_db[m.segment.index]} if self.segment_db[m.segment.index] and not m.silent
                    else {})} for m in self.plan]

    # --- stages ---------------------------------------------------------------------------------------------------
    def _analyse(self) -> Timeline:
        self._stage("analysing")
        features = self.backend.keyframe_features()
        if self.info.kind == "image":
            return scan_image(self.info, features)
        interval = self.options.segment_seconds / config.KEYFRAMES_PER_SEGMENT
        sources = [(input_fingerprint(c.info.path), c.source_in, c.source_out) for c in self.clips if c.info]
        key = input_fingerprint(self.info.path, interval, config.ANALYSIS_FPS, config.ANALYSIS_SIZE,
                                config.ANALYSIS_VERSION, self.backend.features_id, sources)
        cached = self.work.load_arrays(key)
        if cached is not None:
            return Timeline.from_arrays(cached)
        warm_up()  # already under way unless the work folder was reused (start_job)

        reported = [-1.0]

        def progress(fraction: float) -> None:
            self._check_cancel()
            if fraction - reported[0] >= 0.02:  # at most ~50 events per file
                reported[0] = fraction
                self.events({"type": "progress", "input": self.input, "stage": "analysing",
                             "fraction": round(fraction, 3)})

        kept = {key}
        if self.clips:
            timeline = scan_timeline(self.clips, interval, progress, features, self._remembered_part(kept),
                                     joins_are_cuts=not self.joined)
        else:
            timeline = scan_video(self.info, interval, progress, features)
        self.work.save_arrays(key, timeline.to_arrays())
        self.work.keep_only_arrays(kept)  # an earlier version's analysis (another edit, other settings) goes
        return timeline

    def _remembered_part(self, kept: set[str]) -> RememberedPart:
        """A timeline clip's measurements kept in the work folder under their own key, so that after an edit of
        the timeline only the changed clips are measured again (the desktop app re-previews an edited project)."""
        def remembered(what: list, scan: Callable[[], Timeline]) -> Timeline:
            path, *scope = what
            key = cache_key(input_fingerprint(path), scope, config.ANALYSIS_FPS, config.ANALYSIS_SIZE,
                            config.ANALYSIS_VERSION, self.backend.features_id)
            kept.add(key)
            arrays = self.work.load_arrays(key)
            if arrays is not None:
                return Timeline.from_arrays(arrays)
            part = scan()
            self.work.save_arrays(key, part.to_arrays())
            return part

        return remembered

    def _segments(self, timeline: Timeline) -> list[Segment]:
        if self.info.kind == "image":
            return [Segment(0, 0.0, self.options.image_seconds)]
        # a segment that begins inside a photo held for bars begins on one of them, so that its music keeps the bar
        landings = bar_lines(self.clips, self.photo_bar) if self.photo_bar else []
        return plan_segments(self.info.duration, timeline.cuts, self.options.segment_seconds, self.options.silences,
                             landings=landings)

    def step_reporter(self):
        """Progress within a segment (neural decoding takes minutes on a CPU), about every 5 %."""
        reported: dict[int, float] = {}

        def on_step(index: int, step: int, total: int) -> None:
            fraction = step / total
            if fraction - reported.get(index, -1.0) >= 0.05 or step == total:
                reported[index] = fraction
                self.events({"type": "progress", "input": self.input, "stage": "rendering",
                             "segment": index + 1, "count": len(self.plan), "fraction": round(fraction, 3)})

        return on_step

    def _segment_done(self, item: SegmentMusic, cached: bool) -> None:
        self.events({"type": "segment_done", "input": self.input, "index": item.segment.index + 1,
                     "count": len(self.plan), "cached": cached, "description": item.description})

    def _premix(self, segment_audio: Iterable[np.ndarray]) -> None:
        """Stitch the segments (in order) into one stream at the output rate, ducked under the original audio."""
        rate = config.OUTPUT_SAMPLE_RATE
        music = self._stitched(segment_audio)
        original = self._original_sound(rate) if self.keep_original else None
        try:
            self.premixed = audio.premix(music, original, self.work.path, self.options.duck_db, rate,
                                         ducking=self.ducking)
        finally:
            if original is not None:
                original.close()

    def _stitched(self, segment_audio: Iterable[np.ndarray], channels: int = 2) -> Iterator[np.ndarray]:
        """The segments' audio (in order) as one stream at the output rate, as the music is stitched."""
        rate = config.OUTPUT_SAMPLE_RATE
        segments = [m.segment for m in self.plan]
        pieces = self._until_cancelled(audio.resample(a, self.backend.sample_rate, rate) for a in segment_audio)
        return audio.stitch(pieces, segments, rate, self.padding, segments[-1].end, self.options.fade_in,
                            self.options.fade_out, self.backend.sharp_starts,
                            {m.segment.index for m in self.plan if m.silent}, channels)

    def _original_sound(self, rate: int) -> audio.OriginalAudio | audio.TimelineSound:
        fades = (self.options.fade_in, self.options.fade_out) if self.slideshow else (0.0, 0.0)  # with the picture
        return (audio.TimelineSound(self.clips, rate, fades) if self.clips else
                audio.OriginalAudio(self.info.path, self.info.start_time, rate))

    def _master(self) -> tuple[dict, audio.MasteredSoundtrack]:
        if self.premixed is None:  # rendered together with other jobs' segments: mixed here
            self._premix(self.segment_audio(m.segment.index) for m in self.plan)
        segment_gains = audio.segment_levels([m.segment for m in self.plan], self.segment_db, self.premixed.frames,
                                             self.premixed.meter.rate)
        report, soundtrack = self.premixed.master(self.options.target_lufs, self.music_only, self.options.music_db,
                                                  segment_gains)
        report["original_audio"] = (("kept, the music dipped under its voices" if report["music_dipped_seconds"] else
                                     "kept; it has no voices for the music to dip under") if self.keep_original else
                                    "replaced" if self.info.has_audio else "none in the input")
        if self.music_only and self.keep_original:
            report["original_audio"] = ("not in this file: the music alone, ducked under the original sound and at "
                                        "its level in the mix, for a track under the clip's own sound")
        return report, soundtrack

    def _with_picture(self) -> bool:
        return bool(self.clips) and not self.joined and self.output.suffix.lower() == ".mp4"

    def _render_picture(self) -> Path:
        """A timeline's picture (media/proxy.py), small for an edit's preview, full size for a slideshow; its pieces
        stay in the work folder for the next preview."""
        self._stage("picture")
        reported = [-1.0]

        def progress(fraction: float) -> None:
            self._check_cancel()
            if fraction - reported[0] >= 0.05 or fraction == 1:
                reported[0] = fraction
                self.events({"type": "progress", "input": self.input, "stage": "picture",
                             "fraction": round(fraction, 3)})

        def piece_key(piece: proxy.Piece, shape: proxy.PictureFormat) -> str:
            version = input_fingerprint(piece.info.path) if piece.info else None
            return cache_key(version, piece.identity(), shape.identity(), config.PREVIEW_VERSION)

        self._check_cancel()
        if self.slideshow:
            shape = proxy.slideshow_format(self.clips, config.SLIDESHOW_DISSOLVE_SECONDS * self.options.dissolve,
                                           self.options.slideshow_size, self.options.title,
                                           (self.options.fade_in, self.options.fade_out),
                                           film_captions(self.clips, self.options.dates, self.options.places))
        else:
            shape = proxy.picture_format(self.clips)
        return proxy.render_picture(self.clips, shape, self.work.path, piece_key, progress)

    def _write(self, soundtrack: audio.MasteredSoundtrack, plan: list[SegmentMusic], picture: Path | None
               ) -> str | None:
        """Write the output; returns how a video's picture came into it (mux.mux_video), else None."""
        tmp = _partial(self.output)
        video_stream = None
        try:
            self._check_cancel()
            suffix = self.output.suffix.lower()
            if suffix in (".wav", ".flac"):
                mux.write_pcm(self._until_cancelled(soundtrack.blocks()), tmp, suffix)
            else:  # encoding a long video takes a while: each chunk stops within a block on a cancel
                packets = aac.encode_aac(lambda start, stop: self._until_cancelled(soundtrack.blocks(start, stop)),
                                         soundtrack.frames, soundtrack.rate)
                if picture is not None:
                    mux.mux_picture(picture, packets, tmp)
                elif self.joined and suffix == ".mp4":
                    video_stream = mux.mux_joined([c.info for c in self.clips], packets, tmp, self.work.path)
                elif self.info.kind == "video" and suffix == ".mp4":
                    video_stream = mux.mux_video(self.info, packets, tmp, self.work.path, self.tracks)
                elif suffix == ".mp4":
                    mux.mux_still(self.info.path, packets, plan[-1].segment.end, tmp, self.work.path)
                else:
                    mux.write_m4a(packets, tmp)
            if self.options.midi:
                self._write_midi(plan)
            if self.options.stems:
                self._timed("stems", lambda: self._write_stems(soundtrack))
            self._check_cancel()
            os.replace(tmp, self.output)
        finally:
            tmp.unlink(missing_ok=True)
            soundtrack.remove()
            if picture is not None:
                picture.unlink(missing_ok=True)  # made from its pieces again next time: they are what is kept
        return video_stream

    def _write_midi(self, plan: list[SegmentMusic]) -> None:
        path = midi_path(self.output)
        tmp = _partial(path)
        try:
            self.backend.write_midi(plan, tmp)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _write_stems(self, soundtrack: audio.MasteredSoundtrack) -> None:
        """The music's parts apart (--stems), rendered again each to its own channels, stitched as the music was and
        set as it sits in the result: a WAV each in a folder beside the output, put in place whole."""
        folder, names = stems_folder(self.output), self.backend.stems
        tmp = _partial(folder)
        shutil.rmtree(tmp, ignore_errors=True)
        sounding = [m.segment.index for m in self.plan if not m.silent]
        rendered = self.backend.render(self.plan, sounding, self.padding, self.cached_audio, self.cancel, stems=True)

        def in_order() -> Iterator[np.ndarray]:
            for m in self.plan:
                if m.silent:
                    yield self._silence(m.segment.index, 2 * len(names))
                    continue
                done = next(rendered, None)
                if done is None:  # the render stops once cancelled
                    raise Cancelled(self.info.path)
                yield done[1]

        try:
            tmp.mkdir(parents=True)
            soundtrack.write_stems(self._stitched(in_order(), 2 * len(names)),
                                   [tmp / f.name for f in stem_files(self.output, names)])
            self._check_cancel()
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(tmp, folder)
        finally:
            rendered.close()
            shutil.rmtree(tmp, ignore_errors=True)

    # --- helpers --------------------------------------------------------------------------------------------------
    def _stage(self, name: str) -> None:
        self.events({"type": "stage", "input": self.input, "stage": name})

    def _timed(self, name: str, work):
        start = time.perf_counter()
        result = work()
        self.timings[name] = round(time.perf_counter() - start, 3)
        return result

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(self.info.path)

    def _until_cancelled(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self._check_cancel()
            yield block


def _versions() -> dict[str, str]:
    from importlib import metadata

    versions = {"cotvtm_desktop": __version__, "python": platform.python_version()}
    for package in ("av", "numpy", "torch", "pretty_midi", "imageio-ffmpeg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def warm_up() -> threading.Thread:
    """Load the object model on a background thread while the video decodes on this one. Not a daemon: were the
    process to end while a native library is still loading (a job that fails early), its threads could abort it
    ("terminate called without an active exception")."""
    thread = threading.Thread(target=objects.load_classifier, name="warm-up")
    thread.start()
    return thread


def _check_output(input_path: Path, output: Path, options: ScoreOptions) -> None:
    from cotvtm_desktop.media.probe import is_image_path

    for written, what in written_files(output, options).items():
        if written.resolve() == input_path.resolve():  # a timeline edit.json scored to -o edit.wav, say
            raise OutputError(f"{what} would overwrite the input; choose another -o", output)
    suffix = output.suffix.lower()
    if is_timeline_path(input_path):
        allowed = OUTPUT_EXTENSIONS_FOR_TIMELINES
    else:
        allowed = OUTPUT_EXTENSIONS_FOR_IMAGES if is_image_path(input_path) else OUTPUT_EXTENSIONS_FOR_VIDEOS
    if suffix not in allowed:
        raise OutputError(f"cannot write {suffix or 'a file without extension'}; use {', '.join(allowed)}", output)
    if output.exists() and not options.overwrite:
        raise OutputExists(output)
    folder = output.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise os_error(exc, folder) from None
        raise OutputError(f"the output folder cannot be created ({exc.strerror or exc}); choose another with -o",
                          folder) from None
    if not os.access(folder, os.W_OK):
        raise OutputError("the output folder is not writable; choose another with -o", folder)


class OutputExists(OutputError):
    def __init__(self, output: Path):
        super().__init__("already exists; skipped (use --overwrite to replace it)", output)


def _partial(path: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return path.with_name(f".{path.stem}.partial{os.getpid()}{path.suffix}")


def _write_atomic_text(path: Path, text: str) -> None:
    tmp = _partial(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
