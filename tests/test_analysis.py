import os
from pathlib import Path

import numpy as np
import pytest

from cotvtm_desktop import config
from cotvtm_desktop.analysis import colour, objects
from cotvtm_desktop.analysis.objects import ObjectTags
from cotvtm_desktop.analysis.scan import scan_image, scan_video
from cotvtm_desktop.analysis.visual import VisualElements, describe_segment, estimate_emotion
from cotvtm_desktop.media.probe import probe
from cotvtm_desktop.media.segments import plan_segments
from cotvtm_desktop.reasoning.rules import reason
from media import make_two_shot_video, make_video

DATA = Path(__file__).parent / "data"


def visual(brightness, saturation, warmth, motion, cut_rate=0.0, scenes=None, palette=("grey",)):
    valence, arousal = estimate_emotion(brightness, saturation, warmth, motion, cut_rate)
    return VisualElements(brightness, saturation, warmth, list(palette), motion, cut_rate,
                          ObjectTags([("thing", 0.5)], scenes or {}), valence, arousal)


def test_colour_stats_tell_warm_from_cool_and_bright_from_dark():
    warm = np.full((20, 20, 3), (230, 140, 40), np.uint8)
    cool = np.full((20, 20, 3), (30, 80, 200), np.uint8)
    dark = np.full((20, 20, 3), (20, 20, 25), np.uint8)
    assert colour.colour_stats(warm)["warmth"] > 0.5 > -0.5 > colour.colour_stats(cool)["warmth"]
    assert colour.colour_stats(warm)["brightness"] > colour.colour_stats(dark)["brightness"] + 0.3
    assert colour.palette_names(colour.colour_stats(warm)["palette"])[0] == "orange"
    assert colour.palette_names(colour.colour_stats(cool)["palette"])[0] == "blue"
    assert colour.palette_names(colour.colour_stats(dark)["palette"])[0] == "black"


def test_warmer_brighter_more_saturated_means_higher_valence_and_major():
    gloomy = visual(0.2, 0.1, -0.5, 0.1)
    sunny = visual(0.75, 0.6, 0.7, 0.1)
    assert sunny.valence > gloomy.valence + 0.3
    assert estimate_emotion(0.5, 0.3, 0.6, 0.2)[0] > estimate_emotion(0.5, 0.3, -0.6, 0.2)[0]  # warmth alone
    assert estimate_emotion(0.7, 0.3, 0, 0.2)[0] > estimate_emotion(0.3, 0.3, 0, 0.2)[0]  # brightness alone
    assert estimate_emotion(0.5, 0.6, 0, 0.2)[0] > estimate_emotion(0.5, 0.1, 0, 0.2)[0]  # saturation alone
    assert reason(sunny).mode == "major" and reason(gloomy).mode == "minor"


def test_dark_still_segment_is_slower_and_quieter_than_bright_fast_one():
    still = reason(visual(0.15, 0.15, -0.2, 0.02))
    fast = reason(visual(0.75, 0.55, 0.4, 0.9, cut_rate=0.6))
    assert still.tempo_bpm < fast.tempo_bpm - 20
    assert still.intensity < fast.intensity - 0.3
    assert "drums" in fast.instruments and "drums" not in still.instruments


def test_scene_categories_steer_the_genre():
    calm = dict(brightness=0.55, saturation=0.35, warmth=0.3, motion=0.3)
    party = reason(visual(**calm, scenes={"celebration": 0.9}))
    cafe = reason(visual(**calm, scenes={"food": 0.9}))
    assert party.genre != cafe.genre


def test_brief_description_reads_like_a_music_description():
    brief = reason(visual(0.7, 0.5, 0.6, 0.2, palette=("yellow", "green")))
    text = brief.description()
    assert text.startswith(("A ", "An ")) and text.endswith(".")
    assert brief.genre in text and f"{round(brief.tempo_bpm)} BPM" in text and brief.instruments[0] in text


def test_objects_from_real_photos():
    from cotvtm_desktop.media.images import load_image

    cat = objects.tag_objects(objects.class_probabilities([objects.prepare(load_image(DATA / "chelsea.jpg"))]))
    cup = objects.tag_objects(objects.class_probabilities([objects.prepare(load_image(DATA / "coffee.jpg"))]))
    assert any(word in cat.labels[0][0] for word in ("cat", "tabby"))
    assert next(iter(cat.scenes)) == "pets"
    assert cup.labels[0][0] == "espresso" and next(iter(cup.scenes)) == "food"


def _reference_probabilities(images: list[np.ndarray]) -> np.ndarray:
    """EfficientNet-Lite0 run on the package's state dict with torch, as trained: every batch norm separate."""
    import torch
    import torch.nn.functional as F

    from cotvtm_desktop.analysis.efficientnet import _STAGES

    state = torch.load(objects._weights_path(), weights_only=True)

    def conv_bn(x, conv, norm, stride=1, groups=1, relu6=True):
        weight = state[f"{conv}.weight"]
        x = F.conv2d(x, weight, stride=stride, padding=(weight.shape[-1] - 1) // 2, groups=groups)
        x = F.batch_norm(x, state[f"{norm}.running_mean"], state[f"{norm}.running_var"], state[f"{norm}.weight"],
                         state[f"{norm}.bias"], training=False, eps=1e-3)
        return F.relu6(x) if relu6 else x

    with torch.no_grad():
        x = conv_bn(torch.from_numpy(np.stack(images)), "_conv_stem", "_bn0", stride=2)
        index = 0
        for expand, _, stride, c_in, c_out, repeats in _STAGES:
            for r in range(repeats):
                name, first = f"_blocks.{index}", r == 0
                y = conv_bn(x, f"{name}._expand_conv", f"{name}._bn0") if expand != 1 else x
                y = conv_bn(y, f"{name}._depthwise_conv", f"{name}._bn1", stride if first else 1, y.shape[1])
                y = conv_bn(y, f"{name}._project_conv", f"{name}._bn2", relu6=False)
                x = x + y if not first or (stride == 1 and c_in == c_out) else y
                index += 1
        x = conv_bn(x, "_conv_head", "_bn1")
        logits = F.linear(x.mean(dim=(2, 3)), state["_fc.weight"], state["_fc.bias"])
        return torch.softmax(logits, dim=1).numpy()


def test_object_graph_gives_the_trained_networks_probabilities():
    from cotvtm_desktop.media.images import load_image

    images = [objects.prepare(load_image(DATA / name)) for name in ("chelsea.jpg", "coffee.jpg")]
    images.append(np.random.default_rng(0).uniform(-1, 1, images[0].shape).astype(np.float32))
    assert np.allclose(objects.class_probabilities(images), _reference_probabilities(images), atol=1e-5)


def test_legacy_state_dicts_read_without_torch_as_torch_reads_them(tmp_path):
    import torch

    from cotvtm_desktop.analysis import torch_legacy

    shipped = torch_legacy.read_state_dict(objects._weights_path())
    reference = torch.load(objects._weights_path(), weights_only=True)
    def same(ours: dict, torchs: dict) -> bool:
        return list(ours) == list(torchs) and all(
            np.array_equal(ours[k], v.numpy()) and ours[k].dtype == v.numpy().dtype for k, v in torchs.items())

    assert same(shipped, reference)

    base = torch.arange(24, dtype=torch.float64).reshape(4, 6)
    views = {"transposed": base.t(), "slice": base[1:3, 2:], "int": torch.tensor([3, -1], dtype=torch.int32),
             "half": torch.ones(3, dtype=torch.float16), "flags": torch.tensor([True, False])}
    path = tmp_path / "views.pth"
    torch.save(views, path, _use_new_zipfile_serialization=False)  # the views share one storage in the file
    read = torch_legacy.read_state_dict(path)
    assert same(read, views)

    path.write_bytes(path.read_bytes()[:-40])  # cut short
    with pytest.raises(torch_legacy.LegacyFormatError, match="truncated"):
        torch_legacy.read_state_dict(path)
    torch.save(views, path)  # the zip format of torch >= 1.6
    with pytest.raises(torch_legacy.LegacyFormatError, match="legacy format"):
        torch_legacy.read_state_dict(path)


def test_legacy_reader_runs_no_pickled_code(tmp_path):
    import pickle

    from cotvtm_desktop.analysis import torch_legacy

    path = tmp_path / "evil.pth"
    header = b"".join(pickle.dumps(x, protocol=2) for x in (torch_legacy._MAGIC, torch_legacy._PROTOCOL,
                                                            {"little_endian": True}))
    path.write_bytes(header + pickle.dumps(os.getcwd, protocol=2))  # any global outside a state dict's few
    with pytest.raises(torch_legacy.LegacyFormatError, match="getcwd is not part of a state dict"):
        torch_legacy.read_state_dict(path)


@pytest.fixture
def fresh_object_cache(tmp_path, monkeypatch):
    """An empty cache folder, and the classifier forgotten so that the next call loads it through the cache."""
    monkeypatch.setenv("COTVTM_CACHE", str(tmp_path / "cache"))
    objects._load_classifier.cache_clear()
    yield tmp_path / "cache"
    objects._load_classifier.cache_clear()


def test_object_graph_is_built_once_and_never_imports_torch(fresh_object_cache):
    import subprocess
    import sys

    script = ("import sys, numpy as np; from cotvtm_desktop.analysis import objects; "
              "p = objects.class_probabilities([np.zeros((3, 224, 224), np.float32)]); "
              "print(p.shape[1], round(float(p.sum()), 3), 'torch' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={**os.environ, "COTVTM_CACHE": str(fresh_object_cache)}).stdout.split()
            for _ in range(2)]
    assert runs == [["1000", "1.0", "False"]] * 2  # built from the weights without torch, then loaded
    assert [p.name for p in fresh_object_cache.iterdir()] == [objects._cached_graph_path().name]


def test_a_damaged_or_unwritable_object_cache_is_not_an_error(fresh_object_cache, tmp_path, monkeypatch):
    from cotvtm_desktop.media.images import load_image

    image = [objects.prepare(load_image(DATA / "coffee.jpg"))]
    expected = _reference_probabilities(image)
    fresh_object_cache.mkdir()
    objects._cached_graph_path().write_bytes(b"half a graph")  # e.g. a copy cut short
    assert np.allclose(objects.class_probabilities(image), expected, atol=1e-5)
    assert objects._cached_graph_path().stat().st_size > 10_000_000  # rebuilt in place

    (tmp_path / "a file").write_text("")
    monkeypatch.setenv("COTVTM_CACHE", str(tmp_path / "a file" / "cache"))  # cannot be created
    objects._load_classifier.cache_clear()
    assert np.allclose(objects.class_probabilities(image), expected, atol=1e-5)


def test_scan_finds_the_cut_and_the_plan_snaps_to_it(tmp_path):
    path = make_two_shot_video(tmp_path / "two shots.mp4", "red", "navy", cut_at=11.52, seconds=22)
    info = probe(path)
    timeline = scan_video(info, keyframe_interval=10 / 3)
    assert len(timeline.cuts) == 1 and timeline.cuts[0] == pytest.approx(11.52, abs=1e-3)  # the first navy frame
    segments = plan_segments(info.duration, timeline.cuts)
    assert segments[0].end == pytest.approx(11.52, abs=1e-3)
    first, second = (describe_segment(timeline, s.start, s.end) for s in segments)
    assert first.palette[0] == "red" and second.palette[0] == "blue"
    assert first.warmth > 0.5 and second.warmth < -0.5
    assert len(timeline.keyframe_times) >= 6


def test_sparse_sampling_finds_a_cut_between_keyframes(tmp_path):
    path = make_two_shot_video(tmp_path / "phone-like.mp4", "orange", "teal", cut_at=12.32, seconds=24, gop=25)
    info = probe(path)
    assert info.keyframe_interval == pytest.approx(1.0)  # sampled at keyframes, not decoded in full
    timeline = scan_video(info, keyframe_interval=10 / 3)
    assert np.allclose(np.diff(timeline.times), 1.0)
    assert len(timeline.cuts) == 1 and timeline.cuts[0] == pytest.approx(12.32, abs=1e-3)  # to the frame
    assert plan_segments(info.duration, timeline.cuts)[0].end == pytest.approx(12.32, abs=1e-3)


def test_a_range_of_a_phone_video_is_sampled_at_its_keyframes_too(tmp_path):
    """A clip of an edit: from the keyframe before its range on, a cut inside it found between keyframes."""
    path = make_two_shot_video(tmp_path / "phone-like.mp4", "orange", "teal", cut_at=12.32, seconds=24, gop=25)
    info = probe(path)
    part = scan_video(info, 10 / 3, window=(5.5, 20.0))
    assert part.times[0] == pytest.approx(5.0) and part.times[-1] == pytest.approx(20.0)
    assert np.allclose(np.diff(part.times), 1.0)  # keyframes only, not decoded in full
    assert len(part.cuts) == 1 and part.cuts[0] == pytest.approx(12.32, abs=1e-3)
    assert part.warmth[part.times < 12].mean() > 0.5 > part.warmth[part.times > 13].mean()
    short = scan_video(info, 10 / 3, window=(5.5, 7.5))  # under three keyframe intervals: decoded at the full rate
    assert np.median(np.diff(short.times)) == pytest.approx(1 / 6, abs=0.02)


@pytest.mark.parametrize("cut_at", [5.36, 5.40, 5.44, 5.48])
def test_a_cut_on_a_frame_the_full_rate_scan_skips_is_found_to_the_frame(tmp_path, monkeypatch, cut_at):
    """A long-GOP file (an export, a screen recording) with B-frames and no keyframe at the cut: the full-rate scan
    decodes reference frames only, one in four here, so the new shot's first frame is often one it skipped."""
    path = make_two_shot_video(tmp_path / "export.mp4", "red", "navy", cut_at=cut_at, seconds=10, gop=100)
    info = probe(path)
    assert info.keyframe_interval > config.SPARSE_KEYFRAME_GAP[1]  # scanned at the full rate
    assert scan_video(info, 10 / 3).cuts == [pytest.approx(cut_at, abs=1e-3)]
    # with the keyframe (at 4 s) too far back to decode from again, the cut is the first new frame the scan decoded
    monkeypatch.setattr(config, "CUT_LOCATE_MAX_DECODE_SECONDS", 1.0)
    late = scan_video(info, 10 / 3).cuts
    assert len(late) == 1 and cut_at - 1e-3 <= late[0] <= cut_at + 4 / 25


@pytest.mark.parametrize("gop", [None, 12])
def test_motion_is_measured(tmp_path, gop):
    extra = ("-g", str(gop)) if gop else ()
    moving = scan_video(probe(make_video(tmp_path / "moving.mp4", 4, audio=False, extra=extra)), 2.0)
    still = scan_video(probe(make_two_shot_video(tmp_path / "still.mp4", "gray", "gray", 2, 4, gop=gop)), 2.0)
    assert np.median(moving.motion) > 3 * np.median(still.motion)


def test_keyframe_and_full_rate_sampling_agree(tmp_path):
    dense = scan_video(probe(make_video(tmp_path / "dense.mp4", 8, audio=False)), 2.0)
    sparse = scan_video(probe(make_video(tmp_path / "sparse.mp4", 8, audio=False, extra=("-g", "25"))), 2.0)
    for name in ("brightness", "saturation", "warmth"):
        assert getattr(sparse, name).mean() == pytest.approx(getattr(dense, name).mean(), abs=0.05)
    assert np.median(sparse.motion) == pytest.approx(np.median(dense.motion), rel=0.5)


def test_frames_are_turned_upright(tmp_path):
    from media import ffmpeg

    # left half red, right half blue; turned 90 degrees counter-clockwise for display -> red at the bottom
    src = tmp_path / "halves.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=160x90:d=2", "-f", "lavfi", "-i", "color=c=blue:size=160x90:d=2",
           "-filter_complex", "[0:v]crop=80:90:0:0[l];[1:v]crop=80:90:0:0[r];[l][r]hstack", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(src))
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(src), "-c", "copy", str(rotated))
    from cotvtm_desktop.media.thumbnails import thumbnail

    info = probe(rotated)
    assert (info.width, info.height) == (90, 160)
    thumb = thumbnail(info, 1.0, 64)
    assert thumb.shape[0] > thumb.shape[1]  # portrait
    top, bottom = thumb[: thumb.shape[0] // 3].mean(axis=(0, 1)), thumb[-thumb.shape[0] // 3:].mean(axis=(0, 1))
    assert top[2] > top[0] and bottom[0] > bottom[2]  # blue on top, red at the bottom


@pytest.mark.parametrize("gop", [25, 500])  # a keyframe every second, as phones; every 20 s
def test_a_videos_pictures_come_from_one_opening_and_show_the_shot_at_each_time(tmp_path, monkeypatch, gop):
    """A keyframe within 2 s before a time stands for it (one frame decoded); one farther back, and the file is
    decoded up to the time: either way each picture shows the shot on screen then, red before the cut at 6 s and
    blue after; the file is opened once for them all (a long video's hundreds of segment pictures)."""
    import av

    from cotvtm_desktop.media import frames
    from cotvtm_desktop.media.thumbnails import thumbnails

    video = make_two_shot_video(tmp_path / "cut.mp4", "red", "blue", 6.0, 12.0, gop=gop)
    info = probe(video)
    opened, real_open = [], av.open
    monkeypatch.setattr(frames.av, "open", lambda *a, **k: opened.append(a) or real_open(*a, **k))
    pictures = thumbnails(info, [5.5, 6.5, 3.0, 11.9, 30.0], 32)
    assert len(opened) == 1 and all(p.shape == (32, 57, 3) for p in pictures)
    colours = [picture.mean(axis=(0, 1)) for picture in pictures]
    assert all(colours[k][0] > 2 * colours[k][2] for k in (0, 2))  # 5.5 s and 3 s: red
    assert all(colours[k][2] > 2 * colours[k][0] for k in (1, 3, 4))  # 6.5 s, 11.9 s and past the end: blue


def test_image_scan(tmp_path):
    timeline = scan_image(probe(DATA / "coffee.jpg"))
    assert len(timeline.times) == 1 and timeline.keyframe_probabilities.shape == (1, 1000)


def test_keyframe_models_run_beside_decoding_in_order_with_a_bounded_queue(monkeypatch):
    import threading
    import time

    from cotvtm_desktop.analysis import scan

    monkeypatch.setattr(scan, "_KEYFRAMES_IN_FLIGHT", 6)  # two batches of three

    submitted, seen, held = [0], [], []
    lock = threading.Lock()

    def features(keyframes):  # a slow model: decoding must wait for it rather than queue every keyframe
        time.sleep(0.02)
        with lock:
            seen.append(int(keyframes[0][0, 0, 0]))
            held.append(submitted[0] - len(seen) + 1)
        return np.array([[k[0, 0, 0]] for k in keyframes], np.float32)

    batches = [[np.full((16, 16, 3), 10 * b + i, np.uint8) for i in range(3)] for b in range(8)]
    with scan._KeyframeModels(features, 3) as models:
        for batch in batches:
            with lock:
                submitted[0] += 1
            models.submit(batch)
        probabilities, rows = models.results()
    assert probabilities.shape == (24, 1000)
    assert rows[:, 0].tolist() == [10 * b + i for b in range(8) for i in range(3)]  # in submission order
    assert seen == [10 * b for b in range(8)] and max(held) <= 2 + 1


def test_scaled_frames_match_pyav_whatever_sizes_and_threads_ask(tmp_path):
    """to_rgb keeps one scaler per thread and size; its pixels are PyAV's own, sizes interleaved."""
    import threading

    import av

    from cotvtm_desktop.media.frames import to_rgb

    path = make_video(tmp_path / "bars.mp4", 1, size="320x180", audio=False)
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))[:6]
    sizes = [(96, 54), (64, 36), (96, 54), (320, 180)]
    expected = [[f.to_ndarray(format="rgb24", width=w, height=h) for w, h in sizes] for f in frames]
    got = {}

    def convert(name):
        got[name] = [[to_rgb(f, w, h, 0) for w, h in sizes] for f in frames]

    threads = [threading.Thread(target=convert, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(a, b) for run in got.values() for row, want in zip(run, expected)
               for a, b in zip(row, want))
    assert len(got) == 3
