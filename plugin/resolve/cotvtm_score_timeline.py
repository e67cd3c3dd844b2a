"""cotvtm for DaVinci Resolve: score the current timeline's pictures and place the music on a new audio track.

Install: copy this file and ../common/cotvtm_child.py into Resolve's Scripts/Edit folder (see README.md); run it
from Workspace › Scripts. Outside Resolve (with its scripting environment set up) it also runs from a terminal:
`python cotvtm_score_timeline.py --backend procedural`. Resolve's Python scripting needs the Studio edition on
recent versions. The work runs in the `cotvtm` program as a child process; nothing is installed into Resolve.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parent.parent / "common")]
import cotvtm_child

POLL_SECONDS = 0.5
AUDIO = 2  # AppendToTimeline's mediaType for audio only


def connect():
    """The running Resolve: the `app` Resolve gives its own scripts, else the external scripting module."""
    app = globals().get("app") or getattr(sys.modules.get("__main__"), "app", None)
    if app is not None:
        return app.GetResolve()
    try:
        import DaVinciResolveScript
    except ImportError:
        raise RuntimeError("cannot reach Resolve: run this from Workspace › Scripts, or set up Resolve's scripting "
                           "environment (RESOLVE_SCRIPT_API, PYTHONPATH; see Resolve's scripting README)") from None
    return DaVinciResolveScript.scriptapp("Resolve")


def placed_clips(timeline, fps: float) -> list[cotvtm_child.Placed]:
    """The picture clips of every enabled video track (a higher track covers a lower one)."""
    clips = []
    for track in range(1, int(timeline.GetTrackCount("video")) + 1):
        enabled = getattr(timeline, "GetIsTrackEnabled", None)
        if enabled is not None and not enabled("video", track):
            continue
        for item in timeline.GetItemListInTrack("video", track) or []:
            media = item.GetMediaPoolItem()
            path = media.GetClipProperty("File Path") if media is not None else ""
            if not path:
                continue  # a title, generator or compound clip: nothing on disk to look at
            first = item.GetSourceStartFrame() if hasattr(item, "GetSourceStartFrame") else item.GetLeftOffset()
            clips.append(cotvtm_child.Placed(path, first, int(item.GetStart()), int(item.GetEnd()), track))
    return clips


def score_timeline(resolve, options: argparse.Namespace, log=print) -> bool:
    """Score the current timeline and add the music on a new audio track. Returns whether it did."""
    project = resolve.GetProjectManager().GetCurrentProject()
    timeline = project.GetCurrentTimeline() if project else None
    if timeline is None:
        log("cotvtm: open a timeline first")
        return False
    fps = float(timeline.GetSetting("timelineFrameRate"))
    clips = placed_clips(timeline, fps)
    if not clips:
        log("cotvtm: the timeline has no video clips from files to score")
        return False
    start, end = min(c.start for c in clips), max(c.end for c in clips)
    folder = Path(tempfile.mkdtemp(prefix="cotvtm-"))
    music = _music_path(Path(options.output_dir), timeline.GetName())
    edit = cotvtm_child.write_timeline(cotvtm_child.flatten(clips, start, end, fps), folder / "timeline.json")
    args = ["score", str(edit), "-o", str(music), "--overwrite", "--backend", options.backend,
            "--segment-seconds", str(options.segment_seconds), "--seed", str(options.seed),
            "--work", str(cotvtm_child.work_folder(music.parent, timeline.GetName())),
            *cotvtm_child.music_args(genre=options.genre or "", stems=options.stems, soundfont=options.soundfont,
                                     lead=options.lead or "", chords=options.chords or "", bass=options.bass or "",
                                     without=tuple(options.without or ()), energy=options.energy)]
    job = cotvtm_child.CotvtmJob(args, options.cotvtm)
    shown = -1
    try:
        while job.status == "running":
            job.poll()
            if round(100 * job.fraction) // 10 != shown:
                shown = round(100 * job.fraction) // 10
                log(f"cotvtm: {10 * shown} %")
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        job.cancel()
        job.wait(60)
    if job.status != "done":
        log(f"cotvtm: {job.message}")
        return False
    media_pool = project.GetMediaPool()
    tracks = []
    for audio in cotvtm_child.stem_files(music) if options.stems else [music]:  # each on a new track
        imported = media_pool.ImportMedia([str(audio)]) or []
        if not imported:
            log(f"cotvtm: Resolve could not import {audio}")
            return False
        timeline.AddTrack("audio", "stereo")
        tracks.append(int(timeline.GetTrackCount("audio")))
        placed = media_pool.AppendToTimeline([{"mediaPoolItem": imported[0], "startFrame": 0,
                                               "endFrame": end - start - 1, "mediaType": AUDIO,
                                               "trackIndex": tracks[-1], "recordFrame": start}])
        if not placed:
            log("cotvtm: Resolve could not place the music on the timeline")
            return False
    if options.stems:
        log(f"cotvtm: the music's parts on audio tracks {tracks[0]}-{tracks[-1]} ({music.with_suffix('.stems')})")
    else:
        log(f"cotvtm: music on audio track {tracks[0]} ({music})")
    return True


def _music_path(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    safe = cotvtm_child.safe_name(name)
    number = 1
    while (folder / f"{safe}-music-{number}.wav").exists():
        number += 1
    return folder / f"{safe}-music-{number}.wav"


def options(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Score the current Resolve timeline with cotvtm.")
    parser.add_argument("--cotvtm", default="", help="the cotvtm program (default: cotvtm on PATH)")
    parser.add_argument("--backend", default="auto", choices=("auto", "procedural", "neural"))
    parser.add_argument("--segment-seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--genre", choices=cotvtm_child.GENRES, help="procedural: one genre for the whole timeline "
                        "(default: each segment's from its picture)")
    parser.add_argument("--lead", choices=cotvtm_child.LEADS, help="procedural: the instrument that plays the tune "
                        "(default: each genre's own)")
    parser.add_argument("--chords", choices=cotvtm_child.CHORDS, help="procedural: the instrument that plays the "
                        "chords (default: each genre's own)")
    parser.add_argument("--bass", choices=cotvtm_child.BASSES, help="procedural: the instrument that plays the bass "
                        "line (default: each genre's own)")
    parser.add_argument("--without", choices=cotvtm_child.PARTS, action="append", help="procedural: leave this part "
                        "of the music out (drums, say); repeat for more")
    parser.add_argument("--energy", type=float, default=0.0, help="procedural: -1 (calmer: slower, softer, "
                        "sparser) to 1 (livelier) than the picture asks for, the same genre")
    parser.add_argument("--stems", action="store_true", help="procedural: the music's parts (melody, chords, bass, "
                        "pad, drums) on an audio track each, to balance in Resolve")
    parser.add_argument("--soundfont", default="", help="procedural: a General MIDI .sf2 soundfont to play the "
                        "music with (default: the small one cotvtm ships)")
    parser.add_argument("--output-dir", default=str(Path.home() / "cotvtm"), help="where the music files go")
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(0 if score_timeline(connect(), options(sys.argv[1:])) else 1)
