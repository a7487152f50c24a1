"""Face detection for the emotion monitor, behind one small interface.

Two detectors give the same :class:`Face` boxes in frame pixels:

* :class:`BlazeFaceDetector` (the default): MediaPipe's BlazeFace *full-range* model, converted once
  from its TFLite file to ONNX (``python -m emotion_model.convert_detector``) and run on onnxruntime.
  Under 10 ms a 640x480 frame on one core, finds faces down to about 1/10 of the frame width, and
  gives few false positives. (The short-range BlazeFace misses faces under ~1/5 of the frame.)
* :class:`HaarDetector` (the fallback): OpenCV's frontal-face Haar cascade. Needs no model file but
  is ~10x slower and gives false positives; its score is a constant 1.0.

The BlazeFace post-processing follows MediaPipe's ``face_detection_full_range`` graph: SSD anchors on
a 48x48 grid (stride 4, one fixed-size anchor per cell, 2304 in all), box and six keypoints decoded
relative to the anchor centre with scale 192, sigmoid scores (raw clipped to +-100) kept from 0.6, and
MediaPipe's WEIGHTED non-maximum suppression at IoU 0.3. The frame is letterboxed to 192x192 (aspect
ratio kept, black padding, centred), and the boxes are mapped back to frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "models"
BLAZEFACE_ONNX = MODELS_DIR / "face_detection_full_range.onnx"

INPUT_SIZE = 192  # the model's square input, in pixels
GRID = 48  # anchors per side: one layer, stride 4 -> 192 / 4
NUM_ANCHORS = GRID * GRID  # 2304
NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion
SCORE_CLIP = 100.0
HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True, slots=True)
class Face:
    """One detected face: a pixel box in the frame (clipped to it), a score and optional keypoints."""

    x: int
    y: int
    w: int
    h: int
    score: float
    keypoints: tuple[tuple[int, int], ...] = ()  # BlazeFace's 6 points in frame pixels; empty for Haar

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)``."""
        return (self.x, self.y, self.w, self.h)


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, frame_bgr: np.ndarray) -> list[Face]: ...


def to_bgr(frame: np.ndarray) -> np.ndarray:
    """A uint8 BGR view of ``frame``: grayscale (2-D or one channel) and BGRA frames are converted."""
    import cv2

    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frame.dtype}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 frame, got shape {frame.shape}")


def anchors() -> np.ndarray:
    """The 2304 SSD anchor centres ``(x, y)``, normalised to [0, 1], row by row.

    MediaPipe's SsdAnchorsCalculator for the full-range model (num_layers 1, strides [4], input
    192x192, anchor_offset 0.5, aspect_ratios [1.0], interpolated_scale_aspect_ratio 0.0,
    fixed_anchor_size true) yields one anchor of size 1x1 per cell of the 48x48 grid.
    """
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every ``(x0, y0, x1, y1)`` box in ``a`` with every one in ``b``."""
    a = np.asarray(a, dtype=np.float64)[:, None, :4]
    b = np.asarray(b, dtype=np.float64)[None, :, :4]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0.0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0.0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-maximum suppression.

    ``boxes`` is ``(N, 4 + K)``: ``x0, y0, x1, y1`` then any K extra coordinates (keypoints) that are
    averaged alongside. Repeatedly take the best remaining box, cluster it with every remaining box
    whose IoU with it is above ``iou`` (MediaPipe's ``>``), and replace the cluster by its
    score-weighted mean; the merged box keeps the best box's score. Returns ``(merged (M, 4 + K),
    scores (M,))``, best first.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if boxes.ndim != 2 or boxes.shape[1] < 4 or len(boxes) != len(scores):
        raise ValueError(f"boxes must be (N, >=4) with N scores, got {boxes.shape} and {scores.shape}")
    order = np.argsort(-scores, kind="stable")
    boxes, scores = boxes[order], scores[order]
    remaining = np.ones(len(boxes), dtype=bool)
    merged: list[np.ndarray] = []
    merged_scores: list[float] = []
    for i in range(len(boxes)):
        if not remaining[i]:
            continue
        idx = np.flatnonzero(remaining)
        overlap = iou_matrix(boxes[i : i + 1], boxes[idx])[0]
        cluster = idx[(overlap > iou) | (idx == i)]
        weights = scores[cluster]
        total = weights.sum()
        mean = (boxes[cluster] * weights[:, None]).sum(axis=0) / total if total > 0 else boxes[i]
        merged.append(mean)
        merged_scores.append(float(scores[i]))
        remaining[cluster] = False
    width = boxes.shape[1]
    return (np.array(merged).reshape(-1, width), np.array(merged_scores, dtype=np.float64))


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How a frame was fitted into the model's square input: ``input = frame * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: int
    pad_y: int


def letterbox(frame_bgr: np.ndarray, size: int = INPUT_SIZE) -> tuple[np.ndarray, Letterbox]:
    """``frame_bgr`` scaled to fit ``size`` x ``size`` (aspect kept), centred on black; as RGB uint8."""
    import cv2

    h, w = frame_bgr.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"empty frame {frame_bgr.shape}")
    scale = size / max(h, w)
    nw, nh = max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))
    # INTER_AREA anti-aliases the ~3x shrink of a camera frame (as the PIL resize of MediaPipe's Python
    # port does); INTER_LINEAR is ~1 ms a 640x480 frame faster and scored the same faces in the tests
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    resized = cv2.resize(frame_bgr, (nw, nh), interpolation=interpolation)
    pad_x, pad_y = (size - nw) // 2, (size - nh) // 2
    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    canvas[pad_y : pad_y + nh, pad_x : pad_x + nw] = resized[..., ::-1]
    return canvas, Letterbox(scale=scale, pad_x=pad_x, pad_y=pad_y)


class BlazeFaceDetector:
    """MediaPipe BlazeFace full-range on onnxruntime (the default detector)."""

    name = "blazeface"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        min_score: float = 0.6,
        iou: float = 0.3,
        threads: int = 1,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path) if path is not None else BLAZEFACE_ONNX
        if not self.path.exists():
            raise FileNotFoundError(
                f"{self.path} is missing; build it with `python -m emotion_model.convert_detector`"
            )
        self.min_score = float(min_score)
        self.iou = float(iou)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or list(inputs[0].shape) != [1, 3, INPUT_SIZE, INPUT_SIZE]:
            raise ValueError(f"{self.path}: expected one input of shape [1, 3, 192, 192], got {inputs}")
        self._input = inputs[0].name
        outputs = {tuple(o.shape): o.name for o in self.session.get_outputs()}
        try:
            self._outputs = [outputs[(1, NUM_ANCHORS, 16)], outputs[(1, NUM_ANCHORS, 1)]]
        except KeyError:
            raise ValueError(
                f"{self.path}: expected (1, 2304, 16) and (1, 2304, 1) outputs, got {outputs}"
            ) from None
        self._anchors = anchors().astype(np.float64)

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model input ``(1, 3, 192, 192)`` float32 RGB in [-1, 1], and the letterbox used."""
        rgb, lb = letterbox(to_bgr(frame_bgr))
        tensor = rgb.astype(np.float32) / 127.5 - 1.0
        return np.ascontiguousarray(tensor.transpose(2, 0, 1)[None]), lb

    def raw(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's raw outputs for a preprocessed input: regressors (2304, 16), logits (2304,)."""
        regressors, logits = self.session.run(self._outputs, {self._input: tensor})
        return regressors[0], logits[0, :, 0]

    def decode(self, regressors: np.ndarray, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes ``(x0, y0, x1, y1, kx0, ky0, ..., kx5, ky5)`` normalised to the 192x192 input, kept
        by score and merged by weighted NMS, with their scores."""
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = np.flatnonzero(scores >= self.min_score)
        if keep.size == 0:
            return np.zeros((0, 4 + 2 * NUM_KEYPOINTS)), np.zeros(0)
        reg = regressors[keep].astype(np.float64) / INPUT_SIZE
        anchor = self._anchors[keep]
        cx, cy = reg[:, 0] + anchor[:, 0], reg[:, 1] + anchor[:, 1]
        half_w, half_h = reg[:, 2] / 2, reg[:, 3] / 2
        points = reg[:, 4 : 4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + anchor[:, None, :]
        boxes = np.concatenate(
            [
                np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1),
                points.reshape(len(keep), -1),
            ],
            axis=1,
        )
        return weighted_nms(boxes, scores[keep], self.iou)

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        frame_bgr = to_bgr(frame_bgr)
        height, width = frame_bgr.shape[:2]
        tensor, lb = self.preprocess(frame_bgr)
        boxes, scores = self.decode(*self.raw(tensor))
        # undo the letterbox: input pixels -> frame pixels
        coords = boxes * INPUT_SIZE
        coords[:, 0::2] = (coords[:, 0::2] - lb.pad_x) / lb.scale
        coords[:, 1::2] = (coords[:, 1::2] - lb.pad_y) / lb.scale
        faces = []
        for row, score in zip(coords, scores, strict=True):
            x0, y0 = max(0, round(row[0])), max(0, round(row[1]))
            x1, y1 = min(width, round(row[2])), min(height, round(row[3]))
            if x1 <= x0 or y1 <= y0:
                continue
            points = tuple((round(px), round(py)) for px, py in row[4:].reshape(-1, 2))
            faces.append(Face(x0, y0, x1 - x0, y1 - y0, float(score), points))
        return faces


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (the fallback; slower, more false positives, score 1.0)."""

    name = "haar"

    def __init__(
        self,
        cascade: str | Path | None = None,
        *,
        min_size: int = 50,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ) -> None:
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError("this OpenCV build has no CascadeClassifier (OpenCV 5 dropped it; use <5)")
        self.path = Path(cascade) if cascade is not None else Path(cv2.data.haarcascades) / HAAR_CASCADE
        self.classifier = cv2.CascadeClassifier(str(self.path))
        if self.classifier.empty():
            raise FileNotFoundError(f"could not load the Haar cascade {self.path}")
        self.min_size = int(min_size)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)

    def detect(self, frame_bgr: np.ndarray) -> list[Face]:
        import cv2

        gray = cv2.cvtColor(to_bgr(frame_bgr), cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        found = self.classifier.detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        return [Face(int(x), int(y), int(w), int(h), 1.0) for x, y, w, h in found]


DETECTORS = {"blazeface": BlazeFaceDetector, "haar": HaarDetector}


def make_detector(name: str = "blazeface", **kwargs) -> Detector:
    """A detector by name: ``"blazeface"`` (default) or ``"haar"``; keyword arguments go to its class."""
    try:
        cls = DETECTORS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unknown face detector {name!r}; choose one of {', '.join(sorted(DETECTORS))}"
        ) from None
    return cls(**kwargs)
