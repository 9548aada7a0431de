"""Determinism matrix: every public initializer, eager vs jit vs vmap vs sharded vs eval_shape.

One catalog (``CATALOG``) lists every public initializer of ``jinit`` and ``jinit.presets``
(plus the ``residual`` and ``mup`` schemes) with a shape it accepts; a coverage test fails
when a public name is missing from it. For each entry, bit for bit:

* eager == ``jax.jit`` (shape and dtype static) == the same call again;
* ``jax.vmap`` over threefry keys: row ``i`` equals the unbatched call with key ``i``;
* ``jax.jit(init, static_argnums=(1, 2), out_shardings=NamedSharding(...))`` on the 8
  simulated CPU devices equals the unsharded result;
* ``jax.eval_shape`` gives the shape and dtype of the real result.

In those two jit checks the schemes without a QR are drawn together, by one jitted program
(one for the sharded check) that returns every entry's array, each its own draw; compiling one
program instead of one per entry is most of the saving. QR schemes (``QR_LABELS``) keep one
program each: a QR's last bits may depend on the program around it on some CPUs.

Keys: typed ``jax.random.key``, legacy ``PRNGKey``, and the ``rbg``/``unsafe_rbg``
implementations. ``rbg`` keys are not vmap-consistent in jax itself (``jax.random.normal``
under ``vmap`` gives other bits than a loop over the same keys), so for them the vmap check
asks only for determinism. Also: numpy's and Python's global RNG state is neither read nor
written, the same initializer object gives identical arrays from several threads and
repeated jits, and no jinit module-level container changes when initializers run.
"""

from __future__ import annotations

import concurrent.futures
import functools
import random
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from test_golden import PLATFORM_DEPENDENT

import jinit
from jinit import mup, presets, residual

DENSE = (16, 8)
CONV = (3, 3, 4, 8)  # HWIO, c_in <= c_out (delta/conv orthogonal need it)
BIAS = (8,)

# (label, initializer, shape). Shapes keep the last axis at 8 so it shards 8 ways.
CATALOG: list[tuple[str, object, tuple[int, ...]]] = [
    ("zeros", jinit.zeros, DENSE),
    ("ones", jinit.ones, DENSE),
    ("zeros_init", jinit.zeros_init(), DENSE),
    ("ones_init", jinit.ones_init(), DENSE),
    ("constant", jinit.constant(0.3), DENSE),
    ("normal", jinit.normal(0.05), DENSE),
    ("uniform", jinit.uniform(0.3), DENSE),
    ("truncated_normal", jinit.truncated_normal(0.05), DENSE),
    ("variance_scaling/normal", jinit.variance_scaling(1.7, "fan_avg", "normal"), DENSE),
    ("variance_scaling/uniform", jinit.variance_scaling(1.5, "fan_geo_avg", "uniform"), CONV),
    ("variance_scaling/truncated_normal",
     jinit.variance_scaling(0.7, "fan_out", "truncated_normal", batch_axis=0), CONV),
    ("glorot_uniform", jinit.glorot_uniform(), DENSE),
    ("glorot_normal", jinit.glorot_normal(), DENSE),
    ("xavier_uniform", jinit.xavier_uniform(), CONV),
    ("xavier_normal", jinit.xavier_normal(), CONV),
    ("he_uniform", jinit.he_uniform(), CONV),
    ("he_normal", jinit.he_normal(), CONV),
    ("kaiming_uniform", jinit.kaiming_uniform(in_axis=1, out_axis=0), (8, 4, 3, 8)),
    ("kaiming_normal", jinit.kaiming_normal(), DENSE),
    ("lecun_uniform", jinit.lecun_uniform(), DENSE),
    ("lecun_normal", jinit.lecun_normal(), DENSE),
    ("orthogonal", jinit.orthogonal(1.3), DENSE),
    ("delta_orthogonal", jinit.delta_orthogonal(), CONV),
    ("conv_orthogonal", jinit.conv_orthogonal(), (2, 4, 8)),  # slow to compile: 1-D
    ("dirac", jinit.dirac(), CONV),
    ("identity", jinit.identity(), DENSE),
    ("sparse_outgoing", jinit.sparse_outgoing(0.5), DENSE),
    ("sparse_incoming", jinit.sparse_incoming(3), DENSE),
    ("hadamard_identity", jinit.hadamard_identity(), DENSE),
    ("for_activation", jinit.for_activation("tanh"), DENSE),
    ("presets.torch_linear_kernel", presets.torch_linear_kernel(), DENSE),
    ("presets.torch_linear_bias", presets.torch_linear_bias(16), BIAS),
    ("presets.torch_conv_kernel", presets.torch_conv_kernel(), CONV),
    ("presets.torch_conv_bias", presets.torch_conv_bias(36), BIAS),
    ("presets.torch_conv_transpose_kernel", presets.torch_conv_transpose_kernel(), CONV),
    ("presets.torch_embedding", presets.torch_embedding(), DENSE),
    ("presets.torch_kaiming_uniform", presets.torch_kaiming_uniform(), DENSE),
    ("presets.torch_kaiming_normal", presets.torch_kaiming_normal(nonlinearity="relu"), DENSE),
    ("presets.torch_xavier_uniform", presets.torch_xavier_uniform(), DENSE),
    ("presets.torch_xavier_normal", presets.torch_xavier_normal(0.8), DENSE),
    ("presets.torch_trunc_normal", presets.torch_trunc_normal(0.1, 0.02), DENSE),
    ("presets.torch_uniform", presets.torch_uniform(-0.5, 0.25), DENSE),
    ("presets.torch_normal", presets.torch_normal(0.1, 0.5), DENSE),
    ("presets.torch_constant", presets.torch_constant(0.3), DENSE),
    ("presets.torch_ones", presets.torch_ones(), DENSE),
    ("presets.torch_zeros", presets.torch_zeros(), BIAS),
    ("presets.torch_eye", presets.torch_eye(), DENSE),
    ("presets.torch_dirac", presets.torch_dirac(), CONV),
    ("presets.torch_orthogonal", presets.torch_orthogonal(1.5), DENSE),
    ("presets.torch_sparse", presets.torch_sparse(0.5), DENSE),
    ("presets.keras_dense_kernel", presets.keras_dense_kernel(), DENSE),
    ("presets.keras_conv_kernel", presets.keras_conv_kernel(), CONV),
    ("presets.keras_bias", presets.keras_bias(), BIAS),
    ("presets.keras_embedding", presets.keras_embedding(), DENSE),
    ("presets.keras_random_uniform", presets.keras_random_uniform(), DENSE),
    ("presets.keras_random_normal", presets.keras_random_normal(0.1), DENSE),
    ("presets.keras_truncated_normal", presets.keras_truncated_normal(0.1), DENSE),
    ("residual.fixup", residual.fixup(4, 2), DENSE),
    ("residual.rezero", residual.rezero(), BIAS),
    ("residual.skipinit", residual.skipinit(0.5), BIAS),
    ("residual.tfixup", residual.tfixup(6), DENSE),
    ("residual.tfixup_embedding", residual.tfixup_embedding(6), DENSE),
    ("mup.initializer", mup.initializer("output", base_fan_in=4), DENSE),
]

# Public names that are not initializers (or not factories of one).
NOT_INITIALIZERS = {
    "Initializer", "compute_fans", "calculate_gain", "gain", "InitStabilityWarning",
    "layouts", "lsuv", "mup", "presets", "recipes", "residual", "structure", "theory", "tree",
    "presets.torch_fans",
}

# Known failures, each a bug to fix (strict: the test fails once the bug is gone).
XFAIL_SHARDED: dict[str, str] = {}

MESH = jax.make_mesh((8,), ("x",))


def _ids(catalog):
    return [label for label, _, _ in catalog]


def _call(init, key, shape, dtype=jnp.float32):
    return init(key, shape, dtype)


@functools.cache
def _jit(init):
    """One jitted wrapper per initializer object, so repeated checks reuse its compiles."""
    return jax.jit(init, static_argnums=(1, 2))


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


QR_LABELS = PLATFORM_DEPENDENT  # the schemes that take a QR (tests/test_golden.py)
JOINT = [entry for entry in CATALOG if entry[0] not in QR_LABELS]


def _joint_draw(key):
    return {label: init(key, shape, jnp.float32) for label, init, shape in JOINT}


@functools.cache
def _joint(sharded: bool):
    """Every ``JOINT`` entry at ``key(7)``, from one jitted program (sharded: each output
    under the last-axis sharding of ``test_sharded_output_equals_unsharded``)."""
    key = jax.random.key(7)
    text = str(jax.make_jaxpr(_joint_draw)(key))
    assert "geqrf" not in text and "householder" not in text, "a QR scheme belongs in QR_LABELS"
    if not sharded:
        return jax.jit(_joint_draw)(key)
    shardings = {label: NamedSharding(MESH, P(*(None,) * (len(shape) - 1), "x"))
                 for label, _, shape in JOINT}
    return jax.jit(_joint_draw, out_shardings=shardings)(key)


def test_catalog_covers_every_public_initializer():
    covered = {label.split("/")[0] for label, _, _ in CATALOG}
    public = set(jinit.__all__) | {f"presets.{n}" for n in presets.__all__}
    missing = public - covered - NOT_INITIALIZERS
    assert not missing, f"public initializers missing from CATALOG: {sorted(missing)}"


@pytest.mark.parametrize(("label", "init", "shape"), CATALOG, ids=_ids(CATALOG))
def test_eager_jit_vmap_eval_shape_agree_bit_for_bit(label, init, shape):
    key = jax.random.key(7)
    eager = _call(init, key, shape)
    assert eager.shape == shape and eager.dtype == jnp.float32
    assert _same(eager, _call(init, key, shape)), "same key twice"
    jitted = _jit(init)(key, shape, jnp.float32) if label in QR_LABELS else _joint(False)[label]
    assert _same(eager, jitted), "jit"
    keys = jax.random.split(key, 3)
    rows = jax.vmap(lambda k: init(k, shape, jnp.float32))(keys)
    for i in range(3):
        assert _same(rows[i], _call(init, keys[i], shape)), f"vmap row {i}"
    abstract = jax.eval_shape(lambda k: init(k, shape, jnp.float32), key)
    assert (abstract.shape, abstract.dtype) == (eager.shape, eager.dtype)


@pytest.mark.parametrize(
    ("label", "init", "shape"),
    [pytest.param(*entry, marks=pytest.mark.xfail(strict=True, reason=XFAIL_SHARDED[entry[0]]))
     if entry[0] in XFAIL_SHARDED else entry for entry in CATALOG],
    ids=_ids(CATALOG))
def test_sharded_output_equals_unsharded(label, init, shape):
    key = jax.random.key(7)
    full = _call(init, key, shape)
    spec = P(*(None,) * (len(shape) - 1), "x")
    sharding = NamedSharding(MESH, spec)
    if label in QR_LABELS:
        sharded = jax.jit(init, static_argnums=(1, 2), out_shardings=sharding)(key, shape,
                                                                              jnp.float32)
    else:
        sharded = _joint(True)[label]
    assert sharded.sharding.is_equivalent_to(sharding, len(shape))
    assert _same(sharded, full)


# Low precision and complex: the schemes whose sampling paths differ by dtype.
LOW = [entry for entry in CATALOG if entry[0] in (
    "normal", "uniform", "truncated_normal", "variance_scaling/normal",
    "variance_scaling/uniform", "variance_scaling/truncated_normal", "orthogonal",
    "presets.torch_trunc_normal", "identity")]
LOW_DTYPES = [jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn, jnp.complex64]


def _accepts(label: str, dtype) -> bool:
    if not jnp.issubdtype(dtype, jnp.complexfloating):
        return True
    return label in ("normal", "variance_scaling/normal", "variance_scaling/uniform",
                     "variance_scaling/truncated_normal", "orthogonal")


@pytest.mark.parametrize("dtype", LOW_DTYPES, ids=lambda d: np.dtype(d).name)
def test_low_precision_and_complex_eager_equals_jit_and_vmap(dtype):
    key = jax.random.key(8)
    keys = jax.random.split(key, 2)
    for label, init, shape in LOW:
        if not _accepts(label, dtype):
            continue
        eager = init(key, shape, dtype)
        assert eager.dtype == dtype and eager.shape == shape, label
        assert _same(eager, _jit(init)(key, shape, dtype)), label
        if dtype == jnp.bfloat16:  # vmap rows: once for the float32-then-round path
            rows = jax.vmap(lambda k, init=init, shape=shape: init(k, shape, dtype))(keys)
            for i in range(2):
                assert _same(rows[i], init(keys[i], shape, dtype)), (label, i)


KEY_KINDS = {
    "typed": lambda seed: jax.random.key(seed),
    "legacy": lambda seed: jax.random.PRNGKey(seed),
    "rbg": lambda seed: jax.random.key(seed, impl="rbg"),
    "unsafe_rbg": lambda seed: jax.random.key(seed, impl="unsafe_rbg"),
}
OTHER_KINDS = ("legacy", "rbg", "unsafe_rbg")
# Quick profile: every initializer with one non-default key kind, rotating, so every kind
# meets a third of the catalog; the slow profile runs the full cross product.
# (conv_orthogonal compiles slowly: its key kinds run in the slow profile only.)
ROTATION = [(OTHER_KINDS[i % 3], *entry) for i, entry in enumerate(CATALOG)
            if entry[0] != "conv_orthogonal"]
CROSS = [(kind, *entry) for kind in OTHER_KINDS for entry in CATALOG]


def _check_key_kind(kind, label, init, shape):
    make = KEY_KINDS[kind]
    key = make(3)
    eager = init(key, shape, jnp.float32)
    assert eager.shape == shape and eager.dtype == jnp.float32
    assert _same(eager, init(make(3), shape, jnp.float32)), "same key twice"
    assert _same(eager, _jit(init)(key, shape, jnp.float32)), "jit"
    keys = jax.vmap(make)(jnp.arange(2))
    rows = jax.vmap(lambda k: init(k, shape, jnp.float32))(keys)
    assert rows.shape == (2, *shape)
    if kind == "legacy":  # threefry keys are vmap-consistent; rbg keys are not, even in jax
        assert _same(rows[1], init(keys[1], shape, jnp.float32)), "vmap row"


@pytest.mark.parametrize(("kind", "label", "init", "shape"), ROTATION,
                         ids=[f"{k}-{label}" for k, label, _, _ in ROTATION])
def test_other_key_kinds_eager_equals_jit(kind, label, init, shape):
    _check_key_kind(kind, label, init, shape)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "label", "init", "shape"), CROSS,
                         ids=[f"{k}-{label}" for k, label, _, _ in CROSS])
def test_every_key_kind_with_every_initializer(kind, label, init, shape):
    _check_key_kind(kind, label, init, shape)


def test_keyed_schemes_react_to_the_key():
    distinct = sum(not _same(init(jax.random.key(3), shape, jnp.float32),
                             init(jax.random.key(4), shape, jnp.float32))
                   for _, init, shape in CATALOG)
    assert distinct >= 30


def test_legacy_and_typed_threefry_keys_give_the_same_array():
    for label, init, shape in CATALOG:
        assert _same(init(jax.random.key(5), shape, jnp.float32),
                     init(jax.random.PRNGKey(5), shape, jnp.float32)), label


def test_global_rng_state_is_neither_read_nor_written():
    key = jax.random.key(9)
    np.random.seed(123)
    random.seed(123)
    np_state, py_state = np.random.get_state(), random.getstate()
    first = [init(key, shape, jnp.float32) for _, init, shape in CATALOG]
    after_np, after_py = np.random.get_state(), random.getstate()
    assert all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
               for x, y in zip(np_state, after_np, strict=False))
    assert py_state == after_py
    np.random.seed(999)
    random.seed(999)
    previous = jax.config.jax_default_prng_impl
    jax.config.update("jax_default_prng_impl", "rbg")  # a typed key carries its own impl
    try:
        second = [init(key, shape, jnp.float32) for _, init, shape in CATALOG]
    finally:
        jax.config.update("jax_default_prng_impl", previous)
    for (label, _, _), a, b in zip(CATALOG, first, second, strict=False):
        assert _same(a, b), label


THREADED = [entry for entry in CATALOG if entry[0] in (
    "normal", "he_normal", "glorot_uniform", "orthogonal", "sparse_outgoing",
    "presets.torch_trunc_normal")]


@pytest.mark.parametrize(("label", "init", "shape"), THREADED, ids=_ids(THREADED))
def test_same_object_from_many_threads_and_repeated_jits(label, init, shape):
    key = jax.random.key(11)
    reference = np.asarray(init(key, shape))

    def work(i: int) -> list[np.ndarray]:
        out = [np.asarray(init(key, shape))]
        for _ in range(2):  # a fresh jit wrapper each time, and a cached one
            out.append(np.asarray(jax.jit(init, static_argnums=(1, 2))(key, shape, None)))
        return out

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(work, range(12)))
    for outs in results:
        for out in outs:
            assert _same(out, reference), label


def _module_state() -> dict[str, object]:
    """Every module-level container of every jinit module, as its repr.

    A repr records the contents (and, for objects without a value repr, their identity), so a
    container that gains, loses or replaces an entry reads differently afterwards. Deep copies
    would not do: copying a jitted function makes a new object that compares unequal.
    """
    state = {}
    for name, module in sorted(sys.modules.items()):
        if not (name == "jinit" or name.startswith("jinit.")) or module is None:
            continue
        for attr, value in vars(module).items():
            if isinstance(value, (dict, list, set, bytearray)) and not attr.startswith("__"):
                state[f"{name}.{attr}"] = repr(value)
    return state


def test_no_module_level_mutable_state_changes_when_initializers_run():
    before = _module_state()
    assert before  # the check sees something (e.g. dispatch tables)
    key = jax.random.key(12)
    for label, init, shape in CATALOG:
        init(key, shape, jnp.float32)
        if label in QR_LABELS:
            _jit(init)(key, shape, jnp.float32)
    jax.jit(_joint_draw)(key)  # a fresh wrapper: traces every other entry again
    jinit.compute_fans((3, 3, 4, 8))
    jinit.calculate_gain("leaky_relu", 0.2)
    jinit.gain("tanh")
    after = _module_state()
    assert before.keys() == after.keys()
    changed = [name for name in before if before[name] != after[name]]
    assert not changed, changed


def test_initializer_objects_are_immutable():
    init = jinit.he_normal()
    with pytest.raises(AttributeError, match="immutable"):
        init._params = {}  # noqa: SLF001
    assert isinstance(init, jinit.Initializer)
    assert not isinstance(init, types.FunctionType)
