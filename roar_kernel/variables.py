"""Which user-namespace names a cell read and which it (re)defined.

Two sources, combined: the cell's syntax and a before/after snapshot of the namespace by
object identity (which also catches ``exec``, ``%run`` and ``globals()[...]``). Only names
that hold a value in the namespace count; IPython's own names (``In``, ``Out``, ``_i3``, …)
never do.

A cell *reads* a name only where it can load the value an earlier cell left: a load that
comes before any store of the name in the cell's own flow. The syntax is walked in execution
order, keeping the set of names the cell has bound so far:

- ``with open(p) as f``, ``for i in …``, ``except E as e``, ``x := …``, imports, ``def``,
  ``class`` and ``match`` captures bind; what a statement evaluates comes before what it
  binds (``x = x + 1`` reads ``x``), and augmented assignment reads first (``n += 1``).
- ``x.attr = …``, ``x[k] = …``, ``del x[k]`` load ``x`` (a read unless bound before) and
  mutate it: ``x`` counts as redefined, though not as bound. ``del x`` needs ``x``: a read.
- Comprehensions are their own scope: their targets are local, the rest resolves outside.
- A name bound in only some branches of an ``if``/``try``/``match`` may still hold the
  earlier value afterwards: a later load is a read unless every branch that carries on binds
  it. Loops are taken to run at least once (their bindings count after the loop).
- The bodies of functions and lambdas run when called, perhaps after the cell: a name they
  load that is not their own and that the cell binds nowhere is a read (conservative).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

_IPYTHON_NAMES = re.compile(
    r"^(_{1,3}|_i{1,3}|_i\d+|_\d+|_oh|_dh|_ih|_exit_code|In|Out|get_ipython|exit|quit)$"
)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_JUMPS = (ast.Raise, ast.Return, ast.Break, ast.Continue)
_TRIES = (ast.Try, getattr(ast, "TryStar", ast.Try))  # try/except* from Python 3.11

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
    """(names the cell reads, names it binds, deletes or mutates at top level).

    ``code`` is Python after IPython's transformations (magics are calls by then). Code that
    does not parse yields nothing; the namespace snapshot still sees what it changed.
    """
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set(), set()
    flow = _Flow(_scope_names(tree.body)[0])
    module: set[str] = set()
    flow.block(tree.body, _Scope((module,), module, module, True))
    return flow.reads, flow.binds


@dataclass
class _Scope:
    """Where names resolve while code runs now: ``visible`` (innermost first) holds what is
    bound so far; stores go to ``store``, ``:=`` to ``walrus`` (the nearest scope that is not
    a comprehension); ``module`` says ``store`` is the cell's top level."""

    visible: tuple[set[str], ...]
    store: set[str]
    walrus: set[str]
    module: bool
    walrus_module: bool = True

    def sees(self, name: str) -> bool:
        return any(name in names for names in self.visible)

    def fork(self) -> _Scope:
        """A copy whose own bindings can diverge (one branch of an ``if``)."""
        store = set(self.store)

        def swap(names: set[str]) -> set[str]:
            return store if names is self.store else names

        return _Scope(
            tuple(swap(v) for v in self.visible),
            store,
            swap(self.walrus),
            self.module,
            self.walrus_module,
        )


class _Flow:
    """One pass over a cell in execution order, collecting ``reads`` and ``binds``."""

    def __init__(self, assigned: set[str]):
        self.assigned = assigned  # bound anywhere at the cell's top level (for deferred code)
        self.reads: set[str] = set()
        self.binds: set[str] = set()

    # Names --------------------------------------------------------------------------------
    def load(self, name: str, scope: _Scope) -> None:
        if not scope.sees(name):
            self.reads.add(name)

    def bind(self, name: str, scope: _Scope, *, walrus: bool = False) -> None:
        (scope.walrus if walrus else scope.store).add(name)
        if scope.walrus_module if walrus else scope.module:
            self.binds.add(name)

    def mutate(self, target: ast.expr, scope: _Scope) -> None:
        """``x.a = …`` / ``x[k] = …`` changes the object ``x`` names (it stays unbound)."""
        while isinstance(target, (ast.Attribute, ast.Subscript)):
            target = target.value
        if isinstance(target, ast.Name) and scope.module:
            self.binds.add(target.id)

    # Statements ---------------------------------------------------------------------------
    def block(self, body: Sequence[ast.stmt], scope: _Scope) -> bool:
        """Run ``body``; True when it cannot carry on past its end (raise, break, …)."""
        for statement in body:
            if self.statement(statement, scope):
                return True
        return False

    def branches(self, scope: _Scope, paths: list[tuple[_Scope, bool]]) -> bool:
        """Join branches that ran on forks of ``scope``: what every live one bound."""
        live = [fork.store for fork, ended in paths if not ended]
        if not live:
            return True
        scope.store |= set.intersection(*live)
        return False

    def statement(self, node: ast.stmt, scope: _Scope) -> bool:
        if isinstance(node, _FUNCTIONS):
            self.exprs([*node.decorator_list, *_defaults(node.args)], scope)
            self.exprs([*_annotations(node.args), node.returns], scope)
            self.deferred(node, frozenset())
            self.bind(node.name, scope)
        elif isinstance(node, ast.ClassDef):
            self.exprs([*node.decorator_list, *node.bases, *node.keywords], scope)
            own: set[str] = set()
            self.block(node.body, _Scope((own, *scope.visible), own, own, False, False))
            self.bind(node.name, scope)
        elif isinstance(node, ast.Assign):
            self.expr(node.value, scope)
            for target in node.targets:
                self.target(target, scope)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.target, ast.Name):
                self.load(node.target.id, scope)
                self.expr(node.value, scope)
                self.bind(node.target.id, scope)
            else:
                self.target(node.target, scope)  # loads the object, then mutates it
                self.expr(node.value, scope)
        elif isinstance(node, ast.AnnAssign):
            self.expr(node.value, scope)
            self.expr(node.annotation, scope)
            if node.value is not None:
                self.target(node.target, scope)
            elif not isinstance(node.target, ast.Name):  # `obj.a: int` evaluates obj only
                self.expr(node.target.value, scope)
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.delete(target, scope)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.expr(node.iter, scope)
            self.target(node.target, scope)
            self.block(node.body, scope)  # taken to run at least once
            self.block(node.orelse, scope)
        elif isinstance(node, ast.While):
            self.expr(node.test, scope)
            self.block(node.body, scope)
            self.block(node.orelse, scope)
        elif isinstance(node, ast.If):
            self.expr(node.test, scope)
            paths = []
            for body in (node.body, node.orelse):
                fork = scope.fork()
                paths.append((fork, self.block(body, fork)))
            return self.branches(scope, paths)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                self.expr(item.context_expr, scope)
                if item.optional_vars is not None:
                    self.target(item.optional_vars, scope)
            return self.block(node.body, scope)
        elif isinstance(node, _TRIES):
            return self.try_(node, scope)
        elif isinstance(node, ast.Match):
            return self.match(node, scope)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    self.bind((alias.asname or alias.name).split(".")[0], scope)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            pass  # no effect at top level
        else:  # Expr, Return, Raise, Assert, Pass, Break, Continue, …
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child, scope)
        return isinstance(node, _JUMPS)

    def try_(self, node: ast.Try, scope: _Scope) -> bool:
        body = scope.fork()
        paths = [(body, self.block(node.body, body) or self.block(node.orelse, body))]
        for handler in node.handlers:  # may start before the body bound anything
            fork = scope.fork()
            self.expr(handler.type, fork)
            if handler.name:
                self.bind(handler.name, fork)
            paths.append((fork, self.block(handler.body, fork)))
        final = scope.fork()  # also runs when the body failed at once
        ended = self.block(node.finalbody, final)
        ended = self.branches(scope, paths) or ended
        scope.store |= final.store
        return ended

    def match(self, node: ast.Match, scope: _Scope) -> bool:
        self.expr(node.subject, scope)
        paths = []
        for case in node.cases:
            fork = scope.fork()
            self.pattern(case.pattern, fork)
            self.expr(case.guard, fork)
            paths.append((fork, self.block(case.body, fork)))
        last = node.cases[-1] if node.cases else None
        catch_all = (
            last is not None
            and last.guard is None
            and isinstance(last.pattern, ast.MatchAs)
            and last.pattern.pattern is None
        )
        if not catch_all:
            paths.append((scope.fork(), False))  # no case matched
        return self.branches(scope, paths)

    def pattern(self, node: ast.pattern, scope: _Scope) -> None:
        for child in ast.walk(node):
            if isinstance(child, (ast.MatchValue, ast.MatchClass)):
                self.expr(child.value if isinstance(child, ast.MatchValue) else child.cls, scope)
            elif isinstance(child, ast.MatchMapping):
                self.exprs(child.keys, scope)
                if child.rest:
                    self.bind(child.rest, scope)
            if isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
                self.bind(child.name, scope)

    # Targets ------------------------------------------------------------------------------
    def target(self, node: ast.expr, scope: _Scope) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id, scope)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element, scope)
        elif isinstance(node, ast.Starred):
            self.target(node.value, scope)
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            self.expr(node.value, scope)
            if isinstance(node, ast.Subscript):
                self.expr(node.slice, scope)
            self.mutate(node, scope)
        else:
            self.expr(node, scope)

    def delete(self, node: ast.expr, scope: _Scope) -> None:
        if isinstance(node, ast.Name):  # needs the name to exist: a read, then it is gone
            self.load(node.id, scope)
            self.bind(node.id, scope)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.delete(element, scope)
        else:
            self.target(node, scope)

    # Expressions --------------------------------------------------------------------------
    def exprs(self, nodes: Iterable[ast.AST | None], scope: _Scope) -> None:
        for node in nodes:
            self.expr(node, scope)

    def expr(self, node: ast.AST | None, scope: _Scope) -> None:
        if node is None:
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.load(node.id, scope)
            else:
                self.target(node, scope)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value, scope)
            self.bind(node.target.id, scope, walrus=True)
        elif isinstance(node, ast.Lambda):
            self.exprs(_defaults(node.args), scope)
            self.deferred(node, frozenset())
        elif isinstance(node, _COMPREHENSIONS):
            self.comprehension(node, scope)
        else:
            for child in ast.iter_child_nodes(node):
                self.expr(child, scope)

    def comprehension(self, node: ast.expr, scope: _Scope) -> None:
        """The first iterable is evaluated outside; targets are the comprehension's own."""
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        own: set[str] = set()
        inner = _Scope(
            (own, *scope.visible), own, scope.walrus, False, scope.walrus_module
        )  # fmt: skip
        for i, gen in enumerate(generators):
            self.expr(gen.iter, scope if i == 0 else inner)
            self.target(gen.target, inner)
            self.exprs(gen.ifs, inner)
        if isinstance(node, ast.DictComp):
            self.exprs([node.key, node.value], inner)
        else:
            self.expr(node.elt, inner)  # type: ignore[attr-defined]

    # Code that runs later -----------------------------------------------------------------
    def deferred(self, node: ast.AST, outer: frozenset[str]) -> None:
        """A function or lambda body: names it loads that are neither its own (nor an
        enclosing function's) nor bound anywhere at the cell's top level are reads."""
        if isinstance(node, ast.Lambda):
            body: list[ast.stmt] = [ast.Expr(node.body)]
        else:
            body = node.body  # type: ignore[attr-defined]
        own, declared_global = _scope_names(body)
        own |= _parameters(node.args)  # type: ignore[attr-defined]
        self.free_loads(body, outer | (own - declared_global))

    def free_load(self, name: str, visible: frozenset[str]) -> None:
        if name not in visible and name not in self.assigned:
            self.reads.add(name)

    def free_loads(self, nodes: Iterable[ast.AST], visible: frozenset[str]) -> None:
        for node in nodes:
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Load):
                    self.free_load(node.id, visible)
            elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
                self.free_load(node.target.id, visible)  # `total += x` reads total first
                self.free_loads([node.value], visible)
            elif isinstance(node, (*_FUNCTIONS, ast.Lambda)):
                args = node.args
                self.free_loads([*_defaults(args), *_annotations(args)], visible)
                if not isinstance(node, ast.Lambda):
                    self.free_loads([*node.decorator_list, *filter(None, [node.returns])], visible)
                self.deferred(node, visible)
            elif isinstance(node, ast.ClassDef):
                self.free_loads([*node.decorator_list, *node.bases, *node.keywords], visible)
                self.free_loads(node.body, visible | _scope_names(node.body)[0])
            elif isinstance(node, _COMPREHENSIONS):
                targets = {
                    n.id
                    for gen in node.generators
                    for n in ast.walk(gen.target)
                    if isinstance(n, ast.Name)
                }
                self.free_loads(ast.iter_child_nodes(node), visible | targets)
            else:
                self.free_loads(ast.iter_child_nodes(node), visible)


def _scope_names(body: Sequence[ast.stmt]) -> tuple[set[str], set[str]]:
    """(names bound anywhere in a scope's own code, names it declares ``global``).

    Nested functions, lambdas and classes are other scopes (only their names count here);
    comprehensions too, except that ``:=`` in them binds in this scope.
    """
    bound: set[str] = set()
    declared_global: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (*_FUNCTIONS, ast.ClassDef)):
            bound.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, _COMPREHENSIONS):
            bound.update(
                n.target.id for n in ast.walk(node) if isinstance(n, ast.NamedExpr)
            )  # fmt: skip
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        elif isinstance(node, ast.NamedExpr):
            bound.add(node.target.id)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            bound.update(node.names)  # an enclosing function's: not the cell's
        stack.extend(ast.iter_child_nodes(node))
    return bound, declared_global


def _parameters(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return {a.arg for a in every if a is not None}


def _defaults(args: ast.arguments) -> list[ast.expr]:
    return [*args.defaults, *(d for d in args.kw_defaults if d is not None)]


def _annotations(args: ast.arguments) -> list[ast.expr]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
    return [a.annotation for a in every if a is not None and a.annotation is not None]
