"""``jinit verify --plot``: forward and backward variance against depth (matplotlib, lazily)."""

from __future__ import annotations

import numpy as np

from ._signal import SignalResult


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("jinit.verify plots need matplotlib; install it with "
                          "pip install 'jinit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_signal(result: SignalResult, path: str) -> None:
    """Draws measured (solid) and mean-field (dashed) variance against depth; writes a PNG.

    Two rows (forward :math:`q_l/q_0`, backward :math:`g_l/g_L`), one column per
    activation, one colour per scheme, log scale, with the stable band shaded.

    Args:
      result: a :class:`jinit.verify.SignalResult`.
      path: the output file.

    Raises:
      ImportError: matplotlib is not installed.
    """
    plt = _pyplot()
    acts = list(dict.fromkeys(r.activation for r in result.rows))
    schemes = list(dict.fromkeys(r.scheme for r in result.rows))
    colours = {s: plt.get_cmap("tab10")(i % 10) for i, s in enumerate(schemes)}
    fig, axes = plt.subplots(2, len(acts), figsize=(3.4 * len(acts), 6.0), squeeze=False,
                             sharex=True)
    layers = np.arange(result.depth + 1)
    floor = 1e-30
    for j, act in enumerate(acts):
        for i, (what, key, theory_key) in enumerate(
                (("forward  $q_l/q_0$", "forward", "forward_theory"),
                 ("backward  $g_l/g_L$", "backward", "backward_theory"))):
            ax = axes[i][j]
            ax.axhspan(1 / result.band, result.band, color="0.92", zorder=0)
            for r in result.rows:
                if r.activation != act:
                    continue
                meas, theo = np.asarray(getattr(r, key)), np.asarray(getattr(r, theory_key))
                ref = meas[0] if key == "forward" else meas[-1]
                tref = theo[0] if key == "forward" else theo[-1]
                ax.plot(layers, np.clip(meas / ref, floor, None), "-", color=colours[r.scheme],
                        lw=1.6, label=r.scheme + ("" if r.passed else " (FAIL)"))
                ax.plot(layers, np.clip(theo / tref, floor, None), "--",
                        color=colours[r.scheme], lw=0.9, alpha=0.8)
            ax.set_yscale("log")
            ax.set_title(f"{act}: {what}", fontsize=9)
            if i == 1:
                ax.set_xlabel("layer")
            ax.tick_params(labelsize=8)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"signal propagation, width {result.width}, {result.keys} keys "
                 f"(solid: measured, dashed: mean-field theory, grey: stable band "
                 f"x{result.band:g})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
