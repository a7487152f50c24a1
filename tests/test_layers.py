"""Import structure of the hub (issue 13): layers that import one way, no import cycle, the office
page joined to the hub in one place, and no module too long without a reason.

Read with :mod:`ast` from the source, so nothing is imported and every ``import`` counts, the
lazy ones inside functions (they hide a cycle, they do not remove it) and the ones under ``if
TYPE_CHECKING`` (a type-only import still ties the two modules' designs) included.

The layers, lowest first (:data:`LAYERS`; a module takes the rank of its longest listed prefix).
A module may import its own rank or lower, never higher:

0. ``edge_hub`` itself, ``errors``, ``config``: names and settings every layer uses
1. ``transport`` (paho, the broker), ``db`` (schema, connections, transactions), the pure metric
   ``formulas``
2. ``office``: settings, scopes, shifts, served clients
3. ``metrics``: aggregates (a press credited to its window and operator, so above the office),
   summary, export
4. ``ingest`` (the ingestor owns the ingest transaction and calls the aggregates itself) and
   ``office.recredit`` (an office change that credits stored presses again: above both)
5. ``alerts``, ``sync``
6. ``runtime``, ``api`` (routes, access, accounts and sessions)
7. ``hub_ui``, the office page, on top of the API's sessions
8. ``app`` (joins the runtime, the API and the page), ``cli``, ``tools``

The issue's sketch put ``ingest`` under ``db``; here the database layer is the bottom (every
table in ``db/schema.py``, connections and readers in ``db/store.py``) and the ingestor sits on
the metrics it updates in the same transaction. See edge_hub/README.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge_hub", "hub_ui")

LAYERS = {
    "edge_hub": 0, "edge_hub.errors": 0, "edge_hub.config": 0,
    "edge_hub.transport": 1, "edge_hub.db": 1, "edge_hub.metrics": 1, "edge_hub.metrics.formulas": 1,
    "edge_hub.office": 2,
    "edge_hub.metrics.aggregates": 3, "edge_hub.metrics.summary": 3, "edge_hub.metrics.export": 3,
    "edge_hub.metrics.labels": 3, "edge_hub.metrics.survey_report": 3,
    "edge_hub.ingest": 4, "edge_hub.office.recredit": 4,
    "edge_hub.alerts": 5, "edge_hub.sync": 5,
    "edge_hub.runtime": 6, "edge_hub.api": 6,
    "hub_ui": 7,
    "edge_hub.app": 8, "edge_hub.cli": 8, "edge_hub.tools": 8,
}  # fmt: skip
#: the only module of the hub that imports the office page
UI_JOINER = "edge_hub.app"
#: a module longer than this says at its top why (a line of its docstring starting "Long:")
MAX_LINES = 400
SIZE_CHECKED = ("edge_hub", "hub_ui", "emotion_model")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of our packages it imports (``from a import b`` names ``a.b`` when
    ``a.b`` is a module, else ``a``)."""
    files = {_module(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [
                    f"{module}.{a.name}" if f"{module}.{a.name}" in files else module for a in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in files:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    deps.add(target)  # (a package's __init__ imported by its own modules is no cycle)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def layer(module: str) -> int:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        rank = LAYERS.get(".".join(parts[:i]))
        if rank is not None:
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert "edge_hub.sync.pull" in graph["edge_hub.cli"], "a lazy import (in a cli command) is missed"


def test_no_import_cycle():
    found = cycles(import_graph())
    assert not found, "import cycle(s): " + "; ".join(" <-> ".join(sorted(c)) for c in found)


def test_imports_point_down_the_layers():
    graph = import_graph()
    upward = [
        f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
        for m, deps in sorted(graph.items())
        for d in sorted(deps)
        if layer(d) > layer(m)
    ]
    assert not upward, "imports up the layers (tests/test_layers.py lists them):\n" + "\n".join(upward)


def test_the_layer_check_can_fail():
    assert layer("edge_hub.metrics.aggregates") > layer("edge_hub.office.scopes")
    assert layer("edge_hub.office.recredit") > layer("edge_hub.metrics.aggregates")
    assert layer("edge_hub.db.store") < layer("edge_hub.ingest.ingestor") < layer("hub_ui.core")
    planted = {"edge_hub.db.store": {"edge_hub.metrics.aggregates"}}
    assert [d for m, deps in planted.items() for d in deps if layer(d) > layer(m)]


def test_only_the_app_joins_the_office_page():
    graph = import_graph()
    importers = {
        m for m, deps in graph.items()
        if m.startswith("edge_hub") and any(d.startswith("hub_ui") for d in deps)
    }  # fmt: skip
    assert importers == {UI_JOINER}, f"edge_hub modules importing hub_ui: {sorted(importers)}"


def test_long_modules_say_why():
    unexplained = []
    for package in SIZE_CHECKED:
        for path in sorted((ROOT / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            lines = text.count("\n")
            doc = ast.get_docstring(ast.parse(text)) or ""
            if lines > MAX_LINES and not any(line.startswith("Long:") for line in doc.splitlines()):
                unexplained.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not unexplained, (
        f"modules over {MAX_LINES} lines without a 'Long:' line in their docstring saying why: "
        + ", ".join(unexplained)
    )


def test_one_device_id_rule_everywhere():
    """The device-id rule lives in the contract's common schema; the hub's pattern
    (edge_hub.config, used by the scopes and the API) and the contract's fast check agree with it."""
    import json
    import re

    from edge_hub.config import ID_PATTERN
    from edge_hub.ingest import contract
    from edge_hub.office import scopes

    common = json.loads((ROOT / "mqtt_schemas/schemas/common.schema.json").read_text(encoding="utf-8"))
    assert ID_PATTERN in json.dumps(common).replace("\\\\", "\\"), "the schema's id pattern changed"
    assert scopes.ID_PATTERN is ID_PATTERN
    samples = [
        "btn-01",
        "a",
        "0",
        "a" * 32,
        "a" * 33,
        "",
        "-a",
        "_a",
        "A",
        "btn 1",
        "btn/1",
        "ä",
        "a_-",
        "x-",
    ]
    for text in samples:
        assert contract._valid_id(text) == bool(re.match(ID_PATTERN, text)), text
