"""``jinit.audit.check``: every leaf of a real tree against the law its rule declares."""

from __future__ import annotations

import functools
import math
import re
import sys
import time
import zlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jinit import _checks, _rules
from jinit.laws import Check, Exact, RealLaw
from jinit.structure import fit_rules, warn_unfitted

from . import _laws, _leaves, _stats, _tests
from ._report import Leaf, Report

ALPHA = 1e-6


def alpha_arg(fn: str, alpha: object) -> float:
    value = _checks.real(fn, "alpha", alpha, minimum=0.0, strict=True)
    if value >= 1:
        raise _checks.fail(fn, "alpha", alpha, "is out of range", "a false-flag rate in (0, 1)")
    return value


def only_arg(fn: str, only: object) -> re.Pattern[str] | None:
    if only is None:
        return None
    if not isinstance(only, (str, re.Pattern)):
        raise _checks.fail(fn, "only", only, "is not a pattern", "a regular expression (str)",
                           exc=TypeError)
    try:
        return re.compile(only)
    except re.error as e:
        raise _checks.fail(fn, "only", only, f"is not a valid regular expression ({e})",
                           "a pattern re.compile accepts") from None


def fresh_key(seed: int, path: str) -> jax.Array:
    """The key of the audit's fresh draw of the leaf at ``path``: ``key(seed)`` folded once
    with the path's CRC-32 (31 bits).

    Deliberately not :func:`jinit.tree.leaf_key`: a fresh draw is the second sample of a
    two-sample test (an undeclared law, a complex leaf, nGPT's unit vectors), whose false-flag
    rate and detectable error hold for two *independent* samples. ``tree.leaf_key(key(0),
    path)`` is what ``init_tree(jax.random.key(0), ...)`` drew the leaf with, and ``seed=0`` is
    the default here, so with that key the fresh draw would be the audited leaf itself (a
    test that cannot flag it); this derivation shares no key with ``init_tree``'s. Changing
    it would change every audit's fresh draws. (For deterministic initializers the key does
    not matter.)
    """
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32(path.encode()) & 0x7FFFFFFF)


@functools.cache
def _program(init: Callable, shape: tuple[int, ...], dtype: np.dtype, sharding: object):
    return jax.jit(lambda k: init(k, shape, dtype), out_shardings=sharding)


def fresh(init: Callable, key: jax.Array, leaf: jax.Array) -> jax.Array:
    """A new draw of ``init`` with the leaf's shape, dtype and sharding."""
    shape, dtype = tuple(leaf.shape), np.dtype(leaf.dtype)
    sharding = _leaves.sharding_of(leaf)
    try:
        return _program(init, shape, dtype, sharding)(key)
    except TypeError:  # unhashable initializer or sharding: no cache
        return jax.jit(lambda k: init(k, shape, dtype), out_shardings=sharding)(key)


HOST_EXACT = 1 << 22  # exact leaves up to this size on one device: compared on the host


def _exact(leaf: jax.Array, init: Callable, law: Exact, key: Callable, row: dict
           ) -> list[Check]:
    """Equality with the declared values, within the declaration's ulps.

    A leaf on one device (up to ``HOST_EXACT`` values) is compared on the host with the
    declaration's own closed form; a sharded or larger one on its devices, with the
    deterministic initializer's output placed like the leaf.
    """
    dtype = np.dtype(leaf.dtype)
    eps = float(jnp.finfo(dtype).eps) if law.ulps else 0.0
    sharding = _leaves.sharding_of(leaf)
    if leaf.size <= HOST_EXACT and (sharding is None or len(sharding.device_set) == 1):
        cplx = bool(jnp.issubdtype(dtype, jnp.complexfloating))
        wide = np.complex128 if cplx else np.float64
        want = np.asarray(np.broadcast_to(law.value, leaf.shape).astype(wide).astype(dtype), wide)
        got = np.asarray(jax.device_get(leaf)).astype(wide)
        gap = np.abs(got - want)
        bad = ~(gap <= law.ulps * eps * np.abs(want))
        differ = int(np.sum(bad))
        worst = float(np.max(np.where(np.isfinite(gap), gap, np.inf), initial=0.0))
    else:
        ref = fresh(init, key(), leaf)
        st = jax.device_get(_stats.mismatch(leaf, ref, np.asarray(law.ulps * eps, np.float32)))
        differ, worst = int(st["differ"]), float(st["worst"])
    bound = "= exact" if law.ulps == 0 else f"within {law.ulps:g} ulp"
    return [Check(**row, check="values", expected="declared values",
                        measured="equal" if differ == 0 else f"{differ} differ (max {worst:.3g})",
                        bound=bound, passed=differ == 0, info={"differ": differ, "worst": worst})]


def _audit_pieces(path: str, leaf: jax.Array, init: Callable, alpha: float, seed: int) -> Leaf:
    """A leaf made of per-slice initializers (a recipe's scanned stack or fused QKV).

    Each piece is audited against its own initializer's law at ``alpha / pieces``, so the
    leaf keeps its false-flag rate; the leaf is flagged when any piece is.
    """
    axis, inits, mode = init.pieces
    shape, dtype = tuple(int(d) for d in leaf.shape), np.dtype(leaf.dtype)
    if mode == "stack":
        parts = [jnp.take(leaf, i, axis=axis) for i in range(len(inits))]
    else:
        parts = jnp.split(leaf, len(inits), axis=axis)
    subs = [audit_leaf(f"{path}[{i}]", part, piece, alpha / len(inits), seed)
            for i, (part, piece) in enumerate(zip(parts, inits, strict=True))]
    out = Leaf(path, _laws.label_of(init), shape, dtype.name, "ok")
    out.method = f"{len(inits)} {'layers' if mode == 'stack' else 'parts'}"
    out.checks = [c for sub in subs for c in sub.checks]
    out.detectable = max(sub.detectable for sub in subs)
    if any(sub.verdict == "FLAGGED" for sub in subs):
        out.verdict = "FLAGGED"
    return out


def audit_leaf(path: str, leaf: jax.Array, init: Callable, alpha: float, seed: int) -> Leaf:
    """One leaf against the law ``init`` declares (a fresh draw of ``init`` when none)."""
    init = _laws.unwrap(init)
    flat = _laws.flattened(init)
    if flat is not None:
        # a DenseGeneral kernel: drawn on (prod(inputs), prod(features)) and reshaped
        inner, n_features = flat
        shape = tuple(int(d) for d in leaf.shape)
        two_d = (math.prod(shape[:-n_features]), math.prod(shape[-n_features:]))
        out = audit_leaf(path, jnp.reshape(leaf, two_d), inner, alpha, seed)
        out.shape = shape
        out.initializer += f" on the {two_d[0]}x{two_d[1]} flattened kernel"
        return out
    if getattr(init, "pieces", None) is not None:
        return _audit_pieces(path, leaf, init, alpha, seed)
    shape, dtype = tuple(int(d) for d in leaf.shape), np.dtype(leaf.dtype)
    resolved = _laws.resolve(init, shape, dtype)
    out = Leaf(path, resolved.label, shape, dtype.name, "ok")
    row = {"initializer": path, "shape": str(shape), "dtype": dtype.name}
    n = math.prod(shape)
    law = resolved.law
    if n == 0:
        out.method = "empty"
        out.checks = [Check(**row, check="size", expected=0, measured=0, bound="",
                                  passed=True)]
        out.detectable = math.inf
        return out
    if getattr(init, "unit_axes", None) is not None:
        # Unit vectors (nGPT): each norm exactly, and the values against a fresh draw.
        out.method = "unit norm"
        out.checks, out.detectable = _tests.unit_norm(leaf, init.axes_for(shape), dtype, row)
        if out.checks[0].passed:
            out.checks += _tests.two_sample(leaf, fresh(init, fresh_key(seed, path), leaf),
                                            alpha, row, what="fresh")[0][1:]
    elif isinstance(law, Exact):
        out.method, out.detectable = "exact", 0.0
        out.checks = _exact(leaf, init, law, lambda: fresh_key(seed, path), row)
    elif isinstance(law, _laws.STRUCTURED):
        out.method = "orthogonal"
        out.checks, out.detectable = _tests.structure(leaf, law, dtype, row)
    elif isinstance(law, RealLaw) and not jnp.iscomplexobj(leaf):
        out.method = "law"
        st, b = _tests.law_moments(leaf, law, dtype)
        out.checks, out.detectable = _tests.one_sample(law, dtype, st, b, n, alpha, row)
    else:
        out.method = "fresh draw"
        why = resolved.why or "complex leaf: compared on |w| with a fresh draw"
        out.initializer = f"{resolved.label} [{why}; vs a fresh draw]"
        checks, out.detectable, _ = _tests.two_sample(leaf, fresh(init, fresh_key(seed, path), leaf), alpha, row,
                                                      what="fresh")
        out.checks = checks
    if not all(c.passed for c in out.checks):
        out.verdict = "FLAGGED"
    return out


def _equinox_leaves(params: object) -> tuple[list[tuple[str, object]], Callable] | None:
    """An Equinox model's array leaves and ``view(path, leaf, init) -> (leaf, init)``.

    Leaves that are not arrays (activation functions, ``None`` left by ``eqx.filter``) and
    ``StateIndex`` state (``BatchNorm`` statistics) are left out, as
    :func:`jinit.equinox.init` leaves them; a leaf of a known layer is seen in the Flax
    layout that ``jinit.equinox.init`` called its initializer on (``Linear.weight``
    ``(out, in)`` as ``(in, out)``), with the layout table of :mod:`jinit.equinox`.
    Returns ``None`` for a tree without Equinox modules.
    """
    eqx = sys.modules.get("equinox")
    if eqx is None or not any(isinstance(x, eqx.Module) for x in jax.tree.leaves(
            params, is_leaf=lambda x: isinstance(x, eqx.Module))):
        return None
    from jinit import equinox as jeqx

    layouts, state = jeqx.audit_layouts(params)
    flat = []
    for key_path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        path = _rules.path_str(key_path)
        if isinstance(leaf, (jax.Array, np.ndarray)) and path not in state:
            flat.append((path, leaf))
    if not flat:
        raise _checks.fail("audit.check", "params", params, "has no array leaves",
                           _leaves.EXPECTED)

    def view(path: str, leaf: object, init: Callable) -> tuple[object, Callable]:
        layout = layouts.get(path, (None, None))[0]
        return jeqx.audit_view(layout, init, jnp.asarray(leaf))

    return flat, view


def check(params: object, rules: object, *, default: Callable | None = None,
          alpha: float = ALPHA, strict: bool = False, only: str | None = None,
          seed: int = 0, structure: object = None) -> Report:
    r"""Tests every leaf of a parameter tree against the law its declared initializer promises.

    Each leaf (path :math:`p`, values :math:`x_1..x_n`) is matched to an initializer by
    ``rules`` exactly as :func:`jinit.tree.init_tree` matches it, and the initializer's
    declaration in :mod:`jinit.laws` gives the law :math:`F` its output follows for the
    leaf's own shape and dtype (fans, batch axes and rounding included). Then, at a
    false-flag rate of ``alpha`` per leaf split over the leaf's random checks
    (:math:`z = \Phi^{-1}(1 - \alpha/2k)`, :math:`k` = 3 or 4):

    .. math::

        |\bar x - \mu| \le z\frac{\sigma}{\sqrt n}, \quad
        \Bigl|\frac{s^2}{\sigma^2} - 1\Bigr| \le z\sqrt{\frac{\kappa - 1}{n}
        + \frac{2}{n(n-1)}}, \quad
        \sup_j |F_n(e_j) - F(e_j)| \le \sqrt{\frac{\ln(2k/\alpha)}{2n}},

    the support, the zero counts of sparse schemes, unit norms (nGPT's unit vectors, also
    compared with a fresh draw), orthogonality
    (:math:`\max|Q^\top Q/s^2 - I|` within rounding) for orthogonal schemes, and equality
    for deterministic ones (zeros, constants, identity, dirac), computed on the devices that
    hold each leaf. An initializer with no declared law (a user's own function) is compared
    with a fresh draw of itself by a two-sample test. ``jax.nn.initializers`` (Flax's
    ``nn.initializers``, the defaults a Flax model declares, as
    :func:`jinit.tree.rules_from` finds them) are named as jax names them (``flax
    lecun_normal``) and tested against the law of the jinit factory of the same name and
    arguments, which keeps their distribution (:mod:`jinit.audit._laws`). An Equinox module
    is audited in the layouts :func:`jinit.equinox.init` knows: a ``Linear`` weight
    ``(out, in)`` is read as the ``(in, out)`` matrix its initializer was called on, so
    rules written for ``jinit.equinox.init`` audit its draws. Every row states the smallest
    relative std error its leaf's size lets the audit flag at 99.9% power
    (:mod:`jinit.audit._tests`).

    Args:
      params: a linen variables or params dict (``nn.Partitioned`` boxes allowed), an
        ``nnx.State``, an NNX module (its ``nnx.Param`` state), an Equinox module (its
        array leaves, ``StateIndex`` state left out; ``eqx.filter``-ed too), or any pytree
        of arrays, sharded or not.
      rules: what :func:`jinit.tree.init_tree` takes: ``{regex: initializer}``, pairs, a
        function ``(path, shape, dtype) -> initializer | None``, an object with
        ``__jinit_rules__()``, or ``None``.
      default: the initializer of leaves no rule matches; without it such a leaf is
        reported ``"undeclared"`` (and the audit is not ok).
      alpha: the false-flag rate per leaf, in (0, 1).
      strict: a rule that matches no leaf raises instead of warning.
      only: audit only leaves whose path matches this regex (rules still see every leaf).
      seed: the seed of the fresh draws (deterministic initializers, undeclared laws).
      structure: ``jinit.structure.trace(model, *args)``: each declared initializer gets
        the fan axes the model's computation implies, exactly as
        :func:`jinit.tree.init_tree` draws it with the same ``structure``.

    Returns:
      A :class:`jinit.audit.Report`: ``.ok``, ``.flagged``, ``.rows``, ``str()``, ``.to_json()``.

    Raises:
      ValueError, TypeError: bad rules, ``alpha``, ``only`` or a tree without array leaves.

    Example:
      >>> import jax, jinit
      >>> from jinit import audit
      >>> shapes = {"w": jax.ShapeDtypeStruct((1024, 512), "float32"),
      ...           "b": jax.ShapeDtypeStruct((512,), "float32")}
      >>> rules = {"w": jinit.glorot_uniform(), "b": jinit.zeros}
      >>> params = jinit.tree.init_tree(jax.random.key(0), shapes, rules)
      >>> audit.check(params, rules).ok
      True
      >>> params["w"] = params["w"] * 1.02                     # 2% too large
      >>> report = audit.check(params, rules)
      >>> report.flagged                                        # doctest: +ELLIPSIS
      {'w': ('std', ...)}
      >>> print(f"{report.leaves[1].detectable:.1%}")      # the smallest error 'w' can show
      0.5%
    """
    fn = "audit.check"
    t0 = time.perf_counter()
    alpha = alpha_arg(fn, alpha)
    pattern = only_arg(fn, only)
    seed = _checks.integer(fn, "seed", seed)
    compiled = _rules.compile_rules(fn, rules)
    if default is not None:
        _rules.check_initializer(fn, "default", default)
    compiled = fit_rules(fn, compiled, structure, default)
    eqx = _equinox_leaves(params)
    flat, view = eqx if eqx is not None else (_leaves.flatten(fn, "params", params), None)
    compiled.check_paths([p for p, _ in flat])
    if structure is None and eqx is None:  # Equinox leaves are read in their layouts
        warn_unfitted(fn, compiled, default, [(p, tuple(x.shape), np.dtype(x.dtype))
                                              for p, x in flat if _leaves.is_floating(x)])
    leaves = []
    for path, leaf in flat:
        shape = tuple(int(d) for d in leaf.shape)
        floating = _leaves.is_floating(leaf)
        found = compiled.match(path, shape, np.dtype(leaf.dtype) if floating else None)
        if pattern is not None and not pattern.search(path):
            continue
        if not floating:
            leaves.append(Leaf(path, "-", shape, _leaves.dtype_name(leaf), "skipped"))
            continue
        if found is None and default is None:
            leaves.append(Leaf(path, "(no rule)", shape, np.dtype(leaf.dtype).name, "undeclared"))
            continue
        init = default if found is None else found[1]
        if not callable(init):
            raise _checks.fail(fn, found[0] if found else "default", init,
                               f"is not callable (for leaf {path!r})",
                               "an initializer init(key, shape, dtype)", exc=TypeError)
        value = jnp.asarray(leaf) if isinstance(leaf, np.ndarray) else leaf
        if view is None:
            leaves.append(audit_leaf(path, value, init, alpha, seed))
            continue
        seen, drawn = view(path, value, init)
        row = audit_leaf(path, seen, drawn, alpha, seed)
        if tuple(seen.shape) != shape:
            row.shape = shape
            row.initializer += " (read in the Flax layout " + str(tuple(seen.shape)) + ")"
        leaves.append(row)
    compiled.report_unmatched([p for p, _ in flat], strict=strict)
    return Report(leaves, alpha, "check", seconds=time.perf_counter() - t0)
