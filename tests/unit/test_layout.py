"""The package's import graph has no cycles (module-level and TYPE_CHECKING imports; imports
inside functions excluded), so every part can be imported — and tested — on its own."""

from __future__ import annotations

import ast
from pathlib import Path

import streamline

ROOT = Path(streamline.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["streamline", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path, name: str, known: set[str]) -> set[str]:
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    nodes: list[ast.stmt] = []
    for node in ast.parse(path.read_text()).body:
        # TYPE_CHECKING imports count too: a cycle there is a cycle between the parts' types.
        nodes.extend(node.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test) else [node])
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m in known and m != name}


def test_no_import_cycles_in_the_package() -> None:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {name: _top_level_imports(path, name, set(files)) for name, path in files.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            # A package's own submodules importing it back is how packages work, not a cycle.
            if nxt.startswith(node + ".") or node.startswith(nxt + "."):
                continue
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_consumer_package_imports_aiokafka_in_its_adapter_only() -> None:
    for path in (ROOT / "_consume").glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {
            n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
        } | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        uses_aiokafka = any(m.split(".")[0] == "aiokafka" for m in modules)
        assert uses_aiokafka == (path.name == "kafka.py"), path.name
