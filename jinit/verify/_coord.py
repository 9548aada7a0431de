r"""The μP coordinate check: do activation updates stay flat in width?

Trains a ReLU MLP for a few optimizer steps at several widths, once in the standard
parametrization (SP) and once in μP (:mod:`jinit.mup`), and records, for each hidden
layer and the logits, the size of the change since initialization,

.. math::

    \Delta_t(\ell) = \operatorname{RMS}\bigl(x^\ell_t - x^\ell_0\bigr)
    = \Bigl(\tfrac{1}{BN}\textstyle\sum_{b,i} (x^\ell_{t,bi} - x^\ell_{0,bi})^2\Bigr)^{1/2},

on a fixed batch of :math:`B` inputs (:math:`N` the layer's width), averaged over seeds.
Under μP every :math:`\Delta_t(\ell)` is :math:`\Theta(1)` in width; under SP with Adam
the hidden and logit updates grow like width. The check fits the slope :math:`k` of
:math:`\log \Delta_T(\ell)` against :math:`\log(\text{width})` at the last step
:math:`T`: μP passes when :math:`|k| \le` ``mup_tol`` for every layer, and SP is shown to
fail when :math:`k \ge` ``sp_min`` for every layer after the first (the first layer's
fan-in does not grow, so its update is flat in both). SP's growth is stated for Adam, the
default; with SGD the check still verifies that μP is flat, while SP's updates grow more
slowly at these widths.

References:
  Yang et al., "Tensor Programs V: Tuning Large Neural Networks via Zero-Shot
  Hyperparameter Transfer", arXiv:2203.03466, 2022, §D.1 (coordinate check) and Table 3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from jinit import _checks, mup
from jinit._rules import path_str

PARAMETRIZATIONS = ("sp", "mup")
# Thresholds on the last-step log-log slopes with the defaults (Adam, widths 64..1024, 8
# seeds of batch 4): μP measures |slope| <= 0.07 and SP >= 0.66 after the first layer
# (seeds 0, 1, 2); the asymptotic values are 0 and 1.
MUP_TOL = 0.15
SP_MIN = 0.5


@dataclass(frozen=True)
class CoordCheck:
    """Result of :func:`coord_check`.

    Attributes:
      widths: the widths trained.
      layers: names of the recorded layers, ``("h1", ..., "logits")``.
      deltas: ``{parametrization: array (len(widths), steps, len(layers))}`` of
        :math:`\\Delta_t(\\ell)`, averaged over seeds.
      slopes: ``{parametrization: array (len(layers),)}``, the fitted log-log slope at the
        last step.
      config: the arguments of the run.
      mup_tol, sp_min: the pass thresholds.
    """

    widths: tuple[int, ...]
    layers: tuple[str, ...]
    deltas: dict[str, np.ndarray]
    slopes: dict[str, np.ndarray]
    config: dict[str, object] = field(default_factory=dict)
    mup_tol: float = MUP_TOL
    sp_min: float = SP_MIN

    @property
    def mup_flat(self) -> bool:
        """Every μP layer's slope lies within ``±mup_tol``."""
        return bool(np.all(np.abs(self.slopes["mup"]) <= self.mup_tol))

    @property
    def sp_grows(self) -> bool:
        """Every SP layer after the first has slope at least ``sp_min``."""
        return bool(np.all(self.slopes["sp"][1:] >= self.sp_min))

    @property
    def passed(self) -> bool:
        """μP is flat and SP grows (only μP is required when SP was not run)."""
        if "sp" not in self.slopes:
            return self.mup_flat
        return self.mup_flat and self.sp_grows

    def table(self) -> str:
        """A readable table: slope per layer and parametrization, with the verdicts."""
        c = self.config
        head = (f"widths {', '.join(map(str, self.widths))} (base {c.get('base_width')}), "
                f"{c.get('optimizer')} lr {c.get('lr')}, {c.get('steps')} steps, "
                f"{c.get('seeds')} seeds; slope of log RMS(x_T - x_0) against log width")
        rows = [("layer", *(f"slope {p}" for p in self.slopes))]
        for i, name in enumerate(self.layers):
            rows.append((name, *(f"{self.slopes[p][i]:+.3f}" for p in self.slopes)))
        w = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
        lines = [head] + ["  ".join(t.rjust(x) for t, x in zip(r, w, strict=True))
                          for r in rows]
        lines.append(f"mup flat (|slope| <= {self.mup_tol:g}): {'PASS' if self.mup_flat else 'FAIL'}")
        if "sp" in self.slopes:
            lines.append(f"sp grows (slope >= {self.sp_min:g} after h1): "
                         f"{'yes' if self.sp_grows else 'NO'}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of the whole result."""
        return {"check": "coord_check", "widths": list(self.widths), "layers": list(self.layers),
                "deltas": {p: d.tolist() for p, d in self.deltas.items()},
                "slopes": {p: s.tolist() for p, s in self.slopes.items()},
                "mup_tol": self.mup_tol, "sp_min": self.sp_min, "mup_flat": self.mup_flat,
                "sp_grows": self.sp_grows if "sp" in self.slopes else None,
                "passed": self.passed, "config": dict(self.config)}


def _mlp_params(key, in_dim: int, width: int, padded: int, out_dim: int, depth: int
                ) -> dict[str, dict]:
    """The SP MLP at ``width``, zero-padded to ``padded`` units (He layers, LeCun readout).

    Padded units have zero weights in and out and zero bias; since ``relu'(0) = 0`` their
    gradients are exactly zero, so no optimizer ever moves them and the padded network
    computes exactly what the ``width`` network does. One compiled program then serves
    every width.
    """
    keys = jax.random.split(key, depth + 1)
    dims = [in_dim] + [padded] * depth
    real = [in_dim] + [width] * depth
    params = {}
    for i in range(depth):
        mask = (jnp.arange(dims[i]) < real[i])[:, None] & (jnp.arange(dims[i + 1]) < real[i + 1])
        w = jax.random.normal(keys[i], (dims[i], dims[i + 1])) * jnp.sqrt(2.0 / real[i])
        params[f"dense{i}"] = {"kernel": jnp.where(mask, w, 0.0),
                               "bias": jnp.zeros((dims[i + 1],))}
    mask = (jnp.arange(padded) < width)[:, None]
    w = jax.random.normal(keys[depth], (padded, out_dim)) * jnp.sqrt(1.0 / width)
    params["readout"] = {"kernel": jnp.where(mask, w, 0.0), "bias": jnp.zeros((out_dim,))}
    return params


def _forward(params, x, depth: int) -> list:
    acts = []
    for i in range(depth):
        p = params[f"dense{i}"]
        x = jax.nn.relu(x @ p["kernel"] + p["bias"])
        acts.append(x)
    p = params["readout"]
    acts.append(x @ p["kernel"] + p["bias"])
    return acts


def _factors(width: int, base_width: int, parametrization: str, *, in_dim: int, out_dim: int,
             depth: int, optimizer: str) -> tuple[dict, dict]:
    """Init and learning-rate multipliers of one width, from :func:`jinit.mup.plan`."""
    def shapes(n):
        dims = [in_dim] + [n] * depth
        tree = {f"dense{i}": {"kernel": jax.ShapeDtypeStruct((dims[i], dims[i + 1]), jnp.float32),
                              "bias": jax.ShapeDtypeStruct((dims[i + 1],), jnp.float32)}
                for i in range(depth)}
        tree["readout"] = {"kernel": jax.ShapeDtypeStruct((n, out_dim), jnp.float32),
                           "bias": jax.ShapeDtypeStruct((out_dim,), jnp.float32)}
        return tree

    tree = shapes(width)
    plan = mup.plan(tree, shapes(base_width), optimizer=optimizer)
    init, lr = plan.init_multipliers, plan.lr_multipliers
    if parametrization == "sp":
        init = dict.fromkeys(init, 1.0)
        lr = dict.fromkeys(lr, 1.0)

    def as_tree(table):
        return jax.tree_util.tree_map_with_path(
            lambda p, _: np.float32(table[path_str(p)]), tree)

    return as_tree(init), as_tree(lr)


def _make_run(*, in_dim: int, out_dim: int, depth: int, steps: int, lr: float, optimizer: str,
              batch: int, padded: int):
    import optax

    inner = optax.adam(lr) if optimizer == "adam" else optax.sgd(lr)

    def one(key, width, init_mult, lr_mult):
        kp, kx, ky = jax.random.split(key, 3)
        params = _mlp_params(kp, in_dim, width, padded, out_dim, depth)
        params = jax.tree.map(lambda p, m: p * m, params, init_mult)
        x = jax.random.normal(kx, (batch, in_dim))
        y = jax.random.randint(ky, (batch,), 0, out_dim)
        counts = [batch * width] * depth + [batch * out_dim]

        def loss(p):
            logits = _forward(p, x, depth)[-1]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        acts0 = _forward(params, x, depth)

        def step(carry, _):
            p, s = carry
            u, s = inner.update(jax.grad(loss)(p), s, p)
            p = optax.apply_updates(p, jax.tree.map(lambda a, m: a * m, u, lr_mult))
            deltas = jnp.stack([jnp.sqrt(jnp.sum(jnp.square(a - a0)) / c)
                                for a, a0, c in zip(_forward(p, x, depth), acts0, counts,
                                                    strict=True)])
            return (p, s), deltas

        _, deltas = jax.lax.scan(step, (params, inner.init(params)), None, length=steps)
        return deltas

    over_seeds = jax.vmap(one, in_axes=(0, None, None, None))
    return jax.jit(jax.vmap(over_seeds, in_axes=(None, 0, 0, 0)))


def coord_check(widths: Sequence[int] = (64, 128, 256, 512, 1024), *, depth: int = 3,
                steps: int = 4, lr: float = 1e-2, optimizer: str = "adam", seeds: int = 8,
                seed: int = 0, batch: int = 4, in_dim: int = 32, out_dim: int = 10,
                base_width: int | None = None, parametrizations: Sequence[str] = PARAMETRIZATIONS,
                mup_tol: float = MUP_TOL, sp_min: float = SP_MIN) -> CoordCheck:
    r"""Runs the μP coordinate check of a ReLU MLP (see the module docstring).

    The MLP has ``depth`` ReLU layers of width :math:`n` (He-initialized, zero biases) and
    a linear readout (LeCun), trained with cross-entropy on a fixed random batch. SP uses
    the optimizer as is; μP builds :func:`jinit.mup.plan` against the same MLP at
    ``base_width``, rescales the readout and chains :meth:`jinit.mup.Plan.transform`.
    Each width's seeds run in one ``jax.vmap``.

    Args:
      widths: the widths :math:`n` (at least 2, positive).
      depth: ReLU layers (the first maps ``in_dim`` to :math:`n`).
      steps: optimizer steps :math:`T`.
      lr: the learning rate.
      optimizer: ``"adam"`` or ``"sgd"``.
      seeds: independent initializations and batches averaged per width.
      seed: the base seed.
      batch, in_dim, out_dim: data sizes.
      base_width: μP's base width (default: the smallest width).
      parametrizations: any of ``"sp"``, ``"mup"``.
      mup_tol, sp_min: the pass thresholds on the fitted slopes.

    Returns:
      A :class:`CoordCheck`.

    Raises:
      ValueError: fewer than 2 widths, a non-positive size, an unknown optimizer or
        parametrization.
    """
    fn = "coord_check"
    widths = tuple(int(_checks.scalar(fn, "widths", w, strict=True)) for w in widths)
    if len(set(widths)) < 2:
        raise _checks.fail(fn, "widths", widths, "has fewer than 2 distinct widths",
                           "at least 2 widths to fit a slope")
    for name, value in (("depth", depth), ("steps", steps), ("seeds", seeds), ("batch", batch),
                        ("in_dim", in_dim), ("out_dim", out_dim)):
        _checks.scalar(fn, name, value, minimum=1)
    _checks.choice(fn, "optimizer", optimizer, mup.OPTIMIZERS)
    for p in parametrizations:
        _checks.choice(fn, "parametrizations", p, PARAMETRIZATIONS)
    base = min(widths) if base_width is None else int(base_width)
    keys = jax.random.split(jax.random.key(seed), seeds)
    layers = tuple(f"h{i + 1}" for i in range(depth)) + ("logits",)
    run = _make_run(in_dim=in_dim, out_dim=out_dim, depth=depth, steps=steps, lr=lr,
                    optimizer=optimizer, batch=batch, padded=max(widths))
    cases = [(p, w) for p in parametrizations for w in widths]
    factors = [_factors(w, base, p, in_dim=in_dim, out_dim=out_dim, depth=depth,
                        optimizer=optimizer) for p, w in cases]
    stack = lambda trees: jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *trees)  # noqa: E731
    out = run(keys, jnp.asarray([w for _, w in cases], jnp.int32),
              stack([f[0] for f in factors]), stack([f[1] for f in factors]))
    out = np.asarray(out, np.float64).mean(axis=1)   # (cases, steps, layers), mean over seeds
    deltas, slopes = {}, {}
    logw = np.log(np.asarray(widths, np.float64))
    for j, p in enumerate(parametrizations):
        d = out[j * len(widths):(j + 1) * len(widths)]
        deltas[p] = d
        slopes[p] = np.array([np.polyfit(logw, np.log(d[:, -1, i]), 1)[0]
                              for i in range(len(layers))])
    config = {"depth": depth, "steps": steps, "lr": lr, "optimizer": optimizer, "seeds": seeds,
              "seed": seed, "batch": batch, "in_dim": in_dim, "out_dim": out_dim,
              "base_width": base}
    return CoordCheck(widths, layers, deltas, slopes, config, mup_tol, sp_min)


def plot_coord_check(data: CoordCheck, path: str) -> None:
    """Draws :math:`\\Delta_t(\\ell)` against width (log-log): one row per parametrization,
    one column per step, one line per layer; writes a PNG to ``path``.

    Args:
      data: a :class:`CoordCheck` (or :class:`CoordChecks`, whose width check is drawn).
      path: the output file.
    """
    if isinstance(data, CoordChecks):
        if "width" not in data.results:
            return
        data = data.results["width"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"sp": "standard parametrization", "mup": "μP"}
    params = list(data.deltas)
    steps = next(iter(data.deltas.values())).shape[1]
    fig, axes = plt.subplots(len(params), steps, figsize=(3.0 * steps, 2.8 * len(params)),
                             squeeze=False, sharey="row")
    for r, p in enumerate(params):
        for t in range(steps):
            ax = axes[r][t]
            for i, name in enumerate(data.layers):
                ax.plot(data.widths, data.deltas[p][:, t, i], "o-", label=name, ms=3)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{names[p]}, step {t + 1}", fontsize=9)
            ax.set_xlabel("width")
            if t == 0:
                ax.set_ylabel("RMS of x_t - x_0")
        axes[r][-1].legend(fontsize=7)
    fig.suptitle("coordinate check: μP updates stay flat in width, SP updates grow "
                 "(last-step slopes: " + ", ".join(
                     f"{p} {math.fsum(data.slopes[p]) / len(data.slopes[p]):+.2f}"
                     for p in params) + " mean)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ the three checks together

COORD_KINDS = ("width", "depth", "unit")


@dataclass(frozen=True)
class CoordChecks:
    """The coordinate checks of ``jinit verify --coord-check``: ``{kind: result}``.

    ``width``: :class:`CoordCheck` (μP); ``depth``: ``DepthCheck`` (CompleteP against SP);
    ``unit``: ``UnitCheck`` (u-μP in bfloat16).
    """

    results: dict[str, object]

    @property
    def passed(self) -> bool:
        return all(bool(r.passed) for r in self.results.values())

    def table(self) -> str:
        titles = {"width": "width (μP): log-log slope of update size against width",
                  "depth": "depth (CompleteP): log-log slope of update size against depth",
                  "unit": "unit scale (u-μP)"}
        return "\n\n".join(f"{titles[k]}\n{r.table()}" for k, r in self.results.items())

    def to_json(self) -> dict[str, object]:
        return {"check": "coord_checks", "passed": self.passed,
                **{k: r.to_json() for k, r in self.results.items()}}


def coord_checks(kinds: Sequence[str] = COORD_KINDS, *, seed: int = 0,
                 progress=None) -> CoordChecks:
    """Runs the width, depth and unit-scale coordinate checks named in ``kinds``."""
    for k in kinds:
        _checks.choice("verify.coord_checks", "kinds", k, COORD_KINDS)
    out: dict[str, object] = {}
    for k in kinds:
        if k == "width":
            if progress:
                progress("coord-check: training MLPs at widths 64..1024 (SP and μP)")
            out[k] = coord_check(seed=seed)
        elif k == "depth":
            from ._coord_depth import depth_coord_check

            if progress:
                progress("coord-check: residual MLPs at depths 4..64 (SP and CompleteP)")
            out[k] = depth_coord_check(seed=seed)
        else:
            from ._coord_unit import unit_check

            if progress:
                progress("coord-check: u-μP residual MLP in bfloat16 at widths 64..1024")
            out[k] = unit_check(seed=seed)
    return CoordChecks(out)
