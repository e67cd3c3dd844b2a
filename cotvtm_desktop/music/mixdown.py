"""The arrangement's parts mixed into stereo: each part at its level and place, all of them in one room.

A General MIDI soundfont's notes are dry and mostly centred: played as they are, every part sounds from one point
in a box. A player puts a room around them (FluidSynth's reverb is on by default), and whoever mixes a band places
its parts: the bass and the drums in the middle, the chords to one side, the tune to the other, the pad wide. So
here: each part (role) is balanced to its side, and a share of it (its send, scaled by the genre's room) goes to a
reverb whose room the genre chooses (a hall for strings and ambient music, a small room for jazz and rock).

The reverb is a convolution with a room's impulse response synthesised from decaying noise: to the ear, the late
reverberation of a room is noise dying away exponentially, sooner at high frequencies (air and walls absorb them),
and different at each ear (which is what makes it sound wide). A short pre-delay separates the sound from its
reverberation, as the first reflections come from walls metres away. One FFT convolution per segment, in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from cotvtm_desktop.brief import PARTS

ROLE_GAIN = {"melody": 1.0, "chords": 0.55, "bass": 0.8, "pad": 0.35, "drums": 0.7}
STEMS = PARTS  # the parts an export of stems (--stems) writes apart, in this order
ROLE_PAN = {"melody": 0.2, "chords": -0.3, "bass": 0.0, "pad": 0.35, "drums": 0.0}  # -1 left .. 1 right
ROLE_SEND = {"melody": 1.0, "chords": 1.0, "bass": 0.1, "pad": 1.0, "drums": 0.5}  # low end stays dry and clear
PREDELAY_SECONDS = 0.02
LOW_CUT_HZ = 120.0  # the room returns nothing below this: reverberating bass and kick only muddy the low end
# (band's upper edge in Hz, its decay time as a share of the room's): high frequencies die away sooner
DECAY_BANDS = ((1000.0, 1.0), (4000.0, 0.7), (None, 0.4))
_IR_SEED = 20241  # the rooms are the same on every run: same seed, same music


@dataclass(frozen=True)
class Room:
    seconds: float  # RT60 below 1 kHz: how long its reverberation takes there to die away by 60 dB
    wet: float  # the reverb's level against the dry parts, for a part sent at 1


def mixdown(parts: dict[str, np.ndarray], length: int, room: Room | None, rate: int) -> np.ndarray:
    """The parts (role -> (length, 2) float32 audio at its role's gain), each balanced to its side and, unless
    `room` is None (a dry render), sent to the room's reverb; (length, 2) float32."""
    out = np.zeros((length, 2), np.float32)
    send = np.zeros(length, np.float32)
    for role, audio in parts.items():
        out += audio * _balance(ROLE_PAN.get(role, 0.0))
        if room is not None and ROLE_SEND.get(role, 0.0):
            send += audio.mean(axis=1) * np.float32(ROLE_SEND.get(role, 0.0))
    if room is not None and send.any():
        out += reverberate(send, room.seconds, rate) * np.float32(room.wet)
    return out


def stem_mixdown(parts: dict[str, np.ndarray], length: int, room: Room | None, rate: int) -> np.ndarray:
    """As mixdown, each part of STEMS apart with its own share of the room: (length, 2 x len(STEMS)) float32, the
    stem of STEMS[k] in channels 2k and 2k + 1. Summed, they are mixdown's mix (the reverb is linear in its send)."""
    out = np.zeros((length, 2 * len(STEMS)), np.float32)
    for k, role in enumerate(STEMS):
        if role in parts:
            out[:, 2 * k:2 * k + 2] = mixdown({role: parts[role]}, length, room, rate)
    return out


def _balance(pan: float) -> np.ndarray:
    """Gains for (left, right) moving a stereo part towards one side with equal power, 1 at the centre."""
    angle = (pan + 1) * np.pi / 4
    return (np.sqrt(2) * np.array([np.cos(angle), np.sin(angle)])).astype(np.float32)


def reverberate(send: np.ndarray, seconds: float, rate: int) -> np.ndarray:
    """The room's stereo reverberation of the mono `send`, over the send's length: (n, 2) float32 (the tail past
    the end is left out: a segment's audio ends where the next one's begins)."""
    response = impulse_response(seconds, rate)
    size = _fft_size(len(send) + len(response) - 1)
    spectrum = np.fft.rfft(send, size)
    return np.fft.irfft(spectrum[:, None] * _response_spectrum(seconds, rate, size), size, axis=0)[:len(send)]


@lru_cache(maxsize=8)
def _response_spectrum(seconds: float, rate: int, size: int) -> np.ndarray:
    return np.fft.rfft(impulse_response(seconds, rate), size, axis=0)


@lru_cache(maxsize=8)
def impulse_response(seconds: float, rate: int) -> np.ndarray:
    """A room's stereo impulse response, (n, 2) float32, each side of unit energy: the pre-delay, then
    independent noise on each side in bands from LOW_CUT_HZ up, decaying by 60 dB over their share of
    `seconds`."""
    length = int(round(seconds * rate))
    noise = np.random.default_rng(_IR_SEED).standard_normal((length, 2))
    spectrum = np.fft.rfft(noise, axis=0)
    frequencies = np.fft.rfftfreq(length, 1 / rate)
    t = np.arange(length)[:, None] / rate
    response = np.zeros((length, 2))
    low = LOW_CUT_HZ
    for high, share in DECAY_BANDS:
        band = (frequencies >= low) & (frequencies < (high or np.inf))
        decay = 10 ** (-3 * t / (seconds * share))  # -60 dB at the band's decay time
        response += np.fft.irfft(spectrum * band[:, None], length, axis=0) * decay
        low = high or np.inf
    onset = np.minimum(1.0, t / 0.005)  # no click where the reverberation starts
    response = np.concatenate([np.zeros((int(round(PREDELAY_SECONDS * rate)), 2)), response * onset])
    return (response / np.sqrt((response ** 2).sum(axis=0))).astype(np.float32)


def _fft_size(n: int) -> int:
    """The smallest length >= n whose only prime factors are 2, 3 and 5 (numpy's FFT is fast on those)."""
    best = 1 << (n - 1).bit_length()
    fives = 1
    while fives < best:
        threes = fives
        while threes < best:
            size = threes * (1 << max(0, (-(-n // threes) - 1).bit_length()))
            best = min(best, size)
            threes *= 3
        fives *= 5
    return best
