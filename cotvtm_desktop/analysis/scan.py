"""One decoding pass over a video that measures everything the procedural backend needs.

Memory stays flat whatever the video's length: each sampled frame is reduced at once to a few numbers (colour,
motion, histogram distance), and keyframes go through the object model in small batches, keeping only class
probabilities. Keyframes are taken from this same pass, evenly spaced in time, rather than by seeking: seeking
re-decodes from the previous I-frame for every keyframe, which for common GOP lengths decodes more than the file.
The models run on a worker thread while decoding goes on (both release the GIL), so a second core is not idle.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np

from cotvtm_desktop import config
from cotvtm_desktop.analysis import colour, motion, objects
from cotvtm_desktop.media.frames import decoded_frames, iter_frames_between, iter_keyframe_pairs, to_rgb
from cotvtm_desktop.media.images import load_image
from cotvtm_desktop.media.probe import MediaInfo

# Keyframes per call of the models. The object model alone (ONNX Runtime on one thread) takes as long per image in
# batches of 2 as of 8 (10 ms), and small batches keep it level with the decoding instead of a batch behind it (a
# 60 s video's analysis: 0.36 -> 0.29 s). A backend's feature model (CLIP in torch, perhaps on a GPU) wants more.
_OBJECT_BATCH = 2
_FEATURE_BATCH = 8
# Keyframes waiting for the models; decoding pauses beyond this, which bounds memory (8 keyframes at 256 px are
# under 3 MB). Enough for decoding to go on while a feature model loads at the start of a job, not to wait for it.
_KEYFRAMES_IN_FLIGHT = 256
# A range of a sparse-keyframe video is sampled at its keyframes when it spans this many keyframe intervals: fewer
# samples than that would miss what a full decode at ANALYSIS_FPS sees (an 8 s clip of a phone video: 0.57 -> 0.1 s)
_SPARSE_WINDOW_KEYFRAMES = 3


@dataclass
class Timeline:
    """Per-sampled-frame measurements of a whole video, plus its keyframes' class probabilities."""

    times: np.ndarray
    brightness: np.ndarray
    saturation: np.ndarray
    warmth: np.ndarray
    motion: np.ndarray
    palette: np.ndarray  # frames x named colours
    cuts: list[float]
    keyframe_times: np.ndarray
    keyframe_probabilities: np.ndarray  # keyframes x 1000
    keyframe_features: np.ndarray | None = None  # keyframes x D, what the music backend asked for (CLIP for neural)

    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "keyframe_features"}
        arrays["cuts"] = np.asarray(self.cuts, dtype=np.float64)
        if self.keyframe_features is not None:
            arrays["keyframe_features"] = self.keyframe_features
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "Timeline":
        values = dict(arrays)
        values["cuts"] = [float(c) for c in values["cuts"]]
        return cls(**values)

    def frames_between(self, start: float, end: float) -> np.ndarray:
        return _within(self.times, start, end)

    def keyframes_between(self, start: float, end: float) -> np.ndarray:
        return _within(self.keyframe_times, start, end)


def _within(times: np.ndarray, start: float, end: float) -> np.ndarray:
    """A mask of the samples in [start, end); the nearest one if none lies inside (a segment shorter than the
    sampling step)."""
    mask = (times >= start) & (times < end)
    if not mask.any():
        mask[np.argmin(np.abs(times - (start + end) / 2))] = True
    return mask


Features = Callable[[list[np.ndarray]], np.ndarray]
# (what a timeline clip's scan covers: its file and range, the scan) -> the scan's result, perhaps kept from before
RememberedPart = Callable[[list, Callable[[], Timeline]], Timeline]


def scan_video(info: MediaInfo, keyframe_interval: float,
               on_progress: Callable[[float], None] | None = None, features: Features | None = None,
               window: tuple[float, float] | None = None) -> Timeline:
    """Measure `info`'s video (only `window`, seconds from its start, if given), with a keyframe for the object
    model every `keyframe_interval` seconds.

    Videos whose keyframes come every config.SPARSE_KEYFRAME_GAP seconds are sampled at their keyframes (each with
    a frame just after it for motion), and a suspected cut between two samples is then located by decoding that
    stretch alone; other videos are sampled at config.ANALYSIS_FPS from a full decode, a cut located among the
    frames decoded between two samples. Either way a cut's time is its new shot's first frame, so music can land
    on it. `features` maps batches of keyframes (upright RGB) to feature rows kept in the timeline, e.g. the neural
    backend's CLIP embeddings.
    """
    low, high = config.SPARSE_KEYFRAME_GAP
    begin, end = window or (0.0, info.duration)
    # a range of a video (a clip of an edit) holding a few keyframes is sampled at them too; a shorter one, in full
    sparse = low <= info.keyframe_interval <= high and end - begin >= _SPARSE_WINDOW_KEYFRAMES * info.keyframe_interval
    width, height = _analysis_size(info)
    rows: list[dict] = []
    hist_distances: list[float] = []
    located: dict[int, tuple[float, float]] = {}  # row -> (a frame, the next one decoded: the new shot's first)
    decoded_keyframes: list[float] = []  # times of the keyframes a full-rate scan decoded
    key_times: list[float] = []
    key_batch: list[np.ndarray] = []
    previous_hist = None
    next_keyframe = begin + keyframe_interval / 2
    samples = _keyframe_samples(info, width, height, begin, end) if sparse else _rate_samples(info, width, height,
                                                                                              window)
    batch_size = _OBJECT_BATCH if features is None else _FEATURE_BATCH
    with _KeyframeModels(features, batch_size) as models:
        for t, frame, small, motion_energy, between in samples:
            decoded_keyframes += [ft for ft, f in [*between, (t, frame)] if f.key_frame]
            hsv = colour.rgb_to_hsv(small)
            stats = colour.colour_stats(small, hsv)
            stats["t"], stats["motion"] = t, motion_energy
            hist = motion.colour_histogram(*hsv)
            hist_distances.append(motion.histogram_distance(previous_hist, hist))
            if not sparse and rows and hist_distances[-1] >= motion.CUT_DISTANCE:
                chain = [(rows[-1]["t"], previous_hist)] + [(bt, _histogram(b, width, height, info.rotation))
                                                            for bt, b in between] + [(t, hist)]
                located[len(rows)] = _sharpest_change(chain)[:2]
            previous_hist = hist
            rows.append(stats)
            last = t, frame
            if t >= next_keyframe:
                key_times.append(t)
                key_batch.append(_keyframe_rgb(frame, info))
                next_keyframe = max(next_keyframe + keyframe_interval, t + keyframe_interval / 2)
                if len(key_batch) == batch_size:
                    models.submit(key_batch)
                    key_batch = []
            if on_progress:
                on_progress(min(1.0, (t - begin) / max(end - begin, 1e-6)))
        if not key_times and rows:  # shorter than half the keyframe interval: its last sample shows its objects
            key_times.append(last[0])
            key_batch.append(_keyframe_rgb(last[1], info))
        models.submit(key_batch)
        probabilities, features_rows = models.results()
    times = np.array([r["t"] for r in rows])
    cut_rows = motion.detect_cuts(np.array(hist_distances))
    if sparse:  # a jump between keyframes seconds apart may be a cut or just change: look closer
        cuts = [c for c in (_locate_cut(info, width, height, times[i - 1], times[i]) for i in cut_rows) if c]
    else:
        cuts = [_first_frame(info, width, height, *located[i], decoded_keyframes) if i in located
                else float(times[i]) for i in cut_rows]
    return Timeline(
        times=times,
        brightness=np.array([r["brightness"] for r in rows]),
        saturation=np.array([r["saturation"] for r in rows]),
        warmth=np.array([r["warmth"] for r in rows]),
        motion=np.array([r["motion"] for r in rows]),
        palette=np.stack([r["palette"] for r in rows]),
        cuts=cuts,
        keyframe_times=np.array(key_times),
        keyframe_probabilities=probabilities,
        keyframe_features=features_rows,
    )


class _KeyframeModels:
    """The object model, and the backend's feature model if any, over batches of upright RGB keyframes, on one
    worker thread (so batches stay in order and the models are never called concurrently)."""

    def __init__(self, features: Features | None, batch_size: int):
        self.features = features
        self.batches_in_flight = _KEYFRAMES_IN_FLIGHT // batch_size
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="keyframe-models")
        self.batches: list[Future] = []

    def __enter__(self) -> "_KeyframeModels":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(cancel_futures=True)  # on an error or a cancel, queued batches are dropped

    def submit(self, keyframes: list[np.ndarray]) -> None:
        self.batches.append(self.pool.submit(self._run, keyframes))
        waiting = [b for b in self.batches if not b.done()]
        if len(waiting) > self.batches_in_flight:
            waiting[0].result()

    def _run(self, keyframes: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        probabilities = objects.class_probabilities([objects.prepare(k) for k in keyframes])
        return probabilities, self.features(keyframes) if self.features is not None and keyframes else None

    def results(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(class probabilities, feature rows or None) of every keyframe submitted, in order."""
        done = [b.result() for b in self.batches]
        probabilities = np.concatenate([p for p, _ in done])
        if self.features is None:
            return probabilities, None
        return probabilities, np.concatenate([f for _, f in done if f is not None])


def _rate_samples(info: MediaInfo, width: int, height: int, window: tuple[float, float] | None = None):
    """(t, frame, small RGB, motion energy per analysis step, the frames decoded since the last sample) at
    config.ANALYSIS_FPS."""
    previous_time, previous_luma = 0.0, None
    for t, frame, between in iter_frames_between(info.path, config.ANALYSIS_FPS, info.start_time, window):
        small = to_rgb(frame, width, height, info.rotation)
        current = motion.luma(small)
        yield t, frame, small, motion.motion_energy(previous_luma, current, t - previous_time), between
        previous_time, previous_luma = t, current


def _keyframe_samples(info: MediaInfo, width: int, height: int, begin: float = 0.0, end: float = float("inf")):
    """(t, keyframe, small RGB, motion energy per analysis step, no frames between) at every keyframe from `begin`
    to `end` seconds, and at the last keyframe before `begin` (a sample before the first cut there could be)."""
    for t, key, t2, follow in iter_keyframe_pairs(info.path, info.start_time, begin):
        if t > end:
            break
        small = to_rgb(key, width, height, info.rotation)
        energy = 0.0
        if follow is not None:
            after = motion.luma(to_rgb(follow, width, height, info.rotation))
            energy = motion.motion_energy(motion.luma(small), after, t2 - t)
        yield t, key, small, energy, ()


def _first_frame(info: MediaInfo, width: int, height: int, before: float, at: float,
                 keyframes: list[float]) -> float:
    """The first frame of the new shot that a scan saw starting at `at`, `before` being the frame it decoded
    before that one: `at` itself unless frames were skipped between them (no frame refers to them, so the scan did
    not decode them), one of which may be where the shot starts. Those are looked at when the keyframe to decode
    them from is near; else the cut stays at `at`, a few frames late at most (x264 starts a new shot with a
    keyframe, so an exported edit seldom comes here)."""
    if at - before < 1.5 / max(info.fps, 1.0):
        return at
    seek_from = max((k for k in keyframes if k <= before + 1e-6), default=0.0)
    if before - seek_from > config.CUT_LOCATE_MAX_DECODE_SECONDS:
        return at
    return _locate_cut(info, width, height, before, at) or at


def _locate_cut(info: MediaInfo, width: int, height: int, start: float, end: float) -> float | None:
    """The time of the first frame of the new shot between the frames at `start` and `end` seconds, from every
    frame of that stretch; None where no two frames in a row differ like a cut does."""
    frames = decoded_frames(info.path, info.start_time, window=(start, end), every_frame_from=start)
    chain = [(t, _histogram(frame, width, height, info.rotation)) for t, frame in frames if t >= start - 1e-6]
    if len(chain) < 2:
        return None
    _, at, distance = _sharpest_change(chain)
    return at if distance >= motion.CUT_DISTANCE else None  # else a gradual change (a pan, light), not a cut


def _histogram(frame, width: int, height: int, rotation: int) -> np.ndarray:
    return motion.colour_histogram(*colour.rgb_to_hsv(to_rgb(frame, width, height, rotation)))


def _sharpest_change(chain: list[tuple[float, np.ndarray]]) -> tuple[float, float, float]:
    """(the time of the frame before the largest step, of the frame after it, that step's histogram distance)
    along consecutive frames' (time, colour histogram)."""
    steps = [motion.histogram_distance(a, b) for (_, a), (_, b) in zip(chain, chain[1:])]
    k = int(np.argmax(steps))
    return float(chain[k][0]), float(chain[k + 1][0]), steps[k]


def scan_image(info: MediaInfo, features: Features | None = None) -> Timeline:
    """The same measurements for a still image: one frame, no motion, no cuts."""
    return scan_still(load_image(info.path, (config.PHOTO_ANALYSIS_SIDE,) * 2), info, features)


def scan_still(rgb: np.ndarray, info: MediaInfo, features: Features | None = None) -> Timeline:
    """One upright RGB picture measured as a still (an image input, or black for a gap in a timeline)."""
    from PIL import Image

    width, height = _analysis_size(info)
    small = np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR))
    stats = colour.colour_stats(small)
    probabilities = objects.class_probabilities([objects.prepare(rgb)])
    one = np.zeros(1)
    return Timeline(one, np.array([stats["brightness"]]), np.array([stats["saturation"]]),
                    np.array([stats["warmth"]]), np.zeros(1), stats["palette"][None], [], one, probabilities,
                    features([rgb]) if features is not None else None)


def _analysis_size(info: MediaInfo) -> tuple[int, int]:
    """config.ANALYSIS_SIZE's area, with the video's display aspect ratio."""
    w, h = config.ANALYSIS_SIZE
    aspect = info.width / max(info.height, 1)
    height = max(8, int(round((w * h / aspect) ** 0.5)) // 2 * 2)
    return max(8, int(round(height * aspect)) // 2 * 2), height


def _keyframe_rgb(frame, info: MediaInfo) -> np.ndarray:
    short = 256  # a little above the model's 224 so the centre crop keeps detail
    scale = short / max(1, min(info.width, info.height))
    return to_rgb(frame, max(2, int(info.width * scale)), max(2, int(info.height * scale)), info.rotation)


_SHORTEST_WINDOW = 0.5  # seconds: a shorter clip is measured over this much of its source


def scan_timeline(clips: list, keyframe_interval: float, on_progress: Callable[[float], None] | None = None,
                  features: Features | None = None, remembered: RememberedPart | None = None,
                  joins_are_cuts: bool = True) -> Timeline:
    """Measure a timeline's clips (media/timeline.py) in timeline time: each clip's range of its source, shifted
    to its place; a gap is a black still; every join between clips is a cut, unless `joins_are_cuts` is False (the
    parts of one recording that a camera split: it runs on). `remembered(what, scan)` may give a clip's
    measurements (in its source's time) from an earlier scan, or scan and keep them: after an edit, only changed
    clips are measured again."""
    total = sum(c.duration for c in clips)
    remembered = remembered or (lambda what, scan: scan())
    parts = []
    for clip in clips:
        def progress(fraction: float, clip=clip) -> None:
            if on_progress:
                on_progress(min(1.0, (clip.offset + fraction * clip.duration) / total))

        if clip.info is None:
            reference = next(c.info for c in clips if c.info is not None)
            black = np.zeros((reference.height, reference.width, 3), np.uint8)
            part, source_start = scan_still(black, reference, features), 0.0
        elif clip.info.kind == "image":
            part, source_start = remembered([clip.info.path], lambda clip=clip: scan_image(clip.info, features)), 0.0
        else:
            end = min(clip.info.duration, max(clip.source_out, clip.source_in + _SHORTEST_WINDOW))
            step = min(keyframe_interval, clip.duration / 2)
            part = remembered([clip.info.path, clip.source_in, end, step], lambda clip=clip, end=end, step=step:
                              scan_video(clip.info, step, progress, features, (clip.source_in, end)))
            source_start = clip.source_in
        parts.append(_shifted(part, clip.offset - source_start, clip.offset, clip.offset + clip.duration))
        progress(1.0)
    joins = [c.offset for c in clips[1:]] if joins_are_cuts else []
    return _joined(parts, joins)


def _shifted(part: Timeline, by: float, start: float, end: float) -> Timeline:
    """`part` moved by `by` seconds and kept to [start, end) (its first sample and keyframe at least)."""
    times, key_times = part.times + by, part.keyframe_times + by
    keep = _within(times, start, end)
    keep_keys = _within(key_times, start, end)
    return Timeline(
        times=np.clip(times[keep], start, None), brightness=part.brightness[keep], saturation=part.saturation[keep],
        warmth=part.warmth[keep], motion=part.motion[keep], palette=part.palette[keep],
        cuts=[c + by for c in part.cuts if start < c + by < end],
        keyframe_times=np.clip(key_times[keep_keys], start, None),
        keyframe_probabilities=part.keyframe_probabilities[keep_keys],
        keyframe_features=None if part.keyframe_features is None else part.keyframe_features[keep_keys])


def _joined(parts: list[Timeline], joins: list[float]) -> Timeline:
    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    features = [p.keyframe_features for p in parts]
    return Timeline(
        times=cat("times"), brightness=cat("brightness"), saturation=cat("saturation"), warmth=cat("warmth"),
        motion=cat("motion"), palette=cat("palette"),
        cuts=sorted({round(c, 4) for p in parts for c in p.cuts} | {round(j, 4) for j in joins}),
        keyframe_times=cat("keyframe_times"), keyframe_probabilities=cat("keyframe_probabilities"),
        keyframe_features=None if features[0] is None else np.concatenate(features))
