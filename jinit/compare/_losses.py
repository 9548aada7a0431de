"""Losses and accuracies by name: what ``compare.run(loss=...)`` understands."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .. import _checks

FN = "compare.run"

Metric = Callable[[jax.Array, jax.Array], jax.Array]


def _integer_labels(outputs: jax.Array, targets: jax.Array) -> bool:
    return jnp.issubdtype(targets.dtype, jnp.integer) and targets.ndim == outputs.ndim - 1


def softmax_cross_entropy(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    r"""Mean of :math:`-\sum_c t_c \log \operatorname{softmax}(o)_c`; integer labels or one-hot."""
    import optax

    if _integer_labels(outputs, targets):
        return optax.softmax_cross_entropy_with_integer_labels(outputs, targets).mean()
    return optax.softmax_cross_entropy(outputs, targets.astype(outputs.dtype)).mean()


def softmax_accuracy(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    labels = targets if _integer_labels(outputs, targets) else jnp.argmax(targets, -1)
    return jnp.mean(jnp.argmax(outputs, -1) == labels)


def mse(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    r"""Mean over every element of :math:`(o - t)^2`."""
    return jnp.mean((outputs - targets.astype(outputs.dtype)) ** 2)


def sigmoid_binary_cross_entropy(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    r"""Mean over every element of :math:`-t\log\sigma(o) - (1-t)\log(1-\sigma(o))`."""
    import optax

    return optax.sigmoid_binary_cross_entropy(outputs, targets.astype(outputs.dtype)).mean()


def sigmoid_accuracy(outputs: jax.Array, targets: jax.Array) -> jax.Array:
    return jnp.mean((outputs > 0) == (targets > 0.5))


# name -> (loss, accuracy or None)
LOSSES: dict[str, tuple[Metric, Metric | None]] = {
    "softmax_cross_entropy": (softmax_cross_entropy, softmax_accuracy),
    "mse": (mse, None),
    "sigmoid_binary_cross_entropy": (sigmoid_binary_cross_entropy, sigmoid_accuracy),
}


def resolve(loss: object) -> tuple[str, Metric, Metric | None]:
    """``(name, loss, accuracy or None)`` for a loss name or a callable ``loss(outputs, targets)``."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise _checks.fail(FN, "loss", loss, "is not a known loss",
                               "one of " + ", ".join(repr(k) for k in LOSSES)
                               + ", or a callable loss(outputs, targets)")
        return (loss, *LOSSES[loss])
    if callable(loss):
        return getattr(loss, "__name__", "loss"), loss, None
    raise _checks.fail(FN, "loss", loss, "is not a loss",
                       "a name (" + ", ".join(repr(k) for k in LOSSES)
                       + ") or a callable loss(outputs, targets)", exc=TypeError)


def check_shapes(name: str, outputs: jax.ShapeDtypeStruct, targets: jax.ShapeDtypeStruct
                 ) -> None:
    """Refuses targets that a named loss would silently broadcast against the outputs."""
    o, t = tuple(outputs.shape), tuple(targets.shape)
    if name == "softmax_cross_entropy":
        if jnp.issubdtype(targets.dtype, jnp.integer):
            ok = t == o[:-1]
            want = f"integer labels of shape {o[:-1]} (or one-hot targets of shape {o})"
        else:
            ok = t == o
            want = f"one-hot targets of shape {o} (or integer labels of shape {o[:-1]})"
    elif name in ("mse", "sigmoid_binary_cross_entropy"):
        ok, want = t == o, f"targets of the outputs' shape {o}"
    else:
        return
    if not ok:
        raise _checks.fail(FN, "train", f"targets of shape {t} for outputs of shape {o}",
                           f"does not fit loss={name!r}", want)
