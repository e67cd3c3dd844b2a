"""Synthetic media for the tests, made with the ffmpeg binary that imageio-ffmpeg ships."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import imageio_ffmpeg
import numpy as np
import pyloudnorm

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_video(path: Path, seconds: float, size: str = "320x180", rate: int = 25, audio: bool = True,
               source: str = "testsrc2", vcodec: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt", "yuv420p"),
               acodec: tuple[str, ...] = ("-c:a", "aac"), extra: tuple[str, ...] = ()) -> Path:
    inputs = ["-f", "lavfi", "-i", f"{source}=size={size}:rate={rate}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    ffmpeg(*inputs, "-t", str(seconds), *vcodec, *(acodec if audio else ()), *extra, str(path))
    return path


def make_two_shot_video(path: Path, first: str, second: str, cut_at: float, seconds: float,
                        gop: int | None = None, bframes: int = 3) -> Path:
    """Two still-but-noisy shots of different colours with a hard cut at `cut_at` (25 fps). With `gop`, a keyframe
    every `gop` frames and none placed at the cut (as phones encode), and `bframes` B-frames between reference
    frames, none of them referred to."""
    keyframes = ("-g", str(gop), "-x264-params", f"scenecut=0:bframes={bframes}:b-pyramid=none") if gop else ()
    ffmpeg("-f", "lavfi", "-i", f"color=c={first}:size=320x180:rate=25:d={cut_at}",
           "-f", "lavfi", "-i", f"color=c={second}:size=320x180:rate=25:d={seconds - cut_at}",
           "-filter_complex", "[0:v][1:v]concat=n=2:v=1,noise=alls=8:allf=t[v]", "-map", "[v]",
           "-c:v", "libx264", *keyframes, "-pix_fmt", "yuv420p", str(path))
    return path


def streams(path: Path) -> dict:
    """What ffprobe would say: codec per stream type, durations, rotation of the first frame."""
    with av.open(str(path)) as c:
        info = {"duration": c.duration / 1e6 if c.duration else None,
                "video": c.streams.video[0].codec_context.name if c.streams.video else None,
                "audio": c.streams.audio[0].codec_context.name if c.streams.audio else None,
                "audio_rate": c.streams.audio[0].rate if c.streams.audio else None}
        if c.streams.video:
            s = c.streams.video[0]
            info["video_duration"] = float(s.duration * s.time_base) if s.duration else None
            frame = next(c.decode(video=0))
            info["rotation"] = int(frame.rotation or 0)
            info["frame_size"] = (frame.width, frame.height)
    return info


def decode_audio(path: Path, rate: int = 48000) -> np.ndarray:
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=rate)
        chunks = [f.to_ndarray().reshape(-1, 2) for frame in c.decode(audio=0) for f in resampler.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(None)]
    return np.concatenate(chunks)


def lufs(audio: np.ndarray, rate: int = 48000) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(audio.astype(np.float64)))


# ITU-R BS.1770-4, tables 1 and 2: the K-weighting filters (b, a) at 48 kHz
BS1770_K_WEIGHTING_48K = [
    ([1.53512485958697, -2.69169618940638, 1.19839281085285], [1.0, -1.69065929318241, 0.73248077421585]),
    ([1.0, -2.0, 1.0], [1.0, -1.99004745483398, 0.99007225036621]),
]


def bs1770_loudness(audio: np.ndarray) -> float:
    """Integrated loudness of 48 kHz stereo computed straight from BS.1770-4, whole signal at once: the standard's
    filter coefficients, 400 ms blocks every 100 ms, the absolute gate at -70 LUFS and the relative gate 10 LU
    below the absolutely gated mean. The reference the product's streaming meter is held to (pyloudnorm designs
    its own filters, which read noise about 0.04 LU away from the standard's)."""
    from scipy import signal

    x = audio.astype(np.float64)
    for b, a in BS1770_K_WEIGHTING_48K:
        x = signal.lfilter(b, a, x, axis=0)
    block, step = 19200, 4800
    z = np.array([(x[s:s + block] ** 2).mean(axis=0).sum() for s in range(0, len(x) - block + 1, step)])
    loudness = -0.691 + 10 * np.log10(z + 1e-300)
    above = z[loudness > -70]
    relative = -0.691 + 10 * np.log10(above.mean()) - 10
    return float(-0.691 + 10 * np.log10(z[(loudness > -70) & (loudness > relative)].mean()))


def momentary_trace(audio: np.ndarray, window_steps: int) -> np.ndarray:
    """BS.1770-4 momentary loudness (400 ms) of 48 kHz stereo around each 100 ms step (the steps before it and
    one after), the loudest in each window of `window_steps` steps: what the manifest's `levels` promise, computed
    straight from the standard's filters on a decoded file."""
    from scipy import signal

    x = audio.astype(np.float64)
    for b, a in BS1770_K_WEIGHTING_48K:
        x = signal.lfilter(b, a, x, axis=0)
    steps = (x[:len(x) // 4800 * 4800] ** 2).reshape(-1, 4800, 2).mean(axis=1).sum(axis=1)
    padded = np.concatenate([np.zeros(2), steps, np.zeros(1)])
    momentary = np.array([padded[i:i + 4].mean() for i in range(len(steps))])
    momentary = np.concatenate([momentary, np.zeros(-len(momentary) % window_steps)])
    loudest = momentary.reshape(-1, window_steps).max(axis=1)
    return np.maximum(-0.691 + 10 * np.log10(loudest + 1e-20), -70.0)


def tone_level(audio: np.ndarray, frequency: float, rate: int = 48000) -> float:
    """How far the spectrum at `frequency` stands above the spectrum's median (dB)."""
    mono = audio.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freqs = np.fft.rfftfreq(len(mono), 1 / rate)
    band = spectrum[(freqs > frequency - 3) & (freqs < frequency + 3)].max()
    return float(20 * np.log10(band / (np.median(spectrum) + 1e-12)))


def make_soundfont(path: Path, presets: list[tuple[int, int]], period: np.ndarray | None = None,
                   version: tuple[int, int] = (2, 1), generators: tuple[tuple[int, int], ...] = (),
                   modulators: tuple[tuple[int, int, int, int, int], ...] = (),
                   preset_modulators: tuple[tuple[int, int, int, int, int], ...] = ()) -> Path:
    """A SoundFont 2 file whose `presets` ((bank, program) pairs) all play one looped sample: one `period` of a
    wave at 440 Hz (a sine unless given), recorded at A4 (key 69); its instrument zone has these `generators`
    ((operator, amount) pairs) and `modulators` (source, destination, amount, amount source, transform) too, each
    preset zone these `preset_modulators`."""
    import struct

    if period is None:
        period = np.sin(2 * np.pi * np.arange(100) / 100)
    pcm = np.concatenate([np.round(np.asarray(period) * 20000), np.zeros(46)]).astype("<i2")

    def chunk(cid: bytes, body: bytes) -> bytes:
        return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)

    def listed(kind: bytes, *chunks: bytes) -> bytes:
        return chunk(b"LIST", kind + b"".join(chunks))

    n = len(presets)
    phdr = b"".join(struct.pack("<20sHHHIII", f"p{bank}-{program}".encode(), program, bank, i, 0, 0, 0)
                    for i, (bank, program) in enumerate(presets)) + struct.pack("<20sHHHIII", b"EOP", 0, 0, n, 0, 0, 0)
    pbag = b"".join(struct.pack("<HH", i, i * len(preset_modulators)) for i in range(n + 1))
    pmod = b"".join(struct.pack("<HHhHH", *m) for m in preset_modulators * n) + bytes(10)
    imod = b"".join(struct.pack("<HHhHH", *m) for m in modulators) + bytes(10)
    pgen = b"".join(struct.pack("<HH", 41, 0) for _ in range(n)) + struct.pack("<HH", 0, 0)  # instrument 0
    inst = struct.pack("<20sH", b"wave", 0) + struct.pack("<20sH", b"EOI", 1)
    ibag = struct.pack("<HH", 0, 0) + struct.pack("<HH", 2 + len(generators), len(modulators))
    igen = (b"".join(struct.pack("<Hh", operator, amount) for operator, amount in generators)
            + struct.pack("<HH", 54, 1) + struct.pack("<HH", 53, 0) + struct.pack("<HH", 0, 0))  # looped, sample 0
    length = len(period)
    shdr = (struct.pack("<20sIIIIIBbHH", b"wave", 0, length, 0, length, 440 * length, 69, 0, 0, 1)
            + struct.pack("<20sIIIIIBbHH", b"EOS", 0, 0, 0, 0, 0, 0, 0, 0, 0))
    body = (b"sfbk" + listed(b"INFO", chunk(b"ifil", struct.pack("<HH", *version)), chunk(b"INAM", b"test\0\0"))
            + listed(b"sdta", chunk(b"smpl", pcm.tobytes()))
            + listed(b"pdta", chunk(b"phdr", phdr), chunk(b"pbag", pbag), chunk(b"pmod", pmod),
                     chunk(b"pgen", pgen), chunk(b"inst", inst), chunk(b"ibag", ibag), chunk(b"imod", imod),
                     chunk(b"igen", igen), chunk(b"shdr", shdr)))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return path


def combing(path: Path, frames: int = 12) -> float:
    """How combed the picture looks: the difference between neighbouring lines (the two fields) over that between
    lines two apart (one field), median over the first frames; about 1 or more when fields of different moments are
    woven into one frame, about 0.5 for FFmpeg's testsrc2 picture shown whole."""
    ratios = []
    with av.open(str(path)) as container:
        for _, frame in zip(range(frames), container.decode(video=0)):
            y = frame.to_ndarray(format="gray").astype(float)
            ratios.append(np.abs(y[:-2:2] - y[1:-1:2]).mean() / np.abs(y[:-2:2] - y[2::2]).mean())
    return float(np.median(ratios))


def icc_profile(primaries: tuple, white: tuple = (0.3127, 0.3290), name: str = "Test RGB") -> bytes:
    """A minimal ICC v2 monitor profile (matrix and curves, as cameras and phones embed): RGB with these primaries
    ((x, y) of red, green and blue) under `white`, with the sRGB curve; its colorants adapted to D50 (Bradford)."""
    import struct

    d50 = np.array([0.9642, 1.0, 0.8249])
    bradford = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])

    def xyz(x: float, y: float) -> np.ndarray:
        return np.array([x / y, 1.0, (1 - x - y) / y])

    columns = np.stack([xyz(*p) for p in primaries], axis=1)
    to_xyz = columns * np.linalg.solve(columns, xyz(*white))
    adapt = np.linalg.inv(bradford) @ np.diag((bradford @ d50) / (bradford @ xyz(*white))) @ bradford
    colorants = adapt @ to_xyz

    def s15(value: float) -> bytes:
        return struct.pack(">i", int(round(value * 65536)))

    def xyz_tag(values) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(v) for v in values)

    code = np.linspace(0, 1, 1024)
    light = np.where(code <= 0.04045, code / 12.92, ((code + 0.055) / 1.055) ** 2.4)
    curve = b"curv\0\0\0\0" + struct.pack(">I", 1024) + np.round(light * 65535).astype(">u2").tobytes()
    text = name.encode() + b"\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + struct.pack(">IIHB", 0, 0, 0, 0) + bytes(67)
    tags = [(b"desc", desc), (b"cprt", b"text\0\0\0\0none\0"), (b"wtpt", xyz_tag(d50)),
            (b"rXYZ", xyz_tag(colorants[:, 0])), (b"gXYZ", xyz_tag(colorants[:, 1])),
            (b"bXYZ", xyz_tag(colorants[:, 2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    start = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        data += bytes(-(start + len(data)) % 4)  # each tag on a 4-byte boundary
        table += struct.pack(">4sII", signature, start + len(data), len(body))
        data += body
    data += bytes(-len(data) % 4)
    header = (struct.pack(">I", start + len(data)) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + bytes(12) + b"acspAPPL" + bytes(24) + b"".join(s15(v) for v in d50) + b"lcms" + bytes(44))
    return header + struct.pack(">I", len(tags)) + table + data


def compressed_soundfont(font: Path, target: Path) -> Path:
    """The SoundFont 2 `font` as a SoundFont 3, made as MuseScore's sftools makes one: each sample an Ogg Vorbis
    stream (libsndfile's libvorbis, at its best quality: the codec's loss least), its header's start and end the
    stream's byte offsets in the sample chunk, its loop points counted from its own start, its type marked 0x10;
    the version 3.1."""
    import io
    import struct

    import soundfile

    lists = {body[:4]: _chunks_of(body[4:]) for cid, body in _chunks_of(font.read_bytes()[12:]) if cid == b"LIST"}
    pcm = np.frombuffer(dict(lists[b"sdta"])[b"smpl"], "<i2")
    records = list(struct.iter_unpack("<20sIIIIIBbHH", dict(lists[b"pdta"])[b"shdr"]))
    streams, headers, offset = [], [], 0
    for name, start, end, loop_start, loop_end, rate, pitch, correction, link, kind in records[:-1]:
        encoded = io.BytesIO()
        soundfile.write(encoded, pcm[start:end].astype(np.float32) / 32768, rate, format="OGG", subtype="VORBIS",
                       compression_level=0.0)
        streams.append(encoded.getvalue())
        headers.append(struct.pack("<20sIIIIIBbHH", name, offset, offset + len(streams[-1]), loop_start - start,
                                   loop_end - start, rate, pitch, correction, link, kind | 0x10))
        offset += len(streams[-1])
    headers.append(struct.pack("<20sIIIIIBbHH", *records[-1]))
    swapped = {b"ifil": struct.pack("<HH", 3, 1), b"smpl": b"".join(streams), b"shdr": b"".join(headers)}

    def chunk(cid: bytes, body: bytes) -> bytes:
        return cid + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)

    body = b"sfbk" + b"".join(chunk(b"LIST", kind + b"".join(chunk(cid, swapped.get(cid, inner)) for cid, inner in
                                                             chunks)) for kind, chunks in lists.items())
    target.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return target


def _chunks_of(data: bytes) -> list[tuple[bytes, bytes]]:
    """The RIFF chunks one after another in `data`, as (id, body) pairs."""
    import struct

    found, start = [], 0
    while start + 8 <= len(data):
        cid, size = data[start:start + 4], struct.unpack("<I", data[start + 4:start + 8])[0]
        found.append((cid, data[start + 8:start + 8 + size]))
        start += 8 + size + (size & 1)
    return found
