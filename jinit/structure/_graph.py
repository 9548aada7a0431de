"""A jaxpr flattened into one list of primitive nodes, every call and loop body inlined.

:func:`flatten` walks a closed jaxpr and inlines the sub-jaxprs of calls (``jit``,
``closed_call``, ``remat``/``checkpoint``, ``custom_jvp_call``, ``custom_vjp_call``, and any
primitive whose sub-jaxpr takes and returns exactly its operands), the body of ``scan`` and
``while`` once (a scanned operand enters through a ``scan_slice`` node that drops its leading
axis), and every branch of ``cond``. Values are small integers; constants (literals and the
closed-over arrays of a closed jaxpr) are :class:`Const`. The nodes come out in an order in
which every operand is defined before it is used, so one forward pass over them is a data-flow
analysis over the whole program.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# Sub-jaxpr parameter names of call-like primitives, in the order they are looked for.
_CALL_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


@dataclasses.dataclass(frozen=True)
class Const:
    """A known constant operand (a literal, or an array the jaxpr closed over)."""

    value: np.ndarray

    def scalar(self) -> float | None:
        """The constant as one float when it is uniform (all elements equal), else ``None``."""
        v = self.value
        if v.size == 0 or not np.issubdtype(v.dtype, np.number) and v.dtype != np.bool_:
            return None
        flat = v.reshape(-1)
        if v.size > 1 and not bool(np.all(flat == flat[0])):
            return None
        return float(flat[0]) if not np.iscomplexobj(flat) else None


@dataclasses.dataclass
class Node:
    """One primitive application: ``outs = primitive.bind(*ins, **params)``."""

    prim: str
    primitive: object
    params: dict
    ins: list  # value ids (int) or Const
    outs: list[int]


@dataclasses.dataclass
class Graph:
    nodes: list[Node] = dataclasses.field(default_factory=list)
    shapes: list[tuple[int, ...]] = dataclasses.field(default_factory=list)
    dtypes: list[object] = dataclasses.field(default_factory=list)
    outputs: list = dataclasses.field(default_factory=list)

    def new(self, aval: object) -> int:
        self.shapes.append(tuple(int(d) if isinstance(d, (int, np.integer)) else -1
                                 for d in getattr(aval, "shape", ())))
        self.dtypes.append(getattr(aval, "dtype", None))
        return len(self.shapes) - 1

    def add(self, prim: str, primitive: object, params: dict, ins: list, avals: list) -> list[int]:
        outs = [self.new(a) for a in avals]
        self.nodes.append(Node(prim, primitive, params, ins, outs))
        return outs


def _is_literal(v: object) -> bool:
    return type(v).__name__ == "Literal" and hasattr(v, "val")


def _open(jaxpr: object) -> tuple[object, list]:
    """(Jaxpr, consts) of a closed or open jaxpr."""
    if hasattr(jaxpr, "jaxpr") and hasattr(jaxpr, "consts"):
        return jaxpr.jaxpr, list(jaxpr.consts)
    return jaxpr, []


def _const(value: object) -> Const | None:
    try:
        return Const(np.asarray(value))
    except Exception:  # noqa: BLE001 - a key or an opaque value: not a usable constant
        return None


def flatten(closed: object, inputs: list[int], graph: Graph) -> list:
    """Inlines ``closed`` (a ClosedJaxpr) on the values ``inputs``; returns its outputs."""
    jaxpr, consts = _open(closed)
    return _inline(jaxpr, consts, inputs, graph)


def _inline(jaxpr: object, consts: list, inputs: list, graph: Graph) -> list:
    env: dict = {}
    for v, c in zip(jaxpr.constvars, consts, strict=True):
        got = _const(c)
        env[v] = got if got is not None else graph.new(v.aval)
    for v, x in zip(jaxpr.invars, inputs, strict=True):
        env[v] = x

    def read(a: object) -> object:
        if _is_literal(a):
            return Const(np.asarray(a.val))
        return env[a]

    for eqn in jaxpr.eqns:
        ins = [read(a) for a in eqn.invars]
        outs = _equation(eqn, ins, graph)
        for v, o in zip(eqn.outvars, outs, strict=True):
            env[v] = o
    return [read(v) for v in jaxpr.outvars]


def _sub_call(eqn: object) -> object | None:
    for name in _CALL_PARAMS:
        sub = eqn.params.get(name)
        if sub is None or not hasattr(_open(sub)[0], "eqns"):
            continue
        inner, _ = _open(sub)
        if len(inner.invars) == len(eqn.invars) and len(inner.outvars) == len(eqn.outvars):
            return sub
    return None


def _equation(eqn: object, ins: list, graph: Graph) -> list:
    name = eqn.primitive.name
    avals = [v.aval for v in eqn.outvars]
    if name == "scan":
        return _scan(eqn, ins, graph, avals)
    if name == "while":
        p = eqn.params
        nc, nb = p["cond_nconsts"], p["body_nconsts"]
        body_ins = ins[nc:nc + nb] + ins[nc + nb:]
        outs = flatten(p["body_jaxpr"], body_ins, graph)
        return [graph.add("loop_out", None, {}, [o], [a])[0] for o, a in zip(outs, avals, strict=True)]
    if name == "cond":
        branch_outs = [flatten(b, ins[1:], graph) for b in eqn.params["branches"]]
        return [graph.add("join", None, {}, [bo[i] for bo in branch_outs], [a])[0]
                for i, a in enumerate(avals)]
    sub = _sub_call(eqn)
    if sub is not None:
        return flatten(sub, ins, graph) if hasattr(sub, "consts") else _inline(sub, [], ins, graph)
    return graph.add(name, eqn.primitive, dict(eqn.params), ins, avals)


def _scan(eqn: object, ins: list, graph: Graph, avals: list) -> list:
    p = eqn.params
    nconsts, ncarry = p["num_consts"], p["num_carry"]
    consts, carry, xs = ins[:nconsts], ins[nconsts:nconsts + ncarry], ins[nconsts + ncarry:]
    body, _ = _open(p["jaxpr"])
    x_avals = [v.aval for v in body.invars[nconsts + ncarry:]]
    sliced = [x if isinstance(x, Const) else graph.add("scan_slice", None, {}, [x], [a])[0]
              for x, a in zip(xs, x_avals, strict=True)]
    outs = flatten(p["jaxpr"], consts + carry + sliced, graph)
    result = []
    for i, (o, a) in enumerate(zip(outs, avals, strict=True)):
        kind = "loop_out" if i < ncarry else "scan_stack"
        result.append(graph.add(kind, None, {}, [o], [a])[0])
    return result
