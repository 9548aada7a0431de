"""``jinit.structure.guess``: the one shape-and-layout guess every fan decision without a
trace asks, checked against the rules it replaced (written out here, not imported).

The former rules: the recipes' ``fan_axes`` (Flax ``(-2, -1)``, PyTorch ``(out, in)`` as
``(-1, -2)``, DenseGeneral projections, the Gemma einsum table); ``mup.plan``'s default axes
(negative axes after a scanned-stack axis); ``mup.unit.plan``'s ``fan_in = prod(shape[:-1])``;
the Equinox permutation ``(out, in, *k) -> (*k, in, out)``; the ambiguity warning's "rank
≥ 3 and not a small square window".
"""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import mup, structure
from jinit.mup import unit
from jinit.structure import AmbiguousFanWarning, guess

F32 = jnp.float32


def _fans(u):
    return u.fan_in, u.fan_out


def test_flax_dense_and_conv_hwio_are_jax_defaults_and_settled():
    for shape in ((64, 16), (3, 3, 16, 32), (5, 16, 32), (7, 7, 7, 3, 8)):
        u = guess(shape)
        assert _fans(u) == jinit.compute_fans(shape) and u.assumed is None
        assert (u.in_axes, u.out_axes, u.source) == ((len(shape) - 2,), (len(shape) - 1,),
                                                     "shape")
        assert u.fan_in == float(math.prod(shape[:-1]))      # mup.unit.plan's former rule
    assert guess((3, 3, 16, 32)).receptive == 9
    # the ambiguity warning's former rule: rank >= 3 and not a small square window
    for window in ((1,), (7,), (8,), (3, 3), (3, 5), (1, 7, 7), (2, 2, 2), (64,)):
        former = not (all(d <= 7 for d in window) and len(set(window)) == 1)
        assert (guess((*window, 16, 32)).assumed is not None) == former, window
    assert guess((16,)).op == "scale" and guess((16,)).fan_in is None


def test_torch_and_equinox_out_in_kernel():
    for layout in ("torch", "equinox"):
        u = guess((32, 16, 3, 5), layout)
        assert _fans(u) == jinit.compute_fans((32, 16, 3, 5), in_axis=1, out_axis=0)
        assert _fans(u) == (240.0, 480.0) and u.assumed is None
    # the Equinox adapter's former permutation (*k, in, out), and its inverse
    for shape in ((32, 16), (32, 16, 3), (32, 16, 3, 5)):
        order = structure.flax_order(guess(shape, "equinox"))
        assert tuple(shape[k] for k in order) == (*shape[2:], shape[1], shape[0])
        n = len(shape) - 2
        assert tuple(int(k) for k in np.argsort(order)) == (n + 1, n, *range(n))
    with pytest.raises(ValueError, match=r"structure.guess\(\): form='input' is not a form of "
                       r"layout='torch'"):
        guess((4, 4, 4), "torch", form="input")


def test_scanned_stack_is_a_batch_axis_and_without_it_the_shape_cannot_tell():
    u = guess((12, 64, 256), stacked=1)
    assert (u.batch_axes, _fans(u), u.assumed) == ((0,), (64.0, 256.0), None)
    # μP's former rule: negative axes counted after the stacked axis, batch_axis=0
    assert _fans(u) == jinit.compute_fans((12, 64, 256), -2, -1, 0)
    plain = guess((12, 64, 256))
    assert _fans(plain) == (12.0 * 64, 12.0 * 256) and plain.assumed is not None
    # μP's Flax attention forms on a scanned stack: q/k/v kernel, out kernel, q/k/v bias
    assert _fans(guess((4, 64, 8, 16), form="input", stacked=1)) == jinit.compute_fans(
        (4, 64, 8, 16), -3, (-2, -1), 0)
    assert _fans(guess((4, 8, 16, 64), form="output", stacked=1)) == jinit.compute_fans(
        (4, 8, 16, 64), (-3, -2), -1, 0)
    b = guess((4, 8, 16), form="bias", stacked=1)
    assert (b.op, b.in_axes, b.out_axes, b.batch_axes) == ("shift", (), (1, 2), (0,))


def test_einsum_kernel_ambiguity_is_reported_not_guessed():
    heads, d, hd = 8, 64, 32
    plain = guess((heads, d, hd))                   # read as a convolution: reported
    assert plain.assumed is not None and "(in, out)" in plain.assumed
    assert structure.ambiguous([("w", (heads, d, hd), jinit.he_normal())]) == ["w"]
    unknown = guess((heads, d, hd), form="einsum", path="attn/proj_einsum/w")
    assert unknown.fan_in is None and "einsum string" in unknown.assumed
    assert not unknown.expressible
    # the Gemma table: 'BTD,NDH->BTNH' has fan-in d, fan-out heads·head_dim
    q = guess((heads, d, hd), form="einsum", path="attn/q_einsum/w")
    assert (q.in_axes, q.out_axes, _fans(q), q.assumed) == ((1,), (0, 2), (64.0, 256.0), None)
    wrong = guess((2, heads, d, hd), form="einsum", path="attn/q_einsum/w")
    assert wrong.fan_in is None and "3" in wrong.assumed
    # a 2-axis einsum kernel is a plain (in, out) matrix
    assert _fans(guess((d, hd), form="einsum", path="m/proj_einsum/w")) == (64.0, 32.0)


def test_recipes_fan_axes_keep_their_former_arguments():
    from jinit.recipes._recipe import Leaf
    from jinit.recipes._specs import fan_axes

    def axes(path, shape, role, layout="in_out"):
        return fan_axes(Leaf(path, shape, role, "weight", 0, 2, layout))

    assert axes("h/0/mlp/c_fc/kernel", (64, 256), "mlp_up") == (-2, -1, ())
    assert axes("h/0/mlp/c_fc/weight", (256, 64), "mlp_up", "out_in") == (-1, -2, ())
    assert axes("h/0/attn/query/kernel", (64, 8, 32), "q") == (0, (1, 2), ())
    assert axes("h/0/attn/out/kernel", (8, 32, 64), "attn_out") == ((0, 1), 2, ())
    assert axes("h/0/attn/q_einsum/w", (8, 64, 32), "q") == (1, (0, 2), ())
    assert axes("h/0/attn/kv_einsum/w", (2, 8, 64, 32), "kv") == (2, (1, 3), (0,))
    assert axes("h/0/attn/attn_vec_einsum/w", (8, 32, 64), "attn_out") == ((0, 1), 2, ())
    assert axes("h/0/head/kernel", (3, 3, 8, 16), "head") == (-2, -1, ())
    with pytest.raises(ValueError, match=r"einsum string"):
        axes("h/0/attn/my_einsum/w", (8, 64, 32), "q")


def test_unit_plan_warns_for_a_stacked_weight_and_reads_a_trace():
    stack = {"emb": jnp.zeros((100, 64)), "stack": jnp.zeros((12, 64, 64)),
             "head": jnp.zeros((64, 10))}
    with pytest.warns(AmbiguousFanWarning, match=r"mup.unit.plan\(\).*'stack' \(12, 64, 64\)"):
        p = unit.plan(stack, roles={"emb": "embedding", "head": "output"})
    assert p.lr_multipliers["stack"] == pytest.approx((12 * 64) ** -0.5)   # the former rule

    def fn(params, x):
        x = params["emb"][x]
        x, _ = jax.lax.scan(lambda c, w: (c + jax.nn.relu(c @ w), None), x, params["stack"])
        return x @ params["head"]

    s = structure.trace(fn, jax.ShapeDtypeStruct((4,), jnp.int32),
                        params={k: jax.ShapeDtypeStruct(v.shape, F32) for k, v in stack.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        q = unit.plan(stack, roles={"emb": "embedding", "head": "output"}, structure=s)
    assert q.lr_multipliers["stack"] == 64 ** -0.5
    assert q.lr_multipliers["head"] == p.lr_multipliers["head"] == 1.0
    with pytest.raises(TypeError, match=r"mup.unit.plan\(\): structure="):
        unit.plan(stack, structure={"stack": None})


def test_mup_plan_default_axes_are_the_guess():
    # query/key/value (d, heads, head_dim), out (heads, head_dim, d): widths d and heads ×2
    def tree(d, h):
        return {"query": {"kernel": jnp.zeros((d, h, 8)), "bias": jnp.zeros((h, 8))},
                "out": {"kernel": jnp.zeros((h, 8, d))}}

    p = mup.plan(tree(64, 8), tree(32, 4), optimizer="sgd")
    # former rule: q fan-in d (x2), fan-out h·8 (x2) -> hidden; the bias grows x2
    assert p.roles["query/kernel"] == p.roles["out/kernel"] == "hidden"
    assert p.roles["query/bias"] == "bias"
    assert p.lr_multipliers["query/kernel"] == 1.0                # m_out / m_in = 2 / 2
    assert p.lr_multipliers["query/bias"] == 2.0
