"""The package's shape, checked: one Keep boundary, no import cycle, no wait loop in a backend.

- The import contract of pyproject.toml (``lint-imports``): only ``keep_adapter`` imports Keep.
- The import graph (grimp, import-linter's graph library) has no cycle: the types both the
  engine and the backends need live below both.
- Waiting has one home, ``waiting.py``: no backend sleeps or loops on a deadline itself.

The first two need import-linter (the ``lint`` extra); without it they are skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import keep_openaiassistant

PACKAGE = Path(keep_openaiassistant.__file__).resolve().parent
ROOT = PACKAGE.parent
NAME = "keep_openaiassistant"


def _import_linter() -> None:
    pytest.importorskip("importlinter", reason="import-linter is not installed (pip install -e '.[lint]')")


# -- the Keep boundary --------------------------------------------------------------------------


def test_only_keep_adapter_imports_keep() -> None:
    _import_linter()
    from importlinter.cli import lint_imports

    exit_code = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    assert exit_code == 0, "lint-imports: a contract of pyproject.toml is broken (its report is above)"


def test_the_contract_covers_every_module_and_excepts_only_the_adapters_doors() -> None:
    # Every module is a source (the root and its children, as packages), so a new module is
    # covered the day it is added; the only exceptions are the adapter's own imports of Keep and
    # imports *into* the adapter. An exception that lets another module import Keep fails here.
    import tomllib

    contract = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    assert contract["root_package"] == NAME and contract["include_external_packages"] is True
    (boundary,) = [c for c in contract["contracts"] if c["id"] == "keep-boundary"]
    assert boundary["type"] == "forbidden" and boundary.get("as_packages", True) is True
    assert set(boundary["source_modules"]) == {NAME, f"{NAME}.*"}
    assert set(boundary["forbidden_modules"]) == {"keep", f"{NAME}.keep_adapter"}
    adapter = f"{NAME}.keep_adapter"
    for rule in boundary["ignore_imports"]:
        importer, imported = (part.strip() for part in rule.split("->"))
        assert (importer.startswith(f"{adapter}.") and imported == "keep") or imported.startswith(f"{adapter}."), rule


# -- no import cycle ------------------------------------------------------------------------------


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a module importing itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(root: str) -> None:
        # Tarjan's algorithm without recursion: (node, iterator over its successors).
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = []

        def enter(node: str) -> None:
            nonlocal counter
            index[node] = low[node] = counter
            counter += 1
            stack.append(node)
            on_stack.add(node)
            work.append((node, iter(sorted(edges.get(node, ())))))

        enter(root)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    enter(succ)
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges.get(node, ()):
                        found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_cycles_and_only_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    assert _cycles(edges) == [["a", "b", "c"], ["e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_has_no_import_cycle() -> None:
    _import_linter()
    import grimp

    # Every import Python executes counts, lazy ones inside functions included (a cycle dodged
    # with a lazy import is still a cycle); ``if TYPE_CHECKING:`` imports, which it never runs,
    # do not. No .grimp_cache in the working directory.
    graph = grimp.build_graph(NAME, cache_dir=None, exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    cycles = _cycles(edges)

    def where(component: list[str]) -> str:
        members = set(component)
        lines = []
        for importer in component:
            for imported in sorted(edges[importer] & members):
                details = graph.get_import_details(importer=importer, imported=imported)
                at = ", ".join(f"l.{d['line_number']}" for d in details)
                lines.append(f"    {importer} -> {imported} ({at})")
        return "\n".join(lines)

    assert not cycles, "import cycles (strongly connected modules, with the imports that close them):\n" + "\n".join(
        f"  {' <-> '.join(c)}\n{where(c)}" for c in cycles
    )


# -- no wait loop outside waiting.py --------------------------------------------------------------


def _names(node: ast.AST) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr


def _wait_loops(source: str) -> list[str]:
    """``sleep`` calls, and ``while`` loops whose condition is about a deadline, in one module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name.lstrip("_").endswith("sleep"):
                found.append(f"l.{node.lineno}: calls {ast.unparse(func)}()")
        elif isinstance(node, ast.While):
            mentions = {n for n in _names(node.test) if "deadline" in n.lower() or n in ("remaining", "expired")}
            if mentions:
                found.append(f"l.{node.lineno}: while {ast.unparse(node.test)}")
    return sorted(found, key=lambda line: int(line[2 : line.index(":")]))


def test_the_wait_loop_finder_finds_sleeps_and_deadline_loops() -> None:
    source = (
        "import time\n"
        "def f(deadline, sleep):\n"
        "    while not deadline.expired():\n"
        "        time.sleep(0.1)\n"
        "    while True:\n"
        "        self._sleep(1)\n"
        "    while items:\n"
        "        items.pop()\n"
    )
    assert _wait_loops(source) == [
        "l.3: while not deadline.expired()",
        "l.4: calls time.sleep()",
        "l.6: calls self._sleep()",
    ]


def test_no_backend_waits_on_its_own() -> None:
    found = {
        str(path.relative_to(ROOT)): loops
        for path in sorted((PACKAGE / "backends").glob("*.py"))
        if (loops := _wait_loops(path.read_text(encoding="utf-8")))
    }
    assert not found, "wait loops outside waiting.py (use its poll/backoff/cancel helpers instead):\n" + "\n".join(
        f"  {path} {loop}" for path, loops in found.items() for loop in loops
    )
