"""Running a model's program with every kernel's pre-activation in reach.

:func:`tapped` evaluates the model's own program (``jax.make_jaxpr`` of the call, with
``jit``, ``remat``, ``custom_jvp``/``custom_vjp`` calls inlined) equation by equation and hands
the output of every contraction with a parameter (``dot_general``, ``conv_general_dilated``)
to a hook, under the parameter's path: the pre-activation of that layer, bias not yet added.
The same walk, run abstractly once (:func:`layout`), records each kernel's order of
execution, whether its input is the data itself (the first layer), and which kernel's output
(through elementwise operations only) its input is: the layer before it.

Equations inside ``scan``, ``while`` and ``cond`` are bound as they are, so a kernel used only
inside a loop body is not tapped (the report says so).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.extend import core as jcore

from .._rules import path_str
from ._trace import _is_array, _split_dynamic

_CALLS = ("jaxpr", "call_jaxpr", "fun_jaxpr")
_CONTRACT = ("dot_general", "conv_general_dilated")
# Operations that pass a parameter through unchanged in value (only re-laid out or cast).
_VIEWS = {"reshape", "transpose", "convert_element_type", "broadcast_in_dim", "squeeze",
          "expand_dims", "copy", "copy_p", "rev"}


@dataclasses.dataclass
class Layout:
    """What the abstract walk saw: kernels in execution order, first layers, predecessors."""

    order: list[str] = dataclasses.field(default_factory=list)
    first: set[str] = dataclasses.field(default_factory=set)
    before: dict[str, str | None] = dataclasses.field(default_factory=dict)
    normed: set[str] = dataclasses.field(default_factory=set)


def _sub(eqn) -> object | None:
    if eqn.primitive.name in ("scan", "while", "cond"):
        return None
    for name in _CALLS:
        sub = eqn.params.get(name)
        if sub is None:
            continue
        closed = sub if hasattr(sub, "jaxpr") and hasattr(sub, "consts") else None
        if closed is None and hasattr(sub, "eqns"):
            closed = jcore.ClosedJaxpr(sub, ())
        if closed is not None:
            return closed
    return None


class _Walk:
    def __init__(self, paths: list[str], n_params: int, hook: Callable | None,
                 layout: Layout | None):
        self.paths = paths
        self.n_params = n_params
        self.hook = hook
        self.layout = layout

    def run(self, closed, values: list) -> list:
        jaxpr = closed.jaxpr
        env: dict = {}
        leaf: dict = {}      # var -> parameter index it is a view of
        raw: set = set()     # vars computed from the data alone, no kernel between
        origin: dict = {}    # var -> kernel path it comes from through elementwise ops only
        const: set = set()   # vars computed from constants alone
        for v, c in zip(jaxpr.constvars, closed.consts, strict=True):
            env[v] = c
            const.add(v)
        for k, (v, x) in enumerate(zip(jaxpr.invars, values, strict=True)):
            env[v] = x
            if k < self.n_params:
                leaf[v] = k
            else:
                raw.add(v)
        self._eqns(jaxpr, env, leaf, raw, origin, const)
        return [self._read(env, v) for v in jaxpr.outvars]

    @staticmethod
    def _read(env, v):
        return v.val if isinstance(v, jcore.Literal) else env[v]

    def _eqns(self, jaxpr, env, leaf, raw, origin, const) -> None:
        for eqn in jaxpr.eqns:
            ins = [self._read(env, v) for v in eqn.invars]
            vars_in = [v for v in eqn.invars if not isinstance(v, jcore.Literal)
                       and v not in const]
            sub = _sub(eqn)
            if sub is not None and len(sub.jaxpr.invars) == len(ins):
                inner_env: dict = {}
                inner_leaf, inner_raw, inner_origin, inner_const = {}, set(), {}, set()
                for v, c in zip(sub.jaxpr.constvars, sub.consts, strict=True):
                    inner_env[v] = c
                    inner_const.add(v)
                for outer, inner, x in zip(eqn.invars, sub.jaxpr.invars, ins, strict=True):
                    inner_env[inner] = x
                    if isinstance(outer, jcore.Literal) or outer in const:
                        inner_const.add(inner)
                        continue
                    if outer in leaf:
                        inner_leaf[inner] = leaf[outer]
                    if outer in raw:
                        inner_raw.add(inner)
                    if outer in origin:
                        inner_origin[inner] = origin[outer]
                self._eqns(sub.jaxpr, inner_env, inner_leaf, inner_raw, inner_origin, inner_const)
                for outer, inner in zip(eqn.outvars, sub.jaxpr.outvars, strict=True):
                    if isinstance(inner, jcore.Literal):
                        env[outer] = inner.val
                        continue
                    env[outer] = inner_env[inner]
                    for src, dst in ((inner_leaf, leaf), (inner_origin, origin)):
                        if inner in src:
                            dst[outer] = src[inner]
                    if inner in inner_raw:
                        raw.add(outer)
                    if inner in inner_const:
                        const.add(outer)
                continue
            outs = eqn.primitive.bind(*ins, **eqn.params)
            outs = list(outs) if eqn.primitive.multiple_results else [outs]
            name = eqn.primitive.name
            params_in = [leaf[v] for v in vars_in if v in leaf]
            data_in = [v for v in vars_in if v not in leaf]
            if not vars_in and name not in ("rng_bit_generator", "random_bits"):
                const.update(eqn.outvars)
            if name in _CONTRACT and len(params_in) == 1 and len(data_in) == 1 and \
                    len(set(params_in)) == 1:
                path = self.paths[params_in[0]]
                if self.layout is not None:
                    lay = self.layout
                    if path not in lay.before:
                        lay.order.append(path)
                        lay.before[path] = origin.get(data_in[0])
                        if data_in[0] in raw:
                            lay.first.add(path)
                if self.hook is not None:
                    outs[0] = self.hook(path, outs[0])
                origin[eqn.outvars[0]] = path
            elif not data_in and params_in and name in _VIEWS and len(set(params_in)) == 1:
                leaf[eqn.outvars[0]] = params_in[0]
            else:
                if name.startswith("reduce_") and self.layout is not None:
                    self.layout.normed.update(origin[v] for v in data_in if v in origin)
                if data_in and all(v in raw for v in data_in) and not params_in:
                    for o in eqn.outvars:
                        raw.add(o)
                origins = {origin.get(v) for v in data_in}
                if len(origins) == 1 and None not in origins and len(eqn.outvars) == 1:
                    origin[eqn.outvars[0]] = origins.pop()
            for v, x in zip(eqn.outvars, outs, strict=True):
                env[v] = x


def flat_params(tree: object) -> tuple[list[str], list, object]:
    """``(paths, leaves, treedef)`` of a parameter tree, paths as :func:`jinit.tree.path_str`
    writes them."""
    pairs, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return [path_str(p) for p, _ in pairs], [x for _, x in pairs], treedef


class Program:
    """The model's call as one closed jaxpr, made once (outside any tracing or recording)."""

    def __init__(self, call: Callable, params: object, args: tuple):
        self.paths, leaves, self.treedef = flat_params(params)
        # Arrays are the program's inputs; other values (a ``train`` flag, say) are passed
        # to the model as they are, as jinit.structure.trace passes them: ``dynamic`` says
        # which leaves of ``args`` are inputs.
        self.dynamic = [_is_array(x) for x in jax.tree.leaves(args)]
        abstract_args, rebuild = _split_dynamic(args)

        def plain(p_leaves, a_inputs):
            return call(jax.tree.unflatten(self.treedef, p_leaves), *rebuild(a_inputs))

        abstract = [jax.ShapeDtypeStruct(jnp.shape(x), x.dtype) for x in leaves]
        self.closed, out_shape = jax.make_jaxpr(plain, return_shape=True)(abstract,
                                                                          abstract_args)
        self.out_def = jax.tree.structure(out_shape)
        self.n_params = len(leaves)


def tapped(program: Program, hook: Callable | None, layout: Layout | None = None) -> Callable:
    """``f(params, args)`` evaluating the program with ``hook(path, h) -> h`` on every
    kernel's pre-activation (and filling ``layout`` when given)."""

    def f(params, args):
        leaves = jax.tree.leaves(params)
        arg_leaves = [x for x, d in zip(jax.tree.leaves(args), program.dynamic, strict=True)
                      if d]
        outs = _Walk(program.paths, program.n_params, hook, layout).run(
            program.closed, [*leaves, *arg_leaves])
        return jax.tree.unflatten(program.out_def, outs)

    return f


def read_layout(program: Program, params: object, args: tuple) -> Layout:
    """The :class:`Layout` of the program, from one abstract walk."""
    lay = Layout()
    jax.eval_shape(tapped(program, None, lay), params, args)
    return lay
