"""The error table: bad calls across the API, each with its exception type and message pinned.

Every message follows the style guide's pattern
``<callable>(): <arg>=<value!r> <problem>; expected <allowed>. <fix>``. Also checked:
errors that belong to a factory argument fire at the factory (no initializer call needed);
shape/dtype/key errors fire in Python before jax traces or runs anything, and read the same
under ``jax.jit``; zero-size shapes give empty arrays of the requested shape and dtype.
"""

from __future__ import annotations

import re
import traceback

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import lsuv, mup, presets, theory, tree

KEY = jax.random.key(0)
STYLE = re.compile(r"^\w[\w.]*\(\): \w+=.+; expected .+\.")

_ACTIVATIONS = ("expected one of 'celu', 'elu', 'gelu', 'gelu_tanh', 'hard_sigmoid', ")


def _init(factory, *args, **kwargs):
    """A call that reaches the initializer (shape/dtype/key checks)."""
    call = lambda: factory(*args, **kwargs)  # noqa: E731
    call.reaches_init = True
    return call


# (id, call, exception, message: full text, or a prefix ending in "..." to match the start).
TABLE = [
    # --- factories: argument checks fire when the factory is called
    ("variance_scaling mode", lambda: jinit.variance_scaling(1.0, "fan_inn", "normal"), ValueError,
     "variance_scaling(): mode='fan_inn' is not valid; expected one of 'fan_in', 'fan_out', "
     "'fan_avg', 'fan_geo_avg'."),
    ("variance_scaling distribution",
     lambda: jinit.variance_scaling(1.0, "fan_in", "gaussian"), ValueError,
     "variance_scaling(): distribution='gaussian' is not valid; expected one of "
     "'truncated_normal', 'normal', 'uniform'."),
    ("variance_scaling negative scale", lambda: jinit.variance_scaling(-1.0, "fan_in", "normal"),
     ValueError, "variance_scaling(): scale=-1.0 is out of range; expected a number >= 0."),
    ("variance_scaling nan scale",
     lambda: jinit.variance_scaling(float("nan"), "fan_in", "normal"), ValueError,
     "variance_scaling(): scale=nan is not finite; expected a finite real number."),
    ("variance_scaling string scale", lambda: jinit.variance_scaling("2", "fan_in", "normal"),
     TypeError, "variance_scaling(): scale='2' is not a real number; expected a finite real number."),
    ("variance_scaling float axis",
     lambda: jinit.variance_scaling(1.0, "fan_in", "normal", in_axis=1.5), TypeError,
     "variance_scaling(): in_axis=1.5 is not an axis; expected an int or a sequence of ints."),
    ("he_normal string axis", lambda: jinit.he_normal(out_axis="-1"), TypeError,
     "he_normal(): out_axis='-1' is not an axis; expected an int or a sequence of ints."),
    ("normal negative stddev", lambda: jinit.normal(-0.1), ValueError,
     "normal(): stddev=-0.1 is out of range; expected a number >= 0."),
    ("normal inf stddev", lambda: jinit.normal(float("inf")), ValueError,
     "normal(): stddev=inf is not finite; expected a finite real number."),
    ("normal complex stddev", lambda: jinit.normal(1j), TypeError,
     "normal(): stddev=1j is complex; expected a finite real number."),
    ("normal bool stddev", lambda: jinit.normal(True), TypeError,
     "normal(): stddev=True is not a real number; expected a finite real number."),
    ("normal int dtype at factory", lambda: jinit.normal(dtype=jnp.int8), TypeError,
     "normal(): dtype=int8 is not inexact; expected a floating or complex dtype such as "
     "jnp.float32 or jnp.bfloat16."),
    ("uniform complex dtype at factory", lambda: jinit.uniform(dtype=jnp.complex64), TypeError,
     "uniform(): dtype=complex64 is complex, which this scheme does not define; ..."),
    ("truncated_normal bounds", lambda: jinit.truncated_normal(1.0, lower=2.0, upper=-2.0),
     ValueError, "truncated_normal(): upper=-2.0 is not above lower=2.0; expected lower < upper."),
    ("orthogonal tuple column_axis", lambda: jinit.orthogonal(column_axis=(0, 1)), TypeError,
     "orthogonal(): column_axis=(0, 1) is not one axis; expected an int."),
    ("constant nan", lambda: jinit.constant(float("nan")), ValueError,
     "constant(): value=nan is not finite; expected finite numbers."),
    ("constant string", lambda: jinit.constant("a"), TypeError,
     "constant(): value='a' is not numeric; expected a number or array."),
    ("dirac groups", lambda: jinit.dirac(groups=0), ValueError,
     "dirac(): groups=0 is out of range; expected an int >= 1."),
    ("sparse_outgoing sparsity", lambda: jinit.sparse_outgoing(1.0), ValueError,
     "sparse_outgoing(): sparsity=1.0 is out of range; expected a fraction in [0, 1). "
     "sparsity=1 would zero every weight; use jinit.zeros."),
    ("sparse_incoming k", lambda: jinit.sparse_incoming(k=0), ValueError,
     "sparse_incoming(): k=0 is out of range; expected an int >= 1."),
    ("hadamard_identity normalization", lambda: jinit.hadamard_identity("nope"), ValueError,
     "hadamard_identity(): normalization='nope' is not valid; expected one of 'isometry', 'paper'."),
    # --- initializers: shape, dtype and key checks at call time
    ("he_normal rank 1", _init(jinit.he_normal(), KEY, (5,)), ValueError,
     "he_normal(): shape=(5,) has 1 axis but in_axis=-2 needs axis -2; expected a shape with at "
     "least 2 axes. For a bias use jinit.zeros, or pass in_axis."),
    ("he_normal axis out of range", _init(jinit.he_normal(in_axis=3), KEY, (4, 5)), ValueError,
     "he_normal(): shape=(4, 5) has 2 axes but in_axis=3 needs axis 3; expected a shape with at "
     "least 4 axes."),
    ("he_normal repeated axis", _init(jinit.he_normal(in_axis=(0, 0)), KEY, (4, 5, 6)), ValueError,
     "he_normal(): in_axis=(0, 0) repeats an axis; expected distinct axes."),
    ("normal int dtype", _init(jinit.normal(), KEY, (2, 3), jnp.int32), TypeError,
     "normal(): dtype=int32 is not inexact; expected a floating or complex dtype such as "
     "jnp.float32 or jnp.bfloat16."),
    ("normal bool dtype", _init(jinit.normal(), KEY, (2, 3), bool), TypeError,
     "normal(): dtype=bool is not inexact; ..."),
    ("normal unknown dtype", _init(jinit.normal(), KEY, (2, 3), "float33"), TypeError,
     "normal(): dtype='float33' is not a dtype; ..."),
    ("uniform complex dtype", _init(jinit.uniform(), KEY, (2, 3), jnp.complex64), TypeError,
     "uniform(): dtype=complex64 is complex, which this scheme does not define; expected a real "
     "floating dtype such as jnp.float32. For complex weights use jinit.normal or "
     "jinit.variance_scaling."),
    ("truncated_normal complex dtype",
     _init(jinit.truncated_normal(), KEY, (2, 3), jnp.complex128), TypeError,
     "truncated_normal(): dtype=complex128 is complex, which this scheme does not define; ..."),
    ("negative dimension", _init(jinit.normal(), KEY, (3, -1)), ValueError,
     "normal(): shape=(3, -1) has a negative dimension -1; expected non-negative ints."),
    ("float dimension", _init(jinit.glorot_uniform(), KEY, (3, 2.0)), TypeError,
     "glorot_uniform(): shape=(3, 2.0) contains 2.0, which is not an int; expected a sequence of "
     "non-negative ints."),
    ("bare int shape", _init(jinit.normal(), KEY, 3), TypeError,
     "normal(): shape=3 is a bare integer; expected a sequence of ints. Write shape=(3,)."),
    ("None shape", _init(jinit.lecun_normal(), KEY, None), TypeError,
     "lecun_normal(): shape=None is not a sequence; expected a tuple or list of non-negative ints."),
    ("seed instead of key", _init(jinit.normal(), 0, (2, 3)), TypeError,
     "normal(): key=0 is not a PRNG key; expected a key such as jax.random.key(0) or "
     "jax.random.PRNGKey(0). Pass a key, not a seed."),
    ("batch of typed keys", _init(jinit.he_uniform(), jax.random.split(KEY, 2), (2, 3)),
     ValueError,
     "he_uniform(): key=Array(shape=(2,), dtype=key<fry>) is a batch of keys with shape (2,); "
     "expected a single key of shape (). Use jax.vmap over the keys to draw one array per key."),
    ("float array as key", _init(jinit.normal(), jnp.zeros(2), (2, 3)), TypeError,
     "normal(): key=Array(shape=(2,), dtype=float32) has dtype float32, not a key dtype; ..."),
    ("batch of legacy keys",
     _init(jinit.normal(), jax.random.split(jax.random.PRNGKey(0), 2), (2, 3)), ValueError,
     "normal(): key=Array(shape=(2, 2), dtype=uint32) is a uint32 array of shape (2, 2); "
     "expected a single legacy key of shape (2,) or a typed key. ..."),
    ("orthogonal rank 1", _init(jinit.orthogonal(), KEY, (4,)), ValueError,
     "orthogonal(): shape=(4,) has 1 axis; expected at least 2 axes. For a bias use jinit.zeros."),
    ("delta_orthogonal rank", _init(jinit.delta_orthogonal(), KEY, (4, 4)), ValueError,
     "delta_orthogonal(): shape=(4, 4) has 2 axes; expected 3, 4 or 5 axes (a 1-, 2- or 3-D "
     "convolution kernel)."),
    ("delta_orthogonal channels", _init(jinit.delta_orthogonal(), KEY, (3, 3, 8, 4)), ValueError,
     "delta_orthogonal(): shape=(3, 3, 8, 4) has more input channels (8) than output channels "
     "(4); expected shape[-2] <= shape[-1]."),
    ("conv_orthogonal channels", _init(jinit.conv_orthogonal(), KEY, (3, 3, 8, 4)), ValueError,
     "conv_orthogonal(): shape=(3, 3, 8, 4) has more input channels (8) than output channels "
     "(4); expected shape[-2] <= shape[-1]. ..."),
    ("constant broadcast", _init(jinit.constant(np.ones(3)), KEY, (2, 4)), ValueError,
     "constant(): value=array([1., 1., 1.]) has shape (3,), which does not broadcast to "
     "shape=(2, 4); expected a scalar or an array broadcastable to the shape."),
    ("constant overflows float16", _init(jinit.constant(1e6), KEY, (2,), jnp.float16), ValueError,
     "constant(): value=1000000.0 overflows float16 (max 65504); expected |value| <= 65504. "
     "Use a wider dtype."),
    ("constant complex into real", _init(jinit.constant(1 + 1j), KEY, (2,)), TypeError,
     "constant(): value=(1+1j) is complex but dtype=float32 is real; expected a real value or a "
     "complex dtype."),
    ("zeros int dtype", _init(jinit.zeros, KEY, (2,), jnp.int32), TypeError,
     "zeros(): dtype=int32 is not inexact; ..."),
    ("ones negative dimension", _init(jinit.ones, KEY, (2, -2)), ValueError,
     "ones(): shape=(2, -2) has a negative dimension -2; expected non-negative ints."),
    ("identity rank 1", _init(jinit.identity(), KEY, (3,)), ValueError,
     "identity(): shape=(3,) has 1 axis; expected at least 2 axes (the last two form each "
     "matrix). For a bias use jinit.zeros or jinit.ones."),
    ("dirac groups divide", _init(jinit.dirac(groups=3), KEY, (3, 3, 4, 8)), ValueError,
     "dirac(): groups=3 does not divide the 8 output channels of shape=(3, 3, 4, 8); expected a "
     "divisor of shape[-1]."),
    ("sparse_outgoing rank", _init(jinit.sparse_outgoing(0.1), KEY, (2, 3, 4)), ValueError,
     "sparse_outgoing(): shape=(2, 3, 4) has 3 axes; expected 2 axes (a Dense kernel (in, out)), "
     "as PyTorch's sparse_. For any rank use jinit.sparse_incoming."),
    ("sparse_incoming k > fan_in", _init(jinit.sparse_incoming(k=20), KEY, (4, 8)), ValueError,
     "sparse_incoming(): k=20 exceeds the 4 incoming connections of each unit of shape=(4, 8); "
     "expected k <= 4 (prod(shape[:-1])). Pass k=4 or fewer."),
    # --- compute_fans
    ("compute_fans rank 1", lambda: jinit.compute_fans((5,)), ValueError,
     "compute_fans(): shape=(5,) has 1 axis but in_axis=-2 needs axis -2; expected a shape with "
     "at least 2 axes. For a bias use jinit.zeros, or pass in_axis."),
    ("compute_fans negative", lambda: jinit.compute_fans((3, -1)), ValueError,
     "compute_fans(): shape=(3, -1) has a negative dimension -1; expected non-negative ints."),
    ("compute_fans string axis", lambda: jinit.compute_fans((3, 4), in_axis="0"), TypeError,
     "compute_fans(): in_axis='0' is not an axis; expected an int or a sequence of ints."),
    ("compute_fans batch overlaps", lambda: jinit.compute_fans((3, 4, 5), batch_axis=(0, -3)),
     ValueError, "compute_fans(): batch_axis=(0, -3) repeats an axis; expected distinct axes."),
    # --- gains
    ("calculate_gain unknown", lambda: jinit.calculate_gain("gelu"), ValueError,
     "calculate_gain(): nonlinearity='gelu' is not a supported nonlinearity; expected one of "
     "'linear', ..."),
    ("calculate_gain param", lambda: jinit.calculate_gain("leaky_relu", "a"), TypeError,
     "calculate_gain(): param='a' is not a real number; expected a finite real number."),
    ("gain definition", lambda: jinit.gain("relu", "sideways"), ValueError,
     "gain(): definition='sideways' is not valid; expected one of 'forward', 'variance', "
     "'backward'."),
    ("gain unknown activation", lambda: jinit.gain("nonexistent"), ValueError,
     "gain(): activation='nonexistent' is not a known activation; " + _ACTIVATIONS + "..."),
    ("gain not callable", lambda: jinit.gain(3), TypeError,
     "gain(): activation=3 is neither a name nor a callable; expected an activation name such as "
     "'tanh' or a callable such as jax.nn.gelu."),
    ("for_activation unknown", lambda: jinit.for_activation("nonexistent"), ValueError,
     "for_activation(): activation='nonexistent' is not a known activation; ..."),
    ("for_activation mode", lambda: jinit.for_activation("relu", mode="fan_inn"), ValueError,
     "for_activation(): mode='fan_inn' is not valid; expected one of 'fan_in', 'fan_out', "
     "'fan_avg', 'fan_geo_avg'."),
    # --- presets
    ("torch_fans layer", lambda: presets.torch_fans("lstm", 4, 4), ValueError,
     "presets.torch_fans(): layer='lstm' is not valid; expected one of 'linear', 'conv', "
     "'conv_transpose', 'embedding'."),
    ("torch_kaiming nonlinearity", lambda: presets.torch_kaiming_uniform(nonlinearity="gelu"),
     ValueError, "presets.torch_kaiming_uniform(): nonlinearity='gelu' is not valid; ..."),
    ("torch_kaiming mode", lambda: presets.torch_kaiming_normal(mode="fan_avg"), ValueError,
     "presets.torch_kaiming_normal(): mode='fan_avg' is not valid; expected one of 'fan_in', "
     "'fan_out'."),
    ("torch_trunc_normal std", lambda: presets.torch_trunc_normal(std=0.0), ValueError,
     "presets.torch_trunc_normal(): std=0.0 is out of range; expected a number > 0."),
    ("torch_trunc_normal bounds", lambda: presets.torch_trunc_normal(a=1.0, b=-1.0), ValueError,
     "presets.torch_trunc_normal(): b=-1.0 is not above a=1.0; expected a < b."),
    ("keras_random_uniform bounds", lambda: presets.keras_random_uniform(0.1, -0.1), ValueError,
     "presets.keras_random_uniform(): maxval=-0.1 is not above minval=0.1; expected "
     "minval < maxval."),
    ("torch_linear_bias fan_in", lambda: presets.torch_linear_bias(-3), ValueError,
     "presets.torch_linear_bias(): fan_in=-3 is out of range; expected a number >= 0."),
    ("torch_conv_transpose_kernel flag",
     lambda: presets.torch_conv_transpose_kernel(transpose_kernel="yes"), TypeError,
     "presets.torch_conv_transpose_kernel(): transpose_kernel='yes' is not a bool; expected "
     "True or False."),
    # --- mup, theory, tree, lsuv
    ("mup role", lambda: mup.initializer("middle"), ValueError,
     "mup.initializer(): role='middle' is not valid; expected one of 'input', 'hidden', 'output'."),
    ("mup base_fan_in", lambda: mup.initializer("output"), ValueError,
     "mup.initializer(): base_fan_in=None is missing for an output weight; ..."),
    ("theory sigma_b2", lambda: theory.critical_sigma_w2("tanh", sigma_b2=-1.0), ValueError,
     "critical_sigma_w2(): sigma_b2=-1.0 is out of range; expected a number >= 0."),
    ("theory activation", lambda: theory.stability("nonexistent"), ValueError,
     "stability(): activation='nonexistent' is not a known activation; ..."),
    ("theory q", lambda: theory.variance_map("tanh", -1.0, sigma_w2=1.0), ValueError,
     "variance_map(): q=-1.0 is out of range; expected finite values >= 0."),
    ("theory depth", lambda: theory.depth_variance_curve("tanh", -1, sigma_w2=1.0), ValueError,
     "depth_variance_curve(): depth=-1 is out of range; expected an int >= 0."),
    ("tree key", lambda: tree.init_tree(0, {"w": (2, 3)}, None), TypeError,
     "init_tree(): key=0 is not a PRNG key; ..."),
    ("tree rules", lambda: tree.init_tree(KEY, {"w": (2, 3)}, 5), TypeError,
     "init_tree(): rules=5 is not a set of rules; ..."),
    ("lsuv tol", lambda: lsuv.lsuv_nnx(None, jnp.ones((2, 3)), KEY, tol=-1.0), ValueError,
     "lsuv_nnx(): tol=-1.0 is out of range; expected a number > 0."),
    ("lsuv target", lambda: lsuv.lsuv_linen(None, {}, jnp.ones((2, 3)), KEY, target=0.0),
     ValueError, "lsuv_linen(): target=0.0 is out of range; expected a number > 0."),
    ("lsuv model", lambda: lsuv.lsuv_nnx(object(), jnp.ones((2, 3)), KEY), TypeError,
     "lsuv_nnx(): model=<object object at ..."),
]


def _pattern(message: str) -> str:
    if message.endswith("..."):
        return "^" + re.escape(message[:-3])
    return "^" + re.escape(message) + "$"


def test_table_has_at_least_30_rows_and_unique_ids():
    ids = [row[0] for row in TABLE]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


@pytest.mark.parametrize(("call", "exc", "message"), [row[1:] for row in TABLE],
                         ids=[row[0] for row in TABLE])
def test_error_table(call, exc, message):
    with pytest.raises(exc, match=_pattern(message)) as info:
        call()
    assert type(info.value) is exc  # exactly ValueError/TypeError, not a subclass
    assert STYLE.match(str(info.value)), str(info.value)


# Initializer-call rows (shape, dtype, key): the check fires before jax runs anything.
_CALL_ROWS = [row for row in TABLE if getattr(row[1], "reaches_init", False)]


def _jax_frames(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)
    return [f"{f.filename}:{f.name}" for f in frames if "/jax/" in f.filename]


@pytest.mark.parametrize(("call", "exc", "message"), [row[1:] for row in _CALL_ROWS],
                         ids=[row[0] for row in _CALL_ROWS])
def test_call_errors_raise_in_python_before_jax_runs(call, exc, message):
    previous = jax.config.jax_traceback_filtering
    jax.config.update("jax_traceback_filtering", "off")
    try:
        with pytest.raises(exc) as info:
            call()
    finally:
        jax.config.update("jax_traceback_filtering", previous)
    assert not _jax_frames(info.value), _jax_frames(info.value)


def test_call_rows_cover_shape_dtype_and_key_checks():
    assert len(_CALL_ROWS) >= 20


FACTORY_ROWS = [
    (lambda: jinit.variance_scaling(1.0, "fan_inn", "normal"), "mode"),
    (lambda: jinit.glorot_normal(in_axis=1.5), "in_axis"),
    (lambda: jinit.orthogonal(-1.0), "scale"),
    (lambda: jinit.delta_orthogonal(float("inf")), "scale"),
    (lambda: jinit.conv_orthogonal("x"), "scale"),
    (lambda: jinit.identity(float("nan")), "scale"),
    (lambda: jinit.sparse_outgoing(0.5, std=-1.0), "std"),
    (lambda: jinit.sparse_incoming(k=2.5), "k"),
    (lambda: jinit.truncated_normal(lower=float("nan")), "lower"),
    (lambda: presets.torch_xavier_uniform(gain=-1.0), "gain"),
    (lambda: presets.keras_random_normal(stddev=-1.0), "stddev"),
    (lambda: jinit.for_activation("leaky_relu", param=float("nan")), "param"),
    (lambda: jinit.lecun_uniform(dtype="int32"), "dtype"),
]


@pytest.mark.parametrize(("call", "arg"), FACTORY_ROWS, ids=[a for _, a in FACTORY_ROWS])
def test_factory_arguments_fail_at_the_factory(call, arg):
    with pytest.raises((ValueError, TypeError), match=rf"^\w[\w.]*\(\): {arg}=") as info:
        call()  # the factory alone: no initializer is ever called
    assert STYLE.match(str(info.value))


def test_errors_read_the_same_under_jit_and_eval_shape():
    init = jinit.he_normal()
    with pytest.raises(ValueError, match=r"^he_normal\(\): shape=\(5,\) has 1 axis"):
        jax.jit(init, static_argnums=(1, 2))(KEY, (5,), jnp.float32)
    with pytest.raises(ValueError, match=r"^he_normal\(\): shape=\(5,\) has 1 axis"):
        jax.eval_shape(lambda k: init(k, (5,)), KEY)
    with pytest.raises(TypeError, match=r"^he_normal\(\): dtype=int32 is not inexact"):
        jax.jit(init, static_argnums=(1, 2))(KEY, (4, 5), jnp.int32)


def test_traced_shape_names_the_fix():
    init = jinit.normal()
    with pytest.raises(TypeError, match=r"contains a traced value; expected static ints\. "
                                        r"Mark shape static"):
        jax.jit(lambda n: init(KEY, (n, 2)))(3)


def test_x64_dtype_without_x64_warns_and_returns_float32():
    with pytest.warns(UserWarning, match=r"^normal\(\): dtype=float64 is not available without "
                                         r"jax_enable_x64"):
        w = jinit.normal()(KEY, (2,), jnp.float64)
    assert w.dtype == jnp.float32


# ----------------------------------------------------------------------------- zero size

ZERO = [
    ("normal", jinit.normal(), (0,)),
    ("uniform", jinit.uniform(), (3, 0)),
    ("truncated_normal", jinit.truncated_normal(), (0, 0)),
    ("he_normal in=0", jinit.he_normal(), (0, 8)),
    ("he_normal out=0", jinit.he_normal(), (8, 0)),
    ("glorot_uniform conv", jinit.glorot_uniform(), (3, 0, 4, 8)),
    ("variance_scaling fan_geo_avg", jinit.variance_scaling(1.0, "fan_geo_avg", "normal"),
     (0, 4)),
    ("lecun_normal batch", jinit.lecun_normal(batch_axis=0), (0, 4, 8)),
    ("orthogonal", jinit.orthogonal(), (0, 5)),
    ("orthogonal column 0", jinit.orthogonal(), (5, 0)),
    ("delta_orthogonal", jinit.delta_orthogonal(), (3, 3, 0, 4)),
    ("conv_orthogonal", jinit.conv_orthogonal(), (3, 0, 4)),
    ("identity", jinit.identity(), (0, 3)),
    ("dirac", jinit.dirac(), (3, 3, 0, 4)),
    ("sparse_outgoing", jinit.sparse_outgoing(0.5), (4, 0)),
    ("sparse_incoming", jinit.sparse_incoming(), (0, 4)),
    ("hadamard_identity", jinit.hadamard_identity(), (0, 4)),
    ("constant", jinit.constant(2.0), (0, 2)),
    ("zeros", jinit.zeros, (0,)),
    ("torch_linear_kernel", presets.torch_linear_kernel(), (0, 4)),
    ("torch_linear_bias", presets.torch_linear_bias(0), (0,)),
    ("torch_trunc_normal", presets.torch_trunc_normal(), (2, 0)),
    ("keras_embedding", presets.keras_embedding(), (0, 16)),
]


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float8_e4m3fn],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("init", "shape"), [row[1:] for row in ZERO], ids=[r[0] for r in ZERO])
def test_zero_size_shapes_give_empty_arrays(init, shape, dtype):
    w = init(KEY, shape, dtype)
    assert w.shape == shape and w.dtype == dtype and w.size == 0
    w = jax.jit(init, static_argnums=(1, 2))(KEY, shape, dtype)
    assert w.shape == shape and w.dtype == dtype


def test_delta_orthogonal_zero_output_channels_gives_empty_array():
    w = jinit.delta_orthogonal()(KEY, (3, 3, 4, 0))
    assert w.shape == (3, 3, 4, 0)


def test_zero_size_fans_never_divide_by_zero():
    assert jinit.compute_fans((0, 8)) == (0.0, 8.0)
    assert jinit.compute_fans((3, 3, 0, 8)) == (0.0, 72.0)
    assert jinit.compute_fans((4, 0), batch_axis=()) == (4.0, 0.0)


def test_jax_frame_check_sees_an_error_raised_inside_jax():
    """Negative control: an error from jax itself does show jax frames."""
    previous = jax.config.jax_traceback_filtering
    jax.config.update("jax_traceback_filtering", "off")
    try:
        with pytest.raises((TypeError, ValueError)) as info:
            jnp.zeros((2, -1))
    finally:
        jax.config.update("jax_traceback_filtering", previous)
    assert _jax_frames(info.value)


# ------------------------------------------------------------------- uncalled factories


def _public_factories():
    import inspect

    from jinit import _base, residual
    from jinit.laws import is_initializer

    for prefix, module in (("", jinit), ("presets.", presets), ("residual.", residual)):
        for name in module.__all__:
            obj = getattr(module, name)
            if (isinstance(obj, _base.Init) or inspect.ismodule(obj) or not callable(obj)
                    or not is_initializer(obj)
                    or list(inspect.signature(obj).parameters)[:2] == ["key", "shape"]):
                continue  # not a factory: an initializer itself, a module, a helper
            yield prefix + name, obj


FACTORIES = list(_public_factories())
# Factories decorated on their own branch (jinit._gain); the list only shrinks.
UNDECORATED: set[str] = set()


def test_the_factory_list_is_not_vacuous():
    names = {n for n, _ in FACTORIES}
    assert {"he_normal", "constant", "zeros_init", "presets.torch_uniform",
            "residual.fixup"} <= names, names
    assert "zeros" not in names and "compute_fans" not in names


@pytest.mark.parametrize(("name", "obj"), FACTORIES, ids=[n for n, _ in FACTORIES])
def test_every_public_factory_names_itself_when_used_uncalled(name, obj):
    from jinit import _base

    if name in UNDECORATED:
        pytest.skip(f"{name} is decorated with _base.factory on its own branch")
    assert _base.is_factory(obj), name
    with pytest.raises(TypeError, match=rf"Did you mean {re.escape(_base.public_name(obj))}\(\)\?"):
        obj(KEY, (4, 4), jnp.float32)
    legacy = jax.random.PRNGKey(0)
    with pytest.raises(TypeError, match="Did you mean"):
        obj(legacy, (4, 4), jnp.float32)


@pytest.mark.parametrize("make, arg", [
    (lambda: jinit.variance_scaling(1e60, "fan_avg", "uniform"), "scale"),
    (lambda: jinit.presets.torch_xavier_uniform(1e30, in_axis=0, out_axis=0), "gain"),
])
def test_a_variance_beyond_float32_is_named_not_drawn_as_inf(make, arg):
    """A scale whose variance overflows the sampling dtype (float32) is a ValueError naming
    the argument, eager and jitted, where jax.nn.initializers draws inf."""
    init = make()
    for call in (init, jax.jit(init, static_argnums=(1, 2))):
        for dtype, drawn_in in ((jnp.float32, "float32"), (jnp.bfloat16, "float32"),
                                (jnp.complex64, "complex64")):
            with pytest.raises(ValueError, match=rf"\(\): {arg}=1e\+[0-9]+ gives the variance "
                                                 rf".* which overflows {drawn_in}"):
                call(jax.random.key(0), (2, 2), dtype)
    # the control: the largest scale whose variance fits is drawn, finite
    assert np.isfinite(np.asarray(jinit.variance_scaling(1e38, "fan_in", "normal")(
        jax.random.key(0), (1, 1), jnp.float32))).all()
