"""The monitor's optional admin live view: a heavily blurred picture of what the camera sees.

Owns :class:`LiveView` (off by default): it keeps only a 1/16-scale copy of the latest frame in
memory and serves it upscaled, i.e. heavily blurred, with the boxes drawn on top; only to whoever
has its token, and on loopback unless a token was configured. Also :func:`parse_listen` for its
``--live-view`` address.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Sequence
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

_LOGGER = logging.getLogger(__name__)


LIVE_VIEW_TOKEN_ENV = "OTK_LIVE_VIEW_TOKEN"
_UNAUTHORIZED = (
    "401: the live view needs its token (?token=... on the page, or Authorization: Bearer ...)\n"
    "401: для просмотра нужен токен (?token=... в адресе страницы или Authorization: Bearer ...)\n"
).encode()


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class LiveView:
    """A heavily blurred picture of what the camera sees, with boxes and labels, on a tiny HTTP server.

    Only a 1/``shrink``-scale copy of the latest frame is kept, in memory; it is upscaled when
    served, so no face is recognisable. ``GET /frame.jpg`` is one JPEG, ``GET /stream.mjpg`` an
    MJPEG stream, ``GET /`` a page showing it.

    Every request needs the token: ``token``, else the environment variable
    ``OTK_LIVE_VIEW_TOKEN``, else a random one made here (logged once, in the URL to open).
    ``GET /?token=...`` serves the page and sets an HttpOnly, SameSite=Strict cookie that the
    page's picture then carries; any path also takes ``Authorization: Bearer <token>``.
    Anything else gets 401. It binds to 127.0.0.1 by default and refuses (ValueError) any
    address that is not loopback unless a token was configured (argument or environment).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        token: str | None = None,
        shrink: int = 16,
        stream_fps: float = 5.0,
    ):
        self.shrink = max(4, int(shrink))
        self.stream_interval = 1.0 / max(0.5, stream_fps)
        self._lock = threading.Lock()
        self._small: np.ndarray | None = None
        self._size = (0, 0)
        self._overlay: list[tuple[tuple[int, int, int, int], str]] = []
        configured = (token if token is not None else os.environ.get(LIVE_VIEW_TOKEN_ENV, "")).strip()
        self.token_configured = bool(configured)
        self.token = configured or secrets.token_urlsafe(24)
        if not self.token_configured and not ((host and _is_loopback(host)) or host == "localhost"):
            raise ValueError(
                f"the live view would be reachable from the network on {host or '0.0.0.0'}: set a token "
                f"first ({LIVE_VIEW_TOKEN_ENV}), or listen on 127.0.0.1 / просмотр доступен из сети на "
                f"{host or '0.0.0.0'}: сначала задайте токен ({LIVE_VIEW_TOKEN_ENV}) или слушайте 127.0.0.1"
            )
        # the cookie holds a value derived from the token, not the token (which may hold any character)
        self._cookie_value = hmac.new(self.token.encode(), b"otk-live-view-cookie", "sha256").hexdigest()
        view = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                view._handle(self)

            def log_message(self, format: str, *args) -> None:
                # never the query: it may hold the token
                _LOGGER.debug("live view: %s %s", self.command, urlsplit(self.path).path)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.host, self.port = self.server.server_address[:2]
        self.server.daemon_threads = True
        self.cookie_name = f"otk_live_view_{self.port}"  # cookies ignore ports: one per view
        self._thread = threading.Thread(target=self.server.serve_forever, name="live-view", daemon=True)

    @property
    def url(self) -> str:
        """The address to open, token included."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/?token={self.token}"

    def start(self) -> LiveView:
        self._thread.start()
        if self.token_configured:
            _LOGGER.info(
                "admin live view (blurred) on http://%s:%d/?token=<%s> / размытый просмотр",
                self.host, self.port, LIVE_VIEW_TOKEN_ENV,
            )  # fmt: skip
        else:  # the only place the generated token is ever shown
            _LOGGER.warning("admin live view (blurred), open / размытый просмотр, откройте: %s", self.url)
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which may never have run
            self.server.shutdown()
        self.server.server_close()

    def _matches(self, candidate: str | None, secret: str | None = None) -> bool:
        expected = (secret or self.token).encode()
        return bool(candidate) and hmac.compare_digest(candidate.encode("utf-8", "replace"), expected)

    def _authorized(self, req: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> tuple[bool, bool]:
        """(allowed, came with the query token: set the cookie)."""
        scheme, _, credentials = (req.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "bearer" and self._matches(credentials.strip()):
            return True, False
        cookie = SimpleCookie()
        with contextlib.suppress(CookieError):
            cookie.load(req.headers.get("Cookie") or "")
        morsel = cookie.get(self.cookie_name)
        if morsel is not None and self._matches(morsel.value, self._cookie_value):
            return True, False
        if urlsplit(req.path).path == "/" and self._matches((query.get("token") or [None])[0]):
            return True, True
        return False, False

    def update(self, frame: np.ndarray, faces: Sequence, probs: np.ndarray, labels: Sequence[str]) -> None:
        """Keep a tiny copy of ``frame`` (the frame itself is not kept) and the boxes with labels."""
        import cv2

        h, w = frame.shape[:2]
        small = cv2.resize(
            frame, (max(1, w // self.shrink), max(1, h // self.shrink)), interpolation=cv2.INTER_AREA
        )
        overlay = []
        for i, face in enumerate(faces):
            text = ""
            if i < len(probs):
                k = int(np.argmax(probs[i]))
                text = f"{labels[k]} {float(probs[i][k]):.2f}"
            overlay.append((tuple(int(v) for v in face.box), text))
        with self._lock:
            self._small, self._size, self._overlay = small, (w, h), overlay

    def jpeg(self) -> bytes | None:
        """The latest picture as JPEG: the tiny copy upscaled and smoothed, boxes drawn on top."""
        import cv2

        with self._lock:
            small, (w, h), overlay = self._small, self._size, list(self._overlay)
        if small is None:
            return None
        image = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        k = (self.shrink * 2) | 1
        image = cv2.GaussianBlur(image, (k, k), 0)
        for (x, y, bw, bh), text in overlay:
            cv2.rectangle(image, (x, y), (x + bw, y + bh), (0, 255, 0), 2)
            if text:
                cv2.putText(image, text, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
        return buf.tobytes() if ok else None

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(req.path)
        path = parts.path
        allowed, set_cookie = self._authorized(req, parse_qs(parts.query))
        if not allowed:
            self._reply(
                req, 401, "text/plain; charset=utf-8", _UNAUTHORIZED,
                {"WWW-Authenticate": 'Bearer realm="otklik-live-view"'},
            )  # fmt: skip
            return
        if path == "/":
            page = (
                b"<!doctype html><meta charset=utf-8><title>emotion monitor</title>"
                b"<p>Blurred live view / \xd0\xa0\xd0\xb0\xd0\xb7\xd0\xbc\xd1\x8b\xd1\x82\xd0\xbe\xd0\xb5 "
                b"\xd0\xb8\xd0\xb7\xd0\xbe\xd0\xb1\xd1\x80\xd0\xb0\xd0\xb6\xd0\xb5\xd0\xbd\xd0\xb8\xd0\xb5"
                b"<p><img src=/stream.mjpg>"
            )
            cookie = (
                {"Set-Cookie": f"{self.cookie_name}={self._cookie_value}; Path=/; HttpOnly; SameSite=Strict"}
                if set_cookie
                else {}
            )
            self._reply(req, 200, "text/html; charset=utf-8", page, cookie)
        elif path == "/frame.jpg":
            data = self.jpeg()
            if data is None:
                self._reply(req, 503, "text/plain", b"no frame yet\n")
            else:
                self._reply(req, 200, "image/jpeg", data)
        elif path == "/stream.mjpg":
            req.send_response(200)
            req.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            req.send_header("Cache-Control", "no-store")
            req.send_header("X-Content-Type-Options", "nosniff")
            req.end_headers()
            try:
                while True:
                    data = self.jpeg()
                    if data is not None:
                        req.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                            + str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n"
                        )  # fmt: skip
                        req.wfile.flush()
                    time.sleep(self.stream_interval)
            except (BrokenPipeError, ConnectionResetError, OSError):
                return
        else:
            self._reply(req, 404, "text/plain", b"not found\n")

    @staticmethod
    def _reply(
        req: BaseHTTPRequestHandler, code: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        req.send_response(code)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        req.send_header("Cache-Control", "no-store")
        req.send_header("Referrer-Policy", "no-referrer")  # the page's URL may hold the token
        req.send_header("X-Content-Type-Options", "nosniff")
        req.send_header("X-Frame-Options", "DENY")
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(body)


def parse_listen(spec: str) -> tuple[str, int]:
    """``PORT``, ``:PORT`` or ``HOST:PORT`` (host 127.0.0.1 unless given)."""
    host, _, port = spec.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"not HOST:PORT: {spec!r}") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"port out of range: {spec!r}")
    return (host.strip("[]") or "127.0.0.1"), number
