"""``jinit.audit.diff`` and ``jinit.audit.signal``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import audit
from jinit.tree import init_tree


def s(*shape, dtype="float32"):
    return jax.ShapeDtypeStruct(shape, dtype)


SHAPES = {"emb": s(1000, 64), "big": s(512, 512), "w": s(256, 128), "b": s(128),
          "ln": s(128), "orth": s(128, 128)}
RULES = {"emb": jinit.normal(0.02), "big": jinit.he_normal(), "^w$": jinit.glorot_uniform(),
         "^b$": jinit.zeros, "ln": jinit.ones, "orth": jinit.orthogonal()}


@pytest.fixture(scope="module")
def trees():
    return (init_tree(jax.random.key(0), SHAPES, RULES),
            init_tree(jax.random.key(1), SHAPES, RULES))


# ----------------------------------------------------------------------------- diff


def test_diff_of_two_correct_draws_passes(trees):
    a, b = trees
    report = audit.diff(a, b)
    assert report.ok, str(report)
    assert {leaf.path: leaf.method for leaf in report.leaves}["big"] == "two-sample"


@pytest.mark.parametrize("factor", [1.02, 0.98])
def test_diff_flags_a_two_percent_std_change_and_nothing_else(trees, factor):
    a, b = trees
    report = audit.diff(a, dict(b, big=b["big"] * factor))  # 2^18 values, std 2% off
    assert report.flagged == {"big": ("std ratio",)}
    ratio = next(leaf for leaf in report.leaves if leaf.path == "big").principal().measured
    assert abs(ratio * factor - 1) < 0.01


def test_diff_flags_a_shape_change_the_std_ratio_misses(trees):
    a, b = trees
    u = jax.random.uniform(jax.random.key(5), (512, 512), minval=-1.0, maxval=1.0)
    same_std = u * math.sqrt(3.0) * float(jnp.std(a["big"]))  # uniform with the normal's std
    report = audit.diff(a, dict(b, big=same_std))
    assert report.flagged == {"big": ("two-sample KS",)}


def test_diff_lists_missing_paths_and_shape_mismatch(trees):
    a, b = trees
    b2 = {k: v for k, v in b.items() if k != "ln"}
    b2["extra"] = jnp.zeros(3)
    b2["w"] = b["w"][:-1]
    report = audit.diff(a, b2)
    assert report.missing == {"only in a": ["ln"], "only in b": ["extra"]}
    assert report.flagged == {"w": ("shape",)} and not report.ok
    assert "only in a: ln" in str(report)


# --------------------------------------------------------------------------- signal


def _mlp(init, depth=30, width=256):
    nn = pytest.importorskip("flax.linen")
    layers = []
    for _ in range(depth):
        layers += [nn.Dense(width, kernel_init=init), nn.relu]
    return nn.Sequential(layers[:-1])


@pytest.fixture(scope="module")
def batch():
    return jax.random.normal(jax.random.key(0), (256, 256))


def test_signal_glorot_relu_halves_per_layer(batch):
    # Mean field: q_{l+1} = sigma_w^2 E[relu(h)^2] = q_l / 2 for Glorot on square layers.
    # The per-layer factor is a geometric mean over 29 steps of 4 keys x 256 x 256 values;
    # its sampling spread is ~1e-3, so +-0.05 is far from both the mean and He's 1.
    sig = audit.signal(_mlp(jinit.glorot_normal()), batch, keys=4)
    assert len(sig.layers) == 30 and sig.layers[:2] == ["layers_0", "layers_2"]
    assert abs(sig.per_layer() - 0.5) < 0.05
    assert sig.verdict == {"forward": "vanishing", "backward": "vanishing"}
    assert sig.forward_keys.shape == (4, 30)


def test_signal_he_relu_stays_in_band(batch):
    sig = audit.signal(_mlp(jinit.he_normal()), batch, keys=4)
    assert sig.ok and abs(sig.per_layer() - 1.0) < 0.05
    assert all(1 / sig.band < q / sig.forward[0] < sig.band for q in sig.forward)
    assert abs(sig.backward[-1] - 1.0) < 0.05  # the probe gives the output gradient E[g^2] = 1
    assert {c for pair in sig.classes() for c in pair} == {"stable"}


def test_signal_nnx_in_execution_order(batch):
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs, depth=6):
            self.first = nnx.Linear(256, 256, kernel_init=jinit.he_normal(), rngs=rngs)
            self.rest = nnx.List([nnx.Linear(256, 256, kernel_init=jinit.he_normal(), rngs=rngs)
                                  for _ in range(depth - 1)])

        def __call__(self, x):
            x = self.first(x)
            for layer in self.rest:
                x = layer(jax.nn.relu(x))
            return x

    sig = audit.signal(MLP(nnx.Rngs(0)), batch)
    assert sig.layers == ["first"] + [f"rest/{i}" for i in range(5)]
    assert sig.kind == "nnx" and sig.ok
    keyed = audit.signal(MLP(nnx.Rngs(0)), batch, init=lambda k: MLP(nnx.Rngs(k)), keys=3)
    assert keyed.forward_keys.shape == (3, 6)
    assert nnx.Linear.__call__.__name__ == "__call__"  # the patch is undone


def test_signal_plain_function_with_taps(batch):
    def model(params, x):
        for i, w in enumerate(params):
            x = audit.tap(x @ w, f"dense_{i}")
            x = jax.nn.relu(x)
        return x

    def init(key):
        return [jinit.he_normal()(k, (256, 256)) for k in jax.random.split(key, 10)]

    sig = audit.signal(model, batch, init=init, keys=2)
    assert sig.layers == [f"dense_{i}" for i in range(10)] and sig.kind == "function"
    small = audit.signal(model, batch, init=lambda k: [w * 0.5 for w in init(k)], keys=2)
    assert small.verdict["forward"] == "vanishing"  # the control: a scale bug shows
    assert audit.tap(batch, "outside") is batch       # identity outside signal()
    with pytest.raises(TypeError, match=r"audit.signal\(\): params=None is missing"):
        audit.signal(model, batch)
    with pytest.raises(TypeError, match=r"audit.signal\(\): model=3 is not a model"):
        audit.signal(3, batch, params={})


def test_signal_names_an_equinox_module_it_does_not_run(batch):
    eqx = pytest.importorskip("equinox")
    mlp = eqx.nn.MLP(256, 4, 8, 2, key=jax.random.key(0))
    with pytest.raises(TypeError, match=r"audit.signal\(\): model=.* is an equinox Module, "
                                        r"which the audit's signal check does not run"):
        audit.signal(mlp, batch, params=mlp)


def test_signal_plot_and_json(batch, tmp_path):
    pytest.importorskip("matplotlib")
    import json

    sig = audit.signal(_mlp(jinit.he_normal(), depth=4, width=64), batch[:, :64], keys=2)
    sig.plot(str(tmp_path / "s.png"))
    assert (tmp_path / "s.png").stat().st_size > 1000
    data = json.loads(sig.to_json())
    assert data["layers"] == sig.layers and np.isfinite(data["forward"]).all()


def test_diff_of_sharded_trees(trees):
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    if len(jax.devices()) < 8:
        pytest.skip("needs 8 (simulated) devices")
    mesh = Mesh(np.array(jax.devices()[:8]).reshape(4, 2), ("a", "b"))
    spec = {"big": NamedSharding(mesh, P("a", "b")), "emb": NamedSharding(mesh, P("a", None))}
    shapes = {k: SHAPES[k] for k in spec}
    rules = {k: RULES[k] for k in spec}
    a = init_tree(jax.random.key(0), shapes, rules, shardings=spec)
    b = init_tree(jax.random.key(1), shapes, rules, shardings=spec)
    assert audit.diff(a, b).ok
    scaled = dict(b, big=jax.jit(lambda x: x * 1.02, out_shardings=spec["big"])(b["big"]))
    assert len(scaled["big"].sharding.device_set) == 8
    assert audit.diff(a, scaled).flagged == {"big": ("std ratio",)}
