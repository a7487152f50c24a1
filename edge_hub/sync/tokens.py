"""Bearer tokens of the hub's APIs: ``sync:read`` for the central server's pull, ``api:read`` and
``api:write`` for scripts using the JSON API. The secret is shown once when made; only its SHA-256
is stored (table ``sync_tokens``, :mod:`edge_hub.db.schema`). Writes run in one ``BEGIN
IMMEDIATE`` transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from edge_hub.db.tx import immediate as _write
from edge_hub.db.tx import now_ms as _now_ms
from edge_hub.errors import SyncError

SCOPE_READ = "sync:read"
#: every scope a token can carry, with what it allows
SCOPE_API_READ = "api:read"
SCOPE_API_WRITE = "api:write"
SCOPES = {
    SCOPE_READ: "pull the hourly aggregates (GET /api/v1/sync/aggregates)",
    SCOPE_API_READ: "read the JSON API (/api/v1, GET) once the hub has accounts",
    SCOPE_API_WRITE: "read and change through the JSON API (/api/v1, every method)",
}
TOKEN_PREFIX = "otk_"
TOKEN_BYTES = 32  # 256 random bits
TOKEN_MAX_LEN = 200  # longer bearer values are refused before hashing
#: last_used_at is written at most this often per token (each write competes with ingest)
TOUCH_EVERY_MS = 60_000
NAME_MAX = 100


class TokenNotFound(SyncError):
    """No token has this id."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret (which is never stored)."""

    id: int
    name: str | None
    scope: str
    created_at: int
    last_used_at: int | None
    revoked: bool


def _hash(token: str) -> str:
    # SHA-256, unsalted, is the right hash here: the token is 256 random bits from `secrets`, so
    # no dictionary, rainbow table or GPU can search its space, and a slow password hash
    # (bcrypt, argon2) would only cost CPU on every request. Being deterministic, the digest is
    # also the lookup key (a unique index), so checking a token needs no per-row comparison.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(conn: sqlite3.Connection, scope: str = SCOPE_READ, name: str | None = None) -> str:
    """Store a new token and return its secret: the only time it can be seen."""
    scopes = scope.split()
    if not scopes or any(s not in SCOPES for s in scopes):
        raise SyncError(
            f"unknown scope {scope!r} (known: {', '.join(SCOPES)}) / "
            f"неизвестное право {scope!r} (есть: {', '.join(SCOPES)})"
        )
    if name is not None and len(name) > NAME_MAX:
        raise SyncError(f"name longer than {NAME_MAX} characters / имя длиннее {NAME_MAX} символов")
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with _write(conn):
        conn.execute(
            "INSERT INTO sync_tokens (name, scope, token_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, " ".join(scopes), _hash(token), _now_ms()),
        )
    return token


def find_token(conn: sqlite3.Connection, token: str) -> TokenInfo | None:
    """The stored token with this secret (revoked or not), or None."""
    if not token or len(token) > TOKEN_MAX_LEN:
        return None
    digest = _hash(token)
    row = conn.execute(
        "SELECT id, name, scope, created_at, last_used_at, revoked, token_hash FROM sync_tokens "
        "WHERE token_hash = ?",
        (digest,),
    ).fetchone()
    # The lookup is by the digest, so its timing says nothing about how much of a real token a
    # guess got right; compare_digest keeps the final check constant-time as well.
    if row is None or not hmac.compare_digest(row[6], digest):
        return None
    return TokenInfo(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


def authenticate(conn: sqlite3.Connection, token: str, scope: str) -> TokenInfo | None:
    """The token if it exists, is not revoked and carries ``scope``; else None."""
    info = find_token(conn, token)
    if info is None or info.revoked or scope not in info.scope.split():
        return None
    return info


def check_token(conn: sqlite3.Connection, token: str, scope: str) -> bool:
    """True when ``token`` is a live token carrying ``scope``."""
    return authenticate(conn, token, scope) is not None


def touch_token(conn: sqlite3.Connection, token_id: int, now_ms: int | None = None) -> bool:
    """Record a use of the token (at most every :data:`TOUCH_EVERY_MS`); True if written."""
    now_ms = _now_ms() if now_ms is None else now_ms
    with _write(conn):
        cur = conn.execute(
            "UPDATE sync_tokens SET last_used_at = ? WHERE id = ? AND "
            "(last_used_at IS NULL OR last_used_at <= ?)",
            (now_ms, token_id, now_ms - TOUCH_EVERY_MS),
        )
    return cur.rowcount > 0


def list_tokens(conn: sqlite3.Connection) -> list[TokenInfo]:
    rows = conn.execute(
        "SELECT id, name, scope, created_at, last_used_at, revoked FROM sync_tokens ORDER BY id"
    ).fetchall()
    return [TokenInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]


def revoke_token(conn: sqlite3.Connection, token_id: int) -> bool:
    """Revoke a token for good; False if it was revoked already. Unknown id: TokenNotFound."""
    with _write(conn):
        row = conn.execute("SELECT revoked FROM sync_tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise TokenNotFound(f"no token {token_id} / нет токена {token_id}")
        if row[0]:
            return False
        conn.execute("UPDATE sync_tokens SET revoked = 1 WHERE id = ?", (token_id,))
    return True
