"""`cotvtm`: score a video (or image), or a whole folder, from the command line.

Built on click directly: typer (used before) builds pydantic validators for every option when it parses a command
line, which cost 0.08-0.1 s of every run, a twentieth of scoring a one-minute video, for nothing click does not do.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape  # file names and messages are text: "[neural]" or "[2024].mp4" is no markup
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from cotvtm_desktop import __version__, config
from cotvtm_desktop.brief import PARTS
from cotvtm_desktop.errors import Cancelled, UserError, disk_errors, is_out_of_memory, out_of_memory
from cotvtm_desktop.jobs.events import JsonLines, ProgressShares, progress_shares
from cotvtm_desktop.jobs.runner import (OUTPUT_EXTENSIONS_FOR_VIDEOS, OutputExists, ScoreOptions, default_output,
                                        stem_files, written_files)
from cotvtm_desktop.media.timeline import is_project_path
from cotvtm_desktop.reasoning.rules import music_rules

err = Console(stderr=True)
_PATH = click.Path(path_type=Path)
_SETTINGS = {"show_default": True, "max_content_width": 110}


@click.group(context_settings=_SETTINGS, no_args_is_help=True,
             help="Score home videos with music, offline. See README.md.")
@click.version_option(__version__, "--version", message="cotvtm %(version)s", help="Print the version and exit.")
def app() -> None:
    pass


# Options shared by `score`, `batch` and `project score` (and, some, `models check`).
_MODELS = click.option("--models", type=_PATH, help="Folder with clip/, musicgen/ and cotvtm/ model folders "
                       "(default: $COTVTM_MODELS or ~/.cotvtm/models; CLIP and MusicGen also from the HF cache).")
_CLIP = click.option("--clip", type=_PATH, help="CLIP model folder (overrides --models).")
_MUSICGEN = click.option("--musicgen", type=_PATH, help="MusicGen model folder (overrides --models).")
_COTVTM = click.option("--cotvtm", type=_PATH, help="CoT-VTM checkpoint folder (overrides --models).")
_MUSICGEN_SIZES = click.Choice(list(config.MUSICGEN_MODEL_IDS))
_MUSICGEN_SIZE = click.option("--musicgen-size", type=_MUSICGEN_SIZES, default=config.MUSICGEN_SIZE,
                              help="Which MusicGen to look for in the HF cache.")
_DEVICE = click.option("--device", default="auto", help="auto (CUDA when present), cpu or cuda.")
_PRECISION = click.option("--precision", type=click.Choice(config.MUSICGEN_PRECISIONS),
                          default=config.MUSICGEN_PRECISION, help="Neural: MusicGen's number format; auto is "
                          "bfloat16 where the GPU or CPU computes it, else float16 on a GPU, float32 on a CPU.")
_SHARED = [
    click.option("--backend", default="auto", help="auto (neural when its models are present, else procedural), "
                 "procedural or neural."),
    click.option("--segment-seconds", type=click.FloatRange(2.0, 30.0), default=config.SEGMENT_SECONDS,
                 help="Length of one music segment; boundaries snap to scene cuts within 3 s."),
    click.option("--lufs", type=click.FloatRange(-40.0, -5.0), default=config.TARGET_LUFS,
                 help="Integrated loudness of the result."),
    click.option("--replace-audio", is_flag=True,
                 help="Drop the original audio instead of ducking the music under it."),
    click.option("--duck-db", type=click.FloatRange(0.0, 40.0), default=config.DUCK_DB,
                 help="How far the music dips under the original audio's foreground (voices, laughter)."),
    click.option("--music-db", type=click.FloatRange(*config.MUSIC_LEVEL_RANGE_DB), default=config.MUSIC_LEVEL_DB,
                 help="The music this many dB louder (or, negative, quieter) against the original sound than the "
                 "mix would put it (3 LU under its voices, 8 LU over background-only sound)."),
    click.option("--seed", type=int, default=config.SEED, help="Same seed, same music."),
    click.option("--midi", is_flag=True, help="Also write the arrangement as a .mid next to the output."),
    click.option("--stems", is_flag=True, help="Also write the music's parts apart (melody, chords, bass, pad, "
                 "drums), each a WAV as it sits in the result, in a NAME.stems folder next to the output."),
    click.option("--overwrite", is_flag=True, help="Replace outputs that already exist."),
    click.option("--resume", is_flag=True, help="Continue a run that was stopped, reusing its finished segments."),
    click.option("--duration", type=click.FloatRange(2.0, 600.0), default=config.IMAGE_SECONDS,
                 help="Music length for an image input."),
    click.option("--crossfade", type=click.FloatRange(0.0, 4.0), default=config.CROSSFADE_SECONDS,
                 help="Seconds of equal-power crossfade between MusicGen's segments (a procedural segment comes "
                 "in whole on its downbeat, the one before ringing out under it)."),
    click.option("--fade-in", type=click.FloatRange(*config.FADE_RANGE_SECONDS), default=config.FADE_IN_SECONDS,
                 help="Seconds the music fades in over at its start (and after a stretch without music); a "
                 "slideshow's picture fades in from black with it."),
    click.option("--fade-out", type=click.FloatRange(*config.FADE_RANGE_SECONDS), default=config.FADE_OUT_SECONDS,
                 help="Seconds the music fades out over at its end (and before a stretch without music); a "
                 "slideshow's picture, and its videos' sound, fade to black with it."),
    _MODELS, _CLIP, _MUSICGEN, _COTVTM, _MUSICGEN_SIZE, _DEVICE, _PRECISION,
    click.option("--continuity/--no-continuity", default=True,
                 help="Neural: each segment continues from the end of the one before."),
    click.option("--prompt", multiple=True, help="Neural: 'K=words' makes segment K (from 1) follow your words; "
                 "repeat for more segments."),
    click.option("--silent", type=click.IntRange(1), multiple=True, help="No music in segment K (from 1): the "
                 "music before ends there and comes back after; repeat for more segments."),
    click.option("--segment-db", multiple=True, help="'K=D': segment K's music (from 1) D dB louder (negative: "
                 "quieter) than the mix would put it, from -20 to 20; repeat for more segments."),
    click.option("--silent-at", multiple=True, help="No music from START to END (seconds or m:ss, e.g. "
                 "1:20-1:45): segments end and begin there; repeat for more stretches."),
    click.option("--genre", type=click.Choice(list(music_rules()["genres"])), help="Procedural: this genre for "
                 "every segment, instead of the one its picture suggests (default)."),
    click.option("--lead", type=click.Choice(list(music_rules()["leads"])), help="Procedural: this instrument plays "
                 "every segment's tune, instead of its genre's."),
    click.option("--chords", type=click.Choice(list(music_rules()["chords"])), help="Procedural: this instrument "
                 "plays every segment's chords, instead of its genre's (a guitar's strum, say, stays a strum)."),
    click.option("--bass", type=click.Choice(list(music_rules()["basses"])), help="Procedural: this instrument "
                 "plays every segment's bass line, instead of its genre's."),
    click.option("--without", type=click.Choice(PARTS), multiple=True, help="Procedural: leave this part out of "
                 "the music (drums, say); repeat for more parts."),
    click.option("--energy", type=click.FloatRange(*config.ENERGY_RANGE), default=0.0, help="Procedural: the "
                 "picture's genre played calmer (down to -1: slower, softer, sparser) or livelier (up to 1) than "
                 "the picture asks for."),
    click.option("--soundfont", type=click.Path(path_type=Path, dir_okay=False), help="Procedural: play the music "
                 "with this General MIDI soundfont (.sf2, or MuseScore's compressed .sf3) instead of the small one "
                 "shipped (FluidR3_GM or MuseScore_General, say)."),
    click.option("--json-progress", is_flag=True, help="Print one JSON event per line instead of progress bars."),
]
_SHARED_NAMES = ("backend", "segment_seconds", "lufs", "replace_audio", "duck_db", "music_db", "seed", "midi", "stems",
                 "overwrite", "resume", "duration", "crossfade", "fade_in", "fade_out", "models", "clip", "musicgen",
                 "cotvtm", "musicgen_size", "device", "precision", "continuity", "prompt", "silent", "segment_db",
                 "silent_at", "genre", "lead", "chords", "bass", "without", "energy", "soundfont", "json_progress")


def _with_shared_options(command):
    """Give a command the shared options; it receives them together as `shared`."""
    @functools.wraps(command)
    def wrapper(**values):
        return command(shared={name: values.pop(name) for name in _SHARED_NAMES}, **values)

    return _applied(_SHARED, wrapper)


def _applied(options: list, command):
    """`command` with click `options` (decorators), listed in help in the order given."""
    for option in reversed(options):
        command = option(command)
    return command


def _options(segments_file: Path | None = None, **values) -> ScoreOptions:
    """ScoreOptions from the CLI's values (the names match, but for a few spelled for the command line)."""
    from dataclasses import replace

    from cotvtm_desktop.jobs.edits import read_segment_edits
    from cotvtm_desktop.music.backend import SegmentEdit

    edits = read_segment_edits(segments_file) if segments_file else {}
    for text in values.pop("prompt") or []:
        index, sep, words = text.partition("=")
        if not sep or not index.strip().isdigit() or int(index) < 1:
            raise UserError(f"--prompt {text!r}: write it as K=words, K the segment number from 1")
        edit = edits.get(int(index) - 1, SegmentEdit())
        edits[int(index) - 1] = replace(edit, prompt=words.strip() or None)
    for number in values.pop("silent") or []:
        edits[number - 1] = replace(edits.get(number - 1, SegmentEdit()), silent=True)
    for text in values.pop("segment_db") or []:
        index, music_db = _segment_level(text)
        edits[index] = replace(edits.get(index, SegmentEdit()), music_db=music_db)
    silences = tuple(_time_range(text) for text in values.pop("silent_at") or [])
    renamed = {"lufs": "target_lufs", "duration": "image_seconds", "models": "models_dir"}
    return ScoreOptions(segments=edits, silences=silences, **{renamed.get(k, k): v for k, v in values.items()})


def _segment_level(text: str) -> tuple[int, float]:
    """--segment-db's K=D: (segment index from 0, dB), or a UserError saying how to write it."""
    number, _, db = text.partition("=")
    low, high = config.MUSIC_LEVEL_RANGE_DB
    try:
        index, music_db = int(number) - 1, float(db.replace("\N{MINUS SIGN}", "-"))
    except ValueError:
        index, music_db = -1, 0.0
    if index < 0 or not low <= music_db <= high:
        raise UserError(f"--segment-db {text!r}: write it as K=D, K the segment number from 1 and D the dB from "
                        f"{low:g} to {high:g} (3=-6: the third segment's music 6 dB quieter)")
    return index, music_db


def _photo_hold(text: str) -> tuple[str, float]:
    """--hold's NAME=SECONDS: (NAME, seconds), or a UserError saying how to write it."""
    name, _, seconds = text.rpartition("=")
    low, high = config.SLIDESHOW_PHOTO_SECONDS_RANGE
    try:
        held = float(seconds)
    except ValueError:
        held = -1.0
    if not name.strip() or not low <= held <= high:
        raise UserError(f"--hold {text!r}: write it as NAME=SECONDS, NAME a photo's file name (or path) and SECONDS "
                        f"from {low:g} to {high:g} (IMG_0042.jpg=8: that photo 8 s on screen)")
    return name.strip(), held


def _clock_seconds(text: str) -> float:
    """'1:20' (or seconds, or h:mm:ss) as 80.0; ValueError when it is none of them."""
    return sum(float(part) * 60 ** k for k, part in enumerate(reversed(text.strip().split(":"))))


def _film_length(text: str | None) -> float | None:
    """--film-length's seconds or m:ss as seconds, or a UserError saying how to write it."""
    if text is None:
        return None
    try:
        seconds = _clock_seconds(text)
    except ValueError:
        seconds = 0.0
    if not config.MIN_VIDEO_SECONDS <= seconds < float("inf"):  # not nan or inf either
        raise UserError(f"--film-length {text!r}: write it in seconds or m:ss (0:30, 1:00), "
                        f"{config.MIN_VIDEO_SECONDS:g} s at least")
    return seconds


def _time_range(text: str) -> tuple[float, float]:
    """'1:20-1:45' (or seconds, or h:mm:ss) as (80.0, 105.0), or a UserError saying how to write it."""
    start, sep, end = text.partition("-")
    try:
        if not sep:
            raise ValueError(text)
        times = [_clock_seconds(t) for t in (start, end)]
    except ValueError:
        raise UserError(f"--silent-at {text!r}: write it as START-END, in seconds or m:ss (1:20-1:45)") from None
    if not 0 <= times[0] < times[1]:
        raise UserError(f"--silent-at {text!r}: the stretch must end after it starts")
    return times[0], times[1]


def _announce(backend: tuple, json_progress: bool) -> None:
    if json_progress:
        JsonLines()({"type": "backend", "input": "", "name": backend[0].name, "reason": backend[1]})
    else:
        err.print(f"[dim]backend: {escape(backend[1])}[/dim]", highlight=False)


def _one_input_options(note: str = ""):
    """The options of a job on one input that a front end (the desktop app) keeps across runs."""
    return functools.partial(_applied, [
        click.option("--segments", type=_PATH, help="A JSON file of per-segment edits (seed, prompt, brief "
                     f"changes); see cotvtm_desktop/jobs/edits.py.{note}"),
        click.option("--work", type=_PATH, help="Keep the analysis and every segment's audio in this folder and "
                     f"reuse them on the next run (only changed segments render).{note}")])


# How a slideshow shows its pictures, for `score --slideshow` and `batch --slideshow` alike
_slideshow_options = functools.partial(_applied, [
    click.option("--photo-seconds", type=click.FloatRange(*config.SLIDESHOW_PHOTO_SECONDS_RANGE),
                 default=config.SLIDESHOW_PHOTO_SECONDS, show_default=True,
                 help="With --slideshow: about how long each photo is on screen (procedural: the whole number of the "
                 "music's bars nearest it, so that the pictures change on the downbeat)."),
    click.option("--film-length", metavar="TIME", help="With --slideshow: the film about this long (seconds or "
                 "m:ss: 0:30, 1:00 for a phone's story): its photos share what its videos leave, each as long as "
                 "the others (a held one longer, in proportion) instead of --photo-seconds."),
    click.option("--exact-seconds", "exact_photo_seconds", is_flag=True,
                 help="With --slideshow: each photo exactly its seconds, not fitted to the music's bars."),
    click.option("--dates", is_flag=True, help="With --slideshow: the day its pictures were taken (Tuesday 2 July "
                 "2024) low over the first picture of each day."),
    click.option("--places", is_flag=True, help="With --slideshow: the town its pictures were taken in (Florence, "
                 "Italy: from their GPS tags, named offline) low over the first picture in each place; with --dates, "
                 "each day's too."),
    click.option("--keep-similar", is_flag=True, help="With --slideshow: show every shot of a burst (photos side by "
                 "side, taken seconds apart, all but alike), not only the sharpest."),
    click.option("--dissolve", is_flag=True, help="With --slideshow: each photo dissolves into the next (over "
                 f"{config.SLIDESHOW_DISSOLVE_SECONDS:g} s) instead of cutting to it, and into and out of a video "
                 "over its first and last seconds; two videos still cut."),
    click.option("--slideshow-size", type=click.Choice([str(n) for n in config.SLIDESHOW_SIZES]),
                 default=str(config.SLIDESHOW_SHORT_SIDE), show_default=True,
                 help="With --slideshow: the film's shorter side in pixels (1080: full HD, 2160: 4K; 360 for a quick "
                 "look, made several times faster).")])


def _check_not_segments_file(target: Path, segments: Path | None, options: ScoreOptions) -> None:
    for written, what in written_files(target, options).items():
        if segments is not None and written.resolve() == segments.resolve():
            raise UserError(f"{what} would overwrite the --segments file; choose another -o", target)


@app.command()
@click.argument("inputs", nargs=-1, required=True, type=_PATH)
@click.option("-o", "--output", type=_PATH, help="Default: NAME.scored.mp4 beside the input (NAME.scored.m4a for an "
              "image; .wav/.flac/.mp4 also work). One input only.")
@_one_input_options(" One input only.")
@click.option("--plan", "plan_only", is_flag=True, help="Print the segment plan (numbers, times, music) and stop "
              "before making music: to choose what --silent, --prompt or --segments change. One input only.")
@click.option("--join", is_flag=True, help="The inputs are the parts of one recording that a camera split across "
              "files (a GoPro's chapters, a DVD title's VOBs, 4 GB splits): score them, in the order given, as one "
              "video, NAME.scored.mp4 after the first (its picture copied whole where the parts allow).")
@click.option("--slideshow", is_flag=True, help="Show the inputs one after another as one film, scored as one piece: "
              "each photo for --photo-seconds slowly zooming or panning (towards the faces in it), each video whole, "
              "in the order given (a folder's in the order they were taken; of a burst, the sharpest shot), full HD "
              "(--slideshow-size). FOLDER.scored.mp4 beside a folder, else NAME.scored.mp4 after the first.")
@_slideshow_options
@click.option("--hold", "holds", multiple=True, metavar="NAME=SECONDS", help="With --slideshow: the photo NAME (its "
              "file name, or its path) on screen for about SECONDS instead of --photo-seconds (IMG_0042.jpg=8: the "
              "best one longer); repeat for more photos.")
@click.option("--title", default="", help="With --slideshow: words shown over the film's opening seconds (its name, "
              "say: 'Rome, May 2024'; {folder} stands for the name of the folder its pictures came from).")
@_with_shared_options
def score(inputs: tuple[Path, ...], output: Path | None, segments: Path | None, work: Path | None, plan_only: bool,
          join: bool, slideshow: bool, photo_seconds: float, film_length: str | None, exact_photo_seconds: bool,
          dates: bool, places: bool, keep_similar: bool, dissolve: bool, slideshow_size: str, holds: tuple[str, ...],
          title: str, shared: dict) -> None:
    """Score videos or images: NAME.scored.mp4 appears beside each (NAME.scored.wav, the music alone, for a timeline
    .json or an editor project; see media/timeline.py and `cotvtm project score`).
    Several inputs, or a folder's videos and images, are scored like a batch (models load once; a bad file does not
    stop the rest). A name starting with '-' goes after '--'."""
    json_progress = shared.pop("json_progress")
    events = JsonLines() if json_progress else None
    with _Reporting(events, json_progress):
        several = len(inputs) > 1 or any(config.is_media_folder(path) for path in inputs)
        named = inputs
        if slideshow:
            from cotvtm_desktop.media.slideshow import folder_title, in_taken_order
        inputs = _files_of(inputs, in_taken_order if slideshow else list)
        together: dict = {}  # how the inputs make one film, for runner.score
        if join and slideshow:
            raise UserError("--join (the parts of one recording) and --slideshow (photos and clips one after "
                            "another) cannot both be given; choose one")
        if title.strip() and not slideshow:
            raise UserError("--title is shown over a slideshow's opening; add --slideshow (a video keeps its own "
                            "picture)")
        if holds and not slideshow:
            raise UserError("--hold sets a slideshow's photo's time on screen; add --slideshow")
        if join or slideshow:
            if join and len(inputs) < 2:
                raise UserError("--join puts together two or more parts of one recording; name them in order")
            several = False
            inputs, together = inputs[:1], {"then": inputs[1:], "slideshow": slideshow}
        if slideshow:  # {folder}: the named folder's name, else the first picture's folder's
            title = folder_title(title, named[0] if config.is_media_folder(named[0]) else inputs[0].resolve().parent)
        for flag, value in (("-o", output), ("--segments", segments), ("--work", work), ("--plan", plan_only or None)):
            if value is not None and several:
                raise UserError(f"{flag} is for one input; with several, each output goes beside its input "
                                "(or score a folder into another: `cotvtm batch FOLDER -o OUTDIR`)")
        options = _options(segments, work_dir=work, photo_seconds=photo_seconds, held=dict(map(_photo_hold, holds)),
                           film_length=_film_length(film_length), exact_photo_seconds=exact_photo_seconds,
                           dates=dates, places=places, keep_similar=keep_similar, dissolve=dissolve,
                           slideshow_size=int(slideshow_size), title=title, **shared)
        if several:
            from cotvtm_desktop.jobs.batch import output_paths

            folder = Path(os.path.commonpath([path.resolve().parent for path in inputs]))
            _score_many(output_paths(list(inputs), lambda path: path.parent), folder, options, json_progress,
                        f"cotvtm score: {len(inputs)} files")
            return
        input, = inputs
        if plan_only:
            _print_plan(input, options, events, together)
            return
        target = output or default_output(input)
        if slideshow and output is None:  # a film, named for the folder its pictures came from
            target = default_output(named[0] if len(named) == 1 and config.is_media_folder(named[0]) else input,
                                    extension=".mp4")
        _check_not_segments_file(target, segments, options)
        try:
            _run_one(input, target, options, events, together)
        except OutputExists as exc:
            _skipped(events, input, target, exc)
            return
        if json_progress:
            return
        err.print(f"[green]wrote[/green] {escape(str(target))}")
        if is_project_path(input):
            made = ("the music with a small render of the edit's picture" if target.suffix.lower() == ".mp4" else
                    "the music alone")
            err.print(f"({made}; `cotvtm project score {escape(input.name)}` writes a copy of the project with the "
                      "music on an audio track)")


def _files_of(inputs: tuple[Path, ...], order: Callable[[list[Path]], list[Path]] = list) -> tuple[Path, ...]:
    """The inputs, each folder replaced by its videos and images (not its subfolders'; by name, or in the `order`
    given), each file once."""
    from cotvtm_desktop.jobs.batch import find_inputs

    named: dict[Path, Path] = {}
    for path in inputs:
        found = order(find_inputs(path, recursive=False)) if config.is_media_folder(path) else [path]
        if not found:
            raise UserError("has no videos or images (`cotvtm batch FOLDER -o OUTDIR -r` looks in subfolders)", path)
        for file in found:
            named.setdefault(file.resolve(), file)  # a file named twice is scored once
    return tuple(named.values())


def _run_one(input: Path, target: Path, options: ScoreOptions, events, together: dict | None = None) -> None:
    """One job (`together`: runner.score's `then` and `slideshow`, for --join and --slideshow), reporting as JSON
    lines (cancellable from stdin) when `events` is given, else as progress bars."""
    from cotvtm_desktop.jobs.backends import choose_backend
    from cotvtm_desktop.jobs.events import listen_for_cancel
    from cotvtm_desktop.jobs.runner import score as run_score

    chosen = choose_backend(options)
    _announce(chosen, events is not None)
    if events is not None:
        run_score(input, target, options, events, listen_for_cancel(), backend=chosen, **(together or {}))
    else:
        with _Bars() as bars:
            run_score(input, target, options, bars, backend=chosen, **(together or {}))


def _print_plan(input: Path, options: ScoreOptions, events, together: dict | None = None) -> None:
    """Analyse and plan `input` as a score would (with --work, the analysis is kept for it), then print its
    segments: a table, or one `plan` event with the manifest's segment entries. Nothing is written beside it."""
    import tempfile

    from cotvtm_desktop.brief import level_words, summary_line
    from cotvtm_desktop.jobs.backends import choose_backend
    from cotvtm_desktop.jobs.runner import start_job
    from cotvtm_desktop.media.segments import clock, follows_notes

    together = together or {}
    chosen = choose_backend(options)
    _announce(chosen, events is not None)
    with tempfile.TemporaryDirectory(prefix="cotvtm-plan-") as folder:
        target = Path(folder) / default_output(input).name
        if events is not None:
            job = start_job(input, target, options, events, backend=chosen, **together)
        else:
            with _Bars() as bars:
                job = start_job(input, target, options, bars, backend=chosen, **together)
        planned = job.segments_json()
        if not options.work_dir:
            job.work.remove()
    if events is not None:
        events({"type": "plan", "input": str(input), "segments": planned})
        return
    count = f"{len(planned)} segment{'s' * (len(planned) != 1)}"
    name = f"slideshow of {1 + len(together['then'])}" if together.get("slideshow") else input.name
    table = Table(title=escape(f"{name}: {count} ({chosen[0].name})"), expand=True)
    table.add_column("#", no_wrap=True)
    table.add_column("time", no_wrap=True)
    table.add_column("music", overflow="fold", ratio=3)  # most of the width: a brief's line is long
    table.add_column("follows the picture and sound", overflow="fold", ratio=2)
    for entry in planned:
        start, end = entry["start"], entry["end"]
        arrangement = entry.get("arrangement", {})
        follows = follows_notes([start + t for t in arrangement.get("hits", [])],
                                [(start + a, start + b) for a, b in arrangement.get("voices", [])])
        # the procedural backend's music elements say it shorter than its description
        music = summary_line(entry["brief"]) if "brief" in entry else entry["description"]
        music = " · ".join(part for part in (music, level_words(entry.get("music_db", 0.0))) if part)
        table.add_row(str(entry["index"] + 1), f"{clock(start)}–{clock(end)}", escape(music),
                      escape("; ".join(follows)))
    err.print(table)


def _score_many(outputs: dict[Path, Path], folder: Path, options: ScoreOptions, json_progress: bool, title: str,
                out_dir: Path | None = None) -> None:
    """Score each input into its output, as JSON lines (cancellable from stdin) or with progress bars and a summary
    table; exit 1 when any failed."""
    from cotvtm_desktop.jobs.backends import choose_backend
    from cotvtm_desktop.jobs.batch import score_files
    from cotvtm_desktop.jobs.events import listen_for_cancel

    chosen = choose_backend(options)
    _announce(chosen, json_progress)
    if json_progress:
        results = score_files(outputs, folder, options, JsonLines(), listen_for_cancel(), backend=chosen)
    else:
        with _Bars() as bars:
            results = score_files(outputs, folder, options, bars, backend=chosen)
        _summary(results, title, folder, out_dir)
    if any(r.status == "failed" for r in results):
        raise SystemExit(1)


@app.command()
@click.argument("folder", type=_PATH)
@click.option("-o", "--output-dir", "out_dir", type=_PATH, required=True,
              help="Where the scored files go (subfolders mirrored).")
@click.option("-r", "--recursive", is_flag=True, help="Include subfolders.")
@click.option("--watch", is_flag=True, help="Then keep watching FOLDER: score each video or image that arrives, once "
              "it has finished copying, until Ctrl-C (or the line `cancel` with --json-progress).")
@click.option("--format", "file_format", type=click.Choice([e[1:] for e in OUTPUT_EXTENSIONS_FOR_VIDEOS]),
              help="What each file becomes: mp4 (a video with its soundtrack; an image as a still video) or the "
              "music alone as m4a, wav or flac (a video's as it sits in its mix, for an editor's track). Default: mp4 "
              "for videos, m4a for images.")
@click.option("--slideshow", is_flag=True, help="Make a film of each folder instead: FOLDER, and with -r each "
              "folder under it, that holds two or more photos or videos becomes OUTDIR/NAME.scored.mp4 (subfolders "
              "mirrored), its pictures in the order they were taken, as `score FOLDER --slideshow` makes one.")
@_slideshow_options
@click.option("--title", default="", help="With --slideshow: words shown over each film's opening seconds; {folder} "
              "stands for its folder's name (--title '{folder}': each film titled as its folder is named).")
@_with_shared_options
def batch(folder: Path, out_dir: Path, recursive: bool, watch: bool, file_format: str | None, slideshow: bool,
          photo_seconds: float, film_length: str | None, exact_photo_seconds: bool, dates: bool, places: bool,
          keep_similar: bool, dissolve: bool,
          slideshow_size: str, title: str, shared: dict) -> None:
    """Score every video and image in FOLDER into OUTDIR, then print a summary (with --watch, go on scoring what
    arrives; with --slideshow, make a film of each folder of photos)."""
    from cotvtm_desktop.jobs.batch import batch_outputs, slideshow_outputs

    json_progress = shared.pop("json_progress")
    extension = f".{file_format}" if file_format else None
    with _Reporting(JsonLines() if json_progress else None, json_progress):
        options = _options(photo_seconds=photo_seconds, film_length=_film_length(film_length),
                           exact_photo_seconds=exact_photo_seconds, dates=dates, places=places,
                           keep_similar=keep_similar, dissolve=dissolve,
                           slideshow_size=int(slideshow_size), title=title, **shared)
        if title.strip() and not slideshow:
            raise UserError("--title is shown over each film's opening; add --slideshow (a video keeps its own "
                            "picture)")
        if watch and slideshow:
            raise UserError("--watch scores each file as it arrives, --slideshow makes a film of each folder "
                            "once its pictures are there; choose one")
        if watch:
            _watch(folder, out_dir, options, recursive, extension, json_progress)
            return
        if slideshow:
            outputs = slideshow_outputs(folder, out_dir, recursive, extension)
            if not outputs:
                raise UserError("has no folder of two or more photos or videos to make a film of" +
                                ("" if recursive else " (-r looks in subfolders)"), folder)
        else:
            outputs = batch_outputs(folder, out_dir, recursive, extension)
        _score_many(outputs, folder, options, json_progress, f"cotvtm batch: {folder} -> {out_dir}", out_dir)


def _watch(folder: Path, out_dir: Path, options: ScoreOptions, recursive: bool, extension: str | None,
           json_progress: bool) -> None:
    """`batch --watch`: each round's files as JSON lines, or with progress bars and a summary table each."""
    from cotvtm_desktop.jobs.backends import choose_backend
    from cotvtm_desktop.jobs.batch import batch_outputs, watch_folder
    from cotvtm_desktop.jobs.events import listen_for_cancel

    batch_outputs(folder, out_dir, recursive, extension)  # a folder that is not one fails here, at once
    chosen = choose_backend(options)
    _announce(chosen, json_progress)
    if json_progress:
        for _ in watch_folder(folder, out_dir, options, recursive, JsonLines(), listen_for_cancel(), chosen,
                              extension):
            pass
        return
    err.print(f"watching {escape(str(folder))} for videos and images to score into {escape(str(out_dir))} "
              "(Ctrl-C stops)", highlight=False)
    with _Bars() as bars:
        for results in watch_folder(folder, out_dir, options, recursive, bars, None, chosen, extension):
            _summary(results, f"cotvtm batch --watch: {folder} -> {out_dir}", folder, out_dir)
    err.print("stopped watching")


@app.command()
@click.argument("files", nargs=-1, type=_PATH)
def gui(files: tuple[Path, ...]) -> None:
    """Open the desktop app, with FILES (videos, images, folders or editor projects) queued."""
    from importlib.util import find_spec

    with _Reporting(None, False):
        if find_spec("PySide6") is None:
            raise UserError("the desktop app needs PySide6: pip install 'cotvtm-desktop[gui]'")
        if sys.platform.startswith("linux") and not any(
                os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
            raise UserError("no display to open the window on (DISPLAY is not set); run it on a desktop, or use "
                            "the CLI (`cotvtm score`)")
        from cotvtm_desktop.gui.app import main as run_gui

        raise SystemExit(run_gui(list(files)))


@app.command("inspect")
@click.argument("inputs", nargs=-1, required=True, type=_PATH)
@click.option("--thumbnails", type=_PATH, help="Write JPEG thumbnails into this folder.")
@click.option("--at", type=float, multiple=True, help="Seconds to take thumbnails at (repeat); default: one poster "
              "frame.")
@click.option("--height", type=click.IntRange(16, 1080), default=96, help="Thumbnail height in pixels.")
def inspect_media(inputs: tuple[Path, ...], thumbnails: Path | None, at: tuple[float, ...], height: int) -> None:
    """Describe videos, images and timelines (a timeline .json or an editor project), one JSON line each (the GUI
    and editor plugins read these)."""
    import hashlib

    from cotvtm_desktop.jobs.runner import read_clips
    from cotvtm_desktop.media.probe import probe
    from cotvtm_desktop.media.thumbnails import save_thumbnail, timeline_thumbnail
    from cotvtm_desktop.media.thumbnails import thumbnails as media_thumbnails
    from cotvtm_desktop.media.timeline import is_timeline_path, timeline_info

    emit = JsonLines()
    for path in inputs:
        try:
            clips = read_clips(path) if is_timeline_path(path) else []
            info = timeline_info(path, clips) if clips else probe(path)
            event = {"type": "media", "input": str(path), "kind": info.kind, "duration": round(info.duration, 3),
                     "width": info.width, "height": info.height, "fps": round(info.fps, 3),
                     "has_audio": info.has_audio, "thumbnails": []}
            if thumbnails is not None:
                name = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
                times = list(at or [min(config.POSTER_SECONDS, info.duration / 2)])
                pictures = ([timeline_thumbnail(info, clips, t, height) for t in times] if clips
                            else media_thumbnails(info, times, height))
                for t, picture in zip(times, pictures):
                    target = thumbnails / f"{name}-{t:09.3f}-{height}.jpg"
                    save_thumbnail(picture, target)
                    event["thumbnails"].append({"at": t, "path": str(target)})
            emit(event)
        except UserError as exc:
            emit({"type": "error", "input": str(path), "message": str(exc)})
        except OSError as exc:
            emit({"type": "error", "input": str(path), "message": f"{thumbnails}: cannot write ({exc.strerror})"})


@app.group("project", no_args_is_help=True)
def project_group() -> None:
    """Editor projects: Shotcut .mlt, Kdenlive .kdenlive, Final Cut Pro's .fcpxml (and its .fcpxmld bundle), and
    through OpenTimelineIO .otio, FCP 7 XML .xml (Premiere Pro, DaVinci Resolve) and CMX 3600 EDLs .edl (read; their
    copy is written as .xml)."""


@project_group.command("score")
@click.argument("project", type=_PATH)
@click.option("-o", "--output", type=_PATH, help="The new project (default: NAME.scored.EXT beside it; .otio and "
              ".xml may be written as each other, an .edl's copy is .xml, an .fcpxmld bundle's .fcpxml); the music "
              "goes beside it as NAME.scored.wav.")
@_one_input_options()
@_with_shared_options
def project_score(project: Path, output: Path | None, segments: Path | None, work: Path | None,
                  shared: dict) -> None:
    """Score a project's main video track and write a copy of the project with the music on a new audio track."""
    from cotvtm_desktop.editors import editor_for
    from cotvtm_desktop.music.mixdown import STEMS

    json_progress = shared.pop("json_progress")
    events = JsonLines() if json_progress else None
    with _Reporting(events, json_progress):
        options = _options(segments, work_dir=work, **shared)
        editor = editor_for(project)
        edit = editor.read_project(project)
        suffix = config.project_copy_suffix(project)
        target = output or project.with_name(f"{project.stem}{config.OUTPUT_SUFFIX}{suffix}")
        if target.resolve() == project.resolve():
            raise UserError("the new project would overwrite the original; choose another -o", target)
        if target.suffix.lower() not in editor.OUTPUT_SUFFIXES:
            raise UserError(f"write the new project as {' or '.join(editor.OUTPUT_SUFFIXES)}", target)
        music = target.with_suffix(config.TIMELINE_OUTPUT_EXTENSION)
        _check_not_segments_file(music, segments, options)
        try:
            if target.exists() and not options.overwrite:
                raise OutputExists(target)
            _run_one(project, music, options, events)
        except OutputExists as exc:
            _skipped(events, project, target, exc)
            return
        stems = stem_files(music, STEMS) if options.stems else []
        try:
            with disk_errors(target):
                editor.write_with_music(edit, music, target, stems)
        except BaseException:
            for written in written_files(music, options):  # without its project the music is half the output:
                shutil.rmtree(written) if written.is_dir() else written.unlink(missing_ok=True)  # it goes too, so
            raise  # that running again writes both
        if events is not None:
            events({"type": "project_done", "input": str(project), "output": str(target), "music": str(music)})
        else:
            err.print(f"[green]wrote[/green] {escape(str(target))} (music: {escape(music.name)})")


@app.group("models", no_args_is_help=True)
def models_group() -> None:
    """Model folders for the neural backend."""


@models_group.command("check")
@_MODELS
@_CLIP
@_MUSICGEN
@_COTVTM
@_MUSICGEN_SIZE
@click.option("--json", "json_output", is_flag=True, help="One JSON line instead of a table.")
def models_check(models: Path | None, clip: Path | None, musicgen: Path | None, cotvtm: Path | None,
                 musicgen_size: str, json_output: bool) -> None:
    """List which model folders are present and which backend `--backend auto` will use, and why; and the
    General MIDI soundfonts installed here that the procedural backend can play its music with."""
    from cotvtm_desktop.jobs.backends import backend_choice
    from cotvtm_desktop.model.registry import describe, locate

    with _Reporting(None, json_output):
        paths = locate(models, clip, musicgen, cotvtm, musicgen_size)
        chosen = backend_choice(ScoreOptions(models_dir=models, clip=clip, musicgen=musicgen, cotvtm=cotvtm,
                                             musicgen_size=musicgen_size))
        fonts = config.installed_soundfonts()
        if json_output:
            JsonLines()({"type": "models", "input": "", "backend": chosen[0], "reason": chosen[1],
                         **{name: {"folder": str(getattr(paths, name) or ""), "problem": paths.problems.get(name),
                                   "holds": describe(name, getattr(paths, name)) if getattr(paths, name) else ""}
                            for name in ("clip", "musicgen", "cotvtm")},
                         "soundfonts": {"shipped": str(config.soundfont_path()), "installed": list(map(str, fonts))}})
            return
        table = Table(title="cotvtm models")
        for column in ("model", "folder", "status"):
            table.add_column(column, overflow="fold")
        for name in ("clip", "musicgen", "cotvtm"):
            found = getattr(paths, name)
            status = f"[green]found[/] {escape(describe(name, found))}" if found else (
                f"[red]{escape(paths.problems[name])}[/]")
            table.add_row(name, escape(str(found or "-")), status)
        err.print(table)
        err.print(f"--backend auto uses {escape(chosen[1])}", highlight=False)
        err.print(f"The procedural backend plays its music with the shipped {config.soundfont_path().name}"
                  + (f"; also installed here, for --soundfont: {escape(', '.join(map(str, fonts)))}" if fonts else
                     " (--soundfont FILE.sf2 takes any General MIDI soundfont, .sf3 too)"), highlight=False)


@models_group.command("fetch")
@click.option("--musicgen", "musicgen_size", type=_MUSICGEN_SIZES, default=config.MUSICGEN_SIZE,
              help="Which MusicGen to download.")
@click.option("--captioner", is_flag=True, help=f"Also {config.CAPTIONER_MODEL_ID}, for `data captions --media`.")
def models_fetch(musicgen_size: str, captioner: bool) -> None:
    """Download CLIP and MusicGen into the Hugging Face cache (needs the network; nothing else in cotvtm does)."""
    from cotvtm_desktop.model.registry import fetch

    with _Reporting(None, False):
        for path in fetch(musicgen_size, captioner):
            err.print(f"[green]ready[/green] {escape(str(path))}")
        err.print("The CoT-VTM checkpoint is not on a hub: train one (`cotvtm train`) or copy its folder to "
                  f"{escape(str(config.default_models_dir() / 'cotvtm'))}")


class _Reporting:
    """Expected failures end in one clear line (or one JSON error event) and exit 1; Ctrl-C exits 130."""

    def __init__(self, events, json_progress: bool):
        self.events, self.json = events, json_progress

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if is_out_of_memory(exc):  # expected with big models on a small GPU: said like any other expected failure
            exc = out_of_memory(exc)
        if isinstance(exc, Cancelled):
            if self.json:
                JsonLines()({"type": "cancelled", "input": str(exc.path or ""), "message": str(exc)})
            raise SystemExit(130)
        if isinstance(exc, UserError):
            if self.json:
                JsonLines()({"type": "error", "input": str(exc.path or ""), "message": str(exc)})
            else:
                err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise SystemExit(1)
        if isinstance(exc, KeyboardInterrupt):
            if self.json:
                JsonLines()({"type": "cancelled", "input": "", "message": "cancelled; no output was written"})
            err.print("[yellow]cancelled[/yellow]: no output was written; run again with --resume to continue")
            raise SystemExit(130)
        return False


def _skipped(events, input: Path, target: Path, exc: OutputExists) -> None:
    """An output that exists is skipped, not an error: a JSON event, or one yellow line."""
    (events or _print_skip)({"type": "file_skipped", "input": str(input), "output": str(target),
                             "reason": str(exc)})


def _print_skip(event: dict) -> None:
    err.print(f"[yellow]skipped[/yellow] {escape(event['reason'])}", highlight=False)


class _Bars:
    """Progress bars from job events: one per file in progress (in a batch, a file finishes while the next one
    starts), and one overall in a batch. A finished file's bar goes when the next file starts."""

    def __init__(self):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TimeRemainingColumn(compact=True, elapsed_when_finished=True), console=err,
                                 transient=False)
        self.files: dict[str, TaskID] = {}
        self.shares: dict[str, ProgressShares] = {}  # each file's stages' shares of its bar
        self.finished: list[str] = []
        self.overall = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind, p = event["type"], self.progress
        task = self.files.get(event.get("input", ""))
        shares = self.shares.get(event.get("input", ""))
        if kind == "batch_started":
            self.overall = p.add_task("all files", total=max(event["count"], 1))
        elif kind == "job_started":
            for done in self.finished:
                p.remove_task(self.files.pop(done))
            self.finished = []
            name = f"slideshow of {event['slideshow']}" if event.get("slideshow") else Path(event["input"]).name
            self.files[event["input"]] = p.add_task(escape(name[:40]), total=100)
            self.shares[event["input"]] = progress_shares(bool(event.get("slideshow")))
        elif task is not None and kind == "progress" and event["stage"] == "analysing":
            p.update(task, completed=100 * shares.analysis * event["fraction"])
        elif task is not None and kind == "progress" and event["stage"] == "rendering":  # inside a segment (neural)
            done = (event["segment"] - 1 + event["fraction"]) / event["count"]
            p.update(task, completed=100 * (shares.analysis + shares.music * done))
        elif task is not None and kind == "progress" and event["stage"] == "picture":  # a timeline's, a slideshow's
            p.update(task, completed=100 * (shares.analysis + shares.music + shares.picture * event["fraction"]))
        elif task is not None and kind == "segment_done":
            p.update(task, completed=100 * (shares.analysis + shares.music * event["index"] / event["count"]))
        elif task is not None and kind == "stage" and event["stage"] == "writing":
            p.update(task, completed=100 * (shares.analysis + shares.music + shares.picture))
        elif task is not None and kind in ("file_done", "error", "cancelled"):
            if kind == "file_done":
                p.update(task, completed=100)
            self.finished.append(event["input"])
        elif kind == "notice":
            p.console.print(f"[yellow]note:[/yellow] {escape(event['message'])}", highlight=False)
        if kind in ("file_done", "file_skipped", "error") and self.overall is not None:
            p.advance(self.overall)


def _summary(results, title: str, folder: Path, out_dir: Path | None) -> None:
    """What was done, skipped and failed: inputs shown from `folder`, outputs from `out_dir` (beside their input if
    None)."""
    table = Table(title=escape(title))
    for column in ("file", "status", "output / reason"):
        table.add_column(column, overflow="fold")
    colours = {"done": "green", "skipped": "yellow", "failed": "red"}
    for r in results:
        shown_output = r.output.relative_to(out_dir) if out_dir is not None else r.output.name
        detail = str(shown_output) if r.status == "done" else r.reason.replace(f"{r.input}: ", "")
        shown_input = r.input.resolve().relative_to(folder) if out_dir is None else r.input.relative_to(folder)
        table.add_row(escape(str(shown_input)), f"[{colours[r.status]}]{r.status}[/]", escape(detail))
    err.print(table)
    counts = {s: sum(r.status == s for r in results) for s in colours}
    err.print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed")


@app.group("train", no_args_is_help=True)
def train_group() -> None:
    """Train the CoT-VTM networks on an embedding set (paper defaults)."""


_DATA = click.option("--data", type=_PATH, required=True, help="Embedding set folder (from `cotvtm data encode`).")
_OUT = click.option("--out", type=_PATH, required=True,
                    help="Run folder: training state, metrics.csv, and checkpoint/ at the end.")
_SEED_T = click.option("--seed", type=int, default=0, help="Fixes the split, initialisation and batches.")
_RESUME_T = click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
# both MLPs (RationaleMLP and the ablation's StateMLP) train with the paper's MLP settings
_MLP_EPOCHS = click.option("--epochs", type=int, default=config.MLP_TRAINING["epochs"])
_MLP_BATCH = click.option("--batch-size", type=int, default=config.MLP_TRAINING["batch_size"])
_MLP_LR = click.option("--lr", type=float, default=config.MLP_TRAINING["lr"])
_MLP_HIDDEN = click.option("--hidden", type=int, default=1024)
_MLP_DROPOUT = click.option("--dropout", type=float, default=0.2)


def _mlp_training_options(command):
    return _applied([_DATA, _OUT, _MLP_EPOCHS, _MLP_BATCH, _MLP_LR, _MLP_HIDDEN, _MLP_DROPOUT, _SEED_T, _RESUME_T],
                    command)


def _report_epoch(metrics: dict) -> None:
    err.print(f"{metrics['network']} epoch {metrics['epoch']}: train {metrics['train_loss']:.5f}, "
              f"validation {metrics['val_loss']:.5f} ({metrics['seconds']:.1f} s)", highlight=False)


@train_group.command("mlp")
@_mlp_training_options
def train_mlp_command(data: Path, out: Path, epochs: int, batch_size: int, lr: float, hidden: int, dropout: float,
                      seed: int, resume: bool) -> None:
    """RationaleMLP: E_v -> E_r (MSE; AdamW at a constant rate)."""
    from cotvtm_desktop.train.trainer import Settings, train_mlp

    with _Reporting(None, False):
        train_mlp(data, out, Settings(epochs, batch_size, lr, seed), hidden, dropout, resume, _report_epoch)


@train_group.command("embeddiff")
@_DATA
@_OUT
@click.option("--epochs", type=int, default=config.EMBEDDIFF_TRAINING["epochs"])
@click.option("--batch-size", type=int, default=config.EMBEDDIFF_TRAINING["batch_size"])
@click.option("--lr", type=float, default=config.EMBEDDIFF_TRAINING["lr"])
@click.option("--width", type=int, default=512)
@click.option("--layers", type=int, default=6)
@click.option("--heads", type=int, default=8)
@click.option("--rationale/--no-rationale", default=True,
              help="--no-rationale: the paper's v -> EmbedDiff -> m ablation.")
@_SEED_T
@_RESUME_T
def train_embeddiff_command(data: Path, out: Path, epochs: int, batch_size: int, lr: float, width: int, layers: int,
                            heads: int, rationale: bool, seed: int, resume: bool) -> None:
    """EmbedDiff: (E_v, E_r) -> E_m (epsilon objective, cosine schedule, condition dropout); then the checkpoint."""
    from cotvtm_desktop.train.trainer import Settings, train_embeddiff

    with _Reporting(None, False):
        folder = train_embeddiff(data, out, Settings(epochs, batch_size, lr, seed), width, layers, heads, rationale,
                                 resume, _report_epoch)
        err.print(f"[green]checkpoint[/green] {escape(str(folder))}")


@train_group.command("state-mlp")
@_mlp_training_options
def train_state_mlp_command(data: Path, out: Path, epochs: int, batch_size: int, lr: float, hidden: int,
                            dropout: float, seed: int, resume: bool) -> None:
    """The paper's v -> MLP -> r -> MLP -> m ablation: an MLP from E_r to E_m instead of EmbedDiff; then the
    checkpoint."""
    from cotvtm_desktop.train.trainer import Settings, train_state_mlp

    with _Reporting(None, False):
        folder = train_state_mlp(data, out, Settings(epochs, batch_size, lr, seed), hidden, dropout, resume,
                                 _report_epoch)
        err.print(f"[green]checkpoint[/green] {escape(str(folder))}")


@app.group("data", no_args_is_help=True)
def data_group() -> None:
    """Build the training data: the teacher's reasoning over captions."""


@data_group.command("captions")
@click.argument("files", nargs=-1, type=_PATH)
@click.option("--out", type=_PATH, required=True, help="The caption set (JSONL) to write.")
@click.option("--templates", type=int, default=0,
              help="Also this many scene descriptions written by the LLM from appendix B.2's templates.")
@click.option("--seed", type=int, default=0, help="Which template requests are drawn.")
@click.option("--base-url", default="https://api.openai.com/v1")
@click.option("--model", default="gpt-4o")
@click.option("--api-key-env", default="OPENAI_API_KEY")
@click.option("--media", "media_folders", multiple=True, type=_PATH,
              help="A folder of your photos and videos (subfolders too) to caption with --captioner; each row keeps "
                   "its file, whose CLIP embedding becomes E_v. Repeatable.")
@click.option("--captioner", type=_PATH,
              help=f"Image-to-text model folder (BLIP, BLIP-2, GIT); default {config.CAPTIONER_MODEL_ID} from the HF "
                   "cache.")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, help="Pictures captioned at once.")
@_DEVICE
def data_captions(files: tuple[Path, ...], out: Path, templates: int, seed: int, base_url: str, model: str,
                  api_key_env: str, media_folders: tuple[Path, ...], captioner: Path | None, batch_size: int,
                  device: str) -> None:
    """Build the caption set: your caption files, LLM-written scene descriptions from the templates, and
    captions of your own photos and videos. Captions of media are kept beside --out and reused by a rerun."""
    from cotvtm_desktop.reasoning.teacher import LLMTeacher
    from cotvtm_desktop.train.captions import build_caption_set, describe_prompt, scene_requests

    with _Reporting(None, False):
        if not (files or templates or media_folders):
            raise UserError("nothing to build from: give caption files, --templates N or --media FOLDER")
        describer = None
        if templates:
            llm = LLMTeacher(base_url, model, api_key_env)
            describer = lambda request: llm.complete(describe_prompt(request))  # noqa: E731
        captioned = _caption_media(list(media_folders), out, captioner, batch_size, device) if media_folders else []
        count = build_caption_set(list(files or []), out, scene_requests(templates, seed), describer, captioned)
        err.print(f"[green]{count} captions[/green] in {escape(str(out))}")


def _caption_media(folders: list[Path], out: Path, folder: Path | None, batch_size: int,
                   device: str) -> list[tuple[str, str, str]]:
    """(caption, path, source) for each photo and video in `folders`, captioned by the image captioner."""
    from cotvtm_desktop.model.registry import locate_captioner, model_id
    from cotvtm_desktop.music.neural import resolve_device
    from cotvtm_desktop.train.captions import ImageCaptioner, caption_media, media_files

    paths = media_files(folders)
    if not paths:
        kinds = ", ".join(config.IMAGE_EXTENSIONS + config.VIDEO_EXTENSIONS)
        raise UserError(f"no photos or videos ({kinds}) in {', '.join(map(str, folders))}")
    model = ImageCaptioner(locate_captioner(folder), resolve_device(device))
    cache = out.with_name(out.stem + ".media-captions.jsonl")
    with Progress(TextColumn("captioning"), BarColumn(), TaskProgressColumn(), console=err) as bars:
        task = bars.add_task("captioning", total=len(paths))
        captions, failed = caption_media(paths, model, model.identity, cache, batch_size,
                                         lambda done, total: bars.update(task, completed=done, total=total))
    for path in failed:
        err.print(f"[yellow]skipped[/yellow] {escape(str(path))}: could not read a picture from it, or no caption",
                  soft_wrap=True)  # a path broken over lines cannot be copied
    source = f"captioner:{model_id(model.folder)}"
    return [(caption, path, source) for caption, path in captions]


@data_group.command("reason")
@click.argument("captions", type=_PATH)
@click.option("--out", type=_PATH, required=True, help="Results JSONL (appended; rejects go beside it).")
@click.option("--teacher", default="llm", help="llm (an OpenAI-compatible server) or rules.")
@click.option("--base-url", default="https://api.openai.com/v1",
              help="e.g. http://localhost:8000/v1 for vLLM, :11434/v1 for Ollama.")
@click.option("--model", default="gpt-4o")
@click.option("--api-key-env", default="OPENAI_API_KEY",
              help="The environment variable holding the key (never logged).")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4)
@click.option("--timeout", type=float, default=120.0, help="Seconds per request before a retry.")
@click.option("--retries", type=int, default=5, help="Retries with backoff on 429, 5xx and timeouts.")
@click.option("--json-mode/--no-json-mode", default=True)
def data_reason(captions: Path, out: Path, teacher: str, base_url: str, model: str, api_key_env: str,
                concurrency: int, timeout: float, retries: int, json_mode: bool) -> None:
    """Ask the teacher to reason over each caption (appendix A's CoT prompt); reruns skip what is done."""
    from cotvtm_desktop.reasoning.teacher import LLMTeacher, RulesTeacher
    from cotvtm_desktop.train.reason import read_captions, rejects_path, run_reasoning

    with _Reporting(None, False):
        rows = read_captions(captions)
        chosen = RulesTeacher() if teacher == "rules" else LLMTeacher(base_url, model, api_key_env, timeout,
                                                                      retries, json_mode)
        if teacher not in ("llm", "rules"):
            raise UserError(f"--teacher {teacher!r}: choose llm or rules")
        with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                      TextColumn("{task.fields[info]}"), console=err) as bars:
            task = bars.add_task("reasoning", total=len(rows), info="")

            def show(p) -> None:
                bars.update(task, completed=p.done, info=f"{p.rate:.1f}/s, ETA {p.eta:.0f} s, {p.tokens} tokens, "
                                                         f"{p.rejected} rejected")

            result = run_reasoning(rows, out, chosen, concurrency, show)
        err.print(f"{result.done} of {result.total} captions reasoned ({result.rejected} rejected this run: "
                  f"{escape(str(rejects_path(out)))})", highlight=False)


@data_group.command("encode")
@click.argument("reasoned", type=_PATH)
@click.option("--out", type=_PATH, required=True, help="The embedding set folder to write (resumable).")
@click.option("--clip", type=_PATH, required=True, help="CLIP model folder.")
@click.option("--musicgen", type=_PATH, required=True, help="MusicGen model folder (its T5 makes E_m).")
@click.option("--rationale-encoder", type=_PATH, required=True,
              help="Any HF text encoder folder (e.g. all-MiniLM-L6-v2).")
@click.option("--state-length", type=int, default=48, help="L: T5 states kept per description.")
@click.option("--rationale-fields", default=",".join(config.RATIONALE_FIELDS),
              help="Which parts of the rationale make X_rt: any of step1, visual_elements, visual_description, "
                   "step2, music_elements, step3.")
@_DEVICE
def data_encode(reasoned: Path, out: Path, clip: Path, musicgen: Path, rationale_encoder: Path, state_length: int,
                rationale_fields: str, device: str) -> None:
    """Encode reasoned captions into E_v, E_r and E_m shards for training."""
    from cotvtm_desktop.music.neural import resolve_device
    from cotvtm_desktop.train.encode import encode_reasoned

    with _Reporting(None, False):
        with Progress(TextColumn("encoding"), BarColumn(), TaskProgressColumn(), console=err) as bars:
            task = bars.add_task("encoding", total=None)
            fields = tuple(f.strip() for f in rationale_fields.split(",") if f.strip())
            known = ("step1", "visual_elements", "visual_description", "step2", "music_elements", "step3")
            if not fields or any(f not in known for f in fields):
                raise UserError(f"--rationale-fields {rationale_fields!r}: choose from {', '.join(known)}")
            folder = encode_reasoned(reasoned, out, clip, musicgen, rationale_encoder, resolve_device(device),
                                     state_length, rationale_fields=fields,
                                     on_progress=lambda done, total: bars.update(task, completed=done, total=total))
        err.print(f"[green]embedding set[/green] {escape(str(folder))}")


@app.command("eval")
@click.argument("checkpoint", type=_PATH)
@click.argument("data", type=_PATH)
@click.option("--samples", type=int, default=200)
@click.option("--seed", type=int, default=0)
@click.option("--audio-model", type=_PATH,
              help="A local audio embedding model folder (HF format) for a Fréchet audio distance.")
@click.option("--musicgen", type=_PATH, help="MusicGen folder (audio metrics).")
@click.option("--audio-samples", type=int, default=16)
@click.option("--seconds", type=float, default=5.0, help="Audio length per sample (audio metrics).")
@_DEVICE
def eval_command(checkpoint: Path, data: Path, samples: int, seed: int, audio_model: Path | None,
                 musicgen: Path | None, audio_samples: int, seconds: float, device: str) -> None:
    """Embedding-space metrics (cosine to the teacher's E_m, P@10 among 70, diversity) and, with --audio-model
    and --musicgen, a Fréchet audio distance."""
    from cotvtm_desktop.music.neural import resolve_device
    from cotvtm_desktop.train.evaluate import audio_metrics, evaluate

    with _Reporting(None, False):
        result = evaluate(checkpoint, data, samples, seed=seed)
        if audio_model is None:
            result["audio metrics"] = ("not computed: pass --audio-model DIR (a local audio embedding model, e.g. "
                                       "CLAP or VGGish in Hugging Face format) and --musicgen DIR")
        elif musicgen is None or not (Path(audio_model) / "config.json").exists():
            raise UserError("audio metrics need --musicgen DIR and an --audio-model folder with a config.json",
                            audio_model)
        else:
            result |= audio_metrics(checkpoint, data, musicgen, audio_model, audio_samples, seconds, seed,
                                    resolve_device(device))
        table = Table(title=escape(f"cotvtm eval: {checkpoint}"))
        table.add_column("metric")
        table.add_column("value")
        for key, value in result.items():
            table.add_row(key, escape(str(value)))
        err.print(table)


def main() -> None:
    # A terminated process (a GUI's stop button, `kill`) cleans up like Ctrl-C: no partial output is left.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        # one name, whether it runs as `cotvtm`, `python -m cotvtm_desktop` or the packaged app: in usage lines,
        # and for shell completion (_COTVTM_COMPLETE); click's standalone mode ends every run by raising SystemExit
        app(prog_name="cotvtm")
    except SystemExit as done:
        _exit_without_finalizing(done.code)


def _exit_without_finalizing(code: int | str | None) -> None:
    """Exit as Python would, less its finalisation: tearing down every imported module (numpy, PyAV, ONNX Runtime,
    rich...) and freeing every cached array one by one takes 0.1-0.2 s, a tenth of scoring a short video, and
    matters to nothing once the work is done. Unfinished threads are joined, the atexit handlers run (worker pools,
    logging) and the standard streams are flushed first, so the only thing skipped is freeing memory."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon:
            thread.join()
    if isinstance(code, str):
        print(code, file=sys.stderr)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
