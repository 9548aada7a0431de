"""Sharded init on 8 simulated CPU devices: same values as unsharded, right shard shapes.

Every array is compared bit for bit with the unsharded result of the same call, and
every addressable shard with the slice of that result its index names. Under ``jit`` the
schemes without a QR are drawn together: one program returns every such case, unsharded or
each output under its own ``out_shardings`` entry (one compile per placement, not per case).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from test_golden import PLATFORM_DEPENDENT

import jinit
from jinit.tree import init_tree

MESH_1D = jax.make_mesh((8,), ("x",))
MESH_2D = jax.make_mesh((2, 4), ("a", "b"))

DENSE = (64, 32)
CONV = (3, 3, 8, 16)  # HWIO; delta_orthogonal needs c_in <= c_out

SCHEMES = {
    "normal": jinit.normal(0.02),
    "uniform": jinit.uniform(0.5),
    "truncated_normal": jinit.truncated_normal(0.02),
    "variance_scaling_fan_geo_avg": jinit.variance_scaling(1.5, "fan_geo_avg", "normal"),
    "glorot_uniform": jinit.glorot_uniform(),
    "glorot_normal": jinit.glorot_normal(),
    "he_uniform": jinit.he_uniform(),
    "he_normal": jinit.he_normal(),
    "lecun_uniform": jinit.lecun_uniform(),
    "lecun_normal": jinit.lecun_normal(),
    # The QR runs once, on the mesh's first device, and is broadcast (jinit._orthogonal).
    "orthogonal": jinit.orthogonal(),
    "delta_orthogonal": jinit.delta_orthogonal(),
    "conv_orthogonal": jinit.conv_orthogonal(),
    "constant": jinit.constant(0.3),
    "zeros": jinit.zeros,
    "ones": jinit.ones,
}


def _shape(name):
    return CONV if name in ("delta_orthogonal", "conv_orthogonal") else DENSE


def _specs(shape):
    lead = (None,) * (len(shape) - 2)
    return [
        ("rows", NamedSharding(MESH_1D, P(*lead, "x", None))),
        ("columns", NamedSharding(MESH_1D, P(*lead, None, "x"))),
        ("2d", NamedSharding(MESH_2D, P(*lead, "a", "b"))),
    ]


def _assert_shards(sharded, full, sharding, shape):
    """Same values; laid out as ``sharding``; every shard has the shard shape and slice."""
    assert sharded.sharding.is_equivalent_to(sharding, len(shape))
    np.testing.assert_array_equal(np.asarray(sharded), full)
    want = sharding.shard_shape(shape)
    shards = sharded.addressable_shards
    assert len(shards) == 8
    for shard in shards:
        assert shard.data.shape == want
        np.testing.assert_array_equal(np.asarray(shard.data), full[shard.index])


CASES = [(name, jnp.float32) for name in SCHEMES] + [
    (name, jnp.bfloat16) for name in ("normal", "he_uniform", "truncated_normal", "orthogonal")]
# Schemes with a QR (tests/test_golden.py's list): each keeps its own programs (a QR's last
# bits may depend on the program around it on some CPUs). Every other case is drawn by one
# program per placement.
QR = PLATFORM_DEPENDENT
JOINT = [(name, dtype) for name, dtype in CASES if name not in QR]


@functools.cache
def _joint(placement):
    """Every ``JOINT`` case drawn by one jitted program, unsharded (``placement=None``) or with
    each output under ``_specs(shape)[placement]``.

    One program per placement, instead of one per case and placement: each output is still
    its own draw, partitioned from its own ``out_shardings`` entry.
    """
    key = jax.random.key(11)

    def draw(k):
        return [SCHEMES[name](k, _shape(name), dtype) for name, dtype in JOINT]

    if placement is None:
        return [np.asarray(a) for a in jax.jit(draw)(key)]
    shardings = [_specs(_shape(name))[placement][1] for name, _ in JOINT]
    return jax.jit(draw, out_shardings=shardings)(key)


@pytest.mark.parametrize(("name", "dtype"), CASES, ids=[f"{n}-{np.dtype(d).name}" for n, d in CASES])
def test_scheme_under_jit_out_shardings_equals_unsharded(name, dtype):
    init, shape = SCHEMES[name], _shape(name)
    key = jax.random.key(11)
    if name in QR:
        full = np.asarray(jax.jit(init, static_argnums=(1, 2))(key, shape, dtype))
    else:
        full = _joint(None)[JOINT.index((name, dtype))]
    assert full.dtype == dtype
    for placement, (_, sharding) in enumerate(_specs(shape)):
        if name in QR:
            sharded = jax.jit(init, static_argnums=(1, 2), out_shardings=sharding)(key, shape, dtype)
        else:
            sharded = _joint(placement)[JOINT.index((name, dtype))]
        _assert_shards(sharded, full, sharding, shape)


@pytest.mark.parametrize("name", ["normal", "uniform", "truncated_normal", "he_normal",
                                  "glorot_uniform", "orthogonal", "delta_orthogonal",
                                  "conv_orthogonal", "zeros"])
def test_scheme_with_out_sharding_argument_equals_unsharded(name):
    init, shape = SCHEMES[name], _shape(name)
    key = jax.random.key(12)
    full = np.asarray(init(key, shape, jnp.float32))
    _, sharding = _specs(shape)[2]
    with jax.set_mesh(MESH_2D):  # eager ops on explicitly sharded arrays need the mesh (as in jax)
        sharded = init(key, shape, jnp.float32, out_sharding=sharding)
    _assert_shards(sharded, full, sharding, shape)


def test_sharded_check_rejects_a_different_key():
    # Negative control: the comparison above would catch values that depend on placement.
    init, sharding = SCHEMES["he_normal"], _specs(DENSE)[0][1]
    full = np.asarray(jax.jit(init, static_argnums=(1, 2))(jax.random.key(0), DENSE, jnp.float32))
    other = jax.jit(init, static_argnums=(1, 2), out_shardings=sharding)(jax.random.key(1), DENSE,
                                                                         jnp.float32)
    with pytest.raises(AssertionError):
        _assert_shards(other, full, sharding, DENSE)


TREE = {
    "params": {
        "embed": jax.ShapeDtypeStruct((64, 16), jnp.float32),
        "dense": {"kernel": jax.ShapeDtypeStruct((16, 64), jnp.float32),
                  "bias": jax.ShapeDtypeStruct((64,), jnp.float32)},
        "proj": {"kernel": jax.ShapeDtypeStruct((64, 16), jnp.bfloat16)},
    }
}
TREE_RULES = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros, r"embed$": jinit.normal(0.02)}
# A model without an embedding: a rule that matches nothing is reported by init_tree.
DENSE_RULES = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros}


def test_init_tree_with_shardings_equals_unsharded_tree():
    key = jax.random.key(4)
    full = init_tree(key, TREE, TREE_RULES)
    shardings = {
        "params": {
            "embed": NamedSharding(MESH_2D, P("a", "b")),
            "dense": {"kernel": NamedSharding(MESH_2D, P(None, ("a", "b"))),
                      "bias": NamedSharding(MESH_1D, P("x"))},
            "proj": NamedSharding(MESH_1D, P("x", None)),  # a prefix: one sharding for a subtree
        }
    }
    sharded = init_tree(key, TREE, TREE_RULES, shardings=shardings)
    flat_s = jax.tree_util.tree_flatten_with_path(sharded)[0]
    flat_f = jax.tree.leaves(full)
    for (path, a), b in zip(flat_s, flat_f, strict=True):
        sharding = a.sharding
        assert isinstance(sharding, NamedSharding) and sharding.spec != P(), path
        _assert_shards(a, np.asarray(b), sharding, a.shape)


def test_init_tree_mesh_from_flax_linen_partitioning_metadata():
    nn = pytest.importorskip("flax.linen")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(64, kernel_init=nn.with_partitioning(jinit.he_normal(), (None, "b")),
                         bias_init=nn.with_partitioning(jinit.zeros, ("b",)))(x)
            return nn.Dense(16, kernel_init=nn.with_partitioning(jinit.he_normal(), ("b", "a")))(x)

    x = jnp.ones((2, 8))
    shapes = jax.eval_shape(MLP().init, jax.random.key(0), x)
    key = jax.random.key(5)
    full = init_tree(key, shapes, DENSE_RULES)
    sharded = init_tree(key, shapes, DENSE_RULES, shardings=MESH_2D)
    k0 = sharded["params"]["Dense_0"]["kernel"]
    assert isinstance(k0, nn.Partitioned)
    assert k0.value.sharding.spec == P(None, "b")
    assert sharded["params"]["Dense_1"]["kernel"].value.sharding.spec == P("b", "a")
    assert sharded["params"]["Dense_1"]["bias"].sharding.spec == P()  # no metadata: replicated
    for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(full), strict=True):
        _assert_shards(a, np.asarray(b), a.sharding, a.shape)
    # nn.get_sharding gives the same placement as a pytree of shardings.
    again = init_tree(key, shapes, DENSE_RULES, shardings=nn.get_sharding(shapes, MESH_2D))
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(sharded), strict=True):
        assert a.sharding == b.sharding
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_init_tree_mesh_from_logical_partitioning_rules():
    nn = pytest.importorskip("flax.linen")
    init = nn.with_logical_partitioning(jinit.he_normal(), ("embed", "mlp"),
                                        rules=(("embed", None), ("mlp", "b")))
    shapes = {"w": jax.eval_shape(lambda k: init(k, (16, 64)), jax.random.key(0))}
    out = init_tree(jax.random.key(1), shapes, {}, default=jinit.he_normal(), shardings=MESH_2D)
    assert out["w"].value.sharding.spec == P(None, "b")


def test_flax_linen_with_partitioning_under_a_mesh_equals_unsharded():
    nn = pytest.importorskip("flax.linen")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(64, kernel_init=nn.with_partitioning(jinit.he_normal(), (None, "model")))(x)
            return nn.Dense(8, kernel_init=nn.with_partitioning(jinit.orthogonal(), ("model", None)))(
                nn.relu(x))

    mesh = jax.make_mesh((2, 4), ("data", "model"))
    model, x, key = MLP(), jnp.ones((4, 32)), jax.random.key(6)
    abstract = jax.eval_shape(model.init, key, x)
    shardings = nn.get_sharding(abstract, mesh)
    sharded = jax.jit(model.init, out_shardings=shardings)(key, x)
    full = jax.jit(model.init)(key, x)
    kernel = sharded["params"]["Dense_0"]["kernel"]
    assert kernel.value.sharding.spec == P(None, "model")
    assert kernel.value.addressable_shards[0].data.shape == (32, 16)
    for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(full), strict=True):
        _assert_shards(a, np.asarray(b), a.sharding, a.shape)
