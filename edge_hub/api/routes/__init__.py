"""The API's routers. Each uses :class:`Route`, so that a method a path does not have is a 405 whose
``Allow`` names every method of that path, as the OpenAPI document lists them (Starlette names
only those of the one route it tried)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette.routing import compile_path, get_route_path
from starlette.types import Receive, Scope, Send

_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


class Route(APIRoute):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            allowed = _allowed(scope.get("app"), get_route_path(scope)) or set(self.methods)
            raise HTTPException(
                405,
                detail="method not allowed / метод не поддерживается",
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        await super().handle(scope, receive, send)


def _allowed(app: Any, path: str) -> set[str]:
    """The methods the OpenAPI document gives the path (an integer path parameter matches digits)."""
    if app is None or not hasattr(app, "openapi"):
        return set()
    table = getattr(app.state, "allow_table", None)
    if table is None:
        table = []
        for template, operations in app.openapi().get("paths", {}).items():
            ints = {
                p["name"]
                for op in operations.values()
                if isinstance(op, dict)
                for p in op.get("parameters", [])
                if p.get("in") == "path" and p.get("schema", {}).get("type") == "integer"
            }
            route_path = re.sub(
                r"{(\w+)}", lambda m, ints=ints: f"{{{m[1]}:int}}" if m[1] in ints else m[0], template
            )
            methods = {method.upper() for method in operations if method in _METHODS}
            table.append((compile_path(route_path)[0], methods))
        app.state.allow_table = table
    return set().union(*(methods for regex, methods in table if regex.match(path)))
