r"""The depth coordinate check: do update sizes stay flat as residual blocks are added?

See :func:`depth_coord_check`. References: Dey et al., "Don't be lazy: CompleteP enables
compute-efficient deep transformers", arXiv:2505.01618, 2025; Yang, Yu, Zhu & Hayou, "Tensor
Programs VI: Feature Learning in Infinite-Depth Neural Networks", arXiv:2310.02244, 2023.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from jinit import _checks, mup

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
