"""Reusable API dependencies: the runtime and a read-only store per request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from edge_hub.db.store import Store
from edge_hub.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def get_store(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Store]:
    store = Store.reader(runtime.db_path)
    try:
        yield store
    finally:
        store.close()


def get_writer(runtime: Annotated[Runtime, Depends(get_runtime)]) -> Iterator[Store]:
    store = Store.writer(runtime.db_path)
    try:
        yield store
    finally:
        store.close()


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
StoreDep = Annotated[Store, Depends(get_store)]
#: a read-write connection, for the requests that change something
WriterDep = Annotated[Store, Depends(get_writer)]


def to_ms(value: datetime | None) -> int | None:
    """Milliseconds since the epoch; a time without a zone is taken as UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit():
        raise HTTPException(400, detail="invalid cursor / неверный курсор")
    return int(cursor)
