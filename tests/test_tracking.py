"""The per-camera plate tracker (pure): association by predicted overlap and plate text, idle closing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lapi.tracking import Box, PlateTracker, TrackerConfig, text_similarity


@dataclass(frozen=True)
class B:
    x: int
    y: int
    w: int
    h: int


@dataclass(frozen=True)
class R:
    plate_norm: str
    box: B


def read(text: str, x: float, y: float, w: float = 120, h: float = 30) -> R:
    return R(text, B(int(x), int(y), int(w), int(h)))


def test_text_similarity():
    assert text_similarity("EH561ZR", "EH561ZR") == 1.0
    assert text_similarity("EH561", "EH561ZR") == pytest.approx(5 / 7)
    assert text_similarity("EH561ZR", "BD808QS") < 0.3
    assert text_similarity("", "AB") == 0.0


def test_box_iou():
    assert Box(0, 0, 10, 10).iou(Box(0, 0, 10, 10)) == 1.0
    assert Box(0, 0, 10, 10).iou(Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert Box(0, 0, 10, 10).iou(Box(20, 0, 10, 10)) == 0.0


def test_fast_plate_followed_by_its_motion_not_its_last_box():
    """Moving 150 px a frame, a 120 px plate never overlaps its previous box.  A garbled read (text
    nothing like the plate's) is only accepted where the constant-velocity prediction puts the plate."""
    tracker = PlateTracker(TrackerConfig(idle_s=1.0))
    tracks = set()
    for i in range(8):
        text = "W7Z7H" if i == 4 else "AB123CD"
        update = tracker.update(i * 0.1, [read(text, 10 + 150 * i, 100)])
        tracks.add(update.assigned[0].id)
    assert len(tracks) == 1
    (track,) = tracker.tracks
    assert len(track.observations) == 8
    assert track.velocity[0] == pytest.approx(1500.0)  # px per second
    assert track.predicted(0.8).iou(Box(10 + 150 * 8, 100, 120, 30)) > 0.9
    # the same garbled read next to the plate's last box, i.e. against its motion: not this vehicle
    assert tracker.update(0.8, [read("W7Z7H", 10 + 150 * 6, 100)]).started


def test_missed_frames_within_idle_time_continue_the_track_and_a_long_gap_starts_another():
    tracker = PlateTracker(TrackerConfig(idle_s=0.5))
    first = tracker.update(0.0, [read("AB123CD", 100, 100)]).assigned[0]
    tracker.update(0.1, [read("AB123CD", 110, 102)])
    # two frames without a read (blur), the plate has moved on at the same speed
    again = tracker.update(0.4, [read("AB123CD", 140, 108)])
    assert again.assigned[0] is first and not again.closed
    # nothing for 0.6 s > idle_s: the next read of the same plate is a new pass
    later = tracker.update(1.0, [read("AB123CD", 140, 108)])
    assert later.closed == [first]
    assert later.assigned[0] is not first and later.started == later.assigned


def test_two_lanes_keep_their_plates_even_when_boxes_cross():
    """Two plates moving towards each other: at the frame where they pass, text decides."""
    tracker = PlateTracker(TrackerConfig(idle_s=1.0))
    ids: dict[str, set[int]] = {"AB123CD": set(), "XY987ZT": set()}
    for i in range(7):
        left = read("AB123CD", 100 + 40 * i, 100)
        right = read("XY987ZT", 340 - 40 * i, 104)
        update = tracker.update(i * 0.1, [right, left] if i % 2 else [left, right])
        for r, tr in zip([right, left] if i % 2 else [left, right], update.assigned):
            ids[r.plate_norm].add(tr.id)
    assert all(len(v) == 1 for v in ids.values())
    assert ids["AB123CD"] != ids["XY987ZT"]


def test_a_partial_read_joins_its_vehicle_but_an_unrelated_plate_far_off_does_not():
    tracker = PlateTracker(TrackerConfig(idle_s=1.0))
    a = tracker.update(0.0, [read("EH561ZR", 100, 100)]).assigned[0]
    tracker.update(0.1, [read("EH561ZR", 105, 110)])
    # occluded: only the left half is boxed and read, centre shifted by a quarter width
    half = tracker.update(0.2, [read("EH561", 110, 120, w=60)])
    assert half.assigned[0] is a
    # a different plate, three plate widths away: another vehicle
    other = tracker.update(0.3, [read("EH561ZR", 115, 130), read("QQ111QQ", 500, 130)])
    assert other.assigned[0] is a and other.assigned[1] is not a


def test_out_of_order_frame_is_taken_at_the_latest_time_and_flush_closes_everything():
    tracker = PlateTracker(TrackerConfig(idle_s=1.0))
    tracker.update(10.0, [read("AB123CD", 100, 100)])
    update = tracker.update(9.5, [read("AB123CD", 102, 100)])  # arrived late
    assert update.assigned[0].last_seen == 10.0 and tracker.now == 10.0
    assert tracker.close_idle(10.5) == []
    closed = tracker.flush()
    assert len(closed) == 1 and tracker.tracks == []


def test_a_plate_boxed_twice_in_one_frame_is_one_vehicle_but_a_plate_beside_it_is_another():
    """The detector sometimes cuts one plate into two boxes ("4821" and "21TX62" of 4821 TX 62)."""
    tracker = PlateTracker(TrackerConfig(idle_s=1.0))
    track = None
    for i in range(3):
        track = tracker.update(0.1 * i, [read("4821TX62", 330, 250 + 10 * i, w=180, h=42)]).assigned[0]
    split = tracker.update(0.3, [read("4821", 329, 282, w=72, h=33), read("21TX62", 383, 278, w=129, h=43)])
    assert split.assigned == [track, track] and not split.started
    assert len(track.observations) == 3 and track.pieces == 2  # pieces of the plate do not move the track
    # a garbled read of the part right of a post in front of the plate: wholly inside it, so part of it
    post = tracker.update(0.4, [read("4821", 329, 292, w=72, h=33), read("7DZD72", 420, 290, w=84, h=40)])
    assert post.assigned == [track, track] and track.pieces == 4
    # a different plate beside it is not a fragment, nor is a piece of this plate far from where it is
    other = tracker.update(0.5, [read("4821TX62", 330, 300, w=180, h=42), read("AB123CD", 470, 302, w=100, h=30),
                                 read("4821", 900, 40, w=72, h=33)])
    assert other.assigned[0] is track and other.assigned[1] is not track and other.assigned[2] is not track
    assert len(other.started) == 2
