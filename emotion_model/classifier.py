"""The runtime emotion classifier: the ONNX mini-Xception under onnxruntime, on the CPU.

Input faces are grayscale crops of any size; each is resized to 64x64 (``cv2.INTER_AREA``) and
scaled to [-1, 1] (x/127.5 - 1), as the network was trained. The output rows are probabilities
over :data:`~emotion_model.labels.LABELS`. The model card (``MODEL_CARD.md``) lists what the
estimate does not mean.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from emotion_model.labels import LABELS

_LOGGER = logging.getLogger(__name__)

INPUT_SIZE = 64
DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "emotion_mini_xception.onnx"


class EmotionClassifier:
    """Facial-expression probabilities for face crops (see ``MODEL_CARD.md`` for its limits)."""

    def __init__(self, path: str | Path | None = None, threads: int = 1) -> None:
        self.path = Path(path) if path is not None else DEFAULT_MODEL
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name
        metadata = self._session.get_modelmeta().custom_metadata_map
        if "labels" in metadata:
            self.labels: tuple[str, ...] = tuple(json.loads(metadata["labels"]))
        else:
            _LOGGER.warning("%s has no 'labels' metadata; assuming %s", self.path, ", ".join(LABELS))
            self.labels = LABELS
        self.preprocessing = metadata.get("input", "")

    def preprocess(self, gray_face: np.ndarray) -> np.ndarray:
        """A grayscale crop of any size -> (1, 64, 64) float32 in [-1, 1].

        uint8 crops are taken as 0..255; floating-point crops as 0..1 (the scikit-image convention).
        A 3-channel crop is taken as BGR and converted to gray.
        """
        face = np.asarray(gray_face)
        if face.ndim == 3 and face.shape[2] == 1:
            face = face[:, :, 0]
        elif face.ndim == 3 and face.shape[2] in (3, 4):
            code = cv2.COLOR_BGR2GRAY if face.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
            face = cv2.cvtColor(face, code)
        if face.ndim != 2 or face.size == 0:
            raise ValueError(f"expected a non-empty grayscale face crop, got shape {face.shape}")
        if face.dtype == np.uint8:
            pixels = face.astype(np.float32)
        elif np.issubdtype(face.dtype, np.floating):
            pixels = face.astype(np.float32) * 255.0
        else:
            raise ValueError(f"expected a uint8 or floating-point crop, got {face.dtype}")
        if pixels.shape != (INPUT_SIZE, INPUT_SIZE):
            pixels = cv2.resize(pixels, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        scaled = np.clip(pixels / 127.5 - 1.0, -1.0, 1.0)
        return scaled[None].astype(np.float32, copy=False)

    def predict(self, gray_faces: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 7) probabilities for N grayscale crops (in one batch); N may be 0."""
        if len(gray_faces) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        batch = np.stack([self.preprocess(face) for face in gray_faces])
        return self._session.run([self._output], {self._input: batch})[0]

    def classify(self, frame_bgr: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
        """(N, 7) probabilities for N ``(x, y, w, h)`` pixel boxes in a BGR (or gray) frame.

        Boxes are clipped to the frame; a box with no pixel inside the frame raises ``ValueError``.
        """
        if not boxes:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        frame = np.asarray(frame_bgr)
        if frame.ndim == 3 and frame.shape[2] == 3:
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        elif frame.ndim == 3 and frame.shape[2] == 4:
            gray = cv2.cvtColor(frame, cv2.COLOR_BGRA2GRAY)
        elif frame.ndim == 2:
            gray = frame
        else:
            raise ValueError(f"expected a BGR or grayscale frame, got shape {frame.shape}")
        height, width = gray.shape
        crops = []
        for box in boxes:
            x, y, w, h = (round(float(v)) for v in box)
            x0, y0 = max(x, 0), max(y, 0)
            x1, y1 = min(x + w, width), min(y + h, height)
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f"box {tuple(box)} has no pixel inside the {width}x{height} frame")
            crops.append(gray[y0:y1, x0:x1])
        return self.predict(crops)
