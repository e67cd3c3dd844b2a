"""HDR video frames as they would look in SDR, for analysis and pictures.

Phones film HDR by default (iPhones HLG, with Dolby Vision on top; many Android phones HDR10, which is PQ), in
BT.2020 colours. Read as if they were SDR, a PQ frame looks dim and grey (SDR white at 58 % of full scale) and an
HLG frame darker and duller, so the picture's brightness and colour — and the music reasoned from them — would be
wrong.

Here a frame's 16-bit RGB (BT.2020 primaries, HDR transfer) becomes the 8-bit BT.709 RGB an SDR display would show:
1. to display light in nits: PQ by its EOTF (SMPTE ST 2084); HLG by its inverse OETF and the OOTF of a 1000-nit
   display (system gamma 1.2), both as ITU-R BT.2100 defines them;
2. relative to HDR reference white, 203 nits (ITU-R BT.2408), which becomes SDR white: a scene's diffuse white and
   mid-tones keep the level they have in SDR (BT.2408's HLG 75 % and PQ 58 % both land on it);
3. into BT.709 primaries (BT.2087's matrix; colours outside BT.709 clipped);
4. light above 0.75 of SDR white rolled off smoothly by its brightest channel (hue kept), reaching SDR's peak at
   1000 nits (HLG's display peak, and what phones master HDR10 to), everything below as it is;
5. encoded with the inverse of BT.1886's display gamma 2.4.
"""

from __future__ import annotations

import functools

import numpy as np

PQ = 16  # AVCOL_TRC_SMPTE2084: HDR10, HDR10+, Dolby Vision profiles 5 and 8.1
HLG = 18  # AVCOL_TRC_ARIB_STD_B67: iPhones, broadcast HDR, Dolby Vision profile 8.4
HDR_TRANSFERS = (PQ, HLG)

REFERENCE_WHITE_NITS = 203.0  # BT.2408: HDR reference (graphics, diffuse) white
HLG_DISPLAY_PEAK_NITS = 1000.0  # BT.2100's reference display for HLG, whose system gamma is 1.2
PEAK_NITS = 1000.0  # the brightest light kept apart from brighter: HLG's display peak, phones' HDR10 mastering
_KNEE = 0.75  # relative linear light below this is left as it is; above, rolled off towards 1
_BT2020_TO_BT709 = np.array([[1.660491, -0.587641, -0.072850],
                             [-0.124550, 1.132900, -0.008349],
                             [-0.018151, -0.100579, 1.118730]], np.float32)  # BT.2087, linear light
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], np.float32)


def is_hdr(transfer: int) -> bool:
    """Whether a frame's transfer characteristic (`frame.color_trc`) is one of HDR's."""
    return transfer in HDR_TRANSFERS


def name(transfer: int) -> str:
    """"pq", "hlg" or "" (SDR) for a frame's transfer characteristic, as MediaInfo.hdr says it."""
    return {PQ: "pq", HLG: "hlg"}.get(transfer, "")


def ffmpeg_to_sdr() -> str:
    """Much the same conversion as an ffmpeg filter chain (zimg's zscale, FFmpeg's tonemap), for pictures the ffmpeg
    binary renders (an edit's preview): linear light with reference white at 1, BT.709 primaries, highlights above
    0.75 rolled off (mobius, hue kept), BT.709's transfer. Greys come out as to_sdr makes them; zimg applies HLG's
    system gamma to each colour channel rather than to luminance as BT.2100 does, so HLG's strongest colours come out
    a little more saturated. Expects the frames tagged as the source tags them."""
    return (f"zscale=t=linear:npl={REFERENCE_WHITE_NITS:g},format=gbrpf32le,zscale=p=bt709,"
            f"tonemap=mobius:param={_KNEE}:desat=0,zscale=t=bt709:m=bt709:r=tv")


def to_sdr(rgb16: np.ndarray, transfer: int) -> np.ndarray:
    """An RGB array of 16-bit HDR code values (BT.2020 primaries, `transfer` PQ or HLG) as 8-bit SDR BT.709 RGB."""
    light = _signal_to_light(transfer)[rgb16]  # per channel: a table lookup, not a power per value
    if transfer == HLG:  # the OOTF: Lw · Ys^(γ-1) · E, γ = 1.2
        luma = np.maximum(light @ _BT2020_LUMA, 1e-6)[..., None]
        light *= HLG_DISPLAY_PEAK_NITS * luma ** np.float32(0.2)
    relative = np.clip((light / np.float32(REFERENCE_WHITE_NITS)) @ _BT2020_TO_BT709.T, 0.0, None)
    shown = _roll_off(relative)
    return _ENCODE_SQRT[np.round(np.sqrt(np.minimum(shown, 1.0)) * 65535).astype(np.int32)]


@functools.cache
def _signal_to_light(transfer: int) -> np.ndarray:
    """For each 16-bit code value: PQ's display light in nits, or HLG's scene light (0..1, before the OOTF)."""
    signal = np.arange(65536, dtype=np.float64) / 65535
    if transfer == PQ:
        m1, m2 = 2610 / 16384, 2523 / 4096 * 128
        c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
        powered = signal ** (1 / m2)
        light = 10000.0 * (np.maximum(powered - c1, 0.0) / (c2 - c3 * powered)) ** (1 / m1)
    else:  # HLG's inverse OETF
        a = 0.17883277
        b, c = 1 - 4 * a, 0.5 - a * np.log(4 * a)
        light = np.where(signal <= 0.5, signal ** 2 / 3, (np.exp((np.maximum(signal, 0.5) - c) / a) + b) / 12)
    return light.astype(np.float32)


# BT.1886's inverse (gamma 1/2.4) to 8 bits, indexed by the square root of linear light in 16 bits: a square root is
# cheap, and its steps stay finer than one 8-bit level in the darks
_ENCODE_SQRT = np.round(255 * (np.arange(65536) / 65535) ** (2 / 2.4)).astype(np.uint8)


def _roll_off(relative: np.ndarray) -> np.ndarray:
    """Light above _KNEE (1 = SDR white) brought under 1 by an extended Reinhard curve that leaves the knee with
    slope 1 and reaches 1 at PEAK_NITS, brighter still clipped; each pixel scaled by what its brightest channel
    gets, so its hue stays."""
    peak = np.maximum(np.maximum(relative[..., 0], relative[..., 1]), relative[..., 2])  # 20x max(axis=-1)'s speed
    over = np.maximum(peak - _KNEE, 0.0) / (1 - _KNEE)
    top = (PEAK_NITS / REFERENCE_WHITE_NITS - _KNEE) / (1 - _KNEE)
    rolled = _KNEE + (1 - _KNEE) * np.minimum(over * (1 + over / top ** 2) / (1 + over), 1.0)
    relative *= np.where(peak > _KNEE, rolled / np.maximum(peak, 1e-6), 1.0)[..., None]
    return relative
