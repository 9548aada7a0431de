"""What :func:`jinit.auto.init` chose, why, and the measured signal before and after."""

from __future__ import annotations

import json
import re

import numpy as np


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _num(x: float | None, fmt: str = ".4g") -> str:
    return "-" if x is None else format(x, fmt)


class Report:
    """The choice for every parameter and the proof that it propagates.

    Attributes:
      rows: one dict per parameter, in execution order (kernels first as the model calls
        them): ``path``, ``shape``, ``op``, ``fan_in``, ``fan_out``, ``activation`` (the
        function after it), ``input`` (the activation at its input, ``data`` for a first
        layer), ``residual``, ``scheme``, ``std``, ``sigma_w2``, ``sigma_b2``, ``chi1``,
        ``factor`` (the data pass's rescaling), ``why``, ``drawn`` (False: the framework's
        value kept) and ``data`` (True: set from the batch).
      signal: ``{'before': SignalReport, 'after': SignalReport}`` of
        :func:`jinit.audit.signal` at every kernel's pre-activation, for the framework's
        default initialization and for this one (``None`` with ``signal=False``).
      rules: ``{'^path$': initializer}`` for every leaf: ``jinit.audit.check(params,
        report.rules)`` verifies the result (a value set from the data or kept from the
        framework is declared as that exact array).
      kind: ``'linen'``, ``'nnx'``, ``'equinox'`` or ``'function'``.
      use_data: whether the data pass ran.
    """

    def __init__(self, rows, signal, kind: str, use_data: bool):
        self._rows = list(rows)
        self.rows = [r.as_dict() for r in self._rows]
        self.signal = signal
        self.kind = kind
        self.use_data = use_data
        self.rules = {"^" + re.escape(r.path) + "$": r.init for r in self._rows
                      if r.init is not None}

    @property
    def factors(self) -> dict[str, float]:
        """The data pass's factor per kernel it rescaled."""
        return {r["path"]: r["factor"] for r in self.rows if r["factor"] != 1.0}

    @property
    def not_understood(self) -> list[str]:
        """Paths whose framework value was kept (with the reason in ``why``)."""
        return [r["path"] for r in self.rows if not r["drawn"]]

    def drift(self, which: str = "after") -> tuple[float, float]:
        """``(q_L/q_1, g_1/g_L)`` of ``signal[which]``: forward and backward drift."""
        s = self.signal[which]
        with np.errstate(all="ignore"):
            return s.forward_factor, s.backward_factor

    def __str__(self) -> str:
        head = ("path", "fan_in", "fan_out", "input", "activation", "residual", "scheme",
                "std", "factor")
        rows = [head]
        for r in self.rows:
            rows.append((r["path"], _num(r["fan_in"], "g"), _num(r["fan_out"], "g"), r["input"],
                         r["activation"], r["residual"], r["scheme"], _num(r["std"]),
                         "-" if r["factor"] == 1.0 else f"{r['factor']:.4g}"))
        text = _table(rows)
        why = "\n".join(f"  {r['path']}: {r['why']}" for r in self.rows)
        text += "\n\nwhy:\n" + why
        if self.signal is not None:
            lines = []
            for which in ("before", "after"):
                s = self.signal[which]
                if not (s.forward[0] > 0 and s.backward[-1] > 0 and s.backward[0] > 0):
                    lines.append(f"  {which:6s} no signal at the first (or last) layer: the "
                                 "values are zero")
                    continue
                lines.append(f"  {which:6s} forward q_L/q_1 = {s.forward_factor:.3g} "
                             f"({s.verdict['forward']}), backward g_1/g_L = "
                             f"{s.backward_factor:.3g} ({s.verdict['backward']}) over "
                             f"{len(s.layers)} layers")
            text += "\n\nsignal (framework default = before, jinit.auto = after):\n" + \
                "\n".join(lines)
        return text

    def __repr__(self) -> str:
        return f"<jinit.auto.Report: {len(self.rows)} leaves, kind={self.kind}>"

    def as_dict(self) -> dict:
        out = {"kind": self.kind, "use_data": self.use_data, "rows": self.rows}
        if self.signal is not None:
            with np.errstate(all="ignore"):   # a zero 'before' (all-zero params) gives nan
                out["signal"] = {k: v.as_dict() for k, v in self.signal.items()}
        return out

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.as_dict(), indent=indent, default=str)

    def plot(self, path: str) -> None:
        """Per-layer forward and backward second moments, before and after, to a PNG."""
        if self.signal is None:
            raise ValueError("auto.Report.plot(): signal=None; expected a report made with "
                             "signal=True.")
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for ax, which, title in ((axes[0], "forward", "forward E[h^2]"),
                                 (axes[1], "backward", "backward E[(dL/dh)^2]")):
            for label, style in (("before", "s--"), ("after", "o-")):
                s = self.signal[label]
                values = np.asarray(getattr(s, which))
                ref = values[0] if which == "forward" else values[-1]
                if not ref > 0:
                    continue
                ax.semilogy(np.arange(len(values)), values / ref, style, ms=3,
                            label="framework default" if label == "before" else "jinit.auto")
            ax.set_xlabel("layer (execution order)")
            ax.set_ylabel("relative to " + ("first" if which == "forward" else "last"))
            ax.set_title(title)
            ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


Report.__module__ = "jinit.auto"
