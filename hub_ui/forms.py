"""HTML forms generated from pydantic models: one field per model field, read back, errors shown.

Knows nothing of any page: a page names the models, the form-field prefix (``trust`` gives the
inputs ``trust.burst_max``, …), where the labels are in the catalogue and which catalogue keys
word a validation error. The templates render the field dicts :func:`fields` returns
(``_settings_office.html``: a checkbox for a bool, a number input with its limits otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from hub_ui import i18n

#: a field's Python type -> its kind in the form (anything else: text)
KINDS: dict[Any, str] = {bool: "bool", int: "int", float: "float"}


def sub_models(model: type[BaseModel]) -> tuple[tuple[str, type[BaseModel]], ...]:
    """The fields of ``model`` that are models themselves, in order: (field name, its model)."""
    return tuple(
        (name, info.annotation)
        for name, info in model.model_fields.items()
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)
    )


def limits(metadata: list[Any]) -> dict[str, Any]:
    """A field's bounds from its ``Field(ge=, gt=, le=, lt=)``: min, gt, max, lt."""
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, Ge):
            found["min"] = item.ge
        elif isinstance(item, Gt):
            found["gt"] = item.gt
        elif isinstance(item, Le):
            found["max"] = item.le
        elif isinstance(item, Lt):
            found["lt"] = item.lt
    return found


def fields(
    model: type[BaseModel], values: Mapping[str, Any], *, prefix: str, labels: str
) -> list[dict[str, Any]]:
    """One form field per field of a pydantic model: its input name ``<prefix>.<field>``, kind,
    bounds, default, current value (from ``values``, else the default) and label key
    ``<labels>.<prefix>.<field>``."""
    out = []
    for name, info in model.model_fields.items():
        kind = KINDS.get(info.annotation, "text")
        bounds = limits(info.metadata)
        if "gt" in bounds and kind == "float":
            bounds.setdefault("min", bounds["gt"])
        out.append(
            {
                "name": f"{prefix}.{name}", "kind": kind, "value": values.get(name, info.default),
                "default": info.default, "label": f"{labels}.{prefix}.{name}",
                "min": bounds.get("min"), "max": bounds.get("max"),
            }
        )  # fmt: skip
    return out


def read(model: type[BaseModel], form: Mapping[str, Any], *, prefix: str) -> dict[str, Any]:
    """The submitted values of a model's fields (as :func:`fields` named them), for the model to
    validate: a bool is whether its checkbox was sent; a number is its text, trimmed, with a
    decimal comma taken as a point."""
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}"
        if info.annotation is bool:
            data[name] = key in form
        else:
            value = form.get(key, "")
            data[name] = (value if isinstance(value, str) else "").strip().replace(",", ".")
    return data


def error_text(error: ErrorDetails, t: Callable[..., str], lang: str, *, keys: str) -> str:
    """A pydantic error as a message of the UI's language: ``<keys>.ge`` (gt, le, lt) with the
    bound, ``<keys>.int`` or ``<keys>.number`` for a wrong type; pydantic's English text when none fits."""
    ctx = error.get("ctx") or {}
    for bound in ("ge", "gt", "le", "lt"):
        if bound in ctx:
            limit = float(ctx[bound])
            digits = 0 if limit.is_integer() else 2
            return t(f"{keys}.{bound}", limit=i18n.number(limit, lang, digits))
    if error["type"].startswith("int_"):
        return t(f"{keys}.int")
    if error["type"].startswith("float_"):
        return t(f"{keys}.number")
    return str(error.get("msg", ""))


def flat(data: Mapping[str, Any], *, whole: tuple[str, ...] = (), prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``a.b`` keys, leaves only; the keys in ``whole`` stay one value."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key not in whole:
            out |= flat(value, whole=whole, prefix=f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def changes(before: Mapping[str, Any], after: Mapping[str, Any], *, whole: tuple[str, ...] = ()) -> list[str]:
    """``key: old → new`` for each leaf of ``after`` that differs from ``before`` (for the audit log)."""
    old, new = flat(before, whole=whole), flat(after, whole=whole)
    return [f"{k}: {old.get(k)} → {v}" for k, v in new.items() if old.get(k) != v]
