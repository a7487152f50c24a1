"""The UI's pages, one module per area, each with its own ``router`` (and nav entries).

``hub_ui.web`` includes the routers of :data:`MODULES` in order; a new page module goes here.
"""

from hub_ui.pages import (
    account,
    admin,
    alerts,
    dashboard,
    devices,
    emotions,
    exports,
    kiosk,
    league,
    settings,
    survey,
    survey_editor,
)  # fmt: skip

MODULES = (
    account,
    dashboard,
    admin,
    settings,
    exports,
    league,
    alerts,
    devices,
    emotions,
    survey,
    survey_editor,
    kiosk,
)
