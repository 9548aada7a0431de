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
      data: a :class:`CoordCheck`.
      path: the output file.
    """
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


# ------------------------------------------------------------------------------ depth

DEPTH_PARAMETRIZATIONS = ("sp", "completep", "depth_mup")
_ALPHA = {"sp": None, "completep": 1.0, "depth_mup": 0.5}
DEPTH_LAYERS = ("embed", "h(1)", "h(L/2+1)", "x(L/2)", "x(L)", "logits")
# |slope| of CompleteP's update sizes against depth, and SP's least growth on the residual
# stream and logits (x(L/2), x(L), logits), with the defaults.
DEPTH_TOL = 0.05
DEPTH_SP_MIN = 0.3


@dataclass(frozen=True)
class DepthCheck:
    """Result of :func:`depth_coord_check`.

    Attributes:
      depths: the depths trained.
      layers: the recorded layers (:data:`DEPTH_LAYERS`).
      deltas: ``{parametrization: array (len(depths), steps, len(layers))}``, seed means.
      slopes: ``{parametrization: array (len(layers),)}``, last-step log-log slopes against
        depth (NaN where a run diverged).
      diverged: ``{parametrization: [depth, ...]}`` runs whose loss or updates were not finite.
      config: the arguments of the run.
      tol, sp_min: the pass thresholds.
    """

    depths: tuple[int, ...]
    layers: tuple[str, ...]
    deltas: dict[str, np.ndarray]
    slopes: dict[str, np.ndarray]
    diverged: dict[str, list[int]]
    config: dict[str, object] = field(default_factory=dict)
    tol: float = DEPTH_TOL
    sp_min: float = DEPTH_SP_MIN

    def flat(self, parametrization: str = "completep") -> bool:
        """Every layer's slope lies within ``±tol`` and no run diverged."""
        s = self.slopes[parametrization]
        return not self.diverged[parametrization] and bool(np.all(np.abs(s) <= self.tol))

    @property
    def sp_grows(self) -> bool:
        """SP diverged at some depth, or its stream and logit slopes are all above ``sp_min``."""
        if self.diverged["sp"]:
            return True
        idx = [self.layers.index(n) for n in ("x(L/2)", "x(L)", "logits")]
        return bool(np.all(self.slopes["sp"][idx] > self.sp_min))

    @property
    def passed(self) -> bool:
        """Every depth-scaled parametrization run is flat, and SP (when run) grows."""
        ok = all(self.flat(p) for p in self.slopes if p != "sp")
        return ok and (self.sp_grows if "sp" in self.slopes else True)

    def table(self) -> str:
        c = self.config
        head = (f"depths {', '.join(map(str, self.depths))} (base {c.get('base_depth')}), "
                f"width {c.get('width')}, adam lr {c.get('lr')}, {c.get('steps')} steps, "
                f"{c.get('seeds')} seeds; slope of log RMS(x_T - x_0) against log depth")
        rows = [("layer", *(f"slope {p}" for p in self.slopes))]
        for i, name in enumerate(self.layers):
            rows.append((name, *(f"{self.slopes[p][i]:+.3f}" for p in self.slopes)))
        w = [max(len(r[j]) for r in rows) for j in range(len(rows[0]))]
        lines = [head] + ["  ".join(t.rjust(x) for t, x in zip(r, w, strict=True)) for r in rows]
        for p in self.slopes:
            if p != "sp":
                lines.append(f"{p} flat (|slope| <= {self.tol:g}): "
                             f"{'PASS' if self.flat(p) else 'FAIL'}")
        if "sp" in self.slopes:
            div = self.diverged["sp"]
            lines.append(f"sp grows (slope > {self.sp_min:g} on x and logits"
                         f"{', or diverges' if not div else ''}): "
                         f"{'yes' if self.sp_grows else 'NO'}"
                         + (f" (diverged at depth {', '.join(map(str, div))})" if div else ""))
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {"check": "depth_coord_check", "depths": list(self.depths),
                "layers": list(self.layers),
                "deltas": {p: d.tolist() for p, d in self.deltas.items()},
                "slopes": {p: [None if not np.isfinite(v) else float(v) for v in s]
                           for p, s in self.slopes.items()},
                "diverged": dict(self.diverged), "tol": self.tol, "sp_min": self.sp_min,
                "passed": self.passed, "config": dict(self.config)}


def _depth_shapes(depth: int, in_dim: int, width: int, out_dim: int) -> dict:
    sds = lambda *s: jax.ShapeDtypeStruct(s, jnp.float32)  # noqa: E731
    return {"embed": sds(in_dim, width),
            "blocks": [{"w1": sds(width, width), "w2": sds(width, width)}
                       for _ in range(depth)],
            "head": sds(width, out_dim)}


def _depth_factors(depth: int, base_depth: int, padded: int, parametrization: str, *,
                   in_dim: int, width: int, out_dim: int) -> tuple[float, dict]:
    """Branch multiplier and stacked learning-rate factors from :func:`jinit.mup.plan`."""
    alpha = _ALPHA[parametrization]
    tree = _depth_shapes(depth, in_dim, width, out_dim)
    base = _depth_shapes(base_depth, in_dim, width, out_dim)
    plan = mup.plan(tree, base, alpha=alpha, optimizer="adam")
    lr = plan.lr_multipliers
    blocks = {k: np.full((padded,), lr[f"blocks/0/{k}"], np.float32) for k in ("w1", "w2")}
    return plan.branch_multiplier, {"embed": np.float32(lr["embed"]), "head": np.float32(lr["head"]),
                                    "blocks": blocks}


def _make_depth_run(*, in_dim: int, width: int, out_dim: int, padded: int, steps: int,
                    lr: float, batch: int, branch_init: float):
    import optax

    inner = optax.adam(lr)

    def norm(x):
        return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), -1, keepdims=True) + 1e-6)

    def forward(p, x, mask, mult):
        x = x @ p["embed"]
        emb = x

        def block(x, b):
            h = jax.nn.relu(norm(x) @ b["w1"])
            x = x + b["on"] * mult * (h @ b["w2"])
            return x, (h, x)

        blocks = dict(p["blocks"], on=mask)
        x, (hs, xs) = jax.lax.scan(block, x, blocks)
        return emb, hs, xs, x @ p["head"]

    def one(key, depth, mult, lr_mult):
        ke, k1, k2, kh, kx, ky = jax.random.split(key, 6)
        mask = (jnp.arange(padded) < depth).astype(jnp.float32)
        p = {"embed": jax.random.normal(ke, (in_dim, width)) / jnp.sqrt(in_dim),
             "blocks": {"w1": jax.random.normal(k1, (padded, width, width)) * jnp.sqrt(2 / width),
                        "w2": jax.random.normal(k2, (padded, width, width))
                                   * (branch_init / jnp.sqrt(width))},
             "head": jax.random.normal(kh, (width, out_dim)) / jnp.sqrt(width)}
        x = jax.random.normal(kx, (batch, in_dim))
        y = jax.random.randint(ky, (batch,), 0, out_dim)
        half, last = depth // 2, depth - 1

        def record(q):
            emb, hs, xs, logits = forward(q, x, mask, mult)
            return [emb, hs[0], hs[half], xs[half - 1], xs[last], logits]

        def loss(q):
            logits = forward(q, x, mask, mult)[-1]
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        acts0 = record(p)

        def step(carry, _):
            q, s = carry
            u, s = inner.update(jax.grad(loss)(q), s, q)
            u = jax.tree.map(lambda a, m: a * (m[:, None, None] if m.ndim else m), u, lr_mult)
            q = optax.apply_updates(q, u)
            d = jnp.stack([jnp.sqrt(jnp.mean(jnp.square(a - a0)))
                           for a, a0 in zip(record(q), acts0, strict=True)])
            return (q, s), d

        _, deltas = jax.lax.scan(step, (p, inner.init(p)), None, length=steps)
        return deltas

    over_seeds = jax.vmap(one, in_axes=(0, None, None, None))
    return jax.jit(jax.vmap(over_seeds, in_axes=(None, 0, 0, 0)))


def depth_coord_check(depths: Sequence[int] = (4, 8, 16, 32, 64), *, width: int = 128,
                      steps: int = 3, lr: float = 2e-3, seeds: int = 4, seed: int = 0,
                      batch: int = 16, in_dim: int = 32, out_dim: int = 10,
                      base_depth: int | None = None, branch_init: float = 0.0,
                      parametrizations: Sequence[str] = ("sp", "completep"),
                      tol: float = DEPTH_TOL, sp_min: float = DEPTH_SP_MIN) -> DepthCheck:
    r"""Runs the depth coordinate check: do update sizes stay flat as residual blocks are added?

    A pre-norm residual MLP, :math:`x_{l+1} = x_l + m\, W_2^l\, \mathrm{relu}(W_1^l\,
    \mathrm{rms}(x_l))` (He :math:`W_1`, LeCun :math:`W_2`), between a linear embedding and a
    linear readout, is trained for ``steps`` Adam steps at each depth :math:`L` and fixed
    width. The plan is :func:`jinit.mup.plan` against the same network at ``base_depth``
    blocks (default the smallest depth): ``"completep"`` (:math:`\alpha = 1`: :math:`m =
    (L/L_0)^{-1}`, block learning rates :math:`\times 1`), ``"depth_mup"`` (:math:`\alpha =
    1/2`: :math:`m = (L/L_0)^{-1/2}`, block learning rates :math:`\times (L/L_0)^{-1/2}`) or
    ``"sp"`` (:math:`m = 1`, no factors). Recorded: :math:`\mathrm{RMS}(x_T - x_0)` of the
    embedding, the block-internal activation :math:`h` and the stream :math:`x` after the
    middle and last blocks, and the logits; the log-log slope against :math:`L` at step
    :math:`T` is fitted per layer. CompleteP and depth-μP pass when every
    :math:`|\text{slope}| \le` ``tol``; SP is shown to grow when the stream and logit slopes
    exceed ``sp_min``, or when a run diverges (reported, its slope NaN). All depths run in one
    compiled program (blocks beyond :math:`L` are switched off, so they stay exactly zero).

    Returns:
      A :class:`DepthCheck`.

    References:
      Dey et al., arXiv:2505.01618, 2025 (CompleteP); Yang et al., arXiv:2310.02244, 2023
      (Tensor Programs VI, depth-μP).
    """
    fn = "verify.depth_coord_check"
    depths = tuple(_checks.integer(fn, "depths", d, minimum=2) for d in depths)
    if len(set(depths)) < 2:
        raise _checks.fail(fn, "depths", depths, "has fewer than 2 distinct depths",
                           "at least 2 depths to fit a slope")
    for name, value in (("width", width), ("steps", steps), ("seeds", seeds), ("batch", batch),
                        ("in_dim", in_dim), ("out_dim", out_dim)):
        _checks.integer(fn, name, value, minimum=1)
    for p in parametrizations:
        _checks.choice(fn, "parametrizations", p, DEPTH_PARAMETRIZATIONS)
    base = min(depths) if base_depth is None else _checks.integer(fn, "base_depth", base_depth,
                                                                  minimum=1)
    padded = max(depths)
    cases = [(p, d) for p in parametrizations for d in depths]
    factors = [_depth_factors(d, base, padded, p, in_dim=in_dim, width=width, out_dim=out_dim)
               for p, d in cases]
    run = _make_depth_run(in_dim=in_dim, width=width, out_dim=out_dim, padded=padded,
                          steps=steps, lr=lr, batch=batch, branch_init=branch_init)
    stack = lambda trees: jax.tree.map(lambda *xs: jnp.asarray(np.stack(xs)), *trees)  # noqa: E731
    keys = jax.random.split(jax.random.key(seed), seeds)
    out = run(keys, jnp.asarray([d for _, d in cases], jnp.int32),
              jnp.asarray([f[0] for f in factors], jnp.float32), stack([f[1] for f in factors]))
    out = np.asarray(out, np.float64)                 # (cases, seeds, steps, layers)
    logd = np.log(np.asarray(depths, np.float64))
    deltas, slopes, diverged = {}, {}, {}
    for j, p in enumerate(parametrizations):
        d = out[j * len(depths):(j + 1) * len(depths)]
        bad = ~np.all(np.isfinite(d), axis=(1, 2, 3)) | np.any(d > 1e6, axis=(1, 2, 3))
        diverged[p] = [depths[i] for i in np.flatnonzero(bad)]
        deltas[p] = d.mean(axis=1)
        slopes[p] = (np.full(len(DEPTH_LAYERS), np.nan) if bad.any() else
                     np.array([np.polyfit(logd, np.log(deltas[p][:, -1, i]), 1)[0]
                               for i in range(len(DEPTH_LAYERS))]))
    config = {"width": width, "steps": steps, "lr": lr, "seeds": seeds, "seed": seed,
              "batch": batch, "in_dim": in_dim, "out_dim": out_dim, "base_depth": base}
    return DepthCheck(depths, DEPTH_LAYERS, deltas, slopes, diverged, config, tol, sp_min)
