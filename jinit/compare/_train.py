"""The one compiled program that trains every seed of one init.

``jax.vmap`` over seeds of a ``lax.scan`` over evaluation chunks, each chunk a ``lax.scan``
over ``eval_every`` optimizer steps followed by one evaluation on the validation set. The
seeds share nothing but the data: every reduction (loss means, optimizer statistics, the
divergence flag) is computed inside one seed's body, so a seed that goes non-finite cannot
touch the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from ._losses import Metric

SAMPLINGS = ("epoch", "replacement")


def make_program(apply: Callable[[Any, jax.Array], jax.Array], loss: Metric,
                 metrics: Mapping[str, Metric], optimizer: Any, *, steps: int, batch_size: int,
                 eval_every: int, sampling: str, has_val: bool) -> Callable[..., Any]:
    """``(params[seeds], keys[seeds], x, y, x_val, y_val) -> (train, val, alive, final)``.

    ``train`` and ``val`` are dicts of ``(seeds, steps // eval_every)`` arrays (``train``: the
    mean over each chunk's mini-batches; ``val``: the validation set after the chunk),
    ``alive`` the same shape (``False`` from the chunk in which a seed first went
    non-finite on), ``final`` the parameters after the last step. Not jitted.
    """
    import optax

    chunks = steps // eval_every

    def measure(p: Any, x: jax.Array, y: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        out = apply(p, x)
        value = loss(out, y)
        return value, {"loss": value, **{k: f(out, y) for k, f in metrics.items()}}

    def one_seed(p: Any, key: jax.Array, x: jax.Array, y: jax.Array, xv: jax.Array,
                 yv: jax.Array) -> Any:
        n = x.shape[0]
        per_epoch = n // batch_size

        def batch(perm: jax.Array, i: jax.Array) -> tuple[jax.Array, jax.Array]:
            if sampling == "replacement":
                idx = jax.random.randint(jax.random.fold_in(key, i), (batch_size,), 0, n)
                return perm, idx
            epoch, pos = i // per_epoch, i % per_epoch
            # ``pos`` is the same for every seed, so under vmap this stays a real branch:
            # one permutation per epoch, not per step.
            perm = jax.lax.cond(pos == 0,
                                lambda: jax.random.permutation(jax.random.fold_in(key, epoch), n),
                                lambda: perm)
            return perm, jax.lax.dynamic_slice(perm, (pos * batch_size,), (batch_size,))

        def step(carry: Any, i: jax.Array) -> Any:
            p, state, perm, alive = carry
            perm, idx = batch(perm, i)
            (value, mets), grads = jax.value_and_grad(measure, has_aux=True)(p, x[idx], y[idx])
            updates, state = optimizer.update(grads, state, p)
            p = optax.apply_updates(p, updates)
            alive = alive & jnp.isfinite(value)
            return (p, state, perm, alive), mets

        def chunk(carry: Any, c: jax.Array) -> Any:
            carry, mets = jax.lax.scan(step, carry, c * eval_every + jnp.arange(eval_every))
            train = {k: jnp.mean(v, axis=0) for k, v in mets.items()}
            p, state, perm, alive = carry
            if has_val:
                _, val = measure(p, xv, yv)
                alive = alive & jnp.isfinite(val["loss"])
            else:
                val = {}
            return (p, state, perm, alive), (train, val, alive)

        carry = (p, optimizer.init(p), jnp.arange(n), jnp.asarray(True))
        (p, _, _, _), (train, val, alive) = jax.lax.scan(chunk, carry, jnp.arange(chunks))
        return train, val, alive, p

    def compare_program(params: Any, keys: jax.Array, x: jax.Array, y: jax.Array,
                        xv: jax.Array, yv: jax.Array) -> Any:
        return jax.vmap(one_seed, in_axes=(0, 0, None, None, None, None))(
            params, keys, x, y, xv, yv)

    return compare_program
