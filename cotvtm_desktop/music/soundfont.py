"""A SoundFont 2 sample player in numpy: enough of the SF2 2.04 synthesis model to play General MIDI arrangements. It
plays SoundFont 3 files too (.sf3, MuseScore's: an SF2 whose samples are each an Ogg Vorbis stream, a fifth of the
size), decoding each sample the first time a note needs it.

Why our own: the Python SF2 players on PyPI either declare pyaudio (no Linux wheel: `pip install` fails without
PortAudio headers) or need a system FluidSynth, and the product must install with one pip command everywhere.

Implemented: preset/instrument zones with key and velocity ranges, global zones, additive preset generators, samples
read between their points by 4-point cubic interpolation (FluidSynth's default), sample offsets, looping (modes 1
and 3), root key / scale tuning / coarse and fine tune / pitch correction, the volume envelope (delay, attack, hold,
decay, sustain, release, and the key's effect on hold and decay), initial attenuation, pan, a 2-pole low-pass at the
zone's initial filter cutoff, with its resonance (initialFilterQ, as FluidSynth has it), moved by the modulation
envelope (modEnvToFilterFc: most General MIDI fonts open a piano's, a guitar's or a bass's filter as the note
strikes and close it as it decays; without it they sound muffled), the modulators, the font's and the default ones,
as a note starts (music/modulators.py: velocity's curve on the level, a piano's filter opened by velocity), and
(beyond SF2, as a mastering engineer's DC filter would) each sample's DC offset taken away. The modulation envelope
moves the pitch too (a synth lead's fall into its note), and the LFOs are played: on the pitch (a violin's or a
cello's vibrato after the bow's attack), the volume (a vibraphone's motor) and the filter (an organ's sweep). Not
implemented: the modulation envelope's release (the filter and the pitch follow the note as if still held while it
dies away), chorus/reverb sends, controllers (the music sends none: each stands where a channel starts).

As in the SF2 synthesis model, the sample oscillator feeds the filter, whose output the volume envelope shapes: so a
zone's filtered oscillator at a key does not depend on how long the note is held, and is rendered once and reused
for every length (arrangements hold the same notes for many lengths). Finished notes are cached too, by (zone, key,
length), because arrangements repeat them constantly. Each cache keeps within its own byte budget.
"""

from __future__ import annotations

import io
import mmap
import struct
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.media import biquads
from cotvtm_desktop.music import modulators
from cotvtm_desktop.music.modulators import Modulator

# generator operators (SF2 2.04, section 8.1.2)
_START, _END, _LOOP_START, _LOOP_END, _START_COARSE = 0, 1, 2, 3, 4
_MOD_LFO_TO_PITCH, _VIB_LFO_TO_PITCH, _MOD_ENV_TO_PITCH, _MOD_LFO_TO_VOLUME = 5, 6, 7, 13
_FILTER_FC, _FILTER_Q, _MOD_LFO_TO_FILTER_FC, _MOD_ENV_TO_FILTER_FC, _END_COARSE, _PAN = 8, 9, 10, 11, 12, 17
_DELAY_MOD_LFO, _FREQ_MOD_LFO, _DELAY_VIB_LFO, _FREQ_VIB_LFO = 21, 22, 23, 24
_MOD_LFO, _VIB_LFO = (_DELAY_MOD_LFO, _FREQ_MOD_LFO), (_DELAY_VIB_LFO, _FREQ_VIB_LFO)
_MOD_DELAY, _MOD_ATTACK, _MOD_HOLD, _MOD_DECAY, _MOD_SUSTAIN = 25, 26, 27, 28, 29
_KEY_TO_MOD_HOLD, _KEY_TO_MOD_DECAY = 31, 32
_DELAY, _ATTACK, _HOLD, _DECAY, _SUSTAIN, _RELEASE, _KEY_TO_HOLD, _KEY_TO_DECAY = 33, 34, 35, 36, 37, 38, 39, 40
_INSTRUMENT, _KEY_RANGE, _VEL_RANGE, _LOOP_START_COARSE, _KEYNUM = 41, 43, 44, 45, 46
_ATTENUATION, _LOOP_END_COARSE, _COARSE_TUNE, _FINE_TUNE, _SAMPLE_ID = 48, 50, 51, 52, 53
_SAMPLE_MODES, _SCALE_TUNING, _ROOT_KEY = 54, 56, 58
_DEFAULTS = {_FILTER_FC: 13500, _DELAY: -12000, _ATTACK: -12000, _HOLD: -12000, _DECAY: -12000,
             _RELEASE: -12000, _SCALE_TUNING: 100, _ROOT_KEY: -1, _KEYNUM: -1, _MOD_DELAY: -12000,
             _MOD_ATTACK: -12000, _MOD_HOLD: -12000, _MOD_DECAY: -12000, _DELAY_MOD_LFO: -12000,
             _DELAY_VIB_LFO: -12000}
_RANGES = (_KEY_RANGE, _VEL_RANGE)
_NOT_ADDITIVE = (_INSTRUMENT, _SAMPLE_ID, _SAMPLE_MODES, _ROOT_KEY, _KEYNUM, *_RANGES)
# SF2 attenuation is specified in centibels, but the EMU hardware it was authored on applied 0.4 of it; players
# (FluidSynth among them) keep that factor so fonts sound as their authors balanced them.
_ATTENUATION_FACTOR = 0.4
_MAX_RELEASE_SECONDS = 2.0
# Rendered oscillators and notes kept for reuse, each within its own budget (least recently used go first, so
# memory stays flat): an oscillator costs far more to render again than a note made from it. A large font (stereo
# pairs, velocity layers) makes more distinct notes: its note budget grows with its samples' size, up to four times
# (FluidR3_GM's 140 MB: 23 % less rendering time than within 64 MiB).
OSCILLATOR_CACHE_BYTES = 64 * 2**20
NOTE_CACHE_BYTES = 64 * 2**20
_LN10 = float(np.log(10.0))  # envelopes use exp(x ln 10) for 10**x: numpy's exp is three times faster than its power
# A filter moved by the modulation envelope is retuned every _FILTER_BLOCK samples at most (FluidSynth's block), and
# only once its cutoff has moved by _FILTER_STEP_CENTS: fine enough to be heard as a glide, not as steps
_FILTER_BLOCK = 64
_FILTER_STEP_CENTS = 20.0
_FILTER_CENTS_RANGE = (1500, 13500)  # SF2's range of initialFilterFc
# SoundFont 3 (MuseScore's sftools, read by FluidSynth since 1.1.7): a sample whose type has this bit is an Ogg
# Vorbis stream, its header's start and end are byte offsets into the sample chunk, its loop points count from its
# own first decoded sample
_VORBIS = 0x10
_GUARD = 46  # zero samples after each decoded sample, as an SF2 keeps after each of its own (SF2 2.04, 6.1)


@dataclass(frozen=True)
class Zone:
    """A resolved instrument zone: which sample, and all generators after preset/instrument merging."""

    sample: int
    generators: tuple[tuple[int, int], ...]

    def gen(self, operator: int) -> int:
        return self._by_operator.get(operator, _DEFAULTS.get(operator, 0))

    @cached_property
    def _by_operator(self) -> dict[int, int]:
        return dict(self.generators)


@dataclass(frozen=True)
class _SampleHeader:
    start: int
    end: int
    loop_start: int
    loop_end: int
    rate: int
    pitch: int
    correction: int
    kind: int = 1  # SF2's sfSampleType (1: mono), with _VORBIS in an SF3
    name: str = ""


class SoundFont:
    def __init__(self, path: Path):
        """Raises ValueError for a file that is not a SoundFont 2 or 3 this player reads."""
        self.path = Path(path)
        with open(self.path, "rb") as file:
            head = file.read(12)
            if head[8:12] != b"sfbk":
                raise ValueError("not a SoundFont (.sf2 or .sf3) file")
            if struct.unpack("<I", head[4:8])[0] + 8 > self.path.stat().st_size:
                raise ValueError("the file stops short of its end (an interrupted download or copy?); get it again")
            # mapped, not read: a large font's samples (FluidR3_GM's are 140 MB) stay in the page cache, shared by
            # the render workers, and only those played are read from disk
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        chunks = _riff_chunks(data)
        missing = {b"smpl", b"phdr", b"pbag", b"pgen", b"inst", b"ibag", b"igen", b"shdr"} - set(chunks)
        if missing:
            raise ValueError(f"a damaged SoundFont: it lacks its {', '.join(sorted(c.decode() for c in missing))}")
        self._compressed = b"ifil" in chunks and struct.unpack("<H", chunks[b"ifil"][:2])[0] >= 3
        self._smpl = chunks[b"smpl"]
        self._pcm = np.frombuffer(self._smpl[:len(self._smpl) // 2 * 2], dtype="<i2")  # _Playback makes them float
        self._presets = _records(chunks[b"phdr"], "<20sHHHIII")
        self._preset_bags = _records(chunks[b"pbag"], "<HH")
        self._preset_gens = _generators(chunks[b"pgen"])
        self._instruments = _records(chunks[b"inst"], "<20sH")
        self._instrument_bags = _records(chunks[b"ibag"], "<HH")
        self._instrument_gens = _generators(chunks[b"igen"])
        self._preset_mods = [Modulator(*r) for r in _records(chunks.get(b"pmod", b""), "<HHhHH")]
        self._instrument_mods = [Modulator(*r) for r in _records(chunks.get(b"imod", b""), "<HHhHH")]
        self._headers = [_SampleHeader(*r[1:8], r[9], r[0].split(b"\0")[0].decode("latin-1"))
                         for r in _records(chunks[b"shdr"], "<20sIIIIIBbHH")]
        self._preset_index = {(r[2], r[1]): i for i, r in enumerate(self._presets[:-1])}
        for h in self._headers[:-1]:
            compressed = self._compressed and h.kind & _VORBIS
            if h.end > (len(self._smpl) if compressed else len(self._pcm)):
                raise ValueError("a damaged SoundFont: its samples stop short (an interrupted download?)")
            if compressed and self._smpl[h.start:h.start + 4] != b"OggS":
                raise ValueError(f"a damaged SoundFont 3: its sample {h.name!r} is not Ogg Vorbis")
        self.oscillators = _Cache(OSCILLATOR_CACHE_BYTES)
        self.notes = _Cache(min(max(NOTE_CACHE_BYTES, len(self._smpl)), 4 * NOTE_CACHE_BYTES))
        self._reserved: dict[tuple, int] = {}  # oscillator key -> the most samples an announced note needs

    # --- zone lookup ---------------------------------------------------------------------------------------------
    def zones(self, bank: int, program: int, key: int, velocity: int) -> list[Zone]:
        return [zone for zone, _ in self._voices(bank, program, key, velocity)]

    def _voices(self, bank: int, program: int, key: int, velocity: int) -> list[tuple[Zone, float]]:
        """The zones a note plays, each with the centibels its modulators lower it by (velocity's curve)."""
        preset = self._preset(bank, program)
        return [] if preset is None else self._zones_for(preset, key, max(1, min(127, velocity)))

    def plays(self, bank: int, program: int) -> bool:
        """Whether the font has an instrument for `program` of `bank` (128: drum kits)."""
        return self._preset(bank, program) is not None

    def _preset(self, bank: int, program: int) -> int | None:
        preset = self._preset_index.get((bank, program))
        if preset is None:  # GM fallback: same program in bank 0, then the bank's first preset
            preset = self._preset_index.get((0 if bank != 128 else 128, program if bank != 128 else 0))
        return preset

    @lru_cache(maxsize=4096)
    def _zones_for(self, preset: int, key: int, velocity: int) -> list[tuple[Zone, float]]:
        """Each zone of `preset` a note of `key` at `velocity` plays: its instrument zone's generators (over the
        instrument's global ones) plus the preset zone's (and its global zone's), plus what the modulators in effect
        add (music/modulators.py); and apart, the attenuation the modulators give it, in centibels from the level of
        a channel's start."""
        result = []
        preset_zones = self._bag_zones(self._presets, preset, self._preset_bags, self._preset_gens,
                                       self._preset_mods, 3)
        (p_global, p_global_mods), p_zones = _split_global(preset_zones, _INSTRUMENT)
        for p_zone, p_mods in p_zones:
            if not _in_ranges(p_zone, p_global, key, velocity):
                continue
            instrument_zones = self._bag_zones(self._instruments, p_zone[_INSTRUMENT], self._instrument_bags,
                                               self._instrument_gens, self._instrument_mods, 1)
            (i_global, i_global_mods), i_zones = _split_global(instrument_zones, _SAMPLE_ID)
            for i_zone, i_mods in i_zones:
                if not _in_ranges(i_zone, i_global, key, velocity):
                    continue
                merged = {**i_global, **i_zone}
                for operator, amount in {**p_global, **p_zone}.items():
                    if operator not in _NOT_ADDITIVE:
                        merged[operator] = merged.get(operator, _DEFAULTS.get(operator, 0)) + amount
                added = modulators.added(modulators.in_effect(i_global_mods, i_mods, p_global_mods, p_mods), key,
                                         velocity)
                attenuation = added.pop(modulators.ATTENUATION, 0.0) - modulators.REFERENCE_ATTENUATION
                for operator, amount in added.items():
                    if round(amount) and operator not in _NOT_ADDITIVE and operator <= _ROOT_KEY:  # SF2's generators
                        merged[operator] = merged.get(operator, _DEFAULTS.get(operator, 0)) + round(amount)
                result.append((Zone(merged[_SAMPLE_ID], tuple(sorted(merged.items()))), attenuation))
        return result

    @staticmethod
    def _bag_zones(headers, index, bags, gens, mods, bag_field) -> list[tuple[dict[int, int], list[Modulator]]]:
        """The zones of preset or instrument `index`: each one's generators and modulators."""
        first, last = headers[index][bag_field], headers[index + 1][bag_field]
        return [(dict(gens[bags[bag][0]:bags[bag + 1][0]]), mods[bags[bag][1]:bags[bag + 1][1]])
                for bag in range(first, last)]

    @lru_cache(maxsize=None)
    def sample(self, index: int) -> tuple[np.ndarray, _SampleHeader]:
        """Sample `index`'s data (16-bit values, as int16 or float32) and its header, whose offsets index that data:
        in an SF2, the font's whole sample chunk; in an SF3, the sample's own, decoded from its Ogg Vorbis the first
        time it is asked for (so only the instruments an arrangement plays are decoded), with _GUARD zeros after."""
        h = self._headers[index]
        if not self._compressed:
            return self._pcm, h
        if h.kind & _VORBIS:
            data, loop = _vorbis_samples(self._smpl[h.start:h.end], h.name, self.path), (h.loop_start, h.loop_end)
        else:  # an SF3 may keep a sample uncompressed, where SF2's offsets hold
            data, loop = self._pcm[h.start:h.end].astype(np.float32), (h.loop_start - h.start, h.loop_end - h.start)
        return np.concatenate([data, np.zeros(_GUARD, np.float32)]), replace(h, start=0, end=len(data),
                                                                             loop_start=loop[0], loop_end=loop[1])

    # --- rendering -----------------------------------------------------------------------------------------------
    def render_note(self, bank: int, program: int, key: int, velocity: int, seconds: float, rate: int,
                    volume: float = 1.0) -> np.ndarray:
        """A stereo (n, 2) float32 buffer: the note held for `seconds`, then its release, scaled by `volume` and
        by its velocity as the font's modulators have it (the default curve: the square of velocity / 127)."""
        held = _held(seconds)
        parts = [self._render_zone(zone, key, held, rate) * np.float32(volume * 10 ** (-centibels / 200.0))
                 for zone, centibels in self._voices(bank, program, key, velocity)]
        if len(parts) < 2:
            return parts[0] if parts else np.zeros((0, 2), np.float32)
        out = np.zeros((max(len(p) for p in parts), 2), np.float32)
        for part in parts:
            out[:len(part)] += part
        return out

    def reserve(self, bank: int, program: int, key: int, velocity: int, seconds: float, rate: int) -> None:
        """Announce a note that render_note will be asked for. An oscillator grows by being rendered again from its
        start (its filter has no state to resume from), so one rendered at the longest length its announced notes
        need is rendered once, where growing with the notes as they come rendered 2.5 times as many samples."""
        for zone in self.zones(bank, program, key, velocity):
            cache_key, n = (zone, key, rate), _zone_samples(zone, _held(seconds), rate)
            self._reserved[cache_key] = max(self._reserved.get(cache_key, 0), n)

    def _render_zone(self, zone: Zone, key: int, seconds: float, rate: int) -> np.ndarray:
        """One zone's part of a note: (n, 2) float32, panned."""
        cache_key = (zone, key, seconds, rate)
        cached = self.notes.get(cache_key)
        if cached is not None:
            return cached
        wave = self._oscillator(zone, key, _zone_samples(zone, seconds, rate), rate)
        wave = wave * _envelope(zone, key, len(wave), seconds, rate)
        pan = np.clip(zone.gen(_PAN), -500, 500) / 1000.0 + 0.5  # 0 left .. 1 right, equal power
        stereo = np.empty((len(wave), 2), np.float32)
        np.multiply(wave, np.float32(np.cos(pan * np.pi / 2)), out=stereo[:, 0])
        np.multiply(wave, np.float32(np.sin(pan * np.pi / 2)), out=stereo[:, 1])
        return self.notes.put(cache_key, stereo)

    def _oscillator(self, zone: Zone, key: int, n: int, rate: int) -> np.ndarray:
        """The zone's sample played at `key`, through its low-pass filter, at its attenuation: the first `n`
        samples (fewer where an unlooped sample ends). Rendering more of it leaves the start unchanged (the filter
        is causal), so one rendering serves every shorter request; a longer one renders what was reserved for it, and
        at least twice as much as before."""
        playback = self._playback(zone, key, rate)
        if playback.available is not None:
            n = min(n, playback.available)
        cache_key = (zone, key, rate)
        cached = self.oscillators.get(cache_key)
        if cached is not None and len(cached) >= n:
            return cached[:n]
        length = max(n, self._reserved.get(cache_key, 0), 2 * len(cached) if cached is not None else 0)
        if playback.available is not None:
            length = min(length, playback.available)
        return self.oscillators.put(cache_key, playback.render(self.sample(zone.sample)[0], length))[:n]

    @lru_cache(maxsize=4096)
    def _playback(self, zone: Zone, key: int, rate: int) -> "_Playback":
        h = self.sample(zone.sample)[1]
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
        cutoff = _absolute_cents_hz(zone.gen(_FILTER_FC))
        # the LFOs' vibrato (cents, delay seconds, Hz): a violin's or a cello's, starting after the bow's attack
        vibrato = tuple(lfo for lfo in (_lfo(zone, _MOD_LFO_TO_PITCH, _MOD_LFO),
                                        _lfo(zone, _VIB_LFO_TO_PITCH, _VIB_LFO)) if lfo)
        # the modulation LFO's tremolo: a vibraphone's motor, an organ's or a violin section's shimmer
        tremolo = _lfo(zone, _MOD_LFO_TO_VOLUME, _MOD_LFO)
        pitch_envelope = ((zone.gen(_MOD_ENV_TO_PITCH), _ModEnvelope.of(zone, key)) if zone.gen(_MOD_ENV_TO_PITCH)
                          else None)
        raised = sum(abs(depth) for depth, _, _ in vibrato) + max(0, zone.gen(_MOD_ENV_TO_PITCH))
        fastest = step * 2 ** (raised / 1200.0)  # an unlooped sample's end
        return _Playback(start, step, (loop_start, loop_end) if looping else None,
                         None if looping else int(max(0, end - 1 - start) / fastest),
                         10 ** (-_ATTENUATION_FACTOR * zone.gen(_ATTENUATION) / 200.0),
                         _low_pass(cutoff, rate, zone.gen(_FILTER_Q)) if cutoff < 0.45 * rate else None, rate,
                         self._offset(zone.sample, *((loop_start, loop_end) if looping else (start, end))),
                         _FilterEnvelope.of(zone, key), vibrato, tremolo, pitch_envelope)

    @lru_cache(maxsize=4096)
    def _offset(self, sample: int, first: int, last: int) -> float:
        """The mean of the sample data from `first` to `last`: a sample recorded with a DC offset (TimGM6mb's alto
        saxophone: a quarter of its energy under 20 Hz) would otherwise thump at each note's start and end, and take
        headroom and loudness that no one hears. Over a looped sample's loop, the part that sustains."""
        if last <= first:
            return 0.0
        return float(self.sample(sample)[0][first:last].mean(dtype=np.float64))


@dataclass(frozen=True)
class _Playback:
    """How a zone plays a key: where in the sample data, at which step, looped or not, how loud, which filter."""

    start: int
    step: float
    loop: tuple[int, int] | None
    available: int | None  # output samples before an unlooped sample ends
    gain: float
    low_pass: biquads.Section | None  # the zone's 2-pole filter, unless its cutoff is above hearing
    rate: int
    offset: float  # the sample's DC offset, in its own units: taken away (see SoundFont._offset)
    filter_envelope: "_FilterEnvelope | None" = None  # how the modulation envelope moves the filter, if it does
    vibrato: tuple[tuple[float, float, float], ...] = ()  # (cents, delay seconds, Hz) of each LFO moving the pitch
    tremolo: tuple[float, float, float] | None = None  # (centibels, delay seconds, Hz) of the LFO moving the volume
    pitch_envelope: tuple[int, _ModEnvelope] | None = None  # (cents, envelope): the modulation envelope on the pitch

    def positions(self, n: int) -> np.ndarray:
        """Where in the sample data each of the n output samples is read (before looping): `step` apart, or, with
        vibrato, each step raised or lowered by the LFOs' triangles (SF2: from 0 upwards, after their delay), and by
        the modulation envelope where it moves the pitch (a string's or a synth's scoop or fall at the attack)."""
        if not (self.vibrato or self.pitch_envelope) or n == 0:
            position = np.arange(n, dtype=np.float64)
            position *= self.step
            position += self.start
            return position
        t = np.arange(n, dtype=np.float64) / self.rate
        cents = np.zeros(n)
        for depth, delay, hz in self.vibrato:
            cents += depth * _triangle(t, delay, hz)
        if self.pitch_envelope is not None:
            depth, envelope = self.pitch_envelope
            cents += depth * envelope.level(t)
        steps = self.step * np.exp2(cents / 1200.0)
        position = np.empty(n)
        position[0] = self.start
        np.cumsum(steps[:-1], out=position[1:])
        position[1:] += self.start
        return position

    def render(self, samples: np.ndarray, n: int) -> np.ndarray:
        """The first n output samples, mono float32: cubic interpolation, the loop, the gain, the filter, from the
        font's 16-bit `samples`. In place where numpy allows: this is half of all rendering."""
        position = self.positions(n)
        if self.loop is not None:
            loop_start, loop_end = self.loop
            looped = position[int(np.searchsorted(position, loop_end)):]  # positions only grow: a tail
            looped -= loop_start
            np.fmod(looped, loop_end - loop_start, out=looped)
            looped += loop_start
        index = position.astype(np.int64)
        position -= index
        x = position.astype(np.float32)
        # 4-point cubic (Catmull-Rom) interpolation, as FluidSynth's default: a linear one lets a sample played lower
        # than it was recorded ring with images of its spectrum (a pad two octaves down: 20 % brighter)
        last = len(samples) - 1  # SF2 puts 46 zeros after each sample: only the first and last need the bounds
        before, at, after, further = (samples[np.clip(index + k, 0, last)].astype(np.float32) for k in (-1, 0, 1, 2))
        wave = at + np.float32(0.5) * x * (after - before + x * (np.float32(2) * before - np.float32(5) * at
                                                             + np.float32(4) * after - further
                                                             + x * (np.float32(3) * (at - after) + further - before)))
        wave -= np.float32(self.offset)
        wave *= np.float32(self.gain / 32768.0)
        if self.filter_envelope is not None and n > 16:
            steps = self.filter_envelope.cutoffs(n, self.rate)
            wave = biquads.filtered_varying(wave, [(first, _low_pass(hz, self.rate, self.filter_envelope.resonance))
                                                   for first, hz in steps], self.rate)
        elif self.low_pass is not None and n > 16:
            wave = biquads.filtered(wave, [self.low_pass], self.rate)
        if self.tremolo is not None:  # as FluidSynth: the LFO's upswing louder by its depth in centibels
            depth, delay, hz = self.tremolo
            depth = float(np.clip(depth, -960, 960))  # centibels, as FluidSynth bounds it
            wave *= np.exp2(_triangle(np.arange(n) / self.rate, delay, hz) * (depth / 200.0 * np.log2(10.0))
                            ).astype(np.float32)
        return wave


@dataclass(frozen=True)
class _ModEnvelope:
    """A zone's modulation envelope at a key: it waits `delay` seconds, rises linearly over `attack`, holds, then
    falls at one full range per `decay` seconds to `sustain` (0-1), where it stays (its release is not followed: a
    note's oscillator serves every length of it)."""

    delay: float
    attack: float
    hold: float
    decay: float
    sustain: float

    @classmethod
    def of(cls, zone: Zone, key: int) -> "_ModEnvelope":
        # keynumToModEnvHold/Decay: timecents per key away from middle C (higher notes die sooner)
        hold = _timecents(zone.gen(_MOD_HOLD) + zone.gen(_KEY_TO_MOD_HOLD) * (60 - key))
        decay = max(_timecents(zone.gen(_MOD_DECAY) + zone.gen(_KEY_TO_MOD_DECAY) * (60 - key)), 1e-3)
        return cls(_timecents(zone.gen(_MOD_DELAY)), _timecents(zone.gen(_MOD_ATTACK)), hold, decay,
                   1.0 - np.clip(zone.gen(_MOD_SUSTAIN), 0, 1000) / 1000.0)

    def level(self, t: np.ndarray) -> np.ndarray:
        """Its value (0-1) at times `t`, seconds from the note's start."""
        rising = np.clip((t - self.delay) / max(self.attack, 1e-6), 0.0, 1.0)
        falling = t - (self.delay + self.attack + self.hold)
        return np.where(falling > 0, np.maximum(self.sustain, 1.0 - falling / self.decay), rising)


@dataclass(frozen=True)
class _FilterEnvelope:
    """How a zone's filter moves: the cutoff (cents) is the zone's initial cutoff plus `depth` times the modulation
    envelope, plus the modulation LFO's triangle times its `lfo` depth (cents, delay seconds, Hz)."""

    base: int
    depth: int
    envelope: _ModEnvelope
    lfo: tuple[float, float, float] | None = None
    resonance: int = 0  # the zone's initialFilterQ, centibels (_low_pass)

    @classmethod
    def of(cls, zone: Zone, key: int) -> "_FilterEnvelope | None":
        depth, lfo_depth = zone.gen(_MOD_ENV_TO_FILTER_FC), zone.gen(_MOD_LFO_TO_FILTER_FC)
        if not depth and not lfo_depth:
            return None
        return cls(zone.gen(_FILTER_FC), depth, _ModEnvelope.of(zone, key), _lfo(zone, _MOD_LFO_TO_FILTER_FC, _MOD_LFO),
                   zone.gen(_FILTER_Q))

    def cutoffs(self, n: int, rate: int) -> list[tuple[int, float]]:
        """(first sample, cutoff in Hz) over n samples: a new cutoff at a block's start wherever it has moved by
        _FILTER_STEP_CENTS since the last, each taken at its block's middle."""
        t = (np.arange(0, n, _FILTER_BLOCK) + _FILTER_BLOCK / 2) / rate
        cents = self.base + self.depth * self.envelope.level(t)
        if self.lfo is not None:
            lfo_depth, delay, hz = self.lfo
            cents += lfo_depth * _triangle(t, delay, hz)
        cents = np.clip(cents, *_FILTER_CENTS_RANGE)
        firsts = [0]
        for k in range(1, len(cents)):
            if abs(cents[k] - cents[firsts[-1]]) >= _FILTER_STEP_CENTS:
                firsts.append(k)
        return [(k * _FILTER_BLOCK, min(_absolute_cents_hz(cents[k]), 0.45 * rate)) for k in firsts]


def _low_pass(cutoff: float, rate: int, resonance: int) -> biquads.Section:
    """A zone's low-pass at `cutoff` Hz with its `resonance`, as FluidSynth makes it: initialFilterQ (centibels, 0 to
    96 dB) is the peak's height over a Butterworth's response (0: a Butterworth, no peak), and the filter's gain is
    lowered by half the peak's height (SF2 2.01, p. 59), so that a resonant note is about as loud as a plain one."""
    q_db = min(max(resonance, 0), 960) / 10.0
    q = 10 ** ((q_db - 3.01) / 20)
    return biquads.resonant_low_pass(cutoff, rate, q, (0.5 ** 0.5 / q) ** 0.5)


def _lfo(zone: Zone, depth_operator: int, lfo: tuple[int, int]) -> tuple[float, float, float] | None:
    """(depth, delay seconds, Hz) of an LFO (`lfo`: its delay and frequency generators) on the destination whose
    depth `depth_operator` sets; None where the zone sets none."""
    depth = zone.gen(depth_operator)
    if not depth:
        return None
    delay, frequency = lfo
    return depth, _timecents(zone.gen(delay)), _absolute_cents_hz(zone.gen(frequency))


def _triangle(t: np.ndarray, delay: float, hz: float) -> np.ndarray:
    """An SF2 LFO at times `t` (seconds from the note's start): 0 until its delay, then a triangle from 0 upwards
    between -1 and 1."""
    cycles = np.maximum(t - delay, 0.0) * hz
    return 4 * np.abs((cycles + 0.75) % 1.0 - 0.5) - 1


def _absolute_cents_hz(cents: float) -> float:
    """An SF2 frequency in absolute cents (a filter's cutoff, an LFO's rate) as Hz."""
    return 8.176 * 2 ** (cents / 1200.0)


class _Cache:
    """Arrays by key, least recently used dropped first once their bytes pass the budget."""

    def __init__(self, budget: int):
        self.budget = budget
        self.arrays: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.bytes = 0

    def get(self, key: tuple) -> np.ndarray | None:
        found = self.arrays.get(key)
        if found is not None:
            self.arrays.move_to_end(key)
        return found

    def put(self, key: tuple, array: np.ndarray) -> np.ndarray:
        old = self.arrays.pop(key, None)
        self.bytes += array.nbytes - (old.nbytes if old is not None else 0)
        self.arrays[key] = array
        while self.bytes > self.budget and len(self.arrays) > 1:
            self.bytes -= self.arrays.popitem(last=False)[1].nbytes
        return array


def _envelope(zone: Zone, key: int, n: int, seconds: float, rate: int) -> np.ndarray:
    """Delay, linear attack, hold, decay in dB to the sustain level, and a release in dB after note-off: each
    computed over its own stretch of the n samples only. The hold and decay follow the key where the zone says
    (keynumToVolEnvHold/Decay: a plucked string's high notes die sooner)."""
    delay, attack = _timecents(zone.gen(_DELAY)), _timecents(zone.gen(_ATTACK))
    hold = _timecents(zone.gen(_HOLD) + zone.gen(_KEY_TO_HOLD) * (60 - key))
    decay = max(_timecents(zone.gen(_DECAY) + zone.gen(_KEY_TO_DECAY) * (60 - key)), 1e-3)
    release = max(_timecents(zone.gen(_RELEASE)), 1e-3)
    sustain_db = -np.clip(zone.gen(_SUSTAIN), 0, 1440) / 10.0
    decay_from = _first_after(delay + attack + hold, n, rate)  # the level falls 100 dB per `decay` seconds...
    decay_to = max(decay_from, _first_after(delay + attack + hold - sustain_db * decay / 100.0, n, rate))
    gain = np.ones(n, np.float32)
    if decay_to > decay_from:
        after_hold = np.arange(decay_from, decay_to, dtype=np.float32) / rate - np.float32(delay + attack + hold)
        gain[decay_from:decay_to] = np.exp(np.float32(-5.0 * _LN10 / decay) * after_hold)  # 10**(-5 t/decay)
    gain[decay_to:] = np.float32(10 ** (sustain_db / 20))  # ...until it reaches the sustain level
    attack_to = _first_after(delay + max(attack, 1e-4), n, rate)
    t = np.arange(attack_to, dtype=np.float32) / rate
    gain[:attack_to] *= np.clip((t - np.float32(delay)) / np.float32(max(attack, 1e-4)), 0, 1)
    off = _first_after(seconds, n, rate)
    if off < n:
        at_off = gain[off - 1] if off else np.float32(0.0)
        since = np.arange(off, n, dtype=np.float32) / rate - np.float32(seconds)
        gain[off:] = at_off * np.exp(np.float32(-5.0 * _LN10 / release) * since)
    return gain


def _held(seconds: float) -> float:
    """How long a note is held when rendered: 10 ms steps keep the cache small and inaudibly change nothing."""
    return round(seconds * 100) / 100


def _zone_samples(zone: Zone, held: float, rate: int) -> int:
    """The length of a zone's part of a note held for `held` seconds: the note and its release."""
    return int((held + min(_timecents(zone.gen(_RELEASE)), _MAX_RELEASE_SECONDS)) * rate)


def _first_after(seconds: float, n: int, rate: int) -> int:
    """The first of n samples later than `seconds` (n if none)."""
    return int(min(n, max(0, np.floor(seconds * rate) + 1)))


def _timecents(value: int) -> float:
    return 0.0 if value <= -12000 else float(2.0 ** (value / 1200.0))


def _vorbis_samples(stream: memoryview, name: str, font: Path) -> np.ndarray:
    """An SF3 sample's Ogg Vorbis stream decoded, mono float32 in 16-bit units: by libsndfile's libvorbis, as
    FluidSynth decodes it (the stream was checked to be Ogg first: libsndfile would guess any other format). A
    stream it cannot decode is a UserError naming the `font` (found as a note is played, in a render worker too)."""
    import soundfile

    try:
        decoded, _ = soundfile.read(io.BytesIO(stream), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise UserError(f"a damaged SoundFont 3: its sample {name!r} cannot be decoded "
                        f"({getattr(exc, 'error_string', exc)}); get the font again", font) from None
    return decoded[:, 0] * np.float32(32768)


def _riff_chunks(data: bytes | mmap.mmap) -> dict[bytes, memoryview]:
    """The leaf chunks of an SF2 RIFF file by id (all ids are unique in SF2), as views: no copies of the samples."""
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError("not a SoundFont (.sf2 or .sf3) file")
    chunks: dict[bytes, memoryview] = {}
    view = memoryview(data)

    def walk(start: int, end: int) -> None:
        while start + 8 <= end:
            cid, size = data[start:start + 4], struct.unpack("<I", data[start + 4:start + 8])[0]
            body = start + 8
            if cid == b"LIST":
                walk(body + 4, body + size)
            else:
                chunks[cid] = view[body:body + size]
            start = body + size + (size & 1)

    walk(12, len(data))
    return chunks


def _records(chunk: memoryview, fmt: str) -> list[tuple]:
    return list(struct.iter_unpack(fmt, chunk))


def _generators(chunk: memoryview) -> list[tuple[int, int]]:
    """(operator, amount) records: ranges are two unsigned bytes (kept packed), other amounts signed 16-bit."""
    operators = np.frombuffer(chunk, "<u2")[0::2]
    signed, unsigned = np.frombuffer(chunk, "<i2")[1::2], np.frombuffer(chunk, "<u2")[1::2]
    amounts = np.where(np.isin(operators, _RANGES), unsigned, signed)
    return list(zip(operators.tolist(), amounts.tolist()))


def _split_global(zones: list[tuple[dict[int, int], list]], terminal: int
                  ) -> tuple[tuple[dict[int, int], list], list[tuple[dict[int, int], list]]]:
    """The global zone (the first, where it lacks the `terminal` generator: empty without one) and the others."""
    if zones and terminal not in zones[0][0]:
        return zones[0], [z for z in zones[1:] if terminal in z[0]]
    return ({}, []), [z for z in zones if terminal in z[0]]


def _in_ranges(zone: dict[int, int], global_zone: dict[int, int], key: int, velocity: int) -> bool:
    for operator, value in ((_KEY_RANGE, key), (_VEL_RANGE, velocity)):
        packed = zone.get(operator, global_zone.get(operator, 127 << 8))
        if not (packed & 0xFF) <= value <= (packed >> 8):
            return False
    return True


@lru_cache(maxsize=2)
def load_soundfont(path: Path) -> SoundFont:
    return SoundFont(path)
