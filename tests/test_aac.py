"""The soundtrack's AAC, encoded in chunks on every core and spliced: exact length, aligned, no clicks at joins."""

import numpy as np
import pytest

from cotvtm_desktop import config
from cotvtm_desktop.media import aac, mux
from media import decode_audio

RATE = 48000


def music_like(seconds: float, seed: int = 0) -> np.ndarray:
    """Chords that change every 0.7 s, plucked notes and noise bursts (the transients that make window switching
    and rate control work), in stereo."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros((len(t), 2), np.float32)
    for start in np.arange(0, seconds, 0.7):
        span = (t >= start) & (t < start + 1.2)
        local = t[span] - start
        envelope = np.exp(-3 * local)
        for frequency in rng.choice([110, 147, 196, 220, 262, 330, 392, 440, 523, 660, 880], 3):
            out[span, 0] += 0.08 * envelope * np.sin(2 * np.pi * frequency * local)
            out[span, 1] += 0.08 * envelope * np.sin(2 * np.pi * frequency * 1.003 * local)
        burst = span & (t < start + 0.03)
        out[burst] += rng.normal(0, 0.2, (burst.sum(), 2))
    return out


def encoded(audio: np.ndarray, path) -> np.ndarray:
    read = lambda start, stop: (audio[i:min(i + 40000, stop)] for i in range(start, stop, 40000))  # noqa: E731
    mux.write_m4a(aac.encode_aac(read, len(audio), RATE), path)
    return decode_audio(path)


def frame_snr(source: np.ndarray, decoded: np.ndarray) -> np.ndarray:
    """SNR in dB of each 1024-sample frame of the decoded audio."""
    n = len(source) // aac.FRAME * aac.FRAME
    signal = (source[:n] ** 2).reshape(-1, aac.FRAME * 2).sum(1)
    error = ((source[:n] - decoded[:n]) ** 2).reshape(-1, aac.FRAME * 2).sum(1)
    return 10 * np.log10(signal / (error + 1e-20))


def worst_join_and_median(source: np.ndarray, decoded: np.ndarray) -> tuple[float, float]:
    """(lowest SNR of the frames on either side of each join, median SNR of all frames)."""
    snr = frame_snr(source, decoded)
    joins = [start // aac.FRAME for start, _ in aac.chunk_bounds(len(source), RATE)[1:]]
    return min(snr[j + k] for j in joins for k in (-1, 0, 1)), float(np.median(snr))


def test_chunks_lie_on_the_frame_grid_and_cover_the_soundtrack():
    for total in (1, 1000, 30 * RATE, 45 * RATE + 17, 600 * RATE + 5):
        bounds = aac.chunk_bounds(total, RATE)
        assert bounds[0][0] == 0 and bounds[-1][1] == total
        assert all(stop == next_start for (_, stop), (next_start, _) in zip(bounds, bounds[1:]))
        assert all(start % aac.FRAME == 0 for start, _ in bounds)
        if len(bounds) > 1:
            assert bounds[-1][1] - bounds[-1][0] >= config.AAC_CHUNK_SECONDS * RATE / 2


def test_spliced_chunks_decode_aligned_and_whole_without_clicks(tmp_path):
    source = music_like(75.3)
    decoded = encoded(source, tmp_path / "a.m4a")
    assert len(aac.chunk_bounds(len(source), RATE)) == 3
    # the priming frame is skipped (the edit list); decoders pad the last frame to 1024 samples
    assert len(source) <= len(decoded) < len(source) + aac.FRAME
    decoded = decoded[:len(source)]
    worst_join, median = worst_join_and_median(source, decoded)
    assert median > 35  # aligned to the sample: one sample off would leave 880 Hz at under 20 dB
    assert worst_join > 25  # the codec's error, far under the music (a click is an error near its level)


def test_without_pre_and_post_roll_the_joins_would_click(tmp_path, monkeypatch):
    """The check above can fail: chunks encoded from their join alone leave a click there (near 3 dB SNR)."""
    monkeypatch.setattr(aac, "_PREROLL_FRAMES", 0)
    monkeypatch.setattr(aac, "_POSTROLL_FRAMES", 0)
    source = music_like(65.0, seed=1)
    worst_join, median = worst_join_and_median(source, encoded(source, tmp_path / "a.m4a")[:len(source)])
    assert worst_join < 10 < 35 < median


def test_output_does_not_depend_on_the_number_of_cores(tmp_path, monkeypatch):
    source = music_like(65.0, seed=2)
    read = lambda start, stop: [source[start:stop]]  # noqa: E731
    packets = {}
    for cores in (1, 3):
        monkeypatch.setattr(aac.os, "cpu_count", lambda cores=cores: cores)
        packets[cores] = [(p.pts, bytes(p)) for p in aac.encode_aac(read, len(source), RATE)]
    assert packets[1] == packets[3]


def test_a_reader_error_stops_the_encoding(tmp_path):
    def failing(start, stop):
        if start > 0:
            raise OSError("disk gone")
        yield np.zeros((stop - start, 2), np.float32)

    with pytest.raises(OSError, match="disk gone"):
        list(aac.encode_aac(failing, 70 * RATE, RATE))


def test_a_damaged_video_gives_one_message_naming_the_output(tmp_path):
    from cotvtm_desktop.errors import UserError

    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    out = tmp_path / "out.mp4"
    packets = aac.encode_aac(lambda start, stop: [np.zeros((stop - start, 2), np.float32)], RATE, RATE)
    with pytest.raises(UserError, match="writing the output failed") as caught:
        mux._write_mp4(out, packets, mux.Track(damaged, 0))
    assert caught.value.path == out
