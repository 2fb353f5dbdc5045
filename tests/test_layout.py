"""The package layout: dependencies run one way, imports sit at module top, the facade lists the API.

The data flow is spec -> theory | mc -> validation -> report -> perf | sweep -> cli,
with plumbing (``_core``, ``config``, ``_signals``, ``progress``, ``_version``)
below everything. A module may import from its own package (no cycles) or
from a lower layer; never from a higher layer or from a sibling of its layer
(theory and mc know nothing of each other). The facade ``mcbench/__init__.py``
sits on top and nothing inside the package imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mcbench

PACKAGE = Path(mcbench.__file__).parent

#: Layer of each top-level part of the package (lower numbers are imported by higher ones).
LAYERS = {
    "mcbench.config": 0, "mcbench._version": 0,
    "mcbench._core": 1, "mcbench._signals": 1, "mcbench.progress": 1,
    "mcbench.spec": 2,
    "mcbench.theory": 3, "mcbench.mc": 3,
    "mcbench.env": 4,
    "mcbench.validation": 5,
    "mcbench.report": 6, "mcbench._io": 6,
    "mcbench.perf": 7, "mcbench.sweeps": 7,
    "mcbench.cli": 8, "mcbench.__main__": 9,
    "mcbench": 10,  # the facade
}
#: Optional extras, imported where they are used, with a message naming the pip install.
OPTIONAL = ("matplotlib", "torch", "dask", "distributed", "pyarrow")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def part_of(module: str) -> str:
    """The layer key a module belongs to: its top-level part of the package."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imports_of(module: str, source: str, is_package: bool):
    """(imported module, line, at module top?) for every import of an mcbench module in ``source``."""
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - (node.level - 1)]
                prefix = ".".join(anchor + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            # "from mcbench import report" imports the module mcbench.report
            names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in ALL_MODULES else prefix for a in node.names]
        else:
            continue
        for name in names:
            yield name, node.lineno, id(node) in top


ALL_MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def violations(sources: dict[str, str]) -> list[str]:
    """Every upward or sideways import, every import inside a function, and every cycle, in ``sources``."""
    problems, graph = [], {}
    for module, source in sources.items():
        is_package = module == "mcbench" or (PACKAGE.parent / (module.replace(".", "/") + "/__init__.py")).exists()
        graph[module] = set()
        for name, line, at_top in imports_of(module, source, is_package):
            root = name.split(".")[0]
            if not at_top and root in OPTIONAL:
                continue
            if not at_top:
                problems.append(f"{module}:{line}: import of {name} inside a function (imports sit at module top)")
            if root != "mcbench":
                continue
            target = max((m for m in ALL_MODULES if name == m or name.startswith(m + ".")), key=len, default=name)
            graph[module].add(target)
            src, dst = part_of(module), part_of(target)
            if src == dst:
                continue
            if LAYERS[dst] >= LAYERS[src]:
                problems.append(f"{module}:{line}: imports {target} (layer {LAYERS[dst]}) from layer {LAYERS[src]}")
    # cycles within the package (between layers they are already upward imports)
    state = {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                problems.append("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt in graph and nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return problems


def package_sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_module_has_a_layer():
    assert {part_of(m) for m in ALL_MODULES} <= set(LAYERS)


def test_dependencies_run_one_way():
    assert violations(package_sources()) == []


@pytest.mark.parametrize("module, injected", [
    ("mcbench.theory.relu", "from mcbench.report import write_report\n"),  # upward
    ("mcbench.mc.relu", "from mcbench.theory import relu_moments\n"),  # sideways: theory | mc
    ("mcbench._core.rng", "import mcbench.spec\n"),  # plumbing knows nothing above it
    ("mcbench.validation.stats", "def f():\n    import numpy\n"),  # not at module top
    ("mcbench.spec.network", "from mcbench import sample_mvn\n"),  # the facade
])
def test_an_injected_bad_import_is_caught(module, injected):
    sources = package_sources()
    assert violations(sources) == []
    sources[module] += "\n" + injected
    assert violations(sources) != []


def test_an_injected_cycle_is_caught():
    sources = package_sources()
    sources["mcbench.validation.stats"] += "\nfrom mcbench.validation import runner\n"
    assert any(p.startswith("import cycle") for p in violations(sources))


def test_the_facade_lists_what_it_exports():
    for name in mcbench.__all__:
        assert hasattr(mcbench, name), name
        assert not name.startswith("_") or name == "__version__"
