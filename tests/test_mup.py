"""μP (jinit.mup) and the coordinate check (jinit.verify._coord).

Expected factors are written here from Table 3 of Tensor Programs V (Yang et al. 2022,
arXiv:2203.03466), with m = width / base width:

                  input / bias     hidden         output
    init var      s / n            s / n          s / (n m)
    SGD lr        lr * m           lr             lr / m
    Adam lr       lr               lr / m         lr / m
"""

from __future__ import annotations

import importlib.util
import math
import pathlib
import sys

import _stats as S
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jinit
from jinit.verify._coord import coord_check, plot_coord_check

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


class MLP(nn.Module):
    width: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.width)(x))
        x = nn.relu(nn.Dense(self.width)(x))
        return nn.Dense(10)(x)


def _linen(width, base=32):
    x = jnp.ones((2, 8))
    params = MLP(width).init(jax.random.key(0), x)["params"]
    base_tree = jax.eval_shape(MLP(base).init, jax.random.key(0), x)["params"]
    return params, base_tree


# Table 3, written out: (init std factor, Adam lr factor, SGD lr factor) per role, m = 8.
M = 256 / 32
TABLE3 = {
    "Dense_0/kernel": ("input", 1.0, 1.0, M),
    "Dense_0/bias": ("bias", 1.0, 1.0, M),
    "Dense_1/kernel": ("hidden", 1.0, 1 / M, 1.0),
    "Dense_1/bias": ("bias", 1.0, 1.0, M),
    "Dense_2/kernel": ("output", M ** -0.5, 1 / M, 1 / M),
    "Dense_2/bias": ("fixed", 1.0, 1.0, 1.0),
}


def test_plan_infers_roles_and_table3_factors_from_base_shapes():
    params, base = _linen(256)
    adam = jinit.mup.plan(params, base, optimizer="adam")
    sgd = jinit.mup.plan(params, base, optimizer="sgd")
    for name, (role, init, lr_adam, lr_sgd) in TABLE3.items():
        assert adam.roles[name] == role, name
        assert math.isclose(adam.init_multipliers[name], init), name
        assert math.isclose(adam.lr_multipliers[name], lr_adam), name
        assert math.isclose(sgd.lr_multipliers[name], lr_sgd), name
    assert adam.output_multiplier == 1.0


def test_plan_at_base_width_is_standard_parametrization():
    params, base = _linen(32)
    p = jinit.mup.plan(params, base, optimizer="sgd")
    assert set(p.lr_multipliers.values()) == {1.0}
    assert set(p.init_multipliers.values()) == {1.0}


def test_plan_with_base_width_and_regex_roles_matches_base_tree():
    params, base = _linen(256)
    roles = {r"Dense_0/kernel": "input", r"Dense_1/kernel": "hidden", r"Dense_2/kernel": "output",
             r"Dense_2/bias": "fixed"}
    by_width = jinit.mup.plan(params, 32, width=256, roles=roles, optimizer="sgd")
    by_tree = jinit.mup.plan(params, base, optimizer="sgd")
    assert by_width.lr_multipliers == by_tree.lr_multipliers
    assert by_width.init_multipliers == by_tree.init_multipliers


def test_multiplier_formulation_factors():
    # theta = 1/m moved into the forward pass: init std * m^(1/2), Adam lr 1, SGD lr * m.
    params, base = _linen(256)
    adam = jinit.mup.plan(params, base, optimizer="adam", formulation="multiplier")
    sgd = jinit.mup.plan(params, base, optimizer="sgd", formulation="multiplier")
    assert math.isclose(adam.output_multiplier, 1 / M)
    assert math.isclose(adam.init_multipliers["Dense_2/kernel"], M ** 0.5)
    assert adam.lr_multipliers["Dense_2/kernel"] == 1.0
    assert math.isclose(sgd.lr_multipliers["Dense_2/kernel"], M)
    assert math.isclose(adam.lr_multipliers["Dense_1/kernel"], 1 / M)


class BiaslessReadout(nn.Module):
    """MLP whose readout has no bias: the multiplier form scales ``x @ W`` only."""

    width: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(self.width)(x))
        x = nn.relu(nn.Dense(self.width)(x))
        return nn.Dense(10, use_bias=False)(x)


def test_multiplier_formulation_trains_exactly_like_table3_under_sgd():
    x0 = jnp.ones((2, 8))
    params = BiaslessReadout(256).init(jax.random.key(0), x0)["params"]
    base = jax.eval_shape(BiaslessReadout(32).init, jax.random.key(0), x0)["params"]
    x = jax.random.normal(jax.random.key(1), (16, 8))
    y = jax.random.randint(jax.random.key(2), (16,), 0, 10)
    out = {}
    for form in ("init", "multiplier"):
        plan = jinit.mup.plan(params, base, optimizer="sgd", formulation=form)
        p = plan.rescale(params)
        tx = optax.chain(optax.sgd(0.1), plan.transform())
        s = tx.init(p)

        def loss(q, plan=plan):
            logits = BiaslessReadout(256).apply({"params": q}, x) * plan.output_multiplier
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        for _ in range(3):
            u, s = tx.update(jax.grad(loss)(p), s, p)
            p = optax.apply_updates(p, u)
        out[form] = BiaslessReadout(256).apply({"params": p}, x) * plan.output_multiplier
    assert np.allclose(out["init"], out["multiplier"], rtol=1e-4, atol=1e-6)
    # Negative control: the multiplier form without its logit factor trains differently.
    plan = jinit.mup.plan(params, base, optimizer="sgd", formulation="multiplier")
    wrong = BiaslessReadout(256).apply({"params": plan.rescale(params)}, x)
    assert not np.allclose(wrong, out["init"], rtol=1e-2)


def test_rescale_touches_only_output_weights():
    params, base = _linen(256)
    plan = jinit.mup.plan(params, base)
    new = plan.rescale(params)
    for layer in ("Dense_0", "Dense_1"):
        assert np.array_equal(new[layer]["kernel"], params[layer]["kernel"])
    got = np.asarray(new["Dense_2"]["kernel"], np.float64)
    want = np.asarray(params["Dense_2"]["kernel"], np.float64) / math.sqrt(M)
    assert np.allclose(got, want, rtol=1e-6)
    zero = plan.rescale(params, zero_output=True)
    assert not np.any(zero["Dense_2"]["kernel"])


def test_linen_kernel_init_equals_plan_rescale():
    # The two ways to a μP init of a linen readout agree: kernel_init=mup.initializer(...) with
    # Flax's own distribution (truncated normal), and plan.rescale of the default init.
    class Head(nn.Module):
        width: int
        kernel_init: object = nn.initializers.lecun_normal()

        @nn.compact
        def __call__(self, x):
            x = nn.relu(nn.Dense(self.width)(x))
            x = nn.relu(nn.Dense(self.width)(x))
            return nn.Dense(10, kernel_init=self.kernel_init)(x)

    x = jnp.ones((2, 8))
    params = Head(256).init(jax.random.key(0), x)["params"]
    base = jax.eval_shape(Head(32).init, jax.random.key(0), x)["params"]
    rescaled = jinit.mup.plan(params, base).rescale(params)
    init = jinit.mup.initializer("output", base_fan_in=32, distribution="truncated_normal")
    direct = Head(256, init).init(jax.random.key(0), x)["params"]
    for name in ("Dense_0", "Dense_1", "Dense_2"):
        assert np.allclose(direct[name]["kernel"], rescaled[name]["kernel"], rtol=1e-5,
                           atol=0), name
    # Negative control: the SP readout is sqrt(8) times larger and must not match.
    assert not np.allclose(params["Dense_2"]["kernel"], direct["Dense_2"]["kernel"], rtol=1e-2)


@pytest.mark.standard_promotion  # optax's adam
def test_transform_scales_adam_updates_by_table3():
    params, base = _linen(256)
    plan = jinit.mup.plan(params, base, optimizer="adam")
    grads = jax.tree.map(jnp.ones_like, params)
    plain = optax.adam(1e-2)
    mu = optax.chain(optax.adam(1e-2), plan.transform())
    u0, _ = plain.update(grads, plain.init(params), params)
    u1, _ = mu.update(grads, mu.init(params), params)
    for layer in TABLE3:
        name, key = layer.split("/")
        ratio = np.asarray(u1[name][key], np.float64) / np.asarray(u0[name][key], np.float64)
        assert np.allclose(ratio, TABLE3[layer][2], rtol=1e-6), layer


@pytest.mark.standard_promotion  # optax's adam
def test_transform_with_nnx_optimizer():
    class Net(nnx.Module):
        def __init__(self, width, rngs):
            self.inp = nnx.Linear(8, width, rngs=rngs)
            self.hid = nnx.Linear(width, width, rngs=rngs)
            self.out = nnx.Linear(width, 10, rngs=rngs)

        def __call__(self, x):
            return self.out(nnx.relu(self.hid(nnx.relu(self.inp(x)))))

    model = Net(256, nnx.Rngs(0))
    state = nnx.state(model, nnx.Param)
    base = nnx.state(nnx.eval_shape(lambda: Net(32, nnx.Rngs(0))), nnx.Param)
    plan = jinit.mup.plan(state, base, optimizer="adam")
    assert plan.roles["inp/kernel"] == "input" and plan.roles["out/kernel"] == "output"
    nnx.update(model, plan.rescale(state))
    before = {k: np.asarray(v) for k, v in
              (("hid", model.hid.kernel[...]), ("inp", model.inp.kernel[...]))}
    opt = nnx.Optimizer(model, optax.chain(optax.adam(1e-2), plan.transform()), wrt=nnx.Param)
    x = jax.random.normal(jax.random.key(1), (4, 8))
    grads = nnx.grad(lambda m: jnp.sum(m(x) ** 2))(model)
    opt.update(model, grads)
    # Adam's first step moves each entry by lr * g / (|g| + eps) = lr (for |g| >> eps).
    step_hid = np.abs(np.asarray(model.hid.kernel[...]) - before["hid"])
    step_inp = np.abs(np.asarray(model.inp.kernel[...]) - before["inp"])
    assert np.isclose(np.max(step_hid), 1e-2 / M, rtol=1e-3)
    assert np.isclose(np.max(step_inp), 1e-2, rtol=1e-3)


def test_output_initializer_variance_and_negative_control():
    n, out, base, k = 256, 16, 64, 64
    init = jinit.mup.initializer("output", base_fan_in=base)
    w = jax.vmap(lambda kk: init(kk, (n, out)))(jax.random.split(jax.random.key(3), k))
    x = S.as_f64(w)
    sigma = math.sqrt(base / n**2)          # Var = s * n0 / n^2, s = 1
    assert S.var_ok(x, S.normal(sigma)) and S.mean_ok(x, S.normal(sigma))
    assert not S.var_ok(x, S.normal(math.sqrt(1 / n)))   # SP variance must be rejected
    assert not S.var_ok(x, S.normal(sigma * 1.02))


def test_input_and_hidden_initializers_are_fan_in_variance_scaling():
    for role in ("input", "hidden"):
        a = jinit.mup.initializer(role, scale=2.0)(jax.random.key(4), (64, 32))
        b = jinit.variance_scaling(2.0, "fan_in", "normal")(jax.random.key(4), (64, 32))
        assert np.array_equal(a, b)


def test_attention_scale():
    assert jinit.mup.attention_scale(64) == 1 / 64
    assert math.isclose(jinit.mup.attention_scale(64, base_head_dim=64), 1 / math.sqrt(64))
    assert math.isclose(jinit.mup.attention_scale(256, base_head_dim=64), 8 / 256)


def test_errors():
    params, base = _linen(256)
    with pytest.raises(ValueError, match=r"mup.plan\(\): optimizer='adamw' is not valid; "
                                         r"expected one of 'adam', 'sgd'"):
        jinit.mup.plan(params, base, optimizer="adamw")
    with pytest.raises(ValueError, match=r"roles\['Dense_1'\]='middle' is not valid"):
        jinit.mup.plan(params, base, roles={"Dense_1": "middle"})
    with pytest.raises(TypeError, match=r"width=None is missing"):
        jinit.mup.plan(params, 32)
    with pytest.raises(ValueError, match=r"gives no role for 'Dense_0/kernel'"):
        jinit.mup.plan(params, 32, width=256)
    with pytest.raises(ValueError, match=r"mup.plan\(\): base='<1 leaves>' does not match params: "
                                         r"first path only in params: 'Dense_0/bias'; first "
                                         r"path only in base: 'other'; expected"):
        jinit.mup.plan(params, {"other": jnp.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"mup.initializer\(\): base_fan_in=None is missing"):
        jinit.mup.initializer("output")
    with pytest.raises(ValueError, match=r"role='bias' is not valid"):
        jinit.mup.initializer("bias")
    with pytest.raises(ValueError, match=r"head_dim=0 is out of range"):
        jinit.mup.attention_scale(0)
    plan = jinit.mup.plan(params, base)
    with pytest.raises(TypeError, match=r"mup.plan\(\): width=None is missing"):
        jinit.mup.plan(params, 32.0)
    with pytest.raises(KeyError, match=r"params='params/Dense_0/bias' names a parameter"):
        plan.transform().init({"params": params})


@pytest.mark.standard_promotion  # optax's adam
def test_coord_check_mup_flat_sp_grows(tmp_path):
    # Widths 64..1024, 4 Adam steps, 8 seeds: the fitted log-log slope of the last step's
    # update size must satisfy |slope| <= 0.15 for every μP layer and slope >= 0.5 for every
    # SP layer after the first. Why these thresholds: to leading order an Adam step moves
    # each entry by Theta(lr), so in SP a layer whose fan-in is the width changes its output
    # by Theta(width * lr) (slope 1), and μP's 1/m_in learning rates cancel that (slope 0).
    # Measured (seed 0): μP |slope| <= 0.05; SP 0.66 (h2, where the width-independent
    # first-layer update still weighs at width 64), 1.11 (h3), 1.76 (logits, growth compounded
    # over 4 steps). 0.15 is a 1.5x drift over the 16x range of widths; 0.5 is half the
    # leading-order SP slope, a 4x growth.
    r = coord_check()
    assert r.widths == (64, 128, 256, 512, 1024)
    assert np.all(np.abs(r.slopes["mup"]) <= 0.15), r.table()
    assert np.all(r.slopes["sp"][1:] >= 0.5), r.table()
    assert r.passed and r.mup_flat and r.sp_grows
    # Negative control: the same thresholds reject SP as flat.
    assert not np.all(np.abs(r.slopes["sp"]) <= 0.15)
    # At the base width μP and SP are the same model, step for step.
    assert np.allclose(r.deltas["mup"][0], r.deltas["sp"][0], rtol=1e-5)
    assert r.to_json()["passed"] is True and "logits" in r.table()
    path = tmp_path / "coord.png"
    plot_coord_check(r, str(path))
    assert path.stat().st_size > 0


def test_coord_check_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"coord_check\(\): widths=\(64,\) has fewer than 2"):
        coord_check(widths=(64,))
    with pytest.raises(ValueError, match=r"parametrizations='ntk' is not valid"):
        coord_check(parametrizations=("ntk",))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


@pytest.mark.standard_promotion  # optax's adam
def test_mup_transfer_example_smoke(tmp_path, capsys):
    example = _load("mup_transfer")
    out = example.main(["--widths", "16", "32", "--log2-lrs", "-8", "-5", "--steps", "12",
                        "--batch", "8", "--samples", "64", "--plot", str(tmp_path / "t.png")])
    assert set(out["best_log2_lr"]) == {(p, w) for p in ("sp", "mup") for w in (16, 32)}
    assert (tmp_path / "t.png").stat().st_size > 0
    assert "best log2 lr" in capsys.readouterr().out


def test_plan_names_an_extra_or_missing_top_level():
    # The full linen `variables` as base, `variables["params"]` as params: the message says
    # the base has an extra "params/" level (and the reverse names the missing one).
    x = jnp.ones((2, 8))
    variables = MLP(256).init(jax.random.key(0), x)
    base_vars = jax.eval_shape(MLP(32).init, jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"^mup.plan\(\): base='params/...' has an extra top "
                                         r"level 'params/' compared with params; expected a base "
                                         r"tree with the same paths as params. "
                                         r"Pass base\['params'\].$"):
        jinit.mup.plan(variables["params"], base_vars)
    with pytest.raises(ValueError, match=r"base='params/...' has a missing top level 'params/' "
                                         r".* Pass params\['params'\]"):
        jinit.mup.plan(variables, base_vars["params"])
    # Same paths but one renamed leaf: the first differing path on each side.
    other = dict(base_vars["params"])
    other["Head"] = other.pop("Dense_2")
    with pytest.raises(ValueError, match=r"first path only in params: 'Dense_2/bias'; first path "
                                         r"only in base: 'Head/bias'"):
        jinit.mup.plan(variables["params"], other)


def test_roles_rule_that_matches_nothing_warns():
    params, base = _linen(256)
    with pytest.warns(jinit.tree.UnmatchedRuleWarning, match=r"mup.plan\(\): roles='Dense_9' "
                                                              r"has a pattern that matched no leaf"):
        jinit.mup.plan(params, base, roles={"Dense_9": "hidden"})


# ------------------------------------------------------------------ depth: CompleteP, depth-μP
# Expected factors written from the papers' tables, m_L = L / L_0 = 16 / 4 = 4, inside blocks:
#   branch multiplier m_L^-alpha; Adam lr m_L^(alpha-1); SGD lr m_L^(2 alpha-1); Adam eps
#   m_L^-alpha; init x1. CompleteP (alpha=1): 1/4, 1, 4, 1/4. depth-μP (alpha=1/2): 1/2, 1/2, 1, 1/2.
DEPTH = {1.0: {"branch": 0.25, "adam": 1.0, "sgd": 4.0, "eps": 0.25},
         0.5: {"branch": 0.5, "adam": 0.5, "sgd": 1.0, "eps": 0.5}}


def _blocks_tree(n_blocks, width=64):
    z = jax.ShapeDtypeStruct
    return {"embed": z((8, width), jnp.float32),
            "layers": [{"w": z((width, width), jnp.float32), "b": z((width,), jnp.float32)}
                       for _ in range(n_blocks)],
            "head": z((width, 10), jnp.float32)}


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_depth_plan_factors_from_a_base_with_fewer_blocks(alpha):
    tree, base = _blocks_tree(16), _blocks_tree(4)
    want = DEPTH[alpha]
    adam = jinit.mup.plan(tree, base, alpha=alpha, optimizer="adam")
    sgd = jinit.mup.plan(tree, base, alpha=alpha, optimizer="sgd")
    assert (adam.depth, adam.base_depth) == (16, 4)
    assert math.isclose(adam.branch_multiplier, want["branch"])
    for name in ("layers/0/w", "layers/15/w", "layers/7/b"):
        assert adam.blocks[name], name
        assert math.isclose(adam.lr_multipliers[name], want["adam"]), name
        assert math.isclose(sgd.lr_multipliers[name], want["sgd"]), name
        assert math.isclose(adam.eps_multipliers[name], want["eps"]), name
        assert adam.init_multipliers[name] == 1.0
    for name in ("embed", "head"):
        assert not adam.blocks[name]
        assert adam.lr_multipliers[name] == sgd.lr_multipliers[name] == 1.0
        assert adam.eps_multipliers[name] == 1.0
    # The same from numbers: base_depth and depth given, a base width.
    by_number = jinit.mup.plan(tree, 64, width=64, depth=16, base_depth=4, alpha=alpha,
                               roles={"embed": "input", "layers/.*/w": "hidden", "head": "output"})
    assert by_number.lr_multipliers == adam.lr_multipliers
    # At the base depth every factor is 1 (depth-μP equals SP there).
    at_base = jinit.mup.plan(base, base, alpha=alpha)
    assert at_base.branch_multiplier == 1.0
    assert set(at_base.lr_multipliers.values()) == {1.0}


def test_depth_and_width_factors_multiply():
    tree, base = _blocks_tree(16, width=256), _blocks_tree(4, width=64)
    p = jinit.mup.plan(tree, base, alpha=0.5, optimizer="adam")
    # hidden Adam: width 1/m = 1/4, depth m_L^(-1/2) = 1/2; eps: width 1/4, depth 1/2.
    assert p.roles["layers/3/w"] == "hidden"
    assert math.isclose(p.lr_multipliers["layers/3/w"], 1 / 8)
    assert math.isclose(p.eps_multipliers["layers/3/w"], 1 / 8)
    # Decay per step lr * lr_mult * decay_mult keeps the depth factor only (CompleteP).
    assert math.isclose(p.lr_multipliers["layers/3/w"] * p.decay_multipliers["layers/3/w"], 0.5)
    assert p.roles["head"] == "output" and math.isclose(p.lr_multipliers["head"], 1 / 4)


def test_blocks_found_in_linen_names_and_stacked_axes():
    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            return x + nn.Dense(x.shape[-1])(nn.relu(nn.Dense(x.shape[-1])(x)))

    class Net(nn.Module):
        depth: int

        @nn.compact
        def __call__(self, x):
            x = nn.Dense(32)(x)
            for _ in range(self.depth):
                x = Block()(x)
            return nn.Dense(4)(x)

    x = jnp.ones((2, 8))
    tree = jax.eval_shape(Net(8).init, jax.random.key(0), x)["params"]
    base = jax.eval_shape(Net(2).init, jax.random.key(0), x)["params"]
    p = jinit.mup.plan(tree, base, alpha=1.0)
    assert p.blocks["Block_5/Dense_1/kernel"] and not p.blocks["Dense_0/kernel"]
    assert (p.depth, p.base_depth, p.branch_multiplier) == (8, 2, 0.25)
    # A plain MLP's Dense_1/kernel is not a block: alpha finds none and says so.
    params, mbase = _linen(64)
    with pytest.raises(ValueError, match=r"mup.plan\(\): alpha=1.0 needs residual blocks, and "
                                         r"none were found"):
        jinit.mup.plan(params, mbase, alpha=1.0)
    # Scanned blocks: a leading axis of L; fans exclude it (width 4x, depth 4x).
    z = jax.ShapeDtypeStruct
    stacked = {"emb": z((8, 256), jnp.float32), "blocks": {"w": z((16, 256, 256), jnp.float32)}}
    sbase = {"emb": z((8, 64), jnp.float32), "blocks": {"w": z((4, 64, 64), jnp.float32)}}
    q = jinit.mup.plan(stacked, sbase, alpha=1.0, depth=16, base_depth=4)
    assert q.blocks["blocks/w"] and q.roles["blocks/w"] == "hidden"
    assert math.isclose(q.lr_multipliers["blocks/w"], 1 / 4) and q.branch_multiplier == 0.25
    # roles= overrides: the first block kept out of the depth rules.
    r = jinit.mup.plan(_blocks_tree(16), _blocks_tree(4), alpha=1.0, roles={"layers/0/": "trunk"})
    assert not r.blocks["layers/0/w"] and r.blocks["layers/1/w"]
    with pytest.raises(ValueError, match=r"mup.plan\(\): alpha=0.7 is not valid; expected 0.5 "):
        jinit.mup.plan(_blocks_tree(16), _blocks_tree(4), alpha=0.7)


@pytest.mark.standard_promotion  # optax's adam
def test_scale_eps_is_adam_with_a_per_parameter_epsilon():
    plan = jinit.mup.plan(_blocks_tree(16), _blocks_tree(4), alpha=1.0)
    params = jax.tree.map(lambda s: jnp.zeros(s.shape), _blocks_tree(16))
    grads = jax.tree.map(lambda p: jnp.full(p.shape, 1e-3), params)
    eps = 1e-3                             # comparable to the gradient, so epsilon matters
    tx = optax.chain(plan.scale_eps(), optax.adam(1e-2, eps=eps))
    u, _ = tx.update(grads, tx.init(params), params)
    for name, leaf in (("layers/4/w", u["layers"][4]["w"]), ("embed", u["embed"])):
        ref = optax.adam(1e-2, eps=eps * plan.eps_multipliers[name])
        want, _ = ref.update(grads["embed"] if name == "embed" else grads["layers"][4]["w"],
                             ref.init(leaf), leaf)
        assert np.allclose(leaf, want, rtol=1e-6), name
    # Negative control: without scale_eps the block update differs (eps 4x larger relative).
    plain, _ = optax.adam(1e-2, eps=eps).update(grads, optax.adam(1e-2).init(params), params)
    assert not np.allclose(plain["layers"][4]["w"], u["layers"][4]["w"], rtol=1e-3)


def test_add_decayed_weights_uses_the_decay_multipliers():
    plan = jinit.mup.plan(_blocks_tree(16, 256), _blocks_tree(4, 64), alpha=1.0)
    params = jax.tree.map(lambda s: jnp.ones(s.shape), _blocks_tree(16, 256))
    zeros = jax.tree.map(jnp.zeros_like, params)
    u, _ = plan.add_decayed_weights(0.1).update(zeros, None, params)
    assert np.allclose(u["layers"][2]["w"], 0.1 * 4.0)      # 1 / (width lr factor 1/4)
    assert np.allclose(u["embed"], 0.1)


def test_unit_helpers_scales():
    from jinit.mup import unit

    # Appendix G, one kind of layer: the branches together contribute mult^2 of the embedding.
    taus = unit.residual_taus(8, mult=0.5)
    var, total = 1.0, 0.0
    for t in taus:   # unnormalized stream: x + a f with a_l = tau_l * sqrt(1 + sum a^2 so far)
        a = t * math.sqrt(var)
        total += a * a
        var += a * a
    assert math.isclose(total, 0.25, rel_tol=1e-12)
    # Reference rule at 1 layer: tau = alpha / sqrt(1 + a alpha_attn^2 + b alpha_mlp^2).
    assert unit.transformer_taus(1) == pytest.approx([1.0, 2 ** -0.5])
    # Gradients of the residual pair are the true gradients of the forward.
    f = lambda x: unit.residual_apply(jnp.sin, x, 0.7)  # noqa: E731
    g = lambda x: (x + 0.7 * jnp.sin(x)) / math.sqrt(1 + 0.49)  # noqa: E731
    x = jnp.linspace(-1, 1, 5)
    assert np.allclose(jax.grad(lambda v: f(v).sum())(x), jax.grad(lambda v: g(v).sum())(x))
    p = unit.plan({"emb": jnp.zeros((100, 64)), "out": jnp.zeros((64, 100))},
                  roles={"emb": "embedding", "out": "output"}, optimizer="adam")
    assert p.lr_multipliers == {"emb": 1 / 8, "out": 1.0}
    with pytest.raises(ValueError, match=r"mup.unit.plan\(\): roles\['emb'\]='input' is not valid"):
        unit.plan({"emb": jnp.zeros((4, 4))}, roles={"emb": "input"})
    dense = unit.Dense(16)
    y, _ = dense.init_with_output(jax.random.key(0), jnp.ones((4, 256), jnp.bfloat16))
    assert y.dtype == jnp.bfloat16 and y.shape == (4, 16)


@pytest.mark.standard_promotion  # jax.nn.dot_product_attention in bfloat16
def test_unit_attention_output_has_unit_rms():
    # Unit q, k, v of head_dim 64 give near-uniform attention; the output is a mean of s
    # values (RMS s^-1/2), which u-μP's scale (~sqrt(s) here) brings back to 1.
    from jinit.mup import unit

    s = 256
    q, k, v = jax.random.normal(jax.random.key(7), (3, 4, s, 2, 64), jnp.float32)
    out = unit.attention(q.astype(jnp.bfloat16), k.astype(jnp.bfloat16), v.astype(jnp.bfloat16))
    rms = float(jnp.sqrt(jnp.mean(jnp.square(out.astype(jnp.float32)))))
    assert 0.8 < rms < 1.25, rms
    plain = jax.nn.dot_product_attention(q, k, v, scale=1 / 64)   # negative control
    assert float(jnp.sqrt(jnp.mean(jnp.square(plain)))) < 0.2
    gv = jax.grad(lambda t: jnp.sum(unit.attention(q, k, t) * v))(v)
    assert 0.5 < float(jnp.sqrt(jnp.mean(jnp.square(gv)))) < 2.0


# ---------------------------------------------------------------- Flax attention layouts


class _AttnBlock(nn.Module):
    """Embedding, self-attention (nn.SelfAttention), cross-attention against the embedding
    (nn.MultiHeadDotProductAttention) and a readout; heads fixed, head_dim = width / heads."""
    width: int
    heads: int = 4
    vocab: int = 32

    @nn.compact
    def __call__(self, tokens):
        x = nn.Embed(self.vocab, self.width, name="embed")(tokens)
        x = x + nn.SelfAttention(num_heads=self.heads, name="self_attn")(x)
        x = x + nn.MultiHeadDotProductAttention(num_heads=self.heads, name="cross")(x, x)
        return nn.Dense(self.vocab, name="head")(x)


def _attn_params(width):
    model = _AttnBlock(width)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 5), jnp.int32)))


def _hand_multipliers(width, base, optimizer):
    """Table 3 by hand: q/k/v kernels (d, h, hd) have fan-in d and fan-out h·hd = d, the out
    kernel (h, hd, d) fan-in h·hd = d and fan-out d, so both fans grow by r = width / base:
    hidden. SGD: hidden η·m_out/m_in = 1, biases (q/k/v (h, hd) and out (d,)) η·m_out = r,
    embedding (input) r, readout 1/r; Adam: hidden and readout 1/r, the rest 1."""
    r = width / base
    out = {}
    for name in ("self_attn", "cross"):
        for proj in ("query", "key", "value", "out"):
            out[f"params/{name}/{proj}/kernel"] = 1.0 if optimizer == "sgd" else 1 / r
            out[f"params/{name}/{proj}/bias"] = r if optimizer == "sgd" else 1.0
    out["params/embed/embedding"] = r if optimizer == "sgd" else 1.0
    out["params/head/kernel"] = 1 / r
    out["params/head/bias"] = 1.0  # the readout bias: fan-out is the vocabulary, fixed
    return out


@pytest.mark.filterwarnings("ignore:SelfAttention will be deprecated:DeprecationWarning")
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_plan_flax_attention_multipliers_match_hand_computed(optimizer):
    params, base = _attn_params(64), _attn_params(16)
    assert params["params"]["self_attn"]["query"]["kernel"].shape == (64, 4, 16)
    assert params["params"]["cross"]["out"]["kernel"].shape == (4, 16, 64)
    plan = jinit.mup.plan(params, base, optimizer=optimizer)
    expected = _hand_multipliers(64, 16, optimizer)
    assert set(plan.lr_multipliers) == set(expected)
    for name, value in expected.items():
        assert math.isclose(plan.lr_multipliers[name], value), (name, plan.lr_multipliers[name])
    roles = plan.roles
    assert {roles[f"params/cross/{p}/kernel"] for p in ("query", "key", "value", "out")} == {"hidden"}
    assert roles["params/cross/query/bias"] == "bias" and roles["params/head/kernel"] == "output"
    leaf = plan.leaves["params/self_attn/out/kernel"]
    assert (leaf.m_in, leaf.m_out) == (4.0, 4.0)


@pytest.mark.filterwarnings("ignore:SelfAttention will be deprecated:DeprecationWarning")
def test_plan_flax_attention_last_two_axes_is_the_wrong_multiplier():
    """Negative control: the fans of the last two axes (compute_fans' default, forced with a
    fan_axes rule) give the q/k/v kernels an SGD multiplier of the width ratio, not 1."""
    params, base = _attn_params(64), _attn_params(32)
    plan = jinit.mup.plan(params, base, optimizer="sgd",
                          fan_axes={r"(query|key|value|out)/kernel$": (-2, -1)})
    assert plan.lr_multipliers["params/self_attn/query/kernel"] == 2.0
    assert plan.lr_multipliers["params/self_attn/query/kernel"] != _hand_multipliers(
        64, 32, "sgd")["params/self_attn/query/kernel"]


def test_plan_nnx_attention_layout_is_guessed_too():
    def state(width):
        model = nnx.eval_shape(lambda: nnx.MultiHeadAttention(
            num_heads=4, in_features=width, decode=False, rngs=nnx.Rngs(0)))
        return nnx.state(model, nnx.Param)

    plan = jinit.mup.plan(state(64), state(32), optimizer="sgd")
    lr = plan.lr_multipliers
    assert [lr[f"{p}/kernel"] for p in ("query", "key", "value", "out")] == [1.0] * 4
    assert [lr[f"{p}/bias"] for p in ("query", "key", "value", "out")] == [2.0] * 4
