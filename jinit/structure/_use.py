"""The record of how a model uses one parameter: :class:`Use`, and :class:`After`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Literal, get_args

from .. import _fans
from .._base import public

Op = Literal["dot_general", "conv", "gather", "scale", "shift", "other", "unused"]
OPS: tuple[str, ...] = get_args(Op)
Source = Literal["trace", "shape"]
Layout = Literal["flax", "torch", "equinox"]
LAYOUTS: tuple[str, ...] = get_args(Layout)
CONTRACTIONS = ("dot_general", "conv", "gather")


@public("jinit.structure")
@dataclasses.dataclass(frozen=True, eq=False)
class After:
    """The elementwise function a model applies to a parameter's output, up to the next
    contraction (bias additions skipped): a callable of one array, and a readable name.

    ``name`` is an activation name :func:`jinit.gain` knows (``'relu'``, ``'gelu'``,
    ``'gelu_tanh'``, ``'silu'``, ``'tanh'``, ``'identity'``, …) when the function equals it
    numerically on [-6, 6], ``'x*sigmoid(1.702x)'`` for the quick-GELU form, and otherwise
    ``'custom(<primitives>)'``. The callable re-evaluates the model's own primitives in the
    input's dtype at any shape, so ``jinit.gain(use.after)`` takes its gain by quadrature.
    """

    name: str
    fn: Callable = dataclasses.field(repr=False)
    primitives: tuple[str, ...] = ()

    def __call__(self, x):
        return self.fn(x)

    @property
    def __name__(self) -> str:  # read by jinit.gain for its labels
        return self.name

    def __repr__(self) -> str:
        return f"After({self.name!r})"

    def __hash__(self) -> int:
        return hash((self.name, self.fn))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, After) and (self.name, self.fn) == (other.name, other.fn)


def _identity(x):
    return x


IDENTITY = After("identity", _identity)


@public("jinit.structure")
@dataclasses.dataclass(frozen=True)
class Use:
    r"""How a model uses one parameter, read from its computation (or guessed from its shape).

    Axes are the parameter's *own* axes (after the model's reshapes, transposes and casts are
    undone), so ``jinit.compute_fans(use.shape, use.in_axes, use.out_axes, use.batch_axes)``
    gives ``(use.fan_in, use.fan_out)`` whenever :attr:`expressible`:

    * ``dot_general``: the contracting axes are ``in_axes``; axes the input, the kernel and
      the output share (stacked layers, experts, per-head weights) are ``batch_axes``, as is
      the leading axis of a ``lax.scan``-ned stack; the kernel's other axes are
      ``out_axes``. ``BTD,NDH->BTNH`` gives fan-in D and fan-out N·H.
    * ``conv``: ``conv_general_dilated``'s kernel spec gives the in- and out-feature axes and
      the spatial window (``receptive`` = its size); the in-feature axis already counts
      ``in / feature_group_count`` channels, so fan-in = ``in/groups · receptive``.
    * ``gather``: an embedding looked up by data-dependent indices: the indexed axis is
      ``in_axes`` (fan-in = the vocabulary), the others ``out_axes``.
    * ``scale``/``shift``: multiplied with / added to an activation elementwise (norm
      scales, biases, positional tables); no fans (``None``). ``offset`` is a constant the
      model adds first (``1.0`` for ``x * (1 + scale)``), ``multiplier`` a constant factor.
    * ``other``: used some other way; ``unused``: the traced call never reads it.

    ``after`` is the elementwise function applied to the output up to the next contraction
    (:class:`After`); ``residual`` says whether the output flows into an ``add`` with a value
    the use's input came from (a residual stream, numbered ``stream``); ``uses`` lists every
    use when there are several, and ``tied`` those of a different kind than this one (an
    embedding gathered and also used as the output head). ``source`` is ``"trace"`` for a
    record read from the computation and ``"shape"`` for a guess from the shape and layout
    (:func:`jinit.structure.guess`, :meth:`from_shape`); ``assumed`` is, for a guess, what
    its shape cannot settle (``None`` when it can, and for a traced record).
    """

    path: str
    shape: tuple[int, ...]
    dtype: str
    op: str
    fan_in: float | None = None
    fan_out: float | None = None
    in_axes: tuple[int, ...] = ()
    out_axes: tuple[int, ...] = ()
    batch_axes: tuple[int, ...] = ()
    receptive: int = 1
    offset: float = 0.0
    multiplier: float = 1.0
    after: After = IDENTITY
    residual: bool = False
    stream: int | None = None
    tied: tuple[Use, ...] = ()
    uses: tuple[Use, ...] = ()
    source: str = "trace"
    layout: str | None = None
    assumed: str | None = None

    @property
    def contraction(self) -> bool:
        """Whether the use is a contraction (``dot_general``, ``conv``, ``gather``)."""
        return self.op in CONTRACTIONS

    @property
    def axes(self) -> dict[str, tuple[int, ...]]:
        """``{'in_axis': ..., 'out_axis': ..., 'batch_axis': ...}`` for jinit's factories."""
        return {"in_axis": self.in_axes, "out_axis": self.out_axes, "batch_axis": self.batch_axes}

    @property
    def expressible(self) -> bool:
        """Whether the fans are ``compute_fans(shape, in_axes, out_axes, batch_axes)``: true
        for a contraction over whole axes; false e.g. for a slice of a fused kernel."""
        if not self.contraction or not self.in_axes or not self.out_axes:
            return False
        if set(self.in_axes) & set(self.out_axes) or set(self.batch_axes) & (
                set(self.in_axes) | set(self.out_axes)):
            return False
        try:
            got = _fans.fans("structure", self.shape, self.in_axes, self.out_axes, self.batch_axes)
        except (ValueError, TypeError):
            return False
        return got == (self.fan_in, self.fan_out)

    @classmethod
    def from_shape(cls, shape, layout: str = "flax", *, path: str = "", dtype: str = "float32"
                   ) -> Use:
        """Today's shape-based guess, made explicit and marked ``source="shape"``.

        ``layout="flax"`` (also Keras): a 2-D leaf is a Dense kernel ``(in, out)``, a rank
        ≥ 3 leaf a convolution ``(*window, in, out)`` (which a DenseGeneral or einsum kernel
        of the same rank is not: a guess). ``"torch"``/``"equinox"``: ``(out, in, *window)``.
        Rank < 2: a ``scale`` with no fans. These are jinit's defaults without a structure:
        :func:`jinit.structure.guess` with ``form="plain"``, which says in ``assumed`` what
        the shape cannot settle.

        Example:
          >>> from jinit.structure import Use
          >>> u = Use.from_shape((3, 3, 16, 32))
          >>> u.op, u.fan_in, u.fan_out, u.receptive, u.source
          ('conv', 144.0, 288.0, 9, 'shape')
        """
        from ._guess import make

        return make("structure.Use.from_shape", shape, layout, "plain", 0, path, dtype)
