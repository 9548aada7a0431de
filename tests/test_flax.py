"""Flax drop-in: jinit initializers inside linen and NNX layers, under jax.jit.

Replacing ``flax.linen.initializers`` (which is ``jax.nn.initializers``) with ``jinit`` in a
model must give the same parameters bit for bit; jinit-only schemes must work as
``kernel_init`` in every layer kind, with the shapes and dtypes Flax asks for.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit

flax = pytest.importorskip("flax")
from flax import linen as nn  # noqa: E402
from flax import nnx  # noqa: E402

X_DENSE = jnp.ones((2, 16))
X_CONV = jnp.ones((2, 8, 8, 4))


@pytest.fixture(autouse=True)
def _strict_promotion():
    """Flax's layers mix parameter and input dtypes (bf16 kernel, f32 input), which strict
    promotion rejects; jinit's own code runs under strict promotion in every other test file."""
    with jax.numpy_dtype_promotion("standard"):
        yield


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _identical(a, b) -> bool:
    la, lb = _leaves(a), _leaves(b)
    return len(la) == len(lb) and all(
        x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()
        for x, y in zip(la, lb, strict=False))


class _Model(nn.Module):
    """A small CNN whose initializers come from ``inits`` (``flax.linen.initializers`` or jinit)."""

    inits: object

    @nn.compact
    def __call__(self, x):
        i = self.inits
        x = nn.Conv(8, (3, 3), kernel_init=i.he_normal(), bias_init=i.zeros)(x)
        x = nn.relu(x)
        x = nn.Conv(8, (3, 3), kernel_init=i.orthogonal(), bias_init=i.constant(0.1))(x)
        x = x.reshape((x.shape[0], -1))
        x = nn.Dense(32, kernel_init=i.glorot_uniform(), bias_init=i.normal(0.02))(x)
        x = nn.Dense(32, kernel_init=i.variance_scaling(1.3, "fan_avg", "uniform"))(x)
        x = nn.Dense(16, kernel_init=i.lecun_normal(), bias_init=i.ones)(x)
        emb = nn.Embed(10, 16, embedding_init=i.variance_scaling(1.0, "fan_in", "normal",
                                                                  out_axis=0))
        return x + emb(jnp.zeros((x.shape[0],), jnp.int32))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.complex64], ids=["float32", "complex64"])
def test_replacing_flax_initializers_with_jinit_gives_identical_params(dtype):
    key = jax.random.key(0)
    if dtype == jnp.complex64:  # complex params: only the schemes jax defines for complex
        def model(inits):
            return nn.Dense(8, kernel_init=inits.glorot_normal(), param_dtype=dtype)
        x = X_DENSE
    else:
        def model(inits):
            return _Model(inits)
        x = X_CONV
    # jax's reference is its eager init: jax's own jitted normal(stddev) differs from it in the
    # last bit (see test_jinit_normal_is_jit_invariant_where_jax_is_not); jinit's does not.
    theirs = model(nn.initializers).init(key, x)
    ours = jax.jit(model(jinit).init)(key, x)
    if dtype == jnp.complex64:
        # glorot_normal is a truncated normal: complex differs by jax's 1.87% constant (documented).
        assert not _identical(ours, theirs)
        ratio = 0.95311164380491208 / 0.9619593
        np.testing.assert_allclose(_leaves(ours)[1], _leaves(theirs)[1] * ratio, rtol=1e-5)
    else:
        assert _identical(ours, theirs)
        # eager (un-jitted) Flax init agrees with the jitted one
        assert _identical(model(jinit).init(key, x), ours)


INITS = {
    "he_normal": jinit.he_normal(),
    "orthogonal": jinit.orthogonal(),
    "delta_orthogonal": jinit.delta_orthogonal(),
    "conv_orthogonal": jinit.conv_orthogonal(),
    "dirac": jinit.dirac(),
    "identity": jinit.identity(),
    "sparse_incoming": jinit.sparse_incoming(3),
    "hadamard_identity": jinit.hadamard_identity(),
    "torch_conv_kernel": jinit.presets.torch_conv_kernel(),
    "for_activation": jinit.for_activation("relu"),
}
CONV_ONLY = {"delta_orthogonal", "conv_orthogonal", "dirac"}


@pytest.mark.parametrize("name", ["he_normal", "orthogonal", "conv_orthogonal", "dirac",
                                  "sparse_incoming", "torch_conv_kernel", "hadamard_identity"])
def test_linen_dense_and_conv_accept_jinit_under_jit(name):
    init = INITS[name]
    key = jax.random.key(1)
    conv = nn.Conv(8, (3, 3), kernel_init=init, param_dtype=jnp.bfloat16)
    params = jax.jit(conv.init)(key, X_CONV)["params"]
    assert params["kernel"].shape == (3, 3, 4, 8) and params["kernel"].dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(params["kernel"].astype(jnp.float32))))
    if name not in CONV_ONLY:
        dense = nn.Dense(32, kernel_init=init)
        params = jax.jit(dense.init)(key, X_DENSE)["params"]
        assert params["kernel"].shape == (16, 32) and params["kernel"].dtype == jnp.float32


@pytest.mark.parametrize("name", ["he_normal", "orthogonal", "delta_orthogonal"])
def test_nnx_linear_and_conv_accept_jinit_under_jit(name):
    init = INITS[name]

    @jax.jit
    def build(key):
        rngs = nnx.Rngs(key)
        conv = nnx.Conv(4, 8, (3, 3), kernel_init=init, rngs=rngs)
        out = {"conv": conv.kernel[...]}
        if name not in CONV_ONLY:
            out["linear"] = nnx.Linear(16, 32, kernel_init=init, rngs=rngs).kernel[...]
        return out

    out = build(jax.random.key(0))
    assert out["conv"].shape == (3, 3, 4, 8)
    if "linear" in out:
        assert out["linear"].shape == (16, 32)
    again = build(jax.random.key(0))
    assert _identical(out, again)


def test_nnx_linear_matches_flax_default_and_jax_initializers():
    """nnx with jinit.lecun_normal (Flax's default kernel init) equals nnx's own default."""
    default = nnx.Linear(16, 32, rngs=nnx.Rngs(3))
    ours = nnx.Linear(16, 32, kernel_init=jinit.lecun_normal(), bias_init=jinit.zeros,
                      rngs=nnx.Rngs(3))
    assert _identical(nnx.state(default), nnx.state(ours))
    conv_default = nnx.Conv(4, 8, (3, 3), rngs=nnx.Rngs(4))
    conv_ours = nnx.Conv(4, 8, (3, 3), kernel_init=jinit.lecun_normal(), rngs=nnx.Rngs(4))
    assert _identical(nnx.state(conv_default), nnx.state(conv_ours))


def test_linen_defaults_equal_jinit_lecun_normal_and_zeros():
    key = jax.random.key(5)
    for default, ours in [
        (nn.Dense(32), nn.Dense(32, kernel_init=jinit.lecun_normal(), bias_init=jinit.zeros)),
        (nn.Conv(8, (3, 3)), nn.Conv(8, (3, 3), kernel_init=jinit.lecun_normal())),
    ]:
        x = X_DENSE if isinstance(default, nn.Dense) else X_CONV
        assert _identical(jax.jit(default.init)(key, x), jax.jit(ours.init)(key, x))


def test_sharded_flax_init_with_partitioned_jinit_kernel():
    mesh = jax.make_mesh((8,), ("model",))
    layer = nn.Dense(64, kernel_init=nn.with_partitioning(jinit.he_normal(), (None, "model")))
    key = jax.random.key(6)
    abstract = jax.eval_shape(layer.init, key, X_DENSE)
    shardings = nn.get_sharding(abstract, mesh)
    params = jax.jit(layer.init, out_shardings=shardings)(key, X_DENSE)
    kernel = params["params"]["kernel"].unbox()
    assert len(kernel.sharding.device_set) == 8
    plain = nn.Dense(64, kernel_init=jinit.he_normal()).init(key, X_DENSE)["params"]["kernel"]
    np.testing.assert_array_equal(np.asarray(kernel), np.asarray(plain))


def test_jinit_normal_is_jit_invariant_where_jax_is_not():
    """Deliberate difference: under jit XLA folds jax's ``stddev`` into the sampler's sqrt(2),
    changing last bits; jinit keeps the eager rounding, so eager == jit == jax eager."""
    key = jax.random.key(0)
    layer = {name: nn.Dense(64, bias_init=inits.normal(0.02), kernel_init=inits.normal(0.05))
             for name, inits in (("jax", nn.initializers), ("jinit", jinit))}
    x = jnp.ones((1, 64))
    jax_eager, jax_jit = layer["jax"].init(key, x), jax.jit(layer["jax"].init)(key, x)
    ours_eager, ours_jit = layer["jinit"].init(key, x), jax.jit(layer["jinit"].init)(key, x)
    assert _identical(ours_eager, ours_jit)
    assert _identical(ours_eager, jax_eager)
    assert not _identical(jax_eager, jax_jit)  # if this starts failing, jax fixed it
    np.testing.assert_allclose(_leaves(ours_jit)[1], _leaves(jax_jit)[1], rtol=2e-7)


# ------------------------------------------------------------------ Flax's own names

# nnx.initializers re-exports two of its own imports that are not initializers: the typing
# module (``tp``) and ``DtypeLikeInexact`` (an alias of ``typing.Any``).
NOT_FLAX_INITIALIZERS = {"tp", "DtypeLikeInexact"}


def _flax_names(module) -> set[str]:
    return {n for n in dir(module) if not n.startswith("_")} - NOT_FLAX_INITIALIZERS


@pytest.mark.parametrize("where", ["linen", "nnx"])
def test_every_flax_initializers_name_exists_in_jinit(where):
    module = nn.initializers if where == "linen" else nnx.initializers
    names = _flax_names(module)
    assert {"zeros_init", "ones_init", "he_normal"} <= names  # the comparison is not vacuous
    assert names <= set(jinit.__all__), sorted(names - set(jinit.__all__))


@pytest.mark.parametrize("name", ["zeros_init", "ones_init"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.complex64])
def test_flax_builders_have_flax_semantics(name, dtype):
    import inspect

    theirs, ours = getattr(nn.initializers, name), getattr(jinit, name)
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters)
    key = jax.random.key(3)
    a, b = ours()(key, (4, 3), dtype), theirs()(key, (4, 3), dtype)
    assert a.dtype == b.dtype and bool(jnp.array_equal(a, b))
    assert ours() is (jinit.zeros if name == "zeros_init" else jinit.ones)
    # A Flax layer that names Flax's default runs unchanged on jinit's.
    params = nn.Dense(3, bias_init=ours()).init(key, X_DENSE)["params"]
    assert bool(jnp.all(params["bias"] == (0.0 if name == "zeros_init" else 1.0)))


# ----------------------------------------------------- an uncalled factory, through Flax

UNCALLED = r"he_normal\(\): was called with a PRNG key .* Did you mean jinit\.he_normal\(\)\?"


def test_linen_names_an_uncalled_factory():
    with pytest.raises(TypeError, match=UNCALLED):
        nn.Dense(4, kernel_init=jinit.he_normal).init(jax.random.key(0), X_DENSE)


def test_nnx_names_an_uncalled_factory():
    with pytest.raises(TypeError, match=UNCALLED):
        nnx.Linear(16, 4, kernel_init=jinit.he_normal, rngs=nnx.Rngs(0))


def test_an_uncalled_preset_is_named_with_its_module():
    from jinit import presets

    with pytest.raises(TypeError, match=r"Did you mean jinit\.presets\.torch_linear_kernel\(\)\?"):
        nn.Dense(4, kernel_init=presets.torch_linear_kernel).init(jax.random.key(0), X_DENSE)
