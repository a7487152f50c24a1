"""Local accounts, sessions, CSRF tokens, login rate limiting, the audit log and the board token.

No web framework here: every function takes a sqlite3 connection (the hub database), so the
pages (``hub_ui/pages``) and the tests share one implementation. Writes that guard a check
(the first admin, the last admin) run in one ``BEGIN IMMEDIATE`` transaction.

- Passwords: argon2id (argon2-cffi ``PasswordHasher`` defaults), rehashed on login when the
  parameters change. An unknown user name costs one verification too, so timing tells nothing.
- Sessions: a random token (32 bytes, URL-safe) in a cookie; the table keeps only its SHA-256,
  with the user, a per-session CSRF token and an expiry. Disabling a user or resetting a
  password ends that user's sessions; changing one's own password ends the other ones.
- Rate limiting: within :data:`LOGIN_WINDOW_S`, :data:`LOGIN_MAX_FAILURES` failures for one
  user name from one address, :data:`LOGIN_MAX_FAILURES_PER_IP` from one address whatever the
  names, or :data:`LOGIN_MAX_FAILURES_PER_USER` for one name whatever the addresses refuse
  further attempts (even the right password) until the oldest failure leaves the window.
- Hashing is bounded: at most :data:`HASH_CONCURRENCY` argon2 hashes or verifications run at
  once (each takes ~64 MiB); a caller waits up to :data:`HASH_WAIT_S` for a turn, then gets
  :class:`Busy` (the page answers 429 with ``Retry-After``).

Long: accounts, sessions and the login limits are one security boundary; kept together so one
reading shows every rule an attacker meets (each section is marked).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edge_hub.db.tx import immediate
from edge_hub.errors import OtklikError

_LOGGER = logging.getLogger(__name__)
_T = TypeVar("_T")

ADMIN, MANAGER, TECHNICIAN = "admin", "manager", "technician"
ROLES = (ADMIN, MANAGER, TECHNICIAN)
#: who may open a page: every role, the office's managers (and admins), admins only
ALL_ROLES = frozenset(ROLES)
STAFF = frozenset({ADMIN, MANAGER})
ADMINS = frozenset({ADMIN})

SESSION_TTL_S = 12 * 3600
LOGIN_MAX_FAILURES = 5
LOGIN_WINDOW_S = 300
#: failures from one address within the window, whatever the user names (name rotation)
LOGIN_MAX_FAILURES_PER_IP = 20
#: failures of one user name within the window, whatever the addresses (address rotation)
LOGIN_MAX_FAILURES_PER_USER = 20
#: argon2 hashes/verifications at once (argon2-cffi's defaults take 64 MiB each)
HASH_CONCURRENCY = 2
#: how long a sign-in waits for a turn before it is refused as busy
HASH_WAIT_S = 3.0
BUSY_RETRY_AFTER_S = 2
MIN_PASSWORD = 8
MAX_PASSWORD = 256
USERNAME_RE = re.compile(r"^[\w.@-]{2,64}$")
AUDIT_DETAIL_MAX = 500

_HASHER = PasswordHasher()
#: verified against when the user name is unknown, so a wrong name costs as much as a wrong password
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
_HASH_SLOTS = threading.BoundedSemaphore(HASH_CONCURRENCY)


class AuthError(OtklikError, ValueError):
    """A refused account change or login; ``key`` names the message in :mod:`hub_ui.i18n`."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class RateLimited(AuthError):
    """Too many failed logins for this user name from this address; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("login.rate_limited")
        self.retry_after = retry_after


class Busy(RateLimited):
    """Every hashing slot stayed taken for :data:`HASH_WAIT_S`: try again in ``retry_after`` s."""

    def __init__(self, retry_after: int = BUSY_RETRY_AFTER_S) -> None:
        super().__init__(retry_after)
        self.key = "login.busy"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    role: str
    disabled: bool = False

    def can(self, roles: frozenset[str]) -> bool:
        return not self.disabled and self.role in roles


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its user, its CSRF token and when it ends (epoch ms)."""

    user: User
    csrf: str
    expires_at: int


def now_ms() -> int:
    return int(time.time() * 1000)


# --- accounts -------------------------------------------------------------------------------


def normalize_username(username: str) -> str:
    name = (username or "").strip().lower()
    if not USERNAME_RE.match(name):
        raise AuthError("err.username")
    return name


def check_password(password: str, again: str | None = None) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AuthError("err.password_short")
    if len(password) > MAX_PASSWORD:
        raise AuthError("err.password_long")
    if again is not None and not hmac.compare_digest(password.encode(), again.encode()):
        raise AuthError("err.password_mismatch")
    return password


def _user(row: tuple | None) -> User | None:
    return None if row is None else User(row[0], row[1], row[2], bool(row[3]))


def user_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM ui_users").fetchone()[0]


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    return _user(conn.execute("SELECT id, username, role, disabled FROM ui_users WHERE id = ?", (user_id,))
                 .fetchone())  # fmt: skip


def users(conn: sqlite3.Connection) -> list[dict]:
    cur = conn.execute(
        "SELECT id, username, role, disabled, created_at, created_by, last_login_at FROM ui_users "
        "ORDER BY username"
    )
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


def create_user(
    conn: sqlite3.Connection, username: str, password: str, role: str, *, by: str, again: str | None = None
) -> User:
    """Add an account; AuthError if the name is taken or invalid, the password too short, the role unknown."""
    name = normalize_username(username)
    check_password(password, again)
    if role not in ROLES:
        raise AuthError("err.role")
    hashed = _hash(password)
    with immediate(conn):
        if conn.execute("SELECT 1 FROM ui_users WHERE username = ?", (name,)).fetchone():
            raise AuthError("err.user_exists")
        cur = conn.execute(
            "INSERT INTO ui_users (username, password_hash, role, disabled, created_at, created_by) "
            "VALUES (?, ?, ?, 0, ?, ?)",
            (name, hashed, role, now_ms(), by),
        )
    return User(cur.lastrowid, name, role)


def create_first_admin(conn: sqlite3.Connection, username: str, password: str, again: str) -> User:
    """The first-run step: the first account, an admin; AuthError("err.setup_done") once any exists."""
    name = normalize_username(username)
    check_password(password, again)
    hashed = _hash(password)
    with immediate(conn):
        if user_count(conn):
            raise AuthError("err.setup_done")
        cur = conn.execute(
            "INSERT INTO ui_users (username, password_hash, role, disabled, created_at, created_by) "
            "VALUES (?, ?, ?, 0, ?, 'setup')",
            (name, hashed, ADMIN, now_ms()),
        )
        ensure_board_token(conn)
    return User(cur.lastrowid, name, ADMIN)


def set_password(conn: sqlite3.Connection, user_id: int, password: str, again: str | None = None) -> User:
    """A new password (an admin's reset); the user's sessions end."""
    check_password(password, again)
    hashed = _hash(password)
    with immediate(conn):
        user = get_user(conn, user_id)
        if user is None:
            raise AuthError("err.no_user")
        conn.execute("UPDATE ui_users SET password_hash = ? WHERE id = ?", (hashed, user_id))
        conn.execute("DELETE FROM ui_sessions WHERE user_id = ?", (user_id,))
    return user


def set_disabled(conn: sqlite3.Connection, user_id: int, disabled: bool, *, actor: User) -> User:
    """Disable (sessions end) or enable an account. Nobody disables themselves or the last admin."""
    with immediate(conn):
        user = get_user(conn, user_id)
        if user is None:
            raise AuthError("err.no_user")
        if disabled and user.id == actor.id:
            raise AuthError("err.disable_self")
        if disabled and user.role == ADMIN:
            (admins,) = conn.execute(
                "SELECT count(*) FROM ui_users WHERE role = ? AND disabled = 0 AND id != ?", (ADMIN, user_id)
            ).fetchone()
            if not admins:
                raise AuthError("err.last_admin")
        conn.execute("UPDATE ui_users SET disabled = ? WHERE id = ?", (int(disabled), user_id))
        if disabled:
            conn.execute("DELETE FROM ui_sessions WHERE user_id = ?", (user_id,))
    return User(user.id, user.username, user.role, disabled)


# --- login, rate limiting -------------------------------------------------------------------


def login(conn: sqlite3.Connection, username: str, password: str, ip: str) -> User:
    """The user whose name and password these are; AuthError("login.failed") or RateLimited.

    Every failure is counted per (user name, address); at :data:`LOGIN_MAX_FAILURES` within
    :data:`LOGIN_WINDOW_S` the attempt is refused before the password is looked at.
    """
    name = (username or "").strip().lower()[:64]
    now = _count_attempt(conn, name, ip)
    row = conn.execute(
        "SELECT id, username, role, disabled, password_hash FROM ui_users WHERE username = ?", (name,)
    ).fetchone()
    ok = _verify(row[4] if row else _DUMMY_HASH, password or "") and row is not None and not row[3]
    if not ok:
        raise AuthError("login.failed")
    with immediate(conn):
        conn.execute("DELETE FROM ui_login_failures WHERE username = ? AND ip = ?", (name, ip))
        conn.execute("UPDATE ui_users SET last_login_at = ? WHERE id = ?", (now, row[0]))
        if _HASHER.check_needs_rehash(row[4]):
            conn.execute(
                "UPDATE ui_users SET password_hash = ? WHERE id = ?", (_hash(password), row[0])
            )
    return User(row[0], row[1], row[2], False)


#: (limit, condition, which of (name, ip) it binds): the three sign-in limits of :func:`_count_attempt`
_LIMITS = (
    ("LOGIN_MAX_FAILURES", "username = ? AND ip = ?", (True, True)),
    ("LOGIN_MAX_FAILURES_PER_IP", "ip = ?", (False, True)),
    ("LOGIN_MAX_FAILURES_PER_USER", "username = ?", (True, False)),
)


def _count_attempt(conn: sqlite3.Connection, name: str, ip: str) -> int:
    """Count a password attempt of ``name`` from ``ip`` as a failure (a success clears it later);
    RateLimited when one of the limits (this name from this address, this address whatever the
    name, this name whatever the address) is already reached in the window. Returns now (ms)."""
    now = now_ms()
    since = now - LOGIN_WINDOW_S * 1000
    retry_after = 0
    # The attempt is counted as a failure up front, in the transaction that checks the limit, so
    # parallel attempts cannot all slip under it; a success clears the count.
    with immediate(conn):
        conn.execute("DELETE FROM ui_login_failures WHERE at < ?", (since,))
        for limit_name, where, (by_name, by_ip) in _LIMITS:
            limit = globals()[limit_name]
            args = ((name,) if by_name else ()) + ((ip,) if by_ip else ())
            newest = [
                at for (at,) in conn.execute(
                    f"SELECT at FROM ui_login_failures WHERE {where} AND at >= ? ORDER BY at DESC LIMIT ?",
                    (*args, since, limit),
                )
            ]  # fmt: skip
            if len(newest) >= limit:  # wait until the limit-th newest failure leaves the window
                retry_after = max(retry_after, (newest[-1] + LOGIN_WINDOW_S * 1000 - now + 999) // 1000, 1)
        if not retry_after:
            conn.execute("INSERT INTO ui_login_failures (username, ip, at) VALUES (?, ?, ?)", (name, ip, now))
    if retry_after:
        _LOGGER.warning("password of %r from %s refused for %d s: too many failures", name, ip, retry_after)
        raise RateLimited(retry_after)
    return now


def change_own_password(
    conn: sqlite3.Connection, user: User, current: str, password: str, again: str, *, ip: str,
    keep: str | None,
) -> int:  # fmt: skip
    """A signed-in user's new password; returns how many of their other sessions ended.

    ``current`` must be their password: a wrong one is AuthError("account.wrong_password") and
    counts against the sign-in limit of their name from ``ip`` (RateLimited once reached, as
    :func:`login`). Every session of the user but ``keep`` (the cookie token of the one asking)
    ends.
    """
    check_password(password, again)
    _count_attempt(conn, user.username, ip)
    row = conn.execute(
        "SELECT password_hash FROM ui_users WHERE id = ? AND disabled = 0", (user.id,)
    ).fetchone()
    if row is None or not _verify(row[0], current or ""):
        raise AuthError("account.wrong_password")
    hashed = _hash(password)
    with immediate(conn):
        conn.execute("DELETE FROM ui_login_failures WHERE username = ? AND ip = ?", (user.username, ip))
        conn.execute("UPDATE ui_users SET password_hash = ? WHERE id = ?", (hashed, user.id))
        ended = conn.execute(
            "DELETE FROM ui_sessions WHERE user_id = ? AND token_hash != ?", (user.id, _digest(keep or ""))
        ).rowcount
    return ended


def _bounded(work: Callable[[], _T]) -> _T:
    """Run one argon2 operation in one of the :data:`HASH_CONCURRENCY` slots; :class:`Busy` when
    none frees up within :data:`HASH_WAIT_S`."""
    if not _HASH_SLOTS.acquire(timeout=HASH_WAIT_S):
        _LOGGER.warning("password hashing busy: a sign-in was refused (%d at once)", HASH_CONCURRENCY)
        raise Busy()
    try:
        return work()
    finally:
        _HASH_SLOTS.release()


def _hash(password: str) -> str:
    return _bounded(lambda: _HASHER.hash(password))


def _verify(hashed: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _HASHER.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    return _bounded(check)


# --- sessions and CSRF ----------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_session(conn: sqlite3.Connection, user: User, ip: str) -> tuple[str, Session]:
    """A fresh session for a user who just signed in: (cookie token, session). Expired ones go."""
    token, csrf, now = new_token(), new_token(), now_ms()
    expires = now + SESSION_TTL_S * 1000
    with immediate(conn):
        conn.execute("DELETE FROM ui_sessions WHERE expires_at < ?", (now,))
        conn.execute(
            "INSERT INTO ui_sessions (token_hash, user_id, csrf, created_at, expires_at, ip) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (_digest(token), user.id, csrf, now, expires, ip),
        )
    return token, Session(user, csrf, expires)


def session_for(conn: sqlite3.Connection, token: str | None) -> Session | None:
    """The live session of a cookie token: not expired, its user not disabled; else None."""
    if not token or len(token) > 128:
        return None
    row = conn.execute(
        "SELECT u.id, u.username, u.role, u.disabled, s.csrf, s.expires_at FROM ui_sessions s "
        "JOIN ui_users u ON u.id = s.user_id WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        (_digest(token), now_ms()),
    ).fetchone()
    if row is None:
        return None
    return Session(User(row[0], row[1], row[2], False), row[4], row[5])


def end_session(conn: sqlite3.Connection, token: str | None) -> None:
    if token:
        with immediate(conn):
            conn.execute("DELETE FROM ui_sessions WHERE token_hash = ?", (_digest(token),))


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two tokens; False when either is missing."""
    return bool(expected and given) and hmac.compare_digest(expected.encode(), given.encode())


# --- audit log ------------------------------------------------------------------------------


def audit(
    conn: sqlite3.Connection, user: User | str | None, action: str, detail: str = "", *, ip: str | None = None
) -> None:
    """Record an admin action: who (a user, a name, or "-"), what (a dotted code), and a detail."""
    who = user.username if isinstance(user, User) else (user or "-")
    with immediate(conn):
        conn.execute(
            "INSERT INTO ui_audit (at, who, action, detail, ip) VALUES (?, ?, ?, ?, ?)",
            (now_ms(), who, action, (detail or "")[:AUDIT_DETAIL_MAX], ip),
        )


def audit_log(conn: sqlite3.Connection, before: int | None = None, limit: int = 100) -> list[dict]:
    """Newest first; ``before`` an id to page back from."""
    cur = conn.execute(
        "SELECT id, at, who, action, detail, ip FROM ui_audit WHERE id < ? ORDER BY id DESC LIMIT ?",
        (before if before is not None else 2**62, limit),
    )
    names = [c[0] for c in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur]


# --- the TV board's token -------------------------------------------------------------------


def ensure_board_token(conn: sqlite3.Connection) -> str:
    with immediate(conn):
        row = conn.execute("SELECT value FROM ui_settings WHERE key = 'board_token'").fetchone()
        if row:
            return row[0]
        token = secrets.token_urlsafe(18)
        conn.execute("INSERT INTO ui_settings (key, value) VALUES ('board_token', ?)", (token,))
    return token


def rotate_board_token(conn: sqlite3.Connection) -> str:
    """A new board token: boards opened with the old link stop updating and must be re-linked."""
    token = secrets.token_urlsafe(18)
    with immediate(conn):
        conn.execute(
            "INSERT INTO ui_settings (key, value) VALUES ('board_token', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (token,),
        )
    return token


def board_token_ok(conn: sqlite3.Connection, token: str | None) -> bool:
    row = conn.execute("SELECT value FROM ui_settings WHERE key = 'board_token'").fetchone()
    return bool(row) and same_token(row[0], token)
