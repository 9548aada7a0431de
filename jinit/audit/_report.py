"""The audit's report: one row per leaf, an aligned table, JSON, and a plot."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from jinit.laws import Check

VERDICTS = ("ok", "FLAGGED", "undeclared", "skipped")
_PRINCIPAL = ("std", "std ratio", "values", "orthogonality max|Q^T Q/s^2 - I|",
              "centre orthogonality", "isometry max|W W^H/s^2 - I|")


@dataclasses.dataclass
class Leaf:
    """The audit of one leaf.

    Attributes:
      path: the leaf's path (:func:`jinit.tree.path_str`).
      initializer: the declared initializer (or why there is none).
      shape: the leaf's shape.
      dtype: the leaf's dtype name.
      verdict: ``"ok"``, ``"FLAGGED"``, ``"undeclared"`` (no rule and no default) or
        ``"skipped"`` (not a floating-point array: counters, PRNG keys).
      checks: every check run on the leaf.
      detectable: the smallest relative std error this leaf's checks flag at 99.9% power
        (``0.0`` for exact and orthogonality checks up to rounding, ``inf`` for none).
      method: ``"law"`` (the declared law), ``"exact"``, ``"orthogonal"``, ``"fresh draw"``
        (an initializer with no declared law, compared with a new draw of itself) or
        ``"two-sample"`` (:func:`jinit.audit.diff`).
    """

    path: str
    initializer: str
    shape: tuple[int, ...]
    dtype: str
    verdict: str
    checks: list[Check] = dataclasses.field(default_factory=list)
    detectable: float = math.inf
    method: str = ""

    @property
    def failed(self) -> tuple[str, ...]:
        if self.verdict in ("undeclared",):
            return ("undeclared",)
        return tuple(c.check for c in self.checks if not c.passed)

    def principal(self) -> Check | None:
        for name in _PRINCIPAL:
            for c in self.checks:
                if c.check == name:
                    return c
        return next((c for c in self.checks if c.check != "finite"), None)

    def row(self) -> dict:
        """``path, initializer, shape, dtype, expected, measured, bound, detects, verdict``."""
        c = self.principal()
        bad = self.failed
        verdict = self.verdict if self.verdict != "FLAGGED" else "FLAGGED: " + ", ".join(bad)
        return {"path": self.path, "initializer": self.initializer, "shape": self.shape,
                "dtype": self.dtype, "check": c.check if c else "",
                "expected": c.expected if c else "", "measured": c.measured if c else "",
                "bound": c.bound if c else "", "detects": self.detectable, "verdict": verdict}

    def as_dict(self) -> dict:
        out = _plain(self.row())
        out["method"] = self.method
        out["checks"] = [c.as_dict() for c in self.checks]
        return out


def _plain(value: object) -> object:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _text(v: object) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.5g}"
    return str(v)


def _detects(d: float) -> str:
    if d == 0:
        return "exact"
    if not math.isfinite(d) or d >= 1:
        return ">100% (weak)"
    return f"{d:.2%}" + (" (weak)" if d > 0.1 else "")


def grid(rows: list[tuple[str, ...]]) -> str:
    """An aligned text table; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclasses.dataclass
class Report:
    """What :func:`jinit.audit.check` or :func:`jinit.audit.diff` found.

    Attributes:
      leaves: one :class:`Leaf` per audited leaf, in tree order.
      alpha: the per-leaf false-flag rate.
      kind: ``"check"`` or ``"diff"``.
      missing: for ``diff``: ``{"only in a": [paths], "only in b": [paths]}``.
      seconds: wall time of the audit.
    """

    leaves: list[Leaf]
    alpha: float
    kind: str = "check"
    missing: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every audited leaf passed, none is undeclared, and no path is missing."""
        return not self.flagged and not any(self.missing.values())

    @property
    def flagged(self) -> dict[str, tuple[str, ...]]:
        """``{path: failed checks}`` for every flagged or undeclared leaf."""
        return {leaf.path: leaf.failed for leaf in self.leaves
                if leaf.verdict in ("FLAGGED", "undeclared")}

    @property
    def rows(self) -> list[dict]:
        """One dict per leaf (see :meth:`Leaf.row`)."""
        return [leaf.row() for leaf in self.leaves]

    @property
    def checks(self) -> list[Check]:
        return [c for leaf in self.leaves for c in leaf.checks]

    def table(self, verbose: bool = False) -> str:
        """The aligned table (``verbose``: one line per check instead of per leaf)."""
        head = ("path", "initializer", "shape", "dtype", "check", "expected", "measured",
                "bound", "detects", "verdict")
        rows = [head]
        for leaf in self.leaves:
            r = leaf.row()
            shape = "(" + ", ".join(str(d) for d in leaf.shape) + \
                ("," if len(leaf.shape) == 1 else "") + ")"
            base = (leaf.path, _short(leaf.initializer), shape, leaf.dtype)
            if verbose and leaf.checks:
                for i, c in enumerate(leaf.checks):
                    cells = base if i == 0 else ("",) * 4
                    rows.append(cells + (c.check, _text(c.expected), _text(c.measured), c.bound,
                                         _detects(leaf.detectable) if i == 0 else "",
                                         "ok" if c.passed else "FLAGGED"))
                continue
            rows.append(base + (r["check"], _text(r["expected"]), _text(r["measured"]),
                                r["bound"], _detects(leaf.detectable) if leaf.checks else "",
                                r["verdict"]))
        return grid(rows)

    def summary(self) -> str:
        counts = {v: sum(leaf.verdict == v for leaf in self.leaves) for v in VERDICTS}
        n = sum(math.prod(leaf.shape) for leaf in self.leaves if leaf.checks)
        what = "jinit.audit.diff" if self.kind == "diff" else "jinit.audit.check"
        lines = [f"{what}: {len(self.leaves)} leaves, {n:,} values, false-flag rate "
                 f"{self.alpha:g} per leaf; {counts['ok']} ok, {counts['FLAGGED']} flagged, "
                 f"{counts['undeclared']} undeclared, {counts['skipped']} skipped "
                 f"({self.seconds:.1f} s)."]
        lines.append("'detects': the smallest relative std error each leaf's size lets the audit "
                     "flag at 99.9% power.")
        for side, paths in self.missing.items():
            if paths:
                lines.append(f"{side}: " + ", ".join(paths))
        if self.ok:
            lines.append("OK")
        else:
            lines.append("FLAGGED: " + (", ".join(self.flagged) or "paths missing"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table() + "\n" + self.summary()

    def as_dict(self) -> dict:
        return {"jinit_audit": 1, "kind": self.kind, "ok": self.ok, "alpha": self.alpha,
                "seconds": round(self.seconds, 3),
                "flagged": {k: list(v) for k, v in self.flagged.items()},
                "missing": self.missing, "leaves": [leaf.as_dict() for leaf in self.leaves]}

    def to_json(self, indent: int | None = 1) -> str:
        """The report as a JSON document (``ok``, ``flagged``, ``missing``, every leaf's checks)."""
        return json.dumps(self.as_dict(), indent=indent)

    def plot(self, path: str) -> None:
        """Draws measured / expected std per leaf, with each leaf's detectable band, to a PNG."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        xs, ratios, bands, colors = [], [], [], []
        for i, leaf in enumerate(self.leaves):
            c = leaf.principal()
            if c is None or c.check not in ("std", "std ratio"):
                continue
            expected = 1.0 if c.check == "std ratio" else float(c.expected)
            xs.append(i)
            ratios.append(float(c.measured) / expected if expected else math.nan)
            bands.append(min(leaf.detectable, 1.0))
            colors.append("tab:blue" if leaf.verdict == "ok" else "tab:red")
        fig, ax = plt.subplots(figsize=(max(6, len(self.leaves) * 0.08), 4))
        ax.errorbar(xs, ratios, yerr=bands, fmt="none", ecolor="0.8")
        ax.scatter(xs, ratios, c=colors, s=12, zorder=3)
        ax.axhline(1.0, color="0.5", lw=0.8)
        ax.set_xlabel("leaf (tree order)")
        ax.set_ylabel("measured std / expected std")
        ax.set_title(f"jinit audit: {len(self.flagged)} flagged (red); bars: detectable error")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
