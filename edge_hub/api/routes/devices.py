"""GET /api/v1/devices: the device registry fed by status messages."""

from __future__ import annotations

from fastapi import APIRouter

from edge_hub.api.deps import StoreDep
from edge_hub.api.models import DeviceOut

router = APIRouter(tags=["devices"])


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(store: StoreDep) -> list[DeviceOut]:
    return [DeviceOut.from_row(row) for row in store.devices()]
