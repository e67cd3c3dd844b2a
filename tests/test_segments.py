import pytest

from cotvtm_desktop.media.segments import plan_segments


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


def test_custom_segment_length():
    segments = plan_segments(30.0, segment_seconds=5.0)
    assert len(segments) == 6 and all(s.duration == pytest.approx(5.0) for s in segments)


def test_a_silence_is_a_segment_of_its_own_with_the_music_planned_around_it():
    segments = plan_segments(60.0, cuts=[33.0], silences=[(22.0, 35.0)])
    assert bounds(segments) == [(0, 10), (10, 22), (22, 35), (35, 45), (45, 55), (55, 60)]
    assert [s.silent for s in segments] == [False, False, True, False, False, False]
    assert [s.index for s in segments] == list(range(6))


@pytest.mark.parametrize("silences, expected", [
    ([(2.0, 10.0)], [(0, 10, True), (10, 20, False)]),  # 2 s of music before it: not worth playing
    ([(8.0, 18.5)], [(0, 8, False), (8, 20, True)]),  # nor 1.5 s after it
    ([(5.0, 9.0), (11.0, 14.0)], [(0, 5, False), (5, 14, True), (14, 20, False)]),  # nor 2 s between two
    ([(-5.0, 6.0), (30.0, 40.0)], [(0, 6, True), (6, 20, False)]),  # clipped to the video
])
def test_silences_leave_no_scrap_of_music(silences, expected):
    segments = plan_segments(20.0, silences=silences, segment_seconds=20.0)
    assert [(round(s.start, 3), round(s.end, 3), s.silent) for s in segments] == expected
