"""SoundFont modulators (SF2 2.04, sections 8.2, 8.4 and 9.5), worked out as a note starts.

A modulator adds to one of a zone's generators an amount scaled by one or two sources: the note's velocity or key,
or a MIDI controller. Fonts lean on them: MuseScore_General opens its grand piano's filter by velocity (a preset
modulator: velocity to modEnvToFilterFc, 6500 cents at full velocity) and softens notes by its own velocity curve in
place of the default one; GeneralUser GS does the like. The music played here sends no controllers, so every
controller stands where a MIDI channel starts (as FluidSynth sets them: volume 100, pan and balance in the middle,
expression full, the sound controllers 70-79 at 64, the rest at 0; the pitch wheel centred): each modulator's value is
fixed from the note's key and velocity, and adds to its generator once. The curves are FluidSynth's (its concave and
convex tables, sources normalised over 128 steps), and so is its reading of the default velocity-to-filter modulator:
worth nothing (the spec's cut jumps at velocity 64, and fonts built for it sounded muffled; FluidSynth has played it
so since 2008), a font's own alike one too, so that a font sounds as FluidSynth, the reference SF2 player, plays it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ATTENUATION = 48  # the generator the default volume, expression and velocity curves lower (centibels)
_LINK = 0x8000  # a destination that is another modulator (linked modulators: not followed)
_NO_CONTROLLER, _VELOCITY, _KEY, _PITCH_WHEEL, _WHEEL_RANGE = 0, 2, 3, 14, 16
_CONTROLLERS = {7: 100, 8: 64, 10: 64, 11: 127, **{cc: 64 for cc in range(70, 80)}, 100: 127, 101: 127}
_LINEAR, _CONCAVE, _CONVEX, _SWITCH = 0, 1, 2, 3
_ABSOLUTE = 2  # sfModTransOper: the absolute value of the product
_UNPLAYED = (0x0102, 8, 0x0C02)  # the default velocity-to-filter modulator's identity: worth nothing (FluidSynth's)


@dataclass(frozen=True)
class Modulator:
    """One modulator record: its source, destination generator, amount, amount source and transform."""

    source: int
    destination: int
    amount: int
    amount_source: int = 0
    transform: int = 0

    @property
    def identity(self) -> tuple[int, int, int]:
        """What makes two modulators the same one (SF2 2.04, 9.5.1): a zone's replaces a global zone's or a default
        one alike."""
        return self.source, self.destination, self.amount_source

    def value(self, key: int, velocity: int) -> float:
        """What it adds to its generator for a note of `key` at `velocity` (0 without a primary source, and for the
        default velocity-to-filter modulator)."""
        if self.source & 0x7F == _NO_CONTROLLER and not self.source & 0x80 or self.identity == _UNPLAYED:
            return 0.0
        scale = source_value(self.source, key, velocity)
        if self.amount_source & 0x7F != _NO_CONTROLLER or self.amount_source & 0x80:
            scale *= source_value(self.amount_source, key, velocity)
        value = self.amount * scale
        return abs(value) if self.transform == _ABSOLUTE else value


# FluidSynth's default modulators (SF2 2.04, 8.4): velocity to attenuation (concave, 960 cB) and to the filter's
# cutoff (-2400 cents from velocity 64, as FluidSynth has it: _UNPLAYED), channel pressure and the mod wheel to vibrato,
# volume and expression to attenuation, pan, and the reverb and chorus sends. (The pitch wheel's, to a generator no
# font names, is left out: it is centred here.)
DEFAULTS = (Modulator(0x0502, ATTENUATION, 960), Modulator(0x0102, 8, -2400, 0x0C02), Modulator(0x000D, 6, 50),
            Modulator(0x0081, 6, 50), Modulator(0x0587, ATTENUATION, 960), Modulator(0x028A, 17, 500),
            Modulator(0x058B, ATTENUATION, 960), Modulator(0x00DB, 16, 200), Modulator(0x00DD, 15, 200))


def in_effect(instrument_global: list[Modulator], instrument_zone: list[Modulator],
              preset_global: list[Modulator], preset_zone: list[Modulator]) -> list[Modulator]:
    """The modulators a note of an instrument zone under a preset zone has (SF2 2.04, 9.5): the instrument zone's
    own replace its global zone's alike ones, and those replace the alike defaults; the preset's (its zone's over
    its global zone's alike) add to them."""
    instrument = _over(instrument_global, instrument_zone)
    return [*_over(list(DEFAULTS), instrument), *_over(preset_global, preset_zone)]


def _over(under: list[Modulator], over: list[Modulator]) -> list[Modulator]:
    kept = {m.identity for m in over}
    return [*(m for m in under if m.identity not in kept), *over]


def added(modulators: list[Modulator], key: int, velocity: int) -> dict[int, float]:
    """What `modulators` add to each generator they name for a note of `key` at `velocity`."""
    sums: dict[int, float] = {}
    for modulator in modulators:
        if not modulator.destination & _LINK:
            sums[modulator.destination] = sums.get(modulator.destination, 0.0) + modulator.value(key, velocity)
    return sums


def source_value(operator: int, key: int, velocity: int) -> float:
    """A source's value (sfModSrcOper: which controller, its direction, polarity and curve) for this note, with
    every controller where a channel starts."""
    index, shape = operator & 0x7F, operator >> 10
    negative, bipolar = bool(operator & 0x100), bool(operator & 0x200)
    steps = 128.0
    if operator & 0x80:
        raw = _CONTROLLERS.get(index, 0)
    elif index == _VELOCITY:
        raw = velocity
    elif index == _KEY:
        raw = key
    elif index == _PITCH_WHEEL:
        raw, steps = 8192, 16384.0
    elif index == _WHEEL_RANGE:
        raw = 2  # semitones: MIDI's default bend range
    else:  # no controller as an amount source, pressure: at rest
        raw = 0
    x = raw / steps
    if shape == _SWITCH:  # on from the middle up (down, negative); off is -1 when bipolar
        return 1.0 if (x >= 0.5) != negative else (-1.0 if bipolar else 0.0)
    if bipolar:  # each half of the range its curve away from the middle, rising (falling, negative)
        side = 1.0 if (x > 0.5) != negative else -1.0
        return side * _curve(shape, 2 * abs(x - 0.5))
    return _curve(shape, 1.0 - x if negative else x)


def _curve(shape: int, x: float) -> float:
    """A unipolar curve from 0 to 1 over x from 0 to 1: straight, concave or convex (FluidSynth's tables, indexed
    by 127 x as it indexes them)."""
    if shape == _CONCAVE:
        return _concave(int(127 * x))
    if shape == _CONVEX:
        return 1.0 - _concave(127 - int(127 * x)) if int(127 * x) > 0 else 0.0
    return x


def _concave(step: int) -> float:
    """FluidSynth's concave table: 0 at 0, 1 at 127, between them -(400/960) log10((127 - step) / 127), so that
    960 cB of it is the square of step / 127 in amplitude (the default velocity curve)."""
    if step <= 0:
        return 0.0
    if step >= 127:
        return 1.0
    return -(400 / 960) * math.log10((127 - step) / 127)


# the level every note has from the defaults at a channel's start (volume 100: -4.2 dB): the player's levels are
# taken relative to it, so that they stay as they were before modulators were followed
REFERENCE_ATTENUATION = sum(m.value(60, 127) for m in DEFAULTS if m.identity != DEFAULTS[0].identity
                            and m.destination == ATTENUATION)
