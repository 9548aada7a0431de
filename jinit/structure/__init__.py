r"""Fans, roles and layouts read from the model's own computation.

A parameter's fans and role are facts about how the model *uses* it, not about its name or
shape: a ``(heads, d_model, head_dim)`` einsum kernel has fan-in ``d_model``, a Flax
``DenseGeneral`` flattens its kernel before drawing it, a norm computing ``x * (1 + scale)``
wants ``scale = 0``, and an embedding may also be the output head. :func:`trace` traces a
model once, abstractly (``jax.make_jaxpr`` on ``jax.ShapeDtypeStruct``: no values, no
FLOPs), and returns a :class:`Structure`: for every parameter path a :class:`Use` —
``op``, ``fan_in``/``fan_out`` and the axes they come from, the convolution window, a
constant ``offset``, the elementwise function ``after`` it, whether it sits on a residual
branch, and whether it is ``tied`` to another use.

``structure=`` is accepted where a fan is decided (:func:`jinit.tree.init_tree`,
:func:`jinit.nnx.init`, :func:`jinit.equinox.init`, :func:`jinit.audit.check`): every
variance-scaling initializer left at its default axes is rebuilt with the axes the trace
read (:func:`fit`), so draws and audits agree with the computation. A recipe given a
structure is fitted to it (:meth:`jinit.recipes.Recipe.fit`: ``1 + scale`` norms, fans from
the trace, sizes checked), and :func:`jinit.mup.plan` takes ``structure=`` for its fan axes.

Without a structure every one of them asks :func:`guess` for the use a shape and layout
imply (the same :class:`Use`, marked ``source="shape"``), which says what the shape cannot
settle.

Values are watched here too, once for everyone above: ``capture(model, hook)`` hands each
linen or NNX submodule's output to a hook for one call (the audit's signal, LSUV,
``tree.rules_from``), ``layers(model, ...)`` finds the modules that own parameters (LSUV's
selection), and ``tapped(Program(...), hook)`` runs a model's program with every kernel's
pre-activation, before its bias, handed to a hook under the kernel's path (``jinit.auto``).
"""

from ._capture import Call as Call
from ._capture import Layer as Layer
from ._capture import capture as capture
from ._capture import layers as layers
from ._fit import AmbiguousFanWarning as AmbiguousFanWarning
from ._fit import ambiguous as ambiguous
from ._fit import fit as fit
from ._fit import fit_rules as fit_rules
from ._fit import warn_ambiguous as warn_ambiguous
from ._fit import warn_once as warn_once
from ._fit import warn_unfitted as warn_unfitted
from ._guess import EINSUMS as EINSUMS
from ._guess import flax_order as flax_order
from ._guess import guess as guess
from ._guess import guess_blocks as guess_blocks
from ._names import DEFAULT_LAYER as DEFAULT_LAYER
from ._names import DEFAULT_ROLES as DEFAULT_ROLES
from ._names import DEFAULT_STACK as DEFAULT_STACK
from ._program import Program as Program
from ._program import flat_params as flat_params
from ._program import read_layout as read_layout
from ._program import tapped as tapped
from ._trace import Structure as Structure
from ._trace import model_kind as model_kind
from ._trace import trace as trace
from ._use import After as After
from ._use import Use as Use

__all__ = ["After", "AmbiguousFanWarning", "Structure", "Use", "fit", "trace"]