"""Score many files, every video and image in a folder or a list given on the command line; one bad file never stops
the rest. Or keep a folder scored: `watch_folder` scores each file that arrives in it. Or make a film of each folder
of photos (slideshow_outputs): an input that is a folder is scored as a slideshow of its pictures."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator

from cotvtm_desktop import config
from cotvtm_desktop.errors import BadMediaError, Cancelled, UserError
from cotvtm_desktop.jobs.backends import choose_backend
from cotvtm_desktop.jobs.events import EventSink, no_events
from cotvtm_desktop.jobs.naming import distinct_outputs
from cotvtm_desktop.jobs.runner import Job, OutputExists, ScoreOptions, default_output, start_job
from cotvtm_desktop.media.probe import is_image_path, probe
from cotvtm_desktop.media.slideshow import folder_title, in_taken_order, live_photo_motions
from cotvtm_desktop.music.backend import MusicBackend


@dataclass(frozen=True)
class BatchItem:
    input: Path
    output: Path
    status: str  # "done", "skipped" or "failed"
    reason: str = ""


def find_inputs(folder: Path, recursive: bool, exclude: Path | None = None) -> list[Path]:
    """Videos and images under `folder`, in name order, leaving out our own outputs and work folders."""
    pattern = "**/*" if recursive else "*"
    extensions = config.VIDEO_EXTENSIONS + config.IMAGE_EXTENSIONS
    found = []
    for path in sorted(folder.glob(pattern)):
        if not path.is_file() or path.suffix.lower() not in extensions:
            continue
        if config.OUTPUT_SUFFIX + "." in path.name or config.WORK_DIR_NAME in path.parts:
            continue
        if exclude is not None and exclude.resolve() in path.resolve().parents:
            continue
        found.append(path)
    return found


def output_paths(inputs: list[Path], out_dir_for: Callable[[Path], Path], extension: str | None = None
                 ) -> dict[Path, Path]:
    """Each input's output in `out_dir_for(input)`, named by default_output (with `extension`, ".wav" say, every
    file's music alone in that format), distinct (see distinct_outputs)."""
    def named(path: Path, name: str) -> Path:
        output = default_output(path, out_dir_for(path), extension)
        return output.with_name(f"{name}{config.OUTPUT_SUFFIX}{output.suffix}")

    return distinct_outputs(inputs, named)


def batch_outputs(folder: Path, out_dir: Path, recursive: bool = False, extension: str | None = None
                  ) -> dict[Path, Path]:
    """Each video and image in `folder` and its output in `out_dir`, subfolders mirrored (see output_paths for
    `extension`)."""
    if not folder.is_dir():
        raise UserError("is not a folder", folder)
    inputs = find_inputs(folder, recursive, exclude=out_dir if out_dir.resolve() != folder.resolve() else None)
    return output_paths(inputs, lambda path: out_dir / path.parent.relative_to(folder), extension)


def slideshow_outputs(folder: Path, out_dir: Path, recursive: bool = False, extension: str | None = None
                      ) -> dict[Path, Path]:
    """Each folder that shows two or more photos or videos — `folder`, and with `recursive` every folder under it —
    and the film of them it becomes in `out_dir` (NAME.scored.mp4, or the music alone with `extension`; subfolders
    mirrored): a family's folders of outings, each its own film."""
    if not folder.is_dir():
        raise UserError("is not a folder", folder)
    outside = out_dir.resolve() != folder.resolve()
    candidates = [folder, *(sorted(p for p in folder.rglob("*") if p.is_dir()) if recursive else [])]
    shown = [f for f in candidates if config.WORK_DIR_NAME not in f.parts and not (
        outside and out_dir.resolve() in (f.resolve(), *f.resolve().parents)) and _pictures_shown(f) >= 2]
    return output_paths(shown, lambda f: out_dir / f.parent.relative_to(folder) if f != folder else out_dir,
                        extension or ".mp4")


def _pictures_shown(folder: Path) -> int:
    """How many of the folder's photos and videos its film would show: all but the moving parts of Live Photos (a
    video is probed only when a photo of its name lies beside it)."""
    files = find_inputs(folder, recursive=False)
    photos = {path.stem.casefold() for path in files if is_image_path(path)}
    seconds = {}
    for path in files:
        if not is_image_path(path) and path.stem.casefold() in photos:
            try:
                seconds[path] = probe(path).duration
            except BadMediaError:
                pass  # the film's notice names it
    return len(files) - len(live_photo_motions(files, seconds))


def run_batch(folder: Path, out_dir: Path, options: ScoreOptions, recursive: bool = False,
              events: EventSink = no_events, cancel: threading.Event | None = None,
              backend: tuple[MusicBackend, str] | None = None, extension: str | None = None) -> list[BatchItem]:
    """Score `folder`'s files into `out_dir` (see batch_outputs)."""
    return score_files(batch_outputs(folder, out_dir, recursive, extension), folder, options, events, cancel, backend)


def watch_folder(folder: Path, out_dir: Path, options: ScoreOptions, recursive: bool = False,
                 events: EventSink = no_events, cancel: threading.Event | None = None,
                 backend: tuple[MusicBackend, str] | None = None, extension: str | None = None,
                 poll_seconds: float = config.WATCH_POLL_SECONDS) -> Iterator[list[BatchItem]]:
    """Keep `folder` scored into `out_dir` (as run_batch does) until `cancel` is set or Ctrl-C while it waits: each
    video or image without its output yet, once it has stopped changing (unchanged for `poll_seconds`: a copy in
    progress is not read half-written). Yields each round's results. A file tried here is tried again when it
    changes (a copy that stalled for longer, then went on; a file mended); one whose output was there before the
    watch is left alone. An output's name, once given, stays (a later file that shares a name gets its own)."""
    cancel = cancel or threading.Event()
    backend = backend or choose_backend(options)  # models load once
    outputs: dict[Path, Path] = {}
    looked: dict[Path, tuple[int, int]] = {}  # size and modification time at the last look
    tried: dict[Path, tuple[int, int]] = {}  # the same, when it was scored (or failed) here
    events({"type": "watching", "input": str(folder), "output": str(out_dir)})
    while not cancel.is_set():
        ready = {}
        for path, output in batch_outputs(folder, out_dir, recursive, extension).items():
            output = outputs.setdefault(path, output)
            before, now = looked.get(path), _signature(path)
            looked[path] = now
            settled = now == before or (now is not None and time.time() - now[1] / 1e9 > poll_seconds)
            new = tried[path] != now if path in tried else not output.exists()
            if now is not None and settled and new:
                ready[path] = output
        if ready:  # only files new or changed since they were tried here: their outputs may be replaced
            round_results = score_files(ready, folder, replace(options, overwrite=True), events, cancel, backend)
            tried.update({r.input: looked[r.input] for r in round_results})
            yield round_results
        try:
            cancel.wait(poll_seconds)
        except KeyboardInterrupt:  # while waiting, not working: a clean stop
            return


def _signature(path: Path) -> tuple[int, int] | None:
    """A file's size and modification time (ns), None once it is gone."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def score_files(outputs: dict[Path, Path], source: Path, options: ScoreOptions, events: EventSink = no_events,
                cancel: threading.Event | None = None, backend: tuple[MusicBackend, str] | None = None
                ) -> list[BatchItem]:
    """Score each input (the keys of `outputs`, in order) into its output. `source` (the folder they came from)
    names the run in events and on a cancel."""
    backend = backend or choose_backend(options)  # models load once for all the files
    events({"type": "batch_started", "input": str(source), "count": len(outputs)})
    if hasattr(backend[0], "render_across"):
        results = _batched_across_videos(outputs, source, options, events, cancel, backend)
    else:
        results = _one_after_another(outputs, source, options, events, cancel, backend)
    events({"type": "batch_done", "input": str(source), "done": sum(r.status == "done" for r in results),
            "skipped": sum(r.status == "skipped" for r in results),
            "failed": sum(r.status == "failed" for r in results)})
    return results


def _attempt(path: Path, output: Path, events: EventSink, cancel, work) -> BatchItem:
    """Run `work` for one file: done, skipped (its output exists) or failed with the reason."""
    try:
        work()
        return BatchItem(path, output, "done")
    except OutputExists as exc:
        events({"type": "file_skipped", "input": str(path), "output": str(output), "reason": str(exc)})
        return BatchItem(path, output, "skipped", "output exists (use --overwrite to replace it)")
    except UserError as exc:
        if cancel is not None and cancel.is_set():
            if isinstance(exc, Cancelled):
                raise
            raise Cancelled(path) from exc  # a failure while stopping is the stop
        events({"type": "error", "input": str(path), "message": str(exc)})
        return BatchItem(path, output, "failed", str(exc))


def _one_after_another(outputs, folder, options, events, cancel, backend) -> list[BatchItem]:
    """Score the files in turn. A file's last stages (mixing, and FFmpeg encoding its audio in a process of its
    own, the longest part of a long video) run on a background thread while the next file is analysed and
    rendered; one file finishes at a time."""
    stop = cancel or threading.Event()  # also set on Ctrl-C or an error, so the file finishing stops too
    results: dict[Path, BatchItem] = {}
    finishing: tuple[Path, Future] | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="finish") as finisher:
        try:
            for number, (path, output) in enumerate(outputs.items(), 1):
                if stop.is_set():
                    raise Cancelled(folder)
                events({"type": "batch_item", "input": str(path), "number": number, "count": len(outputs)})
                jobs: list[Job] = []
                results[path] = _attempt(path, output, events, stop, lambda: jobs.append(
                    _rendered(path, output, options, events, stop, backend)))
                if finishing is not None:
                    results[finishing[0]] = finishing[1].result()
                finishing = None
                if jobs:
                    finishing = path, finisher.submit(_attempt, path, output, events, stop, jobs[0].finish)
            if finishing is not None:
                results[finishing[0]] = finishing[1].result()
        except BaseException:
            stop.set()
            raise
    return [results[path] for path in outputs]


def _rendered(path: Path, output: Path, options: ScoreOptions, events: EventSink, cancel: threading.Event,
              backend: tuple[MusicBackend, str]) -> Job:
    job = _started(path, output, options, events, cancel, backend)
    job.render()
    return job


def _started(path: Path, output: Path, options: ScoreOptions, events: EventSink, cancel: threading.Event | None,
             backend: tuple[MusicBackend, str]) -> Job:
    """A file's job; or a folder's: its photos and videos as one slideshow, in the order they were taken."""
    if not path.is_dir():
        return start_job(path, output, options, events, cancel, backend)
    shown = in_taken_order(find_inputs(path, recursive=False))
    titled = replace(options, title=folder_title(options.title, path))
    return start_job(shown[0], output, titled, events, cancel, backend, shown[1:], slideshow=True)


def _batched_across_videos(outputs, folder, options, events, cancel, backend) -> list[BatchItem]:
    """Prepare every file, render all their segments together (the batch dimension runs across videos), then
    finish each file."""
    results: dict[Path, BatchItem] = {}
    jobs: list[Job] = []
    inputs: list[Path] = []  # each job's input: a file, or a slideshow's folder
    for number, (path, output) in enumerate(outputs.items(), 1):
        events({"type": "batch_item", "input": str(path), "number": number, "count": len(outputs)})
        results[path] = _attempt(path, output, events, cancel, lambda: jobs.append(
            _started(path, output, options, events, cancel, backend)))
        inputs += [path] * (len(jobs) - len(inputs))
    if jobs:
        reporters = [job.step_reporter() for job in jobs]
        work = [(job.plan, job.todo(), job.padding, job.cached_audio) for job in jobs]
        started = time.perf_counter()
        for j, index, music in backend[0].render_across(
                work, cancel, lambda j, index, step, total: reporters[j](index, step, total)):
            jobs[j].save_rendered(index, music)
        if cancel is not None and cancel.is_set():
            raise Cancelled(folder)
        for job in jobs:  # one shared rendering: each manifest shows its wall time
            job.timings["music"] = round(time.perf_counter() - started, 3)
    for path, job in zip(inputs, jobs):
        results[path] = _attempt(path, job.output, events, cancel, job.finish)
    return [results[path] for path in outputs]
