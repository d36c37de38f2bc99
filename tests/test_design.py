"""The map matches the house: docs/design.md has a row for every room of hpcdl/, imports keep to its
*may import* column, and no imports run in a circle.

The imports are read from the source (every ``import`` statement, also inside functions), not by
importing: ``from .frame import Frame`` depends on the ``frame`` package's ``__init__``, ``from
.frame.csv import x`` on that module, ``from . import comm`` on the ``comm`` module.
"""

import ast
import os
import re

import pytest

import hpcdl

PACKAGE = os.path.dirname(os.path.abspath(hpcdl.__file__))
DESIGN = os.path.join(os.path.dirname(PACKAGE), "docs", "design.md")


def _modules() -> dict[str, str]:
    """Dotted module name -> file, for every .py file under hpcdl/ (packages by their name)."""
    out = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if not d.startswith(("_", "."))]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3].replace(os.sep, ".")
                out[dotted.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(module: str) -> set[str]:
    """The hpcdl modules ``module`` imports (a package for a name its __init__ defines)."""
    path = MODULES[module]
    is_package = path.endswith("__init__.py")
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                base = parts[: len(parts) - node.level + (1 if is_package else 0)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in MODULES else source)
    return {m for m in found if m in MODULES and m != module}


def _room(module: str) -> str:
    """A module's room as design.md names it: hpcdl/x.py, or hpcdl/pkg/ for a package's modules."""
    parts = module.split(".")
    if len(parts) == 1:
        return "hpcdl/__init__.py"
    if os.path.isdir(os.path.join(PACKAGE, parts[1])):
        return f"hpcdl/{parts[1]}/"
    return f"hpcdl/{parts[1]}.py"


def _design_rows() -> dict[str, tuple[str, set[str]]]:
    """Room -> (what it holds, the rooms it may import), from the table under '## Rooms'."""
    text = open(DESIGN, encoding="utf-8").read()
    section = text.split("\n## Rooms\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`hpcdl"):
            continue
        room = cells[0].strip("`")
        allowed = set()
        for name in re.findall(r"`([A-Za-z_]+/?)`", cells[2]):
            allowed.add(
                "hpcdl/__init__.py" if name == "hpcdl" else f"hpcdl/{name}" + ("" if name.endswith("/") else ".py")
            )
        assert room not in rows, f"design.md: two rows for {room}"
        rows[room] = (cells[1], allowed)
    return rows


ROWS = _design_rows()


def test_every_module_has_a_room_in_design_md():
    missing = []
    for module, path in sorted(MODULES.items()):
        room = _room(module)
        if room not in ROWS:
            missing.append(f"{module} ({room})")
        elif room.endswith("/") and not path.endswith("__init__.py"):
            holds = ROWS[room][0]
            if f"`{os.path.basename(path)}`" not in holds:
                missing.append(f"{module}: the row of {room} does not name `{os.path.basename(path)}`")
    assert not missing, "docs/design.md lacks: " + "; ".join(missing)


def test_every_room_in_design_md_exists():
    rooms = {_room(m) for m in MODULES}
    stale = sorted(set(ROWS) - rooms)
    assert not stale, f"docs/design.md has rows for rooms that do not exist: {stale}"
    named = {r for _, allowed in ROWS.values() for r in allowed}
    assert named <= rooms, f"may-import names unknown rooms: {sorted(named - rooms)}"


def test_imports_keep_to_the_may_import_column():
    wrong = []
    for module in sorted(MODULES):
        room = _room(module)
        allowed = ROWS.get(room, ("", set()))[1]
        for target in sorted(_imports(module)):
            other = _room(target)
            if other != room and other not in allowed:
                wrong.append(f"{module} imports {target} ({other} is not in the may-import of {room})")
    assert not wrong, "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_no_imports_in_a_circle():
    cycles = _cycles({m: _imports(m) for m in MODULES})
    assert not cycles, f"modules that import each other in a circle: {cycles}"
    cycles = _cycles({room: allowed - {room} for room, (_, allowed) in ROWS.items()})
    assert not cycles, f"design.md's may-import column runs in a circle: {cycles}"


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(edges, expected):
    assert sorted(_cycles(edges)) == expected


def test_the_import_reader_sees_package_and_function_level_imports():
    assert "hpcdl.frame" in _imports("hpcdl.train")  # from .frame import Frame: the package's __init__
    assert "hpcdl.comm" in _imports("hpcdl.train")  # from . import comm as comm_mod
    assert "hpcdl.frame.summary" in _imports("hpcdl.frame.h5frame")  # inside Frame.summary()
    assert "hpcdl.frame.h5frame" not in _imports("hpcdl.frame.summary")


# Functions longer than this are hard to read in one go (docs/design.md, "Functions").
MAX_FUNCTION_LINES = 80
# Functions still over the limit, each to be split by a later session (none left: issue 26).
LONG_FUNCTIONS_ALLOWED: set[str] = set()


def _long_functions(limit: int) -> dict[str, int]:
    """module.function (module.Class.method) -> lines, for every function longer than ``limit`` lines."""
    out = {}
    for module, path in MODULES.items():
        tree = ast.parse(open(path, encoding="utf-8").read(), path)
        stack = [(tree, module)]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    name = f"{prefix}.{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        lines = child.end_lineno - child.lineno + 1
                        if lines > limit:
                            out[name] = lines
                    stack.append((child, name))
    return out


def test_no_function_is_longer_than_the_limit():
    long = _long_functions(MAX_FUNCTION_LINES)
    over = {name: n for name, n in long.items() if name not in LONG_FUNCTIONS_ALLOWED}
    assert not over, f"functions over {MAX_FUNCTION_LINES} lines (split them): {over}"
    fixed = sorted(LONG_FUNCTIONS_ALLOWED - set(long))
    assert not fixed, f"no longer over the limit: remove them from LONG_FUNCTIONS_ALLOWED: {fixed}"


def test_the_length_reader_measures_functions():
    long = _long_functions(5)
    assert long["hpcdl.grid.Grid.save"] > 5  # a method, named with its class
    assert "hpcdl.grid.check_search_criteria" in long


def test_import_hpcdl_loads_no_heavy_library_and_the_api_still_resolves():
    """``import hpcdl`` (and the CLI module) stays light; the lazy names are the real objects."""
    import subprocess
    import sys

    code = (
        "import sys, hpcdl, hpcdl.cli\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'numba', 'h5py', 'pyarrow', 'mpi4py', 'pandas'})\n"
        "print(heavy)\n"
        "from hpcdl.api import deeplearning\n"
        "from hpcdl.grid import grid\n"
        "from hpcdl.frame import Frame\n"
        "from hpcdl.runner import run_job\n"  # imports the grid module again: hpcdl.grid stays the function
        "print(hpcdl.deeplearning is deeplearning, hpcdl.grid is grid, hpcdl.Frame is Frame,\n"
        "      hpcdl.estimators.H2ODeepLearningEstimator.__name__, 'load_model' in dir(hpcdl))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "True True True H2ODeepLearningEstimator True"]
