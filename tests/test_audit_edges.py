"""Edges of the audit: Equinox modules, Flax's own initializers, transformer depth verdicts,
and the lazily loaded submodules of ``import jinit``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
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


def test_flax_defaults_are_named_and_checked_against_their_declared_law():
    import jinit

    model, x = _flax_model()
    variables = model.init(jax.random.key(0), x)
    rules = jinit.tree.rules_from(model, x)
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


@pytest.mark.parametrize("path", [("Embed_0", "embedding"), ("Block_1", "Dense_1", "kernel"),
                                  ("Block_0", "MultiHeadDotProductAttention_0", "out",
                                   "kernel")])
def test_flax_defaults_planted_scale_error_is_flagged(path):
    import jinit

    model, x = _flax_model()
    variables = jax.tree.map(lambda v: v, model.init(jax.random.key(0), x))
    rules = jinit.tree.rules_from(model, x)
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


def test_equinox_module_drawn_by_jinit_equinox_passes():
    eqx = pytest.importorskip("equinox")
    import jinit
    import jinit.equinox

    rules = _eqx_rules()
    model = jinit.equinox.init(_eqx_model(eqx), rules, jax.random.key(1))
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
def test_equinox_planted_scale_error_is_flagged(path, factor):
    eqx = pytest.importorskip("equinox")
    import jinit.equinox

    rules = _eqx_rules()
    model = jinit.equinox.init(_eqx_model(eqx), rules, jax.random.key(1))
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
