r"""jinit initializers as Keras 3 initializers, on the JAX backend.

``jinit.keras.Initializer(jinit.he_normal())`` is a ``keras.initializers.Initializer``: pass
it as ``kernel_initializer=`` to any Keras layer. Keras's layouts are jinit's defaults
(``Dense`` kernels ``(in, out)``, ``Conv`` kernels ``(*kernel, in, out)``, as in
``keras/src/layers/core/dense.py`` and ``keras/src/layers/convolutional/base_conv.py``),
so fans need no axis arguments. Importing this module sets ``KERAS_BACKEND=jax`` unless
it is already set; it needs keras (``pip install 'jinit[keras]'``).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from . import _checks
from ._base import Init, public_name

__all__ = ["Initializer"]

os.environ.setdefault("KERAS_BACKEND", "jax")
try:
    import keras
except ImportError as e:  # the module stays importable; using it says what is missing
    _MISSING: ImportError | None = e
else:
    _MISSING = None


def _factory(fn: str, name: str) -> Any:
    """The jinit object whose public name is ``name`` (``'he_normal'``, ``'presets.x'``)."""
    import jinit

    obj: Any = jinit
    for part in name.removeprefix("jinit.").split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise _checks.fail(fn, "config['initializer']", name, "is not a jinit name",
                               "a public jinit initializer or factory name, e.g. 'he_normal'")
    return obj


def _to_json(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    return value


def _from_json(value: object) -> object:
    return tuple(_from_json(v) for v in value) if isinstance(value, list) else value


def _describe(fn: str, init: object) -> tuple[str, dict[str, object] | None]:
    """``(public name, factory params or None)``, checked to rebuild ``init`` exactly."""
    if isinstance(init, Init):
        name, params = init.name, {k: _to_json(v) for k, v in init.params.items()}
    else:
        name, params = public_name(init).removeprefix("jinit."), None
    try:
        rebuilt = _rebuild(fn, name, params)
    except (ValueError, TypeError, AttributeError):
        rebuilt = None
    if rebuilt is None or repr(rebuilt) != repr(init):
        raise _checks.fail(fn, "init", init, "is not a jinit initializer that a config can "
                           "rebuild", "an initializer made by a public jinit factory, e.g. "
                           "jinit.he_normal(), or jinit.zeros / jinit.ones", exc=TypeError)
    return name, params


def _rebuild(fn: str, name: str, params: dict[str, object] | None) -> object:
    obj = _factory(fn, name)
    return obj if params is None else obj(**{k: _from_json(v) for k, v in params.items()})


if _MISSING is None:

    @keras.saving.register_keras_serializable(package="jinit", name="Initializer")
    class Initializer(keras.initializers.Initializer):
        r"""A jinit initializer as a ``keras.initializers.Initializer``.

        Each call draws ``init(k, shape, dtype)``, the jinit initializer's own law (its
        docstring gives the formula), with a fresh key

        .. math::

            k_t = \texttt{SeedGenerator.next()}, \qquad t = 0, 1, 2, \dots,

        from a ``keras.random.SeedGenerator`` the instance owns, so one instance shared
        by several layers gives each its own values (an integer-seeded Keras initializer
        gives them all the same values, keras #20569), and ``seed=`` makes the sequence
        reproducible. ``get_config`` stores the factory's public name and arguments and
        the seed, so ``model.save`` / ``keras.models.load_model`` round-trip it.

        Args:
          init: an initializer from a public jinit factory (``jinit.he_normal()``,
            ``jinit.presets.torch_linear_kernel()``), or ``jinit.zeros`` / ``jinit.ones``.
          seed: ``None`` (a random seed), an int, or a ``keras.random.SeedGenerator``.

        Raises:
          TypeError: ``init`` is not an initializer a config can rebuild; a bad seed;
            not the JAX backend.

        References:
          Keras 3, ``keras/src/initializers/initializer.py`` (the ``Initializer`` API) and
          ``keras/src/random/seed_generator.py`` (keras-team/keras).

        Example:
          >>> import jinit, jinit.keras, keras
          >>> init = jinit.keras.Initializer(jinit.he_normal(), seed=0)
          >>> a, b = keras.layers.Dense(64, kernel_initializer=init), keras.layers.Dense(
          ...     64, kernel_initializer=init)
          >>> a.build((None, 32)); b.build((None, 32))
          >>> a.kernel.shape, bool((a.kernel.value != b.kernel.value).any())
          ((32, 64), True)
          >>> Initializer = jinit.keras.Initializer
          >>> Initializer.from_config(init.get_config()).init
          jinit.he_normal(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None)
        """

        def __init__(self, init: Any, seed: Any = None):
            fn = "keras.Initializer"
            if keras.backend.backend() != "jax":
                raise _checks.fail(fn, "backend", keras.backend.backend(), "is not 'jax'",
                                   "Keras on the JAX backend",
                                   "Set KERAS_BACKEND=jax before importing keras.",
                                   TypeError)
            self._config = _describe(fn, init)
            self.init = init
            if isinstance(seed, dict):
                seed = keras.saving.deserialize_keras_object(seed)
            if seed is not None and not isinstance(seed, keras.random.SeedGenerator) and (
                    not _checks._is_int(seed)):
                raise _checks.fail(fn, "seed", seed, "is not a seed",
                                   "None, an int or a keras.random.SeedGenerator",
                                   exc=TypeError)
            self._seed = seed
            self.generator = seed if isinstance(seed, keras.random.SeedGenerator) else \
                keras.random.SeedGenerator(seed)

        def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> jax.Array:
            dtype = keras.backend.standardize_dtype(dtype or keras.config.floatx())
            state = self.generator.next()
            key = jax.random.wrap_key_data(jax.numpy.asarray(state, "uint32"),
                                           impl="threefry2x32")
            return self.init(key, tuple(int(d) for d in shape), dtype)

        def get_config(self) -> dict[str, object]:
            name, params = self._config
            return {"initializer": name, "params": params,
                    "seed": keras.saving.serialize_keras_object(self._seed)}

        @classmethod
        def from_config(cls, config: dict[str, Any]) -> Initializer:
            init = _rebuild("keras.Initializer.from_config", config["initializer"],
                            config.get("params"))
            return cls(init, seed=config.get("seed"))

        def __repr__(self) -> str:
            return f"jinit.keras.Initializer({self.init!r}, seed={self._seed!r})"
else:

    def __getattr__(name: str) -> Any:
        if name == "Initializer":
            raise ImportError("jinit.keras needs keras 3: pip install 'jinit[keras]'") \
                from _MISSING
        raise AttributeError(name)
