"""The house rules that keep jinit's layout readable, checked on the source itself.

* **Private names stay home.** A module never imports another room's ``_name`` (by
  ``from m import _name`` or ``m._name``), except from the shared infrastructure rooms
  below, whose underscored helpers exist to be shared. A subpackage (``jinit.mup``,
  ``jinit.presets``, ``jinit.verify`` ...) is one room: its modules share its privates.
  From outside, a subpackage is its package-level names: its private modules
  (``jinit.verify._laws``) are not imported, not even for a public name (``jinit.laws``
  holds what ``verify`` and ``audit`` share). Command-line modules (``_cli``) are loaded by
  module path from the console and are exempt from this clause.
* **A room is a few hundred lines.** No module in ``jinit/`` exceeds ``MAX_LINES``.
* **No import circle.** The rooms' module-level imports (an import inside a function is
  deferred, and does not count) form no cycle: every room can be read after those it
  imports.

The source is parsed with :mod:`ast`; nothing is imported, so the test also guards modules
whose optional dependencies are missing.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "jinit"
MAX_LINES = 500

# Shared infrastructure: their helpers are the package's common ground.
SHARED = frozenset({"jinit._checks", "jinit._sampling", "jinit._typing", "jinit._base",
                    "jinit._fans", "jinit._quadrature", "jinit._rules"})

# Known offenders (importing module, imported module, private name); this list only shrinks.
ALLOWED_PRIVATE: frozenset[tuple[str, str, str]] = frozenset()
# Modules over MAX_LINES (jinit.theory: ten public functions, each with its formula and example).
ALLOWED_LONG = frozenset({"jinit/theory/__init__.py"})


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def room(module: str) -> str:
    """The family a module belongs to: its subpackage (``jinit.mup``), or itself."""
    parts = module.split(".")
    if len(parts) > 2 and (ROOT / parts[1]).is_dir():
        return ".".join(parts[:2])
    return module


def _resolve(module: str, path: pathlib.Path, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _inner_private(target: str) -> bool:
    """Whether ``target`` is a private module inside a subpackage (``jinit.verify._laws``)."""
    parts = target.split(".")
    return (len(parts) > 2 and target in MODULES and parts[-1].startswith("_")
            and not parts[-1].startswith("__") and parts[-1] != "_cli")


def private_imports(module: str, path: pathlib.Path) -> list[tuple[str, str, str, int]]:
    """``(module, imported module, private name, line)`` for every private-name import, and
    for every import of (or from) a private module inside another subpackage."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    aliases: dict[str, str] = {}  # local name -> jinit module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node.level, node.module)
            for alias in node.names:
                name, local = alias.name, alias.asname or alias.name
                if _inner_private(source):
                    found.append((module, source, name, node.lineno))
                elif f"{source}.{name}" in MODULES:  # a module, not a name
                    aliases[local] = f"{source}.{name}"
                    if _inner_private(f"{source}.{name}"):
                        found.append((module, source, name, node.lineno))
                elif name.startswith("_") and not name.startswith("__") and source.startswith("jinit"):
                    found.append((module, source, name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _inner_private(alias.name):
                    found.append((module, alias.name, alias.name.rpartition(".")[2], node.lineno))
                if alias.name in MODULES and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            found.append((module, aliases[node.value.id], node.attr, node.lineno))
    return [f for f in found if room(f[1]) != room(module) and f[1] not in SHARED]


def _all_private_imports():
    return [f for module, path in MODULES.items() for f in private_imports(module, path)]


def test_no_module_imports_another_familys_private_name():
    bad = [f for f in _all_private_imports() if f[:3] not in ALLOWED_PRIVATE]
    assert not bad, "private names imported across rooms (move the helper down into a shared " \
        "room, or make it that module's package-level name):\n" + "\n".join(
            f"  {m} line {line}: {src}.{name}" for m, src, name, line in bad)


def test_no_module_exceeds_the_line_limit():
    long = {str(p.relative_to(ROOT.parent)): len(p.read_text().splitlines())
            for p in MODULES.values()}
    bad = {p: n for p, n in long.items() if n > MAX_LINES and p not in ALLOWED_LONG}
    assert not bad, f"modules over {MAX_LINES} lines (split them by family): {bad}"


def test_allow_lists_hold_only_current_offenders():
    """An entry that no longer offends must leave the list, so the list only shrinks."""
    current = {f[:3] for f in _all_private_imports()}
    assert ALLOWED_PRIVATE <= current, sorted(ALLOWED_PRIVATE - current)
    long = {str(p.relative_to(ROOT.parent)) for p in MODULES.values()
            if len(p.read_text().splitlines()) > MAX_LINES}
    assert ALLOWED_LONG <= long, sorted(ALLOWED_LONG - long)


@pytest.mark.parametrize(("source", "expected"), [
    ("from ._orthogonal import _place\n", [("jinit._sampling_x", "jinit._orthogonal", "_place")]),
    ("from . import _orthogonal\nx = _orthogonal._on_one_device\n",
     [("jinit._sampling_x", "jinit._orthogonal", "_on_one_device")]),
    ("from ._checks import _is_int\nfrom . import _checks\ny = _checks._show\n", []),
    ("from ._orthogonal import orthogonal\n", []),
    ("from .mup._build import _blocks\n", [("jinit._sampling_x", "jinit.mup._build", "_blocks")]),
    ("from jinit.verify._moments import Task\n",
     [("jinit._sampling_x", "jinit.verify._moments", "Task")]),
    ("from jinit.verify import _moments\n", [("jinit._sampling_x", "jinit.verify", "_moments")]),
    ("from jinit.laws import Check, lookup\n", []),
])
def test_the_parser_catches_a_planted_private_import(tmp_path, source, expected):
    """Negative control: a module written to break the rule is reported, in both spellings."""
    path = tmp_path / "_sampling_x.py"
    path.write_text(source)
    assert [f[:3] for f in private_imports("jinit._sampling_x", path)] == expected


def module_imports(module: str, path: pathlib.Path) -> set[str]:
    """The jinit modules ``module`` imports when it is imported (its top level, and under a
    top-level ``if``/``try``); imports inside functions are deferred and left out."""
    top = []
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        top.extend(ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node])
    out = set()
    for node in top:
        if isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node.level, node.module)
            out |= {f"{source}.{a.name}" if f"{source}.{a.name}" in MODULES else source
                    for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {t for t in out if t in MODULES and t != module}


def room_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of rooms (``[a, b, ..., a]``) in ``edges``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def _room_edges(modules: dict[str, pathlib.Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for module, path in modules.items():
        for target in module_imports(module, path):
            # the top package imports every room to re-export it; rooms import its leaves
            if room(target) not in (room(module), "jinit"):
                edges.setdefault(room(module), set()).add(room(target))
    return edges


def test_no_import_circle_between_rooms():
    assert room_cycle(_room_edges(MODULES)) is None, room_cycle(_room_edges(MODULES))
    assert "jinit.structure" in _room_edges(MODULES)["jinit.tree"]  # the graph is read


def test_the_cycle_finder_finds_a_planted_circle():
    """Negative control: a room that imports one that imports it back is found."""
    edges = {**_room_edges(MODULES)}
    edges["jinit.structure"] = {*edges.get("jinit.structure", ()), "jinit.tree"}
    cycle = room_cycle(edges)
    assert cycle is not None and cycle[0] == cycle[-1] and {"jinit.structure", "jinit.tree"} <= set(cycle)
