"""The moment suite: tasks from the declarations, run in a few compiled programs, checked.

The default plan verifies every declared initializer (aliases once) on each of its shapes
in float32, on its first shape in every other dtype it defines (bfloat16, float16,
complex64), and each further variant (factory arguments) on the first shape in float32; ``full=True`` verifies every variant × shape × dtype,
float8 included. Every task uses the same number of values, so the reductions compile
once per run (see :mod:`jinit.verify._moments`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax.numpy as jnp
import numpy as np

from jinit import laws
from jinit.laws import REAL_DTYPES, Check

from ._moments import ALPHA, Task, arrays_for, run_tasks
from ._verdicts import evaluate

DEFAULT_SAMPLES = 2 ** 20
GROUP = 32  # tasks per progress line


def _label(decl: laws.Declaration, args: dict) -> str:
    if decl.variants is None or not args:
        return decl.qualname
    return decl.qualname + "(" + ", ".join(f"{k}={v!r}" for k, v in args.items()) + ")"


def select(names: Sequence[str] | None = None) -> list[laws.Declaration]:
    """The declarations named (public names or aliases), or all of them.

    Raises:
      ValueError: a name has no declaration (the message lists the declared names).
    """
    if not names:
        return laws.declarations()
    out: list[laws.Declaration] = []
    for name in names:
        decl = laws.lookup(name)
        if decl not in out:
            out.append(decl)
    return out


def plan(names: Sequence[str] | None = None, *, samples: int = DEFAULT_SAMPLES,
         dtypes: Sequence[str] | None = None, full: bool = False, seed: int = 0) -> list[Task]:
    """The moment tasks of a run (see the module docstring)."""
    tasks = []
    for decl in select(names):
        defined = decl.dtypes(full)
        variants = decl.variants if decl.variants is not None else ({},)
        for vi, args in enumerate(variants):
            for ci, case in enumerate(decl.cases):
                primary = vi == 0 and ci == 0
                if full:
                    wanted = defined
                elif ci > 0 and (vi > 0 or decl.heavy):
                    continue  # further variants, and heavy schemes, on the first shape only
                elif decl.heavy:
                    wanted = REAL_DTYPES
                else:
                    wanted = defined if primary else ("float32",)
                if dtypes:
                    wanted = tuple(d for d in defined if d in dtypes)
                for dt in wanted:
                    merged = {**args, **case.args}
                    try:
                        init = decl.build(merged)
                    except Exception as exc:  # noqa: BLE001 - reported as a failing row
                        init = _raiser(exc)
                    dtype = np.dtype(jnp.dtype(dt))
                    law = decl.law(case.shape, dtype, merged)
                    arrays = arrays_for(law, case.shape, samples)
                    tasks.append(Task(_label(decl, args), init, law, case.shape, dtype,
                                      case.label(), arrays, seed,
                                      min(samples, arrays * math.prod(case.shape))))
    return tasks


def _raiser(exc: Exception) -> Callable:
    def init(key, shape, dtype=None):
        raise exc

    return init


def run_moments(tasks: Sequence[Task], *, alpha: float = ALPHA,
                progress: Callable[[str], None] | None = None) -> list[Check]:
    """Runs the tasks in groups of :data:`GROUP` and returns every check."""
    checks: list[Check] = []
    groups = math.ceil(len(tasks) / GROUP) if tasks else 0
    for g in range(groups):
        part = tasks[g * GROUP:(g + 1) * GROUP]
        if progress:
            progress(f"moments: group {g + 1}/{groups} ({len(part)} initializer x shape x dtype tasks)")
        for task, stats in zip(part, run_tasks(part), strict=True):
            checks.extend(evaluate(task, stats, alpha))
    return checks
