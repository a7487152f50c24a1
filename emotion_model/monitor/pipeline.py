"""The per-frame work of the emotion monitor: detect the faces, classify each box, feed the tracker.

Owns :class:`Pipeline` (one frame in, the visits that ended with it out; frame and face counts, and
the latest faces for the live view) and :class:`RateMeter` (frames and faces per second for the
status). Frames are not kept beyond one step.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from emotion_model.labels import LABELS


class Pipeline:
    """detect -> classify the boxes -> track; counts frames and faces for the status."""

    def __init__(self, detector, classifier, tracker) -> None:
        self.detector = detector
        self.classifier = classifier
        self.tracker = tracker
        self.labels: tuple[str, ...] = tuple(getattr(classifier, "labels", LABELS))
        self.frames = 0
        self.faces = 0
        self.last_faces: list = []  # the latest frame's faces and probabilities (for the live view)
        self.last_probs: np.ndarray = np.zeros((0, len(self.labels)), dtype=np.float32)

    def step(self, frame: np.ndarray, now_ms: int) -> list:
        """Process one frame taken at ``now_ms``; return the visits that ended."""
        faces = self.detector.detect(frame)
        boxes = [face.box for face in faces]
        if boxes:
            probs = self.classifier.classify(frame, boxes)
        else:
            probs = np.zeros((0, len(self.labels)), dtype=np.float32)
        self.frames += 1
        self.faces += len(faces)
        self.last_faces, self.last_probs = faces, probs
        return self.tracker.update(now_ms, boxes, probs)

    def flush(self, now_ms: int | None = None) -> list:
        """End every track (the source ended or failed): their visits."""
        return self.tracker.flush(now_ms)

    @property
    def tracks(self) -> int:
        active = self.tracker.active
        return active if isinstance(active, int) else len(active)


class RateMeter:
    """Frames and faces per second over the last ``period_s``, in one-second buckets (thread-safe)."""

    def __init__(self, period_s: float) -> None:
        self.period_s = max(1.0, float(period_s))
        self._buckets: deque[list[int]] = deque()  # [second, frames, faces]
        self._lock = threading.Lock()
        self._start = time.monotonic()

    def add(self, faces: int, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        with self._lock:
            buckets = self._buckets
            if buckets and buckets[-1][0] == second:
                buckets[-1][1] += 1
                buckets[-1][2] += faces
            else:
                buckets.append([second, 1, faces])
                self._trim(second)

    def _trim(self, now_second: float) -> None:
        buckets = self._buckets
        while buckets and buckets[0][0] <= now_second - self.period_s:
            buckets.popleft()

    def rates(self, now: float | None = None) -> tuple[float, float]:
        """(frames per second, faces per minute) over the period (or since start, if shorter)."""
        now = now if now is not None else time.monotonic()
        with self._lock:
            self._trim(int(now))
            frames = sum(b[1] for b in self._buckets)
            faces = sum(b[2] for b in self._buckets)
        elapsed = min(self.period_s, max(now - self._start, 1.0))
        return frames / elapsed, faces * 60.0 / elapsed
