"""The emotion monitor's main loop: camera -> faces -> emotions -> visits, published as a device.

Owns :class:`Monitor`: read a frame, pace it, step the
:class:`~emotion_model.monitor.pipeline.Pipeline`, publish the visits through the
:class:`~emotion_model.monitor.device.MonitorDevice`; a failing source is closed and reopened with
backoff while the status says so, and never stops it. Also the ``camera`` block of the status.

The package's other modules: ``pipeline`` (detect -> classify -> track per frame), ``outbox`` (the
SQLite outbox), ``device`` (the MQTT client and the visit event body), ``liveview`` (the blurred
admin view).

Privacy by construction: frames live in memory for one step and are dropped; nothing but visit
summaries and status ever leaves the process or reaches the disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import numpy as np

from emotion_model.monitor.device import MonitorDevice, epoch_ms, visit_event
from emotion_model.monitor.liveview import LiveView
from emotion_model.monitor.pipeline import Pipeline, RateMeter
from emotion_model.sources import SourceError

_LOGGER = logging.getLogger(__name__)

SOURCE_KINDS = ("camera", "picamera", "file", "synthetic")  # status.schema.json camera.source
MAX_ERROR = 200  # status camera.error maxLength


class _Source(Protocol):
    kind: str
    fps: float
    live: bool

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Monitor:
    """Reads frames and runs the pipeline until the source ends (or forever with ``loop``) or stop().

    ``open_source`` is called to (re)open the video source; a :class:`SourceError` from it or from
    ``read()`` marks the camera failing (status at once), flushes the tracker, and the source is
    reopened with backoff (``backoff_s`` doubling to ``backoff_max_s``).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        device: MonitorDevice,
        open_source: Callable[[], _Source],
        *,
        source_kind: str | None = None,
        detector_name: str | None = None,
        realtime: bool = True,
        loop: bool = False,
        live_view: LiveView | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 10.0,
        ack_wait_s: float = 3.0,
    ) -> None:
        self.pipeline = pipeline
        self.device = device
        self.open_source = open_source
        self.source_kind = source_kind if source_kind in SOURCE_KINDS else None
        self.detector_name = detector_name or getattr(pipeline.detector, "name", None)
        self.realtime = realtime
        self.loop = loop
        self.live_view = live_view
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.ack_wait_s = ack_wait_s
        self.ok = False
        self.error: str | None = None
        self.restarts = 0
        self.visits = 0
        self.failures = 0
        self.meter = RateMeter(device.heartbeat_s)
        self._source: _Source | None = None
        self._failed = False  # the source failed and has not delivered a frame since
        self._delay = backoff_s
        self._stop = threading.Event()
        self._index = 0  # frames read from non-live sources, for their virtual clock
        self._anchor: tuple[float, int] | None = None  # (monotonic, index) for real-time pacing
        self._last_ms: int | None = None
        self._step_errors = 0
        device.camera = self.camera_status

    def stop(self) -> None:
        """Ask the loop to end (from a signal handler or another thread)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def camera_status(self) -> dict[str, Any]:
        fps, faces_per_min = self.meter.rates()
        camera: dict[str, Any] = {
            "ok": self.ok,
            "fps": round(min(fps, 1000.0), 2),
            "faces_per_min": round(faces_per_min, 2),
            "visits": self.visits,
            "tracks": self.pipeline.tracks if self.ok else 0,
            "restarts": self.restarts,
        }
        if self.detector_name in ("blazeface", "haar"):
            camera["detector"] = self.detector_name
        if self.source_kind is not None:
            camera["source"] = self.source_kind
        if not self.ok and self.error:
            camera["error"] = self.error[:MAX_ERROR]
        return camera

    # --- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        """Run until the source ends (without ``loop``) or :meth:`stop`; then flush and disconnect."""
        self.device.start()
        try:
            self._run()
        finally:
            self._finish()

    def _run(self) -> None:
        while not self._stop.is_set():
            source = self._source
            if source is None:
                self._open()
                continue
            try:
                frame = source.read()
            except SourceError as exc:
                self._fail(str(exc) or type(exc).__name__)
                continue
            except Exception as exc:  # a driver blew up: the same as a failing source
                self._fail(f"{type(exc).__name__}: {exc}")
                continue
            if frame is None:
                _LOGGER.info("source ended after %d frames", self.pipeline.frames)
                self._publish(self.pipeline.flush(self._last_ms))
                self._close_source()
                if not self.loop:
                    return
                continue
            if not self.ok:
                self.ok, self.error = True, None
                self._delay = self.backoff_s
                if self._failed:
                    _LOGGER.info("source delivers frames again (restart %d)", self.restarts)
                self._failed = False
                self.device.request_status()
            self._process(frame, source)
            del frame

    def _process(self, frame: np.ndarray, source: _Source) -> None:
        if getattr(source, "live", True):
            now_ms = epoch_ms()
            if self._last_ms is not None and now_ms < self._last_ms:
                now_ms = self._last_ms  # the wall clock stepped back (NTP): the tracker needs order
        else:
            fps = float(getattr(source, "fps", 0) or 15.0)
            now_ms = self.device.start_epoch + round(self._index * 1000.0 / fps)
            if self.realtime:
                self._pace(fps)
            self._index += 1
        self._last_ms = now_ms
        try:
            visits = self.pipeline.step(frame, now_ms)
        except Exception:
            self._step_errors += 1
            if self._step_errors <= 3 or self._step_errors % 1000 == 0:
                _LOGGER.exception(
                    "frame %d could not be processed (error %d)", self.pipeline.frames, self._step_errors
                )
            return
        self.meter.add(len(self.pipeline.last_faces))
        if self.live_view is not None:
            self.live_view.update(
                frame, self.pipeline.last_faces, self.pipeline.last_probs, self.pipeline.labels
            )
        self._publish(visits)

    def _pace(self, fps: float) -> None:
        now = time.monotonic()
        if self._anchor is None:
            self._anchor = (now, self._index)
            return
        start, index = self._anchor
        due = start + (self._index - index) / fps
        if due - now > 0:
            self._stop.wait(due - now)
        elif now - due > 1.0:  # fell behind (a stall): start pacing afresh rather than rush
            self._anchor = (now, self._index)

    def _publish(self, visits: Iterable) -> None:
        for visit in visits:
            body = visit_event(visit, self.device.start_epoch)
            boot, seq = self.device.submit(body)
            self.visits += 1
            _LOGGER.info(
                "visit %d/%d: %s, %.1f s, %d frames", boot, seq, body["dominant"],
                body["duration_ms"] / 1000, body["frames"],
            )  # fmt: skip

    def _open(self) -> None:
        try:
            source = self.open_source()
        except (SourceError, OSError) as exc:
            self._fail(str(exc) or type(exc).__name__, opening=True)
            return
        except Exception as exc:
            if not self._failed and self.pipeline.frames == 0 and self.restarts == 0 and self.failures == 0:
                raise  # the very first open: a wrong spec is a configuration error, not a failure
            self._fail(f"{type(exc).__name__}: {exc}", opening=True)
            return
        kind = getattr(source, "kind", None)
        if kind in SOURCE_KINDS:
            self.source_kind = kind
        if self._failed:
            self.restarts += 1
            _LOGGER.info("source reopened (restart %d)", self.restarts)
        self._source = source
        self._anchor = None

    def _fail(self, error: str, opening: bool = False) -> None:
        """The source failed: say so at once, end the visits, close it, wait, then retry."""
        self.failures += 1
        first = not self._failed
        changed = error != self.error
        self._failed = True
        self.ok, self.error = False, error
        level = logging.WARNING if first else logging.INFO
        _LOGGER.log(
            level,
            "source %s: %s; retrying in %.1f s",
            "cannot open" if opening else "failed",
            error,
            self._delay,
        )
        if first or changed:
            self.device.request_status()
        self._publish(self.pipeline.flush(self._last_ms))
        self._close_source()
        self._stop.wait(self._delay)
        self._delay = min(self._delay * 2, self.backoff_max_s)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception as exc:
                _LOGGER.warning("closing the source failed: %s", exc)

    def _finish(self) -> None:
        try:
            self._publish(self.pipeline.flush(self._last_ms))
        except Exception:
            _LOGGER.exception("could not flush the last visits")
        self._close_source()
        if self.live_view is not None:
            self.live_view.stop()
        self.device.close(self.ack_wait_s)
