r"""The u-μP check: unit RMS at init in bfloat16, and updates flat in width.

A residual MLP written with :mod:`jinit.mup.unit` (unit-variance weights, unit-scaled
matmuls, residual blocks :math:`(x + \tau_l f(x))/\sqrt{1+\tau_l^2}` with
:func:`jinit.mup.unit.residual_taus`, a unit-scaled ReLU, the μP readout and the unit-scaled
cross-entropy) is built in ``dtype`` (bfloat16 by default) at each width, with no loss
scaling. At init it records the RMS of every activation (embedding, each block's two matmul
outputs, its activation and the stream after it), of the gradient reaching each of them,
and of every weight gradient; the check passes when all lie in ``[lo, hi]`` (default
``[0.5, 2]``) at every width. The logits are reported apart: μP's readout makes them
:math:`\Theta(n^{-1/2})` at init by design. After ``steps`` Adam steps with the u-μP learning
rates (:func:`jinit.mup.unit.plan`), the log-log slope of :math:`\mathrm{RMS}(x_T - x_0)`
against width is fitted for the embedding, the last stream and the logits: u-μP is μP, so
these are flat (``|slope| <= tol``).

References:
  Blake et al., "u-μP: The Unit-Scaled Maximal Update Parametrization", ICLR 2025,
  arXiv:2407.17465.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from jinit import _checks
from jinit.mup import unit

UNIT_TOL = 0.15
UPDATE_LAYERS = ("embed", "x(L)", "logits")


@dataclass(frozen=True)
class UnitCheck:
    """Result of :func:`unit_check`.

    Attributes:
      widths: the widths built.
      rms: ``{width: {name: RMS}}`` at init: ``act:...``, ``grad:...`` (gradient reaching an
        activation), ``wgrad:...`` (weight gradient) and ``logits``.
      update_slopes: ``{layer: slope}`` of the update size against width.
      config: the arguments; lo, hi, tol: the thresholds.
    """

    widths: tuple[int, ...]
    rms: dict[int, dict[str, float]]
    update_slopes: dict[str, float]
    config: dict[str, object] = field(default_factory=dict)
    lo: float = 0.5
    hi: float = 2.0
    tol: float = UNIT_TOL

    def span(self, kind: str) -> tuple[float, float]:
        """Smallest and largest RMS over widths of the entries starting with ``kind``."""
        vals = [v for r in self.rms.values() for k, v in r.items() if k.startswith(kind)]
        return (min(vals), max(vals)) if vals else (float("nan"), float("nan"))

    @property
    def unit(self) -> bool:
        """Every activation and gradient RMS (logits aside) lies in ``[lo, hi]``."""
        return all(self.lo <= v <= self.hi for r in self.rms.values()
                   for k, v in r.items() if k != "logits")

    @property
    def flat(self) -> bool:
        return all(abs(s) <= self.tol for s in self.update_slopes.values())

    @property
    def passed(self) -> bool:
        return self.unit and self.flat

    def table(self) -> str:
        c = self.config
        lines = [f"u-μP residual MLP, depth {c.get('depth')}, {c.get('dtype')}, widths "
                 f"{', '.join(map(str, self.widths))}: RMS at init (no loss scaling)"]
        for kind, label in (("act:", "activations"), ("grad:", "activation gradients"),
                            ("wgrad:", "weight gradients"), ("logits", "logits (μP: n^-1/2)")):
            lo, hi = self.span(kind)
            lines.append(f"  {label:<22} {lo:.3f} .. {hi:.3f}")
        lines.append(f"all in [{self.lo:g}, {self.hi:g}] (logits aside): "
                     f"{'PASS' if self.unit else 'FAIL'}")
        lines.append("update slopes against width: " + ", ".join(
            f"{k} {v:+.3f}" for k, v in self.update_slopes.items())
            + f"; flat (|slope| <= {self.tol:g}): {'PASS' if self.flat else 'FAIL'}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {"check": "unit_check", "widths": list(self.widths),
                "rms": {str(w): r for w, r in self.rms.items()},
                "update_slopes": self.update_slopes, "unit": self.unit, "flat": self.flat,
                "passed": self.passed, "lo": self.lo, "hi": self.hi, "tol": self.tol,
                "config": dict(self.config)}


def _params(key, in_dim: int, width: int, out_dim: int, depth: int, dtype) -> dict:
    keys = jax.random.split(key, 2 * depth + 2)
    normal = lambda k, s: jax.random.normal(k, s, jnp.float32).astype(dtype)  # noqa: E731
    return {"embed": normal(keys[0], (in_dim, width)),
            "blocks": [{"w1": normal(keys[2 * i + 1], (width, width)),
                        "w2": normal(keys[2 * i + 2], (width, width))} for i in range(depth)],
            "head": normal(keys[-1], (width, out_dim))}


def _forward(p, x, probes, taus):
    """The u-μP MLP; ``probes`` (zeros) are added to each activation to read its gradient."""
    act = unit.activation("relu")
    acts = {}

    def tap(name, a):
        acts[name] = a
        return a + probes[name] if probes is not None else a

    h = tap("embed", unit.linear(x, p["embed"]))
    for i, (b, tau) in enumerate(zip(p["blocks"], taus, strict=True)):
        def branch(z, b=b, i=i):
            z = tap(f"b{i}.pre", unit.linear(z, b["w1"]))
            z = tap(f"b{i}.act", act(z))
            return tap(f"b{i}.out", unit.linear(z, b["w2"]))
        h = tap(f"x{i}", unit.residual_apply(branch, h, tau))
    return acts, unit.linear(h, p["head"], readout=True)


def _rms(a) -> float:
    return float(jnp.sqrt(jnp.mean(jnp.square(jnp.asarray(a, jnp.float32)))))


def unit_check(widths: Sequence[int] = (64, 256, 1024), *, depth: int = 4, steps: int = 3,
               lr: float = 2.0 ** -7, batch: int = 64, in_dim: int = 64, out_dim: int = 64,
               seed: int = 0, dtype: str = "bfloat16", lo: float = 0.5, hi: float = 2.0,
               tol: float = UNIT_TOL) -> UnitCheck:
    """Runs the u-μP check (see the module docstring); returns a :class:`UnitCheck`."""
    import optax

    fn = "verify.unit_check"
    widths = tuple(_checks.integer(fn, "widths", w, minimum=2) for w in widths)
    if len(set(widths)) < 2:
        raise _checks.fail(fn, "widths", widths, "has fewer than 2 distinct widths",
                           "at least 2 widths to fit a slope")
    for name, value in (("depth", depth), ("steps", steps), ("batch", batch),
                        ("in_dim", in_dim), ("out_dim", out_dim)):
        _checks.integer(fn, name, value, minimum=1)
    dt = jnp.dtype(dtype)
    taus = unit.residual_taus(depth)
    kx, ky, kp = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, (batch, in_dim), jnp.float32).astype(dt)
    y = jax.random.randint(ky, (batch,), 0, out_dim)
    rms, updates = {}, []
    for width in widths:
        p = _params(kp, in_dim, width, out_dim, depth, dt)
        acts, logits = _forward(p, x, None, taus)
        probes = {k: jnp.zeros_like(v) for k, v in acts.items()}

        def loss(p, probes):
            return unit.cross_entropy(_forward(p, x, probes, taus)[1], y)

        gp, gprobe = jax.jit(jax.grad(loss, argnums=(0, 1)))(p, probes)
        r = {f"act:{k}": _rms(v) for k, v in acts.items()}
        r.update({f"grad:{k}": _rms(v) for k, v in gprobe.items()})
        r.update({f"wgrad:{jax.tree_util.keystr(k)}": _rms(v)
                  for k, v in jax.tree_util.tree_leaves_with_path(gp)})
        r["logits"] = _rms(logits)
        rms[width] = r
        plan = unit.plan(p, roles={"^head$": "output"})
        tx = optax.chain(optax.adam(lr), plan.transform())

        def train(p, tx=tx):
            def step(carry, _):
                q, s = carry
                u, s = tx.update(jax.grad(loss)(q, None), s, q)
                return (optax.apply_updates(q, u), s), None
            (q, _), _ = jax.lax.scan(step, (p, tx.init(p)), None, length=steps)
            return q

        q = jax.jit(train)(p)
        new, new_logits = _forward(q, x, None, taus)
        updates.append([_rms(new["embed"] - acts["embed"]),
                        _rms(new[f"x{depth - 1}"] - acts[f"x{depth - 1}"]),
                        _rms(new_logits - logits)])
    logw = np.log(np.asarray(widths, np.float64))
    upd = np.log(np.asarray(updates, np.float64))
    slopes = {name: float(np.polyfit(logw, upd[:, i], 1)[0])
              for i, name in enumerate(UPDATE_LAYERS)}
    config = {"depth": depth, "steps": steps, "lr": lr, "batch": batch, "in_dim": in_dim,
              "out_dim": out_dim, "seed": seed, "dtype": str(dt)}
    return UnitCheck(widths, rms, slopes, config, lo, hi, tol)
