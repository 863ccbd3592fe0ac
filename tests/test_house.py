"""The layout's rules, read from the source: wings are folders, arrows point down, torch stays in train/.

Every import counts, the lazy ones inside functions too (they run sooner or later); only a module-level
import of torch decides which side of the torch wall a module is on.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "ganstudio"

# Floors, top to bottom: a module imports only from its own wing or from wings on a lower floor.
FLOORS = {
    "cli": 6, "__main__": 6,
    "studio": 5, "deploy": 5, "train": 5,
    "eval": 4, "web": 4,  # web: the page's model record and `export --web`, below the studio that serves it
    "explore": 3,
    "data": 2,
    "artifact": 1,
    "errors": 0, "shipped": 0, "": 0,  # ganstudio/__init__.py: the version
}


COMMAND_LINE = {"cli", "__main__", "usage"}  # the top-level modules of the `ganstudio` command


def modules() -> dict[str, Path]:
    found = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> tuple[set[str], list[str]]:
    """(ganstudio modules it imports anywhere, top-level modules it imports at module level)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    inside, at_top = set(), []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
        return [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for t in targets(node):
                if top:
                    at_top.append(t.split(".")[0])
                while t not in known and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in known and t not in (name, "ganstudio") and not name.startswith(t + "."):
                    inside.add(t)
        for child in ast.iter_child_nodes(node):
            visit(child, top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, True)
    return inside, at_top


def wing(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 2 and parts[1] in COMMAND_LINE:
        return "cli"
    return parts[1] if len(parts) > 1 else ""


GRAPH = {m: imports(m, p, modules()) for m, p in modules().items()}


def test_no_import_cycle():
    edges = {m: deps for m, (deps, _) in GRAPH.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(d):] + [m, d]))
            if d not in state:
                walk(d, path + [m])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            walk(m, [])


def test_every_arrow_points_down_a_floor_or_stays_in_its_wing():
    upward = []
    for m, (deps, _) in GRAPH.items():
        for d in deps:
            if wing(d) != wing(m) and FLOORS[wing(d)] >= FLOORS[wing(m)]:
                upward.append(f"{m} -> {d}")
    assert not upward, "imports that point up or sideways: " + ", ".join(sorted(upward))


def test_torch_is_imported_at_module_level_only_inside_train():
    outside = [m for m, (_, top) in GRAPH.items() if {"torch", "torchvision"} & set(top) and wing(m) != "train"]
    assert not outside, f"module-level torch outside ganstudio/train/: {outside}"


def test_every_module_lives_in_a_known_wing_and_stays_small():
    assert {wing(m) for m in GRAPH} <= set(FLOORS), "a wing with no floor: add it to FLOORS"
    assert len(list(PACKAGE.glob("*.py"))) <= 8, "modules pile up directly in ganstudio/: give them a wing"
    long = {m: n for m, p in modules().items() if (n := p.read_text().count("\n")) > 400}
    assert not long, f"modules over 400 lines: {long}"


def test_the_rules_catch_what_they_should(tmp_path):
    """The checker itself: a lazy import counts, a module-level one inside a function does not."""
    src = tmp_path / "ganstudio" / "explore" / "x.py"
    src.parent.mkdir(parents=True)
    src.write_text("import torch\n\ndef f():\n    from ganstudio.studio import app\n    import torchvision\n")
    known = {"ganstudio.explore.x": src, "ganstudio.studio.app": src}
    deps, top = imports("ganstudio.explore.x", src, known)
    assert deps == {"ganstudio.studio.app"} and top == ["torch"]
