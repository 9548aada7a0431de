"""Running the suite and reporting it: a readable table, progress lines, JSON."""

from __future__ import annotations

import dataclasses
import math
import platform
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Sequence

import jax
import numpy as np

from jinit.laws import Check, z_value

from . import _suite
from ._moments import ALPHA
from ._signal import KNOWN, SCHEMES, SignalResult, signal_propagation

# The check each (initializer, shape, dtype) row of the short table shows; the others are
# summarised in its verdict (and printed in full when they fail, or with verbose=True).
_PRINCIPAL = ("variance", "E|w|^2", "values")


@dataclasses.dataclass
class Report:
    """Everything one run measured.

    Attributes:
      checks: every moment, distribution, structure and signal check.
      signal: the signal-propagation result, if run.
      coord: the μP coordinate check (:class:`jinit.verify._coord.CoordCheck`), if run.
      config: the run's settings.
      seconds: wall time of the run.
    """

    checks: list[Check]
    signal: SignalResult | None = None
    coord: object | None = None
    config: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failures(self) -> list[Check]:
        out = [c for c in self.checks if not c.passed]
        return out

    @property
    def passed(self) -> bool:
        """Every check passed (and the coordinate check, if run); a run that checked nothing
        did not pass."""
        if not self.checks and self.coord is None:
            return False
        coord_ok = self.coord is None or bool(getattr(self.coord, "passed", False))
        return not self.failures and coord_ok

    # ------------------------------------------------------------------ text

    def table(self, verbose: bool = False, width: int | None = None) -> str:
        """The moment table (one row per initializer × shape × dtype), then the signal table.

        Rows fit ``width`` columns (default: :func:`terminal_width`), long cells wrapped.
        """
        width = terminal_width() if width is None else width
        parts = [self._moment_table(verbose, width)]
        if self.signal is not None:
            parts.append(self._signal_table(width))
        if self.coord is not None:
            parts.append("coordinate checks\n" + self.coord.table())
        parts.append(self.summary(width))
        return "\n\n".join(p for p in parts if p)

    def _moment_table(self, verbose: bool, width: int) -> str:
        moment = [c for c in self.checks if not c.check.startswith("signal ")]
        if not moment:
            return ""
        groups: dict[tuple, list[Check]] = {}
        for c in moment:
            groups.setdefault((c.initializer, c.shape, c.dtype), []).append(c)
        rows = [("initializer", "shape", "dtype", "check", "expected", "measured", "bound",
                 "verdict")]
        for (init, shape, dtype), cs in groups.items():
            ok = sum(c.passed for c in cs)
            shown = cs if verbose else (
                [c for c in cs if not c.passed] or [_principal(cs)])
            for i, c in enumerate(shown):
                if verbose or not c.passed:
                    verdict = "PASS" if c.passed else "FAIL"
                else:
                    verdict = f"PASS {ok}/{len(cs)}"
                first = i == 0
                rows.append((init if first else "", shape if first else "",
                             dtype if first else "", c.check, _text(c.expected),
                             _text(c.measured), c.bound, verdict))
        return _grid(rows, width, gap=1, keep=(2, 5, 6, 7), room={0: 20})

    def _signal_table(self, width: int) -> str:
        sig = self.signal
        rows = [("scheme", "act", "sigma_w^2", "forward q_L/q_0 (theory)",
                 "backward g_0/g_L (theory)", "fate (fwd/bwd)", "vs theory")]
        for r in sig.rows:
            f, ft = r.forward[-1] / r.forward[0], r.forward_theory[-1] / r.forward_theory[0]
            b, bt = r.backward[0] / r.backward[-1], r.backward_theory[0] / r.backward_theory[-1]
            fate = (r.forward_class if r.forward_class == r.backward_class else
                    f"{r.forward_class}/{r.backward_class}")
            rows.append((r.scheme, r.activation, f"{r.sigma_w2:.3g}", f"{f:.3g} ({ft:.3g})",
                         f"{b:.3g} ({bt:.3g})", fate,
                         "agrees" if r.passed else "DISAGREES"))
        head = (f"signal propagation: depth {sig.depth}, width {sig.width}, batch {sig.batch}, "
                f"{sig.keys} keys, sigma_b^2 {sig.sigma_b2:g}. Fate: the measured factor is "
                f"vanishing below 1/{sig.band:g}, exploding above {sig.band:g}, else stable. "
                "'vs theory' says whether that fate is one mean-field theory predicts: it "
                "agrees, or DISAGREES (a scheme that explodes as predicted agrees).")
        return _wrap(head, width) + "\n" + _grid(rows, width, gap=1, keep=(1, 2, 5, 6))

    def summary(self, width: int | None = None) -> str:
        """One paragraph: counts, the detectable variance error, failures, time (lines wrapped
        to ``width`` when given)."""
        n = len(self.checks)
        bad = self.failures
        tasks = len({(c.initializer, c.shape, c.dtype) for c in self.checks
                     if not c.check.startswith("signal ")})
        lines = [f"{n - len(bad)}/{n} checks passed over {tasks} initializer x shape x dtype "
                 f"cases" + (f" and {len(self.signal.rows)} signal-propagation runs"
                             if self.signal is not None else "")
                 + f" in {self.seconds:.1f} s."]
        samples = self.config.get("samples")
        if samples:
            lines.append(f"Each moment check uses {samples} values at a false-failure rate of "
                         f"{self.config.get('alpha', ALPHA):g} per check; a relative variance "
                         f"error of {detectable_variance_error(samples):.2%} is flagged "
                         "(Gaussian schemes, 99.9% of runs).")
        if bad:
            lines.append(f"FAILED: {len(bad)} check(s):")
            for c in bad[:20]:
                lines.append(f"  {c.initializer} {c.shape} {c.dtype}: {c.check}: expected "
                             f"{_text(c.expected)}, measured {_text(c.measured)} ({c.bound})")
            if len(bad) > 20:
                lines.append(f"  ... and {len(bad) - 20} more (see --json)")
        if self.coord is not None and not self.coord.passed:
            lines.append("FAILED: a coordinate check.")
        if not self.checks and self.coord is None:
            lines.append("Nothing was checked.")
        lines.append("PASS" if self.passed else "FAIL")
        if width is None:
            return "\n".join(lines)
        return "\n".join(_wrap(line, width, "    " if line.startswith("  ") else "")
                         for line in lines)

    # ------------------------------------------------------------------ JSON

    def to_json(self) -> dict:
        """A JSON-ready dict: ``config``, ``summary``, ``checks``, ``signal``, ``coord``."""
        return {
            "jinit_verify": 1,
            "config": dict(self.config),
            "environment": environment(),
            "summary": {"passed": self.passed, "checks": len(self.checks),
                        "failed": len(self.failures), "seconds": round(self.seconds, 3)},
            "checks": [c.as_dict() for c in self.checks],
            "signal": self.signal.as_dict() if self.signal is not None else None,
            "coord": self.coord.to_json() if self.coord is not None else None,
        }


def environment() -> dict:
    import jinit

    dev = jax.devices()[0]
    return {"jinit": jinit.__version__, "jax": jax.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "backend": jax.default_backend(),
            "device": getattr(dev, "device_kind", str(dev))}


def detectable_variance_error(samples: int, alpha: float = ALPHA, power: float = 0.999,
                              kurtosis: float = 3.0) -> float:
    r"""Smallest relative variance error flagged with probability ``power``.

    The check rejects when :math:`|s^2/\sigma^2 - 1| > z_\alpha\sqrt{(\kappa - 1)/n}`; an
    initializer whose variance is off by :math:`\delta` is flagged with probability
    ``power`` once :math:`\delta \ge (z_\alpha + z_\beta)\sqrt{(\kappa - 1)/n}`,
    :math:`z_\beta` the one-sided normal quantile of ``power`` (κ = 3 for a normal law;
    uniform laws, κ = 1.8, do better).
    """
    z_beta = z_value(2.0 * (1.0 - power))  # one-sided quantile of `power`
    return (z_value(alpha) + z_beta) * math.sqrt((kurtosis - 1.0) / samples)


def _principal(cs: list[Check]) -> Check:
    for name in _PRINCIPAL:
        for c in cs:
            if c.check == name:
                return c
    for c in cs:
        if c.check != "finite":
            return c
    return cs[0]


def _text(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.5g}"
    return str(v)


def terminal_width() -> int:
    """``COLUMNS`` if set, else the terminal's width, else 100 (at least 40)."""
    return max(shutil.get_terminal_size((100, 24)).columns, 40)


def _wrap(line: str, width: int, indent: str = "") -> str:
    if len(line) <= width:
        return line
    lead = line[: len(line) - len(line.lstrip())]
    return "\n".join(textwrap.wrap(line, width, initial_indent=lead,
                                   subsequent_indent=lead + indent, break_on_hyphens=False))


_GAP = 2


def _fit(widths: list[int], floors: list[int], width: int, gap: int) -> list[int]:
    """Narrows the widest columns, one character at a time, until the row fits ``width``."""
    widths = list(widths)
    while sum(widths) + gap * (len(widths) - 1) > width:
        cands = [i for i, w in enumerate(widths) if w > floors[i]]
        if not cands:
            break
        i = max(cands, key=lambda j: widths[j])
        widths[i] -= 1
    return widths


# A long label breaks after a space, ',', '/', a '(' that follows a name, or a '.' that a name
# follows.
_BREAK = re.compile(r"(?<=[ ,/])|(?<=\w\()|(?<=\.)(?=[A-Za-z_])")


def _tokens(text: str) -> list[str]:
    return [t for t in _BREAK.split(text) if t]


def _cell(text: str, w: int) -> list[str]:
    """``text`` in lines of at most ``w`` characters, broken after separators where it can."""
    lines, line = [], ""
    for tok in _tokens(text):
        while len(tok) > w:  # a token longer than the column: break after a '_' if one fits
            if line:
                lines.append(line.rstrip())
                line = ""
            cut = tok.rfind("_", 0, w) + 1 or w
            lines.append(tok[:cut])
            tok = tok[cut:]
        if len(line) + len(tok.rstrip()) > w:
            lines.append(line.rstrip())
            line = tok.lstrip()
        else:
            line += tok
    lines.append(line.rstrip())
    return [ln for ln in lines if ln] or [""]


def _grid(rows: Sequence[Sequence[str]], width: int = 100, gap: int = _GAP,
          keep: Sequence[int] = (), room: dict[int, int] | None = None) -> str:
    """A text table whose rows fit ``width`` columns: long cells wrap onto more lines.

    Columns in ``keep`` (verdicts, dtypes, bounds) never wrap while the others can; ``room``
    gives a column at least that many characters (e.g. for initializer labels) before the
    others narrow below their own floors.
    """
    rows = [[str(c) for c in r] for r in rows]
    # headers wrap at their words; the body sets the width
    natural = [max([len(r[i]) for r in rows[1:]] + [len(w) for w in rows[0][i].split()])
               for i in range(len(rows[0]))]
    floors = [min(n, max(6, max(len(t.strip()) for r in rows for t in _tokens(r[i])),
                         max(len(word) for word in rows[0][i].split())), 14)
              for i, n in enumerate(natural)]
    for i in keep:
        floors[i] = natural[i]
    for i, w in (room or {}).items():
        floors[i] = max(floors[i], min(w, natural[i]))
    widths = _fit(natural, floors, width, gap)
    widths = _fit(widths, [6] * len(widths), width, gap)  # still too wide: break long tokens
    lines = []
    for j, r in enumerate(rows):
        cells = [_cell(c, w) for c, w in zip(r, widths, strict=True)]
        for k in range(max(len(c) for c in cells)):
            lines.append((" " * gap).join((c[k] if k < len(c) else "").ljust(w)
                                          for c, w in zip(cells, widths, strict=True)).rstrip())
        if j == 0:
            lines.append((" " * gap).join("-" * w for w in widths))
    return "\n".join(lines)


def signal_schemes(only: Sequence[str] | None, dtypes: Sequence[str] | None) -> tuple[str, ...]:
    """The signal-propagation schemes a run covers: all of :data:`SCHEMES` by default, those of
    ``only`` that signal propagation knows, none when ``dtypes`` leaves out float32."""
    if dtypes and "float32" not in dtypes:
        return ()
    if not only:
        return SCHEMES
    names = [d.qualname for d in _suite.select(only)]
    return tuple(n for n in KNOWN if n in names)


def stderr_progress(start: float | None = None) -> Callable[[str], None]:
    """A progress callback printing ``[  12.3 s] message`` lines on stderr."""
    t0 = time.perf_counter() if start is None else start

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f} s] {message}", file=sys.stderr, flush=True)

    return progress


def run(only: Sequence[str] | None = None, *, samples: int = _suite.DEFAULT_SAMPLES,
        dtypes: Sequence[str] | None = None, full: bool = False, signal: bool = True,
        depth: int = 32, width: int = 256, activations: Sequence[str] | None = None,
        coord_check: bool | Sequence[str] = False, seed: int = 0, alpha: float = ALPHA,
        progress: Callable[[str], None] | None = None, tasks: Sequence | None = None) -> Report:
    """Runs the verification suite and returns a :class:`Report`.

    Args:
      only: public initializer names to verify (default: all declared): their moments, and
        signal propagation for those it covers (``jinit.verify._signal.KNOWN``).
      samples: values per moment check (per initializer × shape × dtype).
      dtypes: restrict to these dtype names (``"float32"``, ``"bfloat16"``, ...); signal
        propagation runs in float32, so only when ``dtypes`` includes it.
      full: every variant × shape × dtype (float8 included), not the default selection.
      signal: run signal propagation (relu, tanh, gelu, selu over the main schemes).
      depth, width: the signal-propagation stack.
      activations: restrict signal propagation to these activations.
      coord_check: also run the coordinate checks (needs optax): ``True`` for all, or kinds
        among ``"width"`` (μP), ``"depth"`` (CompleteP), ``"unit"`` (u-μP).
      seed: the base seed; every check is deterministic given it.
      alpha: the false-failure rate of each statistical check.
      progress: called with progress lines (e.g. :func:`stderr_progress`).
      tasks: the moment tasks, if already planned (:func:`jinit.verify._suite.plan` with the
        same arguments).

    Returns:
      A :class:`Report`; ``report.passed`` is the verdict (False when nothing was checked).

    Raises:
      ValueError: a name in ``only`` has no declaration.

    References:
      Tolerances: a normal bound on the sample mean and variance at false-failure rate
      ``alpha`` per check; shape: the Dvoretzky–Kiefer–Wolfowitz band with Massart's constant,
      ``sqrt(ln(2 / alpha) / (2 n))`` (Massart, "The Tight Constant in the
      Dvoretzky–Kiefer–Wolfowitz Inequality", Annals of Probability, 1990).

    Example:
      >>> import jinit.verify
      >>> report = jinit.verify.run(["he_uniform"], samples=2**16, dtypes=["float32"],
      ...                           signal=False)
      >>> report.passed, len(report.failures)
      (True, 0)
    """
    from ._signal import ACTIVATIONS

    t0 = time.perf_counter()
    if tasks is None:
        tasks = _suite.plan(only, samples=samples, dtypes=dtypes, full=full, seed=seed)
    if progress:
        progress(f"moments: {len(tasks)} initializer x shape x dtype cases, {samples} values each")
    checks = _suite.run_moments(tasks, alpha=alpha, progress=progress)
    sig = None
    schemes = signal_schemes(only, dtypes) if signal else ()
    if schemes:
        sig = signal_propagation(tuple(activations or ACTIVATIONS), schemes, depth=depth,
                                 width=width, seed=seed, progress=progress)
        checks.extend(sig.checks())
    coord = None
    if coord_check:
        from ._coord import COORD_KINDS, coord_checks

        kinds = COORD_KINDS if coord_check is True else tuple(coord_check)
        coord = coord_checks(kinds, seed=seed, progress=progress)
    config = {"only": list(only or []), "samples": samples, "dtypes": list(dtypes or []),
              "full": full, "signal": sig is not None, "depth": depth, "width": width,
              "coord_check": coord_check, "seed": seed, "alpha": alpha}
    return Report(checks, sig, coord, config, time.perf_counter() - t0)
