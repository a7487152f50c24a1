"""The video sources: the synthetic clip, video files, cameras (and their failures), open_source()."""

from __future__ import annotations

import hashlib
from unittest import mock

import numpy as np
import pytest

from emotion_model import sources
from emotion_model.sources import (
    CameraSource,
    PicameraSource,
    Source,
    SourceError,
    SyntheticClip,
    VideoFileSource,
    open_source,
)


def clip_hash(clip: SyntheticClip) -> str:
    digest = hashlib.sha256()
    while (frame := clip.read()) is not None:
        digest.update(frame.tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def short_clip_kw():
    return {"people": 2, "fps": 10.0, "gap_s": 0.5, "walk_s": 1.5}


def test_synthetic_clip_is_deterministic(short_clip_kw):
    assert clip_hash(SyntheticClip(seed=7, **short_clip_kw)) == clip_hash(
        SyntheticClip(seed=7, **short_clip_kw)
    )
    assert clip_hash(SyntheticClip(seed=7, **short_clip_kw)) != clip_hash(
        SyntheticClip(seed=8, **short_clip_kw)
    )


def test_synthetic_clip_people_come_one_after_another():
    clip = SyntheticClip(people=3)  # 15 fps, 1 s gaps, 4 s walks
    assert isinstance(clip, Source)
    assert (clip.kind, clip.fps, clip.live) == ("synthetic", 15.0, False)
    assert clip.frames_total == 3 * 60 + 4 * 15
    assert clip.schedule == [(15, 74), (90, 149), (165, 224)]
    background = clip.frame(0).astype(np.int16)
    # between the people (and before and after them) the frames are the empty office
    for i in (0, 14, 75, 89, 150, 164, 225, 239):
        assert clip.person_at(i) is None and clip.face_box(i) is None
        assert np.abs(clip.frame(i).astype(np.int16) - background).max() <= 8, i  # sensor noise only
    for k, (first, last) in enumerate(clip.schedule):
        for i in (first, (first + last) // 2, last):
            assert clip.person_at(i) == k
            x, y, w, h = clip.face_box(i)
            assert w >= 90 and x >= 0 and x + w <= 640 and y >= 0 and y + h <= 480
            face = clip.frame(i)[y : y + h, x : x + w].astype(np.int16)
            assert np.abs(face - background[y : y + h, x : x + w]).mean() > 20, (k, i)
    # the next person enters far from where the previous one left (so they are not joined as one)
    for k in range(2):
        x_end = clip.face_box(clip.schedule[k][1])[0]
        x_start = clip.face_box(clip.schedule[k + 1][0])[0]
        assert x_end - x_start > 2 * clip.face_box(clip.schedule[k + 1][0])[2]
    # the face moves: a walk, not a still
    first, last = clip.schedule[0]
    assert clip.face_box(last)[0] - clip.face_box(first)[0] > 200


def test_synthetic_frames_are_bgr_uint8_and_read_ends(short_clip_kw):
    clip = SyntheticClip(**short_clip_kw)
    frames = 0
    while (frame := clip.read()) is not None:
        assert frame.shape == (480, 640, 3) and frame.dtype == np.uint8
        frames += 1
    assert frames == clip.frames_total == 2 * 15 + 3 * 5
    assert clip.read() is None
    clip.close()
    with pytest.raises(SourceError):
        clip.read()


def test_synthetic_clip_loops_with_the_same_people(short_clip_kw):
    clip = SyntheticClip(loop=True, **short_clip_kw)
    first_pass = [clip.read() for _ in range(clip.frames_total)]
    second_pass = [clip.read() for _ in range(clip.frames_total)]
    assert all(np.array_equal(a, b) for a, b in zip(first_pass, second_pass, strict=True))


def test_synthetic_clip_other_sizes():
    clip = SyntheticClip(people=1, size=(320, 240), fps=5.0, gap_s=0.2, walk_s=1.0)
    assert clip.read().shape == (240, 320, 3)
    with pytest.raises(ValueError):
        SyntheticClip(people=-1)


def test_write_and_read_back_a_video_file(tmp_path, short_clip_kw):
    clip = SyntheticClip(**short_clip_kw)
    path = clip.write(tmp_path / "clip.avi")
    assert path.stat().st_size > 0
    with VideoFileSource(path) as video:
        assert isinstance(video, Source)
        assert (video.kind, video.live) == ("file", False)
        assert video.fps == pytest.approx(clip.fps)
        frames = []
        while (frame := video.read()) is not None:
            frames.append(frame)
    assert len(frames) == clip.frames_total
    assert frames[0].shape == (480, 640, 3) and frames[0].dtype == np.uint8
    # MJPG is lossy, but the picture is the same
    middle = clip.schedule[0][0] + 5
    error = np.abs(frames[middle].astype(np.int16) - clip.frame(middle).astype(np.int16)).mean()
    assert error < 6


def test_video_file_loop_starts_over(tmp_path):
    clip = SyntheticClip(people=1, fps=5.0, gap_s=0.2, walk_s=0.6)
    path = clip.write(tmp_path / "short.avi")
    video = VideoFileSource(path, loop=True)
    frames = [video.read() for _ in range(clip.frames_total + 2)]
    assert all(f is not None for f in frames)
    assert np.array_equal(frames[0], frames[clip.frames_total])
    video.close()
    with pytest.raises(SourceError):
        video.read()


def test_missing_video_file_raises_naming_it(tmp_path):
    missing = tmp_path / "nowhere" / "visitors.mp4"
    with pytest.raises(SourceError, match=r"visitors\.mp4"):
        VideoFileSource(missing)
    with pytest.raises(SourceError, match=r"visitors\.mp4"):
        open_source(str(missing))
    junk = tmp_path / "junk.avi"
    junk.write_text("this is not a video")
    with pytest.raises(SourceError, match=r"junk\.avi"):
        VideoFileSource(junk)


def test_open_source_parses_every_form(tmp_path, monkeypatch):
    opened = []

    class FakeCamera:
        def __init__(self, device=0, **kw):
            opened.append(("camera", device, kw))

    class FakePicamera:
        def __init__(self, **kw):
            opened.append(("picamera", kw))

    monkeypatch.setattr(sources, "CameraSource", FakeCamera)
    monkeypatch.setattr(sources, "PicameraSource", FakePicamera)
    open_source("camera")
    open_source("camera:2", width=320)
    open_source("camera:/dev/video2")
    open_source("camera:rtsp://10.0.0.5/stream")
    open_source("picamera", fps=10)
    assert opened == [
        ("camera", 0, {}),
        ("camera", 2, {"width": 320}),
        ("camera", "/dev/video2", {}),
        ("camera", "rtsp://10.0.0.5/stream", {}),
        ("picamera", {"fps": 10}),
    ]

    path = SyntheticClip(people=1, fps=5.0, gap_s=0.2, walk_s=0.4).write(tmp_path / "a.avi")
    for spec in (f"file:{path}", str(path)):
        src = open_source(spec)
        assert isinstance(src, VideoFileSource) and src.path == path
        src.close()

    clip = open_source("synthetic")
    assert isinstance(clip, SyntheticClip) and clip.seed == 1
    clip = open_source("synthetic:42", people=1)
    assert (clip.seed, clip.people) == (42, 1)


@pytest.mark.parametrize(
    "junk", ["", "webcam", "camera0", "file:", "synthetic:abc", "picamera:1", "notes.txt"]
)
def test_open_source_rejects_junk(junk):
    with pytest.raises(ValueError) as info:
        open_source(junk)
    if junk != "synthetic:abc":
        assert "camera:/dev/videoN" in str(info.value) and "synthetic:SEED" in str(info.value)


def test_camera_that_does_not_exist_raises():
    with pytest.raises(SourceError, match="video99"):
        open_source("camera:/dev/video99")
    with pytest.raises(SourceError):
        CameraSource("/dev/video99")


class UnpluggedCapture:
    """Stands in for cv2.VideoCapture: there is no camera on the test machine, so this simulates one
    that opens, gives a few frames, and then is unplugged (read() returns (False, None) from then on)."""

    frames_before_unplug = 3

    def __init__(self, device, *args):
        self.device = device
        self.reads = 0
        self.settings = {}

    def isOpened(self):  # OpenCV's name
        return True

    def set(self, prop, value):
        self.settings[prop] = value
        return True

    def get(self, prop):
        return 0.0  # the driver does not say its frame rate

    def read(self):
        self.reads += 1
        if self.reads <= self.frames_before_unplug:
            return True, np.full((480, 640, 3), self.reads, dtype=np.uint8)
        return False, None

    def release(self):
        pass


def test_camera_unplugged_mid_stream_raises():
    with mock.patch("cv2.VideoCapture", UnpluggedCapture):
        camera = open_source("camera:0", fps=12)
        assert isinstance(camera, Source)
        assert (camera.kind, camera.live, camera.fps) == ("camera", True, 12.0)
        for i in range(1, 4):
            frame = camera.read()
            assert frame.shape == (480, 640, 3) and frame[0, 0, 0] == i
        with pytest.raises(SourceError, match="capture returned no frame"):
            camera.read()
        camera.close()
        with pytest.raises(SourceError):
            camera.read()


def test_camera_dropped_frame_is_retried():
    class Flaky(UnpluggedCapture):
        def read(self):
            self.reads += 1
            if self.reads == 2:  # one dropped frame, then frames again
                return False, None
            return True, np.zeros((480, 640), dtype=np.uint8)  # a gray camera

    with mock.patch("cv2.VideoCapture", Flaky):
        camera = CameraSource(0)
        assert camera.fps == 30.0
        for _ in range(3):
            assert camera.read().shape == (480, 640, 3)


def test_picamera_needs_picamera2():
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("picamera2 is installed here")
    with pytest.raises(SourceError, match="Picamera2 is not installed"):
        PicameraSource()
    with pytest.raises(SourceError, match="Picamera2 is not installed"):
        open_source("picamera")
