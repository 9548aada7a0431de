"""Spec builders: the few distributions published recipes use, each with its std formula."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from .. import _basic, _checks, _constant, _sampling, _variance
from .. import presets as _presets
from .._base import Init
from .._fans import compute_fans
from .._typing import Array, KeyArray, OutSharding
from ..structure import EINSUMS, guess
from ._recipe import Leaf, Spec, split

# The roles whose kernels, in the Flax layout, are DenseGeneral projections: contracting
# their first axis (``(d, heads, head_dim)``, a fused MLP input ``(d, 2, d_ff)``) or every
# axis but the last (``(heads, head_dim, d)``); the shape alone cannot tell them apart.
_INPUT_ROLES = ("q", "k", "v", "qkv", "kv", "mlp_gate", "mlp_up")
_OUTPUT_ROLES = ("attn_out", "mlp_out")


def _module(path: str) -> str:
    parts = path.split("/")
    return parts[-2] if len(parts) >= 2 else ""


def fan_axes(leaf: Leaf) -> tuple[object, object, tuple[int, ...]]:
    """``(in_axis, out_axis, batch_axis)`` of a kernel, multi-axis kernels included.

    The axes come from the leaf's name, role and shape, not from the computation: they are
    a guess that holds for the layouts listed here, made by :func:`jinit.structure.guess`
    from what the name says. In the Flax layout (``layout="in_out"``), a DenseGeneral
    query/key/value kernel ``(d, heads, head_dim)`` or a fused MLP input kernel ``(d, 2,
    d_ff)`` contracts axis 0 and produces the rest (``form="input"``); an attention or MLP
    output kernel ``(heads, head_dim, d)`` contracts all but the last (``form="output"``).
    The einsum kernels of Flax's Gemma example are read by their module name
    (``form="einsum"``, :data:`jinit.structure.EINSUMS`): ``q_einsum`` ``(heads, d,
    head_dim)`` contracts axis 1; ``kv_einsum`` ``(2, kv_heads, d, head_dim)`` and
    ``qkv_einsum`` ``(3, heads, d, head_dim)`` contract axis 2 and stack their parts on
    axis 0 (a batch axis: each part's fans are its own); ``attn_vec_einsum`` ``(heads,
    head_dim, d)`` contracts axes 0 and 1. Any other kernel whose module name ends in
    ``einsum`` is refused when it has 3 or more axes: its layout is in its einsum string,
    which the path does not show. Every other kernel is ``(..., in, out)`` (Dense ``(in,
    out)``, conv HWIO). With ``layout="out_in"`` (PyTorch and Equinox ``weight``) a matrix
    is ``(out, in)``.

    A leaf named ``weight`` in the Flax layout is refused: that is PyTorch's and Equinox's
    name for an ``(out, in)`` matrix, whose fans would silently swap.

    All of the above is a guess. A leaf fitted to a traced model (:meth:`Recipe.fit`, or
    ``structure=`` in :func:`jinit.tree.init_tree`) whose use is a contraction over whole
    axes takes the traced ``in_axes``, ``out_axes`` and ``batch_axes`` instead, whatever its
    name, layout or rank.
    """
    traced = _traced_axes(leaf)
    if traced is not None:
        return traced
    rank = len(leaf.shape)
    if leaf.layout == "out_in":
        if rank != 2:
            raise ValueError(_checks.message(
                "recipes", "shape", leaf.shape, f"of leaf {leaf.path!r} has {rank} axes",
                "a 2-axis (out, in) weight with layout='out_in'"))
        return _arguments(guess(leaf.shape, "torch", path=leaf.path))
    if leaf.path.rsplit("/", 1)[-1] == "weight" and rank >= 2:
        raise ValueError(_checks.message(
            "recipes", "path", leaf.path, "names a 'weight', PyTorch's and Equinox's name for "
            "an (out, in) matrix, while this recipe computes fans in the Flax (in, out) layout",
            "a Flax 'kernel', or layout='out_in' for (out, in) weights",
            "Pass layout='out_in' to the recipe if this leaf is (out, in)."))
    module = _module(leaf.path)
    form = ("einsum" if leaf.kind == "weight" and module.lower().endswith("einsum")
            else "input" if leaf.role in _INPUT_ROLES
            else "output" if leaf.role in _OUTPUT_ROLES else "plain")
    use = guess(leaf.shape, form=form, path=leaf.path)
    if form == "einsum" and use.fan_in is None and module in EINSUMS:
        want, ins, _, _ = EINSUMS[module]
        raise ValueError(_checks.message(
            "recipes", "shape", leaf.shape, f"of einsum kernel {leaf.path!r} has {rank} "
            f"axes, while the fans of {module!r} are read from the layout of Flax's Gemma "
            f"example ({want} axes, contracting axes {ins})",
            f"a {want}-axis {module} kernel",
            "For a scanned stack (nnx.vmap, nn.scan) pass scan_axis=; for another "
            "layout give this role an initializer with explicit in_axis/out_axis "
            "through overrides={role: initializer}."))
    if form == "einsum" and use.fan_in is None:
        raise ValueError(_checks.message(
            "recipes", "path", leaf.path, f"is a {rank}-axis einsum kernel whose contracted "
            "axes are in its einsum string, not in its name or shape, and this recipe's std "
            "depends on its fans", "a kernel of a known layout (Dense, DenseGeneral, "
            + ", ".join(EINSUMS) + ")",
            "Give this role an initializer with explicit in_axis/out_axis through "
            "overrides={role: initializer}."))
    return _arguments(use)


def _arguments(use: object) -> tuple[object, object, tuple[int, ...]]:
    """A guessed use as a factory's ``(in_axis, out_axis, batch_axis)``: one axis as an
    int, and the last two axes as ``-2``/``-1`` the way the factories' defaults write
    them (``(-1, -2)`` for an ``(out, in)`` matrix); ``(-2, -1, ())`` when the guess has
    no fans (a leaf of fewer than 2 axes, which the factory then refuses itself)."""
    ins, outs, batch = use.in_axes, use.out_axes, tuple(use.batch_axes)
    if not ins or not outs:
        return -2, -1, ()
    rank = len(use.shape)
    if len(ins) == len(outs) == 1 and not batch and {ins[0], outs[0]} == {rank - 2, rank - 1}:
        return ins[0] - rank, outs[0] - rank, ()
    return (ins[0] if len(ins) == 1 else ins), (outs[0] if len(outs) == 1 else outs), batch


def _traced_axes(leaf: Leaf) -> tuple[object, object, tuple[int, ...]] | None:
    use = leaf.use
    if (use is None or use.op == "gather" or not use.expressible
            or tuple(use.shape) != tuple(leaf.shape)):
        return None

    def one(axes):
        return axes[0] if len(axes) == 1 else tuple(axes)

    return one(use.in_axes), one(use.out_axes), tuple(use.batch_axes)


def fans(leaf: Leaf) -> tuple[float, float]:
    if len(leaf.shape) < 2:
        return float(leaf.shape[0]) if leaf.shape else 1.0, 1.0
    in_axis, out_axis, batch = fan_axes(leaf)
    return compute_fans(leaf.shape, in_axis=in_axis, out_axis=out_axis, batch_axis=batch)


def normal(std: float | Callable[[int | None], float], formula: str, *,
           per_layer: bool = False, fan_in: float | None = None) -> Spec:
    """N(0, σ²) with σ a constant or a function of the layer index (computed for a fan-in
    of ``fan_in``, when it depends on one)."""
    sd = std if callable(std) else (lambda layer, s=float(std): s)
    return Spec("normal", formula, lambda leaf: _basic.normal(sd(leaf.layer)), sd,
                per_layer=per_layer, fan_in=fan_in)


def truncated(std: float | Callable[[int | None], float], cutoff: float, formula: str, *,
              per_layer: bool = False, fan_in: float | None = None) -> Spec:
    """N(0, σ²) truncated to ±cutoff·σ (PyTorch ``trunc_normal_(std=σ, a=-cσ, b=cσ)``).

    σ is the standard deviation before truncation, as in PyTorch; the result's standard
    deviation is σ·τ(c) with τ(3) = 0.98658.
    """
    sd = std if callable(std) else (lambda layer, s=float(std): s)
    return Spec(f"truncated_normal(±{cutoff:g}σ)", formula,
                lambda leaf: _basic.truncated_normal(sd(leaf.layer), lower=-cutoff, upper=cutoff),
                sd, per_layer=per_layer, fan_in=fan_in)


def torch_trunc(std: float | Callable[[int | None], float], a: float, b: float, formula: str,
                *, per_layer: bool = False) -> Spec:
    """PyTorch ``trunc_normal_(std=σ, a, b)`` with **absolute** bounds."""
    sd = std if callable(std) else (lambda layer, s=float(std): s)
    return Spec(f"torch_trunc_normal(a={a:g}, b={b:g})", formula,
                lambda leaf: _presets.torch_trunc_normal(std=sd(leaf.layer), a=a, b=b), sd,
                per_layer=per_layer)


def fan_in_truncated(cutoff: float, formula: str, value: float,
                     factor: Callable[[int | None], float] = lambda layer: 1.0, *,
                     per_layer: bool = False, fan_in: float | None = None) -> Spec:
    """σ = factor(layer)/√fan_in, truncated to ±cutoff·σ (OLMo's "mitchell")."""

    def make(leaf: Leaf):
        fan_in, _ = fans(leaf)
        std = factor(leaf.layer) / math.sqrt(fan_in)
        return _basic.truncated_normal(std, lower=-cutoff, upper=cutoff)

    return Spec(f"truncated_normal(±{cutoff:g}σ)", formula, make,
                lambda layer: value * factor(layer), per_layer=per_layer, fan_in=fan_in,
                fans=True)


def variance_scaling(scale: float, mode: str, distribution: str, formula: str,
                     value: float, *, fan_in: float | None = None) -> Spec:
    """``jinit.variance_scaling`` with the recipe's multi-axis fans."""

    def make(leaf: Leaf):
        in_axis, out_axis, batch = fan_axes(leaf)
        return _variance.variance_scaling(scale, mode, distribution, in_axis=in_axis,
                                          out_axis=out_axis, batch_axis=batch)

    return Spec(f"variance_scaling({scale:g}, {mode!r}, {distribution!r})", formula, make,
                lambda layer: value, fan_in=fan_in, fans=True)


def xavier(distribution: str, gain: float, formula: str, value: float, *,
           fused: int = 1) -> Spec:
    """Glorot/Xavier with gain: Var = gain²·2/(fan_in + fan_out) (PyTorch ``xavier_*_(gain)``).

    ``fused=3`` treats a fused QKV kernel as three matrices (fan_out of one third).
    """

    def one(leaf: Leaf):
        in_axis, out_axis, batch = fan_axes(leaf)
        return _variance.variance_scaling(gain * gain, "fan_avg", distribution,
                                          in_axis=in_axis, out_axis=out_axis, batch_axis=batch)

    def make(leaf: Leaf):
        if fused == 1:
            return one(leaf)
        return split(f"xavier_{distribution}(fused={fused})", -1, [one(leaf)] * fused)

    name = f"xavier_{distribution}" + (f"(gain={gain:.4g})" if gain != 1 else "")
    return Spec(name, formula, make, lambda layer: value, fans=True)


def lecun_normal(formula: str, value: float) -> Spec:
    return Spec("lecun_normal", formula, lambda leaf: _variance.lecun_normal(),
                lambda layer: value)


def zeros(formula: str = "0") -> Spec:
    return Spec("zeros", formula, lambda leaf: _constant.zeros, lambda layer: None)


def ones(formula: str = "1") -> Spec:
    return Spec("ones", formula, lambda leaf: _constant.ones, lambda layer: None)


def constant(value: float, formula: str) -> Spec:
    return Spec(f"constant({value:g})", formula, lambda leaf: _constant.constant(value),
                lambda layer: None)


def _unit_vectors(key: KeyArray, shape: tuple[int, ...], axes: tuple[int, ...],
                  cutoff: float | None, dt: np.dtype) -> Array:
    """The draw of :class:`UnitNorm`, as a 2-D ``(…, shape[-1])`` view (for ``on_one_device``)."""
    cdt = np.dtype(np.float64 if dt == np.float64 else np.float32)
    if cutoff is None:
        z = _sampling.normal(key, shape, cdt, 1.0)
    else:
        z = _sampling.truncated_normal(key, -cutoff, cutoff, shape, cdt, 1.0)
    w = (z / jnp.sqrt(jnp.sum(z * z, axis=axes, keepdims=True))).astype(dt)
    return w.reshape(math.prod(shape[:-1]), shape[-1])


class UnitNorm(Init):
    r"""A Gaussian draw L2-normalized along ``unit_axes``: every vector along them has norm 1.

    .. math::

        w = \frac{z}{\lVert z \rVert_{\text{axes}}}, \qquad z_i \overset{iid}{\sim}
        \mathcal{N}(0, 1) \text{ (truncated to } \pm c \text{ when a cutoff is given)},

    nGPT's weights on the unit hypersphere (Loshchilov et al. 2024, "nGPT: Normalized
    Transformer with Representation Learning on the Hypersphere", arXiv:2410.01131, §2). The
    draw's scale cancels, so σ is not a parameter; a cutoff :math:`\pm c\sigma` is relative
    and stays. Without a cutoff each vector is uniform on the sphere; with one it is the
    normalized truncated draw OLMo-core makes. Either way each coordinate has mean 0 and
    variance exactly :math:`1/n` (:math:`n` the vector's length: the squares of exchangeable
    coordinates sum to 1). Drawn and normalized in float32 (float64 for float64) and rounded
    once. A norm's sum would run in another order on a sharded axis, so the leaf is computed
    on one device and its bits broadcast (as orthogonal matrices are): the values are the same
    on any sharding. The audit checks every vector's norm and compares the values with a fresh
    draw.
    """

    __slots__ = ("unit_axes",)

    def axes_for(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """``unit_axes`` as sorted non-negative axes of ``shape`` (the draw's and the audit's)."""
        return tuple(sorted(a % len(shape) for a in self.unit_axes))

    def __init__(self, axes: tuple[int, ...], cutoff: float | None):
        def body(key: KeyArray, shape: tuple[int, ...], dt: np.dtype,
                 out_sharding: OutSharding) -> Array:
            ax = self.axes_for(shape)
            w = _sampling.on_one_device(_unit_vectors, key, shape, ax, cutoff, dt)
            return _sampling.place(w.reshape(shape), out_sharding)

        def check(shape: tuple[int, ...], dt: np.dtype) -> None:
            if not all(-len(shape) <= a < len(shape) for a in axes):
                raise ValueError(_checks.message(
                    "recipes.unit_norm", "shape", shape, f"has no axes {axes}",
                    f"an array of at least {max(a if a >= 0 else -a - 1 for a in axes) + 1} axes"))

        object.__setattr__(self, "unit_axes", axes)
        super().__init__("recipes.unit_norm", body, {"axes": axes, "cutoff": cutoff}, None,
                         complex_ok=False, check=check)


def unit_norm(cutoff: float | None, formula: str, *, over: str) -> Spec:
    """nGPT's unit-norm vectors, normalized over a leaf's input axes (``over="in"``), its
    output axes (``"out"``) or its last axis (``"last"``: an embedding row)."""

    def make(leaf: Leaf):
        if over == "last":
            axes: object = -1
        else:
            in_axis, out_axis, _ = fan_axes(leaf)
            axes = in_axis if over == "in" else out_axis
        axes = tuple(axes) if isinstance(axes, tuple) else (axes,)
        return UnitNorm(axes, cutoff)

    name = "unit_norm" + (f"(±{cutoff:g}σ)" if cutoff is not None else "")
    return Spec(name, formula, make, lambda layer: "1/√n (unit vectors)", fans=over != "last")
