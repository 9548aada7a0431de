r"""The use a parameter's shape and layout imply when no trace is at hand: :func:`guess`.

Every place that decides fans without a traced :class:`~jinit.structure.Structure` asks
:func:`guess` (the recipes' fan axes, :func:`jinit.mup.plan` and
:func:`jinit.mup.unit.plan`, the Equinox layouts, the ambiguity warning), so a layout
convention is written once, here. What the caller read from names (a recipe's role, Flax
attention's module names, an Equinox layer's field) it passes as a ``layout`` and a
``form``; what the shape alone cannot settle the returned :class:`Use` says in
``assumed``. A traced use, where there is one, is read instead. :func:`guess_blocks` is
the one place residual blocks are counted from parameter names (μP's depth).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Literal, get_args

from .. import _checks, _fans
from ._use import LAYOUTS, Use

Form = Literal["plain", "input", "output", "einsum", "bias"]
FORMS: tuple[str, ...] = get_args(Form)

# Einsum kernels of Flax's Gemma example (google/flax at commit 18f8f31,
# ``examples/gemma/modules.py``: ``Attention.__init__``, ``nnx.Einsum``), by module name:
# the rank, the contracted (input) axes, the produced (output) axes and the stacking axis
# of fused kernels (``S``/``C``: one matrix per part, not an output axis).
EINSUMS: dict[str, tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    "q_einsum": (3, (1,), (0, 2), ()),              # 'BTD,NDH->BTNH', (heads, d, head_dim)
    "kv_einsum": (4, (2,), (1, 3), (0,)),           # 'BTD,CKDH->CBTKH', (2, kv_heads, d, hd)
    "qkv_einsum": (4, (2,), (1, 3), (0,)),          # 'BTD,SNDH->SBTNH', (3, heads, d, hd)
    "attn_vec_einsum": (3, (0, 1), (2,), ()),       # 'BTNH,NHD->BTD', (heads, head_dim, d)
}

MAX_WINDOW = 7
"""The largest convolution window side a shape is taken to show (7×7, ResNet's stem)."""


def looks_like_conv(shape: tuple[int, ...]) -> bool:
    """A guess from the shape: a small, square window (sides at most :data:`MAX_WINDOW`)
    before ``(in, out)``."""
    window = shape[:-2]
    return all(d <= MAX_WINDOW for d in window) and len(set(window)) == 1


def _module(path: str) -> str:
    parts = path.split("/")
    return parts[-2] if len(parts) >= 2 else ""


def guess(shape, layout: str = "flax", *, form: str = "plain", stacked: int = 0,
          path: str = "", dtype: str = "float32") -> Use:
    r"""The use a parameter's shape and layout imply when no trace is at hand.

    A :class:`Use` marked ``source="shape"``, with the fans
    ``jinit.compute_fans(shape, in_axes, out_axes, batch_axes)``. ``layout`` is the
    framework's convention and ``form`` what the caller read from the parameter's name:

    * ``"plain"``: ``layout="flax"`` (also Keras) reads a 2-axis leaf as a Dense kernel
      ``(in, out)`` and a longer one as a convolution HWIO ``(*window, in, out)``;
      ``"torch"``/``"equinox"`` read ``(out, in, *window)`` (PyTorch OIHW).
    * ``"input"``: a DenseGeneral kernel that contracts its first axis, ``(in, *features)``
      (a query/key/value projection ``(d_model, heads, head_dim)``, a fused MLP input
      ``(d, 2, d_ff)``).
    * ``"output"``: a DenseGeneral kernel that contracts every axis but the last,
      ``(*contracted, out)`` (an attention output ``(heads, head_dim, d_model)``).
    * ``"einsum"``: an einsum kernel, read by the module name in ``path`` from the layouts
      of Flax's Gemma example (:data:`EINSUMS`: ``q_einsum`` ``(heads, d, head_dim)``
      contracts axis 1; ``kv_einsum``/``qkv_einsum`` ``(parts, heads, d, head_dim)``
      contract axis 2 and stack their parts on axis 0, a batch axis;
      ``attn_vec_einsum`` ``(heads, head_dim, d)`` contracts axes 0 and 1). Any other
      einsum kernel of 3 or more axes gets no fans: its contracted axes are in its einsum
      string, which neither its name nor its shape shows. A 2-axis one is ``"plain"``.
    * ``"bias"``: every axis is a feature (a projection's bias ``(heads, head_dim)``):
      ``op="shift"``, no in-axes, no fans.

    The first ``stacked`` axes are a scanned stack's layers (``nn.scan``, ``nnx.vmap``):
    ``batch_axes``, and the form applies to the axes after them. A leaf of fewer than two
    axes (after them) is a ``"scale"`` without fans.

    ``assumed`` says what the shape cannot settle, and is ``None`` when it can: a plain
    Flax leaf of 3 or more axes whose window is not small and square (a DenseGeneral or
    einsum kernel, stacked layers or per-head weights would be read as a convolution), or
    an einsum kernel given no fans. Callers warn about the first
    (:class:`AmbiguousFanWarning`) and refuse the second.

    Args:
      shape: the parameter's shape.
      layout: ``"flax"``, ``"torch"`` or ``"equinox"``.
      form: ``"plain"``, ``"input"``, ``"output"``, ``"einsum"`` or ``"bias"`` (the last
        four in the Flax layout).
      stacked: the number of leading axes that index scanned layers.
      path: the parameter's path (:func:`jinit.tree.path_str`); ``"einsum"`` reads it.
      dtype: recorded in the :class:`Use`.

    Returns:
      A :class:`Use` with ``source="shape"``.

    Raises:
      ValueError: a bad shape, layout, form or ``stacked``.

    Example:
      >>> from jinit.structure import guess
      >>> u = guess((8, 64, 32), form="einsum", path="attn/q_einsum/w")
      >>> u.in_axes, u.out_axes, u.fan_in, u.fan_out
      ((1,), (0, 2), 64.0, 256.0)
      >>> print(guess((8, 64, 32), form="einsum", path="attn/my_einsum/w").fan_in)
      None
    """
    return make("structure.guess", shape, layout, form, stacked, path, dtype)


def make(fn: str, shape, layout: str, form: str, stacked: int, path: str, dtype: str) -> Use:
    """:func:`guess`, with errors naming ``fn``."""
    shape = _checks.shape(fn, shape)
    _checks.choice(fn, "layout", layout, LAYOUTS)
    _checks.choice(fn, "form", form, FORMS)
    stacked = _checks.integer(fn, "stacked", stacked, minimum=0)
    if stacked > len(shape):
        raise _checks.fail(fn, "stacked", stacked, f"is more than the {len(shape)} axes of "
                           f"shape={shape}", f"at most {len(shape)}")
    if form != "plain" and layout != "flax":
        raise _checks.fail(fn, "form", form, f"is not a form of layout={layout!r}",
                           "'plain' for the (out, in, *window) layouts")
    core = shape[stacked:]
    rank = len(core)
    batch = tuple(range(stacked))

    def use(op: str, ins: tuple[int, ...] = (), outs: tuple[int, ...] = (),
            more: tuple[int, ...] = (), assumed: str | None = None, fans: bool = True) -> Use:
        ins = tuple(a + stacked for a in ins)
        outs = tuple(a + stacked for a in outs)
        axes = batch + tuple(a + stacked for a in more)
        fan_in = fan_out = None
        if fans and ins and outs:
            fan_in, fan_out = _fans.fans(fn, shape, ins, outs, axes)
        receptive = math.prod(d for k, d in enumerate(shape) if k not in {*ins, *outs, *axes})
        return Use(path, shape, str(dtype), op, fan_in, fan_out, ins, outs, axes,
                   receptive if ins and outs else 1, source="shape", layout=layout,
                   assumed=assumed)

    if form == "bias":
        return use("shift", (), tuple(range(rank)), fans=False)
    if form == "einsum":
        module = _module(path)
        if module in EINSUMS:
            want, ins, outs, more = EINSUMS[module]
            if rank == want:
                return use("dot_general", ins, outs, more)
            return use("dot_general", assumed=(
                f"an einsum kernel {module!r} of {rank} axes, while Flax's Gemma example's "
                f"has {want}: which axes it contracts is in its einsum string"))
        if rank >= 3:
            return use("dot_general", assumed=(
                "an einsum kernel: which axes it contracts is in its einsum string, "
                "not in its name or shape"))
    if rank < 2:
        return use("scale")
    if form == "input":
        return use("dot_general", (0,), tuple(range(1, rank)))
    if form == "output":
        return use("dot_general", tuple(range(rank - 1)), (rank - 1,))
    op = "dot_general" if rank == 2 else "conv"
    if layout != "flax":
        return use(op, (1,), (0,))
    doubt = None if rank == 2 or looks_like_conv(core) else (
        "the last two axes are (in, out) and the others a convolution window, which a "
        "DenseGeneral or einsum kernel, stacked layers or per-head weights are not")
    return use(op, (rank - 2,), (rank - 1,), assumed=doubt)


def flax_order(use: Use) -> tuple[int, ...]:
    """The parameter's axes in the order jax's default fan axes read: batch, window, in,
    out (a permutation; ``jnp.transpose(w, flax_order(use))`` is the Flax-layout view)."""
    named = (*use.batch_axes, *use.in_axes, *use.out_axes)
    window = tuple(k for k in range(len(use.shape)) if k not in named)
    return (*use.batch_axes, *window, *use.in_axes, *use.out_axes)


# ---------------------------------------------------------------- residual blocks by name

_NAMED_INDEX = re.compile(r"([A-Za-z][A-Za-z0-9]*?)_(\d+)")


def _block_index(name: str) -> tuple[str, int, str] | None:
    """``(family, index, template)`` when a path runs through a numbered residual block.

    A block is a path component that is a sequence index (``layers/3/...``), or a numbered
    module (linen's ``Block_3``, ``layers_3``) with a submodule below it, so a plain MLP's
    ``Dense_1/kernel`` is not one. The template replaces the index by ``*``.
    """
    parts = name.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit():
            family, index = "/".join(parts[:i]), int(part)
            rest = "*"
        else:
            m = _NAMED_INDEX.fullmatch(part)
            if not m or len(parts) - i < 3:
                continue
            family, index = "/".join(parts[:i] + [m.group(1) + "_"]), int(m.group(2))
            rest = m.group(1) + "_*"
        return family, index, "/".join(parts[:i] + [rest] + parts[i + 1:])
    return None


def guess_blocks(paths: Sequence[str]) -> tuple[str | None, dict[str, str], int]:
    """The residual blocks the parameter paths name: ``(family, {path: template}, depth)``.

    A guess from names alone (no trace says which sums are residual). A block is a path
    part that is a sequence index (``layers/3/...``) or a numbered module with a submodule
    below it (linen's ``Block_3/Dense_0/kernel``; a plain MLP's ``Dense_1/kernel`` is not
    one). Returned: the family with the most numbered blocks, the template of each of its
    paths (the index replaced by ``*``) and the number of blocks; ``(None, {}, 0)`` when no path runs through a numbered block.
    :func:`jinit.mup.plan` and :func:`jinit.mup.unit.plan` count depth this way unless
    ``depth=`` is given.
    """
    found = {n: b for n in paths if (b := _block_index(n)) is not None}
    if not found:
        return None, {}, 0
    counts = Counter()
    for fam in {f for f, _, _ in found.values()}:
        counts[fam] = len({i for f, i, _ in found.values() if f == fam})
    family, depth = counts.most_common(1)[0]
    return family, {n: t for n, (f, _, t) in found.items() if f == family}, depth
