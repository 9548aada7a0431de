"""Compiling the tests' own programs.

Compiling is most of the suite's time. A test that checks a *law* (a moment, a count, a
norm, a slope) rather than *bits* may compile its program at XLA's backend optimization level
0: the program computes the same values up to floating-point rounding (the same keys, the
same threefry bits, the same initializers), and compiles faster (the Fixup slopes' programs in
0.6x the time; a whole bit-checking file would take 0.82x, and fail). Never use it
where a test compares bits with another program or a golden value: level 0 may fuse and
round differently (as a global ``XLA_FLAGS`` setting it changed a jit-versus-eager bit check).
"""

from __future__ import annotations

from collections.abc import Callable

import jax

LAW_ONLY = {"xla_backend_optimization_level": 0}


def law_jit(fn: Callable, **jit_kwargs: object) -> Callable:
    """``jax.jit(fn, **jit_kwargs)`` compiled at optimization level 0 (laws, never bits)."""
    return jax.jit(fn, compiler_options=LAW_ONLY, **jit_kwargs)
