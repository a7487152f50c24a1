"""The office's scopes under /api/v1: departments, windows, operators, shifts (and their CSV
import), the window of a device, served clients per day, and the office settings.

Ids match ``^[a-z0-9][a-z0-9_-]{0,31}$``. Refusals carry an "English / Russian" ``detail``:
404 an unknown id in the path; 409 a conflict (an overlapping shift, deleting something in
use); 422 invalid input, an unknown id named in the body included. Date-times without an
offset are office local time (the ``timezone`` setting); shifts come back in that zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, tzinfo
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field, StrictInt

from edge_hub.api.deps import StoreDep, WriterDep
from edge_hub.api.models import (
    API_REFUSALS,
    BODY_REFUSALS,
    NOT_ONLY_SPACES,
    SQL_INT_MAX,
    IsoDate,
    IsoDateTime,
    Refusal,
    refusals,
)
from edge_hub.api.routes import Route
from edge_hub.office import recredit, scopes
from edge_hub.office import served as served_counts
from edge_hub.office import settings as office_settings
from edge_hub.office import shifts as shift_rules
from edge_hub.office.scopes import ID_PATTERN, NAME_MAX, ScopeConflict, ScopeError, ScopeNotFound
from edge_hub.office.settings import OfficeSettings
from edge_hub.office.shifts import RowError

router = APIRouter(tags=["scopes"], route_class=Route, responses=API_REFUSALS)

Id = Annotated[str, Field(pattern=ID_PATTERN, description="Lowercase letters, digits, '-', '_'; at most 32")]
Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=NAME_MAX,
        pattern=NOT_ONLY_SPACES,
        description="Kept without the spaces around it; not only spaces",
    ),
]
DepartmentId = Annotated[str, Path(pattern=ID_PATTERN)]
WindowId = Annotated[str, Path(pattern=ID_PATTERN)]
OperatorId = Annotated[str, Path(pattern=ID_PATTERN)]
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]
LOCAL = "Office local time when it has no offset"


class DepartmentIn(BaseModel):
    name: Name


class DepartmentOut(BaseModel):
    id: str
    name: str


class WindowIn(BaseModel):
    department: Id = Field(description="An existing department")
    name: Name


class WindowOut(BaseModel):
    id: str
    department: str
    name: str
    devices: list[str] = Field(description="The devices on this window")


class OperatorIn(BaseModel):
    name: Name


class OperatorOut(BaseModel):
    id: str
    name: str


class ShiftIn(BaseModel):
    operator: Id
    window: Id
    start: IsoDateTime = Field(description=f"Start (inclusive). {LOCAL}")
    end: IsoDateTime = Field(description=f"End (exclusive), after the start. {LOCAL}")


class ShiftOut(BaseModel):
    id: int
    operator: str
    window: str
    start: datetime = Field(description="Start (inclusive), in the office time zone")
    end: datetime = Field(description="End (exclusive), in the office time zone")


class ImportOut(BaseModel):
    added: int = Field(description="How many shifts were added")


class RowErrorOut(BaseModel):
    line: int = Field(description="Line of the CSV, counting from 1 (the header)")
    message: str


class DeviceWindowIn(BaseModel):
    window: Id | None = Field(description="An existing window, or null to take the device off its window")


class DeviceWindowOut(BaseModel):
    device: str
    window: str | None


class ServedIn(BaseModel):
    day: IsoDate = Field(description="Local day, YYYY-MM-DD")
    window: str = Field(
        "", pattern=f"^$|{ID_PATTERN}", description="An existing window; empty: the whole office"
    )
    count: StrictInt = Field(ge=0, le=SQL_INT_MAX, description="Clients served that day (a JSON integer)")
    source: Literal["manual", "counter", "queue"] = "manual"


class ServedOut(BaseModel):
    day: date
    window: str
    count: int
    source: str | None


@contextmanager
def _refusals() -> Iterator[None]:
    """A refusal of :mod:`edge_hub.office.scopes` as the HTTP error it stands for."""
    try:
        yield
    except ScopeNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except ScopeConflict as exc:
        raise HTTPException(409, detail=str(exc)) from None
    except ScopeError as exc:
        raise HTTPException(422, detail=str(exc)) from None


def _ms(value: datetime, zone: tzinfo) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return int(value.timestamp() * 1000)


def _shift_out(row: dict[str, Any], zone: tzinfo) -> ShiftOut:
    return ShiftOut(
        id=row["id"],
        operator=row["operator"],
        window=row["window"],
        start=datetime.fromtimestamp(row["start_ms"] / 1000, zone),
        end=datetime.fromtimestamp(row["end_ms"] / 1000, zone),
    )


# --- departments --------------------------------------------------------------------------------


@router.get("/departments", response_model=list[DepartmentOut])
def list_departments(store: StoreDep) -> list[DepartmentOut]:
    return [DepartmentOut(**row) for row in scopes.departments(store.conn)]


@router.get("/departments/{dep_id}", response_model=DepartmentOut, responses=refusals(404))
def get_department(store: StoreDep, dep_id: DepartmentId) -> DepartmentOut:
    with _refusals():
        return DepartmentOut(**scopes.department(store.conn, dep_id))


@router.put("/departments/{dep_id}", response_model=DepartmentOut, responses=BODY_REFUSALS)
def put_department(writer: WriterDep, dep_id: DepartmentId, body: DepartmentIn) -> DepartmentOut:
    """Create or rename a department."""
    with _refusals():
        return DepartmentOut(**scopes.put_department(writer.conn, dep_id, body.name))


@router.delete("/departments/{dep_id}", status_code=204, responses=refusals(404, 409))
def delete_department(writer: WriterDep, dep_id: DepartmentId) -> Response:
    """Delete a department; 409 while it has windows."""
    with _refusals():
        scopes.delete_department(writer.conn, dep_id)
    return Response(status_code=204)


# --- windows ------------------------------------------------------------------------------------


@router.get("/windows", response_model=list[WindowOut])
def list_windows(
    store: StoreDep, department: Annotated[str | None, Query(description="Only this department")] = None
) -> list[WindowOut]:
    return [WindowOut(**row) for row in scopes.windows(store.conn, department)]


@router.get("/windows/{window_id}", response_model=WindowOut, responses=refusals(404))
def get_window(store: StoreDep, window_id: WindowId) -> WindowOut:
    with _refusals():
        return WindowOut(**scopes.window(store.conn, window_id))


@router.put("/windows/{window_id}", response_model=WindowOut, responses=BODY_REFUSALS)
def put_window(writer: WriterDep, window_id: WindowId, body: WindowIn) -> WindowOut:
    """Create a window in a department, or rename it or move it to another department."""
    with _refusals():
        return WindowOut(**scopes.put_window(writer.conn, window_id, body.department, body.name))


@router.delete("/windows/{window_id}", status_code=204, responses=refusals(404, 409))
def delete_window(writer: WriterDep, window_id: WindowId) -> Response:
    """Delete a window; 409 while it has shifts or devices."""
    with _refusals():
        scopes.delete_window(writer.conn, window_id)
    return Response(status_code=204)


@router.put(
    "/devices/{device}/window",
    response_model=DeviceWindowOut,
    responses={**refusals(404), **BODY_REFUSALS},
)
def put_device_window(writer: WriterDep, device: DeviceId, body: DeviceWindowIn) -> DeviceWindowOut:
    """Put a device on a window (a device not seen yet is registered), or take it off (null)."""
    with _refusals():  # its presses move to the new window
        return DeviceWindowOut(**recredit.assign_device_and_rebuild(writer.conn, device, body.window))


# --- operators ----------------------------------------------------------------------------------


@router.get("/operators", response_model=list[OperatorOut])
def list_operators(store: StoreDep) -> list[OperatorOut]:
    return [OperatorOut(**row) for row in scopes.operators(store.conn)]


@router.get("/operators/{operator_id}", response_model=OperatorOut, responses=refusals(404))
def get_operator(store: StoreDep, operator_id: OperatorId) -> OperatorOut:
    with _refusals():
        return OperatorOut(**scopes.operator(store.conn, operator_id))


@router.put("/operators/{operator_id}", response_model=OperatorOut, responses=BODY_REFUSALS)
def put_operator(writer: WriterDep, operator_id: OperatorId, body: OperatorIn) -> OperatorOut:
    """Create or rename an operator."""
    with _refusals():
        return OperatorOut(**scopes.put_operator(writer.conn, operator_id, body.name))


@router.delete("/operators/{operator_id}", status_code=204, responses=refusals(404, 409))
def delete_operator(writer: WriterDep, operator_id: OperatorId) -> Response:
    """Delete an operator; 409 while they have shifts."""
    with _refusals():
        scopes.delete_operator(writer.conn, operator_id)
    return Response(status_code=204)


# --- shifts -------------------------------------------------------------------------------------


@router.get("/shifts", response_model=list[ShiftOut])
def list_shifts(
    store: StoreDep,
    window: Annotated[str | None, Query(description="Only this window")] = None,
    operator: Annotated[str | None, Query(description="Only this operator")] = None,
    from_: Annotated[
        IsoDateTime | None, Query(alias="from", description=f"Shifts ending after. {LOCAL}")
    ] = None,
    to: Annotated[IsoDateTime | None, Query(description=f"Shifts starting before. {LOCAL}")] = None,
) -> list[ShiftOut]:
    zone = office_settings.load(store.conn).zone
    rows = shift_rules.shifts(
        store.conn,
        window=window,
        operator=operator,
        from_ms=None if from_ is None else _ms(from_, zone),
        to_ms=None if to is None else _ms(to, zone),
    )
    return [_shift_out(row, zone) for row in rows]


@router.post(
    "/shifts", response_model=ShiftOut, status_code=201, responses={**refusals(409), **BODY_REFUSALS}
)
def add_shift(writer: WriterDep, body: ShiftIn) -> ShiftOut:
    """Add a shift; 409 when it overlaps a shift of the same window or the same operator."""
    zone = office_settings.load(writer.conn).zone
    with _refusals():  # presses already stored in that time are credited to the operator now
        row = recredit.add_shift_and_rebuild(
            writer.conn, body.operator, body.window, _ms(body.start, zone), _ms(body.end, zone)
        )
    return _shift_out(row, zone)


@router.post(
    "/shifts/import",
    response_model=ImportOut,
    status_code=201,
    responses={
        **BODY_REFUSALS,
        422: {"model": Refusal, "description": "Nothing was imported: `detail.errors` lists each bad line"},
    },
)
def import_shifts(
    writer: WriterDep,
    body: Annotated[
        bytes,
        Body(
            media_type="text/csv",
            description="The CSV itself as the request body (Content-Type: text/csv), UTF-8 or "
            "Windows-1251; header operator,window,start,end or оператор,окно,начало,конец",
        ),
    ],
) -> ImportOut:
    """Import shifts from CSV, all or nothing (see edge_hub/SCOPES.md for the format)."""
    result = recredit.import_shifts_file(writer.conn, body, office_settings.load(writer.conn).zone)
    if not result.ok:
        raise _import_refused(result.errors)
    return ImportOut(added=result.added)


def _import_refused(errors: Iterable[RowError]) -> HTTPException:
    return HTTPException(
        422,
        detail={
            "message": "nothing was imported, fix these lines / ничего не загружено, исправьте строки",
            "errors": [RowErrorOut(line=e.line, message=e.message).model_dump() for e in errors],
        },
    )


@router.delete("/shifts/{shift_id:int}", status_code=204, responses=refusals(404))
def delete_shift(writer: WriterDep, shift_id: Annotated[int, Path(ge=1, le=SQL_INT_MAX)]) -> Response:
    with _refusals():
        recredit.delete_shift_and_rebuild(writer.conn, shift_id)
    return Response(status_code=204)


# --- served clients -----------------------------------------------------------------------------


@router.get("/served", response_model=list[ServedOut])
def list_served(
    store: StoreDep,
    from_: Annotated[IsoDate | None, Query(alias="from", description="First day (inclusive)")] = None,
    to: Annotated[IsoDate | None, Query(description="Last day (inclusive)")] = None,
    window: Annotated[str | None, Query(description="Only this window; empty: the whole office")] = None,
) -> list[ServedOut]:
    rows = served_counts.served(
        store.conn,
        None if from_ is None else from_.isoformat(),
        None if to is None else to.isoformat(),
        window,
    )
    return [ServedOut(**row) for row in rows]


@router.put("/served", response_model=ServedOut, responses=BODY_REFUSALS)
def put_served(writer: WriterDep, body: ServedIn) -> ServedOut:
    """Set (insert or replace) the clients served on a day at a window or the whole office."""
    with _refusals():
        row = served_counts.put_served(
            writer.conn, body.day.isoformat(), body.window, body.count, body.source
        )
    return ServedOut(**row)


# --- settings -----------------------------------------------------------------------------------


@router.get("/settings", response_model=OfficeSettings)
def get_settings(store: StoreDep) -> OfficeSettings:
    return office_settings.load(store.conn)


@router.put("/settings", response_model=OfficeSettings, responses=BODY_REFUSALS)
def put_settings(writer: WriterDep, body: OfficeSettings) -> OfficeSettings:
    """Replace the whole settings object (validated; 422 lists what is wrong).

    New trust rules and opening hours apply to presses from now on; POST /metrics/rebuild
    applies them to a past period.
    """
    office_settings.save(writer.conn, body)
    return body
