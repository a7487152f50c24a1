"""Every table of the hub's database and of the reference puller's central file, in one place.

:func:`migrate` brings a hub database to the current schema; each step is idempotent (``IF NOT
EXISTS``, columns added only when missing), so it runs at every start and after a crash in the
middle of a step. No other module creates or alters a table: the modules that read and write a
table say which one, and this module says what it is. (Versioned migrations with a schema
number are issue 18's work.)

The tables, by owner of their rows:

- ingest (edge_hub/ingest/): ``events``, ``quarantine``, ``devices``, ``device_incs``,
  ``identity_log``, ``meta`` (the hub id and cursors)
- office (edge_hub/office/): ``office_settings`` (the settings and the survey), ``departments``,
  ``windows``, ``operators``, ``shifts``, ``served``, ``device_configs``, ``phone_holders``,
  ``survey_revisions``, ``device_config_revs``, ``surveys``, ``survey_assignments``
- metrics (edge_hub/metrics/aggregates.py): ``aggregates``, the hourly mergeable histograms
- alerts (edge_hub/alerts/): ``alerts``, ``alert_log``
- web kiosks (edge_hub/ingest/webkiosk.py): ``kiosk_tokens``
- sync (edge_hub/sync/): ``sync_tokens``; the central file: ``central_buckets``, ``central_cursors``
- the office page (edge_hub/api/auth.py): ``ui_users``, ``ui_sessions``, ``ui_login_failures``,
  ``ui_audit``, ``ui_settings``
"""

from __future__ import annotations

import sqlite3
import uuid

from sqlite_utils import Database

#: the unique key of an event: a copy with the same key is ignored (or, with other content,
#: quarantined as an identity conflict)
EVENT_KEY = ("device", "inc", "boot", "seq")
_KEY_BEFORE_INC = ("device", "boot", "seq")


def migrate(db: Database) -> None:
    """Create or bring up to date every table of the hub's database, and commit."""
    db["events"].create(
        {
            "id": int, "device": str, "inc": int, "boot": int, "seq": int, "type": str, "question": str,
            "value": int, "repeat": int, "ts": int, "time_source": str, "device_ts": int,
            "up": int, "received_at": int, "payload": str,
        },
        pk="id",
        not_null=["device", "inc", "boot", "seq", "type", "ts", "received_at", "payload"],
        defaults={"inc": 0},
        if_not_exists=True,
    )  # fmt: skip
    _event_key(db)
    db["events"].create_index(["ts"], if_not_exists=True)
    db["quarantine"].create(
        {"id": int, "received_at": int, "topic": str, "reason": str, "detail": str,
         "payload": bytes, "size": int},
        pk="id",
        not_null=["received_at", "topic", "reason"],
        if_not_exists=True,
    )  # fmt: skip
    db["devices"].create(
        {
            "device": str, "state": str, "kind": str, "fw": str, "hw": str, "boot": int,
            "up": int, "battery_mv": int, "rssi": int, "heap_free": int, "reset_cause": str,
            "outbox": int, "drops": int, "safe_mode": int, "config_rev": int, "status": str,
            "first_seen": int, "last_seen": int, "last_status_at": int, "state_since": int,
        },
        pk="device",
        if_not_exists=True,
    )  # fmt: skip
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    _identity(db)
    _office(db)
    _sync_tokens(db)
    _kiosk_tokens(db)
    _alerts(db)
    _office_page(db)
    db.conn.commit()


def _event_key(db: Database) -> None:
    """The key (device, inc, boot, seq). A database made before incarnation ids gets the
    ``inc`` column (0 for every stored event: their devices had no inc) and the new unique
    index before the old (device, boot, seq) one goes, so a key is guarded at every step
    and each step can be repeated after a crash."""
    events = db["events"]
    if "inc" not in events.columns_dict:
        events.add_column("inc", int, not_null_default=0)
    events.create_index(list(EVENT_KEY), unique=True, if_not_exists=True)
    for index in events.indexes:
        if index.unique and tuple(index.columns) == _KEY_BEFORE_INC:
            db.conn.execute(f"DROP INDEX [{index.name}]")


def _office(db: Database) -> None:
    """The office's scopes, attribution and aggregates (the metrics engine)."""
    # events: the window and the operator on shift at the press, and a trust flag (NULL = trusted)
    for table, columns in (("events", ("window", "operator", "flag")), ("devices", ("window",))):
        existing = db[table].columns_dict
        for column in columns:
            if column not in existing:
                db[table].add_column(column, str)
    db["events"].create_index(["device", "ts"], if_not_exists=True)
    db["office_settings"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["departments"].create({"id": str, "name": str}, pk="id", if_not_exists=True)
    db["windows"].create({"id": str, "department": str, "name": str}, pk="id", if_not_exists=True)
    db["operators"].create({"id": str, "name": str}, pk="id", if_not_exists=True)
    db["shifts"].create(
        {"id": int, "operator": str, "window": str, "start_ms": int, "end_ms": int},
        pk="id", not_null=["operator", "window", "start_ms", "end_ms"], if_not_exists=True,
    )  # fmt: skip
    db["shifts"].create_index(["window", "start_ms"], if_not_exists=True)
    # served clients per local day, for the whole office (window "") or one window
    db["served"].create(
        {"day": str, "window": str, "count": int, "source": str},
        pk=("day", "window"), not_null=["count"], if_not_exists=True,
    )  # fmt: skip
    # hourly mergeable histograms: see edge_hub/metrics/aggregates.py
    db["aggregates"].create(
        {
            "key": str, "hour": int, "device": str, "question": str, "window": str, "operator": str,
            "kind": str, "counts": str, "flagged": str, "n": int, "revision": int, "seq": int,
        },
        pk="key", not_null=["hour", "device", "kind", "counts", "n", "revision", "seq"],
        if_not_exists=True,
    )  # fmt: skip
    # rows holding a visitor's callback phone number, until it is deleted (edge_hub/office/privacy.py)
    db["phone_holders"].create(
        {"tbl": str, "row_id": int, "received_at": int}, pk=("tbl", "row_id"), if_not_exists=True,
    )  # fmt: skip
    db["phone_holders"].create_index(["received_at"], if_not_exists=True)
    # the config each feedback terminal is sent (edge_hub/office/survey.py), its revision only grows
    db["device_configs"].create(
        {"device": str, "rev": int, "payload": str, "updated_at": int},
        pk="device", not_null=["rev", "payload", "updated_at"], if_not_exists=True,
    )  # fmt: skip
    # every survey saved (a revision each), and which survey revision each terminal's config
    # revision carried and when it was sent (edge_hub/office/survey.py: an answer's wording)
    db["survey_revisions"].create(
        {"rev": int, "survey": str, "saved_at": int, "saved_by": str},
        pk="rev", not_null=["survey", "saved_at"], if_not_exists=True,
    )  # fmt: skip
    db["device_config_revs"].create(
        {"device": str, "rev": int, "survey_rev": int, "sent_at": int},
        pk=("device", "rev"), not_null=["survey_rev", "sent_at"], if_not_exists=True,
    )  # fmt: skip
    # several surveys (edge_hub/office/survey.py): each revision names its survey (NULL: the main
    # one, saved before there were several); a survey's name, audience and retirement; which
    # survey a device or a department's terminals run (none: the main survey)
    if "survey_id" not in db["survey_revisions"].columns_dict:
        db["survey_revisions"].add_column("survey_id", str)
    db["surveys"].create(
        {"id": str, "name": str, "audience": str, "created_at": int, "retired_at": int},
        pk="id", not_null=["name", "audience", "created_at"], if_not_exists=True,
    )  # fmt: skip
    db["survey_assignments"].create(
        {"target_kind": str, "target": str, "survey_id": str, "assigned_at": int},
        pk=("target_kind", "target"), not_null=["survey_id", "assigned_at"], if_not_exists=True,
    )  # fmt: skip
    db["aggregates"].create_index(["seq"], unique=True, if_not_exists=True)
    db["aggregates"].create_index(["hour"], if_not_exists=True)
    if db["meta"].count_where("key = 'hub_id'") == 0:
        db["meta"].insert({"key": "hub_id", "value": str(uuid.uuid4())})


def _identity(db: Database) -> None:
    """Device incarnations (edge_hub/ingest/identity.py): the ``devices.inc`` column, every
    incarnation seen and the identity log."""
    if "inc" not in db["devices"].columns_dict:
        db["devices"].add_column("inc", int)
    db["device_incs"].create(
        {"device": str, "inc": int, "first_seen": int, "boot": int, "boot_at": int},
        pk=("device", "inc"),
        not_null=["first_seen"],
        if_not_exists=True,
    )
    db["identity_log"].create(
        {
            "id": int, "device": str, "at": int, "change": str, "inc": int, "boot": int, "seq": int,
            "prev_inc": int, "prev_boot": int, "via": str, "detail": str,
        },
        pk="id",
        not_null=["device", "at", "change", "inc"],
        if_not_exists=True,
    )  # fmt: skip


def _sync_tokens(db: Database) -> None:
    """The API's bearer tokens (edge_hub/sync/tokens.py); only their hashes are stored."""
    db.conn.execute(
        "CREATE TABLE IF NOT EXISTS sync_tokens ("
        " id INTEGER PRIMARY KEY,"
        " name TEXT,"
        " scope TEXT NOT NULL,"
        " token_hash TEXT NOT NULL UNIQUE,"  # hex SHA-256 of the token; the token itself is never stored
        " created_at INTEGER NOT NULL,"  # ms since the epoch
        " last_used_at INTEGER,"
        " revoked INTEGER NOT NULL DEFAULT 0)"
    )


def _kiosk_tokens(db: Database) -> None:
    """Each web kiosk's token (edge_hub/ingest/webkiosk.py): one per device, only its SHA-256
    stored; revoking a web kiosk deletes its row."""
    db.conn.execute(
        "CREATE TABLE IF NOT EXISTS kiosk_tokens ("
        " device TEXT PRIMARY KEY,"
        " token_hash TEXT NOT NULL UNIQUE,"  # hex SHA-256 of the token; the token itself is never stored
        " created_at INTEGER NOT NULL)"  # ms since the epoch
    )


def _alerts(db: Database) -> None:
    """Alerts and their audit log (edge_hub/alerts/)."""
    db["alerts"].create(
        {
            "id": int, "kind": str, "state": str, "device": str, "window": str, "key": str,
            "opened_at": int, "title_ru": str, "title_en": str, "detail": str,
            "ack_by": str, "ack_at": int, "ack_comment": str,
            "resolved_by": str, "resolved_at": int, "resolved_comment": str, "updated_at": int,
        },
        pk="id",
        not_null=["kind", "state", "key", "opened_at", "title_ru", "title_en", "detail", "updated_at"],
        if_not_exists=True,
    )  # fmt: skip
    # one unresolved alert per key; resolved ones are history
    db.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS alerts_active_key ON alerts (key) WHERE state != 'resolved'"
    )
    db["alerts"].create_index(["key"], if_not_exists=True)
    db["alerts"].create_index(["state", "kind"], if_not_exists=True)
    db["alert_log"].create(
        {"id": int, "alert": int, "at": int, "who": str, "action": str, "comment": str},
        pk="id",
        not_null=["alert", "at", "who", "action"],
        foreign_keys=[("alert", "alerts", "id")],
        if_not_exists=True,
    )
    db["alert_log"].create_index(["alert"], if_not_exists=True)


def _office_page(db: Database) -> None:
    """The office page's accounts, sessions, failed logins, audit log and settings (edge_hub/api/auth.py)."""
    db["ui_users"].create(
        {"id": int, "username": str, "password_hash": str, "role": str, "disabled": int,
         "created_at": int, "created_by": str, "last_login_at": int},
        pk="id", not_null=["username", "password_hash", "role", "disabled", "created_at"],
        defaults={"disabled": 0}, if_not_exists=True,
    )  # fmt: skip
    db["ui_users"].create_index(["username"], unique=True, if_not_exists=True)
    db["ui_sessions"].create(
        {"token_hash": str, "user_id": int, "csrf": str, "created_at": int, "expires_at": int, "ip": str},
        pk="token_hash", not_null=["user_id", "csrf", "created_at", "expires_at"],
        foreign_keys=[("user_id", "ui_users", "id")], if_not_exists=True,
    )  # fmt: skip
    db["ui_sessions"].create_index(["user_id"], if_not_exists=True)
    db["ui_login_failures"].create(
        {"id": int, "username": str, "ip": str, "at": int},
        pk="id", not_null=["username", "ip", "at"], if_not_exists=True,
    )  # fmt: skip
    db["ui_login_failures"].create_index(["username", "ip", "at"], if_not_exists=True)
    db["ui_login_failures"].create_index(["ip", "at"], if_not_exists=True)
    db["ui_login_failures"].create_index(["at"], if_not_exists=True)
    db["ui_audit"].create(
        {"id": int, "at": int, "who": str, "action": str, "detail": str, "ip": str},
        pk="id", not_null=["at", "who", "action"], if_not_exists=True,
    )  # fmt: skip
    db["ui_settings"].create({"key": str, "value": str}, pk="key", if_not_exists=True)


def migrate_central(conn: sqlite3.Connection) -> None:
    """The central file of the reference puller (``edge-hub sync pull``): buckets by hub and key,
    and each hub's cursor."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS central_buckets ("
        " hub_id TEXT NOT NULL, key TEXT NOT NULL, site TEXT, hour TEXT NOT NULL, device TEXT NOT NULL,"
        " question TEXT NOT NULL, window TEXT NOT NULL, operator TEXT NOT NULL, kind TEXT NOT NULL,"
        " counts TEXT NOT NULL, flagged TEXT NOT NULL, n INTEGER NOT NULL, revision INTEGER NOT NULL,"
        " seq INTEGER NOT NULL, source TEXT, received_at INTEGER NOT NULL,"
        " PRIMARY KEY (hub_id, key))"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS central_buckets_hour ON central_buckets (hour)")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS central_cursors ("
        " hub_id TEXT PRIMARY KEY, url TEXT, site TEXT, last_seq INTEGER NOT NULL,"
        " high_water INTEGER, updated_at INTEGER NOT NULL)"
    )
