"""HDR phone video (HLG, PQ) analysed and pictured as an SDR display would show it."""

from pathlib import Path

import av
import numpy as np
import pytest

from cotvtm_desktop.media.frames import to_rgb
from cotvtm_desktop.media.probe import probe
from media import ffmpeg, streams

# sRGB colours of test patches: mid grey, brick red, sky blue, light grey, near black, leaf green; all under the
# level where highlights begin to roll off (0.75 of SDR white in linear light)
PATCHES = [(128, 128, 128), (200, 60, 40), (90, 150, 220), (220, 220, 220), (30, 30, 30), (60, 170, 80)]
WIDTH = 53


def patches_picture(path: Path) -> Path:
    picture = np.zeros((96, WIDTH * len(PATCHES), 3), np.uint8)
    for k, colour in enumerate(PATCHES):
        picture[:, k * WIDTH:(k + 1) * WIDTH] = colour
    from PIL import Image

    Image.fromarray(picture).save(path)
    return path


def hevc_10bit(source: list[str], path: Path, transfer: str, vf: str, seconds: float = 0.5) -> Path:
    """An HEVC 10-bit BT.2020 video tagged with `transfer`, as a phone writes one."""
    tags = f"setparams=color_primaries=bt2020:color_trc={transfer}:colorspace=bt2020nc:range=tv"  # the frames'
    ffmpeg(*source, "-t", str(seconds), "-r", "10", "-vf", f"{vf},format=yuv420p10le,{tags}", "-c:v", "libx265",
           "-x265-params", "log-level=error", str(path))
    return path


def first_frame_patches(path: Path, count: int) -> np.ndarray:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        rgb = to_rgb(frame, frame.width, frame.height, 0).astype(float)
    return np.array([rgb[frame.height // 2, k * WIDTH + WIDTH // 2] for k in range(count)])


@pytest.fixture(scope="module")
def hdr10(tmp_path_factory) -> Path:
    """SDR patches made HDR10 by zimg (FFmpeg's zscale: sRGB to linear light, SDR white at BT.2408's 203 nits, into
    BT.2020 and PQ)."""
    folder = tmp_path_factory.mktemp("hdr10")
    picture = patches_picture(folder / "patches.png")
    to_pq = ("format=gbrpf32le,zscale=tin=iec61966-2-1:min=gbr:pin=bt709:rin=full:t=smpte2084:npl=203:p=bt2020:m=gbr"
             ":r=full,zscale=tin=smpte2084:min=gbr:pin=bt2020:rin=full:t=smpte2084:p=bt2020:m=bt2020nc:r=tv")
    return hevc_10bit(["-loop", "1", "-i", str(picture)], folder / "hdr10.mp4", "smpte2084", to_pq)


def test_a_pq_video_looks_as_its_sdr_source(hdr10):
    """The patches come back as an SDR display shows them: within a few levels of the source seen through BT.1886's
    gamma 2.4, where read as SDR they were dim and grey (light grey 132, brick red 123, 86, 66)."""
    source = np.array(PATCHES, float) / 255
    linear = np.where(source <= 0.04045, source / 12.92, ((source + 0.055) / 1.055) ** 2.4)
    expected = 255 * linear ** (1 / 2.4)
    assert np.abs(first_frame_patches(hdr10, len(PATCHES)) - expected).max() <= 7  # HEVC, 4:2:0: up to 6 off
    assert probe(hdr10).hdr == "pq"


def test_an_edits_preview_shows_an_hdr_clip_as_its_pictures_do(hdr10, tmp_path, monkeypatch):
    """The small render of an edit (ffmpeg's zscale and tonemap) shows an HDR clip as the analysis and the pictures
    see it (within a few levels), not dim and grey; an ffmpeg built without zimg renders it as it is."""
    from cotvtm_desktop.media import proxy
    from cotvtm_desktop.media.proxy import Piece, picture_format, render_piece
    from cotvtm_desktop.media.timeline import Clip

    info = probe(hdr10)
    piece = tmp_path / "piece.mp4"
    render_piece(Piece(info, 0.0, 2), picture_format([Clip(info, 0.0, 0.2, 0.0)]), piece)
    with av.open(str(piece)) as container:
        rendered = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(float)
    height, width = rendered.shape[:2]  # the preview's size: the patches scaled alike
    shown = np.array([rendered[height // 2, round((k + 0.5) * width / len(PATCHES))] for k in range(len(PATCHES))])
    assert np.abs(shown - first_frame_patches(hdr10, len(PATCHES))).max() <= 8
    monkeypatch.setattr(proxy, "ffmpeg_has", lambda kind, name: name != "zscale")
    render_piece(Piece(info, 0.0, 2), picture_format([Clip(info, 0.0, 0.2, 0.0)]), tmp_path / "raw.mp4")
    assert streams(tmp_path / "raw.mp4")["frame_size"] == (width, height)


def test_hlg_and_pq_agree_on_bt2408s_reference_levels(tmp_path):
    """BT.2408's levels: an 18 % grey card at HLG 38 % and PQ 38 % (26 nits), reference white at HLG 75 % and PQ 58 %
    (203 nits). Written as 10-bit BT.2020 HEVC and decoded, each pair shows alike in SDR: the grey card where SDR puts
    it, white as white."""
    levels = [0.38, 0.75, 0.38, 0.58]  # HLG grey, HLG white, PQ grey, PQ white
    shown = []
    for k, transfer in enumerate(("arib-std-b67", "smpte2084")):
        raw = np.zeros((96, WIDTH * 2, 3), np.uint16)
        for j in range(2):
            raw[:, j * WIDTH:(j + 1) * WIDTH] = round(levels[2 * k + j] * 65535)
        source = tmp_path / f"{transfer}.rgb48"
        source.write_bytes(raw.astype("<u2").tobytes() * 5)
        video = hevc_10bit(["-f", "rawvideo", "-pix_fmt", "rgb48le", "-s", f"{WIDTH * 2}x96", "-r", "10",
                            "-i", str(source)], tmp_path / f"{transfer}.mp4", transfer,
                           "scale=out_color_matrix=bt2020nc:out_range=tv")
        shown.extend(first_frame_patches(video, 2)[:, 1])
        assert probe(video).hdr == ("hlg" if transfer == "arib-std-b67" else "pq")
    hlg_grey, hlg_white, pq_grey, pq_white = shown
    grey_card = 255 * (26.2 / 203) ** (1 / 2.4)  # 109: 26 nits on the scale where 203 nits is SDR white
    assert hlg_grey == pytest.approx(grey_card, abs=4) and pq_grey == pytest.approx(grey_card, abs=4)
    assert min(hlg_white, pq_white) >= 240 and abs(hlg_white - pq_white) <= 3


def test_highlights_roll_off_keeping_their_hue():
    """Light above SDR white comes under 255 without clipping one channel before another: a bright orange stays
    orange, twice as bright (up to the 1000 nits phones master to) still shows brighter, and SDR levels below the
    knee stay as they were."""
    from cotvtm_desktop.media.hdr import PQ, to_sdr

    def pq_code(nits):
        m1, m2, c1, c2, c3 = 2610 / 16384, 2523 / 32, 3424 / 4096, 2413 / 128, 2392 / 128
        y = (np.asarray(nits, float) / 10000) ** m1
        return np.round(65535 * ((c1 + c2 * y) / (1 + c3 * y)) ** m2).astype(np.uint16)

    orange = to_sdr(pq_code([[[300, 150, 40]]]), PQ)[0, 0].astype(float)  # BT.2020 light, nits
    brighter = to_sdr(pq_code([[[600, 300, 80]]]), PQ)[0, 0].astype(float)
    assert orange[0] > orange[1] > orange[2] and np.all(brighter > orange) and brighter[0] < 255  # none clipped
    mid = to_sdr(pq_code([[[50, 50, 50]]]), PQ)[0, 0, 0]
    assert mid == round(255 * (50 / 203) ** (1 / 2.4))


def hlg_from_sdr(rgb8: np.ndarray) -> np.ndarray:
    """SDR RGB as BT.2100 HLG of the same look, written independently of media/hdr.py's reading: display light by
    BT.1886 (gamma 2.4) with SDR white at 203 nits, into BT.2020, then the inverse OOTF (1000-nit display, system
    gamma 1.2 on luminance) and the OETF. 16-bit code values."""
    nits = 203 * (rgb8 / 255) ** 2.4 @ np.linalg.inv(BT2020_TO_BT709).T
    luminance = np.maximum(nits @ [0.2627, 0.6780, 0.0593], 1e-9)[..., None] / 1000
    scene = np.clip(nits / 1000 * luminance ** (1 / 1.2 - 1), 0, 1)
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    signal = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-9)) + c)
    return np.round(signal * 65535).astype("<u2")


BT2020_TO_BT709 = np.array([[1.660491, -0.587641, -0.072850], [-0.124550, 1.132900, -0.008349],
                            [-0.018151, -0.100579, 1.118730]])


def test_an_hdr_phone_clip_is_measured_as_its_sdr_twin_and_stays_hdr(tmp_path):
    """The same scene filmed SDR and HLG is measured alike — brightness, saturation, warmth, emotion — so it gets
    the same music; the scored copy keeps its HLG picture. (Read as SDR, the HLG twin measured darker and duller:
    brightness 0.38 against 0.43, saturation 0.47 against 0.51, valence 0.74 against 0.78.)"""
    from cotvtm_desktop.jobs.runner import ScoreOptions, score

    frames = tmp_path / "scene.rgb24"  # a camera panning over a cat on a rug: a scene's colours, not test bars
    ffmpeg("-loop", "1", "-i", str(Path(__file__).parent / "data" / "chelsea.jpg"), "-t", "3", "-r", "10", "-vf",
           "scale=320:-2,crop=160:90:x='min(t*40,150)':y=20", "-f", "rawvideo", "-pix_fmt", "rgb24", str(frames))
    scene = np.fromfile(frames, np.uint8).reshape(-1, 90, 160, 3)
    raw = ["-f", "rawvideo", "-s", "160x90", "-r", "10"]
    sdr = tmp_path / "sdr.mp4"
    ffmpeg(*raw, "-pix_fmt", "rgb24", "-i", str(frames), "-vf",
           "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p,setparams=color_primaries=bt709:color_trc=bt709"
           ":colorspace=bt709:range=tv", "-c:v", "libx264", str(sdr))
    (tmp_path / "hlg.rgb48").write_bytes(hlg_from_sdr(scene.astype(float)).tobytes())
    hlg = hevc_10bit([*raw, "-pix_fmt", "rgb48le", "-i", str(tmp_path / "hlg.rgb48")], tmp_path / "hlg.mov",
                     "arib-std-b67", "scale=out_color_matrix=bt2020nc:out_range=tv", seconds=3)
    measured = {}
    for video in (sdr, hlg):
        manifest = score(video, tmp_path / f"{video.stem}.scored.mp4", ScoreOptions())
        measured[video.stem] = manifest["segments"][0]["visual"]
        assert manifest["input"]["hdr"] == ("hlg" if video == hlg else "")
    for measure in ("brightness", "saturation", "warmth", "valence", "arousal"):
        assert measured["hlg"][measure] == pytest.approx(measured["sdr"][measure], abs=0.03), measure
    with av.open(str(tmp_path / "hlg.scored.mp4")) as container:
        frame = next(container.decode(video=0))
    assert (frame.color_trc, frame.color_primaries) == (18, 9)  # HLG, BT.2020: the picture copied as it was


@pytest.mark.parametrize("with_x265", [True, False])
def test_an_hdr_picture_mp4_cannot_carry_becomes_hevc_10bit_and_stays_hdr(tmp_path, monkeypatch, with_x265):
    """An iPhone Pro's ProRes HLG (a codec an mp4 does not carry) is re-encoded as phones write HDR — HEVC Main 10
    under Apple's 'hvc1' tag, its colour description kept — not as 8-bit H.264, which would band it. With an ffmpeg
    built without x265 it becomes H.264 after all, still tagged HLG, rather than failing."""
    import json

    from cotvtm_desktop.jobs.runner import score
    from cotvtm_desktop.media import mux

    assert mux.ffmpeg_has("encoders", "libx265") and not mux.ffmpeg_has("encoders", "no-such-encoder")
    if not with_x265:
        monkeypatch.setattr(mux, "ffmpeg_has", lambda kind, name: name != "libx265")

    prores = tmp_path / "pro.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-t", "2", "-vf",
           "format=yuv422p10le,setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc:range=tv",
           "-c:v", "prores_ks", "-profile:v", "3", str(prores))
    out = tmp_path / "pro.scored.mp4"
    score(prores, out)
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(video=0))
        made = (stream.codec_context.name, stream.codec_tag, frame.format.name)
        assert made == (("hevc", "hvc1", "yuv420p10le") if with_x265 else ("h264", "avc1", "yuv420p"))
        assert (frame.color_trc, frame.color_primaries, frame.colorspace) == (18, 9, 9)
        assert float(stream.duration * stream.time_base) == pytest.approx(2.0, abs=0.05)
    said = json.loads(out.with_suffix(".json").read_text())["video_stream"]
    assert said == ("re-encoded to HEVC 10-bit (HDR kept)" if with_x265 else "re-encoded to H.264")
