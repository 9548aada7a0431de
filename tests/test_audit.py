"""``jinit.audit.check``: planted errors are flagged, correct trees pass, every form works.

Every planted error is a negative control of the check that flags it; the correct trees
(fixed seeds) are the positive controls. The audit's own rate is alpha = 1e-6 per leaf, so a
correct tree of a few dozen leaves is flagged with probability below 1e-4 at any seed.
"""

from __future__ import annotations

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import jinit
from jinit import audit
from jinit.audit import _stats
from jinit.tree import UnmatchedRuleWarning, init_tree

BIG = (512, 512)  # 2^18 values: the size the planted 2% error must be caught at


def s(*shape, dtype="float32"):
    return jax.ShapeDtypeStruct(shape, dtype)


def draw(shapes, rules, seed=0, **kw):
    return init_tree(jax.random.key(seed), shapes, rules, **kw)


# ----------------------------------------------------------------- positive controls

CORRECT = {
    "dense/kernel": (s(512, 256), jinit.he_normal()),
    "dense/bias": (s(256), jinit.zeros),
    "glorot": (s(300, 200), jinit.glorot_uniform()),
    "lecun_bf16": (s(256, 128, dtype="bfloat16"), jinit.lecun_normal()),
    "stacked": (s(6, 128, 64), jinit.he_uniform(batch_axis=0)),
    "conv": (s(3, 3, 32, 64), jinit.xavier_normal()),
    "orth": (s(256, 128), jinit.orthogonal()),
    "orth_wide": (s(32, 96), jinit.orthogonal(scale=2.0)),
    "delta": (s(3, 3, 16, 32), jinit.delta_orthogonal()),
    "conv_orth": (s(3, 3, 8, 16), jinit.conv_orthogonal()),
    "ones": (s(128), jinit.ones),
    "const": (s(64), jinit.constant(-0.3)),
    "eye": (s(64, 64), jinit.identity()),
    "dirac": (s(3, 3, 16, 16), jinit.dirac()),
    "sparse_cols": (s(256, 128), jinit.sparse_outgoing(0.25)),
    "sparse_in": (s(256, 64), jinit.sparse_incoming()),
    "trunc": (s(400, 100), jinit.truncated_normal(0.5, lower=-1.0, upper=3.0)),
    "unif": (s(10000), jinit.uniform(0.3)),
    "torch/kernel": (s(384, 96), jinit.presets.torch_linear_kernel()),
    "torch/bias": (s(4096), jinit.presets.torch_linear_bias(384)),
    "keras": (s(200, 100), jinit.presets.keras_random_normal(0.2, 0.1)),
    "tanh": (s(256, 256), jinit.for_activation("tanh")),
    "cplx": (s(128, 64, dtype="complex64"), jinit.he_normal()),
    "jaxinit": (s(256, 64), jax.nn.initializers.normal(0.1)),
}


def _correct(seed=0):
    shapes = {k: v[0] for k, v in CORRECT.items()}
    rules = [(f"^{k}$", v[1]) for k, v in CORRECT.items()]
    return draw(shapes, rules, seed), rules


@pytest.fixture(scope="module")
def correct():
    """The correct tree at seed 0 and its rules, drawn once (jax arrays: read only)."""
    return _correct(0)


def test_correct_tree_passes_at_a_fixed_seed(correct):
    params, rules = correct
    report = audit.check(params, rules)
    assert report.ok, str(report)
    methods = {leaf.path: leaf.method for leaf in report.leaves}
    assert methods["orth"] == methods["delta"] == methods["conv_orth"] == "orthogonal"
    assert methods["ones"] == methods["eye"] == methods["dirac"] == "exact"
    assert methods["cplx"] == "fresh draw"  # no declared real law
    # jax's (and so Flax's) initializers are read as the jinit factory of the same name
    assert methods["dense/kernel"] == methods["sparse_in"] == methods["jaxinit"] == "law"
    checks = {leaf.path: {c.check for c in leaf.checks} for leaf in report.leaves}
    assert {"mean", "std", "support", "cdf (DKW)"} <= checks["dense/kernel"]
    assert {"zero fraction", "zeros per row"} <= checks["sparse_cols"]
    assert "zeros per unit" in checks["sparse_in"]


def test_every_declared_initializer_can_be_audited():
    """Each declaration's first variant on its primary case passes its own audit."""
    from jinit.verify import declarations

    shapes, rules = {}, []
    for i, decl in enumerate(declarations()):
        case = decl.cases[0]
        init = decl.build({**(decl.variants[0] if decl.variants else {}), **case.args})
        shapes[f"d{i}"] = s(*case.shape)
        rules.append((f"^d{i}$", init))
    report = audit.check(draw(shapes, rules), rules)
    assert report.ok, str(report)
    assert {leaf.method for leaf in report.leaves} == {"law", "exact", "orthogonal"}


# ------------------------------------------------------------------- planted errors


def _flags(shapes, drawn_with, declared):
    params = draw(shapes, drawn_with)
    return audit.check(params, declared).flagged


@pytest.mark.parametrize("factor", [1.02, 0.98])
def test_std_two_percent_off_is_flagged(factor):
    flagged = _flags({"w": s(*BIG), "b": s(*BIG)},
                     {"w": jinit.normal(0.02 * factor), "b": jinit.normal(0.02)},
                     {"w": jinit.normal(0.02), "b": jinit.normal(0.02)})
    assert list(flagged) == ["w"] and "std" in flagged["w"]


def test_fan_in_fan_out_swap_is_flagged():
    swapped = jinit.variance_scaling(2.0, "fan_out", "truncated_normal")
    assert "std" in _flags({"w": s(1024, 256)}, {"w": swapped}, {"w": jinit.he_normal()})["w"]


def test_missing_truncation_correction_is_flagged():
    # he_normal promises std sqrt(2/fan_in) after truncation at 2 sigma; forgetting the
    # 0.8796 correction truncates N(0, 2/fan_in) itself, 12% short.
    fan_in = 512
    uncorrected = jinit.truncated_normal(math.sqrt(2.0 / fan_in))
    flagged = _flags({"w": s(fan_in, 512)}, {"w": uncorrected}, {"w": jinit.he_normal()})
    assert "std" in flagged["w"]


def test_symmetric_uniform_instead_of_zero_based_is_flagged():
    a = 0.05
    symmetric = jinit.presets.keras_random_uniform(-a, a)  # U[-a, a) where U[0, a) is declared
    flagged = _flags({"w": s(*BIG)}, {"w": symmetric}, {"w": jinit.uniform(a)})
    assert {"mean", "support", "cdf (DKW)"} <= set(flagged["w"])


def test_orthogonal_with_noise_is_flagged():
    params = draw({"q": s(256, 256), "r": s(256, 256)}, {".": jinit.orthogonal()})
    noisy = dict(params, q=params["q"] + 1e-3 * jax.random.normal(jax.random.key(9), (256, 256)))
    report = audit.check(noisy, {".": jinit.orthogonal()})
    assert report.flagged == {"q": ("orthogonality max|Q^T Q/s^2 - I|",)}


def test_zeros_leaf_with_one_non_zero_is_flagged():
    params = {"z": jnp.zeros(4096).at[1234].set(1e-6), "ok": jnp.zeros(4096)}
    report = audit.check(params, {".": jinit.zeros})
    assert report.flagged == {"z": ("values",)}
    assert report.leaves[1].checks[0].measured.startswith("1 differ")


def test_sparse_scheme_with_too_few_zeros_is_flagged():
    params = draw({"w": s(256, 128)}, {"w": jinit.sparse_outgoing(0.25)})
    dense = {"w": params["w"].at[0, :].set(0.01)}  # row 0 has no zeros at all
    assert "zeros per row" in audit.check(dense, {"w": jinit.sparse_outgoing(0.25)}).flagged["w"]


def test_non_finite_value_is_flagged():
    params = draw({"w": s(256, 256)}, {"w": jinit.normal(0.02)})
    bad = {"w": params["w"].at[3, 4].set(jnp.nan)}
    assert audit.check(bad, {"w": jinit.normal(0.02)}).flagged == {"w": ("finite",)}


def _user_normal(stddev):
    def init(key, shape, dtype=jnp.float32):
        return stddev * jax.random.normal(key, shape, dtype)

    return init


def test_undeclared_initializer_compared_with_a_fresh_draw():
    mine = _user_normal(0.1)
    params = draw({"w": s(*BIG)}, {"w": _user_normal(0.102)})
    report = audit.check(params, {"w": mine})
    assert report.leaves[0].method == "fresh draw"
    assert "std ratio" in report.flagged["w"]


# --------------------------------------------------------------------- power, shown


def test_detectable_error_follows_the_leaf_size():
    params = draw({"bias": s(64), "big": s(768, 768)}, {".": jinit.normal(0.02)})
    report = audit.check(params, {".": jinit.normal(0.02)})
    leaves = {leaf.path: leaf for leaf in report.leaves}
    assert leaves["bias"].detectable > 0.5          # a 64-value leaf proves little
    assert leaves["big"].detectable < 0.01          # a 768 x 768 kernel: under 1%
    assert "(weak)" in report.table()


def test_detectable_error_is_flagged_at_its_stated_power():
    """A leaf drawn at 1 + detectable (its stated 99.9%-power error) is flagged; at a third
    of it, the test has power ~0 (so the figure is not over-conservative either)."""
    params = draw({"w": s(*BIG)}, {"w": jinit.normal(1.0)})
    d = audit.check(params, {"w": jinit.normal(1.0)}).leaves[0].detectable
    flagged = [bool(audit.check(draw({"w": s(*BIG)}, {"w": jinit.normal(1 + d)}, seed),
                                {"w": jinit.normal(1.0)}).flagged) for seed in range(3)]
    assert flagged == [True, True, True]
    weak = [bool(audit.check(draw({"w": s(*BIG)}, {"w": jinit.normal(1 + d / 3)}, seed),
                             {"w": jinit.normal(1.0)}).flagged) for seed in range(3)]
    assert weak == [False, False, False]


# ------------------------------------------------------------------------ the forms


def test_linen_variables_with_partitioning_boxes():
    nn = pytest.importorskip("flax.linen")

    class M(nn.Module):
        @nn.compact
        def __call__(self, x):
            k = nn.with_partitioning(jinit.he_normal(), (None, "model"))
            x = nn.relu(nn.Dense(256, kernel_init=k)(x))
            return nn.Dense(10)(x)

    variables = M().init(jax.random.key(0), jnp.ones((1, 128)))
    rules = {r"Dense_0/kernel$": jinit.he_normal(), r"Dense_1/kernel$": jinit.lecun_normal(),
             r"bias$": jinit.zeros}
    report = audit.check(variables, rules)
    assert report.ok and [leaf.path for leaf in report.leaves] == [
        "params/Dense_0/bias", "params/Dense_0/kernel", "params/Dense_1/bias",
        "params/Dense_1/kernel"]
    swapped = dict(rules)
    swapped[r"Dense_0/kernel$"] = jinit.lecun_normal()  # the rule on the wrong matrix
    assert list(audit.check(variables, swapped).flagged) == ["params/Dense_0/kernel"]


def test_nnx_module_and_state():
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.a = nnx.Linear(256, 256, kernel_init=jinit.he_normal(), rngs=rngs)
            self.drop = nnx.Dropout(0.1, rngs=rngs)
            self.b = nnx.Linear(256, 4, rngs=rngs)

    model = MLP(nnx.Rngs(0))
    rules = {r"a/kernel": jinit.he_normal(), r"b/kernel": jinit.lecun_normal(),
             r"bias": jinit.zeros}
    report = audit.check(model, rules)               # the module: its nnx.Param state
    assert report.ok and len(report.leaves) == 4
    full = audit.check(nnx.state(model), rules)      # all state: rng counters are skipped
    assert full.ok and {leaf.verdict for leaf in full.leaves} == {"ok", "skipped"}


def test_undeclared_leaf_is_reported_not_passed():
    params = draw({"w": s(64, 64), "extra": s(64)}, {".": jinit.normal(0.1)})
    report = audit.check(params, {"^w$": jinit.normal(0.1)})
    assert not report.ok and report.flagged == {"extra": ("undeclared",)}
    assert "undeclared" in str(report)
    assert audit.check(params, {"^w$": jinit.normal(0.1)}, default=jinit.normal(0.1)).ok


def test_only_and_json_and_rows(correct):
    import json

    params, rules = correct
    report = audit.check(params, rules, only="^dense/")
    assert [leaf.path for leaf in report.leaves] == ["dense/bias", "dense/kernel"]
    data = json.loads(report.to_json())
    assert data["ok"] is True and len(data["leaves"]) == 2
    row = report.rows[1]
    assert {"path", "initializer", "shape", "dtype", "expected", "measured", "bound",
            "verdict"} <= set(row)
    lines = str(report).splitlines()
    assert lines[1].startswith("----") and lines[0].index("initializer") == \
        lines[2].index("jinit.")  # aligned columns


def test_bad_arguments_name_the_call():
    params = {"w": jnp.zeros((4, 4))}
    with pytest.raises(ValueError, match=r"audit.check\(\): alpha=0 is out of range"):
        audit.check(params, {"w": jinit.zeros}, alpha=0)
    with pytest.raises(TypeError, match=r"audit.check\(\): rules=.* is an initializer"):
        audit.check(params, jinit.normal(0.1))  # an initializer where rules belong
    with pytest.raises(ValueError, match=r"audit.check\(\): only='\(' is not a valid"):
        audit.check(params, {"w": jinit.zeros}, only="(")
    with pytest.raises(TypeError, match="is a shape, not values"):
        audit.check({"w": s(4, 4)}, {"w": jinit.zeros})
    with pytest.warns(UnmatchedRuleWarning, match="audit.check"):
        audit.check(params, {"w": jinit.zeros, "typo": jinit.ones})
    with pytest.raises(ValueError, match="matched no leaf"):
        audit.check(params, {"w": jinit.zeros, "typo": jinit.ones}, strict=True)


# ------------------------------------------------------------------------- sharding


@pytest.fixture(scope="module")
def mesh():
    if len(jax.devices()) < 8:
        pytest.skip("needs 8 (simulated) devices")
    return Mesh(np.array(jax.devices()[:8]).reshape(4, 2), ("a", "b"))


def test_sharded_tree_is_audited_in_place(mesh):
    shapes = {"w": s(2048, 512), "v": s(2048, 512), "z": s(2048, 512)}
    rules = {"w": jinit.normal(0.02), "v": jinit.normal(0.0204), "z": jinit.zeros}
    spec = {"w": NamedSharding(mesh, P("a", "b")), "v": NamedSharding(mesh, P("a", None)),
            "z": NamedSharding(mesh, P(None, "b"))}
    params = draw(shapes, rules, shardings=spec)
    params["z"] = params["z"].at[5, 7].set(1.0)
    assert len(params["w"].sharding.device_set) == 8
    report = audit.check(params, {"w": jinit.normal(0.02), "v": jinit.normal(0.02),
                                  "z": jinit.zeros})
    assert set(report.flagged) == {"v", "z"}       # statistics reduced correctly per shard
    assert "std" in report.flagged["v"] and report.flagged["z"] == ("values",)


@pytest.mark.parametrize("spec", [P("a", "b"), P("a", None), P(None, "b")])
def test_sharded_reduction_gathers_nothing(mesh, spec):
    """The compiled reduction holds per device its shard plus at most four shard-sized
    temporaries (powers and bin indices), and no all-gather: no leaf is assembled anywhere."""
    sharding = NamedSharding(mesh, spec)
    x = jax.jit(lambda k: jax.random.normal(k, (4096, 1024)), out_shardings=sharding)(
        jax.random.key(0))
    shard = x.addressable_shards[0].data.nbytes
    b = _stats.bins(np.linspace(-2.5, 2.5, 255), np.float32)
    for higher in (False, True):
        compiled = _stats.moments.lower(x, np.float32(0), b, higher=higher).compile()
        mem = compiled.memory_analysis()
        assert mem.argument_size_in_bytes <= shard + (1 << 20)
        assert mem.temp_size_in_bytes <= 4 * shard + (1 << 20)
        assert "all-gather" not in compiled.as_text()
    whole = jax.jit(lambda v: v.reshape(-1)[::-1], out_shardings=NamedSharding(mesh, P()))
    control = whole.lower(x).compile()  # the negative control: a program that does gather
    assert control.memory_analysis().temp_size_in_bytes + \
        control.memory_analysis().output_size_in_bytes >= x.nbytes


def test_packed_and_in_place_statistics_agree():
    x = jax.random.normal(jax.random.key(3), (777, 333))  # not a multiple of the row length
    b = _stats.bins(np.linspace(-2, 2, 255), np.float32)
    centre = np.float32(0.1)
    packed = _stats.leaf_moments(x, centre, b, higher=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = jax.device_get(_stats.moments(x, centre, b, higher=True))
    np.testing.assert_array_equal(np.asarray(packed["hist"]), np.asarray(direct["hist"]))
    assert int(np.sum(packed["hist"])) == x.size
    for k in ("s1", "s2", "s3", "s4"):
        np.testing.assert_allclose(float(packed[k]), float(direct[k]), rtol=1e-5)
    ranks = np.searchsorted(b.points, np.asarray(x).reshape(-1), side="left")
    np.testing.assert_array_equal(np.bincount(ranks, minlength=b.points.size + 1),
                                  np.asarray(direct["hist"]))  # the O(1) rank is exact
