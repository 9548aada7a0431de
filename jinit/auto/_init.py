r"""``jinit.auto.init``: each layer's initialization from the model's structure and the data."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks, lsuv, structure
from ..tree import leaf_key
from . import _plan
from ._report import Report

_FN = "auto.init"


class _Fixed:
    """The initializer whose law is one given array: how a value set from the data (or kept
    from the framework) is declared to :func:`jinit.audit.check` (a fresh draw equals it)."""

    def __init__(self, value: object, label: str):
        self.value = np.asarray(value)
        self.label = label

    def __call__(self, key, shape, dtype=jnp.float32):
        return jnp.asarray(self.value, dtype).reshape(shape)

    def __repr__(self) -> str:
        return f"jinit.auto.fixed({self.label})"


def _prepare(kind: str, model: object, key, args: tuple, params: object):
    """``(call(tree, *args), tree of framework values, finish(tree) -> result, trace_args)``."""
    if kind == "linen":
        tree = model.init(key, *args) if params is None else params

        def call(t, *a):  # updates of mutable collections (batch_stats) are not outputs
            return model.apply(t, *a, mutable=True)[0]

        return call, tree, lambda t: t, args
    if kind == "nnx":
        from flax import nnx

        graphdef, state, rest = nnx.split(model, nnx.Param, ...)

        def call(t, *a):
            return nnx.merge(graphdef, t, rest)(*a)

        return call, state, lambda t: nnx.merge(graphdef, t, rest), args
    if kind == "equinox":
        import equinox as eqx

        dynamic, static = eqx.partition(model, eqx.is_inexact_array)

        def call(t, *a):
            return jax.vmap(eqx.combine(t, static))(*a)

        one = tuple(a[0] if hasattr(a, "shape") and np.ndim(a) else a for a in args)
        return call, dynamic, lambda t: eqx.combine(t, static), one
    return model, params, lambda t: t, args


def _trace(kind: str, model: object, args: tuple, tree: object):
    if kind == "function":
        return structure.trace(model, *args, params=tree)
    if kind == "linen":
        return structure.trace(model, *args, params=tree)
    return structure.trace(model, *args)


def _set(tree: object, values: dict[str, object]) -> object:
    paths, leaves, treedef = structure.flat_params(tree)
    out = [values.get(p, x) for p, x in zip(paths, leaves, strict=True)]
    return jax.tree.unflatten(treedef, out)


def init(model: object, key: jax.Array, *args: object, use_data: bool = True,
         params: object = None, tol: float = 0.05, max_iters: int = 5,
         signal: bool = True) -> tuple[object, Report]:
    r"""Chooses every layer's initialization from the model's structure (and the data).

    1. **Structure**: :func:`jinit.structure.trace` reads each parameter's use (fans, the
       elementwise function after it, residual streams, offsets, ties); one abstract walk of
       the model's program adds the execution order, which kernels read the data directly
       (first layers) and which kernel's output each kernel reads (the activation at its
       input).
    2. **Theory**: per kernel, :math:`(\sigma_w^2, \sigma_b^2)` with the forward second
       moment at a fixed point :math:`q^*` (1, or smaller for a deep stack of an activation
       such as tanh whose Jacobian spectrum it would spread: Pennington et al. 2017) and,
       where the activation allows, the edge of chaos :math:`\chi_1 = 1` (Poole et al.
       2016; Schoenholz et al. 2017), residual
       branches scaled for the depth (Fixup, Zhang et al. 2019), and stated choices for
       embeddings, norms and biases (:mod:`jinit.auto._plan`, :mod:`jinit.auto._theory`).
    3. **Data** (``use_data=True``): on the example batch, the first layer's pre-activation
       :math:`h = xW` is centered and scaled exactly, :math:`W \leftarrow W\sqrt{q^*}/s`,
       :math:`b \leftarrow -\bar h\sqrt{q^*}/s` with :math:`\bar h` its per-unit mean and
       :math:`s^2` the variance about it, so the input's real mean and scale no longer
       matter; then
       :mod:`jinit.lsuv`'s engine rescales every other kernel off residual branches until its
       pre-activation variance is the theory's target :math:`q^*` within ``tol`` (LSUV: Mishkin &
       Matas, "All you need is a good init", ICLR 2016, arXiv:1511.06422, Alg. 1). Residual
       kernels keep their depth scaling.
    4. **Proof**: the report carries the audit's per-layer forward and backward second
       moments (:func:`jinit.audit.signal`) for the framework's default initialization and
       for this one, a row per parameter, and ``rules`` that :func:`jinit.audit.check`
       verifies on the result.

    Args:
      model: a ``flax.linen`` Module, a ``flax.nnx`` Module, an Equinox Module, or a function
        ``fn(params, *args)`` (then ``params=`` is required).
      key: a PRNG key; each leaf's draw uses :func:`jinit.tree.leaf_key` of its path.
      *args: the model's example inputs (with a batch axis; an Equinox model is traced on
        the first example and run with ``jax.vmap``). Values that are not arrays, such as
        a ``train`` flag, are passed to the model as they are: ``auto.init(model, key, x,
        False)`` runs ``model.apply(variables, x, False)``.
      use_data: run the data pass on ``args``.
      params: a function model's parameters (or a linen model's variables): their shapes
        and dtypes, and the values kept for leaves auto does not understand.
      tol, max_iters: the data pass's tolerance on the variance and its rescalings per layer.
      signal: measure ``report.signal`` (two forward-and-backward passes).

    Returns:
      ``(result, report)``: linen: the variables dict; NNX: the module (a new one); Equinox:
      a new model; a function: the params; and a :class:`jinit.auto.Report`.

    Raises:
      TypeError: an unsupported model, a function without ``params``, a bad ``key``.
      ValueError: bad ``tol``/``max_iters``, or a data pass that sees NaN or a dead layer.

    References:
      Poole et al., NeurIPS 2016, arXiv:1606.05340; Schoenholz et al., ICLR 2017,
      arXiv:1611.01232; Pennington, Schoenholz & Ganguli, NeurIPS 2017, arXiv:1711.04735;
      Mishkin & Matas, ICLR 2016, arXiv:1511.06422; Zhang, Dauphin & Ma, "Fixup
      Initialization", ICLR 2019, arXiv:1901.09321.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> def mlp(p, x):
      ...     for w, b in p[:-1]:
      ...         x = jnp.tanh(x @ w + b)
      ...     return x @ p[-1][0]
      >>> p = [(jnp.zeros((16, 64)), jnp.zeros(64))] + [(jnp.zeros((64, 64)), jnp.zeros(64))
      ...      for _ in range(7)] + [(jnp.zeros((64, 4)), jnp.zeros(4))]
      >>> x = jax.random.normal(jax.random.key(0), (128, 16))
      >>> params, report = jinit.auto.init(mlp, jax.random.key(1), x, params=p)
      >>> report.rows[2]["scheme"], report.rows[2]["activation"]
      ('edge of chaos', 'tanh')
      >>> jinit.audit.check(params, report.rules).ok
      True
    """
    _checks.key(_FN, key)
    if not isinstance(use_data, bool):
        raise _checks.fail(_FN, "use_data", use_data, "is not a bool", "True or False",
                           exc=TypeError)
    tol = _checks.real(_FN, "tol", tol, minimum=0.0, strict=True)
    max_iters = _checks.integer(_FN, "max_iters", max_iters, minimum=0)
    if not args:
        raise _checks.fail(_FN, "args", args, "is empty", "the model's example input(s)",
                           exc=TypeError)
    kind = structure.model_kind(model, params, _FN, "jinit.auto can initialize")
    k_default, k_draw, k_lsuv = jax.random.split(key, 3)
    call, default_tree, finish, trace_args = _prepare(kind, model, k_default, args, params)
    struct = _trace(kind, model, trace_args, default_tree)
    program = structure.Program(call, default_tree, args)
    layout = structure.read_layout(program, default_tree, args)
    rows = _plan.plan(struct, layout)
    paths, leaves, _ = structure.flat_params(default_tree)
    current = dict(zip(paths, leaves, strict=True))
    for p in paths:
        if p not in rows:
            rows[p] = _plan.Row(p, tuple(np.shape(current[p])), "-", None, None, "-", "-",
                                "framework default", None, "not a parameter the trace read: "
                                "framework default kept", drawn=False)
    values = {}
    for p, row in rows.items():
        if row.drawn and p in current:
            x = current[p]
            values[p] = row.init(leaf_key(k_draw, p), tuple(np.shape(x)), x.dtype)
    tree = _set(default_tree, values)
    factors: dict[str, float] = {}
    if use_data:
        tree = _data_pass(program, tree, args, rows, layout, k_lsuv, tol, max_iters, factors,
                          1 if kind == "equinox" else -1)
    for p, row in rows.items():
        if row.drawn and not row.data:
            row.factor = factors.get(p, 1.0)
            if row.std is not None and row.factor != 1.0:
                row.std = row.std * row.factor
                row.init = _std_init(row.std)
        elif not row.drawn:
            row.init = _Fixed(current[p], "framework default")
    final = dict(zip(*structure.flat_params(tree)[:2], strict=True))
    for p, row in rows.items():
        if row.data:
            row.init = _Fixed(final[p], "set from the data")
    sig = None
    if signal:
        sig = {"before": _signal(program, default_tree, args),
               "after": _signal(program, tree, args)}
    order = {p: float(k) for k, p in enumerate(layout.order)}
    for p in layout.order:
        if rows[p].bias is not None:
            order[rows[p].bias] = order[p] + 0.5
    ordered = sorted(rows.values(), key=lambda r: (order.get(r.path, len(order)), r.path))
    return finish(tree), Report(ordered, sig, kind, use_data)


def _std_init(std: float):
    from .. import _basic

    return _basic.normal(std)


def _data_pass(program, tree, args, rows, layout, key, tol, max_iters, factors,
               feature_axis) -> object:
    """The first layers centered and scaled exactly, then LSUV on the other kernels."""
    for p in layout.order:
        if p not in layout.first or not rows[p].drawn:
            continue

        def grab(t, a, p=p):
            hs = []

            def hook(path, h):
                if path == p:
                    hs.append(h)
                return h

            structure.tapped(program, hook)(t, a)
            return hs

        hs = jax.jit(grab)(tree, args)
        pre = jnp.concatenate([jnp.reshape(jnp.moveaxis(x, feature_axis, -1), (-1, x.shape[
            feature_axis])) for x in hs]).astype(jnp.float32)
        one = pre.shape[0] < 2  # a single example: no mean to take, scale only
        mean = jnp.zeros(pre.shape[1:], pre.dtype) if one else jnp.mean(pre, axis=0)
        s = float(jnp.sqrt(jnp.mean(jnp.square(pre - mean))))
        if not math.isfinite(s) or s <= 0:
            raise _checks.fail(_FN, "args", "(batch)", f"gives the first layer {p!r} a "
                               f"pre-activation spread of {s}", "a batch with varying, "
                               "finite values")
        s = s / math.sqrt(rows[p].q)   # to the pre-activation scale sqrt(q*)
        vals = dict(zip(*structure.flat_params(tree)[:2], strict=True))
        new = {p: (vals[p] / s).astype(vals[p].dtype)}
        factors[p] = 1.0 / s
        note = f"data: first layer scaled by 1/{s:.4g}"
        b = rows[p].bias
        if one:
            note += " (one example: not centered)"
        elif b is not None and vals[b].shape == mean.shape:
            new[b] = (-mean / s).astype(vals[b].dtype)
            rows[b].data = True
            rows[b].scheme = "-mean (data)"
            rows[b].why = f"bias of {p}: minus the batch mean of its pre-activation (scaled), so " \
                          "each unit starts centered whatever the input's mean"
            note += " and centered by its bias"
        rows[p].why += "; " + note
        tree = _set(tree, new)
    chosen = {p: p for p in layout.order if p not in layout.first and rows[p].drawn
              and rows[p].residual == "-"}
    for p in layout.order:
        if p in rows and p not in chosen and p not in layout.first and rows[p].residual != "-":
            rows[p].why += "; data pass: left out (residual branch keeps its depth scaling)"
    if not chosen:
        return tree

    # The tap is the contraction's output, before its bias: its variance target is what the
    # bias leaves of the theory's second moment q*, q* - mean(b^2) (the bias as drawn).
    vals = dict(zip(*structure.flat_params(tree)[:2], strict=True))
    target = {}
    for p in chosen:
        b = rows[p].bias
        b2 = float(jnp.mean(jnp.square(vals[b].astype(jnp.float32)))) if b in vals else 0.0
        target[p] = max(rows[p].q - b2, 0.05 * rows[p].q)

    def run(t, batch):
        seen = []

        def hook(path, h):
            if path in chosen:  # reported as h / sqrt(target): the engine aims at 1
                seen.append((path, h / math.sqrt(target[path])))
            return h

        structure.tapped(program, hook)(t, batch)
        return seen

    tree, report = lsuv.run(_FN, "model", tree, args, run, list(layout.order), chosen,
                             [], key, tol, max_iters, False, 1.0)
    for layer in report:
        factors[layer.layer] = layer.scale
        rows[layer.layer].why += (f"; data: LSUV x{layer.scale:.4g} (variance "
                                  f"{layer.initial_variance:.3g} -> {layer.variance:.3g})")
    return tree


def _signal(program, tree, args):
    from .. import audit

    f = structure.tapped(program, lambda path, h: audit.tap(h, path))
    return audit.signal(f, args, params=tree)


def rules_of(rows) -> dict[str, Callable]:
    """``{'^path$': initializer}`` for every row."""
    return {"^" + re.escape(r.path) + "$": r.init for r in rows if r.init is not None}
