"""Which user-namespace names a cell read and which it (re)defined.

Two sources, combined: the cell's syntax (names loaded before the cell binds them, names bound
at module level, objects mutated through ``x[...] =`` / ``x.attr =``) and a before/after
snapshot of the namespace by object identity (which also catches ``exec``, ``%run`` and
``globals()[...]``). Only names that hold a value in the namespace count; IPython's own
names (``In``, ``Out``, ``_i3``, …) never do.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

_IPYTHON_NAMES = re.compile(
    r"^(_{1,3}|_i{1,3}|_i\d+|_\d+|_oh|_dh|_ih|_exit_code|In|Out|get_ipython|exit|quit)$"
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)

Snapshot = dict[str, int]  # name → id() of its value


def snapshot(namespace: Mapping[str, object], hidden: Iterable[str] = ()) -> Snapshot:
    """The user's names and the identity of what each holds."""
    skip = set(hidden)
    return {
        name: id(value)
        for name, value in list(namespace.items())
        if name not in skip and not name.startswith("__") and not _IPYTHON_NAMES.match(name)
    }


@dataclass
class CellNames:
    read: list[str] = field(default_factory=list)
    defined: list[str] = field(default_factory=list)


def cell_names(code: str, before: Snapshot, after: Snapshot) -> CellNames:
    """Names the cell read (that existed before it) and names it defined, changed or deleted."""
    loads, binds = names_in(code)
    changed = {n for n, ident in after.items() if before.get(n) != ident}
    deleted = set(before) - set(after)
    defined = (binds & (set(after) | deleted)) | changed | deleted
    return CellNames(read=sorted(loads & set(before)), defined=sorted(defined))


def names_in(code: str) -> tuple[set[str], set[str]]:
    """(names read before the cell binds them, names the cell binds or mutates at top level).

    ``code`` is Python after IPython's transformations (magics are calls by then). Code that
    does not parse yields nothing; the namespace snapshot still sees what it changed.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set(), set()
    reads: set[str] = set()
    bound: set[str] = set()
    for statement in tree.body:
        reads |= _loads(statement) - bound
        bound |= _binds(statement)
    return reads, bound


def _loads(node: ast.AST) -> set[str]:
    """Every name this statement loads, nested functions included (they may run right away)."""
    names: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            names.add(n.id)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            names.add(n.target.id)  # `total += x` reads total too
    return names


def _binds(statement: ast.stmt) -> set[str]:
    """Names a top-level statement binds, deletes or mutates through a subscript/attribute."""
    names: set[str] = set()
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            stack.extend(node.decorator_list)
            continue  # the body is its own scope
        if isinstance(node, (ast.Lambda, *_COMPREHENSIONS)):
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(
            node.ctx, (ast.Store, ast.Del)
        ):
            base = _base_name(node)
            if base:
                names.add(base)
        stack.extend(ast.iter_child_nodes(node))
    return names


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None
