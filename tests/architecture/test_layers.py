"""The layer rules of the house, checked over the source with ``ast``.

An arrow means "may import" (see ARCHITECTURE.md, "Layers and modules"):
a module may import modules of its own package, of a lower layer, and nothing else: no
upward import and no import across two packages of the same layer; nor, within a package,
an import that ``FORBIDDEN`` lists (the HTML pages and the JSON API never import each
other). Imports inside functions and under ``if TYPE_CHECKING:`` count like any other: they
are the same dependency, only hidden. The physics package may import only ``hyperloop.analysis``.
And no two modules import each other, directly or through others (an import cycle),
except a cycle listed in ``KNOWN_CYCLES`` (none left): a new cycle fails, and so does a
listed one that is gone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
SOURCE_ROOTS = (REPO / "src", REPO / "physics" / "src")

# Bottom to top. Each entry is a layer: the packages (or single modules) in it. A name is
# matched by its longest listed prefix, so ``hyperloop.docs.paths`` sits below web although
# the rest of ``hyperloop.docs`` is a top-level tool.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("hyperloop", "hyperloop.enums"),  # the floor: version, enumerations
    ("hyperloop.analysis",),  # the analysis runtime
    ("hyperloop.grid", "hyperloop.db"),  # jobs on the engine | tables
    ("hyperloop.core",),  # the domain rules
    ("hyperloop.settings",),  # configuration of a running server
    # daemon | read models of pages and API | demo | site dir
    ("hyperloop.scheduler", "hyperloop.readmodels", "hyperloop.demo", "hyperloop.docs.paths"),
    ("hyperloop.web",),  # JSON API and HTML pages
    ("hyperloop.cli", "hyperloop.docs", "hyperloop.__main__"),  # entry points and tools
)
# Imports forbidden inside a layer's package: (importer, imported), by prefix. The HTML
# pages and the JSON API do not import each other: a page and its JSON twin both call one
# data function of ``hyperloop.readmodels``.
FORBIDDEN: tuple[tuple[str, str], ...] = (
    ("hyperloop.web.pages", "hyperloop.web.api"),
    ("hyperloop.web.api", "hyperloop.web.pages"),
)
# The physics package is a user of the runtime, not a layer of the server.
PHYSICS = "hyperloop_physics"
PHYSICS_MAY_IMPORT = ("hyperloop.analysis",)
# Packages of the top layer are entry points: they may call each other (``hyperloop docs``
# builds the site, the docs reference documents the commands).
TOP_PEERS = True


# Import cycles not yet broken: none. Never add one; break it instead (a shared lower
# module, or the caller above both).
KNOWN_CYCLES: tuple[frozenset[str], ...] = ()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the imported module (or package)
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}: {self.module} imports {self.target}"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for root in SOURCE_ROOTS:
        for path in root.rglob("*.py"):
            if "migrations" in path.relative_to(root).parts:
                continue  # Alembic revisions are data, frozen with their day's imports
            modules[module_name(path, root)] = path
    return modules


def imports(modules: dict[str, Path]) -> Iterator[Import]:
    """Every ``import`` of a project module, at any depth of the syntax tree."""
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    package = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    package = node.module or ""
                # ``from hyperloop.core import wagons`` imports the module core.wagons
                targets = [
                    f"{package}.{alias.name}" if f"{package}.{alias.name}" in modules else package
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target.split(".")[0] in ("hyperloop", PHYSICS):
                    yield Import(module, target, path, node.lineno)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _owner(name: str) -> tuple[int, str] | None:
    """(layer index, the listed package) of a module name, by longest matching prefix."""
    best: tuple[int, str] | None = None
    for index, layer in enumerate(LAYERS):
        for package in layer:
            if (name == package or name.startswith(package + ".")) and (
                best is None or len(package) > len(best[1])
            ):
                best = (index, package)
    return best


def wrong_way(imp: Import) -> str | None:
    """Why this import breaks the rules, or None when it is allowed."""
    if imp.module.split(".")[0] == PHYSICS:
        if imp.target.split(".")[0] == PHYSICS or any(
            imp.target == p or imp.target.startswith(p + ".") for p in PHYSICS_MAY_IMPORT
        ):
            return None
        return "the physics package may import only hyperloop.analysis"
    for importer, imported in FORBIDDEN:
        if _within(imp.module, importer) and _within(imp.target, imported):
            return f"{importer} must not import {imported}"
    source, target = _owner(imp.module), _owner(imp.target)
    if source is None:
        return f"{imp.module} is in no layer: add its package to LAYERS"
    if target is None:
        return f"{imp.target} is in no layer"
    if source[1] == target[1] or target[0] < source[0]:
        return None
    if target[0] == source[0]:
        if TOP_PEERS and source[0] == len(LAYERS) - 1:
            return None
        return f"{source[1]} and {target[1]} are in the same layer and must not import each other"
    return f"upward: {source[1]} (layer {source[0]}) imports {target[1]} (layer {target[0]})"


def test_every_module_is_in_a_layer() -> None:
    modules = source_modules()
    assert "hyperloop.scheduler" in modules and "hyperloop.analysis.runner" in modules
    lost = [m for m in modules if m.split(".")[0] != PHYSICS and _owner(m) is None]
    assert not lost, "modules in no layer of LAYERS: " + ", ".join(sorted(lost))


def test_no_import_goes_the_wrong_way() -> None:
    broken = sorted(
        {f"{imp}  ({why})" for imp in imports(source_modules()) if (why := wrong_way(imp))}
    )
    assert not broken, "imports against the layer rules:\n" + "\n".join(broken)


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself: a hidden upward import in a function body is found and named."""
    package = tmp_path / "hyperloop" / "analysis"
    package.mkdir(parents=True)
    (package / "bad.py").write_text(
        "def f():\n    from hyperloop.web import app\n    return app\n", encoding="utf-8"
    )
    found = list(imports({"hyperloop.analysis.bad": package / "bad.py"}))
    assert [(i.target, i.line) for i in found] == [("hyperloop.web", 2)]
    why = wrong_way(Import("hyperloop.analysis.bad", "hyperloop.web.app", REPO, 2))
    assert why is not None and "upward" in why and "hyperloop.web" in why
    assert wrong_way(Import("hyperloop.web.app", "hyperloop.analysis.spec", REPO, 1)) is None
    assert "physics" in (wrong_way(Import(f"{PHYSICS}.x", "hyperloop.core.wagons", REPO, 1)) or "")
    assert "same layer" in (wrong_way(Import("hyperloop.grid.x", "hyperloop.db.y", REPO, 1)) or "")
    page_to_api = Import("hyperloop.web.pages.x", "hyperloop.web.api.y", REPO, 1)
    assert "must not import hyperloop.web.api" in (wrong_way(page_to_api) or "")
    api_to_page = Import("hyperloop.web.api.y", "hyperloop.web.pages.x", REPO, 1)
    assert "must not import hyperloop.web.pages" in (wrong_way(api_to_page) or "")
    assert wrong_way(Import("hyperloop.web.api.y", "hyperloop.readmodels.z", REPO, 1)) is None
    for below in ("hyperloop.core.x", "hyperloop.scheduler.shell"):
        why = wrong_way(Import(below, "hyperloop.readmodels.z", REPO, 1))
        assert why is not None and "hyperloop.readmodels" in why


def import_cycles(modules: dict[str, Path]) -> list[frozenset[str]]:
    """The groups of modules that import each other (strongly connected components of the
    module graph with more than one member), by Tarjan's algorithm."""
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports(modules):
        target = imp.target
        while target not in modules and "." in target:  # a name imported from a module
            target = target.rsplit(".", 1)[0]
        if target in modules and target != imp.module:
            graph[imp.module].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                found.append(frozenset(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycles_between_modules() -> None:
    cycles = set(import_cycles(source_modules()))
    new = [", ".join(sorted(c)) for c in cycles - set(KNOWN_CYCLES)]
    assert not new, "modules that import each other (an import cycle):\n" + "\n".join(new)
    gone = [", ".join(sorted(c)) for c in set(KNOWN_CYCLES) - cycles]
    assert not gone, "KNOWN_CYCLES lists a cycle that is gone or changed:\n" + "\n".join(gone)


def test_the_cycle_check_finds_a_cycle_through_a_function_body(tmp_path: Path) -> None:
    a, b, c = (tmp_path / f"{n}.py" for n in "abc")
    a.write_text("from hyperloop.x import b\n", encoding="utf-8")
    b.write_text("def f():\n    from hyperloop.x.a import thing\n", encoding="utf-8")
    c.write_text("import hyperloop.x.a\n", encoding="utf-8")
    modules = {"hyperloop.x.a": a, "hyperloop.x.b": b, "hyperloop.x.c": c}
    assert import_cycles(modules) == [frozenset({"hyperloop.x.a", "hyperloop.x.b"})]
