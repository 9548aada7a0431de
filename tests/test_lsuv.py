"""jinit.lsuv: unit output variance on held-out data, trainability, purity, errors."""

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jinit
from jinit.lsuv import LayerReport, lsuv_linen, lsuv_nnx

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

Z = 4.9  # two-sided normal quantile for a false-failure rate of about 1e-6 per check
TOL = 0.1


def inputs(key, shape):
    """Inputs far from unit scale (std 3, mean 1), so LSUV has something to correct."""
    return 3.0 * jax.random.normal(key, shape) + 1.0


def within_tolerance(outputs, n_fit):
    """Per layer: is the held-out output variance within TOL + slack of 1?

    The variance over all entries is the mean over samples of the per-sample statistic
    d_i = mean_units (y_i - mean(y))^2, whose samples are i.i.d.; its standard error is
    sd(d)/sqrt(n). LSUV set the fitting batch's variance within TOL of 1, so the held-out
    variance may differ from it by Z * sd(d) * sqrt(1/n_fit + 1/n_held_out) more.
    """
    verdicts, slacks = [], []
    for y in outputs:
        y = np.asarray(y, np.float64).reshape(y.shape[0], -1)
        d = ((y - y.mean()) ** 2).mean(axis=1)
        slack = Z * d.std(ddof=1) * math.sqrt(1.0 / n_fit + 1.0 / y.shape[0])
        verdicts.append(abs(y.var() - 1.0) < TOL + slack)
        slacks.append(slack)
    return verdicts, slacks


def linen_outputs(model, variables, x, types=(nn.Dense, nn.Conv)):
    """Every Dense/Conv output, in call order, via Flax's own capture_intermediates."""
    _, state = model.apply(variables, x, capture_intermediates=lambda m, _: isinstance(m, types),
                           mutable=["intermediates"])
    found = []

    def walk(tree):
        for k, v in tree.items():
            if k == "__call__":
                found.extend(v)
            else:
                walk(v)

    walk(state["intermediates"])
    return found


class TanhMLP(nn.Module):
    depth: int = 6
    width: int = 64
    out: int = 10

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = nn.tanh(nn.Dense(self.width, kernel_init=jinit.normal(0.01))(x))
        return nn.Dense(self.out, kernel_init=jinit.normal(0.01))(x)


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3), kernel_init=jinit.normal(0.01))(x))
        x = nn.relu(nn.Conv(16, (3, 3), kernel_init=jinit.normal(0.01))(x))
        return nn.Dense(10, kernel_init=jinit.normal(0.01))(x.reshape(x.shape[0], -1))


class NNXNet(nnx.Module):
    def __init__(self, rngs):
        self.conv = nnx.Conv(3, 8, (3, 3), kernel_init=jinit.normal(0.01), rngs=rngs)
        self.hidden = nnx.Linear(8 * 8 * 8, 32, kernel_init=jinit.normal(0.01), rngs=rngs)
        self.out = nnx.Linear(32, 10, kernel_init=jinit.normal(0.01), rngs=rngs)

    def layer_outputs(self, x):
        a = self.conv(x)
        b = self.hidden(jax.nn.relu(a).reshape(x.shape[0], -1))
        return [a, b, self.out(jnp.tanh(b))]

    def __call__(self, x):
        return self.layer_outputs(x)[-1]


def test_linen_mlp_held_out_variances_within_tolerance_and_plain_init_fails():
    model = TanhMLP()
    n = 1024
    x_fit, x_held = inputs(jax.random.key(0), (n, 16)), inputs(jax.random.key(1), (n, 16))
    variables = model.init(jax.random.key(2), x_fit)
    new, report = lsuv_linen(model, variables, x_fit, jax.random.key(3))
    assert [r.layer for r in report] == [f"Dense_{i}" for i in range(7)]
    assert all(isinstance(r, LayerReport) and r.converged for r in report)
    fit = linen_outputs(model, new, x_fit)
    for r, y in zip(report, fit, strict=True):  # the report is what the batch shows
        assert abs(r.variance - float(jnp.var(y))) <= 1e-4 * r.variance
        assert abs(float(jnp.var(y)) - 1.0) < TOL
    verdicts, slacks = within_tolerance(linen_outputs(model, new, x_held), n)
    assert all(verdicts) and max(slacks) < 0.2, slacks
    # Negative controls: the plain N(0, 0.01^2) init, and LSUV to the wrong target, fail.
    assert not any(within_tolerance(linen_outputs(model, variables, x_held), n)[0])
    wrong, _ = lsuv_linen(model, variables, x_fit, jax.random.key(3), target=1.5)
    assert not any(within_tolerance(linen_outputs(model, wrong, x_held), n)[0])


def test_linen_cnn_dense_and_conv_reach_unit_variance_on_held_out_batch():
    model = CNN()
    n = 256
    x_fit, x_held = inputs(jax.random.key(4), (n, 8, 8, 3)), inputs(jax.random.key(5), (n, 8, 8, 3))
    variables = model.init(jax.random.key(6), x_fit)
    new, report = lsuv_linen(model, variables, x_fit, jax.random.key(7))
    assert [r.layer for r in report] == ["Conv_0", "Conv_1", "Dense_0"]
    verdicts, slacks = within_tolerance(linen_outputs(model, new, x_held), n)
    assert all(verdicts) and max(slacks) < 0.3, slacks
    assert not any(within_tolerance(linen_outputs(model, variables, x_held), n)[0])


def test_nnx_linear_and_conv_reach_unit_variance_and_input_model_is_untouched():
    model = NNXNet(nnx.Rngs(0))
    before = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model)))
    n = 256
    x_fit, x_held = inputs(jax.random.key(8), (n, 8, 8, 3)), inputs(jax.random.key(9), (n, 8, 8, 3))
    new, report = lsuv_nnx(model, x_fit, jax.random.key(10))
    assert [r.layer for r in report] == ["conv", "hidden", "out"]
    assert type(new) is NNXNet and new is not model and new.conv is not model.conv
    verdicts, slacks = within_tolerance(new.layer_outputs(x_held), n)
    assert all(verdicts) and max(slacks) < 0.3, slacks
    assert not any(within_tolerance(model.layer_outputs(x_held), n)[0])
    after = jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(model)))
    jax.tree.map(np.testing.assert_array_equal, before, after)
    assert type(model.conv) is nnx.Conv  # the probes live on a private copy only
    # Same key, same result.
    again, _ = lsuv_nnx(model, x_fit, jax.random.key(10))
    np.testing.assert_array_equal(again.hidden.kernel[...], new.hidden.kernel[...])


def test_a_bare_root_layer_is_rescaled():
    """The model is one layer (its path is ''): its kernel is 'params/kernel' (linen) and
    'kernel' (NNX), found and rescaled to the target variance."""
    x = inputs(jax.random.key(11), (512, 16))
    dense = nn.Dense(8, kernel_init=jinit.normal(0.01))
    variables = dense.init(jax.random.key(12), x)
    new, report = lsuv_linen(dense, variables, x, jax.random.key(13))
    assert [r.layer for r in report] == [""] and report[0].converged
    assert abs(float(jnp.var(dense.apply(new, x))) - 1) < 0.1
    assert not abs(float(jnp.var(dense.apply(variables, x))) - 1) < 0.1  # the control
    linear = nnx.Linear(16, 8, kernel_init=jinit.normal(0.01), rngs=nnx.Rngs(0))
    fitted, report = lsuv_nnx(linear, x, jax.random.key(13))
    assert [r.layer for r in report] == [""] and abs(float(jnp.var(fitted(x))) - 1) < 0.1


def test_linen_input_variables_are_not_modified():
    model = TanhMLP(depth=2, width=16)
    x = inputs(jax.random.key(0), (256, 8))
    variables = model.init(jax.random.key(1), x)
    inner = variables["params"]["Dense_0"]
    kernel = inner["kernel"]
    snapshot = jax.tree.map(np.asarray, variables)
    new, _ = lsuv_linen(model, variables, x, jax.random.key(2))
    assert variables["params"]["Dense_0"] is inner and inner["kernel"] is kernel
    jax.tree.map(np.testing.assert_array_equal, snapshot, jax.tree.map(np.asarray, variables))
    assert not np.array_equal(new["params"]["Dense_0"]["kernel"], kernel)
    again, _ = lsuv_linen(model, variables, x, jax.random.key(2))
    jax.tree.map(np.testing.assert_array_equal, new, again)


def test_deep_tanh_mlp_trains_from_lsuv_but_not_from_plain_init():
    # Depth 20: from N(0, 0.01^2) the signal shrinks ~ (0.01 sqrt(32))^20 ~ 1e-25 per pass,
    # so gradients vanish and SGD cannot move the loss off Var(y); LSUV trains.
    model = TanhMLP(depth=20, width=32, out=1)
    kx, kw = jax.random.split(jax.random.key(0))
    x = jax.random.normal(kx, (512, 8))
    w = jax.random.normal(kw, (8,))
    y = jnp.sin(2.0 * (x @ w) / math.sqrt(8.0))[:, None]
    plain = model.init(jax.random.key(1), x)
    lsuv, _ = lsuv_linen(model, plain, x, jax.random.key(2))
    opt = optax.sgd(0.01, momentum=0.9)

    @jax.jit
    def final_loss(params):
        def loss(p):
            return jnp.mean((model.apply(p, x) - y) ** 2)

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=150)
        return loss(p)

    var_y = float(jnp.var(y))
    plain_loss, lsuv_loss = float(final_loss(plain)), float(final_loss(lsuv))
    assert plain_loss > 0.9 * var_y  # no better than predicting the mean
    assert lsuv_loss < 0.1 * var_y  # learned most of the target


def test_forward_order_not_name_order_and_boxes_kept():
    class Named(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(16, name="z", kernel_init=nn.with_partitioning(jinit.normal(0.01),
                                                                         (None, "model")))(x)
            return nn.Dense(4, name="a")(nn.tanh(x))

    model, x = Named(), inputs(jax.random.key(0), (256, 8))
    variables = model.init(jax.random.key(1), x)
    new, report = lsuv_linen(model, variables, x, jax.random.key(2))
    assert [r.layer for r in report] == ["z", "a"]
    box = new["params"]["z"]["kernel"]
    assert isinstance(box, nn.Partitioned) and box.names == (None, "model")
    assert abs(float(jnp.var(linen_outputs(model, new, x)[0])) - 1.0) < TOL


def test_orthonormal_pre_init_and_warning_when_max_iters_is_too_small():
    model, x = TanhMLP(depth=2, width=16), inputs(jax.random.key(0), (256, 32))
    variables = model.init(jax.random.key(1), x)
    with pytest.warns(UserWarning) as caught:  # one warning per layer that misses the target
        new, report = lsuv_linen(model, variables, x, jax.random.key(2), max_iters=0)
    pattern = (r"lsuv_linen\(\): layer='Dense_0' ends with output variance .* after 0 rescalings; "
               r"expected a variance within tol=0.1 of target=1\. Raise max_iters")
    assert any(re.match(pattern, str(w.message)) for w in caught), [str(w.message) for w in caught]
    assert not report[0].converged and report[0].iterations == 0 and report[0].scale == 1.0
    q = np.asarray(new["params"]["Dense_0"]["kernel"], np.float64)  # (32, 16): Q^T Q = I
    np.testing.assert_allclose(q.T @ q, np.eye(16), atol=1e-5)


def test_without_orthogonal_first_kernels_are_only_rescaled():
    model, x = TanhMLP(depth=2, width=16), inputs(jax.random.key(0), (256, 8))
    variables = model.init(jax.random.key(1), x)
    new, report = lsuv_linen(model, variables, x, jax.random.key(2), orthogonal_first=False)
    for r in report:
        old = np.asarray(variables["params"][r.layer]["kernel"], np.float64)
        got = np.asarray(new["params"][r.layer]["kernel"], np.float64)
        np.testing.assert_allclose(got, r.scale * old, rtol=1e-5)
        assert r.converged


# --------------------------------------------------------------------------- errors


def test_dead_first_layer_is_named():
    model = TanhMLP(depth=2, width=16)
    variables = model.init(jax.random.key(1), jnp.ones((4, 8)))
    with pytest.raises(ValueError, match=r"lsuv_linen\(\): layer='Dense_0' has output variance 0\.0 "
                                         r"on the batch; expected a finite variance > 0\. Its "
                                         r"outputs are constant \(dead\)"):
        lsuv_linen(model, variables, jnp.zeros((64, 8)), jax.random.key(0))


def test_dead_middle_layer_is_named():
    class Dead(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.relu(-jnp.abs(nn.Dense(16)(x)))  # every unit off
            return nn.Dense(16)(x)

    model, x = Dead(), inputs(jax.random.key(0), (64, 8))
    variables = model.init(jax.random.key(1), x)
    with pytest.raises(ValueError, match=r"layer='Dense_1' has output variance 0\.0"):
        lsuv_linen(model, variables, x, jax.random.key(0))


def test_layer_that_only_passes_its_bias_is_named():
    class Biased(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(16, bias_init=jinit.normal(0.1))(x)  # output variance ~0.01, far from 1

    model = Biased()
    variables = model.init(jax.random.key(1), jnp.ones((4, 8)))
    with pytest.raises(ValueError, match=r"layer='Dense_0' keeps output variance .* when its kernel "
                                         r"is scaled by .*; expected an output variance that scales "
                                         r"with the kernel\. Its input is zero or constant"):
        lsuv_linen(model, variables, jnp.zeros((64, 8)), jax.random.key(0))


def test_nan_outputs_are_named():
    model = TanhMLP(depth=1, width=8)
    variables = model.init(jax.random.key(1), jnp.ones((4, 8)))
    x = jnp.full((16, 8), jnp.nan)
    with pytest.raises(ValueError, match=r"layer='Dense_0' has output variance nan on the batch; "
                                         r"expected a finite variance > 0\. The forward pass produced NaN"):
        lsuv_linen(model, variables, x, jax.random.key(0))


def test_nnx_dead_layer_is_named():
    model = NNXNet(nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"lsuv_nnx\(\): layer='conv' has output variance 0\.0"):
        lsuv_nnx(model, jnp.zeros((8, 8, 8, 3)), jax.random.key(0))


def test_bad_arguments():
    model = TanhMLP(depth=1, width=8)
    x = jnp.ones((4, 8))
    variables = model.init(jax.random.key(1), x)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"lsuv_linen\(\): tol=0\.0 is out of range; expected a number > 0"):
        lsuv_linen(model, variables, x, key, tol=0.0)
    with pytest.raises(ValueError, match=r"target=-1\.0 is out of range"):
        lsuv_linen(model, variables, x, key, target=-1.0)
    with pytest.raises(TypeError, match=r"max_iters=2\.5 is not an int"):
        lsuv_linen(model, variables, x, key, max_iters=2.5)
    with pytest.raises(ValueError, match=r"max_iters=-1 is out of range; expected an int >= 0"):
        lsuv_linen(model, variables, x, key, max_iters=-1)
    with pytest.raises(TypeError, match=r"orthogonal_first=1 is not a bool"):
        lsuv_linen(model, variables, x, key, orthogonal_first=1)
    with pytest.raises(TypeError, match=r"key=0 is not a PRNG key"):
        lsuv_linen(model, variables, x, 0)
    with pytest.raises(TypeError, match=r"layers='Dense' is not a sequence of layer classes"):
        lsuv_linen(model, variables, x, key, layers="Dense")
    with pytest.raises(TypeError, match=r"variables=.* has no 'params' collection"):
        lsuv_linen(model, variables["params"], x, key)
    with pytest.raises(ValueError, match=r"model='TanhMLP' calls no layer of the given types on "
                                         r"the batch.*layers="):
        lsuv_linen(model, variables, x, key, layers=(nn.Conv,))
    with pytest.raises(TypeError, match=r"(?s)lsuv_nnx\(\): model=.* is not an nnx.Module.*lsuv_linen"):
        lsuv_nnx(model, x, key)
    with pytest.raises(ValueError, match=r"layer='LayerNorm_0' has no single 'kernel' parameter"):
        class Normed(nn.Module):
            @nn.compact
            def __call__(self, x):
                return nn.LayerNorm()(nn.Dense(8)(x))

        normed = Normed()
        lsuv_linen(normed, normed.init(key, x), x, key, layers=(nn.Dense, nn.LayerNorm))


# ------------------------------------------------------------------ selection by path


class GPTBlock(nnx.Module):
    def __init__(self, d, n_layers, rngs):
        residual = jinit.normal(0.02 / math.sqrt(2 * n_layers))  # GPT-2's scaled projections
        self.ln1 = nnx.LayerNorm(d, rngs=rngs)
        self.qkv = nnx.Linear(d, 3 * d, kernel_init=jinit.normal(0.02), rngs=rngs)
        self.attn_proj = nnx.Linear(d, d, kernel_init=residual, rngs=rngs)
        self.ln2 = nnx.LayerNorm(d, rngs=rngs)
        self.fc = nnx.Linear(d, 4 * d, kernel_init=jinit.normal(0.02), rngs=rngs)
        self.mlp_proj = nnx.Linear(4 * d, d, kernel_init=residual, rngs=rngs)

    def __call__(self, x):
        q, k, v = jnp.split(self.qkv(self.ln1(x)), 3, axis=-1)
        t = x.shape[1]
        scores = jnp.where(jnp.tril(jnp.ones((t, t), bool)),
                           q @ jnp.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]), -jnp.inf)
        x = x + self.attn_proj(jax.nn.softmax(scores, axis=-1) @ v)
        return x + self.mlp_proj(jax.nn.gelu(self.fc(self.ln2(x))))


class GPT(nnx.Module):
    def __init__(self, rngs, vocab=96, d=32, n_layers=2, context=16):
        self.wte = nnx.Embed(vocab, d, embedding_init=jinit.normal(0.02), rngs=rngs)
        self.wpe = nnx.Embed(context, d, embedding_init=jinit.normal(0.01), rngs=rngs)
        self.blocks = nnx.List([GPTBlock(d, n_layers, rngs) for _ in range(n_layers)])
        self.ln_f = nnx.LayerNorm(d, rngs=rngs)
        self.lm_head = nnx.Linear(d, vocab, use_bias=False, kernel_init=jinit.normal(0.02),
                                  rngs=rngs)

    def __call__(self, tokens):
        x = self.wte(tokens) + self.wpe(jnp.arange(tokens.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def _kernels(model):
    return {path: np.asarray(v) for path, v in
            ((jinit.tree.path_str(p), v) for p, v in
             jax.tree_util.tree_flatten_with_path(nnx.state(model, nnx.Param))[0])
            if path.endswith("kernel")}


def test_nnx_gpt_exclude_keeps_head_and_residual_projections_bit_identical():
    model = GPT(nnx.Rngs(0))
    tokens = jax.random.randint(jax.random.key(1), (64, 16), 0, 96)
    before = _kernels(model)
    new, report = lsuv_nnx(model, tokens, jax.random.key(2), exclude=r"lm_head|_proj/kernel$")
    after = _kernels(new)
    assert [r.layer for r in report] == ["blocks/0/qkv", "blocks/0/fc", "blocks/1/qkv",
                                         "blocks/1/fc"]
    assert all(r.converged for r in report)
    for path in before:
        same = np.array_equal(before[path], after[path])
        assert same == ("lm_head" in path or "_proj" in path), path
    reasons = dict(report.skipped)
    assert set(reasons) == {"wte", "wpe", "ln_f", "lm_head", "blocks/0/ln1", "blocks/0/ln2",
                            "blocks/1/ln1", "blocks/1/ln2", "blocks/0/attn_proj",
                            "blocks/0/mlp_proj", "blocks/1/attn_proj", "blocks/1/mlp_proj"}
    assert re.fullmatch(r"Embed is not in layers=\(Linear, Conv\); an embedding is a table "
                        r"lookup, not a kernel applied to its input", reasons["wte"])
    assert reasons["lm_head"] == ("its kernel 'lm_head/kernel' matches "
                                  "exclude='lm_head|_proj/kernel$'")
    assert reasons["blocks/0/ln1"] == "LayerNorm is not in layers=(Linear, Conv)"
    # Negative control: without exclude= the head and the projections are rescaled.
    _, everything = lsuv_nnx(model, tokens, jax.random.key(2))
    assert "lm_head" in [r.layer for r in everything] and len(everything) == 9


def test_include_selects_by_path_and_dead_patterns_are_reported():
    model = GPT(nnx.Rngs(0))
    tokens = jax.random.randint(jax.random.key(1), (64, 16), 0, 96)
    new, report = lsuv_nnx(model, tokens, jax.random.key(2), include=[r"^blocks/0/"])
    assert [r.layer for r in report] == ["blocks/0/qkv", "blocks/0/attn_proj", "blocks/0/fc",
                                         "blocks/0/mlp_proj"]
    assert dict(report.skipped)["blocks/1/fc"] == \
        "its kernel 'blocks/1/fc/kernel' matches no include= pattern"
    np.testing.assert_array_equal(new.blocks[1].fc.kernel[...], model.blocks[1].fc.kernel[...])
    with pytest.warns(jinit.tree.UnmatchedRuleWarning, match=r"lsuv_nnx\(\): exclude='decoder'"):
        lsuv_nnx(model, tokens, jax.random.key(2), exclude="decoder")
    with pytest.raises(TypeError, match=r"lsuv_nnx\(\): exclude=3 is not a pattern"):
        lsuv_nnx(model, tokens, jax.random.key(2), exclude=3)
    with pytest.raises(ValueError, match=r"calls no layer of the given types.*skipped: 'blocks/0/attn_proj' \(its kernel .* and 12 more\.$"), \
            pytest.warns(jinit.tree.UnmatchedRuleWarning, match="include='nothing_matches'"):
        lsuv_nnx(model, tokens, jax.random.key(2), include="nothing_matches")


def test_linen_exclude_and_nnx_layers_not_called_are_reported():
    class Unused(nn.Module):
        def setup(self):
            self.used, self.head, self.spare = nn.Dense(16), nn.Dense(4), nn.Dense(3)

        def __call__(self, x):
            return self.head(nn.tanh(self.used(x)))

    model, x = Unused(), inputs(jax.random.key(0), (256, 8))
    variables = model.init(jax.random.key(1), x)
    new, report = lsuv_linen(model, variables, x, jax.random.key(2), exclude=r"head|spare")
    assert [r.layer for r in report] == ["used"]
    assert dict(report.skipped) == {"head": "its kernel 'params/head/kernel' matches "
                                            "exclude='head|spare'"}
    np.testing.assert_array_equal(new["params"]["head"]["kernel"],
                                  variables["params"]["head"]["kernel"])

    class Spare(nnx.Module):  # an NNX layer exists whether or not it is called
        def __init__(self, rngs):
            self.used, self.spare = nnx.Linear(8, 16, rngs=rngs), nnx.Linear(8, 3, rngs=rngs)

        def __call__(self, x):
            return self.used(x)

    _, report = lsuv_nnx(Spare(nnx.Rngs(0)), x, jax.random.key(2))
    assert [r.layer for r in report] == ["used"]
    assert report.skipped == (("spare", "not called on the batch"),)
