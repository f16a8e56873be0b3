"""The house's structure, pinned: packages import only their own floor and the floors
below (settings and runtime -> ingest -> ml -> quality and alerts -> reports -> serving
-> dashboard -> orchestration), no module imports itself back through others, and only
the settings layer (and the orchestration on top, which passes values down) reads the settings file
or the environment."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# floors from the ground up; packages on one floor may not import each other
FLOORS: list[set[str]] = [
    {"warehouse"},
    {"ingest"},
    {"sample_exports", "models_ml"},
    {"data_quality", "alerts"},
    {"reports"},
    {"serving"},
    {"dashboard"},
    {"orchestration"},
]
FLOOR = {pkg: i for i, floor in enumerate(FLOORS) for pkg in floor}


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in FLOOR:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = _modules()


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Project modules imported anywhere in the file (lazy imports in functions too)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module
                base = module.split(".")[: -node.level or None]
                if path.name == "__init__.py":
                    base = module.split(".")[: len(module.split(".")) - node.level + 1]
                stem = ".".join([*base, node.module] if node.module else base)
            else:
                stem = node.module or ""
            # `from pkg import module` imports the module; `from pkg import name`, pkg
            subs = [f"{stem}.{a.name}" for a in node.names]
            names = [n for n in subs if n in MODULES]
            if len(names) < len(subs):
                names.append(stem)
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((name, node.lineno))
    return found


GRAPH = {m: _imports(p, m) for m, p in MODULES.items()}


def test_no_import_runs_down_to_up_or_sideways():
    offences = []
    for module, imports in GRAPH.items():
        pkg = module.split(".")[0]
        for target, line in imports:
            other = target.split(".")[0]
            if other != pkg and FLOOR[other] >= FLOOR[pkg]:
                offences.append(f"{MODULES[module].relative_to(REPO)}:{line} imports {target} "
                                f"({other} is not below {pkg})")
    assert not offences, "\n".join(offences)


def test_no_import_cycle_between_modules():
    """Tarjan's strongly connected components of the module graph: all of size one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    edges = defaultdict(set, {m: {t for t, _ in imps} for m, imps in GRAPH.items()})

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
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
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert not cycles, cycles


def _reads(path: Path) -> list[str]:
    """Reads of the environment and of the settings outside the settings layer."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and (
                isinstance(node.value, ast.Name) and node.value.id == "os"):
            found.append(f"{path.relative_to(REPO)}:{node.lineno} os.{node.attr}")
        if isinstance(node, ast.Name) and node.id in ("load_settings", "read_paths", "env_path"):
            found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.id}")
    return found


def test_below_the_orchestration_nothing_reads_the_settings_or_the_environment():
    """Settings are read once on top and passed down as typed sections."""
    offences = []
    for module, path in MODULES.items():
        pkg = module.split(".")[0]
        if pkg == "orchestration" or module in ("warehouse.settings", "warehouse.failpoints"):
            continue
        offences += _reads(path)
    assert not offences, "\n".join(offences)


def test_every_package_is_on_a_floor():
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages <= set(FLOOR), packages - set(FLOOR)
