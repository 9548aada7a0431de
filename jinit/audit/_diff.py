"""``jinit.audit.diff``: two trees compared leaf by leaf, two-sample."""

from __future__ import annotations

import math
import time

import numpy as np

from jinit.laws import Check

from . import _leaves, _tests
from ._check import ALPHA, alpha_arg, only_arg
from ._report import Leaf, Report


def diff(a: object, b: object, *, alpha: float = ALPHA, only: str | None = None) -> Report:
    r"""Compares two parameter trees leaf by leaf: is each pair of leaves drawn from one law?

    Use it for a port against its reference, yesterday's init code against today's, or a
    checkpoint against a fresh init. For leaves :math:`x` (:math:`n` values) in ``a`` and
    :math:`y` (:math:`m`) at the same path in ``b``, at a false-flag rate ``alpha`` per
    leaf split over three checks (:math:`z = \Phi^{-1}(1 - \alpha/6)`):

    .. math::

        |\bar x - \bar y| \le z\sqrt{\frac{s_x^2}{n} + \frac{s_y^2}{m}}, \qquad
        \Bigl|\ln\frac{s_x^2}{s_y^2}\Bigr| \le z\sqrt{\frac{\hat\kappa_x - 1}{n}
        + \frac{\hat\kappa_y - 1}{m}}, \qquad
        \sup_j |F_n(e_j) - G_m(e_j)| \le \sqrt{\tfrac{\ln(12/\alpha)}{2n}}
        + \sqrt{\tfrac{\ln(12/\alpha)}{2m}},

    the last an exact distribution-free bound (two DKW bounds and the triangle
    inequality); the std ratio :math:`s_x/s_y` is reported per leaf. Statistics are reduced
    on the devices holding each leaf. Leaves whose shapes or dtypes differ are flagged;
    paths present on one side only are listed in ``report.missing`` (and the report is not
    ok).

    Args:
      a: a parameter tree (any form :func:`jinit.audit.check` takes).
      b: the tree to compare it with.
      alpha: the false-flag rate per leaf, in (0, 1).
      only: compare only leaves whose path matches this regex.

    Returns:
      A :class:`jinit.audit.Report` (``kind="diff"``), rows giving each leaf's std ratio.

    Example:
      >>> import jax, jinit
      >>> from jinit import audit
      >>> shapes = {"w": jax.ShapeDtypeStruct((1024, 256), "float32")}
      >>> rules = {"w": jinit.lecun_normal()}
      >>> a = jinit.tree.init_tree(jax.random.key(0), shapes, rules)
      >>> b = jinit.tree.init_tree(jax.random.key(1), shapes, rules)
      >>> audit.diff(a, b).ok
      True
      >>> audit.diff(a, {"w": b["w"] * 1.02}).flagged
      {'w': ('std ratio',)}
    """
    fn = "audit.diff"
    t0 = time.perf_counter()
    alpha = alpha_arg(fn, alpha)
    pattern = only_arg(fn, only)
    left = dict(_leaves.flatten(fn, "a", a))
    right = dict(_leaves.flatten(fn, "b", b))
    keep = (lambda p: True) if pattern is None else (lambda p: bool(pattern.search(p)))
    leaves = []
    for path, x in left.items():
        if not keep(path) or path not in right:
            continue
        y = right[path]
        shape = tuple(int(d) for d in x.shape)
        dtype = _leaves.dtype_name(x)
        out = Leaf(path, "a vs b", shape, dtype, "ok", method="two-sample")
        row = {"initializer": path, "shape": str(shape), "dtype": dtype}
        if tuple(y.shape) != shape or _leaves.dtype_name(y) != dtype:
            out.checks = [Check(**row, check="shape", expected=f"{dtype}{list(shape)}",
                                measured=f"{_leaves.dtype_name(y)}{list(y.shape)}",
                                bound="equal", passed=False)]
        elif not _leaves.is_floating(x):
            out.verdict = "skipped"
        elif math.prod(shape) == 0:
            out.checks = [Check(**row, check="size", expected=0, measured=0, bound="",
                                passed=True)]
        else:
            out.checks, out.detectable, _ = _tests.two_sample(
                np.asarray(x) if isinstance(x, (int, float)) else x, y, alpha, row)
        if out.verdict == "ok" and not all(c.passed for c in out.checks):
            out.verdict = "FLAGGED"
        leaves.append(out)
    missing = {"a": sorted(p for p in left if p not in right and keep(p)),
               "b": sorted(p for p in right if p not in left and keep(p))}
    return Report(leaves, alpha, "diff", missing={"only in a": missing["a"],
                                                   "only in b": missing["b"]},
                  seconds=time.perf_counter() - t0)
