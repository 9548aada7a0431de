"""``mup.plan(..., structure=)``: fan axes read from the model's computation.

Every expected multiplier is computed by hand from the layer's definition (the einsum
string and the two widths), never read back from jinit.
"""

import warnings

import jax
import jax.numpy as jnp
import pytest

from jinit import mup, structure

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

HD = 8  # head_dim, fixed; width grows by heads and d_model together


def _sgd_lr(m_in, m_out, role):
    """Tensor Programs V, Table 3, SGD column (the "init" formulation)."""
    return {"hidden": m_out / m_in, "input": m_out, "output": 1 / m_in, "bias": m_out}[role]


def _linen_mha(d, heads):
    model = nn.MultiHeadDotProductAttention(num_heads=heads, qkv_features=heads * HD)
    x = jnp.zeros((2, 5, d))
    return model, x, jax.eval_shape(model.init, jax.random.key(0), x, x)["params"]


def test_linen_attention_multipliers_from_the_structure_are_the_hand_computed_ones():
    model, x, big = _linen_mha(64, 8)
    _, _, small = _linen_mha(32, 4)
    s = structure.trace(model, x, x)
    p = mup.plan(big, small, optimizer="sgd", structure=s)
    # query/key/value (d, heads, head_dim): fan-in d (×2), fan-out heads·head_dim (×2)
    # out (heads, head_dim, d): fan-in heads·head_dim (×2), fan-out d (×2); biases grow ×2
    for name in ("query", "key", "value", "out"):
        assert p.roles[f"{name}/kernel"] == "hidden"
        assert p.lr_multipliers[f"{name}/kernel"] == _sgd_lr(2, 2, "hidden") == 1.0
        assert p.lr_multipliers[f"{name}/bias"] == _sgd_lr(1, 2, "bias") == 2.0
    # Flax's names are guessed right too: the name rule and the trace agree here
    assert mup.plan(big, small, optimizer="sgd").lr_multipliers == p.lr_multipliers


class Attention(nnx.Module):
    """Per-head projections with unusual names and layouts, as einsum strings say."""

    def __init__(self, d, heads, rngs):
        self.w = nnx.Einsum("BTD,NDH->BTNH", (heads, d, HD), rngs=rngs)   # fan-in d
        self.o = nnx.Einsum("BTNH,NHD->BTD", (heads, HD, d), rngs=rngs)   # fan-in heads·HD
        self.up = nnx.Einsum("BTD,DF->BTF", (d, 4 * d), rngs=rngs)

    def __call__(self, x):
        return self.up(self.o(self.w(x)))


def _nnx(d, heads):
    model = nnx.eval_shape(lambda: Attention(d, heads, nnx.Rngs(0)))
    return model, nnx.state(model, nnx.Param)


def test_nnx_einsum_kernels_are_right_only_with_the_structure():
    model, big = _nnx(64, 16)
    _, small = _nnx(32, 8)
    s = structure.trace(model, jax.ShapeDtypeStruct((2, 5, 64), jnp.float32))
    p = mup.plan(big, small, optimizer="sgd", structure=s)
    # w (N, D, H): fan-in D ×2, fan-out N·H ×2 → hidden, lr 1
    # o (N, H, D): fan-in N·H ×2, fan-out D ×2 → hidden, lr 1
    for name in ("w/kernel", "o/kernel", "up/kernel"):
        assert (p.roles[name], p.lr_multipliers[name]) == ("hidden", _sgd_lr(2, 2, "hidden"))
    # the shape guess (last two axes, the first a window) is wrong for both, and says so
    with pytest.warns(structure.AmbiguousFanWarning, match=r"mup\.plan\(\).*'o/kernel'.*"
                      r"'w/kernel'.*fan_axes=") as w:
        guess = mup.plan(big, small, optimizer="sgd")
    assert len(w) == 1
    # w guessed: fan-in N·D ×4, fan-out N·H ×2 → lr 1/2; o: fan-in N·H ×2, fan-out N·D ×4
    assert guess.lr_multipliers["w/kernel"] == _sgd_lr(4, 2, "hidden") == 0.5
    assert guess.lr_multipliers["o/kernel"] == _sgd_lr(2, 4, "hidden") == 2.0
    assert guess.lr_multipliers["up/kernel"] == p.lr_multipliers["up/kernel"]


def test_structure_wins_over_fan_axes_and_non_contractions_keep_todays_rule():
    model, big = _nnx(64, 16)
    _, small = _nnx(32, 8)
    s = structure.trace(model, jax.ShapeDtypeStruct((2, 5, 64), jnp.float32))
    wrong = {r"^w/kernel$": (2, (0, 1))}                 # contracts head_dim: wrong
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = mup.plan(big, small, optimizer="sgd", structure=s, fan_axes=wrong)
    assert p.lr_multipliers["w/kernel"] == 1.0
    # without the structure the (wrong) rule is what is used: fan-in H ×1, fan-out N·D ×4
    with pytest.warns(structure.AmbiguousFanWarning, match="'o/kernel'"):  # o has no rule
        guess = mup.plan(big, small, optimizer="sgd", fan_axes=wrong)
    assert (guess.roles["w/kernel"], guess.lr_multipliers["w/kernel"]) == (
        "input", _sgd_lr(1, 4, "input"))

    # a bias (a shift, not a contraction) falls back to the rank rule: a bias of d entries
    class Biased(nnx.Module):
        def __init__(self, d, rngs):
            self.lin = nnx.Linear(d, d, rngs=rngs)

        def __call__(self, x):
            return self.lin(x)

    b_model = nnx.eval_shape(lambda: Biased(64, nnx.Rngs(0)))
    b_small = nnx.state(nnx.eval_shape(lambda: Biased(32, nnx.Rngs(0))), nnx.Param)
    sb = structure.trace(b_model, jax.ShapeDtypeStruct((2, 64), jnp.float32))
    assert sb["lin/bias"].op == "shift"
    q = mup.plan(nnx.state(b_model, nnx.Param), b_small, optimizer="sgd", structure=sb)
    assert (q.roles["lin/bias"], q.lr_multipliers["lin/bias"]) == ("bias", 2.0)
    with pytest.raises(TypeError, match=r"mup\.plan\(\): structure=.*Structure"):
        mup.plan(big, small, structure={"w/kernel": None})
