"""An elementwise chain as a function, and its name.

The operations that follow a use's output up to the next contraction (:mod:`._walk` finds
them) are replayed as a jax function of one array, so :func:`jinit.gain` can take the chain's
gain by quadrature, and named by comparing it on a grid with every activation jinit names.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .. import _activations

# Layout-only primitives passed through inside a chain (the value itself, moved or cast).
PASS_IN_CHAIN = frozenset("convert_element_type copy copy_p reduce_precision "
                          "sharding_constraint pvary reshape transpose squeeze "
                          "broadcast_in_dim expand_dims".split())



def bind(primitive, params: dict, args: list):
    """``primitive.bind`` as ``jax.core.eval_jaxpr`` calls it (across jax versions)."""
    bound = primitive.get_bind_params(params)
    if isinstance(bound, tuple):  # older jax: (subfuns, params)
        subfuns, bound = bound
        return primitive.bind(*subfuns, *args, **bound)
    return primitive.bind(*args, **bound)


def chain_fn(v0: int, end: int, program: list):
    def fn(x):
        x = jnp.asarray(x)
        work = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.float32
        env = {v0: x.astype(work)}
        for node, specs in program:
            vals, chain_pos = [], None
            for k, s in enumerate(specs):
                if s[0] == "v":
                    vals.append(env[s[1]])
                    chain_pos = k if chain_pos is None else chain_pos
                elif s[0] == "c":
                    dt = np.dtype(s[2]) if s[2] is not None else np.dtype(np.float32)
                    vals.append(jnp.asarray(s[1], work if np.issubdtype(dt, np.inexact) else dt))
                else:
                    vals.append(None)
            prim = node.prim
            if prim in PASS_IN_CHAIN:
                if prim == "convert_element_type" and not np.issubdtype(
                        np.dtype(node.params["new_dtype"]), np.inexact):
                    out = vals[0].astype(node.params["new_dtype"])
                elif prim == "convert_element_type" and not jnp.issubdtype(vals[0].dtype,
                                                                           jnp.inexact):
                    out = vals[0].astype(work)
                else:
                    out = vals[0]
            elif any(v is None for v in vals):  # a bias added: skipped
                out = vals[chain_pos]
                if prim == "sub" and chain_pos == 1:
                    out = -out
            else:
                vals = list(jnp.broadcast_arrays(*vals))
                out = bind(node.primitive, node.params, vals)
            env[node.outs[0]] = out
        return env[end]

    return fn


def _table():
    """(name, float64 numpy function) for every activation jinit names, quick-GELU too."""
    rows = [(("identity" if name == "linear" else name), fn)
            for name, fn in _activations.reference_functions().items()]
    rows.append(("x*sigmoid(1.702x)", lambda x: x * _activations.logistic(1.702 * x)))
    return rows


def name(fn, prims: tuple[str, ...]) -> str:
    """The activation's name: the table entry equal to ``fn`` on [-6, 6] in float64."""
    grid = np.linspace(-6.0, 6.0, 241)
    try:
        with jax.enable_x64(True):
            y = np.asarray(jax.jit(fn)(jnp.asarray(grid, jnp.float64)), np.float64)
        for name, ref in _table():
            want = np.asarray(ref(grid), np.float64)
            if y.shape == want.shape and np.all(np.abs(y - want) <= 1e-5 * (1 + np.abs(want))):
                return name
        slope = y[-1] / grid[-1]
        if y.shape == grid.shape and np.allclose(y, slope * grid, rtol=1e-6, atol=1e-12):
            return f"{slope:.6g}*x"
    except Exception:  # noqa: BLE001 - unnamed: described by its primitives
        pass
    shown = ", ".join(dict.fromkeys(prims))
    return f"custom({shown})"
