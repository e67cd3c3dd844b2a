"""Scales, diatonic chords and voice leading."""

from __future__ import annotations

import itertools

SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}


def scale_pitches(tonic: int, mode: str, low: int, high: int) -> list[int]:
    steps = SCALES[mode]
    return [p for p in range(low, high + 1) if (p - tonic) % 12 in steps]


def chord_pitch_classes(tonic: int, mode: str, degree: int, seventh: bool = False,
                        dominant_major: bool = False) -> list[int]:
    """Pitch classes of the diatonic triad (or seventh chord) on a 1-based scale degree.

    `dominant_major` raises the third of V in minor (harmonic minor), as cadences want.
    """
    steps = SCALES[mode]
    count = 4 if seventh else 3
    classes = [(tonic + steps[(degree - 1 + 2 * i) % 7]) % 12 for i in range(count)]
    if dominant_major and mode == "minor" and degree == 5:
        classes[1] = (classes[1] + 1) % 12
    return classes


def voicings(classes: list[int], low: int, high: int) -> list[tuple[int, ...]]:
    """Close-position voicings (every inversion, every octave) of the pitch classes within [low, high]."""
    result = []
    for base in range(low, high + 1):
        if base % 12 not in classes:
            continue
        start = classes.index(base % 12)
        chord, pitch = [base], base
        for pc in (classes[(start + i) % len(classes)] for i in range(1, len(classes))):
            pitch += (pc - pitch) % 12 or 12
            chord.append(pitch)
        if chord[-1] <= high:
            result.append(tuple(chord))
    return result


def lead_voices(previous: tuple[int, ...] | None, options: list[tuple[int, ...]], centre: int = 62) -> tuple[int, ...]:
    """The voicing that moves the voices least from the previous chord (or sits nearest `centre` at the start)."""
    if previous is None:
        return min(options, key=lambda v: abs(sum(v) / len(v) - centre))

    def movement(option: tuple[int, ...]) -> int:
        return sum(abs(a - b) for a, b in itertools.zip_longest(previous, option, fillvalue=previous[-1]))

    return min(options, key=movement)
