import numpy as np
import pyloudnorm
import pytest

from cotvtm_desktop.media.audio import (LoudnessMeter, SidechainMeter, equal_power_fades, plan_ducking, premix,
                                        stitch, true_peak_db, true_peak_limit)
from cotvtm_desktop.media import biquads
from cotvtm_desktop.media.segments import plan_segments
from media import BS1770_K_WEIGHTING_48K, bs1770_loudness

RATE = 8000


def tone(seconds, frequency=440.0, level=0.3, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    mono = (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.stack([mono, mono], axis=1)


def test_equal_power_fades_keep_power():
    fade_in, fade_out = equal_power_fades(1000)
    assert np.allclose(fade_in ** 2 + fade_out ** 2, 1.0, atol=1e-6)


def test_stitch_is_exact_length_and_crossfades_on_boundaries():
    segments = plan_segments(25.0)  # 0-10, 10-25
    padding = 0.25
    pieces = [tone(s.duration + 2 * padding, level=0.5) for s in segments]
    out = np.concatenate(list(stitch(pieces, segments, RATE, padding, 25.0, fade_in=0.0, fade_out=0.0)))
    assert out.shape == (25 * RATE, 2)
    # two copies of the same tone, phase-aligned, cross-faded with equal power: the level at the boundary rises by
    # at most sqrt(2) and never dips
    around = np.abs(out[int(9.6 * RATE):int(10.4 * RATE), 0])
    window = RATE // 100
    peaks = np.lib.stride_tricks.sliding_window_view(around, window).max(axis=1)
    assert peaks.min() > 0.45 and peaks.max() < 0.5 * np.sqrt(2) + 0.01


def amplitude(audio, frequency, start, seconds=0.05, rate=48000):
    """The amplitude of a sine at `frequency` in `seconds` of `audio` from `start` s (a lock-in: the window holds
    whole cycles of the tones used here)."""
    x = audio[int(start * rate):int((start + seconds) * rate), 0]
    t = np.arange(len(x)) / rate + start
    return float(2 * abs(np.mean(x * np.exp(-2j * np.pi * frequency * t))))


@pytest.mark.parametrize("sharp_starts", [False, True])
def test_a_segment_that_starts_on_its_downbeat_comes_in_whole(sharp_starts):
    """Procedural segments begin from silence at their start: the next one comes in at full level on the boundary
    (a downbeat on a cut), the one before rings out under it; MusicGen's audio, sounding through the lead-in, cross-
    fades with equal power."""
    segments, padding, rate = plan_segments(20.0), 0.25, 48000  # 0-10, 10-20
    pad = int(padding * rate)
    first, second = tone(10.5, 440, 0.3, rate), tone(10.5, 660, 0.3, rate)
    if sharp_starts:
        second[:pad] = 0  # the lead-in before the downbeat is silent
    out = np.concatenate(list(stitch([first, second], segments, rate, padding, 20.0, 0.0, 0.0, sharp_starts)))
    if sharp_starts:
        assert amplitude(out, 660, 10.0) == pytest.approx(0.3, rel=0.01)  # whole from the boundary on
        assert amplitude(out, 440, 9.9) == pytest.approx(0.3, rel=0.01)  # the last one whole until it...
        assert amplitude(out, 440, 10.25) < 0.003  # ...has rung out
    else:
        assert 0.2 < amplitude(out, 660, 10.0) < 0.27  # still coming in
        assert amplitude(out, 440, 9.9) < 0.29


def test_a_segment_rings_out_under_the_next_for_as_long_as_its_audio_lasts():
    """A procedural segment's audio runs on past its end (its release and its room's reverberation): it sounds on
    under the next one, fading as it goes, to its last sample, and no further."""
    segments, padding, rate = plan_segments(20.0), 0.25, 48000  # 0-10, 10-20
    first = tone(12.0, 440, 0.3, rate)  # 0.25 s of lead-in, 10 s, 1.75 s of ring-out
    second = tone(10.5, 660, 0.3, rate)
    second[:int(padding * rate)] = 0
    out = np.concatenate(list(stitch([first, second], segments, rate, padding, 20.0, 0.0, 0.0, True)))
    assert out.shape == (20 * rate, 2)
    assert amplitude(out, 440, 9.9) == pytest.approx(0.3, rel=0.01)
    assert 0.25 < amplitude(out, 440, 10.3) < 0.3 and 0.05 < amplitude(out, 440, 11.3) < 0.2  # fading...
    assert amplitude(out, 440, 11.8) < 0.003  # ...gone where its audio ends
    assert amplitude(out, 660, 10.0) == pytest.approx(0.3, rel=0.01)  # the next one whole from its downbeat


@pytest.mark.parametrize("sharp_starts", [False, True])
def test_the_music_stops_for_a_silent_segment_as_it_stops_at_the_end(sharp_starts):
    """Segment 2 of 3 is to have no music: the music fades out to its start as it does at the video's end (the
    ring-out and the cross-fade region fall silent with it), and fades in again at its end as at the start."""
    segments, padding, rate = plan_segments(30.0), 0.25, 48000  # 0-10, 10-20, 20-30
    pieces = [tone(10.5, 440, 0.3, rate), np.zeros((int(10.5 * rate), 2), np.float32), tone(10.5, 660, 0.3, rate)]
    out = np.concatenate(list(stitch(pieces, segments, rate, padding, 30.0, 0.3, 2.0, sharp_starts, silent={1})))
    assert out.shape == (30 * rate, 2)
    assert amplitude(out, 440, 7.5) == pytest.approx(0.3, rel=0.01)  # whole until the fade-out...
    assert 0.1 < amplitude(out, 440, 9.0) < 0.25  # ...half-way down a second before the silence...
    assert np.abs(out[10 * rate:20 * rate]).max() == 0  # ...and nothing of it, nor of the next, in the silence
    assert 0.05 < amplitude(out, 660, 20.1) < 0.25 and amplitude(out, 660, 20.4) == pytest.approx(0.3, rel=0.01)
    assert 0.05 < amplitude(out, 660, 29.0) < 0.25  # the video's own end fades as before
    unsilenced = np.concatenate(list(stitch(pieces[:1] + pieces[:1] + pieces[2:], segments, rate, padding, 30.0,
                                            0.3, 2.0, sharp_starts)))
    assert np.array_equal(out[:7 * rate], unsilenced[:7 * rate])  # nothing else changes
    assert np.array_equal(out[21 * rate:], unsilenced[21 * rate:])


def test_stitch_fades_the_ends_and_pads_short_audio():
    segments = plan_segments(6.0)
    out = np.concatenate(list(stitch([tone(3.0)], segments, RATE, 0.0, 6.0, fade_in=0.5, fade_out=1.0)))
    assert out.shape == (6 * RATE, 2)
    assert np.abs(out[:40]).max() < 0.02  # fades in
    assert np.abs(out[3 * RATE + 10:]).max() == 0  # silence after the music ends


def test_biquads_run_in_blocks_as_scipy_runs_the_whole_signal():
    from scipy import signal

    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.3, (3, 48000 * 2)).astype(np.float32)
    sections = [biquads.butterworth_low_pass(700.0, 48000), *biquads.k_weighting(48000)]
    sos = np.array([[b0, b1, b2, 1.0, a1, a2] for b0, b1, b2, a1, a2 in sections])
    assert np.allclose(sos[0], signal.butter(2, 700.0 / 24000, output="sos")[0], rtol=0, atol=1e-14)
    chain = biquads.BiquadChain(sections, 48000, 3)
    blocks = [chain(x[:, start:start + 7919]) for start in range(0, x.shape[1], 7919)]  # state carries over
    expected = signal.sosfilt(sos, x.astype(np.float64), axis=-1)
    assert np.abs(np.concatenate(blocks, axis=1) - expected).max() < 1e-4 * np.abs(expected).max()
    assert np.allclose(biquads.filtered(x[0], sections[:1], 48000), signal.sosfilt(sos[:1], x[0].astype(float)),
                       atol=1e-5)


def test_a_resonant_low_pass_peaks_at_its_cutoff_by_its_quality():
    """At q = 1/√2 the Butterworth itself; at higher q its response at the cutoff stands 20 log10(q √2) dB over the
    Butterworth's (6 dB at q = √2), its passband at `gain`."""
    from scipy import signal

    assert biquads.resonant_low_pass(1000.0, 48000, 0.5 ** 0.5) == biquads.butterworth_low_pass(1000.0, 48000)

    def at(section: biquads.Section, hz: float) -> float:
        b0, b1, b2, a1, a2 = section
        return float(abs(signal.freqz([b0, b1, b2], [1.0, a1, a2], worN=[hz], fs=48000)[1][0]))

    for q in (1.0, 2 ** 0.5, 4.0):
        peak = 20 * np.log10(at(biquads.resonant_low_pass(1000.0, 48000, q), 1000.0)
                             / at(biquads.butterworth_low_pass(1000.0, 48000), 1000.0))
        assert peak == pytest.approx(20 * np.log10(q * 2 ** 0.5), abs=1e-6)
    assert at(biquads.resonant_low_pass(1000.0, 48000, 2.0, 0.5), 10.0) == pytest.approx(0.5, abs=1e-4)


def test_a_filtered_signal_starts_the_same_whatever_its_length():
    """Bit for bit, odd lengths included (FFmpeg's biquad computes an odd block's last sample in another order)."""
    x = np.random.default_rng(0).normal(0, 0.3, 20001).astype(np.float32)
    for cutoff in (700.0, 2000.0, 8000.0):
        section = [biquads.butterworth_low_pass(cutoff, 48000)]
        whole = biquads.filtered(x, section, 48000)
        for n in (101, 1001, 12345, 12346, 19999, 20001):
            assert np.array_equal(biquads.filtered(x[:n], section, 48000), whole[:n]), (cutoff, n)


def test_a_filter_retuned_as_it_goes_keeps_its_state_across_each_change():
    """filtered_varying = scipy running each stretch with its own coefficients from the state the last one left,
    and a shorter signal is the start of a longer one, bit for bit."""
    from scipy import signal

    x = np.random.default_rng(5).normal(0, 0.3, 9001).astype(np.float32)
    steps = [(0, biquads.butterworth_low_pass(3000.0, 48000)), (1000, biquads.butterworth_low_pass(1500.0, 48000)),
             (1064, biquads.butterworth_low_pass(400.0, 48000)), (6000, biquads.butterworth_low_pass(900.0, 48000))]
    ends = [first for first, _ in steps[1:]] + [len(x)]
    expected = np.zeros(0)
    for (first, (b0, b1, b2, a1, a2)), end in zip(steps, ends):
        state = np.zeros((1, 2))
        if first:  # the same past inputs and outputs (direct form I), seen through the new coefficients
            past_in, past_out = x[first - 2:first].astype(float), expected[-2:]
            state[0] = (b1 * past_in[1] + b2 * past_in[0] - a1 * past_out[1] - a2 * past_out[0],
                        b2 * past_in[1] - a2 * past_out[1])
        piece, _ = signal.sosfilt([[b0, b1, b2, 1.0, a1, a2]], x[first:end].astype(float), zi=state)
        expected = np.concatenate([expected, piece])
    varying = biquads.filtered_varying(x, steps, 48000)
    assert np.abs(varying - expected).max() < 1e-5
    for n in (999, 1001, 1063, 4000, 6001):
        assert np.array_equal(biquads.filtered_varying(x[:n], steps, 48000), varying[:n]), n
    single = [(0, biquads.butterworth_low_pass(700.0, 48000))]
    assert np.array_equal(biquads.filtered_varying(x, single, 48000), biquads.filtered(x, [single[0][1]], 48000))


def test_k_weighting_is_the_standards_at_48k_and_scales_to_other_rates():
    for (b, a), section in zip(BS1770_K_WEIGHTING_48K, biquads.k_weighting(48000)):
        assert np.allclose(section, [*b, *a[1:]], rtol=0, atol=1e-13)
    # at 44.1 kHz (libebur128's design, as pyloudnorm's approximation) the response still is K-weighting's
    frequencies = np.array([20.0, 38.0, 100.0, 1000.0, 4000.0, 15000.0])
    for rate in (44100, 48000):
        gain = np.ones(len(frequencies), complex)
        for b0, b1, b2, a1, a2 in biquads.k_weighting(rate):
            z = np.exp(-2j * np.pi * frequencies / rate)
            gain *= (b0 + b1 * z + b2 * z ** 2) / (1 + a1 * z + a2 * z ** 2)
        reference = np.ones(len(frequencies), complex)
        for stage in pyloudnorm.Meter(rate)._filters.values():
            z = np.exp(-2j * np.pi * frequencies / rate)
            reference *= np.polyval(stage.b[::-1], z) / np.polyval(stage.a[::-1], z)
        assert np.allclose(20 * np.log10(np.abs(gain)), 20 * np.log10(np.abs(reference)), atol=0.15)


def test_reference_loudness_reads_the_ebu_test_signal_and_agrees_with_pyloudnorm():
    sine = tone(20, 1000, 10 ** (-23 / 20), 48000)  # EBU Tech 3341, case 1: stereo 1 kHz at -23 dBFS
    assert bs1770_loudness(sine) == pytest.approx(-23.0, abs=0.1)
    noise = np.random.default_rng(3).normal(0, 0.05, (48000 * 5, 2))
    assert bs1770_loudness(noise) == pytest.approx(pyloudnorm.Meter(48000).integrated_loudness(noise), abs=0.1)


def test_streaming_meter_matches_the_standard():
    rng = np.random.default_rng(0)
    audio = np.concatenate([tone(4, 220, 0.2, 48000), (rng.normal(0, 0.05, (48000 * 3, 2))).astype(np.float32),
                            tone(5, 1000, 0.02, 48000)])
    meter = LoudnessMeter(48000)
    for start in range(0, len(audio), 31337):  # odd block sizes on purpose
        meter.feed(audio[start:start + 31337])
    assert meter.integrated() == pytest.approx(bs1770_loudness(audio), abs=0.005)


def test_meter_gives_the_loudness_of_any_mix_of_its_streams():
    rng = np.random.default_rng(1)
    music = np.concatenate([tone(3, 220, 0.3, 48000), rng.normal(0, 0.1, (48000 * 3, 2)).astype(np.float32)])
    speech = 0.7 * music + np.concatenate([tone(2, 3000, 0.05, 48000), np.zeros((48000 * 4, 2), np.float32)])
    meter = LoudnessMeter(48000, streams=2)
    for start in range(0, len(music), 31337):
        meter.feed(music[start:start + 31337], speech[start:start + 31337])
    for weights in [(1.0, 0.0), (0.0, 1.0), (0.3, 1.0), (-1.0, 1.2)]:  # correlated: the cross term matters
        mix = weights[0] * music + weights[1] * speech
        assert meter.integrated(*weights) == pytest.approx(bs1770_loudness(mix), abs=0.005)


def noise(seconds, level_db, rate=48000, seed=0, below_hz=None):
    """White noise (or, `below_hz`, a rumble like wind's) at `level_db` dBFS RMS."""
    rng = np.random.default_rng(seed)
    mono = rng.standard_normal(int(seconds * rate))
    if below_hz:
        spectrum = np.fft.rfft(mono)
        spectrum[np.fft.rfftfreq(len(mono), 1 / rate) > below_hz] = 0
        mono = np.fft.irfft(spectrum, len(mono))
    mono *= 10 ** (level_db / 20) / np.sqrt((mono ** 2).mean())
    return np.stack([mono, mono], axis=1).astype(np.float32)


def voice(seconds, level_db, start, stop, rate=48000):
    """A voice-like sound from `start` to `stop` s: a gliding 150 Hz buzz whose harmonics are loudest near the
    formants (600 and 1500 Hz), in syllables four times a second."""
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(150 + 30 * np.sin(2 * np.pi * 0.7 * t)) / rate
    formants = lambda f: 1 + 4 * np.exp(-((f - 600) / 250) ** 2) + 2 * np.exp(-((f - 1500) / 400) ** 2)  # noqa: E731
    mono = sum(np.sin(k * phase) * formants(150 * k) / k for k in range(1, 24))
    mono *= np.clip(np.sin(2 * np.pi * 4 * t), 0, 1) ** 2
    talking = (t >= start) & (t < stop)
    mono *= talking * 10 ** (level_db / 20) / np.sqrt((mono[talking] ** 2).mean())
    return np.stack([mono, mono], axis=1).astype(np.float32)


def swelling(audio, depth_db, period, rate=48000):
    """`audio` swelling by up to `depth_db` and back every `period` seconds, as waves or gusts do."""
    t = np.arange(len(audio)) / rate
    return audio * (10 ** (depth_db / 20 * np.clip(np.sin(2 * np.pi * t / period), 0, 1) ** 3))[:, None]


def ducking_of(original, depth_db=12.0, rate=48000, sound_changes=()):
    meter = SidechainMeter(rate)
    for start in range(0, len(original), rate * 10):
        meter.feed(original[start:start + rate * 10])
    return plan_ducking(*meter.levels(), depth_db, meter.hop / rate, sound_changes)


def test_a_cut_to_a_louder_place_is_not_a_foreground_but_a_voice_there_is():
    """A cut from a quiet room to a street: the street's noise is its background, not something to dip under."""
    room_then_street = np.concatenate([noise(6, -55, seed=8), noise(12, -25, seed=9)])
    hop = 0.02
    unaware = ducking_of(room_then_street)
    assert unaware.reduction[int(6.2 / hop):int(7.5 / hop)].max() > 6  # measured across the cut, it looks like one
    ducking = ducking_of(room_then_street, sound_changes=[6.0])
    assert ducking.reduction.max() < 1
    talking = ducking_of(room_then_street + voice(18, -14, 12, 15), sound_changes=[6.0])
    assert talking.reduction[int(12.5 / hop):int(14.5 / hop)].min() > 11


def test_the_music_dips_under_a_voice_from_just_before_it_to_just_after_without_pumping():
    original = noise(10, -45) + voice(10, -22, 3.0, 6.0)
    ducking = ducking_of(original)
    reduction = ducking.reduction
    at = lambda seconds: int(round(seconds / ducking.hop_seconds))  # noqa: E731
    assert reduction[:at(2.5)].max() < 0.5  # the room alone: no dip
    assert reduction[at(2.95)] > 3  # already going down as the first syllable starts
    assert reduction[at(3.3):at(5.9)].min() > 11  # down through the gaps between syllables, no pumping
    assert reduction[at(8.0):].max() < 1  # and back up after (released over a second or so)
    assert ducking.foreground[at(3.5):at(5.5)].all() and not ducking.foreground[:at(2.5)].any()


@pytest.mark.parametrize("background,voice_db", [("waves", -14.0), ("wind", -24.0)])
def test_steady_or_rumbling_sound_never_dips_the_music_but_a_voice_over_it_does(background, voice_db):
    if background == "waves":  # broadband, loud, swelling by 4 dB every 8 s
        sound = swelling(noise(24, -22), 4, 8)
    else:  # rumble under 150 Hz, loud, gusting by 6 dB; a voice over it may be quieter than it
        sound = swelling(noise(24, -18, below_hz=150), 6, 6)
    assert ducking_of(sound).reduction.max() < 1
    ducking = ducking_of(sound + voice(24, voice_db, 10, 16))
    assert ducking.reduction[int(10.5 / ducking.hop_seconds):int(15.5 / ducking.hop_seconds)].min() > 11
    assert ducking.reduction[:int(9.5 / ducking.hop_seconds)].max() < 1


class SoundOf:
    """OriginalAudio's interface over an array."""

    def __init__(self, audio):
        self.audio, self.pos = audio, 0

    def read(self, n):
        block = self.audio[self.pos:self.pos + n]
        self.pos += n
        return np.pad(block, ((0, n - len(block)), (0, 0)))


def stems(music, original, folder, music_db=0.0):
    """The mastered mix, and the music and the original as they sit in it."""
    report, soundtrack = premix(iter([music]), SoundOf(original), folder, 12.0, 48000).master(-16.0,
                                                                                             music_db=music_db)
    mixed = np.concatenate(list(soundtrack.blocks()))
    music_part = mixed - original * np.float32(soundtrack.original_gain)
    soundtrack.remove()
    return report, mixed, music_part, original * np.float32(soundtrack.original_gain)


def loudness(audio, start, stop, rate=48000):
    return pyloudnorm.Meter(rate).integrated_loudness(audio[int(start * rate):int(stop * rate)])


@pytest.mark.parametrize("voice_db", [-16.0, -32.0])  # a close voice, a quiet phone's
def test_the_music_sits_well_under_a_voice_and_level_with_it_between(tmp_path, voice_db):
    music = noise(20, -20, seed=3) * 0.5 + tone(20, 220, 0.05, 48000)
    original = noise(20, -55, seed=4) + voice(20, voice_db, 6.0, 12.0)
    report, mixed, music_part, original_part = stems(music, original, tmp_path)
    assert loudness(mixed, 0, 20) == pytest.approx(-16.0, abs=0.3)  # the dips' gains enter the one-pass measure
    under = loudness(original_part, 7, 11) - loudness(music_part, 7, 11)
    assert 13 < under < 17  # 3 LU under the voice's loudness, dipped 12 dB more while it speaks
    between = loudness(original_part, 7, 11) - loudness(music_part, 14, 19)
    assert 1 < between < 5
    assert report["music_placed"].startswith("3 LU under the original's foreground")
    assert report["music_dipped_seconds"] == pytest.approx(6 + 0.12 + 0.4 + 0.7, abs=0.3)  # ahead, hold, release


@pytest.mark.parametrize("music_db", [0.0, 6.0, -10.0])  # as the mix places it, or louder or quieter as asked
def test_music_over_a_background_only_original_sits_over_it_undipped(tmp_path, music_db):
    music = noise(20, -20, seed=3) * 0.5 + tone(20, 220, 0.05, 48000)
    original = swelling(noise(20, -24, seed=4), 3, 8)
    report, mixed, music_part, original_part = stems(music, original, tmp_path, music_db)
    assert loudness(music_part, 0, 20) - loudness(original_part, 0, 20) == pytest.approx(8.0 + music_db, abs=0.5)
    assert loudness(mixed, 0, 20) == pytest.approx(-16.0, abs=0.3)
    assert report["music_dipped_seconds"] == 0 and report["music_placed"].startswith("8 LU over")
    assert report["music_level_db"] == music_db
    assert ("as asked" in report["music_placed"]) == bool(music_db)


def test_limiter_holds_the_true_peak():
    hot = tone(2.0, 997, 1.4, 48000)
    limited = true_peak_limit(hot, -1.0, 48000)
    assert true_peak_db(limited) <= -1.0
    quiet = tone(2.0, 997, 0.2, 48000)
    assert np.array_equal(true_peak_limit(quiet, -1.0, 48000), quiet)


class FakeOriginal:
    """OriginalAudio's interface over a 3 kHz tone of `seconds`."""

    def __init__(self, seconds=12):
        self.audio = tone(seconds, 3000, 0.1, 48000)
        self.pos = 0

    def read(self, n):
        block = self.audio[self.pos:self.pos + n]
        self.pos += n
        return np.pad(block, ((0, n - len(block)), (0, 0)))


def master(music, original, folder):
    """The mastered soundtrack of 12 s of music blocks and an original audio (or None), as a job makes it."""
    return premix(iter(music), original, folder, 12.0, 48000).master(-16.0)


def test_master_reaches_target_with_original_kept(tmp_path):
    music = [tone(6, 440, 0.05, 48000), tone(6, 440, 0.05, 48000)]
    report, soundtrack = master(music, FakeOriginal(), tmp_path)
    mixed = np.concatenate(list(soundtrack.blocks()))
    # any range reads exactly as the whole pass does (the limiter works on a fixed grid of blocks)
    for start, stop in [(0, 1000), (479_000, 481_000), (123_456, 12 * 48000)]:
        assert np.array_equal(np.concatenate(list(soundtrack.blocks(start, stop))), mixed[start:stop])
    soundtrack.remove()
    assert mixed.shape == (12 * 48000, 2)
    assert pyloudnorm.Meter(48000).integrated_loudness(mixed) == pytest.approx(-16.0, abs=0.5)
    assert true_peak_db(mixed) <= -1.0
    assert report["music_lufs"] < -20
    assert list(tmp_path.iterdir()) == []


def test_music_with_a_dc_offset_still_reaches_the_target(tmp_path):
    """A neural decoder with odd weights can put out a DC offset: it goes before mixing, or the limiter would spend
    the headroom on it and leave the mix quiet."""
    music = noise(12, -30, seed=6) + np.float32(0.4)
    report, mixed, _, _ = stems(music, swelling(noise(12, -30, seed=7), 3, 6), tmp_path)
    assert bs1770_loudness(mixed) == pytest.approx(-16.0, abs=0.3)
    assert abs(mixed[48000:].mean()) < 1e-3


def test_one_pass_mix_equals_mixing_then_measuring(tmp_path):
    """The premix measures once and derives the dips and both gains; applying them and measuring the mix agrees."""
    rng = np.random.default_rng(2)
    music = rng.normal(0, 0.05, (12 * 48000, 2)).astype(np.float32)
    original = noise(12, -50, seed=5) + voice(12, -20, 4.0, 8.0)
    report, mixed, music_part, original_part = stems(music, original, tmp_path)
    dips = ducking_of(original).gains()
    from cotvtm_desktop import config

    high_passed = biquads.BiquadChain([biquads.butterworth_high_pass(config.MUSIC_HIGHPASS_HZ, 48000)], 48000,
                                      2)(music.T).T  # what lies below hearing goes first
    dipped = high_passed * np.repeat(dips, 960)[:len(music), None]
    # the mix is the dipped music at one gain plus the original at another (but where the limiter holds a peak),
    # and it measures the target
    ratio = music_part / np.where(np.abs(dipped) > 1e-3, dipped, np.nan)
    ratio = ratio[~np.isnan(ratio)]
    assert np.mean(np.abs(ratio - np.median(ratio)) < 1e-3 * np.median(ratio)) > 0.99
    assert bs1770_loudness(mixed) == pytest.approx(-16.0, abs=0.1)


@pytest.mark.parametrize("seconds", [7, 40])
def test_original_audio_shorter_or_longer_than_the_music(tmp_path, seconds):
    from media import tone_level

    music = [tone(6, 440, 0.05, 48000), tone(6, 440, 0.05, 48000)]
    _, soundtrack = master(music, FakeOriginal(seconds), tmp_path)
    mixed = np.concatenate(list(soundtrack.blocks()))
    soundtrack.remove()
    assert mixed.shape == (12 * 48000, 2)  # the music's length whatever the original's
    assert tone_level(mixed[:6 * 48000], 3000) > 40
    assert (tone_level(mixed[8 * 48000:], 3000) > 40) == (seconds > 12)  # silence after a short original
    assert list(tmp_path.iterdir()) == []


def test_original_audio_is_aligned_to_the_picture(tmp_path):
    from cotvtm_desktop.media.audio import OriginalAudio
    from cotvtm_desktop.media.probe import probe
    from media import ffmpeg

    path = tmp_path / "late-sound.mp4"  # the sound starts 1 s after the first frame
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-itsoffset", "1", "-f", "lavfi", "-i",
           "sine=frequency=440:sample_rate=48000", "-t", "4", "-c:v", "libx264", "-c:a", "aac", str(path))
    info = probe(path)
    original = OriginalAudio(path, info.start_time, 48000)
    blocks = [original.read(12000) for _ in range(16)]  # 4 s in odd-sized reads
    original.close()
    audio = np.concatenate(blocks)[:, 0]
    level = np.array([np.sqrt((audio[i:i + 4800] ** 2).mean()) for i in range(0, len(audio), 4800)])
    onset = np.argmax(level > 0.05) * 0.1
    assert onset == pytest.approx(1.0, abs=0.15)
    assert len(audio) == 4 * 48000


@pytest.mark.parametrize("rate,channels", [(48000, 2), (44100, 1)])
def test_original_audio_reads_what_ffmpeg_decodes(tmp_path, rate, channels):
    """AAC stereo at the output rate is taken as decoded; anything else goes through the resampler."""
    import av

    from cotvtm_desktop.media.audio import OriginalAudio
    from media import ffmpeg

    path = tmp_path / "sound.m4a"
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={rate}", "-ac", str(channels), "-t", "3",
           "-c:a", "aac", str(path))
    original = OriginalAudio(path, 0.0, 48000)
    ours = np.concatenate([original.read(10000) for _ in range(15)])
    original.close()
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=48000)
        frames = [f for frame in container.decode(audio=0) for f in resampler.resample(frame)]
        frames += resampler.resample(None)
        reference = np.concatenate([f.to_ndarray().reshape(-1, 2) for f in frames])
    n = min(len(reference), len(ours))
    assert n > 2.9 * 48000
    assert np.allclose(ours[:n], reference[:n], atol=1e-6)


def test_timeline_sound_puts_each_clips_sound_where_its_picture_is(tmp_path):
    """A click at 2.5 s of a.mp4 and at 1.2 s of b.mov (44.1 kHz mono), in a timeline that starts a.mp4 at 2 s, then
    a 1 s gap, then b.mov from 1 s: the clicks sound at 0.5 s and 2 + 1 + 0.2 = 3.2 s, to the millisecond."""
    from cotvtm_desktop.media.audio import TimelineSound
    from cotvtm_desktop.media.probe import probe
    from cotvtm_desktop.media.timeline import Clip
    from media import ffmpeg

    def clicking(name: str, at: float, audio_options: tuple[str, ...]):
        path = tmp_path / name
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i",
               f"aevalsrc='if(between(t,{at},{at}+0.002),0.9,0)':s=48000", "-t", "5", "-c:v", "libx264",
               *audio_options, str(path))
        return path

    a = probe(clicking("a.mp4", 2.5, ("-c:a", "pcm_s16le", "-f", "mov")))
    b = probe(clicking("b.mov", 1.2, ("-c:a", "pcm_s16le", "-ar", "44100", "-ac", "1")))
    clips = [Clip(a, 2.0, 4.0, 0.0), Clip(None, 0.0, 1.0, 2.0), Clip(b, 1.0, 3.0, 3.0)]
    sound = TimelineSound(clips, 48000)
    audio = np.concatenate([sound.read(7000) for _ in range(36)])[:, 0]  # 5.25 s in odd-sized reads
    sound.close()
    clicks = np.flatnonzero(np.abs(audio) > 0.3)
    assert clicks.size and clicks[0] / 48000 == pytest.approx(0.5, abs=0.001)
    second = clicks[clicks > 48000 * 2.5]
    assert second.size and second[0] / 48000 == pytest.approx(3.2, abs=0.001)
    assert np.abs(audio[int(2.05 * 48000):int(2.95 * 48000)]).max() == 0  # the gap is silent
    assert np.abs(audio[5 * 48000:]).max() == 0  # past the last clip


def test_a_segments_own_level_is_reached_as_it_starts_and_a_silence_keeps_the_level_before():
    from cotvtm_desktop.media.audio import hop_seconds, segment_levels
    from cotvtm_desktop.media.segments import Segment

    segments = [Segment(0, 0.0, 10.0), Segment(1, 10.0, 20.0), Segment(2, 20.0, 30.0)]
    assert segment_levels(segments, {0: 0.0, 1: 0.0, 2: 0.0}, 30 * 48000, 48000) is None  # nothing to change
    gains = segment_levels(segments, {0: 0.0, 1: -12.0, 2: 6.0}, 30 * 48000, 48000)
    hop = hop_seconds(48000)
    db = 20 * np.log10(gains)
    at = lambda seconds: db[round(seconds / hop)]  # noqa: E731
    assert len(gains) == round(30 / hop)
    assert at(5.0) == pytest.approx(0) and at(9.6) == pytest.approx(0, abs=1e-5)  # the ramp starts 0.4 s before
    assert at(9.8) == pytest.approx(-6, abs=0.01) and at(10.0) == pytest.approx(-12, abs=1e-4)
    assert at(15.0) == pytest.approx(-12, abs=1e-4) and at(19.8) == pytest.approx(-3, abs=0.01)
    assert at(20.0) == pytest.approx(6, abs=1e-4) and at(29.9) == pytest.approx(6, abs=1e-4)
