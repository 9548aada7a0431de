"""Edges of the audit: Equinox modules, Flax's own initializers, transformer depth verdicts,
and the lazily loaded submodules of ``import jinit``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jinit import audit

# ----------------------------------------------------------------- lazy submodules


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_import_jinit_loads_no_extra_and_reaches_every_submodule():
    done = _run("""
        import os, sys
        os.environ.pop("KERAS_BACKEND", None)
        import jinit
        heavy = [m for m in ("flax", "equinox", "keras", "optax", "matplotlib", "torch")
                 if m in sys.modules]
        assert heavy == [], heavy
        names = ("nnx", "equinox", "keras", "audit", "recipes", "verify")
        assert not any(f"jinit.{n}" in sys.modules for n in names)
        assert set(names) <= set(dir(jinit))
        assert callable(jinit.nnx.init) and jinit.nnx.__name__ == "jinit.nnx"
        assert callable(jinit.equinox.init)
        assert callable(jinit.audit.check) and callable(jinit.recipes.gpt2)
        assert callable(jinit.keras.Initializer) and os.environ["KERAS_BACKEND"] == "jax"
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("name, extra", [("nnx", "flax"), ("equinox", "equinox"),
                                         ("keras", "keras")])
def test_missing_extra_names_what_to_install(name, extra):
    done = _run(f"""
        import sys
        sys.modules[{extra!r}] = None      # as if the extra were not installed
        import jinit
        try:
            jinit.{name}
        except ImportError as e:
            print(e)
        try:
            jinit.no_such_module
        except AttributeError as e:
            print(type(e).__name__)
    """)
    assert done.returncode == 0, done.stderr
    assert f'pip install "jinit[{extra}]"' in done.stdout and f"jinit.{name}" in done.stdout
    assert "AttributeError" in done.stdout


# ------------------------------------------------------------ Flax's own initializers


def _flax_model():
    nn = pytest.importorskip("flax.linen")

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = x + nn.MultiHeadDotProductAttention(4)(nn.LayerNorm()(x))
            up = nn.Dense(256, kernel_init=nn.with_partitioning(nn.initializers.lecun_normal(),
                                                                (None, "mlp")))
            return x + nn.Dense(64)(nn.gelu(up(nn.LayerNorm()(x))))

    class Model(nn.Module):
        @nn.compact
        def __call__(self, tokens):
            x = nn.Embed(512, 64)(tokens)
            for _ in range(2):
                x = Block()(x)
            return nn.Dense(512)(nn.LayerNorm()(x))

    return Model(), jnp.zeros((2, 8), jnp.int32)


@pytest.fixture(scope="module")
def flax_defaults():
    """The model's variables at key 0 and the rules read from it, shared by the tests below
    (read only: a test that plants an error copies the tree first)."""
    import jinit

    model, x = _flax_model()
    return model.init(jax.random.key(0), x), jinit.tree.rules_from(model, x)


def test_flax_defaults_are_named_and_checked_against_their_declared_law(flax_defaults):
    variables, rules = flax_defaults
    report = audit.check(variables, rules)
    assert report.ok, str(report)
    by_path = {leaf.path: leaf for leaf in report.leaves}
    # every leaf against a law or exact values: none against a new draw of itself
    assert {leaf.method for leaf in report.leaves} == {"law", "exact"}
    assert not any("jinit._" in leaf.initializer for leaf in report.leaves)
    assert by_path["params/Dense_0/kernel"].initializer == "flax lecun_normal"
    assert by_path["params/Block_0/Dense_0/kernel"].initializer == "flax lecun_normal"
    assert by_path["params/Embed_0/embedding"].initializer == (
        "flax variance_scaling(1.0, fan_in, normal, out_axis=0)")
    assert by_path["params/Block_0/LayerNorm_0/scale"].initializer == "flax ones"
    assert by_path["params/Block_0/Dense_0/bias"].initializer == "flax zeros"
    query = by_path["params/Block_0/MultiHeadDotProductAttention_0/query/kernel"]
    assert query.initializer.startswith("flax lecun_normal on the 64x64 flattened kernel")
    # the declared law's scale: lecun on fan_in = 64; Embed's overlapping axes give fan_in = 64
    for path in ("params/Block_0/Dense_0/kernel", "params/Embed_0/embedding"):
        std = next(c for c in by_path[path].checks if c.check == "std")
        assert std.expected == pytest.approx(1 / 8, rel=1e-6)


def test_a_users_wrapper_of_a_jax_initializer_is_not_read_as_jax():
    """functools.wraps copies a jax initializer's name and module, not its code or law."""
    import functools

    import jinit

    base = jax.nn.initializers.normal(0.1)

    @functools.wraps(base)
    def doubled(key, shape, dtype=jnp.float32):
        return 2 * base(key, shape, dtype)

    shapes = {"w": jax.ShapeDtypeStruct((512, 512), jnp.float32)}
    params = jinit.tree.init_tree(jax.random.key(0), shapes, {"w": doubled})
    report = audit.check(params, {"w": doubled})
    assert report.ok and report.leaves[0].method == "fresh draw"
    # the control: the same values against jax's normal(0.1) itself are flagged
    assert list(audit.check(params, {"w": base}).flagged) == ["w"]


@pytest.mark.parametrize("path", [("Embed_0", "embedding"), ("Block_1", "Dense_1", "kernel"),
                                  ("Block_0", "MultiHeadDotProductAttention_0", "out",
                                   "kernel")])
def test_flax_defaults_planted_scale_error_is_flagged(flax_defaults, path):
    shared, rules = flax_defaults
    variables = jax.tree.map(lambda v: v, shared)  # a new tree: the shared one is not changed
    node = variables["params"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = node[path[-1]] * 1.25             # 25% too large: far beyond detection
    report = audit.check(variables, rules)
    assert list(report.flagged) == ["params/" + "/".join(path)]


# ------------------------------------------------------------------- Equinox modules


def _eqx_model(eqx):
    keys = jax.random.split(jax.random.key(0), 3)
    return [eqx.nn.Conv2d(8, 32, 3, key=keys[0]), eqx.nn.MLP(512, 256, 384, depth=2,
                                                               key=keys[1]),
            eqx.nn.LayerNorm(256), eqx.nn.Embedding(100, 256, key=keys[2])]




def _eqx_rules():
    import jinit

    return {r"^0/weight$": jinit.he_normal(), r"^3/weight$": jinit.normal(0.02),
            r"^2/weight$": jinit.ones, r"layers/\d+/weight$": jinit.glorot_uniform(),
            r"bias$": jinit.zeros}


@pytest.fixture(scope="module")
def eqx_drawn():
    """The module drawn by jinit.equinox.init at key 1 (immutable: tree_at returns a copy)."""
    eqx = pytest.importorskip("equinox")
    import jinit.equinox

    return eqx, jinit.equinox.init(_eqx_model(eqx), _eqx_rules(), jax.random.key(1))


def test_equinox_module_drawn_by_jinit_equinox_passes(eqx_drawn):
    eqx, model = eqx_drawn
    rules = _eqx_rules()
    report = audit.check(model, rules)
    assert report.ok, str(report)
    by_path = {leaf.path: leaf for leaf in report.leaves}
    assert by_path["1/layers/0/weight"].shape == (384, 512)        # Equinox's (out, in)
    std = next(c for c in by_path["1/layers/0/weight"].checks if c.check == "std")
    assert std.expected == pytest.approx((2 / (512 + 384)) ** 0.5, rel=1e-6)  # not swapped
    std = next(c for c in by_path["0/weight"].checks if c.check == "std")
    assert std.expected == pytest.approx((2 / (8 * 9)) ** 0.5, rel=1e-6)   # fan_in = in * k^2
    # the same module filtered to its arrays (activations become None) audits the same way
    filtered = audit.check(eqx.filter(model, eqx.is_inexact_array), rules)
    assert filtered.ok and [r.path for r in filtered.leaves] == [r.path for r in report.leaves]


@pytest.mark.parametrize("path, factor", [("0/weight", 1.1), ("1/layers/1/weight", 0.9),
                                          ("3/weight", 1.1)])
def test_equinox_planted_scale_error_is_flagged(eqx_drawn, path, factor):
    eqx, model = eqx_drawn
    rules = _eqx_rules()
    where = {"0/weight": lambda m: m[0].weight, "1/layers/1/weight": lambda m: m[1].layers[1].weight,
             "3/weight": lambda m: m[3].weight}[path]
    model = eqx.tree_at(where, model, where(model) * factor)
    assert list(audit.check(model, rules).flagged) == [path]


def test_equinox_he_on_a_square_free_linear_reads_fan_in():
    """A wrong layout reading would swap the fans of a (out, in) = (64, 1024) weight."""
    eqx = pytest.importorskip("equinox")
    import jinit
    import jinit.equinox

    lin = eqx.nn.Linear(1024, 64, key=jax.random.key(0))
    rules = {"weight": jinit.he_normal(), "bias": jinit.zeros}
    good = jinit.equinox.init(lin, rules, jax.random.key(1))
    assert audit.check(good, rules).ok
    # the same values drawn with out as fan-in (the (out, in) shape read as (in, out))
    swapped = eqx.tree_at(lambda m: m.weight, good,
                          jinit.he_normal()(jax.random.key(2), (64, 1024)))
    assert list(audit.check(swapped, rules).flagged) == ["weight"]
    # as_is: the initializer called on the Equinox shape, audited on it
    native = {"weight": jinit.equinox.as_is(jinit.he_normal(in_axis=-1, out_axis=-2)),
              "bias": jinit.zeros}
    assert audit.check(jinit.equinox.init(lin, native, jax.random.key(3)), native).ok


# ------------------------------------------------- signal: the depth of a transformer


def _gpt(out_scale=1.0, depth=4):
    """A pre-LN GPT-2-like model: N(0, 0.02^2) weights, out-projections 0.02/sqrt(2L)."""
    import math

    nn = pytest.importorskip("flax.linen")
    w, out = nn.initializers.normal(0.02), nn.initializers.normal(
        out_scale * 0.02 / math.sqrt(2 * depth))

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x, mask):
            x = x + nn.MultiHeadDotProductAttention(4, kernel_init=w, out_kernel_init=out)(
                nn.LayerNorm()(x), mask=mask)
            h = nn.Dense(256, kernel_init=w)(nn.LayerNorm()(x))
            return x + nn.Dense(64, kernel_init=out)(nn.gelu(h))

    class GPT(nn.Module):
        @nn.compact
        def __call__(self, tokens, mask):
            x = nn.Embed(128, 64, embedding_init=w)(tokens)       # small: E[x^2] = 4e-4
            for _ in range(depth):
                x = Block()(x, mask)
            return nn.Dense(128, kernel_init=w)(nn.LayerNorm()(x))

    class Inputs(nn.Module):           # the documented wrapper for a call of several inputs
        inner: nn.Module

        @nn.compact
        def __call__(self, batch):
            return self.inner(*batch)

    tokens = jax.random.randint(jax.random.key(0), (8, 16), 0, 128)
    return Inputs(GPT()), (tokens, nn.make_causal_mask(tokens))


@pytest.fixture(scope="module")
def gpt_signal():
    model, batch = _gpt()
    return audit.signal(model, batch, keys=2)


def test_signal_judges_a_transformer_by_its_residual_stream(gpt_signal):
    sig = gpt_signal
    assert sig.stream == [f"inner/Block_{i}" for i in range(4)]
    assert sig.layers[0] == "inner/Embed_0" and sig.forward[0] < 1e-3   # the small embedding
    assert sig.verdict == {"forward": "stable", "backward": "stable"}, str(sig)
    # rows off the stream carry no class; the stream's rows are read against its first
    classes = dict(zip(sig.layers, sig.classes(), strict=True))
    assert classes["inner/Embed_0"] == ("", "") and classes["inner/Dense_0"] == ("", "")
    assert {c for name in sig.stream for c in classes[name]} == {"stable"}
    # the trend is the least-squares slope of ln q over the stream, times its S - 1 steps
    q = sig.forward[[sig.layers.index(n) for n in sig.stream]]
    slope = np.polyfit(np.arange(4), np.log(q), 1)[0]
    assert sig.forward_factor == pytest.approx(np.exp(3 * slope), rel=1e-9)
    assert "judged on the stream (*) of 4, inner/Block_0 .. inner/Block_3" in str(sig)


def test_signal_flags_a_transformer_with_mis_scaled_residual_branches():
    """Negative control: the out-projections 50x too large make the stream grow ~S-fold."""
    model, batch = _gpt(out_scale=50.0)
    sig = audit.signal(model, batch, keys=2)
    assert sig.verdict["forward"] == "exploding" and sig.forward_factor > 4


def test_signal_stream_of_names():
    from jinit.audit._stream import stream_of

    assert stream_of(["Embed_0", "Block_0/Dense_0", "Block_0", "Block_0/Dense_1", "Block_1",
                      "LayerNorm_0", "Dense_0"]) == [2, 4]
    assert stream_of(["first", "rest/0", "rest/1", "rest/2"]) == [1, 2, 3]
    assert stream_of(["inner", "inner/Block_0/x", "inner/Block_0", "inner/Block_1"]) == [2, 3]
    assert stream_of(["shared", "shared#1", "head"]) == [0, 1]       # one module, called twice
    assert stream_of(["a", "b"]) == [0, 1]                           # no group: every layer


def test_signal_plot_names_layers_and_titles_the_verdict(gpt_signal):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    sig = gpt_signal
    fig = sig._figure()
    try:
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_xticklabels()] == sig.layers
        title = ax.get_title()
        assert f"forward {sig.verdict['forward']}" in title
        assert f"backward {sig.verdict['backward']}" in title
    finally:
        plt.close(fig)
