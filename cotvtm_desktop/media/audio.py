"""The soundtrack: stitching segment audio, the original audio ducked under, loudness to a target.

Everything here streams in blocks (one segment at a time) through files in the job's work folder, so memory stays
flat however long the video is. The original's level every 20 ms (`original_levels`, read beside the picture's
analysis, or in the premix) plans the music's dips under its foreground knowing the whole soundtrack (so a dip can
begin before a voice does); one pass (`premix`, while the segments render) measures the music's and the original's
loudness; every gain follows, and `MasteredSoundtrack` applies dips and gains as the encoder reads. Loudness is
measured per ITU-R BS.1770-4 (K-weighting, 400 ms blocks with 75 % overlap, absolute and relative gates),
incrementally, with the standard's K-weighting filters run by FFmpeg (media/biquads.py).

scipy is imported only where it is used and only if needed (resampling a neural backend's output, limiting true
peaks): importing scipy.signal costs one to two seconds, more than a short video's whole analysis.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Collection, Iterable, Iterator, Mapping, Sequence

import av
import numpy as np
import soundfile

from cotvtm_desktop import config
from cotvtm_desktop.media import biquads
from cotvtm_desktop.media.segments import Segment
from cotvtm_desktop.media.timeline import Clip

BLOCK_SECONDS = 10.0


# --- stitching --------------------------------------------------------------------------------------------------
def equal_power_fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-in and fade-out curves whose powers sum to one at every sample."""
    phase = (np.arange(n, dtype=np.float32) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.sin(phase)[:, None], np.cos(phase)[:, None]


def stitch(segment_audio: Iterable[np.ndarray], segments: list[Segment], rate: int, padding: float,
           total_seconds: float, fade_in: float = config.FADE_IN_SECONDS,
           fade_out: float = config.FADE_OUT_SECONDS, sharp_starts: bool = False,
           silent: Collection[int] = (), channels: int = 2) -> Iterator[np.ndarray]:
    """Overlap-add the segments into one stream of exactly `total_seconds`, in blocks.

    Each segment's audio covers [start - padding, end + padding]; neighbours cross-fade with equal power over the
    2 x `padding` seconds centred on their boundary. With `sharp_starts` (music whose segments begin from silence
    at their start, on a downbeat: the procedural backend's), each segment comes in whole at its start, and the one
    before rings out under it for as long as its audio lasts past its end, fading as it goes: the downbeat on a cut
    is not softened, and the room's reverberation is not cut short.
    The music fades in and out at its ends, and around the `silent` segments (by index), where it stops: it ends
    at their start as it ends at the video's end, and begins again at their end as it begins at the start.
    Stereo by default; `channels` for several streams stitched alike (the stems, two channels each).
    """
    total = int(round(total_seconds * rate))
    pad = int(round(padding * rate))
    runs = _sounding_runs(segments, silent, rate, total)
    fade_in_curve, fade_out_curve = equal_power_fades(2 * pad)
    pending = np.zeros((0, channels), np.float32)  # accumulator starting at sample `emitted`
    emitted = 0
    for segment, audio in zip(segments, segment_audio):
        audio = audio.astype(np.float32, copy=True)
        begin = int(round(segment.start * rate)) - pad
        if sharp_starts and segment.index < len(segments) - 1:  # the lead-in is silent: nothing to fade in
            ring_out = audio[int(round(segment.end * rate)) - begin:]
            ring_out *= equal_power_fades(len(ring_out))[1]
        elif pad and not sharp_starts:
            if segment.index > 0:
                audio[:2 * pad] *= fade_in_curve[:len(audio)]
            if segment.index < len(segments) - 1:
                audio[-2 * pad:] *= fade_out_curve[-len(audio):]
        if begin < 0:  # the first segment's lead-in falls before the video starts
            audio, begin = audio[-begin:], 0
        next_begin = (int(round(segments[segment.index + 1].start * rate)) - pad
                      if segment.index + 1 < len(segments) else total)
        ready = min(next_begin, total) - emitted
        end = begin + len(audio)
        needed = max(end, emitted + ready) - emitted
        if needed > len(pending):  # grow the accumulator (silence where a segment's audio falls short)
            pending = np.concatenate([pending, np.zeros((needed - len(pending), channels), np.float32)])
        pending[begin - emitted:end - emitted] += audio
        if ready > 0:
            yield from _with_fades(pending[:ready], emitted, runs, rate, fade_in, fade_out)
            pending, emitted = pending[ready:], emitted + ready
    if emitted < total:  # fewer segments than planned: silence to the exact length
        yield from _with_fades(np.zeros((total - emitted, channels), np.float32), emitted, runs, rate, fade_in,
                               fade_out)


def _sounding_runs(segments: list[Segment], silent: Collection[int], rate: int, total: int) -> list[tuple[int, int]]:
    """The stretches [first sample, end) where music sounds: consecutive segments that are not silent."""
    runs: list[tuple[int, int]] = []
    for segment in segments:
        if segment.index in silent:
            continue
        start = 0 if segment.index == 0 else int(round(segment.start * rate))
        end = total if segment.index == len(segments) - 1 else int(round(segment.end * rate))
        if runs and runs[-1][1] == start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def _with_fades(block: np.ndarray, offset: int, runs: list[tuple[int, int]], rate: int, fade_in: float,
                fade_out: float) -> Iterator[np.ndarray]:
    """`block` (samples [offset, offset + len)) faded in and out at the ends of each run of music (`runs`, from
    _sounding_runs) and silent outside them; untouched where it lies clear of all that (most 10 s blocks)."""
    n = len(block)
    for start, end in runs:
        if start + int(np.ceil(fade_in * rate)) <= offset and offset + n <= int(np.floor(end - fade_out * rate)) + 1:
            yield block
            return
    t = np.arange(offset, offset + n) / rate
    gain = np.zeros(n)
    for start, end in runs:
        inside = (t >= start / rate) & (t < end / rate)
        gain[inside] = (np.clip((t[inside] - start / rate) / max(fade_in, 1e-6), 0, 1) *
                        np.clip((end / rate - t[inside]) / max(fade_out, 1e-6), 0, 1))
    yield block * np.sin(gain * np.pi / 2).astype(np.float32)[:, None]


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate:
        return audio
    from scipy import signal

    g = np.gcd(source_rate, target_rate)
    return signal.resample_poly(audio, target_rate // g, source_rate // g, axis=0).astype(np.float32)


# --- the original audio -----------------------------------------------------------------------------------------
class OriginalAudio:
    """The input's first audio track as stereo float blocks at `rate`, aligned to the first video frame (or to
    `begin` seconds after it)."""

    def __init__(self, path: Path, video_start: float, rate: int = config.OUTPUT_SAMPLE_RATE, begin: float = 0.0):
        self.rate = rate
        self._container = av.open(str(path))
        stream = self._container.streams.audio[0]
        self._time_base, self._first_pts = stream.time_base, stream.start_time
        self._target = video_start + begin  # the stream time of the first sample wanted
        if begin > 0:  # to a frame at or before it; decoding goes on from there
            self._container.seek(int(self._target / stream.time_base), stream=stream, backward=True)
        self._frames = self._container.decode(stream)
        self._resampler = av.AudioResampler(format="flt", layout="stereo", rate=rate)
        self._buffer = np.zeros((0, 2), np.float32)
        self._skip = 0  # samples decoded before the wanted start, still to drop
        self._aligned = False
        self._done = False

    def read(self, n: int) -> np.ndarray:
        while len(self._buffer) < n + self._skip and not self._done:
            self._buffer = np.concatenate([self._buffer, *self._pull(n + self._skip - len(self._buffer))])
        if self._skip:
            drop = min(self._skip, len(self._buffer))
            self._buffer, self._skip = self._buffer[drop:], self._skip - drop
        block, self._buffer = self._buffer[:n], self._buffer[n:]
        if len(block) < n:
            block = np.concatenate([block, np.zeros((n - len(block), 2), np.float32)])
        return block

    def _pull(self, wanted: int) -> list[np.ndarray]:
        """Decode at least `wanted` more samples (fewer at the end of the stream)."""
        chunks, count = [], 0
        while count < wanted and not self._done:
            try:
                frame = next(self._frames)
                if not self._aligned:
                    chunks.append(self._align(frame))
                if (frame.format.name, frame.layout.name, frame.sample_rate) == ("fltp", "stereo", self.rate):
                    chunks.append(frame.to_ndarray().T)  # what AAC decodes to, already at our rate: as it is
                    count += len(chunks[-1])
                    continue
                frames = self._resampler.resample(frame)
            except (StopIteration, av.FFmpegError):
                frames, self._done = self._resampler.resample(None), True
            for frame in frames:
                chunks.append(frame.to_ndarray().reshape(-1, 2))
                count += len(chunks[-1])
        return chunks

    def _align(self, frame: av.AudioFrame) -> np.ndarray:
        """Silence before the first decoded frame when it starts after the wanted start (sound that begins after
        the picture); or, when it starts before, the samples to drop."""
        self._aligned = True
        pts = frame.pts if frame.pts is not None else self._first_pts
        offset = 0 if pts is None else round((float(pts * self._time_base) - self._target) * self.rate)
        self._skip += max(0, -offset)
        return np.zeros((max(0, offset), 2), np.float32)

    def close(self) -> None:
        self._container.close()


class TimelineSound:
    """The clips' own sound along a timeline, with OriginalAudio's interface: each clip's range of its file's
    audio in turn, silence for gaps, stills and clips without sound. Clip lengths come from the timeline's sample
    grid, so every clip's sound starts exactly where its picture does. With `fades` (seconds in, out), it fades in
    from silence at the timeline's start and out at its end, as a slideshow's picture fades from and to black."""

    def __init__(self, clips: list[Clip], rate: int = config.OUTPUT_SAMPLE_RATE,
                 fades: tuple[float, float] = (0.0, 0.0)):
        self.rate, self.fades = rate, fades
        parts = [(c, round((c.offset + c.duration) * rate) - round(c.offset * rate)) for c in clips]
        self._parts = iter(parts)
        self._total = sum(length for _, length in parts)
        self._read = 0  # samples read so far
        self._source: OriginalAudio | None = None
        self._left = 0  # samples of the current part still to read

    def read(self, n: int) -> np.ndarray:
        block = self._read_parts(n)
        self._read += n
        fade_in, fade_out = (round(seconds * self.rate) for seconds in self.fades)
        if not (fade_in or fade_out) or self._read - n >= fade_in and self._read <= self._total - fade_out:
            return block
        at = np.arange(self._read - n, self._read)
        rising = np.clip(at / fade_in, 0, 1) if fade_in else 1.0  # one of them at least an array: a fade is set
        falling = np.clip((self._total - at) / fade_out, 0, 1) if fade_out else 1.0
        return block * np.sin(rising * falling * np.pi / 2).astype(np.float32)[:, None]

    def _read_parts(self, n: int) -> np.ndarray:
        blocks, wanted = [], n
        while wanted:
            if not self._left and not self._next_part():
                blocks.append(np.zeros((wanted, 2), np.float32))  # past the last clip
                break
            take = min(wanted, self._left)
            blocks.append(self._source.read(take) if self._source else np.zeros((take, 2), np.float32))
            self._left -= take
            wanted -= take
        return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]

    def _next_part(self) -> bool:
        self.close()
        clip, self._left = next(self._parts, (None, 0))
        if clip is not None and clip.info is not None and clip.info.has_audio:
            self._source = OriginalAudio(clip.info.path, clip.info.start_time, self.rate, clip.source_in)
        return clip is not None

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None


class SidechainMeter:
    """The original's level every hop (20 ms), in dBFS: in the voice's band (high-passed, so that wind and handling
    rumble count little) and in full; fed in blocks, each continuing the last."""

    def __init__(self, rate: int):
        self.hop = _hop(rate)
        high_pass = biquads.butterworth_high_pass(config.DUCK_SIDECHAIN_HIGHPASS_HZ, rate)
        self._filter = biquads.BiquadChain([high_pass, high_pass], rate, 2)  # 24 dB an octave
        self._band: list[np.ndarray] = []
        self._full: list[np.ndarray] = []

    def feed(self, block: np.ndarray) -> None:
        """The next (n x 2) samples; n a whole number of hops except in the last block."""
        for levels, audio in ((self._band, self._filter(block.T).T), (self._full, block)):
            padded = np.zeros((-(-len(audio) // self.hop) * self.hop, 2), np.float32)
            padded[:len(audio)] = audio
            levels.append(10 * np.log10(_mean_squares(padded, self.hop) + 1e-12))

    def levels(self) -> tuple[np.ndarray, np.ndarray]:
        """(the voice band's levels, the full band's)."""
        return tuple(np.concatenate(parts) if parts else np.zeros(0) for parts in (self._band, self._full))


@dataclass(frozen=True)
class Ducking:
    """The music's dip under the original, every hop: `reduction` in dB, and where the original has a foreground
    (a voice, laughter, a shout: its level risen clear of its own background), with the hold around it."""

    reduction: np.ndarray
    foreground: np.ndarray
    hop_seconds: float

    def gains(self) -> np.ndarray:
        return (10 ** (-self.reduction / 20)).astype(np.float32)

    def foreground_spans(self) -> list[tuple[float, float]]:
        """(start, end) seconds of each stretch of foreground: where someone speaks, laughs or shouts."""
        edges = np.flatnonzero(np.diff(np.concatenate([[False], self.foreground, [False]]).astype(np.int8)))
        return [(float(a * self.hop_seconds), float(b * self.hop_seconds)) for a, b in zip(edges[::2], edges[1::2])]


def original_levels(original: OriginalAudio | TimelineSound, frames: int, rate: int,
                    cancel: threading.Event | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The original's levels every hop (SidechainMeter's), read through its first `frames` samples: what the music's
    dips and the arrangement's rests under voices are planned from, before any music is made. Stops early, with
    what it has, once `cancel` is set."""
    meter, size, done = SidechainMeter(rate), int(BLOCK_SECONDS * rate), 0
    while done < frames and not (cancel is not None and cancel.is_set()):
        block = original.read(min(size, frames - done))
        meter.feed(block)
        done += len(block)
    return meter.levels()


def plan_ducking(band: np.ndarray, full: np.ndarray, depth_db: float, hop_seconds: float,
                 sound_changes: Sequence[float] = ()) -> Ducking:
    """The dips, knowing the whole of the original's levels (dBFS per hop, in the voice's band and in full). A
    sound dips the music when it rises over the background around it, not when it is merely loud: steady waves,
    traffic or a fan never do, a voice over them does; and it must be in the voice's band and not far under the
    whole background (a gust of wind, all rumble, is not a voice). The background is taken on each side of
    `sound_changes` (seconds: cuts, joins between clips) apart, so that a cut from a quiet room to a street does not
    make the street a foreground. The dip begins a moment before the sound, holds between words, then releases."""
    band, full = _over_100_ms(band), _over_100_ms(full)
    window, stride = round(config.DUCK_BACKGROUND_SECONDS / hop_seconds), round(0.5 / hop_seconds)
    breaks = [round(t / hop_seconds) for t in sound_changes]
    background = np.maximum.reduce([
        _running_percentile(band, config.DUCK_BACKGROUND_PERCENTILE, window, stride, breaks),
        _running_percentile(full, config.DUCK_BACKGROUND_PERCENTILE, window, stride, breaks)
        - config.DUCK_BAND_UNDER_FULL_DB,
        np.full(len(band), config.DUCK_FLOOR_DBFS)])
    wanted = np.clip((band - background - config.DUCK_ONSET_DB) / config.DUCK_KNEE_DB, 0, 1) * depth_db
    for at in breaks:  # the 100 ms levels there mix both sides (a voice there is still caught by the look-ahead)
        wanted[max(0, at - 3):at + 3] = 0.0
    ahead, hold = round(config.DUCK_LOOKAHEAD_SECONDS / hop_seconds), round(config.DUCK_HOLD_SECONDS / hop_seconds)
    held = _running_max(wanted, hold, ahead)
    attack = np.exp(-hop_seconds / config.DUCK_ATTACK_SECONDS)
    release = np.exp(-hop_seconds / config.DUCK_RELEASE_SECONDS)
    reduction, current = np.empty(len(held), np.float32), 0.0
    for i, target in enumerate(held.tolist()):
        coefficient = attack if target > current else release
        current = coefficient * current + (1 - coefficient) * target
        reduction[i] = current
    return Ducking(reduction, held > depth_db / 2, hop_seconds)


def _centred_mean(values: np.ndarray, width: int) -> np.ndarray:
    """The mean of `width` values around each value (zeros beyond the ends), as long as `values` however short:
    np.convolve's "same" returns the kernel's length for fewer values (a video of a fraction of a second)."""
    return np.convolve(values, np.ones(width) / width)[(width - 1) // 2:][:len(values)]


def _over_100_ms(levels: np.ndarray) -> np.ndarray:
    """Levels (dB per hop) averaged in power over 100 ms: a syllable still stands out, the chance swells of a noise
    (wind's most of all) average away."""
    return 10 * np.log10(_centred_mean(10 ** (levels / 10), 5) + 1e-12)


def _running_percentile(values: np.ndarray, percentile: float, window: int, stride: int,
                        breaks: Sequence[int] = ()) -> np.ndarray:
    """The percentile of `values` over a window centred on each one and kept between `breaks` (indices), computed
    every `stride` values and interpolated between (the background changes over seconds, not hops)."""
    bounds = [0, *sorted(b for b in set(breaks) if 0 < b < len(values)), len(values)]
    if len(bounds) > 2:
        return np.concatenate([_running_percentile(values[a:b], percentile, window, stride)
                               for a, b in zip(bounds, bounds[1:])])
    if not len(values):
        return values
    centres = np.arange(0, len(values), max(stride, 1))
    half = window // 2
    known = [np.percentile(values[max(0, c - half):c + half + 1], percentile) for c in centres]
    return np.interp(np.arange(len(values)), centres, known)


def _running_max(values: np.ndarray, before: int, after: int) -> np.ndarray:
    """The largest of `values` from `before` values back to `after` values ahead of each."""
    padded = np.pad(values, (before, after))
    return np.lib.stride_tricks.sliding_window_view(padded, before + after + 1).max(axis=1)


def _hop(rate: int) -> int:
    """20 ms, a fifth of the loudness meter's 100 ms step, so that a step's gains are whole hops."""
    return int(0.1 * rate) // 5


def hop_seconds(rate: int) -> float:
    """The time between two of SidechainMeter's levels."""
    return _hop(rate) / rate


# --- loudness ---------------------------------------------------------------------------------------------------
class LoudnessMeter:
    """Integrated loudness (LUFS) per BS.1770-4 of stereo streams fed in blocks.

    Fed several streams of equal length, it gives the loudness of any weighted sum of them without mixing them:
    K-weighting is linear, so the mean square of a sum over each 100 ms step follows from the steps' sums of
    products of the filtered streams. The mixing pass measures the music and the original audio once, and learns
    the loudness of the mix at whatever music gain and dips the measurements then call for.
    """

    def __init__(self, rate: int, streams: int = 1):
        self.rate, self.streams = rate, streams
        self._k_weighting = biquads.BiquadChain(biquads.k_weighting(rate), rate, 2 * streams)
        self._step = int(0.1 * rate)  # 100 ms: a quarter of the 400 ms gating block
        self._carry = np.zeros((2 * streams, 0), np.float32)
        self._pairs = [(i, j) for i in range(streams) for j in range(i, streams)]
        self._products: list[np.ndarray] = []  # per 100 ms step: the sum over samples and channels of x_i * x_j

    def feed(self, *blocks: np.ndarray) -> None:
        """The next stretch of each stream, (n x 2) each, n the same for all."""
        channels = np.empty((2 * self.streams, len(blocks[0])), np.float32)
        for i, block in enumerate(blocks):
            channels[2 * i:2 * i + 2] = block.T
        x = self._k_weighting(channels)
        if self._carry.shape[1]:  # complete the step begun in the last block
            head = np.concatenate([self._carry, x[:, :self._step - self._carry.shape[1]]], axis=1)
            x = x[:, head.shape[1] - self._carry.shape[1]:]
            if head.shape[1] < self._step:
                self._carry = head
                return
            self._add_steps(head)
        whole = x.shape[1] // self._step * self._step
        self._add_steps(x[:, :whole])
        self._carry = x[:, whole:].copy()

    def _add_steps(self, x: np.ndarray) -> None:
        """Products of whole 100 ms steps. BS.1770 weights both channels by 1: products summed over channels."""
        if not x.shape[1]:
            return
        steps = x.reshape(self.streams, 2, -1, self._step)
        self._products.append(np.stack([np.einsum("cij,cij->i", steps[i], steps[j]).astype(np.float64)
                                        for i, j in self._pairs], axis=1))

    def integrated(self, *weights: float, steps: np.ndarray | None = None) -> float:
        """The loudness of the streams summed with `weights` (every stream weight 1 by default), over the 400 ms
        blocks whose 100 ms steps are all in `steps` (a mask; all of them by default)."""
        w = np.array(weights or [1.0] * self.streams, np.float64)
        # the mean square of sum_i w_i x_i per step: each pair's products weighted by w_i w_j, twice off the diagonal
        return _gated_loudness(self.mean_squares([w[i] * w[j] for i, j in self._pairs]), steps)

    def mean_squares(self, pair_weights) -> np.ndarray:
        """The mean square of a sum of the streams in each 100 ms step: `pair_weights` holds w_i w_j for each pair
        (i <= j) of streams, either one row or one per step (a gain that varies, such as a dip, enters as the
        step's mean gain in a pair with another stream and its mean squared gain in a pair with itself)."""
        products = np.concatenate(self._products) if self._products else np.zeros((0, len(self._pairs)))
        twice = np.array([1.0 if i == j else 2.0 for i, j in self._pairs])
        return (products * (np.asarray(pair_weights, np.float64) * twice)).sum(axis=1) / self._step

    @property
    def steps(self) -> int:
        return sum(len(p) for p in self._products)


def _gated_loudness(quarters: np.ndarray, steps: np.ndarray | None = None) -> float:
    """BS.1770-4 integrated loudness from the mean squares of consecutive 100 ms steps, over the blocks whose steps
    are all in the mask `steps` if given."""
    if len(quarters) < 4:
        return -70.0
    blocks = np.convolve(quarters, np.ones(4) / 4, mode="valid")  # 400 ms blocks, 75 % overlap
    if steps is not None:
        blocks = blocks[np.convolve(np.asarray(steps[:len(quarters)], float), np.ones(4), mode="valid") > 3.5]
    loudness = -0.691 + 10 * np.log10(np.maximum(blocks, 0) + 1e-20)
    gated = blocks[loudness > -70.0]
    if not len(gated):
        return -70.0
    relative = -0.691 + 10 * np.log10(gated.mean()) - 10.0
    gated = blocks[(loudness > -70.0) & (loudness > relative)]
    return float(-0.691 + 10 * np.log10(gated.mean()))


def _mean_squares(stereo: np.ndarray, step: int) -> np.ndarray:
    """Mean square over both channels of each `step` samples of a C-ordered (n x 2) array, n a multiple of step."""
    rows = stereo.reshape(-1, 2 * step)  # a contiguous view: einsum reduces it without temporaries
    return np.einsum("ij,ij->i", rows, rows) / (2 * step)


def true_peak_limit(block: np.ndarray, ceiling_db: float, rate: int) -> np.ndarray:
    """Turn down just the moments whose 4x-oversampled (true) peak would exceed `ceiling_db` dBTP.

    Only stretches whose sample peak comes within 3 dB of the ceiling are oversampled: music overshoots its
    samples by well under 3 dB, and oversampling everything would cost more than the rest of the mix.
    """
    ceiling = 10 ** (ceiling_db / 20) * 0.99  # a hair of margin for the final encoder
    chunk = 4096
    hot = [i for i in range(0, len(block), chunk) if np.abs(block[i:i + chunk]).max() > ceiling / 1.41]
    if not hot:
        return block
    from scipy import ndimage

    peak = np.abs(block).max(axis=1)
    margin = 64
    for i in hot:
        lo, hi = max(0, i - margin), min(len(block), i + chunk + margin)
        oversampled = np.abs(_oversampled(block[lo:hi])).max(axis=1)
        peak[lo:hi] = np.maximum(peak[lo:hi], oversampled.reshape(-1, _TRUE_PEAK_FACTOR).max(axis=1))
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9))
    half = int(0.005 * rate)  # 5 ms look-ahead and smoothing: the gain moves before the peak arrives
    smooth = ndimage.uniform_filter1d(ndimage.minimum_filter1d(need, 4 * half + 1), 2 * half + 1)
    return block * np.minimum(smooth, need)[:, None].astype(np.float32)


def true_peak_db(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(_oversampled(audio)).max() + 1e-12))


_TRUE_PEAK_FACTOR = 4  # BS.1770-4 annex 2: 4x oversampling at 48 kHz
_TRUE_PEAK_TAPS = (np.sinc(np.arange(-10 * _TRUE_PEAK_FACTOR, 10 * _TRUE_PEAK_FACTOR + 1) / _TRUE_PEAK_FACTOR)
                   * np.kaiser(20 * _TRUE_PEAK_FACTOR + 1, 5.0)).astype(np.float32)


def _oversampled(audio: np.ndarray) -> np.ndarray:
    """(n x channels) audio at 4x the rate, sample 4i at the input's sample i: zero-stuffed and low-passed with a
    windowed sinc (the design of scipy's resample_poly, whose import alone would cost a second)."""
    up, half = _TRUE_PEAK_FACTOR, len(_TRUE_PEAK_TAPS) // 2
    out = np.empty((len(audio) * up, audio.shape[1]), np.float32)
    for channel in range(audio.shape[1]):
        stuffed = np.zeros(len(audio) * up, np.float32)
        stuffed[::up] = audio[:, channel]
        out[:, channel] = np.convolve(stuffed, _TRUE_PEAK_TAPS)[half:half + len(stuffed)]
    return out


# --- the whole soundtrack ---------------------------------------------------------------------------------------
def premix(music_blocks: Iterable[np.ndarray], original: OriginalAudio | TimelineSound | None, work: Path,
           duck_db: float = config.DUCK_DB, rate: int = config.OUTPUT_SAMPLE_RATE,
           sound_changes: Sequence[float] = (), ducking: Ducking | None = None) -> "Premix":
    """One pass over the music as it arrives (while later segments render): write it and the original audio to the
    work folder, and measure both (LoudnessMeter) and, unless its `ducking` is planned already (from
    original_levels), the original's level every hop (SidechainMeter), so that the dips and the gains setting the
    music and then the mix to a loudness follow without another pass. `sound_changes`: where the original's
    background may change at once (cuts, joins between clips), seconds."""
    music_pcm, original_pcm = work / "music.f32", work / "original.f32"  # _write_pcm's scratch format
    meter = LoudnessMeter(rate, streams=1 if original is None else 2)
    sidechain = SidechainMeter(rate) if original is not None and ducking is None else None
    subsonic = _subsonic(rate, 2)
    size = int(BLOCK_SECONDS * rate)
    frames = 0
    # Stages overlap, a block apart: the original's next block decodes, and the last block is measured and written,
    # on threads (FFmpeg's decoding and filters and file writes run without the GIL) while this one arrives. On
    # 2 cores this pass then keeps pace with the rendering instead of trailing it.
    # The pool is left first: its last write finishes before the files close.
    with contextlib.ExitStack() as files, ThreadPoolExecutor(2, thread_name_prefix="premix") as pool:
        music_out = files.enter_context(open(music_pcm, "wb"))
        if original is not None:
            original_out = files.enter_context(open(original_pcm, "wb"))
            next_sound = pool.submit(original.read, size)

        def measure_and_write(streams: tuple[np.ndarray, ...]) -> None:
            streams = (np.ascontiguousarray(subsonic(streams[0].T).T), *streams[1:])
            meter.feed(*streams)
            _write_pcm(music_out, streams[0])
            if original is not None:
                if sidechain is not None:
                    sidechain.feed(streams[1])
                _write_pcm(original_out, streams[1])

        finishing: Future | None = None  # one block at a time: blocks are written in order
        for block in _reblocked(music_blocks, size):  # whole hops, but for the last block
            streams: tuple[np.ndarray, ...] = (block,)
            if original is not None:
                streams = (block, next_sound.result()[:len(block)])
                next_sound = pool.submit(original.read, size)
            if finishing is not None:
                finishing.result()
            finishing = pool.submit(measure_and_write, streams)
            frames += len(block)
        if finishing is not None:
            finishing.result()
    if sidechain is not None:
        ducking = plan_ducking(*sidechain.levels(), duck_db, hop_seconds(rate), sound_changes)
    return Premix(music_pcm, original_pcm if original is not None else None, frames, meter, ducking)


class Premix:
    """The music in a file, the original audio in another, their measured loudness and the music's dips."""

    def __init__(self, music_pcm: Path, original_pcm: Path | None, frames: int, meter: LoudnessMeter,
                 ducking: Ducking | None = None):
        self.music_pcm, self.original_pcm, self.frames, self.meter = music_pcm, original_pcm, frames, meter
        self.ducking = ducking

    def master(self, target_lufs: float = config.TARGET_LUFS, music_only: bool = False,
               music_db: float = config.MUSIC_LEVEL_DB, segment_gains: np.ndarray | None = None,
               ) -> tuple[dict, "MasteredSoundtrack"]:
        """The music set against the original (`music_level`, then `music_db` higher: the user's taste) and
        dipped under its foreground, the mix then set to `target_lufs`. `music_only`: the music as it sits in that
        mix (dipped, same gain), without the original, for an editor's track under the clip's own sound. Without
        an original there is nothing to set the music against: it is the mix, and `music_db` does not apply.
        `segment_gains`: the music's gain every hop where the user set a segment louder or quieter
        (segment_levels); it moves that music alone, the rest keeping its placement (the mix as a whole is still
        brought to the target)."""
        music_lufs = self.meter.integrated(*((1.0, 0.0) if self.ducking else (1.0,)))
        steps = self.meter.steps
        hop_gains = _times(self.ducking.gains() if self.ducking else None, segment_gains)
        dips = _by_step(hop_gains, steps, 1.0).astype(np.float64) if hop_gains is not None else np.ones((steps, 5))
        if self.ducking is None:
            music_gain = 10 ** ((target_lufs - music_lufs) / 20)
            pairs = (music_gain ** 2 * (dips ** 2).mean(axis=1))[:, None]
            gain = 10 ** ((target_lufs - _gated_loudness(self.meter.mean_squares(pairs))) / 20)
            report = {"music_lufs": round(music_lufs, 2), "target_lufs": target_lufs, "music_placed": "at the target",
                      "levels": level_envelopes(music=self.meter.mean_squares(pairs * gain ** 2))}
            return report, MasteredSoundtrack(self.music_pcm, None, self.frames, self.meter.rate, gain * music_gain,
                                              0.0, hop_gains)
        foreground = _by_step(self.ducking.foreground, steps, 0.0).mean(axis=1) >= 0.5
        level, placed = music_level(self.meter, foreground, target_lufs)
        if music_db:
            placed += f"; then {abs(music_db):g} dB {'higher' if music_db > 0 else 'lower'}, as asked"
        music_gain = 10 ** ((level + music_db - music_lufs) / 20)
        # the dipped music enters a step's mean square with its mean squared dip, its product with the original
        # with its mean dip
        pairs = np.stack([music_gain ** 2 * (dips ** 2).mean(axis=1), music_gain * dips.mean(axis=1), np.ones(steps)],
                         axis=1)
        mix_lufs = _gated_loudness(self.meter.mean_squares(pairs))
        gain = 10 ** ((target_lufs - mix_lufs) / 20)
        report = {"music_lufs": round(music_lufs, 2), "mix_lufs_before_gain": round(mix_lufs, 2),
                  "target_lufs": target_lufs, "music_placed": placed, "music_level_db": music_db,
                  "music_dipped_seconds": round(float((self.ducking.reduction > 3.0).sum() * self.ducking.hop_seconds),
                                                1),
                  "levels": level_envelopes(music=self.meter.mean_squares(pairs * [gain ** 2, 0, 0]),
                                            original=self.meter.mean_squares([0, 0, gain ** 2]))}
        return report, MasteredSoundtrack(self.music_pcm, None if music_only else self.original_pcm, self.frames,
                                          self.meter.rate, gain * music_gain, gain, hop_gains)


def segment_levels(segments: Sequence[Segment], music_db: Mapping[int, float], frames: int, rate: int,
                   ) -> np.ndarray | None:
    """The music's gain every hop for the segments the user set louder or quieter (`music_db`: index -> dB), or
    None when none is. Flat over a segment; the one before moves to the next one's level over its last
    config.SEGMENT_LEVEL_RAMP_SECONDS (at most half of it), linearly in dB."""
    if not any(music_db.values()):
        return None
    knots: list[tuple[float, float]] = []
    for before, segment in zip([None, *segments], segments):
        db = music_db.get(segment.index, 0.0)
        if before is not None:
            ramp = min(config.SEGMENT_LEVEL_RAMP_SECONDS, (before.end - before.start) / 2)
            knots.append((segment.start - ramp, music_db.get(before.index, 0.0)))
        knots.append((segment.start, db))
    times = np.arange(-(-frames // _hop(rate))) * hop_seconds(rate)
    return (10 ** (np.interp(times, *zip(*knots)) / 20)).astype(np.float32)


def _times(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """Two per-hop gains applied one after the other (either may be missing; the shorter is 1 past its end)."""
    if a is None or b is None:
        return b if a is None else a
    both = np.ones(max(len(a), len(b)), np.float32)
    both[:len(a)] *= a
    both[:len(b)] *= b
    return both


def _by_step(per_hop: np.ndarray, steps: int, fill: float) -> np.ndarray:
    """Values per hop as (steps x 5): each 100 ms step's five hops, `fill` past their end."""
    values = np.full(steps * 5, fill, np.float32)
    usable = min(len(values), len(per_hop))
    values[:usable] = per_hop[:usable]
    return values.reshape(steps, 5)


def level_envelopes(**step_mean_squares: np.ndarray) -> dict:
    """The manifest's `levels`: each named stream's loudness along the soundtrack as it sits in the result, from
    its K-weighted mean square in each 100 ms step. A level is BS.1770's momentary loudness (400 ms, LUFS, whole
    dB, -70 for silence), the loudest in its window: a window of `seconds` (config.LEVEL_WINDOW_SECONDS, longer
    for a long video so that there are at most config.LEVEL_POINTS_MAX) reads as a peak meter's trace would."""
    steps = max(len(m) for m in step_mean_squares.values())
    per_window = max(round(config.LEVEL_WINDOW_SECONDS / 0.1), -(-steps // config.LEVEL_POINTS_MAX))
    windows = -(-steps // per_window)
    levels: dict = {"seconds": round(per_window * 0.1, 1)}
    for name, mean_squares in step_mean_squares.items():
        momentary = _centred_mean(mean_squares, 4)  # the 400 ms around each step
        padded = np.zeros(windows * per_window)
        padded[:len(momentary)] = np.maximum(momentary, 0)
        loudest = padded.reshape(windows, per_window).max(axis=1)
        levels[name] = np.maximum(-0.691 + 10 * np.log10(loudest + 1e-20), -70.0).round().astype(int).tolist()
    return levels


def music_level(meter: LoudnessMeter, foreground_steps: np.ndarray, target_lufs: float) -> tuple[float, str]:
    """The loudness the undipped music is set to, against the original's (stream 1 of `meter`): under its
    foreground (voices, laughter) where it has one, over it where it is background only (wind, waves, a room), at
    the target where it is silent; and a phrase saying which, for the manifest."""
    original_lufs = meter.integrated(0.0, 1.0)
    if original_lufs <= -69.0:
        return target_lufs, "at the target: the original sound is silent"
    foreground_seconds = foreground_steps.sum() * 0.1
    if foreground_seconds >= config.MIN_FOREGROUND_SECONDS:
        foreground_lufs = meter.integrated(0.0, 1.0, steps=foreground_steps)
        if foreground_lufs > -69.0:
            return (foreground_lufs - config.MUSIC_UNDER_FOREGROUND_LU,
                    f"{config.MUSIC_UNDER_FOREGROUND_LU:g} LU under the original's foreground "
                    f"({foreground_lufs:.1f} LUFS over {foreground_seconds:.1f} s), dipped while it sounds")
    return (original_lufs + config.MUSIC_OVER_BACKGROUND_LU,
            f"{config.MUSIC_OVER_BACKGROUND_LU:g} LU over the original sound, which is background only "
            f"({original_lufs:.1f} LUFS)")


class MasteredSoundtrack:
    """The finished soundtrack: the ducked music and the original mixed with their gains and the true-peak limiter
    as they are read, any range of it from any thread. The limiter works on a fixed grid of blocks, so a range
    reads exactly as it does in a whole pass (the AAC encoder reads chunks in parallel, media/aac.py)."""

    def __init__(self, music_pcm: Path, original_pcm: Path | None, frames: int, rate: int, music_gain: float,
                 original_gain: float, music_dips: np.ndarray | None = None):
        self.music_pcm, self.original_pcm, self.frames, self.rate = music_pcm, original_pcm, frames, rate
        self.music_gain, self.original_gain = music_gain, original_gain
        self.music_dips, self.hop = music_dips, _hop(rate)  # the music's gain every hop, if it dips
        self.block = int(BLOCK_SECONDS * rate)  # a whole number of hops

    def blocks(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Stereo float blocks of samples [start, stop)."""
        stop = self.frames if stop is None else min(stop, self.frames)
        grid = start // self.block * self.block
        music = _read_blocks(self.music_pcm, self.block, grid, stop)
        original = _read_blocks(self.original_pcm, self.block, grid, stop) if self.original_pcm is not None else None
        offset = grid
        for block in music:  # the two files hold the same number of samples
            mix = block * self.music_gains(offset, len(block))
            if original is not None:
                mix += next(original) * np.float32(self.original_gain)
            limited = true_peak_limit(mix, config.TRUE_PEAK_DBTP, self.rate)
            yield limited[max(0, start - offset):stop - offset]
            offset += len(block)

    def music_gains(self, offset: int, n: int) -> np.ndarray:
        """The music's gain in the result for samples [offset, offset + n), offset on the hop grid: (n, 1)."""
        gains = np.full(n, self.music_gain, np.float32)
        if self.music_dips is not None:  # dips and the user's segment levels, every hop; 1 past their end
            first = offset // self.hop
            held = np.repeat(self.music_dips[first:first + -(-n // self.hop)], self.hop)[:n]
            gains[:len(held)] *= held
        return gains[:, None]

    def write_stems(self, stems: Iterable[np.ndarray], paths: Sequence[Path]) -> None:
        """The music's parts, stitched as the music was (blocks of (n, 2 x len(paths)) from its first sample),
        each as it sits in the result: through the music's high-pass and its gains (level, dips, the user's). One
        32-bit float WAV each: they never clip, and summed they are the music but for the true-peak limiter's
        touch on the whole (where a peak of the mix needed it)."""
        subsonic = [_subsonic(self.rate, 2) for _ in paths]  # a filter each: PyAV's frames hold up to 8 channels
        with contextlib.ExitStack() as files:
            outs = [files.enter_context(soundfile.SoundFile(path, "w", self.rate, 2, "FLOAT", format="WAV"))
                    for path in paths]
            offset = 0
            for block in _reblocked(stems, self.block):
                block = block[:self.frames - offset]
                gains = self.music_gains(offset, len(block))
                for k, (out, high_pass) in enumerate(zip(outs, subsonic)):
                    out.write(high_pass(np.ascontiguousarray(block[:, 2 * k:2 * k + 2].T)).T * gains)
                offset += len(block)

    def remove(self) -> None:
        for path in (self.music_pcm, self.original_pcm):
            if path is not None:
                path.unlink(missing_ok=True)


def _subsonic(rate: int, channels: int) -> biquads.BiquadChain:
    """The music's high-pass. Below hearing, the music has nothing to give but a DC offset or rumble (a neural
    decoder can make either), which would take the limiter's headroom from everything else."""
    return biquads.BiquadChain([biquads.butterworth_high_pass(config.MUSIC_HIGHPASS_HZ, rate)], rate, channels)


_PCM_FRAME_BYTES = 8  # a stereo float32 sample


def _write_pcm(file: BinaryIO, audio: np.ndarray) -> None:
    """Append stereo samples to a scratch file: raw float32, no header. These files live only until the output is
    written (no WAV header to finish, and unlike libsndfile's close no fsync that would wait for the disk)."""
    file.write(np.ascontiguousarray(audio, np.float32).data)


def _read_blocks(path: Path, size: int, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
    """Blocks of `size` samples from sample `start` until `stop` is covered (the file's end if None), from a file
    _write_pcm wrote."""
    with open(path, "rb") as f:
        f.seek(start * _PCM_FRAME_BYTES)
        while stop is None or start < stop:
            block = np.fromfile(f, np.float32, 2 * size).reshape(-1, 2)
            if not len(block):
                return
            yield block
            start += len(block)


def _reblocked(blocks: Iterable[np.ndarray], size: int) -> Iterator[np.ndarray]:
    """The same stream in blocks of `size` samples (the last may be shorter)."""
    pending: list[np.ndarray] = []
    count = 0
    for block in blocks:
        pending.append(block)
        count += len(block)
        if count >= size:
            joined = np.concatenate(pending)
            whole = len(joined) // size * size
            yield from (joined[i:i + size] for i in range(0, whole, size))
            pending, count = [joined[whole:]], len(joined) - whole
    if count:
        yield np.concatenate(pending)
