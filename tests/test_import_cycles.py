"""No import cycles inside any swarmscope package (issue 19): module by module, imports inside
functions included (a lazy import is still a dependency) and `if TYPE_CHECKING:` imports too (a
type-only cycle is still two modules that cannot be understood apart). The boundaries between packages are import-linter's contracts (`make lint`)."""

from __future__ import annotations

import grimp
import pytest

PACKAGES = (
    "swarmscope_schema",
    "swarmscope_service",
    "swarmscope",
    "swarmscope_dev",
    "swarmscope_ingest",
    "swarmscope_store",
    "swarmscope_replay",
    "swarmscope_gateway",
)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (or a module importing itself),
    each sorted (Tarjan's algorithm, iterative so no recursion limit applies)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert sorted(cycles(edges)) == [["a", "b", "c"], ["e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles_inside_the_package(package: str) -> None:
    graph = grimp.build_graph(package, exclude_type_checking_imports=False)
    modules = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    edges = {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}
    found = cycles(edges)
    assert not found, f"import cycles in {package}: " + "; ".join(" <-> ".join(c) for c in found)
