"""jinit._fastbits draws exactly the bits jax.random draws, or hands the call to jax.random."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jinit import _fastbits

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
C64, C128 = np.dtype(np.complex64), np.dtype(np.complex128)
U32, U64 = np.dtype(np.uint32), np.dtype(np.uint64)

# name -> (draw(module, key, shape, dtype), dtype kind: "float", "complex" or "uint")
SAMPLERS = {
    "bits": (lambda m, k, s, dt: m.bits(k, s, dt), "uint"),
    "uniform": (lambda m, k, s, dt: m.uniform(k, s, dt, -2.5, 3.0), "float"),
    "normal": (lambda m, k, s, dt: m.normal(k, s, dt), "float"),
    "complex_normal": (lambda m, k, s, dt: m.normal(k, s, dt), "complex"),
    "truncated_normal": (lambda m, k, s, dt: m.truncated_normal(k, -2.0, 2.0, s, dt), "float"),
    "truncated_asym": (lambda m, k, s, dt: m.truncated_normal(k, -1.5, 0.25, s, dt), "float"),
}
DTYPES32 = {"float": F32, "complex": C64, "uint": U32}
DTYPES64 = {"float": F64, "complex": C128, "uint": U64}
SHAPES = [(), (0,), (1,), (7,), (33, 1025), (3, 3, 16, 32)]


def assert_same(a, b):
    """Same shape, dtype and bytes (so NaN payloads and signed zeros count too)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    assert a.reshape(-1).view(np.uint8).tobytes() == b.reshape(-1).view(np.uint8).tobytes()


def both(name, key, shape, dtypes=DTYPES32):
    draw, kind = SAMPLERS[name]
    dt = dtypes[kind]
    return draw(jax.random, key, shape, dt), draw(_fastbits, key, shape, dt)


def fast_path_taken(fn, *args):
    """No jax PRNG primitive in the traced computation: the draw was made by jinit's hash."""
    text = str(jax.make_jaxpr(fn)(*args))
    return "random_bits" not in text and "threefry2x32" not in text


def test_threefry_known_answer():
    # Random123 known-answer vector for Threefry-2x32, 20 rounds (key and counter from pi).
    k = np.array([0x13198A2E, 0x03707344], np.uint32)
    x = np.array([0x243F6A88, 0x85A308D3], np.uint32)
    y0, y1 = _fastbits.threefry2x32(jnp.uint32(k[0]), jnp.uint32(k[1]),
                                    jnp.uint32(x[0]), jnp.uint32(x[1]))
    assert (int(y0), int(y1)) == (0xC4923A9C, 0x483DF7A0)


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_identical_eager(name, shape):
    a, b = both(name, jax.random.key(42), shape)
    assert_same(a, b)


@pytest.mark.parametrize("name", ["bits", "normal", "truncated_normal"])
def test_identical_large_odd(name):
    a, b = both(name, jax.random.key(7), (2**20 + 3,))
    assert_same(a, b)


@pytest.mark.parametrize("name", SAMPLERS)
def test_identical_legacy_key(name):
    a, b = both(name, jax.random.PRNGKey(3), (5, 17))
    assert_same(a, b)
    _, kind = SAMPLERS[name]
    assert fast_path_taken(lambda k: SAMPLERS[name][0](_fastbits, k, (5, 17), DTYPES32[kind]),
                           jax.random.PRNGKey(3))


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("shape", [(), (7,), (33, 65)], ids=str)
def test_identical_x64(x64, name, shape):
    a, b = both(name, jax.random.key(11), shape, DTYPES64)
    assert_same(a, b)


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("shape", [(), (1,), (8,), (33, 65)], ids=str)
def test_identical_not_partitionable(name, shape):
    with jax.threefry_partitionable(False):
        a, b = both(name, jax.random.key(5), shape)
    assert_same(a, b)


@pytest.mark.parametrize("name", ["bits", "normal", "truncated_normal"])
@pytest.mark.parametrize("shape", [(1,), (7,), (4, 6)], ids=str)
def test_identical_not_partitionable_x64(x64, name, shape):
    with jax.threefry_partitionable(False):
        a, b = both(name, jax.random.key(5), shape, DTYPES64)
    assert_same(a, b)


TRANSFORM_SHAPE = (9, 13)


@functools.cache
def _under_transforms():
    """Every sampler at ``TRANSFORM_SHAPE``, jax's and jinit's, under ``jit`` and ``jit(vmap)``.

    Four programs in all (jax's draws, jinit's, and their vmapped versions), each returning
    one draw per sampler, instead of four per sampler: jax's and jinit's draws still run in
    separate programs, so neither can borrow the other's rounding.
    """
    key = jax.random.key(1)
    keys = jax.random.split(key, 4)

    def each(module):
        return lambda k: {name: draw(module, k, TRANSFORM_SHAPE, DTYPES32[kind])
                          for name, (draw, kind) in SAMPLERS.items()}

    return (jax.jit(each(jax.random))(key), jax.jit(each(_fastbits))(key),
            jax.jit(jax.vmap(each(jax.random)))(keys), jax.jit(jax.vmap(each(_fastbits)))(keys))


@pytest.mark.parametrize("name", SAMPLERS)
def test_identical_under_transforms(name):
    # Compared with jax under the same transformation: jax itself constant-folds
    # erf(bound / sqrt 2) under jit, which can move an asymmetric truncated normal by an ulp
    # relative to its eager result; the fast path follows jax in each context.
    draw, kind = SAMPLERS[name]
    dt, shape = DTYPES32[kind], TRANSFORM_SHAPE
    key = jax.random.key(1)
    keys = jax.random.split(key, 4)

    def fast(k):
        return draw(_fastbits, k, shape, dt)

    def ref(k):
        return draw(jax.random, k, shape, dt)

    ref_jit, fast_jit, ref_vmap, fast_vmap = _under_transforms()
    assert_same(ref_jit[name], fast_jit[name])
    assert_same(ref_vmap[name], fast_vmap[name])
    assert fast_vmap[name].shape == (4, *shape)
    out, expected = jax.eval_shape(fast, key), jax.eval_shape(ref, key)
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype)
    assert fast_path_taken(fast, key)
    assert fast_path_taken(jax.vmap(fast), keys)


@pytest.mark.parametrize("name", ["bits", "uniform", "normal", "complex_normal", "truncated_normal"])
def test_identical_sharded(name):
    draw, kind = SAMPLERS[name]
    dt, shape = DTYPES32[kind], (64, 48)
    mesh = jax.make_mesh((4, 2), ("x", "y"), axis_types=(jax.sharding.AxisType.Auto,) * 2)
    sharding = NamedSharding(mesh, PartitionSpec("x", "y"))
    key = jax.random.key(9)
    ref = draw(jax.random, key, shape, dt)
    out = jax.jit(lambda k: draw(_fastbits, k, shape, dt), out_shardings=sharding)(key)
    assert_same(ref, out)
    assert out.sharding.is_equivalent_to(sharding, 2)
    assert {s.data.shape for s in out.addressable_shards} == {(16, 24)}


def test_identical_explicit_mesh():
    mesh = jax.make_mesh((8,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,))
    key = jax.random.key(2)
    with jax.set_mesh(mesh):
        for draw in (lambda m, k: m.normal(k, (16, 8), F32, out_sharding=PartitionSpec("x")),
                     lambda m, k: m.uniform(k, (16, 8), F32, out_sharding=PartitionSpec("x")),
                     lambda m, k: m.truncated_normal(k, -2.0, 2.0, (16, 8), F32,
                                                     out_sharding=PartitionSpec("x"))):
            a = draw(jax.random, key)
            b = draw(_fastbits, key)
            c = jax.jit(lambda k, draw=draw: draw(_fastbits, k))(key)
            assert_same(a, b)
            assert_same(a, c)
            assert b.sharding.spec == a.sharding.spec == c.sharding.spec
            assert fast_path_taken(lambda k, draw=draw: draw(_fastbits, k), key)
        named = NamedSharding(mesh, PartitionSpec(None, "x"))
        a = jax.random.normal(key, (4, 32), F32, out_sharding=named)
        b = _fastbits.normal(key, (4, 32), F32, out_sharding=named)
        assert_same(a, b)
        assert b.sharding.is_equivalent_to(a.sharding, 2)


def test_out_sharding_on_auto_mesh_is_left_to_jax():
    mesh = jax.make_mesh((8,), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
    sharding = NamedSharding(mesh, PartitionSpec("x"))
    with pytest.raises(ValueError, match="cannot contain axis names that are of type Auto"):
        _fastbits.normal(jax.random.key(0), (16,), F32, out_sharding=sharding)


@pytest.mark.parametrize("impl", ["rbg", "unsafe_rbg", "philox2x32"])
def test_other_prng_impls_fall_back(impl):
    key = jax.random.key(4, impl=impl)
    assert _fastbits._threefry_data(key) is None
    for name in ("bits", "normal", "truncated_normal"):
        draw, kind = SAMPLERS[name]
        a, b = both(name, key, (6, 10))
        assert_same(a, b)
        assert not fast_path_taken(lambda k, draw=draw, kind=kind: draw(_fastbits, k, (6, 10), DTYPES32[kind]), key)


def test_legacy_key_of_other_default_impl_falls_back():
    with jax.default_prng_impl("rbg"):
        key = jax.random.PRNGKey(0)
        assert _fastbits._threefry_data(key) is None
        assert_same(jax.random.normal(key, (5,)), _fastbits.normal(key, (5,)))


def test_legacy_key_warning_mode_falls_back():
    with jax.legacy_prng_key("warn"):
        assert _fastbits._threefry_data(jax.random.PRNGKey(0)) is None


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_narrow_dtypes_fall_back(dtype):
    key = jax.random.key(0)
    for name in ("uniform", "normal", "truncated_normal"):
        draw, _ = SAMPLERS[name]
        assert_same(draw(jax.random, key, (4, 5), dtype), draw(_fastbits, key, (4, 5), dtype))
        assert not fast_path_taken(lambda k, draw=draw: draw(_fastbits, k, (4, 5), dtype), key)


def test_batched_key_and_array_bounds_fall_back():
    key = jax.random.key(0)
    lo, hi = jnp.zeros((3,)), jnp.ones((3,))
    assert_same(jax.random.uniform(key, (2, 3), F32, lo, hi),
                _fastbits.uniform(key, (2, 3), F32, lo, hi))
    with pytest.raises(ValueError, match="accepts a single key"):
        _fastbits.normal(jax.random.split(key, 2), (3,))
