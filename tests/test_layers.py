"""Import structure of the hub (issue 13): no import cycle between modules of ``edge_hub`` and
``hub_ui``, counting the lazy imports inside functions (they hide a cycle, they do not remove
it), except the ones listed in :data:`KNOWN_CYCLES`, the debt issue 13 pays off. The list may
only shrink: a cycle that is gone must be taken off it (the test says so), and a new one fails.

Read with :mod:`ast` from the source, so nothing is imported and every ``import`` counts,
also under ``if TYPE_CHECKING`` (a type-only import still ties the two modules' designs)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("edge_hub", "hub_ui")

#: the strongly connected groups of modules found when this test was written (2026-12-05)
KNOWN_CYCLES: set[frozenset[str]] = {
    frozenset({"edge_hub.metrics.aggregates", "edge_hub.office.scopes"}),  # re-credit
    frozenset({"edge_hub.alerts.engine", "edge_hub.db.store"}),  # the store migrates the alerts' tables
}
#: the hub's modules that import the office page (the page imports the hub, so the two packages
#: form a cycle); the target is one module joining them (edge_hub/app.py)
KNOWN_UI_IMPORTERS = {"edge_hub.api.main", "edge_hub.api.routes.metrics", "edge_hub.cli", "edge_hub.db.store"}


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


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert "edge_hub.alerts.engine" in graph["edge_hub.db.store"], "a lazy import is missed"


def test_no_new_import_cycle_and_none_left_on_the_list_that_is_gone():
    found = cycles(import_graph())
    new = found - KNOWN_CYCLES
    gone = KNOWN_CYCLES - found
    assert not new, "new import cycle(s): " + "; ".join(" <-> ".join(sorted(c)) for c in new)
    assert not gone, "no longer cycles, take them off KNOWN_CYCLES: " + "; ".join(
        " <-> ".join(sorted(c)) for c in gone
    )


def test_the_hub_imports_the_page_only_where_it_did():
    graph = import_graph()
    importers = {
        m
        for m, deps in graph.items()
        if m.startswith("edge_hub") and any(d.startswith("hub_ui") for d in deps)
    }
    assert importers <= KNOWN_UI_IMPORTERS, (
        f"new edge_hub -> hub_ui import(s) in {sorted(importers - KNOWN_UI_IMPORTERS)}"
    )
    assert importers == KNOWN_UI_IMPORTERS, (
        f"take {sorted(KNOWN_UI_IMPORTERS - importers)} off KNOWN_UI_IMPORTERS"
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
