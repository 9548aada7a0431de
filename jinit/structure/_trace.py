"""``jinit.structure.trace``: one abstract trace of a model, read into a :class:`Structure`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping

import jax
import numpy as np

from .. import _checks, _rules
from .._base import public
from . import _graph, _walk
from ._use import Use

_FN = "structure.trace"


@public("jinit.structure")
class Structure(Mapping[str, Use]):
    """What :func:`trace` read: a mapping ``path -> Use`` for every parameter leaf.

    Paths are :func:`jinit.tree.path_str`'s for the same tree (``'params/Dense_0/kernel'``
    for linen, the ``nnx.Param`` state's paths for NNX, the module's own leaf paths for
    Equinox), so ``structure[path]`` is the record of the leaf a rule matched at ``path``.
    ``str(structure)`` is a table.
    """

    def __init__(self, uses: Mapping[str, Use], model: str = ""):
        self._uses = dict(uses)
        self.model = model

    def __getitem__(self, path: str) -> Use:
        return self._uses[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._uses)

    def __len__(self) -> int:
        return len(self._uses)

    def lookup(self, path: str) -> Use | None:
        """The use at ``path``; a linen ``params`` collection's path (``'Dense_0/kernel'``,
        without the ``'params/'`` prefix of the variables dict) finds its leaf too."""
        found = self._uses.get(path)
        if found is None:
            found = self._uses.get("params/" + path)
        return found

    def __repr__(self) -> str:
        return f"<jinit.structure.Structure of {self.model or 'a model'}: {len(self)} leaves>"

    def __str__(self) -> str:
        return table(self.values())


def _axes(t: tuple[int, ...]) -> str:
    return ",".join(map(str, t)) if t else "-"


def _fan(f: float | None) -> str:
    return "-" if f is None else f"{f:g}"


def table(uses) -> str:
    """The rows of a structure as an aligned text table."""
    head = ("path", "shape", "op", "fan_in", "fan_out", "in", "out", "batch", "after",
            "residual", "tied")
    rows = [head]
    for u in uses:
        op = u.op if not u.offset else f"{u.op} (1+w)" if u.offset == 1.0 else \
            f"{u.op} ({u.offset:g}+w)"
        rows.append((u.path, "x".join(map(str, u.shape)) or "()", op, _fan(u.fan_in),
                     _fan(u.fan_out), _axes(u.in_axes), _axes(u.out_axes), _axes(u.batch_axes),
                     u.after.name, f"stream {u.stream}" if u.residual else "-",
                     "+".join(t.op for t in u.tied) or "-"))
    widths = [max(len(r[k]) for r in rows) for k in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ------------------------------------------------------------------------ model kinds


def _abstract(x: object) -> object:
    if isinstance(x, jax.ShapeDtypeStruct):
        return x
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype)
    return x


def _describe_args(args: tuple, kwargs: dict) -> str:
    def one(x):
        if hasattr(x, "shape") and hasattr(x, "dtype"):
            return f"{np.dtype(x.dtype).name}{list(x.shape)}"
        return type(x).__name__
    parts = [one(a) for a in jax.tree.leaves(args)]
    parts += [f"{k}={one(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _is_array(x: object) -> bool:
    return isinstance(x, jax.ShapeDtypeStruct) or isinstance(x, (jax.Array, np.ndarray))


def model_kind(model: object, params: object, fn: str = _FN, does: str = "jinit can trace"
               ) -> str:
    """``'linen'``, ``'nnx'``, ``'equinox'`` or ``'function'`` (given ``params``); a
    ``TypeError`` from ``fn`` otherwise (``does`` says what ``fn`` does with a model)."""
    linen = sys.modules.get("flax.linen")
    if linen is not None and isinstance(model, linen.Module):
        return "linen"
    nnx = sys.modules.get("flax.nnx")
    if nnx is not None and isinstance(model, nnx.Module):
        return "nnx"
    eqx = sys.modules.get("equinox")
    if eqx is not None and isinstance(model, eqx.Module):
        return "equinox"
    if callable(model) and params is not None:
        return "function"
    if callable(model):
        raise _checks.fail(fn, "params", params, f"is missing for the function {_name(model)}",
                           "the parameters a function model fn(params, *args) takes (arrays "
                           "or jax.ShapeDtypeStruct)", exc=TypeError)
    raise _checks.fail(fn, "model", model, f"is not a model {does}",
                       "a flax.linen Module, a flax.nnx Module, an equinox Module, or a "
                       "function fn(params, *args) with params=", exc=TypeError)


def _name(model: object) -> str:
    return getattr(model, "__name__", None) or type(model).__name__


def _split_dynamic(tree: object) -> tuple[list, Callable[[list], object]]:
    """The array leaves of ``tree`` (traced) and a function rebuilding it from new ones."""
    leaves, treedef = jax.tree.flatten(tree)
    where = [k for k, x in enumerate(leaves) if _is_array(x)]

    def rebuild(new: list) -> object:
        out = list(leaves)
        for k, x in zip(where, new, strict=True):
            out[k] = x
        return jax.tree.unflatten(treedef, out)

    return [_abstract(leaves[k]) for k in where], rebuild


def _paths_and_leaves(tree: object, is_leaf=None) -> tuple[list[str], list[jax.ShapeDtypeStruct]]:
    flat = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)[0]
    paths, leaves = [], []
    for kp, node in flat:
        inner = jax.tree.leaves(node)
        for x in inner:
            paths.append(_rules.path_str(kp))
            leaves.append(x)
    return paths, leaves


def _prepare(model: object, kind: str, dyn_args: list, rebuild: Callable, params: object):
    """(function of (params, (args, kwargs)), params tree, paths, is_param filter)."""
    if kind == "linen":
        variables = params
        if variables is None:
            def init(key, flat):
                a, kw = rebuild(flat)
                return model.init(key, *a, **kw)

            variables = jax.eval_shape(init, jax.random.key(0), dyn_args)

        def call(p, akw):
            return model.apply(p, *akw[0], mutable=True, **akw[1])

        tree = jax.tree.map(_abstract, variables)
        is_box = _box_pred()
        paths, _ = _paths_and_leaves(tree, is_leaf=is_box)
        keep = [True] * len(paths)
        return call, tree, paths, keep
    if kind == "nnx":
        from flax import nnx

        graphdef, state = nnx.split(model)
        tree = jax.tree.map(_abstract, state)

        def call(p, akw):
            return nnx.merge(graphdef, p)(*akw[0], **akw[1])

        params_state = nnx.split(model, nnx.Param, ...)[1]
        param_paths = set(_paths_and_leaves(params_state, is_leaf=_nnx_var)[0])
        paths, _ = _paths_and_leaves(tree, is_leaf=_nnx_var)
        return call, tree, paths, [p in param_paths for p in paths]
    if kind == "equinox":
        import equinox as eqx

        dynamic, static = eqx.partition(model, eqx.is_array)
        tree = jax.tree.map(_abstract, dynamic)

        def call(p, akw):
            return eqx.combine(p, static)(*akw[0], **akw[1])

        paths, leaves = _paths_and_leaves(tree)
        keep = [np.issubdtype(np.dtype(x.dtype), np.inexact)
                if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else False
                for x in leaves]
        return call, tree, paths, keep

    def call(p, akw):
        return model(p, *akw[0], **akw[1])

    tree = jax.tree.map(_abstract, params, is_leaf=_box_pred())
    paths, leaves = _paths_and_leaves(tree, is_leaf=_box_pred())
    return call, tree, paths, [_is_array(x) for x in leaves]


def _nnx_var(x: object) -> bool:
    variablelib = sys.modules.get("flax.nnx.variablelib")
    return variablelib is not None and isinstance(x, variablelib.Variable)


def _box_pred():
    meta = sys.modules.get("flax.core.meta")

    def is_box(x):
        return meta is not None and isinstance(x, meta.AxisMetadata)

    return is_box


@public("jinit.structure")
def trace(model: object, *args: object, params: object = None, **kwargs: object) -> Structure:
    r"""Traces a model once, abstractly, and reads how it uses every parameter.

    The model is called exactly as its framework calls it, on ``jax.ShapeDtypeStruct``\ s
    (``jax.make_jaxpr``: no parameter values are made and no FLOPs run):

    * a ``flax.linen`` Module: ``model.apply(variables, *args, mutable=True, **kwargs)`` on
      the shapes of ``model.init(key, *args, **kwargs)`` (or on ``params``, the variables,
      when given); paths are those of the variables dict (``'params/Dense_0/kernel'``);
    * a ``flax.nnx`` Module (concrete or from ``nnx.eval_shape``): ``model(*args,
      **kwargs)`` on its split state; paths are those of its ``nnx.Param`` state;
    * an Equinox Module: ``model(*args, **kwargs)`` on one example (Equinox's convention:
      no batch axis); paths are the module's leaf paths;
    * a function ``fn(params, *args, **kwargs)`` with ``params`` given (arrays or
      ``jax.ShapeDtypeStruct``\ s).

    Each parameter's value is followed through reshapes, transposes, broadcasts, casts,
    slices, scanned and looped indexing, and the sub-programs of ``jit``, ``remat``,
    ``custom_jvp``/``custom_vjp``, ``scan``, ``while`` and ``cond``, to its uses
    (:class:`Use`). A contraction's fans follow the same rule as jax's
    ``compute_fans``, with axes read from the operation instead of guessed:

    .. math::

        \text{fan}_\text{in} = \prod_{a \in \text{contracting}} s_a \cdot r, \qquad
        \text{fan}_\text{out} = \prod_{a \in \text{kernel-only}} s_a \cdot r,

    where :math:`s` is the parameter's shape, batch axes (shared by input, kernel and
    output, or indexed away by a scan) are left out, and :math:`r` is a convolution's window
    size (1 otherwise).

    Args:
      model: a linen, NNX or Equinox module, or a function of ``(params, *args)``.
      *args: the call's arguments (arrays or ``jax.ShapeDtypeStruct``; other values are
        passed as they are).
      params: the parameters of a function model; for linen, optionally the variables.
      **kwargs: keyword arguments of the call (e.g. ``deterministic=True``).

    Returns:
      A :class:`Structure`, ``path -> Use``.

    Raises:
      TypeError: a model of an unsupported kind, or a function without ``params``.
      Exception: the model's own call failed while tracing: the same exception type (or
        ``RuntimeError``), its message naming the model, the call and the argument shapes,
        with the original exception chained.

    Example:
      >>> import jax, jax.numpy as jnp, jinit
      >>> def mlp(p, x):
      ...     return jax.nn.relu(x @ p["w1"]) @ p["w2"]
      >>> p = {"w1": jax.ShapeDtypeStruct((16, 64), jnp.float32),
      ...      "w2": jax.ShapeDtypeStruct((64, 4), jnp.float32)}
      >>> s = jinit.structure.trace(mlp, jax.ShapeDtypeStruct((8, 16), jnp.float32), params=p)
      >>> u = s["w1"]
      >>> u.op, u.fan_in, u.fan_out, u.after.name
      ('dot_general', 16.0, 64.0, 'relu')
    """
    kind = model_kind(model, params)
    label = f"{type(model).__name__} ({kind})" if kind != "function" else _name(model)
    dyn_args, rebuild_args = _split_dynamic((args, kwargs))
    try:
        call, tree, paths, keep = _prepare(model, kind, dyn_args, rebuild_args, params)
        leaves, treedef = jax.tree.flatten(tree)

        def run(flat_params, flat_args):
            return call(jax.tree.unflatten(treedef, flat_params), rebuild_args(flat_args))

        closed = jax.make_jaxpr(run)(leaves, dyn_args)
    except Exception as e:  # noqa: BLE001 - re-raised with the call it came from
        call_text = {"linen": f"{type(model).__name__}.init/apply(variables, ...)",
                     "nnx": f"{type(model).__name__}(...)", "equinox": f"{type(model).__name__}(...)",
                     "function": f"{_name(model)}(params, ...)"}[kind]
        text = (f"{_FN}(): calling {call_text} with args of shapes "
                f"{_describe_args(args, kwargs)} failed: <{type(e).__name__}: {e}>")
        try:
            wrapped = type(e)(text)
        except Exception:  # noqa: BLE001 - an exception type that takes other arguments
            wrapped = RuntimeError(text)
        raise wrapped from e
    return read(closed, paths, leaves, keep, len(dyn_args), label)


def read(closed: object, paths: list[str], leaves: list, keep: list[bool], n_args: int,
         label: str = "") -> Structure:
    """A :class:`Structure` from a closed jaxpr whose inputs are (params leaves, args)."""
    graph = _graph.Graph()
    invars = closed.jaxpr.invars
    inputs = [graph.new(v.aval) for v in invars]
    n_params = len(leaves)
    graph.outputs = _graph.flatten(closed, inputs, graph)
    leaf_ids = [k for k in range(n_params) if keep[k]]
    analysis = _walk.Analysis(graph, [inputs[k] for k in leaf_ids],
                              [tuple(int(d) for d in leaves[k].shape) for k in leaf_ids],
                              inputs[n_params:])
    analysis.run()
    analysis.afters()
    analysis.residuals()
    by_leaf: dict[int, list[_walk.RawUse]] = {}
    for use in analysis.uses:
        by_leaf.setdefault(use.leaf, []).append(use)
    out: dict[str, Use] = {}
    for j, k in enumerate(leaf_ids):
        path, leaf = paths[k], leaves[k]
        out[path] = _summarise(path, tuple(int(d) for d in leaf.shape),
                               np.dtype(leaf.dtype).name, by_leaf.get(j, []))
    return Structure(out, label)


_RANK = {"dot_general": 0, "conv": 0, "gather": 0, "scale": 1, "shift": 1, "other": 2}


def _one(path: str, shape: tuple[int, ...], dtype: str, raw: _walk.RawUse) -> Use:
    return Use(path, shape, dtype, raw.op, raw.fan_in, raw.fan_out, raw.in_axes, raw.out_axes,
               raw.batch_axes, raw.receptive, raw.offset, raw.mult, raw.after, raw.residual,
               raw.stream)


def _summarise(path: str, shape: tuple[int, ...], dtype: str, raws: list) -> Use:
    if not raws:
        return Use(path, shape, dtype, "unused")
    uses = [_one(path, shape, dtype, r) for r in raws]
    primary = min(range(len(uses)), key=lambda k: (_RANK[uses[k].op], k))
    main = uses[primary]

    def kind(u: Use):
        return (u.op, u.in_axes, u.out_axes, u.batch_axes)

    tied, seen = [], {kind(main)}
    for u in uses:
        if kind(u) not in seen:
            seen.add(kind(u))
            tied.append(u)
    all_uses = tuple(uses) if len(uses) > 1 else ()
    return Use(**{**{f: getattr(main, f) for f in main.__dataclass_fields__},
                  "tied": tuple(tied), "uses": all_uses})
