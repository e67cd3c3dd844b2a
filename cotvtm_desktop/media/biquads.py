"""Second-order IIR filters (biquads): the few this product needs, designed in closed form, and run over audio with
FFmpeg's `biquad` filter through PyAV.

Why not scipy.signal: importing it takes one to two seconds (it pulls in scipy.stats and numpy.f2py), which is most
of what a one-minute video's whole analysis costs; PyAV is loaded anyway, and FFmpeg's filter runs as fast as
`sosfilt`. A section is (b0, b1, b2, a1, a2), normalised so that a0 = 1.
"""

from __future__ import annotations

from math import pi, sqrt, tan

import av
import numpy as np
from av.filter import Graph

Section = tuple[float, float, float, float, float]


def butterworth_low_pass(cutoff: float, rate: int) -> Section:
    """A 2-pole Butterworth low-pass by the bilinear transform, prewarped at `cutoff` (= scipy.signal.butter(2))."""
    return resonant_low_pass(cutoff, rate, sqrt(0.5))


def resonant_low_pass(cutoff: float, rate: int, q: float, gain: float = 1.0) -> Section:
    """A 2-pole low-pass of quality `q` by the bilinear transform, prewarped at `cutoff` (the audio EQ cookbook's;
    Butterworth at q = 1/√2, a resonant peak near the cutoff above it), its output scaled by `gain`."""
    k = tan(pi * cutoff / rate)
    norm = 1.0 / (1.0 + k / q + k * k)
    b0 = k * k * norm * gain
    return b0, 2.0 * b0, b0, 2.0 * (k * k - 1.0) * norm, (1.0 - k / q + k * k) * norm


def butterworth_high_pass(cutoff: float, rate: int) -> Section:
    """A 2-pole Butterworth high-pass by the bilinear transform, prewarped at `cutoff` (= scipy.signal.butter(2,
    btype="high"))."""
    k = tan(pi * cutoff / rate)
    norm = 1.0 / (1.0 + sqrt(2.0) * k + k * k)
    return norm, -2.0 * norm, norm, 2.0 * (k * k - 1.0) * norm, (1.0 - sqrt(2.0) * k + k * k) * norm


def k_weighting(rate: int) -> list[Section]:
    """BS.1770-4's K-weighting at any rate: the head's high shelf, then the RLB high-pass. Designed as libebur128
    does, from the analogue prototypes behind the standard's 48 kHz table, which this reproduces to 1e-15."""
    k = tan(pi * 1681.974450955533 / rate)  # shelf: +4 dB above about 1.7 kHz
    q, high = 0.7071752369554196, 10 ** (3.999843853973347 / 20)
    band = high ** 0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = ((high + band * k / q + k * k) / a0, 2.0 * (k * k - high) / a0, (high - band * k / q + k * k) / a0,
             2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0)
    k, q = tan(pi * 38.13547087602444 / rate), 0.5003270373238773  # high-pass at 38 Hz
    a0 = 1.0 + k / q + k * k
    return [shelf, (1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0)]


class BiquadChain:
    """`sections` in series over `channels` float32 channels, fed in blocks (channels x n); each block continues
    where the last ended (the filter state carries over), as one long signal."""

    def __init__(self, sections: list[Section], rate: int, channels: int):
        self.rate, self.channels = rate, channels
        self._layout = f"{channels}c"
        self._graph = Graph()
        # One thread: the callers already run beside other work (rendering, decoding) on every core.
        self._graph.threads = 1
        node = self._graph.add_abuffer(format="fltp", sample_rate=rate, layout=self._layout, time_base=f"1/{rate}")
        self._sections = []
        for b0, b1, b2, a1, a2 in sections:
            # float32: a 100 ms step's energy within parts per million of float64's, at four fifths of its cost
            section = self._graph.add("biquad", f"b0={b0!r}:b1={b1!r}:b2={b2!r}:a0=1:a1={a1!r}:a2={a2!r}"
                                                ":precision=f32")
            node.link_to(section)
            node = section
            self._sections.append(section)
        node.link_to(self._graph.add("abuffersink"))
        self._graph.configure()
        self._samples = 0

    def retune(self, index: int, section: Section) -> None:
        """Give section `index` new coefficients from the next block on; its state carries over."""
        for name, value in zip(("b0", "b1", "b2", "a1", "a2"), section):
            self._sections[index].process_command(name, repr(value))

    def __call__(self, block: np.ndarray) -> np.ndarray:
        if not block.shape[1]:
            return np.zeros((self.channels, 0), np.float32)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32), format="fltp",
                                           layout=self._layout)
        frame.sample_rate, frame.pts = self.rate, self._samples
        self._samples += block.shape[1]
        self._graph.push(frame)
        out = []
        while True:
            try:
                out.append(self._graph.pull().to_ndarray())
            except (av.BlockingIOError, av.EOFError):
                break
        filtered = out[0] if len(out) == 1 else np.concatenate(out, axis=1)
        if filtered.shape[1] != block.shape[1]:  # a biquad holds nothing back; anything else is a broken build
            raise RuntimeError(f"FFmpeg's biquad returned {filtered.shape[1]} samples for {block.shape[1]}")
        return filtered


def filtered(signal: np.ndarray, sections: list[Section], rate: int) -> np.ndarray:
    """A whole mono float32 signal through `sections`, starting from rest. Each sample comes out the same whatever
    the signal's length (the soundfont reuses the start of a longer rendering for a shorter note): FFmpeg's biquad
    takes two samples per step and computes an odd block's last sample in another order, a last-bit difference,
    so an odd-length signal goes through with a zero after it."""
    return filtered_varying(signal, [(0, section) for section in sections[:1]], rate, sections[1:])


def filtered_varying(signal: np.ndarray, steps: list[tuple[int, Section]], rate: int,
                     after: list[Section] = ()) -> np.ndarray:
    """A whole mono float32 signal through a biquad whose coefficients change as it goes (a filter a note's
    envelope opens and closes), then through the fixed sections `after`, starting from rest. `steps` are (first
    sample, section), the first at 0 and each at an even sample; the state carries across each change. As with
    `filtered`, each sample comes out the same whatever the signal's length."""
    if not len(signal):
        return signal.copy()
    odd = len(signal) % 2
    if odd:
        signal = np.append(signal, np.float32(0))
    chain = BiquadChain([steps[0][1], *after], rate, 1)
    starts = [first for first, _ in steps if first < len(signal)]
    pieces = []
    for k, (first, end) in enumerate(zip(starts, [*starts[1:], len(signal)])):
        if k:
            chain.retune(0, steps[k][1])
        pieces.append(chain(signal[None, first:end])[0])
    out = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
    return out[:-1] if odd else out
