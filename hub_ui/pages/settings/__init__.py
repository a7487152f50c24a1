"""The office's settings (/settings, admin and manager): three tabs, one module each.

- ``/settings`` — departments, windows, operators, and which window each device is on
  (:mod:`.structure`);
- ``/settings/shifts`` — shifts (list, add, delete, CSV upload) and served clients per day
  (:mod:`.shifts`);
- ``/settings/office`` — :class:`edge_hub.office.settings.OfficeSettings` (time zone, opening hours,
  min_n, the trust rules and alert thresholds; the form is generated from the pydantic models'
  fields by :mod:`hub_ui.forms`), and "recompute the last N days" (admin only) (:mod:`.office`).

Every change calls the same :mod:`edge_hub.office` function as the JSON API (``scopes``,
``shifts``, ``served``, ``settings``; the re-crediting ones in ``recredit``: ``*_and_rebuild``,
``import_shifts_file``), is recorded in the audit log, and answers with a redirect back to its
section (Post/Redirect/Get); a refusal renders the tab again with the bilingual message in the
section that was submitted.
The frame the tabs share (nav entry, role guards, ``?done=`` notices) is :mod:`.tabs`; their
messages are in :mod:`hub_ui.i18n` (``settings.*``).
"""

from __future__ import annotations

from fastapi import APIRouter

from hub_ui.pages.settings import office, shifts, structure, tabs

SETTINGS = tabs.SETTINGS

#: the tabs' routes, in order; the generic /settings/{section}/{key}/delete last, since it would
#: shadow every other /settings/<section>/<id>/delete
router = APIRouter(
    routes=[
        *structure.router.routes,
        *shifts.router.routes,
        *office.router.routes,
        *structure.delete_router.routes,
    ]
)
