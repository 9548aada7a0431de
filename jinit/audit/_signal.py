r"""``jinit.audit.signal``: forward and backward second moments through the user's own model.

Every tapped point :math:`h_l` (a submodule's output, in execution order) gets a zero
perturbation, :math:`h_l \to h_l + \epsilon_l` with :math:`\epsilon_l = 0`; for the loss
:math:`\mathcal{L} = \sum y \odot g` of the model's output :math:`y` against a fixed
Gaussian probe :math:`g \sim \mathcal{N}(0, I)` (so the output's gradient has second moment
1), :math:`\partial\mathcal{L}/\partial\epsilon_l` is the backward signal at :math:`h_l`.
Per layer, averaged over the batch, the units and the keys,

.. math::

    q_l = \overline{h_l^2}, \qquad g_l = \overline{(\partial\mathcal{L}/\partial h_l)^2},

and the depth profile is judged on the **stream**: the tapped points that repeat a layer,
the outputs of ``Block_0, Block_1, …`` (linen), ``blocks/0, blocks/1, …`` (NNX),
``layers_0, layers_2, …`` (``nn.Sequential``) or ``dense_0, dense_1, …`` (taps). Among names
that end in an index (``_k`` or ``/k``), grouped by what precedes it, the stream is the
largest group at the shallowest depth that has two or more; a module called repeatedly
(``name``, ``name#1``, …) is a group too; with no group, every tapped point. In a
transformer this is the residual stream after each block: the embedding, the norms, the
attention projections inside a block and the output head are measured and listed but do
not set the verdict (a small embedding is not an exploding model). Over the stream's
:math:`S` points the trend is the least-squares slope :math:`b` of :math:`\ln q_s` against
:math:`s`, and

.. math::

    F_{\text{fwd}} = e^{b\,(S-1)}, \qquad F_{\text{bwd}} = e^{-b_g\,(S-1)}

(:math:`b_g` the slope of :math:`\ln g_s`; for a geometric profile
:math:`F_{\text{fwd}} = q_S/q_1` exactly) are classified as in
:func:`jinit.verify.signal_propagation`: below ``1/band`` vanishing, above ``band``
exploding, else stable. The per-layer factor is :math:`e^{b}`: about 1/2 for a Glorot ReLU
stack, 1 for He (He et al., "Delving Deep into Rectifiers", ICCV 2015, arXiv:1502.01852).
A pre-LN transformer's stream grows additively, :math:`q_s \approx q_0 + s\,c` with
:math:`c` a block's contribution, so it reads as about :math:`(q_0 + S c)/(q_0 + c)`:
stable while the blocks' updates stay small next to the stream, as residual scaling
(GPT-2's :math:`1/\sqrt{2L}`) keeps them, exploding when they are mis-scaled.

A model whose call takes several inputs (tokens and a mask, ``train=False``) is audited
through a one-argument wrapper, since ``signal`` calls ``model.apply(params, batch)``
(linen), ``module(batch)`` (NNX) or ``model(params, batch)``:

.. code-block:: python

    class Inputs(nn.Module):            # linen; NNX alike, with the inner module an attribute
        inner: nn.Module

        @nn.compact
        def __call__(self, batch):
            tokens, mask = batch
            return self.inner(tokens, mask, train=False)

    audit.signal(Inputs(model), (tokens, mask))   # layers read 'inner/Block_0', ...

A plain function unpacks the batch itself: ``model(params, (tokens, mask))``.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jinit import _checks, structure
from jinit.laws import BAND, classify

from ._report import grid
from ._stream import stream_of, trend

_ACTIVE: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar("jinit_audit_tap",
                                                                           default=None)


class _Recorder:
    """Collects tapped points: their order and shapes, forward moments, perturbations."""

    def __init__(self, perts: dict | None):
        self.perts = perts
        self.order: list[str] = []
        self.shapes: dict[str, object] = {}
        self.forward: dict[str, jax.Array] = {}
        self.calls: dict[str, int] = {}

    def tap(self, value: object, name: str) -> object:
        k = self.calls.get(name, 0)
        self.calls[name] = k + 1
        key = name if k == 0 else f"{name}#{k}"
        leaves = [x for x in jax.tree.leaves(value)
                  if hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)]
        if not leaves:
            return value
        self.order.append(key)
        self.shapes[key] = jax.tree.map(
            lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype) if _floating(x) else None, value)
        if self.perts is not None and key in self.perts:
            value = jax.tree.map(lambda x, e: x + e if e is not None else x, value,
                                 self.perts[key], is_leaf=lambda e: e is None)
        total = sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in leaves)
        self.forward[key] = total / sum(x.size for x in leaves)
        return value


def _floating(x: object) -> bool:
    return hasattr(x, "dtype") and bool(jnp.issubdtype(x.dtype, jnp.inexact))


def tap(x: object, name: str) -> object:
    """Marks ``x`` as a layer output for :func:`jinit.audit.signal` (identity otherwise).

    Example:
      >>> import jax.numpy as jnp
      >>> from jinit import audit
      >>> audit.tap(jnp.ones(3), "layer_0").shape
      (3,)
    """
    rec = _ACTIVE.get()
    return x if rec is None else rec.tap(x, name)


@contextlib.contextmanager
def _recording(perts: dict | None):
    rec = _Recorder(perts)
    token = _ACTIVE.set(rec)
    try:
        yield rec
    finally:
        _ACTIVE.reset(token)


# ------------------------------------------------------------------ model kinds


def _tap(name: str, y: object) -> object:
    return tap(y, name)


def _linen_apply(model: object) -> Callable:
    def apply(params, batch):
        with structure.capture(model, _tap):
            return model.apply(params, batch)

    return apply


def _nnx_apply(graphdef: object) -> Callable:
    from flax import nnx

    def apply(state, batch):
        module = nnx.merge(graphdef, state)
        with structure.capture(module, _tap):
            return module(batch)

    return apply


def _prepare(fn: str, model: object, batch: object, params: object, init: Callable | None
             ) -> tuple[Callable, object, Callable | None, str]:
    """``(apply(params, batch), params, init(key) -> params, kind)`` for any model kind."""
    expected = ("a linen Module, an NNX Module, or a function model(params, batch) that marks "
                "layers with jinit.audit.tap")
    try:  # the kind as jinit.structure reads it; params are checked below
        kind = structure.model_kind(model, True, fn)
    except TypeError:
        raise _checks.fail(fn, "model", model, "is not a model", expected,
                           exc=TypeError) from None
    if kind == "linen":
        if init is None and params is None:
            init = lambda key: model.init(key, batch)  # noqa: E731 - the model's own init
        return _linen_apply(model), params, init, "linen"
    if kind == "nnx":
        from flax import nnx

        graphdef, state = nnx.split(model)
        if init is not None:
            user_init = init
            init = lambda key: nnx.split(user_init(key))[1]  # noqa: E731
        return _nnx_apply(graphdef), state if params is None else params, init, "nnx"
    if kind == "equinox":
        raise _checks.fail(fn, "model", model, "is an equinox Module, which the audit's signal "
                           "check does not run", expected + " (for equinox: "
                           "lambda p, x: eqx.combine(p, static)(x) with params=p)",
                           exc=TypeError)
    if params is None and init is None:
        raise _checks.fail(fn, "params", None, "is missing for a plain function",
                           "params (or init=key -> params) for model(params, batch)",
                           exc=TypeError)
    return model, params, init, "function"


# -------------------------------------------------------------------- result


@dataclasses.dataclass
class SignalReport:
    """Per-layer forward and backward second moments (see :func:`jinit.audit.signal`).

    Attributes:
      layers: the tapped points, in execution order.
      forward: :math:`q_l`, averaged over keys (``float64[L]``).
      backward: :math:`g_l`, averaged over keys.
      forward_keys / backward_keys: per key (``float64[keys, L]``).
      band: the stable band.
      kind: ``"linen"``, ``"nnx"`` or ``"function"``.
    """

    layers: list[str]
    forward: np.ndarray
    backward: np.ndarray
    forward_keys: np.ndarray
    backward_keys: np.ndarray
    band: float = BAND
    kind: str = ""

    @property
    def stream(self) -> list[str]:
        """The layers the verdict is judged on (see :mod:`jinit.audit._signal`)."""
        return [self.layers[i] for i in stream_of(self.layers)]

    def _slopes(self) -> tuple[float, float, int]:
        index = stream_of(self.layers)
        return trend(self.forward[index]), trend(self.backward[index]), len(index)

    @property
    def forward_factor(self) -> float:
        """:math:`e^{b(S-1)}`: the forward trend over the stream (``q_S/q_1`` if geometric)."""
        b, _, n = self._slopes()
        return float(np.exp(b * (n - 1)))

    @property
    def backward_factor(self) -> float:
        """:math:`e^{-b_g(S-1)}`: first over last along the stream (the gradient flows back)."""
        _, b, n = self._slopes()
        return float(np.exp(-b * (n - 1)))

    def per_layer(self, which: str = "forward") -> float:
        """The factor per stream layer, :math:`e^{b}` (backward: :math:`e^{-b_g}`)."""
        b, bg, _ = self._slopes()
        return float(np.exp(b if which == "forward" else -bg))

    @property
    def verdict(self) -> dict[str, str]:
        return {"forward": classify(self.forward_factor, self.band),
                "backward": classify(self.backward_factor, self.band)}

    @property
    def ok(self) -> bool:
        return all(v == "stable" for v in self.verdict.values())

    def _reference(self) -> tuple[float, float]:
        index = stream_of(self.layers)
        return float(self.forward[index[0]]), float(self.backward[index[-1]])

    def classes(self) -> list[tuple[str, str]]:
        """Each stream layer's class, forward relative to the stream's first layer and
        backward to its last; ``("", "")`` for layers off the stream."""
        q0, g0 = self._reference()
        on = set(stream_of(self.layers))
        with np.errstate(divide="ignore", invalid="ignore"):  # a dead reference layer
            return [(classify(float(np.float64(q) / q0), self.band),
                     classify(float(np.float64(g) / g0), self.band)) if i in on else ("", "")
                    for i, (q, g) in enumerate(zip(self.forward, self.backward, strict=True))]

    def _headline(self) -> str:
        v = self.verdict
        return (f"forward {v['forward']} (x{self.forward_factor:.3g} over the stream), "
                f"backward {v['backward']} (x{self.backward_factor:.3g})")

    def __str__(self) -> str:
        q0, g0 = np.float64(self._reference()[0]), np.float64(self._reference()[1])
        on = set(stream_of(self.layers))
        rows = [("#", "layer", "stream", "forward q", "q/q_s", "", "backward g", "g/g_s", "")]
        for i, (name, q, g, (cf, cb)) in enumerate(zip(self.layers, self.forward, self.backward,
                                                       self.classes(), strict=True)):
            with np.errstate(divide="ignore", invalid="ignore"):
                rq, rg = np.float64(q) / q0, np.float64(g) / g0
            rows.append((str(i), name, "*" if i in on else "", f"{q:.4g}", f"{rq:.3g}", cf,
                         f"{g:.4g}", f"{rg:.3g}", cb))
        v = self.verdict
        stream = self.stream
        keys = self.forward_keys.shape[0]
        return (grid(rows) + f"\nsignal: {len(self.layers)} layers, {keys} key(s); judged on "
                f"the stream (*) of {len(stream)}, {stream[0]} .. {stream[-1]} (q_s: its first, "
                f"g_s: its last); forward trend x{self.forward_factor:.3g} ({v['forward']}, "
                f"x{self.per_layer():.3g} per layer), backward x{self.backward_factor:.3g} "
                f"({v['backward']}, x{self.per_layer('backward'):.3g} per layer); "
                f"band x{self.band:g}")

    def as_dict(self) -> dict:
        return {"layers": self.layers, "stream": self.stream, "forward": self.forward.tolist(),
                "backward": self.backward.tolist(), "verdict": self.verdict,
                "forward_factor": self.forward_factor, "backward_factor": self.backward_factor,
                "band": self.band, "kind": self.kind, "keys": int(self.forward_keys.shape[0])}

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.as_dict(), indent=indent)

    def plot(self, path: str) -> None:
        """Draws forward and backward second moments against depth (log scale) to a PNG.

        The axis names the layers; the stream is circled; the title is the verdict.
        """
        import matplotlib.pyplot as plt

        fig = self._figure()
        fig.savefig(path, dpi=120)
        plt.close(fig)

    def _figure(self):  # noqa: ANN202 - a matplotlib Figure
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(self.layers)
        fig, ax = plt.subplots(figsize=(max(7.0, min(0.18 * n, 30.0)), 5))
        depth = np.arange(n)
        on = stream_of(self.layers)
        ax.semilogy(depth, self.forward, "o-", ms=3, lw=0.8, color="C0",
                    label="forward  E[h^2]")
        ax.semilogy(depth, self.backward, "s-", ms=3, lw=0.8, color="C1",
                    label="backward E[(dL/dh)^2]")
        ax.semilogy(depth[on], self.forward[on], "o", ms=7, mfc="none", color="C0",
                    label="stream (the verdict)")
        ax.semilogy(depth[on], self.backward[on], "s", ms=7, mfc="none", color="C1")
        step = max(1, -(-n // 80))  # at most ~80 names on the axis
        ax.set_xticks(depth[::step])
        ax.set_xticklabels(self.layers[::step], rotation=90, fontsize=6)
        ax.set_xlabel("layer (execution order)")
        ax.set_ylabel("second moment")
        ax.set_title(f"jinit audit signal: {self._headline()}", fontsize=9)
        ax.legend(fontsize=7)
        fig.tight_layout()
        return fig


def signal(model: object, batch: object, *, params: object = None,
           init: Callable | None = None, keys: int = 8, seed: int = 0,
           loss: Callable | None = None, band: float = BAND, only: str | None = None
           ) -> SignalReport:
    r"""Forward and backward second moments at every layer of the user's own model.

    See :mod:`jinit.audit._signal` for the definitions: each submodule output
    :math:`h_l` (linen: every submodule's ``__call__``, intercepted with
    ``nn.intercept_methods``; NNX: every submodule's ``__call__``; a plain function: the
    points it marks with :func:`jinit.audit.tap`) gets a zero perturbation whose gradient is
    the backward signal, and :math:`q_l = \overline{h_l^2}`,
    :math:`g_l = \overline{(\partial\mathcal{L}/\partial h_l)^2}` are averaged over the batch
    and, with ``init``, over ``keys`` independent initializations drawn in one ``jax.vmap``.

    The verdict is the trend over the stream, the outputs of the repeated blocks
    (``Block_0 .. Block_{L-1}``; see :mod:`jinit.audit._signal`), so an embedding, norms or
    an output head of another scale do not read as vanishing or exploding;
    :attr:`SignalReport.stream` names the layers it used.

    A model called with several inputs (``model.apply(params, tokens, mask)``, keyword
    arguments such as ``train=False``) is audited through a one-argument wrapper whose
    ``batch`` is a tuple: a linen ``Inputs(nn.Module)`` with the model as a field and
    ``__call__(self, batch): return self.inner(*batch)`` (NNX alike, with the model an
    attribute), then ``signal(Inputs(model), (tokens, mask))``; the layers read
    ``inner/Block_0``, … A plain function unpacks the tuple itself.

    Args:
      model: a ``flax.linen`` Module, an ``nnx`` Module, or ``model(params, batch)``.
      batch: the model's input (one argument: a tuple for a model of several inputs).
      params: the parameters (linen variables; NNX: defaults to the module's state;
        function: required unless ``init``).
      init: ``init(key) -> params`` (NNX: ``-> module``), vmapped over ``keys``; a linen
        model without ``params`` uses ``model.init(key, batch)``.
      keys: independent initializations to average over (with ``init``).
      seed: seed of the keys and of the output probe :math:`g`.
      loss: ``loss(output) -> scalar`` instead of the Gaussian probe.
      band: factors beyond ``band`` (or below ``1/band``) are exploding (vanishing).
      only: keep only layers whose name matches this regex.

    Returns:
      A :class:`SignalReport`.

    Example:
      >>> import jax, jax.numpy as jnp, flax.linen as nn, jinit
      >>> from jinit import audit
      >>> mlp = nn.Sequential([nn.Dense(128, kernel_init=jinit.he_normal()) if i % 2 == 0
      ...                      else nn.relu for i in range(15)])
      >>> s = audit.signal(mlp, jax.random.normal(jax.random.key(0), (64, 128)), keys=4)
      >>> len(s.layers), s.verdict["forward"]
      (8, 'stable')
    """
    fn = "audit.signal"
    keys = _checks.integer(fn, "keys", keys, minimum=1)
    seed = _checks.integer(fn, "seed", seed)
    band = _checks.real(fn, "band", band, minimum=1.0, strict=True)
    if init is not None and not callable(init):
        raise _checks.fail(fn, "init", init, "is not callable", "a function key -> params",
                           exc=TypeError)
    pattern = None if only is None else re.compile(only)
    apply, params, init, kind = _prepare(fn, model, batch, params, init)
    key_list = jax.random.split(jax.random.key(seed), keys + 1)
    probe_key, draw_keys = key_list[0], key_list[1:]
    example = params if init is None else init(draw_keys[0])

    with _recording(None) as rec:
        # a new function each call: a cached trace would skip the taps' side effects
        out_shape = jax.eval_shape(lambda p, x: apply(p, x), example, batch)
    if not rec.order:
        raise _checks.fail(fn, "model", model, "has no tapped layer",
                           "submodules (linen/NNX) or jinit.audit.tap(x, name) calls in the "
                           "function", exc=ValueError)
    order = [n for n in rec.order if pattern is None or pattern.search(n)]
    perts0 = {n: jax.tree.map(lambda s: None if s is None else jnp.zeros(s.shape, s.dtype),
                              rec.shapes[n]) for n in order}
    probe = jax.tree.map(lambda s: jax.random.normal(probe_key, s.shape, jnp.float32)
                         if _floating(s) else None, out_shape)

    def objective(perts, p):
        with _recording(perts) as r:
            out = apply(p, batch)
        if loss is not None:
            value = loss(out)
        else:
            value = sum(jnp.sum(y.astype(jnp.float32) * g) for y, g in
                        zip(jax.tree.leaves(out), jax.tree.leaves(probe), strict=False)
                        if g is not None)
        return value, jnp.stack([r.forward[n] for n in order])

    def measure(p):
        grads, forward = jax.grad(objective, has_aux=True)(perts0, p)
        backward = []
        for n in order:
            leaves = [g for g in jax.tree.leaves(grads[n]) if g is not None]
            backward.append(sum(jnp.sum(jnp.square(g.astype(jnp.float32))) for g in leaves)
                            / sum(g.size for g in leaves))
        return forward, jnp.stack(backward)

    if init is None:
        fwd, bwd = jax.jit(measure)(params)
        fwd, bwd = fwd[None], bwd[None]
    else:
        fwd, bwd = jax.jit(jax.vmap(lambda k: measure(init(k))))(draw_keys)
    fwd, bwd = np.asarray(fwd, np.float64), np.asarray(bwd, np.float64)
    return SignalReport(order, fwd.mean(axis=0), bwd.mean(axis=0), fwd, bwd, band, kind)
