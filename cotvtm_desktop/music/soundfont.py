"""A SoundFont 2 sample player in numpy: enough of the SF2 2.04 synthesis model to play General MIDI arrangements.

Why our own: the Python SF2 players on PyPI either declare pyaudio (no Linux wheel: `pip install` fails without
PortAudio headers) or need a system FluidSynth, and the product must install with one pip command everywhere.

Implemented: preset/instrument zones with key and velocity ranges, global zones, additive preset generators,
sample offsets, looping (modes 1 and 3), root key / scale tuning / coarse and fine tune / pitch correction,
the volume envelope (delay, attack, hold, decay, sustain, release), initial attenuation, pan, a 2-pole low-pass
at the zone's initial filter cutoff, and the default velocity-to-attenuation curve. Not implemented: modulation
envelopes and LFOs, chorus/reverb sends, modulators other than the velocity default. Rendered notes are cached by
(zone, key, length) because arrangements repeat them constantly.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

# generator operators (SF2 2.04, section 8.1.2)
_START, _END, _LOOP_START, _LOOP_END, _START_COARSE = 0, 1, 2, 3, 4
_FILTER_FC, _END_COARSE, _PAN = 8, 12, 17
_DELAY, _ATTACK, _HOLD, _DECAY, _SUSTAIN, _RELEASE = 33, 34, 35, 36, 37, 38
_INSTRUMENT, _KEY_RANGE, _VEL_RANGE, _LOOP_START_COARSE, _KEYNUM = 41, 43, 44, 45, 46
_ATTENUATION, _LOOP_END_COARSE, _COARSE_TUNE, _FINE_TUNE, _SAMPLE_ID = 48, 50, 51, 52, 53
_SAMPLE_MODES, _SCALE_TUNING, _ROOT_KEY = 54, 56, 58
_DEFAULTS = {_FILTER_FC: 13500, _DELAY: -12000, _ATTACK: -12000, _HOLD: -12000, _DECAY: -12000,
             _RELEASE: -12000, _SCALE_TUNING: 100, _ROOT_KEY: -1, _KEYNUM: -1}
_RANGES = (_KEY_RANGE, _VEL_RANGE)
_NOT_ADDITIVE = (_INSTRUMENT, _SAMPLE_ID, _SAMPLE_MODES, _ROOT_KEY, _KEYNUM, *_RANGES)
# SF2 attenuation is specified in centibels, but the EMU hardware it was authored on applied 0.4 of it; players
# (FluidSynth among them) keep that factor so fonts sound as their authors balanced them.
_ATTENUATION_FACTOR = 0.4
_MAX_RELEASE_SECONDS = 2.0
NOTE_CACHE_BYTES = 64 * 2**20  # rendered notes kept for reuse; least recently used go first, so memory stays flat


@dataclass(frozen=True)
class Zone:
    """A resolved instrument zone: which sample, and all generators after preset/instrument merging."""

    sample: int
    generators: tuple[tuple[int, int], ...]

    def gen(self, operator: int) -> int:
        return dict(self.generators).get(operator, _DEFAULTS.get(operator, 0))


@dataclass(frozen=True)
class _SampleHeader:
    start: int
    end: int
    loop_start: int
    loop_end: int
    rate: int
    pitch: int
    correction: int


class SoundFont:
    def __init__(self, path: Path):
        self.path = Path(path)
        data = self.path.read_bytes()
        chunks = _riff_chunks(data)
        self.samples = np.frombuffer(chunks[b"smpl"], dtype="<i2").astype(np.float32) / 32768.0
        self._presets = _records(chunks[b"phdr"], "<20sHHHIII")
        self._preset_bags = _records(chunks[b"pbag"], "<HH")
        self._preset_gens = _generators(chunks[b"pgen"])
        self._instruments = _records(chunks[b"inst"], "<20sH")
        self._instrument_bags = _records(chunks[b"ibag"], "<HH")
        self._instrument_gens = _generators(chunks[b"igen"])
        self._headers = [_SampleHeader(r[1], r[2], r[3], r[4], r[5], r[6], r[7])
                         for r in _records(chunks[b"shdr"], "<20sIIIIIBbHH")]
        self._preset_index = {(r[2], r[1]): i for i, r in enumerate(self._presets[:-1])}
        self._note_cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._note_cache_bytes = 0

    # --- zone lookup ---------------------------------------------------------------------------------------------
    def zones(self, bank: int, program: int, key: int, velocity: int) -> list[Zone]:
        preset = self._preset_index.get((bank, program))
        if preset is None:  # GM fallback: same program in bank 0, then the bank's first preset
            preset = self._preset_index.get((0 if bank != 128 else 128, program if bank != 128 else 0))
        if preset is None:
            return []
        return self._zones_for(preset, key, velocity)

    @lru_cache(maxsize=4096)
    def _zones_for(self, preset: int, key: int, velocity: int) -> list[Zone]:
        result = []
        preset_zones = self._bag_generators(self._presets, preset, self._preset_bags, self._preset_gens, 3)
        p_global, p_zones = _split_global(preset_zones, _INSTRUMENT)
        for p_zone in p_zones:
            if not _in_ranges(p_zone, p_global, key, velocity):
                continue
            instrument_zones = self._bag_generators(self._instruments, p_zone[_INSTRUMENT], self._instrument_bags,
                                                    self._instrument_gens, 1)
            i_global, i_zones = _split_global(instrument_zones, _SAMPLE_ID)
            for i_zone in i_zones:
                if not _in_ranges(i_zone, i_global, key, velocity):
                    continue
                merged = {**i_global, **i_zone}
                for operator, amount in {**p_global, **p_zone}.items():
                    if operator not in _NOT_ADDITIVE:
                        merged[operator] = merged.get(operator, _DEFAULTS.get(operator, 0)) + amount
                result.append(Zone(merged[_SAMPLE_ID], tuple(sorted(merged.items()))))
        return result

    @staticmethod
    def _bag_generators(headers, index, bags, gens, bag_field) -> list[dict[int, int]]:
        first, last = headers[index][bag_field], headers[index + 1][bag_field]
        zones = []
        for bag in range(first, last):
            g0, g1 = bags[bag][0], bags[bag + 1][0]
            zones.append(dict(gens[g0:g1]))
        return zones

    # --- rendering -----------------------------------------------------------------------------------------------
    def render_note(self, bank: int, program: int, key: int, velocity: int, seconds: float,
                    rate: int) -> np.ndarray:
        """A stereo (n, 2) float32 buffer: the note held for `seconds`, then its release."""
        gain = (max(1, min(127, velocity)) / 127.0) ** 2  # the SF2 default velocity-to-attenuation curve
        held = round(seconds * 100) / 100  # 10 ms steps keep the cache small and inaudibly change nothing
        parts = [self._render_zone(zone, key, held, rate) for zone in self.zones(bank, program, key, velocity)]
        if not parts:
            return np.zeros((0, 2), np.float32)
        out = np.zeros((max(len(p) for p in parts), 2), np.float32)
        for part in parts:
            out[:len(part)] += part
        return out * gain

    def _render_zone(self, zone: Zone, key: int, seconds: float, rate: int) -> np.ndarray:
        cache_key = (zone, key, seconds, rate)
        cached = self._note_cache.get(cache_key)
        if cached is not None:
            self._note_cache.move_to_end(cache_key)
            return cached
        rendered = self._note_cache[cache_key] = _render_zone(self, zone, key, seconds, rate)
        self._note_cache_bytes += rendered.nbytes
        while self._note_cache_bytes > NOTE_CACHE_BYTES and len(self._note_cache) > 1:
            self._note_cache_bytes -= self._note_cache.popitem(last=False)[1].nbytes
        return rendered


def _render_zone(font: SoundFont, zone: Zone, key: int, seconds: float, rate: int) -> np.ndarray:
    h = font._headers[zone.sample]
    start = h.start + zone.gen(_START) + 32768 * zone.gen(_START_COARSE)
    end = h.end + zone.gen(_END) + 32768 * zone.gen(_END_COARSE)
    loop_start = h.loop_start + zone.gen(_LOOP_START) + 32768 * zone.gen(_LOOP_START_COARSE)
    loop_end = h.loop_end + zone.gen(_LOOP_END) + 32768 * zone.gen(_LOOP_END_COARSE)
    looping = zone.gen(_SAMPLE_MODES) in (1, 3) and start <= loop_start < loop_end - 1 <= end

    root = zone.gen(_ROOT_KEY) if zone.gen(_ROOT_KEY) >= 0 else (h.pitch if h.pitch <= 127 else 60)
    played = zone.gen(_KEYNUM) if zone.gen(_KEYNUM) >= 0 else key
    cents = ((played - root) * zone.gen(_SCALE_TUNING) + 100 * zone.gen(_COARSE_TUNE) + zone.gen(_FINE_TUNE)
             + h.correction)
    step = 2.0 ** (cents / 1200.0) * h.rate / rate

    release = min(_timecents(zone.gen(_RELEASE)), _MAX_RELEASE_SECONDS)
    n = int((seconds + release) * rate)
    position = start + np.arange(n) * step
    if looping:
        over = position >= loop_end
        position[over] = loop_start + np.mod(position[over] - loop_start, loop_end - loop_start)
    else:
        n = min(n, int(max(0, end - 1 - start) / step))
        position = position[:n]
    index = position.astype(np.int64)
    frac = (position - index).astype(np.float32)
    wave = font.samples[index] * (1 - frac) + font.samples[np.minimum(index + 1, len(font.samples) - 1)] * frac

    wave *= _envelope(zone, n, seconds, rate)
    wave *= 10 ** (-_ATTENUATION_FACTOR * zone.gen(_ATTENUATION) / 200.0)
    cutoff = 8.176 * 2 ** (zone.gen(_FILTER_FC) / 1200.0)
    if cutoff < 0.45 * rate and n > 16:
        from scipy import signal  # imported on first use: it costs most of a second at start-up

        wave = signal.sosfilt(_low_pass(cutoff, rate), wave).astype(np.float32)
    pan = np.clip(zone.gen(_PAN), -500, 500) / 1000.0 + 0.5  # 0 left .. 1 right, equal power
    return np.stack([wave * np.cos(pan * np.pi / 2), wave * np.sin(pan * np.pi / 2)], axis=1).astype(np.float32)


@lru_cache(maxsize=256)
def _low_pass(cutoff: float, rate: int) -> np.ndarray:
    """The zone filter, a 2-pole Butterworth, as one second-order section (sosfilt runs it in half lfilter's time;
    a font uses a handful of cutoffs, so each is designed once)."""
    from scipy import signal

    return signal.butter(2, cutoff / (rate / 2), output="sos")


def _envelope(zone: Zone, n: int, seconds: float, rate: int) -> np.ndarray:
    """Delay, linear attack, hold, decay in dB to the sustain level, and a release in dB after note-off."""
    t = np.arange(n, dtype=np.float32) / rate
    delay, attack, hold = (_timecents(zone.gen(g)) for g in (_DELAY, _ATTACK, _HOLD))
    decay, release = _timecents(zone.gen(_DECAY)), _timecents(zone.gen(_RELEASE))
    sustain_db = -np.clip(zone.gen(_SUSTAIN), 0, 1440) / 10.0
    level_db = np.zeros(n, np.float32)
    after_hold = t - (delay + attack + hold)
    level_db = np.where(after_hold > 0, np.maximum(-100.0 * after_hold / max(decay, 1e-3), sustain_db), level_db)
    gain = 10 ** (level_db / 20)
    gain *= np.clip((t - delay) / max(attack, 1e-4), 0, 1)
    released = t > seconds
    if released.any():
        at_off = gain[~released][-1] if (~released).any() else 0.0
        gain[released] = at_off * 10 ** (-100.0 * (t[released] - seconds) / max(release, 1e-3) / 20)
    return gain.astype(np.float32)


def _timecents(value: int) -> float:
    return 0.0 if value <= -12000 else float(2.0 ** (value / 1200.0))


def _riff_chunks(data: bytes) -> dict[bytes, bytes]:
    """The leaf chunks of an SF2 RIFF file by id (all ids are unique in SF2)."""
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError("not a SoundFont 2 file")
    chunks: dict[bytes, bytes] = {}

    def walk(start: int, end: int) -> None:
        while start + 8 <= end:
            cid, size = data[start:start + 4], struct.unpack("<I", data[start + 4:start + 8])[0]
            body = start + 8
            if cid == b"LIST":
                walk(body + 4, body + size)
            else:
                chunks[cid] = data[body:body + size]
            start = body + size + (size & 1)

    walk(12, len(data))
    return chunks


def _records(chunk: bytes, fmt: str) -> list[tuple]:
    return list(struct.iter_unpack(fmt, chunk))


def _generators(chunk: bytes) -> list[tuple[int, int]]:
    out = []
    for operator, lo, hi in struct.iter_unpack("<HBB", chunk):
        amount = (hi << 8) | lo if operator in _RANGES else struct.unpack("<h", bytes((lo, hi)))[0]
        out.append((operator, amount))
    return out


def _split_global(zones: list[dict[int, int]], terminal: int) -> tuple[dict[int, int], list[dict[int, int]]]:
    if zones and terminal not in zones[0]:
        return zones[0], [z for z in zones[1:] if terminal in z]
    return {}, [z for z in zones if terminal in z]


def _in_ranges(zone: dict[int, int], global_zone: dict[int, int], key: int, velocity: int) -> bool:
    for operator, value in ((_KEY_RANGE, key), (_VEL_RANGE, velocity)):
        packed = zone.get(operator, global_zone.get(operator, 127 << 8))
        if not (packed & 0xFF) <= value <= (packed >> 8):
            return False
    return True


@lru_cache(maxsize=2)
def load_soundfont(path: Path) -> SoundFont:
    return SoundFont(path)
