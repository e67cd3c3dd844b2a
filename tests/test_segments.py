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
