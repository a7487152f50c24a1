"""Devices under /api/v1/devices: the registry fed by status messages, and commands to a device.

``POST /devices/{device}/identify?seconds=10`` publishes an ``identify`` command (the device
blinks so a person can find it) on ``otk/v1/{site}/{device}/cmd`` at QoS 1 through the hub's own
MQTT connection (:meth:`edge_hub.runtime.Runtime.command`). Refusals carry an "English /
Russian" ``detail``: 404 an unknown device, 422 a command the contract refuses, 503 the hub not
connected to the broker.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, Field

import mqtt_schemas
from edge_hub.api.deps import RuntimeDep, StoreDep
from edge_hub.api.models import API_REFUSALS, DeviceOut, refusals
from edge_hub.api.routes import Route
from edge_hub.office.scopes import ID_PATTERN
from edge_hub.runtime import CommandError, InvalidCommand, NotConnected, Runtime, UnknownDevice

router = APIRouter(tags=["devices"], route_class=Route, responses=API_REFUSALS)

IDENTIFY_DEFAULT_S = 10
IDENTIFY_MAX_S = 300  # cmd.schema.json: args.seconds 1..300


class CommandSent(BaseModel):
    id: str = Field(description="The command id; the device reports it as last_cmd in its next status")
    device: str
    cmd: str
    topic: str
    args: dict[str, Any]


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(store: StoreDep) -> list[DeviceOut]:
    return [DeviceOut.from_row(row) for row in store.devices()]


def send_command(runtime: Runtime, device: str, cmd: str, args: dict[str, Any]) -> str:
    """:meth:`Runtime.command` with its refusals as HTTP errors."""
    try:
        return runtime.command(device, cmd, args)
    except UnknownDevice as exc:
        raise HTTPException(404, detail=str(exc)) from None
    except NotConnected as exc:
        raise HTTPException(503, detail=str(exc)) from None
    except InvalidCommand as exc:
        raise HTTPException(422, detail=str(exc)) from None
    except CommandError as exc:  # pragma: no cover - every subclass is handled above
        raise HTTPException(500, detail=str(exc)) from None


@router.post(
    "/devices/{device}/identify", response_model=CommandSent, status_code=202, responses=refusals(404, 503)
)
def identify(
    runtime: RuntimeDep,
    device: Annotated[str, Path(pattern=ID_PATTERN)],
    seconds: Annotated[
        int, Query(ge=1, le=IDENTIFY_MAX_S, description="How long the device blinks")
    ] = IDENTIFY_DEFAULT_S,
) -> CommandSent:
    """Make the device blink for ``seconds`` so a person can find it (202: handed to the broker's
    queue; a sleeping device gets it when it wakes)."""
    args = {"seconds": seconds}
    command_id = send_command(runtime, device, "identify", args)
    topic = mqtt_schemas.topic(runtime.site, device, "cmd")
    return CommandSent(id=command_id, device=device, cmd="identify", topic=topic, args=args)
