"""The per-visitor tracker: one visit per person, not one per frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from emotion_model.labels import LABELS
from emotion_model.track import Tracker, Visit

FPS = 15
FRAME_MS = 1000 / FPS


def onehot(label: str, p: float = 0.9) -> np.ndarray:
    """A probability vector with ``p`` on ``label`` and the rest spread evenly."""
    v = np.full(len(LABELS), (1.0 - p) / (len(LABELS) - 1))
    v[LABELS.index(label)] = p
    return v


def vec(**probs: float) -> np.ndarray:
    v = np.array([probs.get(label, 0.0) for label in LABELS])
    return v / v.sum()


def run(tracker: Tracker, frames: list[list[tuple[tuple[int, int, int, int], np.ndarray]]]) -> list[Visit]:
    """Feed ``frames`` (each a list of (box, probs)) at 15 fps; flush at the end; all visits."""
    visits = []
    for i, faces in enumerate(frames):
        boxes = [box for box, _ in faces]
        probs = np.array([p for _, p in faces]).reshape(len(faces), len(LABELS))
        visits += tracker.update(round(i * FRAME_MS), boxes, probs)
    return visits + tracker.flush()


def test_one_face_walking_is_one_visit():
    frames = [[((100 + 5 * i, 120, 100, 100), onehot("happy"))] for i in range(30)]
    tracker = Tracker(LABELS)
    visits = run(tracker, frames)
    assert len(visits) == 1
    v = visits[0]
    assert (v.start_ms, v.end_ms, v.frames, v.dominant) == (0, round(29 * FRAME_MS), 30, "happy")
    assert v.duration_ms == v.end_ms - v.start_ms
    assert abs(sum(v.dist.values()) - 1.0) < 1e-3
    assert set(v.dist) == set(LABELS)
    assert all(round(x, 4) == x for x in v.dist.values())
    assert tracker.active == 0 and tracker.dropped == 0


def test_two_faces_crossing_paths_stay_two_tracks():
    # A walks right, B walks left, 40 px apart vertically: their boxes overlap where the paths cross
    frames = []
    for i in range(40):
        a = ((40 + 12 * i, 100, 100, 100), onehot("happy"))
        b = ((520 - 12 * i, 140, 100, 100), onehot("angry"))
        frames.append([b, a] if i % 2 else [a, b])  # the detector's order means nothing
    visits = run(Tracker(LABELS), frames)
    assert len(visits) == 2
    assert sorted(v.dominant for v in visits) == ["angry", "happy"]
    assert all(v.frames == 40 for v in visits)
    # no identity swap at the crossing: each track kept its own emotion throughout
    assert all(v.dist[v.dominant] > 0.85 for v in visits)


def test_short_gap_stays_one_visit():
    frames = [[((200 + 3 * i, 150, 110, 110), onehot("sad"))] for i in range(20)]
    for i in range(8, 16):  # missing for 8 frames (~530 ms < max_gap_ms), e.g. the head turned away
        frames[i] = []
    visits = run(Tracker(LABELS, max_gap_ms=1500), frames)
    assert len(visits) == 1
    assert visits[0].frames == 12
    assert visits[0].end_ms == round(19 * FRAME_MS)


def test_long_gap_gives_two_visits():
    face = [((200, 150, 110, 110), onehot("neutral"))]
    frames = [face] * 10 + [[]] * 30 + [face] * 10  # 2 s away > max_gap_ms, same place
    tracker = Tracker(LABELS, max_gap_ms=1500)
    visits = []
    for i, faces in enumerate(frames):
        ended = tracker.update(round(i * FRAME_MS), [b for b, _ in faces], np.array([p for _, p in faces]))
        if ended:
            # the first visit is reported as soon as its gap exceeds max_gap_ms, not at the end
            assert round(9 * FRAME_MS) + 1500 < i * FRAME_MS < 40 * FRAME_MS
        visits += ended
    visits += tracker.flush()
    assert len(visits) == 2
    assert visits[0].end_ms < visits[1].start_ms
    assert visits[0].track_id != visits[1].track_id
    assert [v.frames for v in visits] == [10, 10]


def test_one_frame_false_positive_gives_no_visit():
    frames = [[] for _ in range(20)]
    frames[5] = [((300, 200, 90, 90), onehot("fear"))]
    tracker = Tracker(LABELS)
    assert run(tracker, frames) == []
    assert tracker.dropped == 1


def test_flicker_beside_a_real_visitor_is_dropped():
    frames = [[((100 + 4 * i, 100, 100, 100), onehot("happy"))] for i in range(20)]
    frames[7] = [*frames[7], ((450, 300, 80, 80), onehot("angry"))]  # a poster, for one frame
    tracker = Tracker(LABELS)
    visits = run(tracker, frames)
    assert [v.dominant for v in visits] == ["happy"]
    assert tracker.dropped == 1


def test_single_outlier_frame_does_not_flip_the_dominant_label():
    weak_happy = vec(happy=0.40, neutral=0.35, sad=0.25)
    outlier = onehot("angry", 1.0)
    frames = [[((200, 150, 100, 100), p)] for p in (weak_happy, outlier, weak_happy)]
    # the plain mean of these three frames would say "angry" (0.333 > 0.267) ...
    raw_mean = np.mean([weak_happy, outlier, weak_happy], axis=0)
    assert LABELS[int(np.argmax(raw_mean))] == "angry"
    # ... the smoothed estimate keeps "happy"
    visits = run(Tracker(LABELS, alpha=0.4), frames)
    assert len(visits) == 1
    assert visits[0].dominant == "happy"
    # and over a longer visit, a single strong outlier anywhere leaves the label alone
    for at in range(0, 12):
        probs = [onehot("neutral", 0.6)] * 12
        probs[at] = onehot("surprise", 1.0)
        visits = run(Tracker(LABELS), [[((200, 150, 100, 100), p)] for p in probs])
        assert visits[0].dominant == "neutral", at


def test_dist_sums_to_one():
    rng = np.random.default_rng(3)
    frames = []
    for i in range(25):
        p = rng.dirichlet(np.ones(len(LABELS)))
        frames.append([((150 + 2 * i, 100, 120, 120), p)])
    (visit,) = run(Tracker(LABELS), frames)
    assert abs(sum(visit.dist.values()) - 1.0) <= 1e-3
    assert visit.dominant == max(visit.dist, key=visit.dist.get)


def test_flush_ends_open_tracks():
    tracker = Tracker(LABELS)
    for i in range(5):
        tracker.update(
            i * 66, [(100 + i, 100, 100, 100), (400 - i, 120, 90, 90)], np.stack([onehot("happy")] * 2)
        )
    assert tracker.active == 2
    assert len(tracker.current()) == 2
    visits = tracker.flush(400)
    assert len(visits) == 2
    assert all(v.end_ms == 4 * 66 for v in visits)
    assert tracker.active == 0
    assert tracker.flush() == []


def test_low_fps_big_jumps_still_one_track():
    # 2 fps: the face moves 80 px (0.8 of its width) between frames, so consecutive boxes barely overlap
    tracker = Tracker(LABELS)
    visits = []
    for i in range(6):
        visits += tracker.update(i * 500, [(60 + 80 * i, 150, 100, 100)], onehot("happy")[None])
    visits += tracker.flush()
    assert len(visits) == 1
    assert visits[0].frames == 6


def test_a_jump_too_far_or_a_size_change_is_a_new_track():
    tracker = Tracker(LABELS, min_frames=1)
    tracker.update(0, [(100, 100, 100, 100)], onehot("happy")[None])
    tracker.update(66, [(260, 100, 100, 100)], onehot("happy")[None])  # the centre moved 1.6 widths
    assert tracker.active == 2
    tracker = Tracker(LABELS, min_frames=1)
    tracker.update(0, [(100, 100, 100, 100)], onehot("happy")[None])
    tracker.update(66, [(130, 100, 250, 250)], onehot("happy")[None])  # 2.5x larger, IoU 0.16
    assert tracker.active == 2


def test_one_box_is_never_given_to_two_tracks():
    tracker = Tracker(LABELS, min_frames=1)
    tracker.update(0, [(100, 100, 100, 100), (150, 100, 100, 100)], np.stack([onehot("happy")] * 2))
    tracker.update(66, [(125, 100, 100, 100)], onehot("happy")[None])  # between both: IoU 0.6 with each
    visits = tracker.flush()
    assert sorted(v.frames for v in visits) == [1, 2]


def test_bad_input_is_rejected():
    tracker = Tracker(LABELS)
    with pytest.raises(ValueError):
        tracker.update(0, [(0, 0, 10, 10)], np.zeros((2, len(LABELS))))
    with pytest.raises(ValueError):
        tracker.update(0, [(0, 0, 0, 10)], np.zeros((1, len(LABELS))))
    tracker.update(100, [], np.zeros((0, len(LABELS))))
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(50, [], np.zeros((0, len(LABELS))))
    with pytest.raises(ValueError):
        Tracker(LABELS, alpha=0)


def test_no_image_data_is_kept():
    tracker = Tracker(LABELS)
    for i in range(4):
        tracker.update(i * 66, [(100 + i, 100, 100, 100)], onehot("happy")[None])
    (track,) = tracker._tracks
    for field in dataclasses.fields(track):
        value = getattr(track, field.name)
        assert not isinstance(value, np.ndarray) or value.size <= len(LABELS), field.name


# -- the whole pipeline on the synthetic clip ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = all((ROOT / "emotion_model" / name).exists() for name in ("detect.py", "classifier.py"))
needs_pipeline = pytest.mark.skipif(
    not PIPELINE, reason="emotion_model/detect.py or classifier.py not written yet"
)


@pytest.fixture(scope="module")
def pipeline():
    from emotion_model.classifier import EmotionClassifier
    from emotion_model.detect import make_detector

    try:
        return make_detector(), EmotionClassifier()
    except FileNotFoundError as exc:  # a model file not built in this checkout
        pytest.skip(str(exc))


@needs_pipeline
def test_synthetic_clip_gives_one_visit_per_person(pipeline):
    from emotion_model.sources import SyntheticClip

    detector, classifier = pipeline
    clip = SyntheticClip(people=3)
    tracker = Tracker(classifier.labels)
    visits = []
    index = 0
    while (frame := clip.read()) is not None:
        boxes = [face.box for face in detector.detect(frame)]
        visits += tracker.update(round(index * 1000 / clip.fps), boxes, classifier.classify(frame, boxes))
        index += 1
    visits += tracker.flush()
    assert index == clip.frames_total
    assert len(visits) == 3, visits
    for visit, (first, last) in zip(visits, clip.schedule, strict=True):
        # each visit spans its person's walk (give or take a missed frame at either end)
        assert abs(visit.start_ms - first * 1000 / clip.fps) <= 2 * 1000 / clip.fps
        assert abs(visit.end_ms - last * 1000 / clip.fps) <= 2 * 1000 / clip.fps
        assert visit.frames >= 0.9 * (last - first + 1)
        assert abs(sum(visit.dist.values()) - 1.0) <= 1e-3


@needs_pipeline
def test_synthetic_frame_without_a_person_has_no_face(pipeline):
    from emotion_model.sources import SyntheticClip

    detector, _ = pipeline
    clip = SyntheticClip(people=3)
    empty = [i for i in range(clip.frames_total) if clip.person_at(i) is None]
    assert empty
    for i in (empty[0], empty[len(empty) // 2], empty[-1]):
        assert detector.detect(clip.frame(i)) == []
    first, _ = clip.schedule[0]
    (face,) = detector.detect(clip.frame(first + 10))
    x, _, w, _ = clip.face_box(first + 10)
    assert abs((face.x + face.w / 2) - (x + w / 2)) < w / 3 and face.w >= 80
