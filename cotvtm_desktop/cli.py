"""`cotvtm`: score a video (or image), or a whole folder, from the command line."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cotvtm_desktop import __version__, config
from cotvtm_desktop.errors import UserError
from cotvtm_desktop.jobs.events import JsonLines
from cotvtm_desktop.jobs.runner import OutputExists, ScoreOptions, default_output

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Score home videos with music, offline. See README.md.")
err = Console(stderr=True)

# Options shared by `score` and `batch`.
_SEGMENT = typer.Option(config.SEGMENT_SECONDS, "--segment-seconds", min=2.0, max=30.0,
                        help="Length of one music segment; boundaries snap to scene cuts within 3 s.")
_LUFS = typer.Option(config.TARGET_LUFS, "--lufs", min=-40.0, max=-5.0, help="Integrated loudness of the result.")
_REPLACE = typer.Option(False, "--replace-audio", help="Drop the original audio instead of ducking the music under it.")
_DUCK = typer.Option(config.DUCK_DB, "--duck-db", min=0.0, max=40.0, help="How far the music dips under the original audio.")
_SEED = typer.Option(config.SEED, "--seed", help="Same seed, same music.")
_MIDI = typer.Option(False, "--midi", help="Also write the arrangement as a .mid next to the output.")
_OVERWRITE = typer.Option(False, "--overwrite", help="Replace outputs that already exist.")
_RESUME = typer.Option(False, "--resume", help="Continue a run that was stopped, reusing its finished segments.")
_DURATION = typer.Option(config.IMAGE_SECONDS, "--duration", min=2.0, max=600.0, help="Music length for an image input.")
_CROSSFADE = typer.Option(config.CROSSFADE_SECONDS, "--crossfade", min=0.0, max=4.0,
                          help="Seconds of equal-power crossfade between segments.")
_JSON = typer.Option(False, "--json-progress", help="Print one JSON event per line instead of progress bars.")
_BACKEND = typer.Option("auto", "--backend", help="auto or procedural (the neural backend is not in this version).")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cotvtm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                        help="Print the version and exit.")) -> None:
    pass


def _options(segment_seconds, lufs, replace_audio, duck_db, seed, midi, overwrite, resume, duration,
             crossfade) -> ScoreOptions:
    return ScoreOptions(segment_seconds=segment_seconds, target_lufs=lufs, replace_audio=replace_audio,
                        duck_db=duck_db, seed=seed, midi=midi, overwrite=overwrite, resume=resume,
                        image_seconds=duration, crossfade=crossfade)


def _check_backend(backend: str, quiet: bool) -> None:
    if backend not in ("auto", "procedural"):
        raise UserError(f"unknown or unavailable backend '{backend}': this version has the procedural backend "
                        "only (use --backend procedural or auto)")
    if backend == "auto" and not quiet:
        err.print("[dim]backend: procedural (the neural backend is not part of this version)[/dim]")


@app.command()
def score(
    input: Path = typer.Argument(..., help="A video or image. A name starting with '-' goes after '--'."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Default: NAME.scored.mp4 beside the input "
                                          "(NAME.scored.m4a for an image; .wav/.flac/.mp4 also work)."),
    backend: str = _BACKEND, segment_seconds: float = _SEGMENT, lufs: float = _LUFS, replace_audio: bool = _REPLACE,
    duck_db: float = _DUCK, seed: int = _SEED, midi: bool = _MIDI, overwrite: bool = _OVERWRITE,
    resume: bool = _RESUME, duration: float = _DURATION, crossfade: float = _CROSSFADE, json_progress: bool = _JSON,
) -> None:
    """Score one video or image: INPUT.scored.mp4 appears beside it."""
    from cotvtm_desktop.jobs.runner import score as run_score

    options = _options(segment_seconds, lufs, replace_audio, duck_db, seed, midi, overwrite, resume, duration,
                       crossfade)
    events = JsonLines() if json_progress else None
    with _Reporting(events, json_progress):
        _check_backend(backend, json_progress)
        target = output or default_output(input)
        try:
            if events is not None:
                run_score(input, target, options, events)
            else:
                with _Bars() as bars:
                    run_score(input, target, options, bars)
        except OutputExists as exc:
            (events or _print_skip)({"type": "file_skipped", "input": str(input), "output": str(target),
                                     "reason": str(exc)})
            return
        if not json_progress:
            err.print(f"[green]wrote[/green] {target}")


@app.command()
def batch(
    folder: Path = typer.Argument(..., help="A folder of videos and images."),
    out_dir: Path = typer.Option(..., "-o", "--output-dir", help="Where the scored files go (subfolders mirrored)."),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Include subfolders."),
    backend: str = _BACKEND, segment_seconds: float = _SEGMENT, lufs: float = _LUFS, replace_audio: bool = _REPLACE,
    duck_db: float = _DUCK, seed: int = _SEED, midi: bool = _MIDI, overwrite: bool = _OVERWRITE,
    resume: bool = _RESUME, duration: float = _DURATION, crossfade: float = _CROSSFADE, json_progress: bool = _JSON,
) -> None:
    """Score every video and image in FOLDER into OUTDIR, then print a summary."""
    from cotvtm_desktop.jobs.batch import run_batch

    options = _options(segment_seconds, lufs, replace_audio, duck_db, seed, midi, overwrite, resume, duration,
                       crossfade)
    with _Reporting(JsonLines() if json_progress else None, json_progress):
        _check_backend(backend, json_progress)
        if json_progress:
            results = run_batch(folder, out_dir, options, recursive, JsonLines())
        else:
            with _Bars() as bars:
                results = run_batch(folder, out_dir, options, recursive, bars)
            _summary(results, folder, out_dir)
        if any(r.status == "failed" for r in results):
            raise typer.Exit(1)


class _Reporting:
    """Expected failures end in one clear line (or one JSON error event) and exit 1; Ctrl-C exits 130."""

    def __init__(self, events, json_progress: bool):
        self.events, self.json = events, json_progress

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, UserError):
            if self.json:
                JsonLines()({"type": "error", "input": str(exc.path or ""), "message": str(exc)})
            else:
                err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1)
        if isinstance(exc, KeyboardInterrupt):
            err.print("[yellow]cancelled[/yellow]: no output was written; run again with --resume to continue")
            raise typer.Exit(130)
        return False


def _print_skip(event: dict) -> None:
    err.print(f"[yellow]skipped[/yellow] {event['reason']}", highlight=False)


class _Bars:
    """Progress bars from job events: one for the current file, one overall in a batch."""

    def __init__(self):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                                 TimeElapsedColumn(), console=err, transient=False)
        self.file_task = None
        self.overall = None

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def __call__(self, event: dict) -> None:
        kind, p = event["type"], self.progress
        if kind == "batch_started":
            self.overall = p.add_task("all files", total=max(event["count"], 1))
        elif kind == "job_started":
            if self.file_task is not None:
                p.remove_task(self.file_task)
            self.file_task = p.add_task(Path(event["input"]).name[:40], total=100)
        elif self.file_task is not None and kind == "progress":
            p.update(self.file_task, completed=40 * event["fraction"])
        elif self.file_task is not None and kind == "segment_done":
            p.update(self.file_task, completed=40 + 45 * event["index"] / event["count"])
        elif self.file_task is not None and kind == "stage" and event["stage"] == "writing":
            p.update(self.file_task, completed=95)
        elif kind == "file_done" and self.file_task is not None:
            p.update(self.file_task, completed=100)
        if kind in ("file_done", "file_skipped", "error") and self.overall is not None:
            p.advance(self.overall)


def _summary(results, folder: Path, out_dir: Path) -> None:
    table = Table(title=f"cotvtm batch: {folder} -> {out_dir}")
    for column in ("file", "status", "output / reason"):
        table.add_column(column, overflow="fold")
    colours = {"done": "green", "skipped": "yellow", "failed": "red"}
    for r in results:
        table.add_row(str(r.input.relative_to(folder)), f"[{colours[r.status]}]{r.status}[/]",
                      str(r.output.relative_to(out_dir)) if r.status == "done" else r.reason.replace(f"{r.input}: ", ""))
    err.print(table)
    counts = {s: sum(r.status == s for r in results) for s in colours}
    err.print(f"{counts['done']} done, {counts['skipped']} skipped, {counts['failed']} failed")


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
