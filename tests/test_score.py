"""End to end: what a user would check with ffprobe and their ears on the files `score` writes."""

import hashlib
import json
import threading
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from cotvtm_desktop.errors import BadMediaError, Cancelled, OutputError, UserError
from cotvtm_desktop.jobs.runner import OutputExists, ScoreOptions, default_output, score
from cotvtm_desktop.media.probe import probe
from media import (combing, decode_audio, ffmpeg, lufs, make_two_shot_video, make_video, momentary_trace, streams,
                   tone_level)


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def video_packets(path, count=30):
    with av.open(str(path)) as c:
        return [bytes(p) for _, p in zip(range(count), c.demux(video=0)) if p.size]


@pytest.fixture(scope="module")
def scored(tmp_path_factory, clip12):
    out = tmp_path_factory.mktemp("scored") / "bars.scored.mp4"
    before = sha(clip12)
    events = []
    manifest = score(clip12, out, ScoreOptions(midi=True), events.append)
    assert sha(clip12) == before  # the input is never touched
    return out, manifest, events


def test_output_streams_durations_and_copied_video(scored, clip12):
    out, manifest, _ = scored
    info = streams(out)
    assert info["video"] == "h264" and info["audio"] == "aac" and info["audio_rate"] == 48000
    assert info["duration"] == pytest.approx(12.0, abs=0.06)
    assert video_packets(out) == video_packets(clip12)  # copied bit for bit, not re-encoded
    assert manifest["video_stream"] == "copied"


def test_loudness_and_original_audio_kept(scored):
    out, manifest, _ = scored
    audio = decode_audio(out)
    assert len(audio) / 48000 == pytest.approx(12.0, abs=0.06)
    assert lufs(audio) == pytest.approx(-16.0, abs=1.0)
    assert tone_level(audio, 440) > 40  # the original 440 Hz tone is still clearly there
    assert manifest["loudness"]["original_audio"] == "kept; it has no voices for the music to dip under"  # a tone


def test_manifest_midi_and_events(scored):
    out, manifest, events = scored
    on_disk = json.loads(out.with_suffix(".json").read_text())
    assert on_disk["segments"] == json.loads(json.dumps(manifest["segments"]))
    assert [s["start"] for s in manifest["segments"]] == [0.0]  # 12 s: one segment (tail < 4 s merges)
    segment = manifest["segments"][0]
    assert {"visual", "brief", "arrangement"} <= set(segment) and segment["brief"]["description"].endswith(".")
    assert set(manifest["timings"]) >= {"analysis", "music", "mixing", "writing", "total"}
    assert out.with_suffix(".mid").stat().st_size > 200
    types = [e["type"] for e in events]
    assert types[0] == "job_started" and types[-1] == "file_done" and "segment_done" in types
    assert not (out.parent / ".cotvtm-work").exists()  # the work folder goes once the output is complete


def test_the_music_marks_a_cut_inside_a_segment(tmp_path):
    """A cut found to its frame becomes a hit in the segment's arrangement: a note of the bass there, and a crash
    or a chord with it."""
    import pretty_midi

    clip = make_two_shot_video(tmp_path / "two shots.mp4", "orange", "teal", cut_at=5.2, seconds=12)
    out = tmp_path / "two shots.scored.mp4"
    manifest = score(clip, out, ScoreOptions(midi=True))
    (segment,) = manifest["segments"]
    assert segment["arrangement"]["hits"] == [pytest.approx(5.2, abs=1e-3)]
    midi = pretty_midi.PrettyMIDI(str(out.with_suffix(".mid")))
    at_cut = {i.name.split()[0] for i in midi.instruments for n in i.notes if abs(n.start - 5.2) <= 0.051}
    assert "bass" in at_cut and at_cut & {"drums", "chords"}


def test_the_melody_rests_where_someone_speaks_in_the_kept_sound(tmp_path):
    """Someone talks from 4 to 8 s: the music's melody makes room (the accompaniment goes on); with the original's
    sound replaced there is nobody to make room for."""
    import pretty_midi

    talking = "0.3*sin(2*PI*600*t)*between(t,4,8)*(0.5+0.5*sin(2*PI*4*t))*(0.5+0.5*sin(2*PI*4*t))"
    clip = tmp_path / "talk.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i",
           f"aevalsrc=exprs='{talking}':s=48000", "-t", "12", "-c:v", "libx264", "-c:a", "aac", str(clip))
    manifest = score(clip, tmp_path / "kept.mp4", ScoreOptions(midi=True))
    [(start, end)] = manifest["segments"][0]["arrangement"]["voices"]
    assert 3.7 < start < 4.0 and 8.0 < end < 8.8  # from just before the voice to just after (look-ahead, hold)
    melody = [n for i in pretty_midi.PrettyMIDI(str(tmp_path / "kept.mid")).instruments if i.name.startswith("melody")
              for n in i.notes]
    assert melody and not [n for n in melody if n.start < end and n.end > start]
    assert manifest["loudness"]["original_audio"] == "kept, the music dipped under its voices"
    [(spoken_from, spoken_to)] = manifest["voices"]  # where the music dips, for a front end to show
    assert 3.7 < spoken_from < 4.0 and 8.0 < spoken_to < 8.8  # with the dip's look-ahead and hold
    replaced = score(clip, tmp_path / "replaced.mp4", ScoreOptions(replace_audio=True))
    assert replaced["segments"][0]["arrangement"]["voices"] == [] and replaced["voices"] == []


def test_the_manifest_traces_the_loudness_of_the_music_and_the_original(tmp_path):
    """`loudness.levels`: the music's and the original's momentary loudness along the result, as they sit in it —
    what the app draws under the player. Someone talks from 4 to 8 s: the original rises there and the music dips;
    the music's trace is the music-alone file's own, measured from the standard's filters."""
    talking = "0.3*sin(2*PI*600*t)*between(t,4,8)*(0.5+0.5*sin(2*PI*4*t))+0.01*sin(2*PI*150*t)"
    clip = tmp_path / "talk.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25", "-f", "lavfi", "-i",
           f"aevalsrc=exprs='{talking}':s=48000", "-t", "12", "-c:v", "libx264", "-c:a", "aac", str(clip))
    manifest = score(clip, tmp_path / "music.wav")
    levels = manifest["loudness"]["levels"]
    assert levels["seconds"] == 0.2 and len(levels["music"]) == len(levels["original"]) == 60
    music, original = np.array(levels["music"]), np.array(levels["original"])
    speaking, before = slice(25, 35), slice(8, 18)  # 5-7 s, 1.6-3.6 s
    assert original[speaking].min() > original[before].max() + 15
    assert music[before].mean() - music[speaking].mean() > 8  # dipped by about --duck-db
    measured = momentary_trace(decode_audio(tmp_path / "music.wav"), 2)
    assert np.abs(measured[1:59] - music[1:59]).max() <= 1.0  # the first and last windows hold half a block


def test_a_long_video_has_at_most_so_many_levels():
    from cotvtm_desktop.media.audio import level_envelopes

    two_hours = level_envelopes(music=np.full(72000, 1e-3))
    assert two_hours["seconds"] == 2.4 and len(two_hours["music"]) == 3000
    assert set(two_hours["music"]) == {round(-0.691 - 30)}  # whole dB
    assert level_envelopes(music=np.zeros(50))["music"] == [-70] * 25  # silence


def test_replace_audio_drops_the_original(tmp_path, clip12, scored):
    out = tmp_path / "replaced.mp4"
    manifest = score(clip12, out, ScoreOptions(replace_audio=True))
    audio = decode_audio(out)
    assert tone_level(decode_audio(scored[0]), 440) > tone_level(audio, 440) + 15
    assert manifest["loudness"]["original_audio"] == "replaced"
    assert lufs(audio) == pytest.approx(-16.0, abs=1.0)


def test_music_level_option_sets_the_music_against_the_original(tmp_path, clip12, scored):
    """--music-db -6: the same music 6 dB quieter against the original sound (its 440 Hz tone stands that much
    further over the music's spectrum), the mix still at the target."""
    manifest = score(clip12, tmp_path / "quieter.mp4", ScoreOptions(music_db=-6.0))
    audio = decode_audio(tmp_path / "quieter.mp4")
    assert 4.5 < tone_level(audio, 440) - tone_level(decode_audio(scored[0]), 440) < 7.5
    assert lufs(audio) == pytest.approx(-16.0, abs=1.0)
    assert manifest["loudness"]["music_level_db"] == -6.0
    assert manifest["loudness"]["music_placed"].endswith("then 6 dB lower, as asked")


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_a_video_scored_to_an_audio_file_gets_its_music_alone(tmp_path, clip12, scored, suffix):
    """A track for an editor, under the clip's own sound: the music as it sits in the mp4's mix (ducked, at the
    same level), without the original sound."""
    out = tmp_path / f"music{suffix}"
    manifest = score(clip12, out)
    music, mixed = decode_audio(out), decode_audio(scored[0])
    info = streams(out)
    assert info["video"] is None and info["audio"] == ("aac" if suffix == ".m4a" else "pcm_s24le")
    assert len(music) / 48000 == pytest.approx(12.0, abs=0.06)
    assert tone_level(mixed, 440) > tone_level(music, 440) + 15  # the original's 440 Hz tone is not in it
    # at its level in the mix, not brought up to the target alone: the original's steady tone is background, 8 LU
    # under the music, so the mix measures 0.6 LU over the music
    assert lufs(mixed) - 1.0 < lufs(music) < lufs(mixed) - 0.3
    assert manifest["loudness"]["original_audio"].startswith("not in this file") and manifest["video_stream"] is None


def test_lufs_option(tmp_path, silent_clip):
    out = tmp_path / "quiet.mp4"
    score(silent_clip, out, ScoreOptions(target_lufs=-23.0))
    assert lufs(decode_audio(out)) == pytest.approx(-23.0, abs=1.0)
    assert streams(out)["audio"] == "aac"  # a video without sound gets the music


@pytest.mark.parametrize("container,tags", [
    ("mp4", {"creation_time": "2024-07-14T15:30:00.000000Z", "location": "+48.8584+002.2945/", "title": "Paris"}),
    ("mov", {"com.apple.quicktime.creationdate": "2024-07-14T17:30:00+0200",  # an iPhone's own keys
             "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
             "com.apple.quicktime.model": "iPhone 15"}),
    ("webm", {"title": "Beach"}),  # VP8: the picture is re-encoded to H.264, the tags still come along
])
def test_the_video_comes_first_with_its_tags(tmp_path, clip12, container, tags):
    """When and where it was filmed, so the scored video sorts and maps like the original in a photo library."""
    source = tmp_path / f"trip.{container}"
    tag_args = [a for key, value in tags.items() for a in ("-metadata", f"{key}={value}")]
    codec = ["-c:v", "libvpx", "-c:a", "libvorbis"] if container == "webm" else ["-c", "copy"]
    mdta = ["-movflags", "use_metadata_tags"] if container == "mov" else []
    ffmpeg("-i", str(clip12), "-metadata:s:v:0", "language=fra", *codec, *mdta, *tag_args, str(source))
    out = tmp_path / "trip.scored.mp4"
    score(source, out)
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert tags.items() <= dict(c.metadata).items()
        if container == "mp4":
            assert c.streams.video[0].metadata["language"] == "fra"


def _chapters_file(path, *chapters):
    text = ";FFMETADATA1\n" + "".join(f"[CHAPTER]\nTIMEBASE=1/1000\nSTART={a}\nEND={b}\ntitle={t}\n"
                                       for a, b, t in chapters)
    path.write_text(text)
    return path


def test_the_sources_other_tracks_come_along(tmp_path):
    """A second sound (a camera's PCM, starting late), subtitles (SubRip) and chapters are carried after the scored
    sound, which takes the original's language and is the one a player plays."""
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:02,000 --> 00:00:04,000\nHappy birthday\n")
    chapters = _chapters_file(tmp_path / "chapters.txt", (0, 5000, "Arrival"), (5000, 12000, "Cake"))
    source = tmp_path / "party.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=12", "-f", "lavfi", "-i", "sine=f=440:d=12",
           "-itsoffset", "1.5", "-f", "lavfi", "-i", "sine=f=660:d=8", "-i", str(srt), "-i", str(chapters),
           "-map", "0", "-map", "1", "-map", "2", "-map", "3", "-map_chapters", "4", "-c:v", "libx264",
           "-c:a:0", "aac", "-c:a:1", "pcm_s16le", "-c:s", "srt", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1",
           "language=fra", "-metadata:s:s:0", "language=ger", str(source))
    out = tmp_path / "party.scored.mp4"
    events = []
    score(source, out, events=events.append)
    assert not [e for e in events if e["type"] == "notice"]
    with av.open(str(out)) as c:
        kinds = [(s.type, s.codec_context.name, s.metadata.get("language"), bool(s.disposition & 1))
                 for s in c.streams if s.type != "data"]  # mp4 keeps chapters' titles in a text track of its own
        assert kinds == [("video", "h264", "und", True), ("audio", "aac", "eng", True),
                         ("audio", "aac", "fra", False), ("subtitle", "mov_text", "ger", True)]
        assert [(ch["metadata"]["title"], ch["start"] * ch["time_base"]) for ch in c.chapters()] == [
            ("Arrival", 0), ("Cake", 5)]
        second = c.streams.audio[1]
        # its first sound where it was against the picture (the AAC encoder's priming counts before it)
        assert float(second.start_time * second.time_base) == pytest.approx(1.5, abs=0.03)
        assert float(second.duration * second.time_base) == pytest.approx(8, abs=0.05)
        cues = [(float(p.pts * p.time_base), bytes(p)[2:]) for p in c.demux(c.streams.subtitles[0]) if p.size > 2]
        assert cues == [(2.0, b"Happy birthday")]
    tracks = json.loads(out.with_suffix(".json").read_text())["tracks"]
    assert tracks == [{"index": 2, "type": "audio", "codec": "pcm_s16le", "language": "fra"},
                      {"index": 3, "type": "subtitle", "codec": "srt", "language": "ger"}]


@pytest.mark.parametrize("codec", [("-c:v", "libx264"), ("-c:v", "prores_ks")])  # copied, or made H.264
def test_the_cameras_timecode_is_kept(tmp_path, codec):
    """A camera's (or an editor's) timecode track: the scored mp4 has the same timecode at its first frame, in a
    timecode track of its own, so an editor lines the scored copy up with the original."""
    source = tmp_path / "A001.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=4", "-f", "lavfi", "-i", "sine=f=440:d=4",
           *codec, "-c:a", "pcm_s16le", "-timecode", "10:00:00:00", str(source))
    out = tmp_path / "A001.scored.mp4"
    events = []
    score(source, out, events=events.append)
    assert not [e for e in events if e["type"] == "notice"]
    with av.open(str(out)) as c:
        assert c.streams.video[0].metadata["timecode"] == "10:00:00:00"
        assert [s.metadata.get("timecode") for s in c.streams if s.type == "data"] == ["10:00:00:00"]
    assert json.loads(out.with_suffix(".json").read_text())["tracks"] == [
        {"index": 2, "type": "data", "codec": "timecode", "language": "eng"}]


def test_tracks_an_mp4_cannot_carry_are_named(tmp_path):
    """A second picture (a second camera's, cover art) is left out, said in a notice and the manifest; the picture
    made H.264 (VP8 cannot go in an mp4) still gets the second sound, against its own start."""
    source = tmp_path / "two cameras.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=6", "-f", "lavfi",
           "-i", "smptebars=size=320x180:rate=25:duration=6", "-f", "lavfi", "-i", "sine=f=440:d=6",
           "-f", "lavfi", "-i", "sine=f=660:d=6", "-map", "0", "-map", "1", "-map", "2", "-map", "3",
           "-c:v", "libvpx", "-c:a", "libopus", "-output_ts_offset", "3", str(source))
    out = tmp_path / "cams.mp4"
    events = []
    score(source, out, events=events.append)
    notices = [e["message"] for e in events if e["type"] == "notice"]
    assert notices == ["two cameras.mkv: its video track 2 (vp8) is not in the scored mp4: the scored mp4 has one "
                       "picture (the original keeps it)"]
    with av.open(str(out)) as c:
        assert [(s.type, s.codec_context.name) for s in c.streams] == [("video", "h264"), ("audio", "aac"),
                                                                         ("audio", "opus")]
        second = c.streams.audio[1]
        assert float(second.start_time * second.time_base) == pytest.approx(0, abs=0.03)
        assert float(second.duration * second.time_base) == pytest.approx(6, abs=0.05)
    manifest = json.loads(out.with_suffix(".json").read_text())
    assert manifest["video_stream"] == "re-encoded to H.264"
    assert manifest["tracks"][0] == {"index": 1, "type": "video", "codec": "vp8",
                                     "why_left_out": "the scored mp4 has one picture"}


def test_rotation_is_preserved(tmp_path, clip12):
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-display_rotation", "90", "-i", str(clip12), "-c", "copy", str(rotated))
    out = tmp_path / "rotated.scored.mp4"
    score(rotated, out)
    assert streams(out)["rotation"] == streams(rotated)["rotation"] != 0


def test_vfr_keeps_timestamps(tmp_path):
    vfr = make_video(tmp_path / "vfr.mp4", 6, rate=30,
                     extra=("-vf", r"select='lt(n\,60)+not(mod(n\,3))'", "-fps_mode", "vfr"))
    out = tmp_path / "vfr.scored.mp4"
    score(vfr, out)

    def pts(path):
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            return sorted(float(p.pts * s.time_base) for p in c.demux(s) if p.pts is not None)

    assert np.allclose(np.diff(pts(out)), np.diff(pts(vfr)), atol=1e-3)
    assert streams(out)["duration"] == pytest.approx(6.0, abs=0.1)


@pytest.mark.parametrize("name,vcodec", [("late.mp4", ("-c:v", "libx264")),  # copied
                                          ("late.webm", ("-c:v", "libvpx", "-deadline", "realtime"))])  # re-encoded
def test_timestamps_that_do_not_start_at_zero(tmp_path, name, vcodec):
    """A file whose clock starts at 5 s (a cut from a recording), its sound 1 s after its first frame."""
    src = tmp_path / name
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-itsoffset", "1", "-f", "lavfi", "-i",
           "sine=frequency=2500:sample_rate=48000", "-t", "6", *vcodec, "-output_ts_offset", "5", str(src))
    info = probe(src)
    assert info.start_time == pytest.approx(5.0, abs=0.05) and info.duration == pytest.approx(6.0, abs=0.1)
    out = tmp_path / "late.scored.mp4"
    score(src, out)
    assert streams(out)["duration"] == pytest.approx(6.0, abs=0.1)
    with av.open(str(out)) as c:
        assert all(float(s.start_time * s.time_base) == pytest.approx(0.0, abs=0.05) for s in c.streams)
    audio = decode_audio(out)
    before, after = audio[int(0.1 * 48000):int(0.8 * 48000)], audio[int(1.3 * 48000):int(2.0 * 48000)]
    assert tone_level(after, 2500) > tone_level(before, 2500) + 15  # the sound still starts 1 s in


def test_a_video_trimmed_without_re_encoding_is_scored_as_it_plays(tmp_path):
    """Trimmed without re-encoding (LosslessCut, `ffmpeg -ss -c copy`, an editor's quick trim), a video keeps the
    frames from the keyframe before the cut, hidden by an edit list. It is scored as it plays: 5 s from the cut, its
    first frame the cut's, its sound where it was; before, the 2 hidden seconds showed and had music."""
    full = tmp_path / "full.mp4"
    beep = "0.5*sin(2*PI*2500*t)*between(t,3,3.5)"  # 1 s after the cut
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i",
           f"aevalsrc=exprs='{beep}':s=48000", "-t", "10", "-c:v", "libx264", "-g", "125", "-pix_fmt", "yuv420p",
           "-c:a", "aac", str(full))
    trimmed = tmp_path / "trimmed.mov"
    ffmpeg("-ss", "2", "-i", str(full), "-t", "5", "-c", "copy", str(trimmed))  # the keyframe before is at 0
    assert (probe(trimmed).start_time, probe(trimmed).duration) == (pytest.approx(0, abs=0.01),
                                                                     pytest.approx(5, abs=0.1))
    out = tmp_path / "trimmed.scored.mp4"
    manifest = score(trimmed, out)
    assert manifest["video_stream"] == "copied" and streams(out)["duration"] == pytest.approx(5, abs=0.1)
    with av.open(str(out)) as scored, av.open(str(full)) as source:
        first = next(scored.decode(video=0)).to_ndarray(format="rgb24").astype(float)
        at_cut = next(f for f in source.decode(video=0) if f.time >= 2 - 1e-3).to_ndarray(format="rgb24")
    assert np.abs(first - at_cut).mean() < 1
    sound = decode_audio(out)
    assert tone_level(sound[int(1.05 * 48000):int(1.45 * 48000)], 2500) > tone_level(sound[:int(0.9 * 48000)],
                                                                                      2500) + 15


def test_a_recording_a_camera_split_across_files_is_scored_as_one_video(tmp_path):
    """A 12 s recording in three 4 s files (as a GoPro splits its chapters), joined: one mp4 whose picture is the
    recording's, copied packet for packet; the joins are no scene cuts (the music runs on through them) and the
    sound goes on across them."""
    recording = tmp_path / "ride.mp4"
    beep = "0.4*sin(2*PI*2500*t)*between(t,3.5,4.5)"  # across the first join
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=25", "-f", "lavfi", "-i", f"aevalsrc=exprs='{beep}':s=48000",
           "-t", "12", "-c:v", "libx264", "-g", "25", "-pix_fmt", "yuv420p", "-c:a", "aac", str(recording))
    ffmpeg("-i", str(recording), "-c", "copy", "-f", "segment", "-segment_time", "4", "-reset_timestamps", "1",
           str(tmp_path / "GX0%d0042.MP4"))
    parts = [tmp_path / f"GX0{k}0042.MP4" for k in range(3)]
    out = tmp_path / "ride.scored.mp4"
    manifest = score(parts[0], out, then=parts[1:])
    assert manifest["video_stream"] == "copied" and len(manifest["clips"]) == 3 and manifest["cuts"] == []
    assert streams(out)["duration"] == pytest.approx(12.0, abs=0.05)
    with av.open(str(out)) as joined, av.open(str(recording)) as source:
        assert ([bytes(p) for p in joined.demux(video=0) if p.size] ==
                [bytes(p) for p in source.demux(video=0) if p.size])
    sound = decode_audio(out)
    at = {t: tone_level(sound[int(t * 48000):int((t + 0.3) * 48000)], 2500) for t in (3.6, 4.05, 6.0)}
    assert at[3.6] > at[6.0] + 15 and at[4.05] > at[6.0] + 15  # the beep before and after the join


def test_joined_parts_must_be_of_one_recording_and_a_dvds_are_re_encoded(tmp_path):
    """A DVD title's VOBs (interlaced MPEG-2, which no mp4 carries) join into one deinterlaced H.264 picture, their
    second sound track (a commentary) named as left out; files of different pictures are refused, named, before any
    work."""
    vobs = []
    for k in (1, 2):
        vobs.append(tmp_path / f"VTS_01_{k}.VOB")
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=720x480:rate=60000/1001", "-f", "lavfi", "-i",
               "sine=frequency=500:sample_rate=48000", "-f", "lavfi", "-i", "sine=frequency=700:sample_rate=48000",
               "-t", "2", "-map", "0", "-map", "1", "-map", "2", "-vf", "tinterlace=mode=interleave_top,setfield=tff",
               "-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-c:a", "ac3", "-f", "vob", str(vobs[-1]))
    out = tmp_path / "title.mp4"
    events = []
    manifest = score(vobs[0], out, events=events.append, then=vobs[1:])
    assert manifest["video_stream"] == "re-encoded to H.264, deinterlaced (a frame from each field)"
    [track] = manifest["tracks"]
    assert (track["type"], track["codec"]) == ("audio", "ac3") and "joined" in track["why_left_out"]
    assert [e["message"] for e in events if e["type"] == "notice"] == [
        f"VTS_01_1.VOB: its audio track 3 (ac3) is not in the scored mp4: {track['why_left_out']} (the original "
        "keeps it)"]
    assert streams(out)["duration"] == pytest.approx(4.0, abs=0.1)
    other = make_video(tmp_path / "phone.mp4", 2)
    with pytest.raises(UserError, match=r"phone.mp4: its picture \(h264 320x180.*differs from VTS_01_1.VOB's"):
        score(vobs[0], tmp_path / "mixed.mp4", then=[other])
    assert not (tmp_path / "mixed.mp4").exists()


@pytest.mark.parametrize("name,vcodec,acodec,copied", [
    ("clip.mkv", ("-c:v", "libx264"), ("-c:a", "aac"), True),
    ("clip.mov", ("-c:v", "libx264", "-pix_fmt", "yuv420p"), ("-c:a", "aac"), True),
    ("clip.webm", ("-c:v", "libvpx-vp9", "-deadline", "realtime"), ("-c:a", "libopus"), True),
    ("vp8.webm", ("-c:v", "libvpx", "-deadline", "realtime"), ("-c:a", "libopus"), False),
])
def test_containers(tmp_path, name, vcodec, acodec, copied):
    src = make_video(tmp_path / name, 4, vcodec=vcodec, acodec=acodec)
    out = tmp_path / "out.mp4"
    manifest = score(src, out)
    info = streams(out)
    assert info["video"] == ("vp9" if "libvpx-vp9" in vcodec else "h264") and info["audio"] == "aac"
    assert manifest["video_stream"] == ("copied" if copied else "re-encoded to H.264")
    assert info["duration"] == pytest.approx(4.0, abs=0.1)


def test_a_camcorder_tapes_interlaced_picture_is_deinterlaced_when_re_encoded(tmp_path):
    """A DV tape's 29.97 interlaced frames (two moments each, a field apiece; DV goes into no mp4) become 59.94
    progressive frames, one from each field, at the tape's 4:3 shape: re-encoded as they were, every movement showed
    combed on a phone or in a browser."""
    tape = tmp_path / "tape.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=720x480:rate=60000/1001", "-f", "lavfi", "-i", "sine=frequency=500",
           "-t", "2", "-vf", "tinterlace=mode=interleave_bottom,setfield=bff", "-c:v", "dvvideo", "-pix_fmt",
           "yuv411p", "-aspect", "4:3", "-c:a", "pcm_s16le", str(tape))
    assert probe(tape).interlaced and combing(tape) > 0.9
    out = tmp_path / "tape.scored.mp4"
    manifest = score(tape, out)
    assert manifest["video_stream"] == "re-encoded to H.264, deinterlaced (a frame from each field)"
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == pytest.approx(60000 / 1001, rel=0.01)
        assert stream.sample_aspect_ratio == Fraction(8, 9) and not next(container.decode(video=0)).interlaced_frame
    assert combing(out) < 0.7 and streams(out)["duration"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("seconds,segments", [(2, 1), (10.048, 1), (65, 7)])
def test_lengths(tmp_path, seconds, segments):
    src = make_video(tmp_path / "clip.mp4", seconds, size="160x90", rate=12)
    out = tmp_path / "out.mp4"
    manifest = score(src, out)
    assert len(manifest["segments"]) == segments
    assert streams(out)["duration"] == pytest.approx(manifest["input"]["duration"], abs=0.06)
    assert len(decode_audio(out)) / 48000 == pytest.approx(manifest["input"]["duration"], abs=0.06)


@pytest.mark.parametrize("suffix,codec", [(".m4a", "aac"), (".wav", "pcm_s24le"), (".flac", "flac"),
                                          (".mp4", "aac")])
def test_images(tmp_path, suffix, codec):
    photo = Path(__file__).parent / "data" / "coffee.jpg"
    out = tmp_path / f"coffee{suffix}"
    manifest = score(photo, out, ScoreOptions(image_seconds=8.0))
    info = streams(out)
    assert info["audio"] == codec and info["duration"] == pytest.approx(8.0, abs=0.1)
    assert (info["video"] == "h264") == (suffix == ".mp4")
    assert manifest["segments"][0]["visual"]["objects"]["labels"][0][0] == "espresso"
    assert default_output(photo).name == "coffee.scored.m4a"


def test_phone_photo(tmp_path):
    """A phone's HEIC photo, stored turned a quarter: scored as it is shown, and the mp4 shows it upright."""
    from PIL import Image

    data = Path(__file__).parent / "data"
    out = tmp_path / "coffee.mp4"
    manifest = score(data / "coffee.heic", out, ScoreOptions(image_seconds=3.0))
    assert manifest["segments"][0]["visual"]["objects"]["labels"][0][0] == "espresso"
    with av.open(str(out)) as container:  # in BT.709 and tagged so (matrix, primaries, transfer, video levels)
        tags = container.streams.video[0].codec_context
        assert (tags.colorspace, tags.color_primaries, tags.color_trc, tags.color_range) == (1, 1, 1, 1)
        frame = next(container.decode(video=0)).reformat(format="rgb24", src_colorspace="ITU709").to_ndarray()
    jpeg = np.asarray(Image.open(data / "coffee.jpg").convert("RGB").resize((300, 200), Image.Resampling.LANCZOS),
                      float)
    assert frame.shape == (200, 300, 3) and np.abs(frame - jpeg).mean() < 8


def test_a_video_too_short_for_music_is_refused_and_a_second_is_enough(tmp_path):
    """A blink of a video (a fraction of a second) ends in one message naming it, nothing written; one second
    long, it is scored (its single analysis sample is its keyframe)."""
    blink = make_video(tmp_path / "blink.mp4", 0.2)
    with pytest.raises(BadMediaError, match=r"blink.mp4.*0\.20 s long: too short to score"):
        score(blink, tmp_path / "blink.scored.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blink.mp4"]
    second = make_video(tmp_path / "second.mp4", 1.0)
    manifest = score(second, tmp_path / "second.scored.mp4")
    assert streams(tmp_path / "second.scored.mp4")["duration"] == pytest.approx(1.0, abs=0.05)
    assert manifest["segments"][0]["visual"]["objects"]["labels"]


def test_existing_output_is_skipped_unless_overwrite(tmp_path, silent_clip):
    out = tmp_path / "exists.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExists):
        score(silent_clip, out)
    assert out.read_bytes() == b"precious"
    score(silent_clip, out, ScoreOptions(overwrite=True))
    assert streams(out)["audio"] == "aac"


def test_output_must_not_be_the_input_and_must_be_mp4_or_audio(tmp_path, silent_clip):
    with pytest.raises(OutputError, match="overwrite the input"):
        score(silent_clip, silent_clip, ScoreOptions(overwrite=True))
    with pytest.raises(OutputError, match="use .mp4, .wav, .flac, .m4a"):
        score(silent_clip, tmp_path / "x.avi")


def test_unwritable_output_folder(tmp_path, silent_clip):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputError, match="output folder cannot be created") as raised:
        score(silent_clip, blocker / "out.mp4")
    assert raised.value.path == blocker


def test_bad_input_leaves_nothing(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 5000)
    out = tmp_path / "broken.scored.mp4"
    with pytest.raises(BadMediaError):
        score(bad, out)
    assert list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize("where", ["premix", "_write_pcm", "save_segment"])  # the last two write on threads
def test_full_disk_gives_one_message_and_no_output(tmp_path, silent_clip, monkeypatch, where):
    import errno

    from cotvtm_desktop.jobs.workdir import WorkDir
    from cotvtm_desktop.media import audio

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "music.f32"))

    monkeypatch.setattr(WorkDir if where == "save_segment" else audio, where, full)
    out = tmp_path / "full.mp4"
    with pytest.raises(OutputError, match="disk is full"):
        score(silent_clip, out)
    assert not out.exists() and not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*partial*"))


def test_cancel_then_resume_reuses_finished_segments(tmp_path):
    src = make_video(tmp_path / "long.mp4", 32, size="160x90", rate=12)
    out = tmp_path / "long.scored.mp4"
    cancel = threading.Event()

    def stop_after_two(event):
        if event["type"] == "segment_done" and event["index"] == 2:
            cancel.set()

    with pytest.raises(Cancelled):
        score(src, out, ScoreOptions(), stop_after_two, cancel)
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    events = []
    score(src, out, ScoreOptions(resume=True), events.append)
    done = [e for e in events if e["type"] == "segment_done"]
    assert [e["cached"] for e in done] == [True, True, False]
    assert not any(e["type"] == "progress" for e in events)  # the analysis was cached too
    assert streams(out)["duration"] == pytest.approx(32.0, abs=0.1)


def test_a_result_resumed_from_the_work_folder_equals_one_made_afresh(tmp_path):
    """The work folder keeps segments as 24-bit FLAC and the job mixes the very samples it keeps: the music after a
    stop and --resume (two segments from the folder, one rendered) is the music made in one go, bit for bit."""
    src = make_video(tmp_path / "long.mp4", 32, size="160x90", rate=12, audio=False)
    cancel = threading.Event()

    def stop_after_two(event):
        if event["type"] == "segment_done" and event["index"] == 2:  # numbered from 1
            cancel.set()

    resumed, afresh = tmp_path / "resumed.wav", tmp_path / "afresh.wav"
    with pytest.raises(Cancelled):
        score(src, resumed, ScoreOptions(), stop_after_two, cancel)
    events = []
    score(src, resumed, ScoreOptions(resume=True), events.append)
    assert [e["cached"] for e in events if e["type"] == "segment_done"] == [True, True, False]
    score(src, afresh, ScoreOptions())
    assert np.array_equal(decode_audio(resumed), decode_audio(afresh))


def test_segment_audio_is_kept_within_a_24_bit_step(tmp_path):
    from cotvtm_desktop.jobs.workdir import WorkDir, stored_audio

    work = WorkDir(tmp_path / "out.mp4")
    work.prepare(resume=False)
    (work.path / "segment-0003-old.wav").write_bytes(b"a cache from before")
    rng = np.random.default_rng(0)
    for peak, scale in ((0.8, 1), (1.0, 1), (2.5, 4)):  # MusicGen's decoder can overshoot: kept scaled, not clipped
        music = (rng.uniform(-1, 1, (4800, 2)) * peak).astype(np.float32)
        work.save_segment(3, f"key{peak}", music, 48000)
        kept = work.load_segment(3, f"key{peak}")
        assert np.array_equal(kept, stored_audio(music)) and kept.dtype == np.float32
        assert np.max(np.abs(kept - music)) <= scale * 2 ** -24  # half a step
        assert [f.name for f in work.path.iterdir()] == [f"segment-0003-key{peak}.flac"]  # the stale one gone
    assert work.load_segment(3, "another") is None


def test_cancel_while_writing_stems_leaves_nothing_behind(tmp_path, silent_clip, monkeypatch):
    from cotvtm_desktop.media import audio

    cancel = threading.Event()
    original = audio.MasteredSoundtrack.write_stems

    def cancelled_as_it_starts(self, stems, paths):
        cancel.set()
        return original(self, stems, paths)

    monkeypatch.setattr(audio.MasteredSoundtrack, "write_stems", cancelled_as_it_starts)
    out = tmp_path / "s.wav"
    with pytest.raises(Cancelled):
        score(silent_clip, out, ScoreOptions(stems=True), lambda event: None, cancel)
    assert not out.exists() and not (tmp_path / "s.stems").exists() and not list(tmp_path.glob(".*partial*"))


def test_cancel_while_writing_stops_within_a_block(tmp_path, silent_clip, monkeypatch):
    from cotvtm_desktop.media import mux

    taken = []
    original = mux.mux_video

    def counting(info, soundtrack, *args):
        return original(info, (taken.append(1) or packet for packet in soundtrack), *args)

    monkeypatch.setattr(mux, "mux_video", counting)
    cancel = threading.Event()

    def cancel_when_writing(event):
        if event["type"] == "stage" and event["stage"] == "writing":
            cancel.set()

    out = tmp_path / "w.mp4"
    with pytest.raises(Cancelled):
        score(silent_clip, out, ScoreOptions(), cancel_when_writing, cancel)
    assert taken == [] and not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_without_resume_work_starts_over(tmp_path, silent_clip):
    out = tmp_path / "again.mp4"
    score(silent_clip, out, ScoreOptions(keep_work=True))
    events = []
    score(silent_clip, out, ScoreOptions(overwrite=True), events.append)
    assert [e["cached"] for e in events if e["type"] == "segment_done"] == [False]


def test_same_seed_same_soundtrack(tmp_path, silent_clip):
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    score(silent_clip, a, ScoreOptions(seed=5, replace_audio=True))
    score(silent_clip, b, ScoreOptions(seed=5, replace_audio=True))
    score(silent_clip, c, ScoreOptions(seed=6, replace_audio=True))
    assert np.array_equal(decode_audio(a), decode_audio(b))
    assert not np.array_equal(decode_audio(a), decode_audio(c))


def test_hevc_is_copied_with_the_tag_apple_players_need(tmp_path):
    src = make_video(tmp_path / "iphone.mov", 3, vcodec=("-c:v", "libx265", "-pix_fmt", "yuv420p10le", "-x265-params",
                                                         "log-level=error"))
    out = tmp_path / "iphone.scored.mp4"
    manifest = score(src, out)
    assert manifest["video_stream"] == "copied"
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "hevc" and stream.codec_tag == "hvc1"
        frame = next(c.decode(stream))
        assert frame.format.name == "yuv420p10le"  # 10-bit kept as it was


def test_procedural_scoring_never_imports_torch_or_scipy_signal(clip12, tmp_path):
    """Importing them costs one to three seconds, more than scoring a short video takes without them: the object
    model runs in ONNX Runtime (once its graph is cached) and the filters in FFmpeg. Checked in a fresh
    interpreter."""
    import subprocess
    import sys

    from cotvtm_desktop.analysis import objects

    objects.load_classifier()  # the graph in the tests' cache, built with torch once
    code = ("import sys; from pathlib import Path; from cotvtm_desktop.jobs.runner import ScoreOptions, score; "
            f"score(Path({str(clip12)!r}), Path({str(tmp_path / 'out.mp4')!r}), ScoreOptions()); "
            "print(sorted(m for m in ('torch', 'scipy.signal', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip() == "[]", result.stderr
    assert (tmp_path / "out.mp4").stat().st_size > 0


@pytest.fixture(scope="module")
def sine_font(tmp_path_factory):
    """A General MIDI soundfont (every program and a drum kit) whose every instrument is a sine."""
    from media import make_soundfont

    return make_soundfont(tmp_path_factory.mktemp("fonts") / "sines.sf2", [(0, p) for p in range(128)] + [(128, 0)])


def _share_above(audio: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    return float(spectrum[np.fft.rfftfreq(len(audio), 1 / 48000) > hz].sum() / spectrum.sum())


def test_a_soundfont_of_ones_own_plays_the_music(tmp_path, silent_clip, sine_font):
    """--soundfont: the music is the font's sound (all sines: next to nothing above the notes, where the shipped
    font's instruments have their overtones), and changing the font renders every segment again."""
    import soundfile

    work = tmp_path / "work"
    options = ScoreOptions(genre="piano ballad", work_dir=work)
    shipped = score(silent_clip, tmp_path / "shipped.wav", options)
    events = []
    own = score(silent_clip, tmp_path / "own.wav", replace(options, soundfont=sine_font), events.append)
    assert own["runs_on"] == "cpu, the General MIDI soundfont sines.sf2"
    assert shipped["runs_on"] == "cpu, the General MIDI soundfont TimGM6mb.sf2"
    assert [e["cached"] for e in events if e["type"] == "segment_done"] == [False]  # not the shipped font's audio
    ours, theirs = (soundfile.read(tmp_path / name, dtype="float32")[0] for name in ("own.wav", "shipped.wav"))
    # above 2 kHz, over every note's fundamental (the tune's highest is D6, 1175 Hz), only overtones sound
    assert _share_above(ours, 2000) < 1e-4 < 1e-3 < _share_above(theirs, 2000)  # measured: 2.5e-5 and 6.9e-3


def test_a_soundfont_3_plays_the_music_as_its_soundfont_2(tmp_path, silent_clip, compressed_font):
    """--soundfont with a compressed .sf3 (MuseScore's): the shipped font compressed plays the same music, the
    codec's loss alone apart, as loud."""
    import soundfile

    options = ScoreOptions(genre="acoustic folk")
    score(silent_clip, tmp_path / "sf2.wav", options)
    report = score(silent_clip, tmp_path / "sf3.wav", replace(options, soundfont=compressed_font))
    assert report["runs_on"] == "cpu, the General MIDI soundfont TimGM6mb.sf3"
    ours, theirs = (soundfile.read(tmp_path / name, dtype="float64")[0] for name in ("sf3.wav", "sf2.wav"))
    assert ours.shape == theirs.shape and np.corrcoef(ours[:, 0], theirs[:, 0])[0, 1] > 0.99
    assert abs(10 * np.log10((ours ** 2).mean() / (theirs ** 2).mean())) < 0.2


def test_a_soundfont_it_cannot_use_is_named(tmp_path, silent_clip, sine_font):
    from cotvtm_desktop.errors import UserError
    from media import compressed_soundfont, make_soundfont

    pianos = make_soundfont(tmp_path / "piano.sf2", [(0, 0)])  # a piano alone: not General MIDI
    sf3 = compressed_soundfont(sine_font, tmp_path / "damaged.sf3")
    sf3.write_bytes(sf3.read_bytes().replace(b"\x01vorbis", b"\x01Vorbis"))  # its stream's identification header
    cut = tmp_path / "cut.sf2"
    cut.write_bytes(sine_font.read_bytes()[:-300])
    text = tmp_path / "notes.sf2"
    text.write_text("not a soundfont")
    for font, words in [(tmp_path / "missing.sf2", "soundfont not found"),
                        (text, "not a SoundFont (.sf2 or .sf3) file"),
                        (sf3, "a damaged SoundFont 3: its sample 'wave' cannot be decoded"),
                        (cut, "stops short of its end"),
                        (pianos, "this soundfont has no cello (General MIDI program 43) or strings (General MIDI "
                                 "program 49), which piano ballad needs; choose a General MIDI soundfont")]:
        out = tmp_path / "out.mp4"
        with pytest.raises(UserError) as caught:
            score(silent_clip, out, ScoreOptions(genre="piano ballad", soundfont=font))
        assert caught.value.path == font and words in str(caught.value), str(caught.value)
        assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_a_soundfont_is_asked_for_the_instruments_the_music_plays(tmp_path, silent_clip):
    """A chosen lead is needed of the font, a part left out is not."""
    from cotvtm_desktop.errors import UserError
    from media import make_soundfont

    ballad = make_soundfont(tmp_path / "ballad.sf2", [(0, 0), (0, 42), (0, 48)])  # piano, cello, strings
    options = ScoreOptions(genre="piano ballad")
    with pytest.raises(UserError, match=r"this soundfont has no violin \(General MIDI program 41\), which piano "
                                        "ballad needs"):
        score(silent_clip, tmp_path / "violin.wav", replace(options, soundfont=ballad, lead="violin"))
    pianos = make_soundfont(tmp_path / "piano.sf2", [(0, 0)])
    done = score(silent_clip, tmp_path / "piano.wav", replace(options, soundfont=pianos, without=("bass", "pad")))
    assert (tmp_path / "piano.wav").exists() and done["segments"][0]["brief"]["instruments"] == ["piano"]


@pytest.mark.parametrize("genre", ["piano ballad", "ambient", "playful", "rock"])
def test_the_tune_leads_the_mix(tmp_path, clip12, genre):
    """Each part's loudness in the result (its --stems file) under the melody's: a sustained cello bass under a
    decaying piano is turned down where the genre says (music_rules.json's "gain"); measured over 60 s before it
    was, the piano ballad's bass stood 2.4 LU over its tune, the ambient's 1.4."""
    import pyloudnorm
    import soundfile

    out = tmp_path / "music.wav"
    score(clip12, out, ScoreOptions(genre=genre, stems=True))
    meter = pyloudnorm.Meter(48000)
    levels = {path.stem: meter.integrated_loudness(soundfile.read(path)[0])
              for path in (tmp_path / "music.stems").iterdir() if np.abs(soundfile.read(path)[0]).max() > 1e-4}
    assert all(level < levels["melody"] - 1 for part, level in levels.items() if part != "melody"), levels
