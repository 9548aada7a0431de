"""``compare.run``: train one model from several inits, every seed of an init in one program."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from . import _losses, _models, _train
from ._result import Result, stack_history

FN = "compare.run"


def _integer(name: str, value: object, minimum: int, expected: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise _checks.fail(FN, name, value, "is not an int", expected, exc=TypeError)
    if value < minimum:
        raise _checks.fail(FN, name, value, f"is less than {minimum}", expected)
    return int(value)


def _pair(name: str, value: object) -> tuple[jax.Array, jax.Array]:
    expected = "a pair (x, y) of arrays with the same length (first axis)"
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise _checks.fail(FN, name, value, "is not a pair (x, y)", expected, exc=TypeError)
    try:
        x, y = jnp.asarray(value[0]), jnp.asarray(value[1])
    except TypeError as e:
        raise _checks.fail(FN, name, type(value[0]).__name__, f"is not an array pair ({e})",
                           expected, exc=TypeError) from None
    if x.ndim == 0 or y.ndim == 0:
        raise _checks.fail(FN, name, f"x of shape {x.shape}, y of shape {y.shape}",
                           "has a scalar", expected)
    if x.shape[0] != y.shape[0]:
        raise _checks.fail(FN, name, f"x of length {x.shape[0]}, y of length {y.shape[0]}",
                           "has mismatched lengths", expected)
    if x.shape[0] == 0:
        raise _checks.fail(FN, name, f"x of shape {x.shape}", "is empty", expected)
    return x, y


def _optimizer(optimizer: object) -> Any:
    if optimizer is None:
        import optax

        return optax.adam(1e-3)
    if not (callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update",
                                                                              None))):
        raise _checks.fail(FN, "optimizer", optimizer, "is not an optax optimizer",
                           "an optax.GradientTransformation such as optax.adam(1e-3)",
                           exc=TypeError)
    return optimizer


def _metrics(metrics: object, taken: tuple[str, ...]) -> dict[str, Callable[..., jax.Array]]:
    expected = "a dict {name: fn(outputs, targets) -> scalar}"
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise _checks.fail(FN, "metrics", metrics, "is not a mapping", expected, exc=TypeError)
    for name, f in metrics.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise _checks.fail(FN, "metrics", name, "has a name that is not an identifier",
                               expected, exc=TypeError)
        if name in taken:
            raise _checks.fail(FN, "metrics", name, "has a name the loss already reports",
                               f"a name other than {', '.join(map(repr, taken))}")
        if not callable(f):
            raise _checks.fail(FN, f"metrics[{name!r}]", f, "is not callable", expected,
                               exc=TypeError)
    return dict(metrics)


def _stack(trees: list[Any]) -> Any:
    return jax.tree.map(lambda *a: jnp.stack(a), *trees)


def _signature(tree: Any) -> tuple[object, ...]:
    leaves, treedef = jax.tree.flatten(tree)
    return (treedef, *((tuple(a.shape), str(a.dtype)) for a in leaves))


def run(model: object, inits: Mapping[str, object], *, train: tuple[Any, Any],
        val: tuple[Any, Any] | None = None, loss: str | Callable[..., jax.Array],
        optimizer: Any = None, steps: int = 500, batch_size: int = 128, seeds: int = 8,
        eval_every: int = 10, params: object = None,
        metrics: Mapping[str, Callable[..., jax.Array]] | None = None, seed: int = 0,
        sampling: str = "epoch", target: tuple[str, float] | None = None,
        keep_params: bool = False, quiet: bool = False) -> Result:
    r"""Trains ``model`` from each init, ``seeds`` times, and records the curves.

    The practitioner's experiment — the same model trained from zero, random, Xavier, He or
    LeCun init, training and validation loss and accuracy side by side — on the user's own
    model, data, loss and optimizer. For init :math:`i` and seed :math:`s`, the parameters
    :math:`\theta_{i,s}` start from init :math:`i` drawn with key :math:`k_s^{\text{init}}`
    and take ``steps`` optimizer steps on mini-batches drawn with :math:`k_s^{\text{data}}`,
    where

    .. math::

        k_s = \texttt{fold_in}(\operatorname{key}(\texttt{seed}), s), \quad
        k_s^{\text{init}} = \texttt{fold_in}(k_s, 0), \quad
        k_s^{\text{data}} = \texttt{fold_in}(k_s, 1),

    so seed :math:`s` sees the same batches under every init (the comparison is paired) and
    its curves do not depend on how many seeds run. With ``sampling="epoch"`` (default) each
    epoch is a fresh permutation of the training set (:math:`k_s^{\text{data}}` folded with
    the epoch number) cut into :math:`\lfloor n / B \rfloor` batches of ``batch_size``
    :math:`B` without replacement (the last :math:`n \bmod B` examples of a permutation are
    skipped that epoch); ``sampling="replacement"`` draws every batch uniformly with
    replacement.

    **One program per init.** Every seed of an init runs in one compiled program: a
    ``jax.vmap`` over seeds of a ``lax.scan`` over ``steps // eval_every`` chunks, each a
    ``lax.scan`` of ``eval_every`` steps followed by an evaluation on the whole validation
    set; batches are drawn on the device; there is no Python loop per step. Inits whose
    parameters have the same shapes share the program (compiled once).

    **Divergence.** A seed whose mini-batch loss or validation loss is non-finite (NaN or
    inf) is counted in ``result.diverged`` and its values are NaN in the history from that
    evaluation on; it is never raised, and since each seed's reductions stay inside its own
    vmapped body it cannot affect the others. Means and spreads skip it.

    **Inits.** Each value of ``inits`` is one of:

    * ``None``: the model's own default. For linen a fresh ``model.init`` per seed; for an
      NNX or Equinox model, or a function model, the parameters as given, for every seed.
    * an initializer ``init(key, shape, dtype)`` (e.g. ``jinit.he_normal()``): drawn for
      every *kernel* — a leaf with at least two axes whose path does not end in
      ``embedding``, ``bias``, ``scale``, ``mean`` or ``var``; a guess from the path and
      shape alone — each leaf by :func:`jinit.tree.init_tree`'s per-path keys; every other
      leaf keeps the model's default (linen: its declared initializers,
      :func:`jinit.tree.rules_from`; NNX, Equinox, functions: the values given).
    * rules ``{regex: initializer}`` as :func:`jinit.tree.init_tree` takes (or ``(regex,
      initializer)`` pairs), or a recipe from :mod:`jinit.recipes`: matched leaves drawn
      from their rule, the others kept at the model's default as above; a rule that
      matches no leaf warns (:class:`jinit.tree.UnmatchedRuleWarning`).
    * ``"auto"``: ``jinit.auto.init(model, key, x[:batch_size])``: its data pass sees one
      training batch, so the first layer is centred and scaled for the real inputs.

    Draws go through the library's adapters: :func:`jinit.tree.init_tree` (linen, functions),
    :func:`jinit.nnx.init`, :func:`jinit.equinox.init` (Equinox layouts handled).

    Args:
      model: a ``flax.linen.Module`` (called as ``model.apply(variables, x)``; variable
        collections other than ``params`` are kept as ``model.init`` makes them, not
        trained), a concrete ``flax.nnx.Module`` (``model(x)``; only ``nnx.Param`` state is
        trained, all other state — RNG counts, BatchNorm statistics — is held at its value,
        so a Dropout draws the same mask at every step: compare deterministic models), an ``equinox.Module`` (called on one example, vmapped over the batch), or a
        function ``fn(params, x)`` with ``params`` given.
      inits: ``{name: init}``, in the order to report them.
      train: ``(x, y)``: inputs and targets, the same length.
      val: ``(x_val, y_val)``, or ``None`` for training curves only.
      loss: ``"softmax_cross_entropy"`` (integer labels or one-hot targets; accuracy is
        the argmax), ``"mse"`` (no accuracy), ``"sigmoid_binary_cross_entropy"`` (accuracy
        at logit 0), or a callable ``loss(outputs, targets) -> scalar`` (no accuracy).
      optimizer: an ``optax.GradientTransformation``; default ``optax.adam(1e-3)``.
      steps: optimizer steps per seed.
      batch_size: examples per step, at most ``len(train[0])``.
      seeds: runs per init.
      eval_every: steps between evaluations; must divide ``steps`` (no partial chunk).
      params: the parameters of a function model (required there, refused elsewhere).
      metrics: ``{name: fn(outputs, targets) -> scalar}``, reported as ``train_<name>``
        (mean over the chunk's batches) and ``val_<name>``.
      seed: the root seed.
      sampling: ``"epoch"`` or ``"replacement"`` (above).
      target: ``(metric, value)`` for the summary's "steps to target": the first
        evaluation at which ``metric`` reaches ``value`` (``>=`` for accuracies, ``<=`` for
        anything else). Default: 90 % of the best init's final mean ``val_accuracy``; without
        accuracy, ``val_loss`` a tenth of the way from the best init's final mean back to its
        first.
      keep_params: keep each init's final parameters (stacked over seeds) in
        ``result.final_params``.
      quiet: no progress line (one per init, with steps/s, on stderr).

    Returns:
      A :class:`Result`: ``steps``, ``history[init][metric]`` of shape ``(seeds, evals)``,
      ``diverged``, ``summary()``, ``plot(path)``, ``to_json(path)``.

    Raises:
      ValueError: an unknown loss name; ``steps``, ``seeds`` or ``eval_every`` < 1;
        ``eval_every`` > ``steps`` or not dividing it; ``batch_size`` > the training set;
        ``x`` and ``y`` of different lengths; targets that do not fit the named loss;
        ``"auto"`` while ``jinit.auto`` does not exist; an unknown ``sampling``.
      TypeError: an init of the wrong type (or an uncalled factory such as
        ``jinit.he_normal``), a model of no known kind, a bad optimizer or metric.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np, optax, flax.linen as nn, jinit
      >>> import jinit.compare
      >>> rng = np.random.default_rng(0)
      >>> x = rng.standard_normal((256, 8)).astype(np.float32)
      >>> y = (x[:, 0] > 0).astype(np.int32)
      >>> model = nn.Sequential([nn.Dense(16), nn.relu, nn.Dense(2)])
      >>> res = jinit.compare.run(model, {"zeros": jinit.zeros, "he": jinit.he_normal()},
      ...                         train=(x[:192], y[:192]), val=(x[192:], y[192:]),
      ...                         loss="softmax_cross_entropy", optimizer=optax.sgd(0.5),
      ...                         steps=40, batch_size=32, seeds=2, eval_every=10, quiet=True)
      >>> res.steps.tolist(), res.history["he"]["val_accuracy"].shape, res.diverged["he"]
      ([10, 20, 30, 40], (2, 4), 0)
      >>> bool(res.final("he", "val_accuracy")[0] > res.final("zeros", "val_accuracy")[0])
      True
    """
    steps = _integer("steps", steps, 1, "an int >= 1")
    seeds = _integer("seeds", seeds, 1, "an int >= 1")
    eval_every = _integer("eval_every", eval_every, 1, "an int >= 1 that divides steps")
    if eval_every > steps:
        raise _checks.fail(FN, "eval_every", eval_every, f"is more than steps={steps}",
                           "an int >= 1 that divides steps")
    if steps % eval_every:
        raise _checks.fail(FN, "eval_every", eval_every, f"does not divide steps={steps}",
                           "a divisor of steps (every evaluation chunk has eval_every steps)",
                           f"E.g. steps={steps - steps % eval_every} or {steps + eval_every - steps % eval_every}.")
    x, y = _pair("train", train)
    batch_size = _integer("batch_size", batch_size, 1, f"an int in [1, {x.shape[0]}]")
    if batch_size > x.shape[0]:
        raise _checks.fail(FN, "batch_size", batch_size,
                           f"is more than the {x.shape[0]} training examples",
                           f"an int in [1, {x.shape[0]}]")
    if val is not None:
        xv, yv = _pair("val", val)
        if xv.shape[1:] != x.shape[1:] or yv.shape[1:] != y.shape[1:]:
            raise _checks.fail(FN, "val", f"x {xv.shape}, y {yv.shape}",
                               "has examples of another shape than train's",
                               f"x (n, *{x.shape[1:]}), y (n, *{y.shape[1:]})")
    else:
        xv, yv = x[:1], y[:1]
    sampling = _checks.choice(FN, "sampling", sampling, _train.SAMPLINGS)
    seed = _integer("seed", seed, 0, "an int >= 0")
    loss_name, loss_fn, accuracy = _losses.resolve(loss)
    taken = ("loss", "accuracy") if accuracy is not None else ("loss",)
    user_metrics = _metrics(metrics, taken)
    tx = _optimizer(optimizer)
    if not isinstance(inits, Mapping) or not inits:
        raise _checks.fail(FN, "inits", inits, "is not a non-empty mapping",
                           "{name: init} with init one of " + _models.INIT_EXPECTED,
                           exc=TypeError)
    for name in inits:
        if not isinstance(name, str):
            raise _checks.fail(FN, "inits", name, "has a name that is not a string",
                               "{name: init} with string names", exc=TypeError)
    resolved = {name: _models.resolve(name, value) for name, value in inits.items()}
    if target is not None and not (isinstance(target, (tuple, list)) and len(target) == 2
                                   and isinstance(target[0], str)
                                   and isinstance(target[1], (int, float, np.number))
                                   and not isinstance(target[1], bool)):
        raise _checks.fail(FN, "target", target, "is not a (metric, value) pair",
                           "e.g. ('val_accuracy', 0.9)", exc=TypeError)
    prog_metrics = ({"accuracy": accuracy} if accuracy is not None else {}) | user_metrics
    names = ("loss", *prog_metrics)
    recorded = [f"{side}_{n}" for n in names for side in ("train", "val")
                if side == "train" or val is not None]
    tgt = None
    if target is not None:
        if target[0] not in recorded:
            raise _checks.fail(FN, "target", target, "names a metric the run does not record",
                               "one of " + ", ".join(map(repr, recorded)))
        tgt = (target[0], float(target[1]), target[0].endswith("accuracy"))
    m = _models.build(model, x[:1], params)

    program = _train.make_program(m.apply, loss_fn, prog_metrics, tx, steps=steps,
                                  batch_size=batch_size, eval_every=eval_every,
                                  sampling=sampling, has_val=val is not None)
    root = jax.random.key(seed)
    seed_keys = [jax.random.fold_in(root, s) for s in range(seeds)]
    data_keys = jnp.stack([jax.random.fold_in(k, 1) for k in seed_keys])
    compiled: dict[tuple[object, ...], Any] = {}
    history, diverged, seconds, finals = {}, {}, {}, {}
    checked = False
    for name, init in resolved.items():
        per_seed = [
            _models.draw_auto(model, m, jax.random.fold_in(k, 0), x[:batch_size]) if init == "auto"
            else m.draw(init, jax.random.fold_in(k, 0)) for k in seed_keys]
        if not checked:
            out = jax.eval_shape(m.apply, per_seed[0], x[:batch_size])
            _losses.check_shapes(loss_name, out, jax.ShapeDtypeStruct(
                (batch_size, *y.shape[1:]), y.dtype))
            checked = True
        stacked = _stack(per_seed)
        sig = _signature(stacked)
        t0 = time.perf_counter()
        if sig not in compiled:
            compiled[sig] = jax.jit(program).lower(stacked, data_keys, x, y, xv, yv).compile()
        t1 = time.perf_counter()
        train_m, val_m, alive, final = compiled[sig](stacked, data_keys, x, y, xv, yv)
        alive = np.asarray(jax.block_until_ready(alive))
        t2 = time.perf_counter()
        history[name] = stack_history(jax.device_get(train_m), jax.device_get(val_m), alive,
                                      accuracy is not None, names)
        diverged[name] = int(np.sum(~alive[:, -1]))
        seconds[name] = (t1 - t0, t2 - t1)
        if keep_params:
            finals[name] = final
        if not quiet:
            rate = seeds * steps / max(t2 - t1, 1e-9)
            print(f"jinit.compare: {name}: {seeds} seeds x {steps} steps in {t2 - t1:.2f} s "
                  f"({rate:,.0f} steps/s; compile {t1 - t0:.1f} s)"
                  + (f"; {diverged[name]} diverged" if diverged[name] else ""),
                  file=sys.stderr, flush=True)
    if accuracy is None:
        no_accuracy = (f"loss={loss_name!r} is a regression loss" if loss_name == "mse" else
                       "a callable loss has no accuracy (pass metrics={'accuracy': fn})")
    else:
        no_accuracy = None
    config = {"loss": loss_name, "optimizer": "adam(1e-3)" if optimizer is None else "the given optimizer", "steps": steps,
              "batch_size": batch_size, "seeds": seeds, "eval_every": eval_every,
              "sampling": sampling, "seed": seed, "model": m.kind, "train_size": int(x.shape[0]),
              "val_size": int(xv.shape[0]) if val is not None else 0,
              "programs": len(compiled)}
    steps_axis = np.arange(1, steps // eval_every + 1) * eval_every
    return Result(steps_axis, history, diverged, config=config, seconds=seconds,
                  no_accuracy=no_accuracy, target=tgt,
                  final_params=finals if keep_params else None)
