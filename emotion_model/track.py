"""Per-visitor tracking: the faces seen frame after frame become one :class:`Visit` per visitor.

The monitor classifies every face in every frame; a visitor standing at the counter for ten seconds
would otherwise count as a hundred-odd "customers". :class:`Tracker` links each frame's face boxes to
the tracks opened in earlier frames, smooths each track's emotion probabilities over time, and, when
a face has not been seen for ``max_gap_ms``, closes the track and hands back one :class:`Visit`.

Privacy by construction: the tracker receives and keeps nothing but numbers, the face *boxes*
``(x, y, w, h)`` of the last frame and the probability vectors (a running average and a running
sum). No pixels, crops, embeddings or other image data enter it, so nothing here can identify a
person or be turned back into a picture; a visit that ends keeps only its times, its frame count and
its label distribution. Identity across visits is not tracked either: a visitor who leaves and
comes back is a new track.

Matching (per frame): greedy, highest IoU first, between every open track's last box and the new
boxes (IoU >= ``iou``). Tracks and boxes left over are then paired, closest first, when the box
centre moved less than ``max_centre_jump`` times the track box's width and the sizes are within a
factor of 2 -- fast motion or a low frame rate gives a small or zero IoU. A box is never given to two
tracks nor a track two boxes; an unmatched box opens a new track. A track ending with fewer than
``min_frames`` frames is a flicker (a false positive, a face glimpsed for an instant), not a visit,
and is counted in :attr:`Tracker.dropped`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Visit:
    """One visitor's passage in front of the camera, with the emotion estimate averaged over it."""

    track_id: int
    start_ms: int  # time of the first frame the face was seen (the caller's clock, ms)
    end_ms: int  # time of the last frame the face was seen
    frames: int  # frames in which the face was classified
    dominant: str  # the label with the highest mean smoothed probability
    dist: dict[str, float]  # mean smoothed probability per label (sums to ~1), rounded to 4 decimals

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(slots=True)
class _Track:
    track_id: int
    start_ms: int
    last_ms: int
    box: np.ndarray  # (4,) float64 x, y, w, h of the last frame
    ema: np.ndarray  # (L,) exponential moving average of the probabilities
    total: np.ndarray  # (L,) sum of the smoothed vectors over the track's frames
    frames: int


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every ``(x, y, w, h)`` box in ``a`` (T, 4) with every one in ``b`` (B, 4) -> (T, B)."""
    ax0, ay0 = a[:, None, 0], a[:, None, 1]
    ax1, ay1 = ax0 + a[:, None, 2], ay0 + a[:, None, 3]
    bx0, by0 = b[None, :, 0], b[None, :, 1]
    bx1, by1 = bx0 + b[None, :, 2], by0 + b[None, :, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0.0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0.0, None)
    inter = iw * ih
    union = a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _greedy(score: np.ndarray, allowed: np.ndarray, *, highest_first: bool) -> list[tuple[int, int]]:
    """Greedy one-to-one pairs ``(row, col)`` among the allowed cells, best score first."""
    rows, cols = np.nonzero(allowed)
    if rows.size == 0:
        return []
    values = score[rows, cols]
    order = np.argsort(-values if highest_first else values, kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        pairs.append((r, c))
    return pairs


class Tracker:
    """Turns per-frame face boxes and emotion probabilities into one :class:`Visit` per visitor.

    Holds boxes and probability vectors only -- never image data (see the module docstring).
    """

    def __init__(
        self,
        labels: Sequence[str],
        *,
        iou: float = 0.3,
        max_gap_ms: int = 1500,
        min_frames: int = 3,
        alpha: float = 0.4,
        max_centre_jump: float = 1.0,
    ) -> None:
        self.labels = tuple(labels)
        if not self.labels:
            raise ValueError("labels must not be empty")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}")
        if not 0.0 < iou <= 1.0:
            raise ValueError(f"iou must be in (0, 1], got {iou}")
        if max_gap_ms < 0 or min_frames < 1 or max_centre_jump < 0:
            raise ValueError("max_gap_ms and max_centre_jump must be >= 0, min_frames >= 1")
        self.iou = float(iou)
        self.max_gap_ms = int(max_gap_ms)
        self.min_frames = int(min_frames)
        self.alpha = float(alpha)
        self.max_centre_jump = float(max_centre_jump)
        self.dropped = 0  # tracks that ended with fewer than min_frames frames
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_ms: int | None = None

    @property
    def active(self) -> int:
        """The number of open tracks."""
        return len(self._tracks)

    def current(self) -> list[tuple[int, Box, str]]:
        """``(track_id, last box, current smoothed label)`` of every open track (for an overlay)."""
        return [
            (t.track_id, tuple(round(float(v)) for v in t.box), self.labels[int(np.argmax(t.ema))])
            for t in self._tracks
        ]

    def update(
        self, now_ms: int, boxes: Sequence[tuple[int, int, int, int]], probs: np.ndarray
    ) -> list[Visit]:
        """Match this frame's boxes ``(x, y, w, h)`` with the open tracks; return the visits that ended
        (tracks unseen for more than ``max_gap_ms``). ``probs``: ``(len(boxes), len(labels))``."""
        now_ms = int(now_ms)
        if self._last_ms is not None and now_ms < self._last_ms:
            raise ValueError(f"time went backwards: {now_ms} ms after {self._last_ms} ms")
        self._last_ms = now_ms
        new = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        # no face in this frame: probs may be empty or None
        p = np.asarray(probs, dtype=np.float64) if len(new) else np.zeros((0, len(self.labels)))
        if p.shape != (len(new), len(self.labels)):
            raise ValueError(f"probs must be ({len(new)}, {len(self.labels)}), got {p.shape}")
        if len(new) and np.any(new[:, 2:] <= 0):
            raise ValueError("boxes must have a positive width and height")

        ended = self._expire(now_ms)
        matched = self._match(new)
        taken = set()
        for t_idx, b_idx in matched:
            self._extend(self._tracks[t_idx], now_ms, new[b_idx], p[b_idx])
            taken.add(b_idx)
        for b_idx in range(len(new)):
            if b_idx not in taken:
                self._open(now_ms, new[b_idx], p[b_idx])
        return ended

    def flush(self, now_ms: int | None = None) -> list[Visit]:
        """End every open track (the source ended, or shutdown) and return their visits.

        Each visit ends at its track's last frame; ``now_ms`` is only checked against the clock.
        """
        if now_ms is not None and self._last_ms is not None and int(now_ms) < self._last_ms:
            raise ValueError(f"time went backwards: {now_ms} ms after {self._last_ms} ms")
        tracks, self._tracks = self._tracks, []
        return self._finish(tracks)

    # -- internals -------------------------------------------------------------------------------

    def _expire(self, now_ms: int) -> list[Visit]:
        gone = [t for t in self._tracks if now_ms - t.last_ms > self.max_gap_ms]
        if gone:
            self._tracks = [t for t in self._tracks if now_ms - t.last_ms <= self.max_gap_ms]
        return self._finish(gone)

    def _match(self, new: np.ndarray) -> list[tuple[int, int]]:
        if not self._tracks or len(new) == 0:
            return []
        old = np.stack([t.box for t in self._tracks])
        overlap = _iou(old, new)
        pairs = _greedy(overlap, overlap >= self.iou, highest_first=True)
        free_t = np.setdiff1d(np.arange(len(old)), [r for r, _ in pairs])
        free_b = np.setdiff1d(np.arange(len(new)), [c for _, c in pairs])
        if free_t.size and free_b.size:
            o, n = old[free_t], new[free_b]
            oc = o[:, None, :2] + o[:, None, 2:] / 2
            nc = n[None, :, :2] + n[None, :, 2:] / 2
            jump = np.linalg.norm(nc - oc, axis=2) / o[:, None, 2]  # in track-box widths
            area = (n[None, :, 2] * n[None, :, 3]) / (o[:, None, 2] * o[:, None, 3])
            # "within a factor of 2" in linear size: the area ratio within a factor of 4
            allowed = (jump < self.max_centre_jump) & (area <= 4.0) & (area >= 0.25)
            pairs += [
                (int(free_t[r]), int(free_b[c])) for r, c in _greedy(jump, allowed, highest_first=False)
            ]
        return pairs

    def _open(self, now_ms: int, box: np.ndarray, p: np.ndarray) -> None:
        self._tracks.append(_Track(self._next_id, now_ms, now_ms, box.copy(), p.copy(), p.copy(), frames=1))
        self._next_id += 1

    def _extend(self, track: _Track, now_ms: int, box: np.ndarray, p: np.ndarray) -> None:
        track.ema = self.alpha * p + (1.0 - self.alpha) * track.ema
        track.total += track.ema
        track.frames += 1
        track.box = box.copy()
        track.last_ms = now_ms

    def _finish(self, tracks: list[_Track]) -> list[Visit]:
        visits = []
        for t in sorted(tracks, key=lambda t: (t.last_ms, t.track_id)):
            if t.frames < self.min_frames:
                self.dropped += 1
                continue
            mean = t.total / t.frames
            s = mean.sum()
            if s > 0:
                mean = mean / s
            visits.append(
                Visit(
                    track_id=t.track_id,
                    start_ms=t.start_ms,
                    end_ms=t.last_ms,
                    frames=t.frames,
                    dominant=self.labels[int(np.argmax(mean))],
                    dist={label: round(float(v), 4) for label, v in zip(self.labels, mean, strict=True)},
                )
            )
        return visits
