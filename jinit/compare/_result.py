"""What :func:`jinit.compare.run` returns: the curves of every init and seed, and views of them."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

# The panels of the plot, in order (those absent from the history are skipped).
PANELS = ("train_loss", "val_loss", "train_accuracy", "val_accuracy")


def _mean_std(column: np.ndarray) -> tuple[float, float, int]:
    ok = column[np.isfinite(column)]
    if ok.size == 0:
        return math.nan, math.nan, 0
    return float(ok.mean()), float(ok.std()), int(ok.size)


class Result:
    """Training and validation curves of every init, ``(seeds, evals)`` per metric.

    Attributes:
      steps: ``(n_evals,)`` int array, the optimizer step after which each evaluation ran
        (``eval_every, 2·eval_every, …, steps``).
      history: ``{init: {metric: (seeds, n_evals) float64 array}}``. Metrics are
        ``train_loss`` and ``train_accuracy`` (the mean over the mini-batches of the
        ``eval_every`` steps before the evaluation, as Keras reports ``loss``), ``val_loss``
        and ``val_accuracy`` (the whole validation set after those steps), and
        ``train_<name>``/``val_<name>`` for each user metric. Accuracy is absent where the
        loss has none (``mse``, a callable loss): :attr:`no_accuracy` says why. A seed's
        values are NaN from the evaluation at which it first went non-finite on.
      diverged: ``{init: number of seeds that went non-finite}``.
      metrics: the metric names present in every init's history.
      no_accuracy: ``None``, or the reason accuracy is not reported.
      target: ``(metric, value, higher_is_better)`` for "steps to target".
      seconds: ``{init: (compile seconds, run seconds)}``.
      config: the settings of the run (loss, optimizer, steps, batch size, …).
      final_params: ``{init: parameters after the last step, stacked over seeds}`` if
        ``keep_params=True``, else ``None``.
    """

    def __init__(self, steps: np.ndarray, history: dict[str, dict[str, np.ndarray]],
                 diverged: dict[str, int], *, config: dict[str, Any],
                 seconds: dict[str, tuple[float, float]], no_accuracy: str | None,
                 target: tuple[str, float, bool] | None = None,
                 final_params: dict[str, Any] | None = None):
        self.steps = steps
        self.history = history
        self.diverged = diverged
        self.config = config
        self.seconds = seconds
        self.no_accuracy = no_accuracy
        first = next(iter(history.values()), {})
        self.metrics = tuple(first)
        self.target = target if target is not None else self._default_target()
        self.final_params = final_params

    # ------------------------------------------------------------------ numbers

    def _default_target(self) -> tuple[str, float, bool] | None:
        """90 % of the best init's final mean accuracy, else a loss 90 % of the way down.

        The metric is ``val_accuracy`` (``train_accuracy`` without validation); without
        accuracy, ``val_loss`` (``train_loss``): the best init's final mean loss plus a tenth
        of its drop from the first evaluation.
        """
        side = "val" if any(m.startswith("val_") for m in self.metrics) else "train"
        acc, loss = f"{side}_accuracy", f"{side}_loss"
        if acc in self.metrics:
            finals = [_mean_std(h[acc][:, -1])[0] for h in self.history.values()]
            finals = [f for f in finals if math.isfinite(f)]
            return (acc, 0.9 * max(finals), True) if finals else None
        best = None
        for h in self.history.values():
            last, first = _mean_std(h[loss][:, -1])[0], _mean_std(h[loss][:, 0])[0]
            if math.isfinite(last) and math.isfinite(first) and (best is None or last < best[0]):
                best = (last, first)
        if best is None:
            return None
        last, first = best
        return loss, last + 0.1 * max(first - last, 0.0), False

    def steps_to_target(self, init: str) -> np.ndarray:
        """Per seed, the first evaluation step at which the target was reached (NaN: never)."""
        if self.target is None:
            return np.full(self.config["seeds"], np.nan)
        metric, value, higher = self.target
        curve = self.history[init][metric]
        with np.errstate(invalid="ignore"):
            hit = curve >= value if higher else curve <= value
        first = np.argmax(hit, axis=1)
        return np.where(hit.any(axis=1), self.steps[first], np.nan).astype(np.float64)

    def final(self, init: str, metric: str) -> tuple[float, float, int]:
        """``(mean, std, seeds counted)`` of ``metric``'s last value over non-diverged seeds."""
        return _mean_std(self.history[init][metric][:, -1])

    # ------------------------------------------------------------------ views

    def summary(self) -> str:
        """A table: per init, final losses and accuracies (mean ± std over seeds that did not
        diverge), steps to target and the diverged count."""
        cols = [m for m in PANELS if m in self.metrics] + [
            m for m in self.metrics if m not in PANELS]
        name_w = max([4] + [len(k) for k in self.history])
        head = f"{'init':<{name_w}}" + "".join(f"{c:>18}" for c in cols)
        if self.target is not None:
            metric, value, higher = self.target
            tcol = f"steps to {metric} {'>=' if higher else '<='} {value:.3g}"
        else:
            tcol = "steps to target"
        head += f"  {tcol:>28}  {'diverged':>9}"
        lines = [head]
        seeds = self.config["seeds"]
        for init, h in self.history.items():
            row = f"{init:<{name_w}}"
            for c in cols:
                mean, std, _ = _mean_std(h[c][:, -1])
                row += f"{'nan' if math.isnan(mean) else f'{mean:.3f} ± {std:.3f}':>18}"
            reach = self.steps_to_target(init)
            ok = reach[np.isfinite(reach)]
            text = (f"{ok.mean():.0f} ± {ok.std():.0f} ({ok.size}/{seeds})" if ok.size
                    else f"never (0/{seeds})")
            row += f"  {text:>28}  {self.diverged[init]:>5}/{seeds:<3}"
            lines.append(row)
        c = self.config
        lines.append(f"final values after {c['steps']} steps, mean ± std over the seeds that "
                     f"did not diverge ({seeds} seeds, batch {c['batch_size']}, loss "
                     f"{c['loss']})")
        if self.no_accuracy:
            lines.append(f"no accuracy: {self.no_accuracy}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"compare.Result(inits={list(self.history)}, seeds={self.config['seeds']}, "
                f"steps={self.config['steps']}, metrics={list(self.metrics)})")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: config, steps, target, diverged and every curve (NaN → null)."""
        def clean(a: np.ndarray) -> list:
            return [[None if not math.isfinite(v) else float(v) for v in row] for row in a]

        return {
            "config": self.config,
            "steps": [int(s) for s in self.steps],
            "target": list(self.target) if self.target is not None else None,
            "no_accuracy": self.no_accuracy,
            "diverged": dict(self.diverged),
            "seconds": {k: list(v) for k, v in self.seconds.items()},
            "history": {k: {m: clean(v) for m, v in h.items()} for k, h in self.history.items()},
        }

    def to_json(self, path: str) -> None:
        """Writes :meth:`as_dict` to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.as_dict(), f, indent=1)

    def plot(self, path: str | None = None, *, title: str | None = None) -> Any:
        """The curves: one panel per metric of :data:`PANELS` present, a line per init (the
        mean over non-diverged seeds) and a band (min to max over them). Returns the figure;
        with ``path``, also saves it (PNG) and closes it. Needs matplotlib."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = [m for m in PANELS if m in self.metrics]
        cols = 2 if len(panels) > 1 else 1
        rows = math.ceil(len(panels) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5.4 * cols, 3.6 * rows), squeeze=False,
                                 sharex=True)
        cmap = plt.get_cmap("tab10")
        for j, metric in enumerate(panels):
            ax = axes[j // cols][j % cols]
            for i, (init, h) in enumerate(self.history.items()):
                curve = h[metric]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                    mean = np.nanmean(curve, 0)
                    lo, hi = np.nanmin(curve, 0), np.nanmax(curve, 0)
                color = cmap(i % 10)
                label = init + (f" ({self.diverged[init]} diverged)" if self.diverged[init]
                                else "")
                ax.plot(self.steps, mean, color=color, lw=1.4, label=label)
                ax.fill_between(self.steps, lo, hi, color=color, alpha=0.18, lw=0)
            positive = all(np.all(~(h[metric] <= 0)) for h in self.history.values())
            if metric.endswith("loss") and positive:  # NaN (diverged) compares False
                ax.set_yscale("log")
            ax.set_title(metric, fontsize=10)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        for j in range(len(panels), rows * cols):
            axes[j // cols][j % cols].axis("off")
        axes[0][-1].legend(fontsize=8)
        c = self.config
        fig.suptitle(title or f"{c['seeds']} seeds, batch {c['batch_size']}, {c['optimizer']}"
                     " (line: mean, band: min–max over seeds)", fontsize=9)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=110)
            plt.close(fig)
        return fig


def stack_history(train: Mapping[str, np.ndarray], val: Mapping[str, np.ndarray],
                  alive: np.ndarray, accuracy: bool, names: tuple[str, ...]
                  ) -> dict[str, np.ndarray]:
    """The history of one init from the program's outputs, masked where a seed is dead."""
    out: dict[str, np.ndarray] = {}
    for side, mets in (("train", train), ("val", val)):
        for k, v in mets.items():
            if k == "accuracy" and not accuracy:
                continue
            out[f"{side}_{k}"] = np.where(alive, np.asarray(v, np.float64), np.nan)
    order = [f"{s}_{n}" for n in names for s in ("train", "val")]
    return {k: out[k] for k in order if k in out}
