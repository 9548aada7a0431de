"""Flax linen: a model's own initializer declarations, as rules for ``init_tree``.

A ``flax.linen`` module declares its initializers as dataclass fields (``kernel_init``,
``bias_init``, ``embedding_init`` …). :func:`jinit.tree.rules_from` (defined here, documented
with :mod:`jinit.tree`) traces the model abstractly and turns every field into a rule keyed by
the exact path of the parameter it draws, so ``jinit.tree.init_tree`` draws each leaf from the
distribution the model declares. Two Flax conventions need a wrapper around the declared
initializer, and both are public so that other tools (:mod:`jinit.audit`) can see through
them:

* :class:`Flattened`: ``DenseGeneral`` draws its kernel on a flattened 2-D shape and
  reshapes it, so its fans are those of the 2-D matrix;
* :class:`Unboxed`: an initializer wrapped by ``nn.with_partitioning`` returns a boxed
  array; the wrapper returns the plain array (``init_tree`` keeps the box from the abstract
  tree).

Importing this module needs only jax and numpy; :func:`jinit.tree.rules_from` imports Flax
when it is called (``pip install "jinit[flax]"``).

References:
  Flax, ``flax/linen/linear.py`` (the ``*_init`` fields of ``Dense``, ``DenseGeneral``,
  ``Conv``, ``Embed``; ``DenseGeneral.__call__.kernel_init_wrap``), ``flax/core/meta.py``
  (``with_partitioning``) (google/flax).

Example:
  >>> import jax, jax.numpy as jnp, flax.linen as nn, jinit
  >>> model = nn.DenseGeneral((4, 8), kernel_init=jinit.lecun_normal())
  >>> rules = jinit.tree.rules_from(model, jnp.ones((1, 16)))
  >>> isinstance(rules["^params/kernel$"], jinit.linen.Flattened)
  True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from . import _checks, structure
from ._base import public
from ._typing import Array, KeyArray

__all__ = ["Flattened", "Unboxed"]


class Flattened:
    """An initializer drawn on ``DenseGeneral``'s flattened kernel, then reshaped.

    ``DenseGeneral`` hands its ``kernel_init`` the 2-D shape
    ``(prod(batch and contracted axes), prod(feature axes))`` and reshapes the draw to the
    kernel's shape, so the fans are those of that matrix. ``Flattened(init, n_features)``
    does the same for a kernel whose last ``n_features`` axes are the feature axes.

    Args:
      init: the declared initializer, ``init(key, shape, dtype)``.
      n_features: how many trailing axes of the kernel are feature axes (``>= 1``).

    Attributes:
      init: the wrapped initializer.
      n_features: the number of trailing feature axes.

    References:
      Flax, ``flax/linen/linear.py``, ``DenseGeneral.__call__.kernel_init_wrap``
      (google/flax).

    Example:
      >>> import jax, jinit
      >>> init = jinit.linen.Flattened(jinit.lecun_normal(), n_features=2)
      >>> w = init(jax.random.key(0), (16, 4, 8))
      >>> w.shape
      (16, 4, 8)
      >>> flat = jinit.lecun_normal()(jax.random.key(0), (16, 32))
      >>> bool((w == flat.reshape(16, 4, 8)).all())
      True
    """

    __slots__ = ("init", "n_features")

    def __init__(self, init: Callable[..., Array], n_features: int):
        self.init, self.n_features = init, n_features

    def __call__(self, key: KeyArray, shape: Any, dtype: Any = None) -> Array:
        shape = tuple(shape)
        flat = (int(np.prod(shape[:-self.n_features])), int(np.prod(shape[-self.n_features:])))
        return self.init(key, flat, dtype).reshape(shape)

    def __repr__(self) -> str:
        return f"{self.init!r} (on the flattened DenseGeneral kernel)"


class Unboxed:
    """An initializer wrapped by ``nn.with_partitioning``, returning the plain array.

    ``nn.with_partitioning(init, names)`` returns an initializer whose arrays come boxed
    with their partitioning names. ``Unboxed(boxed)`` returns the array inside the box
    (anything without an ``unbox`` method is returned as it is); ``init_tree`` keeps the box
    of the abstract tree, so the names are not lost. Its ``repr`` is the declared
    initializer's.

    Args:
      init: the boxed initializer, ``init(key, shape, dtype)``.

    Attributes:
      init: the wrapped initializer.

    References:
      Flax, ``flax/core/meta.py`` (``with_partitioning``, ``Partitioned.unbox``)
      (google/flax).

    Example:
      >>> import jax, flax.linen as nn, jinit
      >>> boxed = nn.with_partitioning(jinit.he_normal(), (None, "model"))
      >>> type(boxed(jax.random.key(0), (8, 4))).__name__
      'Partitioned'
      >>> w = jinit.linen.Unboxed(boxed)(jax.random.key(0), (8, 4))
      >>> type(w).__name__, w.shape
      ('ArrayImpl', (8, 4))
      >>> jinit.linen.Unboxed(boxed)
      jinit.he_normal(...)
    """

    __slots__ = ("init",)

    def __init__(self, init: Callable[..., object]):
        self.init = init

    def __call__(self, key: KeyArray, shape: Any, dtype: Any = None) -> Array:
        out = self.init(key, shape, dtype)
        unbox = getattr(out, "unbox", None)
        return unbox() if callable(unbox) else out

    def __repr__(self) -> str:
        return repr(getattr(self.init, "__wrapped__", self.init))


@public("jinit.tree")  # documented with init_tree, where users look for it
def rules_from(model: Any, *inputs: Any, method: Any = None, **init_kwargs: Any
               ) -> dict[str, Callable[..., Array]]:
    r"""The initializers a ``flax.linen`` model declares, as rules keyed by exact paths.

    Traces ``model.init(key, *inputs)`` abstractly (nothing is allocated), finds every
    submodule that is called, and for each of its dataclass fields named ``<name>_init``
    (``kernel_init``, ``bias_init``, ``embedding_init``, ``scale_init``,
    ``recurrent_kernel_init``, …) holding a callable, and each parameter ``<name>`` that
    submodule owns directly, gives the rule

    .. math::

        \texttt{^params/}\langle\text{module path}\rangle\texttt{/}\langle name\rangle
        \texttt{\$} \;\mapsto\; \langle name\rangle\texttt{_init},

    so ``jinit.tree.init_tree(key, shapes, rules_from(model, x))`` draws every such leaf
    from the distribution the model declares, as ``model.init`` would (the values differ,
    since keys are derived per path). Two Flax conventions are reproduced: a
    ``DenseGeneral`` kernel (also inside ``MultiHeadDotProductAttention``) is drawn on its
    flattened 2-D shape and reshaped, as Flax does, so its fans are Flax's; an initializer
    wrapped by ``nn.with_partitioning`` is unwrapped (``init_tree`` keeps the box).

    Parameters a module creates with an initializer that is not a ``*_init`` field
    (``self.param('w', some_fn, shape)``) get no rule: add one, or ``init_tree`` names the
    leaf. The keys are exact paths: to override a leaf, assign its key
    (``rules['^params/Dense_0/kernel$'] = jinit.zeros``); a broader pattern placed before it
    would leave the declared rule matching nothing, which ``init_tree`` reports.

    Args:
      model: a ``flax.linen.Module``.
      *inputs: the inputs ``model.init`` takes (arrays or ``jax.ShapeDtypeStruct``).
      method: passed to ``model.init``.
      **init_kwargs: other keyword arguments for ``model.init`` (e.g. ``train=False``).

    Returns:
      ``{regex: initializer}``, in the order the modules were called.

    Raises:
      TypeError: ``model`` is not a ``flax.linen.Module``.

    References:
      Flax, ``flax/linen/linear.py`` (the ``*_init`` fields of ``Dense``, ``DenseGeneral``,
      ``Conv``, ``Embed``; ``DenseGeneral``'s flattening), ``flax/core/meta.py``
      (``with_partitioning``) (google/flax).

    Example:
      >>> import jax, jax.numpy as jnp, flax.linen as nn, jinit
      >>> model = nn.Sequential([nn.Dense(64, kernel_init=jinit.he_normal()), nn.relu,
      ...                        nn.Dense(10)])
      >>> x = jnp.ones((1, 32))
      >>> rules = jinit.tree.rules_from(model, x)
      >>> list(rules)
      ['^params/layers_0/kernel$', '^params/layers_0/bias$', '^params/layers_2/kernel$', '^params/layers_2/bias$']
      >>> shapes = jax.eval_shape(model.init, jax.random.key(0), x)
      >>> params = jinit.tree.init_tree(jax.random.key(1), shapes, rules)
      >>> params["params"]["layers_0"]["kernel"].shape
      (32, 64)
    """
    import flax.linen as nn

    fn = "tree.rules_from"
    if not isinstance(model, nn.Module):
        raise _checks.fail(fn, "model", model, "is not a flax.linen.Module",
                           "a linen module (for nnx use jinit.nnx.init)", exc=TypeError)
    kwargs = dict(init_kwargs)
    if method is not None:
        kwargs["method"] = method
    with structure.capture(model) as calls:
        variables = jax.eval_shape(lambda k: model.init(k, *inputs, **kwargs),
                                   jax.random.key(0))
    seen: dict[tuple[str, ...], Any] = {}
    for call in calls:
        seen.setdefault(tuple(call.module.path), call.module)
    params = variables.get("params", {})
    wrapped: dict[tuple[int, int], Callable[..., Array]] = {}  # one object per initializer
    rules: dict[str, Callable[..., Array]] = {}
    for path, module in seen.items():
        own = params
        for part in path:
            own = own.get(part, {}) if hasattr(own, "get") else {}
        if not hasattr(own, "keys"):
            continue
        for field in getattr(module, "__dataclass_fields__", {}):
            if not field.endswith("_init") or field[:-5] not in own:
                continue
            declared = getattr(module, field)
            if not callable(declared):
                continue
            n_features = 0
            if isinstance(module, nn.DenseGeneral) and field == "kernel_init":
                features = module.features
                n_features = len(features) if isinstance(features, (tuple, list)) else 1
            slot = (id(declared), n_features)
            init = wrapped.get(slot)
            if init is None:
                init = Unboxed(declared) if hasattr(declared, "__wrapped__") else declared
                if n_features:
                    init = Flattened(init, n_features)
                wrapped[slot] = init
            pattern = "^" + "/".join(re.escape(p) for p in ("params", *path, field[:-5])) + "$"
            rules[pattern] = init
    return rules
