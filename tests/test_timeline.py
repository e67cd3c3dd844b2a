"""Timeline inputs: clip ranges from several files scored as one piece (what the editor plugins send)."""

from __future__ import annotations

import json

import pytest
import soundfile
from media import make_two_shot_video

from cotvtm_desktop.errors import UserError
from cotvtm_desktop.jobs.runner import ScoreOptions, score
from cotvtm_desktop.media.timeline import read_timeline


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeline")
    warm = make_two_shot_video(folder / "warm.mp4", "orange", "yellow", 6.0, 12.0)
    cool = make_two_shot_video(folder / "cool.mp4", "navy", "navy", 4.5, 9.0)  # one shot
    return folder, warm, cool


def write(folder, clips, name="edit.json"):
    path = folder / name
    path.write_text(json.dumps({"clips": clips}))
    return path


def test_a_timeline_scores_into_music_of_its_length_with_cuts_at_the_joins(sources, tmp_path):
    folder, warm, cool = sources
    edit = write(folder, [{"path": "warm.mp4", "in": 1.0, "out": 8.5}, {"blank": 1.5},
                          {"path": str(cool), "in": 0.5, "out": 8.5}, {"path": "warm.mp4", "in": 9, "out": 12.04}])
    out = tmp_path / "music.wav"
    events = []
    manifest = score(edit, out, ScoreOptions(backend="procedural"), events.append)
    audio, rate = soundfile.read(out)
    assert rate == 48000 and len(audio) / rate == pytest.approx(7.5 + 1.5 + 8 + 3, abs=0.01)
    assert manifest["input"]["kind"] == "timeline" and len(manifest["clips"]) == 4
    assert [c["offset"] for c in manifest["clips"]] == [0, 7.5, 9, 17]
    for join in (7.5, 9.0, 17.0):
        assert any(abs(c - join) < 0.01 for c in manifest["cuts"])
    assert any(abs(c - 5.0) < 0.3 for c in manifest["cuts"])  # warm.mp4's own cut at 6 s, 1 s into the clip
    boundaries = [s["end"] for s in manifest["segments"]]
    assert boundaries[-1] == pytest.approx(20.0) and all(
        min(abs(b - c) for c in manifest["cuts"]) < 0.01 for b in boundaries[:-1])  # music changes on cuts
    warm_segment, cool_segment = manifest["segments"][:2]  # 0-9 s: warm and its gap; 9-20 s: mostly navy
    assert warm_segment["visual"]["warmth"] > cool_segment["visual"]["warmth"]
    assert manifest["video_stream"] is None and "file_done" in [e["type"] for e in events]


def test_timeline_output_is_audio_only(sources, tmp_path):
    folder, warm, _ = sources
    edit = write(folder, [{"path": "warm.mp4", "in": 0, "out": 3}], "short.json")
    with pytest.raises(UserError, match="use .wav, .flac, .m4a"):
        score(edit, tmp_path / "x.mp4", ScoreOptions(backend="procedural"))
    score(edit, tmp_path / "x.flac", ScoreOptions(backend="procedural"))
    assert soundfile.info(tmp_path / "x.flac").duration == pytest.approx(3.0, abs=0.01)


@pytest.mark.parametrize("clips, message", [
    ([], "at least one clip"),
    ([{"blank": 2}], "only gaps"),
    ([{"path": "warm.mp4", "in": 5, "out": 4}], "must satisfy 0 ≤ in < out"),
    ([{"path": "warm.mp4", "in": 0, "out": 30}], "its length (12 s)"),
    ([{"path": "gone.mp4", "in": 0, "out": 1}], "gone.mp4: file not found"),
    ([{"path": "warm.mp4", "in": "0", "out": 1}], "expected seconds as a number"),
    ([{"in": 0, "out": 1}], "clip 1: no path"),
    ([{"blank": 0}], "more than 0 s"),
])
def test_bad_timelines_are_one_clear_error(sources, clips, message):
    folder, *_ = sources
    with pytest.raises(UserError, match=None) as caught:
        read_timeline(write(folder, clips, "bad.json"))
    assert message in str(caught.value)


def test_the_manifest_never_overwrites_the_timeline_it_reads(sources, tmp_path):
    folder, warm, _ = sources
    edit = write(tmp_path, [{"path": str(warm), "in": 0, "out": 5}])
    before = edit.read_text()
    with pytest.raises(UserError, match="the manifest edit.json would overwrite the input"):
        score(edit, tmp_path / "edit.wav", ScoreOptions(backend="procedural"))  # edit.wav's manifest: edit.json
    assert edit.read_text() == before and not (tmp_path / "edit.wav").exists()


def test_a_still_image_needs_its_duration(sources):
    folder, *_ = sources
    from PIL import Image

    Image.new("RGB", (64, 48), (10, 200, 30)).save(folder / "still.png")
    with pytest.raises(UserError, match="needs in and out"):
        read_timeline(write(folder, [{"path": "still.png"}], "still.json"))
    clips = read_timeline(write(folder, [{"path": "still.png", "in": 0, "out": 2.5}], "still.json"))
    assert clips[0].duration == 2.5
