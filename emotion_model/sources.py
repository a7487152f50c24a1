"""Video sources for the emotion monitor: USB/IP cameras, the Raspberry Pi camera, video files, and a
deterministic synthetic clip made of real faces (for demos, tests and benchmarks without a camera).

Every source gives BGR ``uint8`` frames through ``read()``: ``None`` means the clip or file ended, a
:class:`SourceError` means the device failed (unplugged, no frames, cannot be opened). Pick one from a
command-line string with :func:`open_source`.

Long: one class per kind of source, each small, behind one ``open_source``; half the file is the
synthetic clip, which composes real faces into moving scenes so that demos, tests and the bench run
without a camera.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv", ".h264")
SPEC_FORMS = (
    "camera",
    "camera:INDEX",
    "camera:/dev/videoN",
    "camera:URL",
    "picamera",
    "file:PATH",
    "PATH.avi (or another video extension: " + " ".join(VIDEO_EXTENSIONS[1:]) + ")",
    "synthetic",
    "synthetic:SEED",
)


class SourceError(RuntimeError):
    """The video device or file failed: it cannot be opened, was unplugged, or gives no frames."""


@runtime_checkable
class Source(Protocol):
    kind: str  # "camera" | "picamera" | "file" | "synthetic"
    fps: float  # nominal frames per second
    live: bool  # True for cameras (real-time pace); False for files/synthetic (may run faster)

    def read(self) -> np.ndarray | None:
        """The next BGR uint8 frame; ``None`` when the clip/file ended; raises SourceError on failure."""
        ...

    def close(self) -> None: ...


class _Closing:
    """Context-manager support for the sources."""

    def close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _bgr(frame: np.ndarray) -> np.ndarray:
    """Any frame OpenCV or Picamera2 returns (gray, BGR, BGRA/XBGR) as contiguous BGR uint8."""
    import cv2

    if frame.dtype != np.uint8:
        raise SourceError(f"the device returned {frame.dtype} frames, expected uint8")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return np.ascontiguousarray(frame[:, :, :3])
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise SourceError(f"the device returned frames of shape {frame.shape}")


# --------------------------------------------------------------------------------------- cameras


class CameraSource(_Closing):
    """A camera through ``cv2.VideoCapture``: an index (``0``), a device path (``/dev/video2``) or a
    stream URL (``rtsp://...``). ``width``/``height``/``fps`` are requests the driver may ignore.

    ``read()`` raises :class:`SourceError` when the capture gives no frame ``retries + 1`` times in a
    row (a camera that was unplugged keeps failing; a single dropped frame is retried).
    """

    kind = "camera"
    live = True

    def __init__(
        self,
        device: int | str = 0,
        *,
        width: int | None = 640,
        height: int | None = 480,
        fps: float | None = None,
        retries: int = 2,
        api: int | None = None,
    ) -> None:
        import cv2

        self.device = device
        self.retries = int(retries)
        cap = cv2.VideoCapture(device) if api is None else cv2.VideoCapture(device, api)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open camera {device!r}")
        if width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
        if height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
        if fps:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        reported = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if reported and 0 < reported < 1000 else float(fps or 30.0)
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise SourceError(f"camera {self.device!r} is closed")
        for _ in range(self.retries + 1):
            ok, frame = self._cap.read()
            if ok and frame is not None and frame.size:
                return _bgr(frame)
        raise SourceError(f"capture returned no frame (camera {self.device!r})")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class PicameraSource(_Closing):
    """The Raspberry Pi camera through ``picamera2`` (only on a Pi with it installed)."""

    kind = "picamera"
    live = True

    def __init__(self, *, width: int = 640, height: int = 480, fps: float = 15.0) -> None:
        try:
            from picamera2 import Picamera2  # imported here: it exists only on a Raspberry Pi
        except ImportError:
            raise SourceError(
                "Picamera2 is not installed (the picamera source needs a Raspberry Pi)"
            ) from None
        self.fps = float(fps)
        try:
            cam = Picamera2()
            # picamera2's "RGB888" stores pixels as B, G, R: OpenCV's BGR order
            config = cam.create_video_configuration(
                main={"size": (int(width), int(height)), "format": "RGB888"},
                controls={"FrameRate": self.fps},
            )
            cam.configure(config)
            cam.start()
        except Exception as exc:
            raise SourceError(f"cannot start the Pi camera: {exc}") from exc
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise SourceError("the Pi camera is closed")
        try:
            frame = self._cam.capture_array("main")
        except Exception as exc:
            raise SourceError(f"capture returned no frame (Pi camera: {exc})") from exc
        if frame is None or not getattr(frame, "size", 0):
            raise SourceError("capture returned no frame (Pi camera)")
        return _bgr(frame)

    def close(self) -> None:
        if self._cam is not None:
            cam, self._cam = self._cam, None
            try:
                cam.stop()
            finally:
                cam.close()


# ----------------------------------------------------------------------------------------- files


class VideoFileSource(_Closing):
    """A video file through ``cv2.VideoCapture``; ``read()`` gives ``None`` at the end (or starts over
    with ``loop=True``). A missing or undecodable file raises :class:`SourceError` naming it."""

    kind = "file"
    live = False

    def __init__(self, path: str | Path, *, loop: bool = False, fps: float | None = None) -> None:
        import cv2

        self.path = Path(path)
        self.loop = bool(loop)
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video file {self.path} (not a video, or no decoder for it)")
        reported = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps or (reported if reported and 0 < reported < 1000 else 25.0))
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frames_total = int(count) if count and count > 0 else None  # the container's claim
        self._cap = cap
        self.frames_read = 0  # frames read in the current pass

    def read(self) -> np.ndarray | None:
        import cv2

        if self._cap is None:
            raise SourceError(f"video file {self.path} is closed")
        ok, frame = self._cap.read()
        if not ok or frame is None:
            if self.frames_read == 0:
                raise SourceError(f"no frame could be decoded from {self.path}")
            if not self.loop:
                return None
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self.frames_read = 0
            ok, frame = self._cap.read()
            if not ok or frame is None:
                raise SourceError(f"cannot rewind {self.path}")
        self.frames_read += 1
        return _bgr(frame)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# ------------------------------------------------------------------------------- synthetic clip

# the astronaut's head and shoulders in skimage.data.astronaut() (512x512): crop (x0, y0, x1, y1) and
# the face box BlazeFace finds inside it (x, y, w, h, crop pixels)
_ASTRONAUT_CROP = (140, 20, 310, 260)
_ASTRONAUT_FACE = (33, 48, 107, 106)
_LFW_FACES = 100  # lfw_subset(): images 0-99 are faces, 100-199 are non-face patches
_HAIR = ((30, 40, 55), (20, 25, 30), (60, 90, 130), (90, 110, 140), (45, 60, 85), (150, 150, 155))
_SKIN = ((110, 150, 200), (95, 130, 180), (80, 110, 150), (120, 160, 215))  # BGR gains x 170
_SHIRT = ((120, 70, 40), (60, 60, 160), (70, 120, 60), (40, 40, 40), (150, 140, 130), (110, 50, 110))


def _skimage_data():
    try:
        from skimage import data
    except ImportError:
        raise ImportError(
            "the synthetic clip takes its faces from scikit-image's sample data: pip install scikit-image"
        ) from None
    return data


@cache
def _astronaut() -> np.ndarray:
    data = _skimage_data()
    x0, y0, x1, y1 = _ASTRONAUT_CROP
    return np.ascontiguousarray(data.astronaut()[y0:y1, x0:x1, ::-1])  # RGB -> BGR


@cache
def _lfw() -> np.ndarray:
    data = _skimage_data()
    return data.lfw_subset()[:_LFW_FACES]


class SyntheticClip(_Closing):
    """A deterministic clip of real faces passing one after another in front of an office wall.

    The faces are offline real photographs: the astronaut of ``skimage.data.astronaut()`` (head and
    shoulders cropped from the picture) and the faces of ``skimage.data.lfw_subset()`` (25x25 gray,
    upscaled with cubic interpolation to 115-135 px, given a skin tone, and set in a drawn head --
    hair, neck and shirt -- because the detector needs the outline of a head around the face). Every
    person is pasted with a soft alpha edge and walks left to right across part of the frame during
    ``walk_s`` behind a counter; before, between and after the people come ``gap_s`` of empty frames,
    so ``people`` people give ``people`` visits. Each one enters far left of where the previous one
    left, so even a gap shorter than the tracker's ``max_gap_ms`` does not join two of them.

    :attr:`schedule` lists ``(first_frame, last_frame)`` per person; :attr:`frames_total` the length.
    Frames are rendered on demand (:meth:`frame`), with a light fixed sensor noise; the same
    arguments give the same frames, byte for byte.
    """

    kind = "synthetic"
    live = False

    def __init__(
        self,
        people: int = 3,
        seed: int = 1,
        size: tuple[int, int] = (640, 480),
        fps: float = 15.0,
        loop: bool = False,
        gap_s: float = 1.0,
        walk_s: float = 4.0,
        *,
        noise: int = 2,
    ) -> None:
        if people < 0 or fps <= 0 or gap_s < 0 or walk_s <= 0:
            raise ValueError("people >= 0, fps > 0, gap_s >= 0 and walk_s > 0 are required")
        self.people = int(people)
        self.seed = int(seed)
        self.width, self.height = (int(v) for v in size)
        if self.width < 320 or self.height < 240:
            raise ValueError(f"size must be at least 320x240, got {size}")
        self.fps = float(fps)
        self.loop = bool(loop)
        self.gap_frames = round(gap_s * self.fps)
        self.walk_frames = max(1, round(walk_s * self.fps))
        self.frames_total = self.people * self.walk_frames + (self.people + 1) * self.gap_frames
        self.schedule: list[tuple[int, int]] = []
        for k in range(self.people):
            first = self.gap_frames + k * (self.walk_frames + self.gap_frames)
            self.schedule.append((first, first + self.walk_frames - 1))
        rng = np.random.default_rng(self.seed)
        self._counter_y = int(self.height * 0.8)
        self._background = self._make_background(rng)
        self._noise = (
            [
                rng.integers(-noise, noise + 1, size=(self.height, self.width, 3), dtype=np.int16)
                for _ in range(4)
            ]
            if noise > 0
            else []
        )
        self._people = self._make_people(rng)
        self._index = 0
        self._closed = False

    # -- reading

    def read(self) -> np.ndarray | None:
        if self._closed:
            raise SourceError("the synthetic clip is closed")
        if self._index >= self.frames_total:
            if not self.loop or self.frames_total == 0:
                return None
            self._index = 0
        frame = self.frame(self._index)
        self._index += 1
        return frame

    def close(self) -> None:
        self._closed = True

    def person_at(self, index: int) -> int | None:
        """Which person (0-based) is in frame ``index``, or ``None`` for an empty frame."""
        for k, (first, last) in enumerate(self.schedule):
            if first <= index <= last:
                return k
        return None

    def face_box(self, index: int) -> tuple[int, int, int, int] | None:
        """The approximate ``(x, y, w, h)`` of the face pasted into frame ``index`` (``None``: empty)."""
        k = self.person_at(index)
        if k is None:
            return None
        person = self._people[k]
        x, y = self._position(k, index)
        fx, fy, fw, fh = person["face"]
        return (x + fx, y + fy, fw, fh)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0 <= index < frames_total) as BGR uint8, height x width x 3."""
        if not 0 <= index < self.frames_total:
            raise IndexError(f"frame {index} outside 0..{self.frames_total - 1}")
        frame = self._background.copy()
        k = self.person_at(index)
        if k is not None:
            person = self._people[k]
            x, y = self._position(k, index)
            self._paste(frame, person["image"], person["alpha"], x, y)
            frame[self._counter_y :] = self._background[self._counter_y :]  # the counter hides the body
        if self._noise:
            noisy = frame.astype(np.int16) + self._noise[index % len(self._noise)]
            frame = np.clip(noisy, 0, 255).astype(np.uint8)
        return frame

    def write(self, path: str | Path, fourcc: str = "MJPG") -> Path:
        """Write one pass of the clip to a video file (MJPG in .avi works with opencv-headless)."""
        import cv2

        path = Path(path)
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*fourcc), self.fps, (self.width, self.height)
        )
        if not writer.isOpened():
            raise SourceError(f"cannot write {path} with codec {fourcc}")
        try:
            for i in range(self.frames_total):
                writer.write(self.frame(i))
        finally:
            writer.release()
        return path

    # -- construction

    def _position(self, k: int, index: int) -> tuple[int, int]:
        """Top-left corner of person ``k``'s sprite in frame ``index``."""
        person = self._people[k]
        first, _ = self.schedule[k]
        t = (index - first) / max(1, self.walk_frames - 1)
        cx = person["x0"] + t * (person["x1"] - person["x0"])
        bob = 3.0 * np.sin(2 * np.pi * 2.0 * t)  # steps
        w = person["image"].shape[1]
        return round(cx - w / 2), round(person["top"] + bob)

    def _make_background(self, rng: np.random.Generator) -> np.ndarray:
        import cv2

        h, w = self.height, self.width
        y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
        tint = rng.uniform(-12, 12, size=3)
        wall = np.empty((h, w, 3), dtype=np.float32)
        wall[..., 0] = 170 + tint[0] + 30 * y - 10 * x
        wall[..., 1] = 185 + tint[1] + 20 * y - 5 * x
        wall[..., 2] = 200 + tint[2] + 10 * y
        bg = np.clip(wall, 0, 255).astype(np.uint8)

        def px(fx: float, fy: float) -> tuple[int, int]:
            return round(fx * w), round(fy * h)

        cv2.rectangle(bg, px(0.06, 0.17), px(0.27, 0.63), (120, 110, 100), -1)  # a door
        cv2.rectangle(bg, px(0.24, 0.38), px(0.25, 0.42), (60, 60, 60), -1)  # its handle
        cv2.rectangle(bg, px(0.72, 0.12), px(0.94, 0.42), (220, 210, 190), -1)  # a window
        cv2.rectangle(bg, px(0.735, 0.145), px(0.925, 0.395), (235, 225, 200), -1)
        cv2.rectangle(bg, px(0.40, 0.10), px(0.58, 0.22), (90, 130, 150), -1)  # a notice board
        cv2.rectangle(bg, px(0.0, 0.8), px(1.0, 1.0), (70, 90, 110), -1)  # the counter
        cv2.line(bg, px(0.0, 0.8), px(1.0, 0.8), (50, 60, 75), 3)
        return bg

    def _make_people(self, rng: np.random.Generator) -> list[dict]:
        people = []
        astronaut_at = int(rng.integers(self.people)) if self.people else -1
        lfw = rng.choice(_LFW_FACES, size=max(self.people, 1), replace=False)
        for k in range(self.people):
            if k == astronaut_at:
                image, alpha, face = self._astronaut_sprite(rng)
            else:
                image, alpha, face = self._lfw_sprite(rng, int(lfw[k]))
            w = image.shape[1]
            margin = w / 2 + 4
            x0 = rng.uniform(margin, margin + 0.1 * self.width)
            x1 = rng.uniform(self.width - margin - 0.1 * self.width, self.width - margin)
            top = rng.uniform(0.17, 0.30) * self.height
            people.append({"image": image, "alpha": alpha, "face": face, "x0": x0, "x1": x1, "top": top})
        return people

    def _astronaut_sprite(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, tuple]:
        import cv2

        crop = _astronaut()
        scale = rng.uniform(0.95, 1.1) * self.width / 640
        h, w = crop.shape[:2]
        size = (round(w * scale), round(h * scale))
        image = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        image = np.clip(image.astype(np.float32) * rng.uniform(0.9, 1.1), 0, 255).astype(np.uint8)
        alpha = np.zeros(image.shape[:2], dtype=np.float32)
        sw, sh = size
        cv2.ellipse(
            alpha, (sw // 2, round(sh * 0.45)), (round(sw * 0.47), round(sh * 0.52)), 0, 0, 360, 1.0, -1
        )
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, sw * 0.03))
        fx, fy, fw, fh = _ASTRONAUT_FACE
        return image, alpha, (round(fx * scale), round(fy * scale), round(fw * scale), round(fh * scale))

    def _lfw_sprite(self, rng: np.random.Generator, which: int) -> tuple[np.ndarray, np.ndarray, tuple]:
        import cv2

        s = round(rng.uniform(115, 135) * self.width / 640)
        gray = cv2.resize(
            (_lfw()[which] * 255).round().astype(np.uint8), (s, s), interpolation=cv2.INTER_CUBIC
        )
        skin = np.array(_SKIN[int(rng.integers(len(_SKIN)))], dtype=np.float32)
        face = np.clip(gray[..., None].astype(np.float32) * (skin / 170.0), 0, 255).astype(np.uint8)
        hair = tuple(int(v) for v in _HAIR[int(rng.integers(len(_HAIR)))])
        shirt = tuple(int(v) for v in _SHIRT[int(rng.integers(len(_SHIRT)))])
        neck = tuple(int(v) for v in skin * 0.7)

        sw, sh = round(s * 1.9), round(s * 2.2)
        image = np.zeros((sh, sw, 3), dtype=np.uint8)
        alpha = np.zeros((sh, sw), dtype=np.float32)
        cx, fy = sw // 2, round(s * 0.35)

        shoulders = np.array(
            [
                [cx - round(s * 0.95), sh],
                [cx - round(s * 0.6), fy + round(s * 1.25)],
                [cx + round(s * 0.6), fy + round(s * 1.25)],
                [cx + round(s * 0.95), sh],
            ],
            dtype=np.int32,
        )
        cv2.fillPoly(image, [shoulders], shirt)
        cv2.fillPoly(alpha, [shoulders], 1.0)
        neck_box = ((cx - round(s * 0.22), fy + round(s * 0.8)), (cx + round(s * 0.22), fy + round(s * 1.3)))
        cv2.rectangle(image, *neck_box, neck, -1)
        cv2.rectangle(alpha, *neck_box, 1.0, -1)
        head = ((cx, fy + round(s * 0.45)), (round(s * 0.62), round(s * 0.72)), 0, 0, 360)
        cv2.ellipse(image, *head, hair, -1)
        cv2.ellipse(alpha, *head, 1.0, -1)
        # the face, with a soft elliptic edge, over the hair
        mask = np.zeros((s, s), dtype=np.float32)
        cv2.ellipse(mask, (s // 2, s // 2), (s // 2, round(s * 0.56)), 0, 0, 360, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), s * 0.03)[..., None]
        x0 = cx - s // 2
        roi = image[fy : fy + s, x0 : x0 + s].astype(np.float32)
        image[fy : fy + s, x0 : x0 + s] = (mask * face + (1 - mask) * roi).round().astype(np.uint8)
        alpha[fy : fy + s, x0 : x0 + s] = np.maximum(alpha[fy : fy + s, x0 : x0 + s], mask[..., 0])
        alpha = cv2.GaussianBlur(alpha, (0, 0), 1.5)  # the soft outline of the whole person
        gain = rng.uniform(0.9, 1.1)
        image = np.clip(image.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        return image, alpha, (x0, fy, s, s)

    @staticmethod
    def _paste(frame: np.ndarray, image: np.ndarray, alpha: np.ndarray, x: int, y: int) -> None:
        """Alpha-blend ``image`` into ``frame`` with its top-left corner at ``(x, y)``, clipped."""
        fh, fw = frame.shape[:2]
        h, w = image.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
        if x1 <= x0 or y1 <= y0:
            return
        img = image[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
        a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (a * img + (1 - a) * roi).round().astype(np.uint8)


# ---------------------------------------------------------------------------------------- choose


def open_source(spec: str, **kw) -> Source:
    """A source from a command-line string; keyword arguments go to the source's class.

    ``camera`` (index 0), ``camera:INDEX``, ``camera:/dev/videoN``, ``camera:URL`` (rtsp/http);
    ``picamera``; ``file:PATH`` or a path ending in a video extension (``.avi``, ``.mp4``, ...);
    ``synthetic`` (seed 1) or ``synthetic:SEED``. Anything else raises ``ValueError``.
    """
    text = str(spec).strip()
    kind, sep, arg = text.partition(":")
    kind = kind.lower()
    if kind == "camera":
        if not sep or arg == "":
            return CameraSource(0, **kw)
        device: int | str = int(arg) if arg.isdigit() else arg
        return CameraSource(device, **kw)
    if kind == "picamera" and not sep:
        return PicameraSource(**kw)
    if kind == "file" and arg:
        return VideoFileSource(arg, **kw)
    if kind == "synthetic":
        if not sep:
            return SyntheticClip(**kw)
        try:
            seed = int(arg)
        except ValueError:
            raise ValueError(f"bad synthetic seed in {spec!r}: use synthetic:SEED (an integer)") from None
        return SyntheticClip(seed=seed, **kw)
    if text.lower().endswith(VIDEO_EXTENSIONS):
        return VideoFileSource(text, **kw)
    raise ValueError(f"unknown video source {spec!r}; use one of: {', '.join(SPEC_FORMS)}")
