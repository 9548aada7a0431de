r"""Why initialization matters: one MLP, eleven initializers, trained with plain SGD.

The same fully connected network is trained with ``optax.sgd`` (no momentum) from each
initializer, for ReLU and tanh, at a shallow and a deep setting (3 and 30 weight layers by
default). Every kernel of the network (input, hidden and output layer) comes from the scheme
under test; every bias starts at zero. All schemes and all seeds of one activation × depth run
in a single compiled program: the parameters are stacked along a (scheme, seed) axis pair,
training is ``jax.vmap`` over both, and the steps are a ``jax.lax.scan`` — no Python loop over
seeds or steps.

Schemes: ``zeros``; ``N(0,1)``; ``N(0,0.01²)`` (jinit.normal(1.0), jinit.normal(0.01));
Glorot uniform/normal; He uniform/normal; LeCun normal; orthogonal (gain 1);
``jinit.for_activation(act)``; and LSUV (``jinit.lsuv.lsuv_linen``: orthonormal kernels,
then each layer rescaled to unit output variance on 512 training inputs).

What it shows (the literature's claims, measured):

* He et al. 2015: a deep plain ReLU network trained with SGD stalls from Glorot init — the
  signal halves in variance at every ReLU layer — while He init (variance 2/fan_in) trains.
* Zero init never breaks symmetry: every hidden unit of a layer stays identical (here all
  zero) for ever; only the output bias learns, so the loss stops at the entropy of the labels.
* N(0, 1) explodes (ReLU: overflow, the loss is ``nan``) or saturates (tanh) in depth;
  N(0, 0.01²) vanishes in depth and stalls.
* :func:`articles` (``--articles``): the experiment of the blog posts and courses — one
  MLP on the digits data trained from zero, N(0, 1), Xavier, He and LeCun init, with
  training *and validation* loss and accuracy per step, run by :func:`jinit.compare.run`
  (every seed of an init in one compiled program). Zero init stays at chance; N(0, 1)
  starts from huge logits and generalizes worst; the three variance-scaling schemes train.
* :func:`linear_depth_sweep` (``--linear``): Saxe et al. 2014 — deep *linear* networks from
  orthogonal init learn in a number of steps nearly independent of depth, unlike a scaled
  Gaussian (LeCun) init of the same variance.

Data: a deterministic synthetic task generated in code (default; ``--data synthetic``) — a
5-arm spiral hidden in a random plane of 16 dimensions, where a linear classifier is at chance
(:func:`synthetic_data`) — or the handwritten digits that
scikit-learn ships inside its package (``--data digits``; needs ``pip install ".[digits]"`` (scikit-learn),
no download at run time).

Run::

    python examples/train_optax.py --plot curves.png
    python examples/train_optax.py --linear            # add the Saxe et al. depth sweep
    python examples/train_optax.py --data digits       # scikit-learn's bundled digits
    python examples/train_optax.py --articles --plot curves.png   # + the articles' experiment

References:
  He, Zhang, Ren & Sun, "Delving deep into rectifiers", ICCV 2015, arXiv:1502.01852.
  Glorot & Bengio, "Understanding the difficulty of training deep feedforward neural
  networks", AISTATS 2010. Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear
  dynamics of learning in deep linear neural networks", ICLR 2014, arXiv:1312.6120.
  Mishkin & Matas, "All you need is a good init", ICLR 2016, arXiv:1511.06422.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jinit

ACTIVATIONS: dict[str, Callable] = {"relu": jax.nn.relu, "tanh": jnp.tanh, "linear": lambda x: x}


def _scheme_table(act: str) -> dict[str, Callable | None]:
    """Scheme name → kernel initializer (``None`` marks LSUV, which needs data)."""
    return {
        "zeros": jinit.zeros,
        "N(0,1)": jinit.normal(1.0),
        "N(0,0.01²)": jinit.normal(0.01),
        "glorot_uniform": jinit.glorot_uniform(),
        "glorot_normal": jinit.glorot_normal(),
        "he_uniform": jinit.he_uniform(),
        "he_normal": jinit.he_normal(),
        "lecun_normal": jinit.lecun_normal(),
        "orthogonal": jinit.orthogonal(),
        "for_activation": jinit.for_activation(act) if act != "linear" else jinit.lecun_normal(),
        "lsuv": None,
    }


SCHEMES: tuple[str, ...] = tuple(_scheme_table("relu"))


@dataclasses.dataclass(frozen=True)
class Config:
    """One comparison: every (activation, depth) pair, every scheme, every seed.

    ``depth`` counts weight layers (input, hidden and output), so depth 3 has two hidden
    layers of ``width`` units. ``target`` is the training loss (nats) whose first crossing by
    the smoothed mini-batch loss gives "steps to target". The SGD learning rate is ``lr`` if
    given, else ``lr_scale / depth`` (0.2 at depth 3, 0.02 at depth 30): one rule for every
    scheme, tuned for He init, so the deep network is not driven past its stable step size.
    """

    activations: tuple[str, ...] = ("relu", "tanh")
    depths: tuple[int, ...] = (3, 30)
    schemes: tuple[str, ...] = SCHEMES
    seeds: int = 3
    steps: int = 500
    width: int = 32
    batch: int = 64
    lr: float | None = None
    lr_scale: float = 0.6
    data: str = "synthetic"
    samples: int = 2048
    target: float = 1.0
    seed: int = 0
    keep_params: bool = False

    def learning_rate(self, depth: int) -> float:
        return self.lr if self.lr is not None else self.lr_scale / depth


@dataclasses.dataclass
class Result:
    """What one (activation, depth) run produced; arrays are indexed ``[scheme, seed, ...]``."""

    activation: str
    depth: int
    schemes: tuple[str, ...]
    losses: np.ndarray  # (S, K, steps) mini-batch training loss at each step
    final_loss: np.ndarray  # (S, K) full training-set loss after the last step
    test_accuracy: np.ndarray  # (S, K)
    steps_to_target: np.ndarray  # (S, K) float, inf where the target was never reached
    params: dict | None = None  # final parameters, stacked (S, K, ...), if keep_params


# --------------------------------------------------------------------------- data


def synthetic_data(seed: int = 0, samples: int = 2048, dim: int = 16, classes: int = 5,
                   turns: float = 1.0, noise: float = 0.03):
    r"""A deterministic ``classes``-arm spiral, hidden in a random 2-D plane of ``dim`` dimensions.

    Class :math:`c` is the arm :math:`r(\cos\theta, \sin\theta)` with
    :math:`r = t \sim U(0.05, 1)` and :math:`\theta = 2\pi(\text{turns}\cdot t + c/\text{classes})`,
    plus Gaussian noise of std ``noise``; the plane is standardized and rotated into
    ``dim`` dimensions by a random orthogonal matrix, so every input coordinate carries a
    bit of it. The classes are balanced and interleaved: a linear classifier is near chance
    (20 % for 5 classes) and the loss of a network that learns nothing is ``ln classes``.
    Generated by NumPy's PCG64 from ``seed``: the same data on every machine.

    Returns:
      ``(x_train, y_train, x_test, y_test)`` with ``samples`` training and ``samples // 2``
      test points.
    """
    rng = np.random.default_rng(10_000 + seed)
    n = samples + samples // 2
    y = np.arange(n) % classes
    t = rng.uniform(0.05, 1.0, n)
    angle = 2 * np.pi * (turns * t + y / classes)
    plane = np.stack([t * np.cos(angle), t * np.sin(angle)], 1)
    plane += noise * rng.standard_normal((n, 2))
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    x = np.concatenate([plane / plane.std(), np.zeros((n, dim - 2))], 1) @ rotation
    order = rng.permutation(n)
    x, y = x[order].astype(np.float32), y[order].astype(np.int32)
    return x[:samples], y[:samples], x[samples:], y[samples:]


def digits_data(seed: int = 0):
    """scikit-learn's bundled 8×8 handwritten digits (1797 images), standardized, split 1297/500."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise SystemExit("train_optax.py: --data digits needs scikit-learn, which ships the "
                         "digits set inside its package (no download): pip install "
                         "scikit-learn. Or use --data synthetic.") from e
    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order].astype(np.float32), y[order].astype(np.int32)
    x = (x - x[:1297].mean(0)) / (x[:1297].std(0) + 1.0)
    return x[:1297], y[:1297], x[1297:], y[1297:]


def load_data(cfg: Config):
    if cfg.data == "synthetic":
        return synthetic_data(cfg.seed, cfg.samples)
    if cfg.data == "digits":
        return digits_data(cfg.seed)
    raise ValueError(f"load_data(): data={cfg.data!r} is not valid; expected 'synthetic' or "
                     "'digits'.")


def describe_data(cfg: Config, data) -> str:
    x, y, xt, _ = data
    what = ("synthetic: a 5-arm spiral in a random plane of R^16, generated in code"
            if cfg.data == "synthetic" else "digits: scikit-learn's bundled 8x8 handwritten digits")
    return (f"data: {what}; {len(x)} train / {len(xt)} test, {x.shape[1]} features, "
            f"{int(y.max()) + 1} classes")


# -------------------------------------------------------------------------- model


def forward(params: dict, x: jax.Array, act: Callable) -> jax.Array:
    """The MLP: ``act`` after every layer but the last; hidden layers are a ``lax.scan``."""
    h = act(x @ params["w_in"] + params["b_in"])

    def layer(h, wb):
        w, b = wb
        return act(h @ w + b), None

    h, _ = jax.lax.scan(layer, h, (params["w_hid"], params["b_hid"]))
    return h @ params["w_out"] + params["b_out"]


def hidden_activations(params: dict, x: jax.Array, act: Callable) -> jax.Array:
    """Every hidden layer's output, stacked ``(depth - 1, batch, width)``."""
    h = act(x @ params["w_in"] + params["b_in"])

    def layer(h, wb):
        w, b = wb
        h = act(h @ w + b)
        return h, h

    _, hs = jax.lax.scan(layer, h, (params["w_hid"], params["b_hid"]))
    return jnp.concatenate([h[None], hs])


def init_params(init: Callable, key: jax.Array, dims: tuple[int, int, int, int]) -> dict:
    """One network's parameters: every kernel from ``init`` (own key, own fans), biases 0."""
    d, width, classes, depth = dims
    k_in, k_hid, k_out = jax.random.split(key, 3)
    hid_keys = jax.random.split(k_hid, depth - 2)
    return {
        "w_in": init(k_in, (d, width)),
        "b_in": jnp.zeros((width,)),
        "w_hid": jax.vmap(lambda k: init(k, (width, width)))(hid_keys),
        "b_hid": jnp.zeros((depth - 2, width)),
        "w_out": init(k_out, (width, classes)),
        "b_out": jnp.zeros((classes,)),
    }


def lsuv_params(act: str, key: jax.Array, dims: tuple[int, int, int, int], batch) -> dict:
    """LSUV through ``jinit.lsuv.lsuv_linen`` on the same network written as a linen model."""
    import flax.linen as nn

    d, width, classes, depth = dims
    f = ACTIVATIONS[act]
    layers: list = []
    for _ in range(depth - 1):
        layers += [nn.Dense(width), f]
    model = nn.Sequential([*layers, nn.Dense(classes)])
    k_init, k_lsuv = jax.random.split(key)
    variables = model.init(k_init, batch[:1])
    new, _ = jinit.lsuv.lsuv_linen(model, variables, batch, k_lsuv)
    p = new["params"]
    names = [f"layers_{2 * i}" for i in range(depth)]
    return {
        "w_in": p[names[0]]["kernel"],
        "b_in": jnp.zeros((width,)),
        "w_hid": jnp.stack([p[n]["kernel"] for n in names[1:-1]]).reshape(depth - 2, width, width),
        "b_hid": jnp.zeros((depth - 2, width)),
        "w_out": p[names[-1]]["kernel"],
        "b_out": jnp.zeros((classes,)),
    }


def initial_params(act: str, depth: int, cfg: Config, data) -> dict:
    """Parameters stacked ``(scheme, seed, ...)`` for every scheme of ``cfg``."""
    x = data[0]
    dims = (x.shape[1], cfg.width, int(data[1].max()) + 1, depth)
    table = _scheme_table(act)
    keys = jax.random.split(jax.random.key(cfg.seed), cfg.seeds)
    stacked = []
    for name in cfg.schemes:
        init = table[name]
        if init is None:
            per_seed = [lsuv_params(act, k, dims, jnp.asarray(x[:512])) for k in keys]
            stacked.append(jax.tree.map(lambda *a: jnp.stack(a), *per_seed))
        else:
            stacked.append(jax.vmap(lambda k, i=init: init_params(i, k, dims))(keys))
    return jax.tree.map(lambda *a: jnp.stack(a), *stacked)


# ----------------------------------------------------------------------- training


def make_trainer(act: Callable, data, cfg: Config, loss: str = "xent"):
    """``(params[S, K], lr) -> (final params, losses[S, K, steps])``, vmapped, not yet jitted.

    ``lr`` may be a traced scalar, so a further ``jax.vmap`` sweeps learning rates in the
    same compiled program.
    """
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    n = x.shape[0]

    def loss_fn(p, xb, yb):
        out = forward(p, xb, act)
        if loss == "mse":
            return jnp.mean((out - yb) ** 2)
        return optax.softmax_cross_entropy_with_integer_labels(out, yb).mean()

    def train_one(p, lr):
        tx = optax.sgd(lr)

        def step(carry, i):
            p, s = carry
            idx = (i * cfg.batch + jnp.arange(cfg.batch)) % n
            value, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
            u, s = tx.update(g, s, p)
            return (optax.apply_updates(p, u), s), value

        (p, _), losses = jax.lax.scan(step, (p, tx.init(p)), jnp.arange(cfg.steps))
        return p, losses

    return jax.vmap(jax.vmap(train_one, in_axes=(0, None)), in_axes=(0, None))


def evaluate(params: dict, act: Callable, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Full-set loss and accuracy for stacked ``(S, K)`` parameters."""
    def one(p):
        logits = forward(p, jnp.asarray(x), act)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(y)).mean()
        return loss, jnp.mean(jnp.argmax(logits, -1) == jnp.asarray(y))

    loss, acc = jax.jit(jax.vmap(jax.vmap(one)))(params)
    return np.asarray(loss, np.float64), np.asarray(acc, np.float64)


def smooth(losses: np.ndarray, window: int = 20) -> np.ndarray:
    """Trailing moving average over the last axis (non-finite values stay non-finite)."""
    window = max(1, min(window, losses.shape[-1]))
    bad = ~np.isfinite(losses)
    c = np.cumsum(np.where(bad, 0.0, losses), axis=-1)
    nbad = np.cumsum(bad, axis=-1)
    out = np.empty_like(c)
    out[..., :window] = c[..., :window] / np.arange(1, window + 1)
    out[..., window:] = (c[..., window:] - c[..., :-window]) / window
    hit = nbad.copy()
    hit[..., window:] -= nbad[..., :-window]
    return np.where(hit > 0, np.inf, out)


def steps_to(losses: np.ndarray, target: float, window: int = 20) -> np.ndarray:
    """First step (1-based) where the smoothed loss is ≤ ``target``; ``inf`` if never."""
    below = smooth(losses, window) <= target
    first = np.argmax(below, axis=-1).astype(np.float64) + 1
    return np.where(below.any(axis=-1), first, np.inf)


def run(cfg: Config = Config()) -> dict[tuple[str, int], Result]:
    """Trains every scheme × seed for each (activation, depth) of ``cfg``.

    Returns:
      ``{(activation, depth): Result}``.
    """
    data = load_data(cfg)
    results = {}
    for act in cfg.activations:
        for depth in cfg.depths:
            if depth < 2:
                raise ValueError(f"run(): depth={depth!r} is too small; expected >= 2.")
            params = initial_params(act, depth, cfg, data)
            trainer = jax.jit(make_trainer(ACTIVATIONS[act], data, cfg))
            final, losses = trainer(params, cfg.learning_rate(depth))
            train_loss, _ = evaluate(final, ACTIVATIONS[act], data[0], data[1])
            _, test_acc = evaluate(final, ACTIVATIONS[act], data[2], data[3])
            losses = np.asarray(losses, np.float64)
            results[act, depth] = Result(
                act, depth, tuple(cfg.schemes), losses, train_loss, test_acc,
                steps_to(losses, cfg.target),
                jax.tree.map(np.asarray, final) if cfg.keep_params else None)
    return results


# ------------------------------------------------------- Saxe et al. deep linear sweep


def linear_depth_sweep(depths: Sequence[int] = (2, 8, 32), schemes: Sequence[str] = (
        "orthogonal", "lecun_normal"), *, width: int = 16, steps: int = 300,
        lr_grid: Sequence[float] = (0.25, 0.5, 1.0, 2.0), seeds: int = 3, target: float = 0.05,
        seed: int = 0) -> dict[str, np.ndarray]:
    """SGD steps for a deep *linear* network to fit a linear map, per depth and scheme.

    The network is ``depth`` square ``width × width`` layers with no activation (biases start
    at zero); the task is ``y = x M`` for ``x ~ N(0, I)`` and a fixed ``M`` whose singular
    values are spread evenly over [0.2, 2]; the loss is the squared error averaged over
    outputs, divided by ``E[y²]`` (so a network that outputs 0 has loss 1). As in Saxe et
    al. (2014, Fig. 6), the learning rate is optimized for each depth: SGD (batch 128) runs at
    every rate ``c / depth`` for ``c`` in ``lr_grid`` — all rates, schemes and seeds in one
    ``jax.vmap`` — and each (scheme, seed) keeps its fastest rate. An orthogonal init makes
    the end-to-end map an isometry at every depth and learns in a nearly depth-independent
    number of steps; a scaled Gaussian init of the same variance (LeCun) starts from an
    ill-conditioned product of random matrices and slows down with depth.

    Returns:
      ``{scheme: steps[depth_index, seed]}``: the first step at which the smoothed loss is
      ``<= target`` at the best learning rate (``inf`` where no rate gets there).
    """
    rng = np.random.default_rng(20_140 + seed)
    u, _ = np.linalg.qr(rng.standard_normal((width, width)))
    v, _ = np.linalg.qr(rng.standard_normal((width, width)))
    m = (u * np.linspace(0.2, 2.0, width)) @ v.T
    x = rng.standard_normal((2048, width)).astype(np.float32)
    y = x @ m
    y = (y / np.sqrt(np.mean(y**2))).astype(np.float32)
    table = _scheme_table("linear")
    keys = jax.random.split(jax.random.key(seed), seeds)
    out = {s: np.zeros((len(depths), seeds)) for s in schemes}
    cfg = Config(schemes=tuple(schemes), seeds=seeds, steps=steps, width=width, batch=128)
    sweep = jax.jit(jax.vmap(make_trainer(ACTIVATIONS["linear"], (x, y), cfg, loss="mse"),
                             in_axes=(None, 0)))
    for j, depth in enumerate(depths):
        params = jax.tree.map(lambda *a: jnp.stack(a), *[
            jax.vmap(lambda k, i=table[s], d=depth: init_params(i, k, (width, width, width, d)))(keys)
            for s in schemes])
        _, losses = sweep(params, jnp.asarray(lr_grid, jnp.float32) / depth)
        best = steps_to(np.asarray(losses, np.float64), target).min(axis=0)  # over rates
        for i, s in enumerate(schemes):
            out[s][j] = best[i]
    return out


# ------------------------------------------------ the articles' experiment (jinit.compare)


ARTICLE_INITS = {"zero": jinit.zeros, "N(0,1)": jinit.normal(1.0),
                 "xavier": jinit.glorot_normal(), "he": jinit.he_normal(),
                 "lecun": jinit.lecun_normal()}


def articles(*, seeds: int = 3, steps: int = 400, depth: int = 4, width: int = 64,
             act: str = "relu", batch: int = 64, lr: float = 1e-3, seed: int = 0,
             quiet: bool = True):
    """Zero, N(0, 1), Xavier, He and LeCun init of one MLP on the digits, with validation.

    A ``flax.linen`` MLP of ``depth`` Dense layers (``width`` units, ``act`` between them,
    10 outputs) on scikit-learn's bundled digits (1297 train / 500 validation), trained by
    ``optax.adam(lr)`` on batches of ``batch`` drawn without replacement per epoch. Each
    init sets every kernel; biases keep linen's default (zeros). All of it is one call of
    :func:`jinit.compare.run`, evaluating every ``steps // 40`` steps (or the largest divisor
    of ``steps`` below that).

    Returns:
      The :class:`jinit.compare.Result`.
    """
    import flax.linen as nn

    import jinit.compare

    x, y, xv, yv = digits_data(seed)
    layers: list = []
    for _ in range(depth - 1):
        layers += [nn.Dense(width), ACTIVATIONS[act]]
    model = nn.Sequential([*layers, nn.Dense(10)])
    every = max(d for d in range(1, max(1, steps // 40) + 1) if steps % d == 0)
    return jinit.compare.run(model, ARTICLE_INITS, train=(x, y), val=(xv, yv),
                             loss="softmax_cross_entropy", optimizer=optax.adam(lr),
                             steps=steps, batch_size=batch, seeds=seeds, eval_every=every,
                             seed=seed, quiet=quiet)


# -------------------------------------------------------------------------- report


def _fmt(values: np.ndarray, spec: str) -> str:
    values = np.asarray(values, np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.sum(~np.isfinite(values)))
        fin = values[np.isfinite(values)]
        if fin.size == 0:
            return "never" if spec == "steps" else "nan"
        return f"{format(fin.mean(), '.0f' if spec == 'steps' else spec)} ({bad}×never)" \
            if spec == "steps" else f"nan in {bad}"
    if spec == "steps":
        return f"{values.mean():.0f} ± {values.std():.0f}"
    return f"{format(values.mean(), spec)} ± {format(values.std(), spec)}"


def table(results: dict[tuple[str, int], Result], cfg: Config) -> str:
    lines = [f"{'act':<5} {'depth':>5}  {'scheme':<15} {'final train loss':>18} "
             f"{'test accuracy':>15} {f'steps to loss {cfg.target:g}':>20}"]
    for (act, depth), r in results.items():
        for i, s in enumerate(r.schemes):
            lines.append(f"{act:<5} {depth:>5}  {s:<15} {_fmt(r.final_loss[i], '.3f'):>18} "
                         f"{_fmt(r.test_accuracy[i], '.3f'):>15} "
                         f"{_fmt(r.steps_to_target[i], 'steps'):>20}")
        lines.append("")
    return "\n".join(lines)


def _lr_text(cfg: Config) -> str:
    if cfg.lr is not None:
        return f"{cfg.lr:g}"
    return f"{cfg.lr_scale:g}/depth (" + ", ".join(
        f"{cfg.learning_rate(d):g}" for d in cfg.depths) + ")"


def plot(results: dict[tuple[str, int], Result], cfg: Config, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(results)
    acts = list(dict.fromkeys(a for a, _ in keys))
    depths = list(dict.fromkeys(d for _, d in keys))
    fig, axes = plt.subplots(len(acts), len(depths), figsize=(5.2 * len(depths), 3.8 * len(acts)),
                             squeeze=False, sharex=True)
    cmap = plt.get_cmap("tab20")
    colors = [cmap(i) for i in (0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 1, 3, 5, 7, 9)]
    for (act, depth), r in results.items():
        ax = axes[acts.index(act)][depths.index(depth)]
        steps = np.arange(1, r.losses.shape[-1] + 1)
        for i, s in enumerate(r.schemes):
            curve = smooth(r.losses[i])
            curve = np.where(np.isfinite(curve), curve, np.nan)  # diverged: not drawn
            diverged = bool(np.isnan(curve[:, -1]).any())
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns
                lo, mid, hi = np.nanmin(curve, 0), np.nanmedian(curve, 0), np.nanmax(curve, 0)
            c = colors[i % len(colors)]
            ax.plot(steps, mid, color=c, lw=1.3, label=s + (" (diverged)" if diverged else ""))
            ax.fill_between(steps, lo, hi, color=c, alpha=0.2, lw=0)
        ax.axhline(cfg.target, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_ylim(top=4.0)
        ax.set_title(f"{act}, {depth} layers")
        ax.set_xlabel("SGD step")
        ax.set_ylabel("training loss (smoothed)")
    for row in axes:
        row[-1].legend(fontsize=7, ncol=2, loc="lower left")
    fig.suptitle(f"{cfg.data} data, SGD lr={_lr_text(cfg)}, width {cfg.width}, {cfg.seeds} seeds\n"
                 "(line: median, band: min–max over seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--activations", nargs="+", default=list(Config.activations),
                        choices=["relu", "tanh"])
    parser.add_argument("--depths", type=int, nargs="+", default=list(Config.depths))
    parser.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=SCHEMES)
    parser.add_argument("--seeds", type=int, default=Config.seeds)
    parser.add_argument("--steps", type=int, default=Config.steps)
    parser.add_argument("--width", type=int, default=Config.width)
    parser.add_argument("--batch", type=int, default=Config.batch)
    parser.add_argument("--lr", type=float, default=None,
                        help="SGD learning rate for every depth (default: LR_SCALE / depth)")
    parser.add_argument("--lr-scale", type=float, default=Config.lr_scale)
    parser.add_argument("--target", type=float, default=Config.target,
                        help="training loss for the 'steps to target' column")
    parser.add_argument("--data", choices=["synthetic", "digits"], default=Config.data)
    parser.add_argument("--samples", type=int, default=Config.samples,
                        help="synthetic training set size")
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--linear", action="store_true",
                        help="also run the deep-linear depth sweep (Saxe et al. 2014)")
    parser.add_argument("--articles", action="store_true",
                        help="also run the articles' experiment on the digits: zero, N(0,1), "
                             "Xavier, He, LeCun, with validation curves (jinit.compare)")
    parser.add_argument("--articles-steps", type=int, default=400,
                        help="Adam steps of the articles' experiment")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="draw the loss curves (and, with --articles, FILE_articles.png)")
    args = parser.parse_args(argv)
    cfg = Config(tuple(args.activations), tuple(args.depths), tuple(args.schemes), args.seeds,
                 args.steps, args.width, args.batch, args.lr, args.lr_scale, args.data, args.samples,
                 args.target, args.seed)

    start = time.perf_counter()
    print(describe_data(cfg, load_data(cfg)))
    print(f"MLP width {cfg.width}, plain SGD lr={_lr_text(cfg)}, batch {cfg.batch}, {cfg.steps} steps, "
          f"{cfg.seeds} seeds; kernels from each scheme, biases 0; mean ± std over seeds")
    results = run(cfg)
    print(table(results, cfg))
    out: dict = {"results": results}
    if args.linear:
        sweep_depths = (2, 8, 32)
        sweep = linear_depth_sweep(sweep_depths, seed=args.seed)
        print("deep linear networks (Saxe et al. 2014), width 16: SGD steps until the loss is "
              "5 % of E[y²], best of lr in {0.25, 0.5, 1, 2}/depth, mean ± std over 3 seeds")
        print(f"{'scheme':<14}" + "".join(f"{f'depth {d}':>12}" for d in sweep_depths))
        for s, v in sweep.items():
            print(f"{s:<14}" + "".join(f"{_fmt(row, 'steps'):>12}" for row in v))
        out["linear"] = sweep
    if args.articles:
        res = articles(seeds=args.seeds, steps=args.articles_steps, seed=args.seed)
        print("the articles' experiment (jinit.compare): MLP 64-64-64-64-10, ReLU, Adam 1e-3, "
              f"batch 64, digits 1297 train / 500 validation, {args.seeds} seeds")
        print(res.summary())
        out["articles"] = res
    if args.plot:
        plot(results, cfg, args.plot)
        print(f"wrote {args.plot}")
        if args.articles:
            path = args.plot[:-4] + "_articles.png" if args.plot.endswith(".png") else \
                args.plot + "_articles.png"
            res.plot(path, title=f"digits, MLP depth 4 width 64, Adam 1e-3, {args.seeds} seeds "
                                 "(line: mean, band: min–max over seeds)")
            print(f"wrote {path}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return out


if __name__ == "__main__":
    main()
