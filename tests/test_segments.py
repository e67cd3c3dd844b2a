import pytest

from cotvtm_desktop.jobs.edits import place_edits
from cotvtm_desktop.media.segments import plan_segments
from cotvtm_desktop.music.backend import SegmentEdit


def bounds(segments):
    return [(round(s.start, 3), round(s.end, 3)) for s in segments]


def test_short_tail_merges_into_previous_segment():
    assert bounds(plan_segments(10.048)) == [(0, 10.048)]
    assert bounds(plan_segments(13.9)) == [(0, 13.9)]


def test_regular_split_and_last_segment_never_tiny():
    segments = plan_segments(65.0)
    assert len(segments) == 7  # six of 10 s, then 5 s: long enough to stand alone
    assert all(s.duration >= 4.0 for s in segments)
    assert bounds(plan_segments(62.0))[-1] == (50, 62.0)  # a 2 s tail joins the segment before
    assert segments[-1].end == 65.0
    assert bounds(plan_segments(20.0)) == [(0, 10), (10, 20)]


def test_short_video_is_one_segment():
    assert bounds(plan_segments(2.0)) == [(0, 2.0)]


def test_boundaries_snap_to_nearby_cuts():
    segments = plan_segments(40.0, cuts=[12.2, 21.0, 33.5])
    assert [round(s.end, 3) for s in segments[:-1]] == [12.2, 21.0, 33.5]


def test_far_cuts_are_ignored_and_segments_stay_long_enough():
    segments = plan_segments(30.0, cuts=[4.5, 25.5, 28.0])
    assert bounds(segments) == [(0, 10), (10, 20), (20, 30)]  # 4.5 is not within 3 s of 10; 28 leaves a 2 s tail


def test_with_no_cut_near_a_boundary_lands_on_the_nearest_landing():
    """A slideshow's photo held long: the boundary inside it falls on one of its bar lines (the `landings`), not
    wherever 10 s ends; a cut near still wins, and a landing too far is not taken."""
    landings = [4.5 + 2.3 * k for k in range(1, 8)]  # a photo from 4.5 s to 22.9 s, bars of 2.3 s
    assert bounds(plan_segments(30.0, cuts=[4.5, 22.9], landings=landings)) == [(0, 9.1), (9.1, 18.3), (18.3, 30)]
    assert bounds(plan_segments(30.0, cuts=[4.5, 11.0, 22.9], landings=landings))[0] == (0, 11.0)
    assert bounds(plan_segments(30.0, landings=[14.0, 16.0])) == [(0, 10), (10, 20), (20, 30)]


def test_custom_segment_length():
    segments = plan_segments(30.0, segment_seconds=5.0)
    assert len(segments) == 6 and all(s.duration == pytest.approx(5.0) for s in segments)


def test_a_silence_is_cut_out_of_the_plan_and_every_segment_it_does_not_touch_keeps_its_times():
    plain = bounds(plan_segments(60.0, cuts=[33.0]))
    assert plain == [(0, 10), (10, 20), (20, 33), (33, 43), (43, 53), (53, 60)]
    segments = plan_segments(60.0, cuts=[33.0], silences=[(22.0, 35.0)])
    # 20-22 is a scrap: it joins the segment before; 35-43 is what is left of 33-43
    assert bounds(segments) == [(0, 10), (10, 22), (22, 35), (35, 43), (43, 53), (53, 60)]
    assert [s.silent for s in segments] == [False, False, True, False, False, False]
    assert [s.index for s in segments] == list(range(6))


def test_a_scrap_at_a_stretch_of_musics_start_joins_the_segment_after_it():
    segments = plan_segments(40.0, silences=[(5.0, 18.0)])  # 18-20 is left of 10-20: it joins 20-30
    assert [(round(s.start, 3), round(s.end, 3), s.silent) for s in segments] == [
        (0, 5, False), (5, 18, True), (18, 30, False), (30, 40, False)]
    overlapping = plan_segments(40.0, silences=[(12.0, 16.0), (15.0, 26.0)])  # one silence, 12-26
    assert [(round(s.start, 3), round(s.end, 3), s.silent) for s in overlapping] == [
        (0, 12, False), (12, 26, True), (26, 30, False), (30, 40, False)]  # 4 s: not a scrap


@pytest.mark.parametrize("silences, expected", [
    ([(2.0, 10.0)], [(0, 10, True), (10, 20, False)]),  # 2 s of music before it: not worth playing
    ([(8.0, 18.5)], [(0, 8, False), (8, 20, True)]),  # nor 1.5 s after it
    ([(5.0, 9.0), (11.0, 14.0)], [(0, 5, False), (5, 14, True), (14, 20, False)]),  # nor 2 s between two
    ([(-5.0, 6.0), (30.0, 40.0)], [(0, 6, True), (6, 20, False)]),  # clipped to the video
])
def test_silences_leave_no_scrap_of_music(silences, expected):
    segments = plan_segments(20.0, silences=silences, segment_seconds=20.0)
    assert [(round(s.start, 3), round(s.end, 3), s.silent) for s in segments] == expected


def test_an_edit_with_times_follows_its_segment_when_a_silence_renumbers_the_plan():
    before = plan_segments(40.0)
    after = plan_segments(40.0, silences=[(3.0, 8.0)])  # 0-8 silent, then 8-20 (a scrap joined 10-20), 20-30, ...
    assert bounds(after) == [(0, 8), (8, 20), (20, 30), (30, 40)]
    edits = {2: SegmentEdit(seed=9, at=(before[2].start, before[2].end)),  # 20-30: now the third
             0: SegmentEdit(seed=4, at=(0.0, 10.0)),  # 0-10 is gone
             1: SegmentEdit(prompt="strings"),  # by number, as on a command line
             7: SegmentEdit(silent=True)}  # past the end
    placed, left_out = place_edits(edits, after)
    assert placed == {2: edits[2], 1: edits[1]}
    assert left_out == ["the edit of segment 1 (0:00.0–0:10.0) is left out: no segment runs then any more (the "
                        "video, the segment length or the stretches without music changed)",
                        "the edit of segment 8 is left out: there are 4 segments"]
    timed_wins = {1: SegmentEdit(seed=1), 3: SegmentEdit(seed=2, at=(8.0, 20.0))}
    assert place_edits(timed_wins, after)[0] == {1: timed_wins[3]}
