"""The project's modules import each other without circles (design rule of docs/architecture.md).

Every import counts, at module level or inside a function (an import inside a function still
makes the two modules depend on each other); imports under ``if TYPE_CHECKING:`` do not, since
they never run. The graph is read from the source with ``ast``: nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hub_publish", "model_cards")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _is_type_checking(node):
            for child in node.orelse:  # the else branch runs
                visit(child)
            return
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import sub` depends on pkg.sub when sub is a module, else on pkg itself.
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
        else:
            targets = []
        for target in targets:
            while target and target not in modules:  # `import a.b.c` -> the deepest known module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    modules = set(paths)
    graph = {name: _imports(path, name, modules) for name, path in paths.items()}
    # A package's __init__ is imported with each of its modules: `a.b` importing `a` is no circle
    # back into `a`'s other modules unless `a/__init__.py` imports them eagerly; hub_publish's
    # __init__ resolves its names lazily (__getattr__), so its edges are not followed.
    for name in graph:
        graph[name] = {dep for dep in graph[name] if not name.startswith(dep + ".")}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return components


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], f"import circles among the project's modules: {cycles}"


def test_cycle_finder_sees_a_cycle() -> None:
    # Positive control: the finder reports a circle hidden behind a function-level import.
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# The layers of docs/architecture.md, lowest first. A module may import modules of its own layer or
# of a lower one, never of a higher one. Every module must be placed: a new module fails
# `test_every_module_has_a_layer` until it is added here. A name ending in ".*" places a package and
# every module under it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("ground", (
        "hub_publish", "hub_publish.constants", "hub_publish.errors", "hub_publish.text",
        "hub_publish.hub_lists", "hub_publish._versions", "hub_publish.verify_cache",
        "hub_publish.remote_file",  # one throw-away-cache read of a Hub file, below the cards
    )),
    ("format", ("hub_publish.format",)),
    # The embedded Hub server: only the ground and the format below it (and itself).
    ("server", ("hub_publish.server", "hub_publish.server.*")),
    ("backends", ("hub_publish.backends",)),
    ("cards", ("model_cards", "model_cards.*")),
    ("hub transport", ("hub_publish.hub",)),
    ("saving / loading", ("hub_publish.packaging", "hub_publish.loading")),
    ("pushing", ("hub_publish.pushing",)),
    ("facade", ("hub_publish.base", "hub_publish.models", "hub_publish.models.*")),
    ("recipes", (
        "hub_publish.training", "hub_publish.user_data", "hub_publish.data", "hub_publish.finetune",
        "hub_publish.surgery", "hub_publish.inspection", "hub_publish.quickstart",
    )),
    # server/__main__.py is `python -m hub_publish.server`: a call of `hub-publish serve`, so it
    # belongs with the command line, not with the server it starts.
    ("cli", ("hub_publish.cli", "hub_publish.__main__", "hub_publish.server.__main__")),
]


def layer_of(module: str) -> int | None:
    """Index of ``module``'s layer in `LAYERS` (the most specific entry wins), or None."""
    best: tuple[int, int] | None = None  # (specificity, layer)
    for index, (_, names) in enumerate(LAYERS):
        for entry in names:
            if entry == module:
                return index
            if entry.endswith(".*") and module.startswith(entry[:-1]):
                if best is None or len(entry) > best[0]:
                    best = (len(entry), index)
    return best[1] if best else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every ``a -> b`` where ``b`` sits in a higher layer than ``a``."""
    found = []
    for module, deps in sorted(graph.items()):
        mine = layer_of(module)
        for dep in sorted(deps):
            theirs = layer_of(dep)
            if mine is not None and theirs is not None and theirs > mine:
                found.append(f"{module} ({LAYERS[mine][0]}) imports {dep} ({LAYERS[theirs][0]})")
    return found


def test_every_module_has_a_layer() -> None:
    missing = sorted(name for name in import_graph() if layer_of(name) is None)
    assert missing == [], f"modules not placed in tests/test_layering.py LAYERS (add them to their layer): {missing}"


def test_no_module_imports_a_higher_layer() -> None:
    violations = upward_imports(import_graph())
    assert violations == [], "imports against the layer order of docs/architecture.md:\n" + "\n".join(violations)


def test_the_server_uses_only_the_ground_and_the_format() -> None:
    allowed = {"ground", "format", "server"}
    graph = import_graph()
    bad = [
        f"{module} imports {dep}"
        for module, deps in sorted(graph.items()) if LAYERS[layer_of(module) or 0][0] == "server"
        for dep in sorted(deps) if LAYERS[layer_of(dep) or 0][0] not in allowed
    ]
    assert bad == [], bad


def test_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    # Positive control: a function-level import of the pusher by the transport is reported, an
    # import under TYPE_CHECKING is not, and an unplaced module is found.
    import textwrap

    source = textwrap.dedent('''
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from hub_publish.loading import from_pretrained
        def push():
            from hub_publish.pushing import push_to_hub
    ''')
    probe = tmp_path / "hub.py"
    probe.write_text(source, encoding="utf-8")
    deps = _imports(probe, "hub_publish.hub", {"hub_publish.hub", "hub_publish.pushing", "hub_publish.loading"})
    assert deps == {"hub_publish.pushing"}
    assert upward_imports({"hub_publish.hub": deps}) == [
        "hub_publish.hub (hub transport) imports hub_publish.pushing (pushing)"
    ]
    assert upward_imports({"hub_publish.pushing": {"hub_publish.hub"}}) == []
    assert layer_of("hub_publish.server.routes.new_route") == layer_of("hub_publish.server")
    assert layer_of("hub_publish.brand_new_module") is None
