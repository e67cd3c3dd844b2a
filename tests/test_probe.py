from pathlib import Path

import pytest

from cotvtm_desktop.errors import BadMediaError
from cotvtm_desktop.media.probe import probe
from media import ffmpeg, make_video


def test_video_facts(clip12, silent_clip):
    info = probe(clip12)
    assert info.kind == "video" and info.has_audio and info.video_codec == "h264"
    assert info.duration == pytest.approx(12.0, abs=0.05)
    assert info.fps == pytest.approx(25, rel=0.02)
    assert (info.width, info.height, info.rotation) == (320, 180, 0)
    assert not probe(silent_clip).has_audio


def test_rotation_gives_display_size(tmp_path, clip12):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip12), "-c", "copy", str(rotated))
    info = probe(rotated)
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (180, 320)


def test_sample_aspect_ratio_gives_display_size(tmp_path):
    """An HDV camcorder's 1440x1080 frames with 4:3 pixels are a 16:9 picture, and its thumbnails are too."""
    from cotvtm_desktop.media.thumbnails import thumbnail

    hdv = make_video(tmp_path / "hdv.mp4", 2, size="1440x1080", audio=False, extra=("-vf", "setsar=4/3"))
    info = probe(hdv)
    assert (info.width, info.height) == (1920, 1080)
    assert thumbnail(info, 1.0, 90).shape == (90, 160, 3)


def test_vfr_duration_and_rate_from_timestamps(tmp_path):
    # 2 s at 30 fps, then every third frame: 10 fps for the remaining 4 s
    path = make_video(tmp_path / "vfr.mp4", 6, rate=30, audio=False,
                      extra=("-vf", r"select='lt(n\,60)+not(mod(n\,3))'", "-fps_mode", "vfr"))
    info = probe(path)
    assert info.duration == pytest.approx(6.0, abs=0.15)
    assert 12 < info.fps < 20  # (60 + 40) frames over 6 s, not the container's nominal 30


def test_webm_without_declared_duration(tmp_path):
    path = tmp_path / "piped.webm"
    with open(path, "wb") as out:
        import subprocess

        from media import FFMPEG
        subprocess.run([FFMPEG, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25",
                        "-t", "5", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-live", "1", "-f", "webm",
                        "pipe:1"],
                       stdout=out, check=True)
    import av

    with av.open(str(path)) as c:
        assert c.duration is None  # the case we want: the container does not say
    assert probe(path).duration == pytest.approx(5.0, abs=0.1)


@pytest.mark.parametrize("suffix,codec", [(".mkv", ("-c:v", "libx264")), (".mov", ("-c:v", "libx264")),
                                          (".webm", ("-c:v", "libvpx", "-deadline", "realtime"))])
def test_other_containers(tmp_path, suffix, codec):
    acodec = ("-c:a", "libopus") if suffix == ".webm" else ("-c:a", "aac")
    path = make_video(tmp_path / f"clip{suffix}", 3, vcodec=codec, acodec=acodec)
    info = probe(path)
    assert info.duration == pytest.approx(3.0, abs=0.1) and info.has_audio


def test_rejects_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(BadMediaError, match="empty"):
        probe(path)


def test_rejects_non_media(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("these are my holiday notes, not a video\n" * 100)
    with pytest.raises(BadMediaError, match="not a readable media file"):
        probe(path)


def test_rejects_truncated_files(tmp_path, clip12):
    data = clip12.read_bytes()
    cut = tmp_path / "cut.mp4"  # moov at the end: it is lost
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadMediaError, match="truncated"):
        probe(cut)
    faststart = tmp_path / "faststart.mp4"  # moov first: the header promises more than there is
    ffmpeg("-i", str(clip12), "-c", "copy", "-movflags", "+faststart", str(faststart))
    data = faststart.read_bytes()
    cut2 = tmp_path / "cut2.mp4"
    cut2.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadMediaError, match="truncated"):
        probe(cut2)


def test_rejects_audio_only(tmp_path):
    path = tmp_path / "song.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300", "-t", "2", "-c:a", "aac", str(path))
    with pytest.raises(BadMediaError, match="no video stream"):
        probe(path)


def test_image(tmp_path):
    from PIL import Image

    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (200, 120, 40)).save(path)
    info = probe(path)
    assert (info.kind, info.width, info.height) == ("image", 64, 48)
    upright = tmp_path / "phone.jpg"  # stored sideways, shown upright: EXIF orientation 6 (turn 90° clockwise)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (64, 48), (200, 120, 40)).save(upright, exif=exif)
    assert (probe(upright).width, probe(upright).height) == (48, 64)
    from cotvtm_desktop.media.thumbnails import thumbnail

    assert thumbnail(probe(upright), 0.0, 64).shape == (64, 48, 3)  # was squeezed into 85x64
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadMediaError, match="not a readable image"):
        probe(broken)


def test_phone_photo_formats(tmp_path):
    """HEIC (iPhones, many Android phones) and AVIF read upright: the HEIC stored turned a quarter as a phone stores
    it, shown by its HEIF rotation; the AVIF by its EXIF orientation. A HEIC some exporter named .jpg opens too."""
    import shutil

    import numpy as np
    from PIL import Image

    from cotvtm_desktop.media.images import load_image

    data = Path(__file__).parent / "data"
    info = probe(data / "coffee.heic")
    assert (info.kind, info.width, info.height) == ("image", 300, 200)
    jpeg = np.asarray(Image.open(data / "coffee.jpg").convert("RGB").resize((300, 200), Image.Resampling.LANCZOS),
                      float)
    heic = load_image(data / "coffee.heic").astype(float)
    assert np.abs(heic - jpeg).mean() < 5 < 30 < np.abs(heic - jpeg[::-1, ::-1]).mean()  # upright, not upside down
    from cotvtm_desktop.media.thumbnails import thumbnail

    assert thumbnail(info, 0.0, 48).shape == (48, 72, 3)  # the app's picture of it: upright, landscape
    renamed = tmp_path / "IMG_0001.jpg"
    shutil.copy(data / "coffee.heic", renamed)
    assert np.array_equal(load_image(renamed), load_image(data / "coffee.heic"))

    avif = tmp_path / "phone.avif"
    exif = Image.Exif()
    exif[0x0112] = 6
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:, :32] = (230, 0, 0)  # left half red: shown turned clockwise, the red is on top
    Image.fromarray(stored).save(avif, exif=exif, quality=90)
    assert (probe(avif).width, probe(avif).height) == (48, 64)
    shown = load_image(avif).astype(float)
    assert shown[:32, :, 0].mean() > 150 > shown[32:, :, 0].mean()

    broken = tmp_path / "cut.heic"
    broken.write_bytes((data / "coffee.heic").read_bytes()[:600])
    with pytest.raises(BadMediaError, match="not a readable image"):
        probe(broken)
    cut = tmp_path / "cut.jpg"  # its header reads: cut short, it shows only as it is decoded, still named
    cut.write_bytes((Path(__file__).parent / "data" / "coffee.jpg").read_bytes()[:20000])
    from cotvtm_desktop.media.images import load_image

    with pytest.raises(BadMediaError, match="cut.jpg.*not a readable image.*truncated"):
        load_image(cut)


def test_a_photo_needed_small_decodes_small_and_upright(tmp_path):
    """A phone's JPEG, stored sideways (EXIF 6), asked for at least 400x500 upright: decoded at a quarter of its size
    (756x1008 upright; an eighth, 378 wide, would be too narrow), the same picture as the whole decode made that
    small; a PNG, which cannot decode small, comes whole."""
    import numpy as np
    from PIL import Image

    from cotvtm_desktop.media.images import load_image, load_picture

    y, x = np.mgrid[0:3024, 0:4032]
    stored = np.stack([x * 255 // 4032, y * 255 // 3024, np.full_like(x, 90)], -1).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = tmp_path / "IMG_0001.jpg"
    Image.fromarray(stored).save(photo, exif=exif, quality=92)
    small = load_image(photo, (400, 500))
    assert small.shape == (1008, 756, 3)
    whole = load_picture(photo).resize((756, 1008), Image.Resampling.BOX)
    assert whole.size == (756, 1008) and np.abs(small.astype(float) - np.asarray(whole, float)).mean() < 2
    png = tmp_path / "drawing.png"
    Image.fromarray(stored[:300, :400]).save(png)
    assert load_image(png, (40, 30)).shape == (300, 400, 3)


def test_a_16_bit_or_transparent_image_reads_as_a_viewer_shows_it(tmp_path):
    """A 16-bit grey PNG (a scan) from its top eight bits, not clipped to white; a transparent PNG over black, not
    the colour hidden under its transparency."""
    import numpy as np
    from PIL import Image

    from cotvtm_desktop.media.images import load_image

    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (4, 1))
    Image.fromarray(ramp).save(tmp_path / "scan.png")
    grey = load_image(tmp_path / "scan.png")
    assert grey.shape == (4, 256, 3) and np.abs(grey[0, :, 0].astype(int) - np.arange(256)).max() <= 1
    logo = Image.new("RGBA", (40, 30), (255, 0, 0, 0))
    logo.paste((0, 200, 0, 255), (10, 10, 30, 20))
    logo.save(tmp_path / "logo.png")
    shown = load_image(tmp_path / "logo.png")
    assert shown[0, 0].tolist() == [0, 0, 0] and shown[15, 20].tolist() == [0, 200, 0]


def test_a_wide_gamut_photo_comes_in_srgb(tmp_path):
    """An iPhone's Display P3 photo (its ICC profile embedded, as in its JPEGs) reads as sRGB: the colour a viewer
    shows, more saturated than its numbers taken as sRGB; the same from a HEIF's nclx primaries (as in its HEICs);
    an sRGB profile, or a broken one, leaves the numbers as they are."""
    import numpy as np
    from PIL import Image, ImageCms

    from cotvtm_desktop.media.images import _nclx_to_srgb, load_image
    from media import icc_profile

    p3 = ((0.68, 0.32), (0.265, 0.69), (0.15, 0.06))
    colour = (200, 120, 80)

    def photo(name: str, icc: bytes) -> Path:
        Image.new("RGB", (32, 24), colour).save(tmp_path / name, quality=100, subsampling=0, icc_profile=icc)
        return tmp_path / name

    seen = load_image(photo("p3.jpg", icc_profile(p3, name="Display P3")))[12, 16].astype(int)
    assert np.abs(seen - (213, 115, 70)).max() <= 2  # Display P3 (200, 120, 80) in sRGB, from its primaries
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for name, icc in (("srgb.jpg", srgb), ("broken.jpg", b"not a profile")):
        assert np.abs(load_image(photo(name, icc))[12, 16].astype(int) - colour).max() <= 2
    nclx = {"color_primaries": 12, "transfer_characteristics": 13, "matrix_coefficients": 6, "full_range_flag": 1,
            **{f"color_primary_{c}_{a}": v for c, xy in zip(("red", "green", "blue", "white"), (*p3, (0.3127, 0.329)))
               for a, v in zip("xy", xy)}}
    from_heif = np.asarray(_nclx_to_srgb(Image.new("RGB", (600, 4), colour), nclx))
    assert from_heif.shape == (4, 600, 3) and np.abs(from_heif.astype(int) - (213, 115, 70)).max() <= 1
    as_srgb = {**nclx, **{f"color_primary_{c}_{a}": v for c, xy in zip(("red", "green", "blue"),
                          ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))) for a, v in zip("xy", xy)}}
    assert np.asarray(_nclx_to_srgb(Image.new("RGB", (4, 4), colour), as_srgb))[0, 0].tolist() == list(colour)


def test_cover_art_is_not_a_video(tmp_path, clip12):
    from PIL import Image

    cover = tmp_path / "cover.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(cover)
    song = tmp_path / "song.m4a"  # a music file with album art: no video to score
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300", "-i", str(cover), "-t", "2", "-map", "0", "-map", "1",
           "-c:a", "aac", "-c:v", "png", "-disposition:v:0", "attached_pic", str(song))
    with pytest.raises(BadMediaError, match="cover art"):
        probe(song)
    covered = tmp_path / "covered.mp4"  # a video that also carries a thumbnail
    ffmpeg("-i", str(clip12), "-i", str(cover), "-map", "1", "-map", "0", "-c", "copy", "-c:v:0", "png",
           "-disposition:v:0", "attached_pic", str(covered))
    info = probe(covered)
    assert info.video_codec == "h264" and info.duration == pytest.approx(12, abs=0.05)
    from cotvtm_desktop.jobs.runner import ScoreOptions, score
    from media import streams

    score(covered, tmp_path / "out.mp4", ScoreOptions(backend="procedural"))
    assert streams(tmp_path / "out.mp4")["video"] == "h264"  # the picture, not the thumbnail


@pytest.mark.parametrize("gop", ["-bf 0", "-bf 3", "-bf 3 -x264-params open-gop=1"])
def test_keyframe_pairs_decode_only_up_to_the_next_shown_frame(tmp_path, gop):
    """Each keyframe gets the first frame shown after it that decoding reaches, however B-frames order the packets
    (none; after the P-frame they depend on; leading ones of an open GOP, shown before the keyframe)."""
    from cotvtm_desktop.media import frames

    path = make_video(tmp_path / "gop.mp4", 6, rate=30, audio=False,
                      vcodec=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "15", *gop.split()))
    pairs = list(frames.iter_keyframe_pairs(path))
    assert [round(t, 3) for t, *_ in pairs] == [i / 2 for i in range(12)]
    assert all(follow is not None for *_, follow in pairs)
    gaps = [round((t2 - t) * 30) for t, _, t2, _ in pairs]  # in frames
    if gop == "-bf 0":
        assert set(gaps) == {1}  # the very next packet, nothing decoded past it
    else:
        assert all(1 <= gap <= 4 for gap in gaps), gaps  # the next P-frame: at most 3 B-frames before it
