"""jinit.structure: fans, roles and layouts read from the model's own computation.

Every expected number below is computed by hand from the layer's definition (the einsum
string, the kernel layout, the config), never read back from jinit.
"""

import math
import subprocess
import sys
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
import jinit.nnx
from jinit import structure

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

SDS = jax.ShapeDtypeStruct
F32 = jnp.float32


def _fans(u):
    return (u.fan_in, u.fan_out)


# ----------------------------------------------------------------- linen layouts


def test_dense_fans_and_after():
    model = nn.Sequential([nn.Dense(64), nn.relu, nn.Dense(10)])
    s = structure.trace(model, jnp.zeros((4, 32)))
    u = s["params/layers_0/kernel"]
    assert (u.op, _fans(u), u.in_axes, u.out_axes, u.batch_axes) == (
        "dot_general", (32.0, 64.0), (0,), (1,), ())
    assert u.after.name == "relu" and u.source == "trace"
    assert s["params/layers_0/bias"].op == "shift"
    assert s["params/layers_2/kernel"].after.name == "identity"


def test_multi_head_attention_in_and_out_projections():
    d, heads, qkv = 48, 4, 32  # head_dim = qkv / heads = 8
    model = nn.MultiHeadDotProductAttention(num_heads=heads, qkv_features=qkv)
    x = jnp.zeros((2, 5, d))
    s = structure.trace(model, x, x)
    for name in ("query", "key", "value"):
        u = s[f"params/{name}/kernel"]  # (d, heads, head_dim): BTD,DNH->BTNH
        assert u.shape == (d, heads, qkv // heads)
        assert (u.in_axes, u.out_axes, _fans(u)) == ((0,), (1, 2), (48.0, 32.0))
        assert u.expressible
    u = s["params/out/kernel"]  # (heads, head_dim, d): BTNH,NHD->BTD
    assert (u.in_axes, u.out_axes, _fans(u)) == ((0, 1), (2,), (32.0, 48.0))
    # the query is divided by sqrt(head_dim) before the logits
    assert s["params/query/kernel"].after.name == f"{1 / math.sqrt(8):.6g}*x"


def test_conv_grouped_and_transposed():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(16, (3, 3))(x)                          # (3, 3, 8, 16)
            x = nn.Conv(32, (5, 5), feature_group_count=4)(x)   # (5, 5, 16/4, 32)
            return nn.ConvTranspose(6, (4, 4), strides=(2, 2))(x)  # (4, 4, 32, 6)

    s = structure.trace(Net(), jnp.zeros((1, 12, 12, 8)))
    u = s["params/Conv_0/kernel"]
    assert (u.op, _fans(u), u.receptive, u.in_axes, u.out_axes) == (
        "conv", (72.0, 144.0), 9, (2,), (3,))
    u = s["params/Conv_1/kernel"]
    assert (u.shape, _fans(u), u.receptive) == ((5, 5, 4, 32), (100.0, 800.0), 25)
    u = s["params/ConvTranspose_0/kernel"]
    assert (u.op, _fans(u), u.in_axes, u.out_axes) == ("conv", (512.0, 96.0), (2,), (3,))


def test_embed_and_attend_are_one_tied_matrix():
    class LM(nn.Module):
        @nn.compact
        def __call__(self, ids):
            embed = nn.Embed(100, 24)
            return embed.attend(nn.Dense(24)(embed(ids)))

    s = structure.trace(LM(), jnp.zeros((2, 7), jnp.int32))
    u = s["params/Embed_0/embedding"]
    assert (u.op, _fans(u), u.in_axes, u.out_axes) == ("gather", (100.0, 24.0), (0,), (1,))
    assert len(u.uses) == 2 and [t.op for t in u.tied] == ["dot_general"]
    head = u.tied[0]  # x @ E.T: contracts the feature axis, outputs the vocabulary
    assert (head.in_axes, head.out_axes, _fans(head)) == ((1,), (0,), (24.0, 100.0))
    assert s["params/Dense_0/kernel"].tied == ()


def test_scanned_stack_has_a_batch_axis_and_per_layer_fans():
    class Layer(nn.Module):
        @nn.compact
        def __call__(self, c, _):
            return c + nn.Dense(16)(nn.relu(nn.Dense(64)(c))), None

    class Stack(nn.Module):
        @nn.compact
        def __call__(self, x):
            scan = nn.scan(Layer, variable_axes={"params": 0}, split_rngs={"params": True},
                           length=3)
            return scan()(x, None)[0]

    s = structure.trace(Stack(), jnp.zeros((2, 16)))
    down = s["params/ScanLayer_0/Dense_0/kernel"]  # Flax numbers modules as constructed
    up = s["params/ScanLayer_0/Dense_1/kernel"]
    assert (up.shape, up.batch_axes, up.in_axes, up.out_axes, _fans(up)) == (
        (3, 16, 64), (0,), (1,), (2,), (16.0, 64.0))
    assert (down.shape, _fans(down), up.after.name) == ((3, 64, 16), (64.0, 16.0), "relu")
    assert up.residual and down.residual and up.stream == down.stream == 0
    assert up.expressible and jinit.compute_fans(up.shape, **up.axes) == (16.0, 64.0)


# -------------------------------------------------------------------- nnx layouts


def test_nnx_linear_and_einsum_strings():
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.q = nnx.Einsum("BTD,NDH->BTNH", (4, 32, 8), rngs=rngs)
            self.o = nnx.Einsum("BTNH,NHD->BTD", (4, 8, 32), rngs=rngs)
            self.f = nnx.Einsum("...d,df->...f", (32, 64), rngs=rngs)
            self.lin = nnx.Linear(64, 10, rngs=rngs)

        def __call__(self, x):
            return self.lin(jnp.tanh(self.f(self.o(self.q(x)))))

    abstract = nnx.eval_shape(lambda: Net(nnx.Rngs(0)))
    s = structure.trace(abstract, SDS((2, 5, 32), F32))
    q, o, f, lin = (s[p] for p in ("q/kernel", "o/kernel", "f/kernel", "lin/kernel"))
    assert (q.in_axes, q.out_axes, _fans(q)) == ((1,), (0, 2), (32.0, 32.0))
    assert (o.in_axes, o.out_axes, _fans(o)) == ((0, 1), (2,), (32.0, 32.0))
    assert (f.in_axes, f.out_axes, _fans(f), f.after.name) == ((0,), (1,), (32.0, 64.0), "tanh")
    assert (lin.in_axes, lin.out_axes, _fans(lin)) == ((0,), (1,), (64.0, 10.0))


def test_nnx_vmapped_experts_share_a_batch_axis():
    def experts(p, x):  # E experts, each (D, F): x of shape (E, B, D)
        return jnp.einsum("ebd,edf->ebf", x, p["w"])

    s = structure.trace(experts, SDS((4, 3, 16), F32), params={"w": SDS((4, 16, 24), F32)})
    u = s["w"]
    assert (u.batch_axes, u.in_axes, u.out_axes, _fans(u)) == ((0,), (1,), (2,), (16.0, 24.0))


# --------------------------------------------------------------- function models


def test_function_with_lax_scan_fori_loop_and_remat():
    def fn(p, x):
        def body(c, w):
            return jax.checkpoint(lambda c: c + jax.nn.relu(c @ w))(c), None

        x, _ = jax.lax.scan(body, x, p["stack"])
        x = jax.lax.fori_loop(0, 2, lambda i, c: jnp.tanh(c @ p["loop"][i]), x)
        return x @ p["head"]

    params = {"stack": SDS((5, 8, 8), F32), "loop": SDS((2, 8, 8), F32),
              "head": SDS((8, 3), F32)}
    s = structure.trace(fn, SDS((4, 8), F32), params=params)
    assert (s["stack"].batch_axes, _fans(s["stack"]), s["stack"].after.name) == (
        (0,), (8.0, 8.0), "relu")
    assert s["stack"].residual
    assert (s["loop"].batch_axes, _fans(s["loop"]), s["loop"].after.name) == (
        (0,), (8.0, 8.0), "tanh")
    assert _fans(s["head"]) == (8.0, 3.0) and not s["head"].residual


def test_custom_vjp_and_bf16_casts_are_followed():
    @jax.custom_vjp
    def mm(x, w):
        return x @ w

    mm.defvjp(lambda x, w: (x @ w, (x, w)), lambda r, g: (g @ r[1].T, r[0].T @ g))

    def fn(p, x):
        return mm(x.astype(jnp.bfloat16), p["w"].astype(jnp.bfloat16).reshape(6, 20))

    s = structure.trace(fn, SDS((2, 6), F32), params={"w": SDS((2, 3, 20), F32)})
    u = s["w"]  # (2, 3, 20) reshaped to (6, 20): the first two axes are contracted
    assert (u.in_axes, u.out_axes, _fans(u)) == ((0, 1), (2,), (6.0, 20.0))


def test_offset_for_one_plus_scale_rmsnorm():
    def rmsnorm(p, x):
        x = x * jax.lax.rsqrt(jnp.mean(x * x, -1, keepdims=True) + 1e-6)
        return (x * (1 + p["scale"])) @ p["w"]

    params = {"scale": SDS((16,), F32), "w": SDS((16, 4), F32)}
    s = structure.trace(rmsnorm, SDS((3, 16), F32), params=params)
    assert (s["scale"].op, s["scale"].offset) == ("scale", 1.0)
    assert s["w"].offset == 0.0


def test_residual_on_a_pre_ln_block_and_not_elsewhere():
    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = x + nn.Dense(16)(nn.gelu(nn.Dense(64)(nn.LayerNorm()(x))))
            x = x + nn.Dense(16)(nn.LayerNorm()(x))
            return nn.Dense(5)(nn.LayerNorm()(x))

    s = structure.trace(Block(), jnp.zeros((2, 16)))
    for p in ("Dense_0", "Dense_1", "Dense_2", "LayerNorm_0", "LayerNorm_1"):
        assert s[f"params/{p}/kernel" if p.startswith("Dense") else f"params/{p}/scale"].residual
    assert s["params/Dense_0/kernel"].stream == s["params/Dense_2/kernel"].stream == 0
    assert not s["params/Dense_3/kernel"].residual
    assert not s["params/LayerNorm_2/scale"].residual


def test_plain_mlp_has_no_residual():
    model = nn.Sequential([nn.Dense(8), nn.tanh, nn.Dense(8)])
    s = structure.trace(model, jnp.zeros((1, 8)))
    assert not any(u.residual for u in s.values())


@pytest.mark.parametrize("act,name", [
    (jax.nn.relu, "relu"),
    (lambda x: jax.nn.gelu(x, approximate=False), "gelu"),
    (jax.nn.gelu, "gelu_tanh"),
    (jnp.tanh, "tanh"),
    (jax.nn.silu, "silu"),
    (lambda x: x * jax.nn.sigmoid(1.702 * x), "x*sigmoid(1.702x)"),
])
def test_after_is_named_and_its_gain_is_the_named_gain(act, name):
    def fn(p, x):
        return act(x @ p["w"] + p["b"]) @ p["v"]

    params = {"w": SDS((8, 32), F32), "b": SDS((32,), F32), "v": SDS((32, 2), F32)}
    after = structure.trace(fn, SDS((4, 8), F32), params=params)["w"].after
    assert after.name == name
    if name == "x*sigmoid(1.702x)":
        reference = jinit.gain(lambda x: x * jax.nn.sigmoid(1.702 * x))
    else:
        reference = jinit.gain(name)
    # the model computes in float32 constants (0.044715 rounds to 0.044714998...)
    assert jinit.gain(after) == pytest.approx(reference, rel=1e-7)


def test_after_of_an_unknown_chain_is_custom_and_still_a_function():
    def fn(p, x):
        return jnp.sin(x @ p["w"]) ** 2 @ p["v"]

    params = {"w": SDS((4, 6), F32), "v": SDS((6, 1), F32)}
    after = structure.trace(fn, SDS((2, 4), F32), params=params)["w"].after
    assert after.name.startswith("custom(") and "sin" in after.name
    z = jnp.linspace(-2, 2, 9)
    np.testing.assert_allclose(after(z), jnp.sin(z) ** 2, rtol=1e-6)


def test_unused_and_table():
    def fn(p, x):
        return x @ p["w"]

    s = structure.trace(fn, SDS((2, 4), F32), params={"w": SDS((4, 3), F32),
                                                       "spare": SDS((3,), F32)})
    assert s["spare"].op == "unused"
    text = str(s)
    assert text.splitlines()[0].split()[:5] == ["path", "shape", "op", "fan_in", "fan_out"]
    assert "4x3" in text and "dot_general" in text
    assert repr(s).startswith("<jinit.structure.Structure of fn")


def test_from_shape_is_todays_guess_marked_as_such():
    u = structure.Use.from_shape((3, 3, 16, 32))
    assert (u.op, _fans(u), u.receptive, u.source) == ("conv", (144.0, 288.0), 9, "shape")
    u = structure.Use.from_shape((64, 16), layout="torch")
    assert (u.in_axes, u.out_axes, _fans(u)) == ((1,), (0,), (16.0, 64.0))
    assert structure.Use.from_shape((16,)).fan_in is None
    with pytest.raises(ValueError, match=r"layout='oihw' is not valid"):
        structure.Use.from_shape((2, 2), layout="oihw")


# ------------------------------------------------------------------------- errors


def test_error_names_the_model_the_call_and_the_shapes():
    class Bad(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(4)(x) @ jnp.ones((5, 5))

    with pytest.raises(TypeError, match=r"structure.trace\(\): calling Bad.init/apply\(variables, "
                                        r"\.\.\.\) with args of shapes \(float32\[2, 3\]\) "
                                        r"failed: <TypeError: .*dot_general"):
        structure.trace(Bad(), jnp.zeros((2, 3)))


def test_unsupported_model_and_missing_params():
    with pytest.raises(TypeError, match=r"structure.trace\(\): model=3 is not a model jinit "
                                        r"can trace"):
        structure.trace(3, jnp.zeros(2))
    with pytest.raises(TypeError, match=r"params=None is missing for the function"):
        structure.trace(lambda p, x: x, jnp.zeros(2))


def test_structure_argument_is_checked():
    shapes = {"w": SDS((4, 4), F32)}
    with pytest.raises(TypeError, match=r"init_tree\(\): structure=\{\} is not a "
                                        r"jinit.structure.Structure"):
        jinit.tree.init_tree(jax.random.key(0), shapes, {"w": jinit.he_normal()}, structure={})


# ------------------------------------------------------------------- integration


def _attention():
    model = nn.MultiHeadDotProductAttention(num_heads=8, qkv_features=128)
    x = jnp.zeros((2, 6, 64))
    return model, x, jax.eval_shape(model.init, jax.random.key(0), x, x)


def test_xavier_on_flax_attention_under_structure_is_what_flax_draws():
    """Flax's DenseGeneral draws kernel_init on the flattened (in, out) shape and reshapes;
    with the traced axes jinit draws the 3-D shape directly, and partitionable threefry
    makes the bits the same (they depend only on the flat index)."""
    model, x, shapes = _attention()
    s = structure.trace(model, x, x)
    rules = {r"kernel$": jinit.xavier_uniform(), r"bias$": jinit.zeros}
    params = jinit.tree.init_tree(jax.random.key(1), shapes, rules, structure=s)
    for name, split in (("query", 1), ("out", 2)):
        k = params["params"][name]["kernel"]
        flat = (math.prod(k.shape[:split]), math.prod(k.shape[split:]))
        key = jinit.tree.leaf_key(jax.random.key(1), f"params/{name}/kernel")
        flax_draw = jax.nn.initializers.xavier_uniform()(key, flat).reshape(k.shape)
        assert bool((k == flax_draw).all()), name


def test_without_structure_rank3_kernels_warn_and_get_shape_fans():
    model, x, shapes = _attention()
    rules = {r"kernel$": jinit.xavier_uniform(), r"bias$": jinit.zeros}
    with pytest.warns(structure.AmbiguousFanWarning, match=r"params/query/kernel' \(64, 8, 16\)"):
        params = jinit.tree.init_tree(jax.random.key(1), shapes, rules)
    k = params["params"]["query"]["kernel"]
    # shape fans: in = 8 * 64, out = 16 * 64, bound sqrt(6 / (in + out)); traced: 64 and 128
    assert float(jnp.abs(k).max()) <= math.sqrt(6 / (8 * 64 + 16 * 64))
    s = structure.trace(model, x, x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        traced = jinit.tree.init_tree(jax.random.key(1), shapes, rules, structure=s)
    bound = math.sqrt(6 / (64 + 128))
    assert float(jnp.abs(traced["params"]["query"]["kernel"]).max()) > 0.99 * bound


def test_audit_with_structure_passes_correct_draws_and_flags_shape_fans():
    model, x, shapes = _attention()
    s = structure.trace(model, x, x)
    rules = {r"kernel$": jinit.xavier_uniform(), r"bias$": jinit.zeros}
    params = jinit.tree.init_tree(jax.random.key(1), shapes, rules, structure=s)
    assert jinit.audit.check(params, rules, structure=s).ok
    assert jinit.audit.check(params["params"], rules, structure=s).ok  # without 'params/'
    with pytest.warns(structure.AmbiguousFanWarning, match=r"audit\.check\(\).*query/kernel"):
        flagged = jinit.audit.check(params, rules).flagged  # negative control: shape fans
    assert {"params/query/kernel", "params/key/kernel", "params/value/kernel"} <= set(flagged)


def test_nnx_init_with_structure_gives_einsum_kernels_their_fans():
    class Attn(nnx.Module):
        def __init__(self, rngs):
            self.q = nnx.Einsum("BTD,NDH->BTNH", (16, 256, 64), rngs=rngs)

        def __call__(self, x):
            return self.q(x)

    abstract = nnx.eval_shape(lambda: Attn(nnx.Rngs(0)))
    s = structure.trace(abstract, SDS((1, 4, 256), F32))
    rules = {r"kernel$": jinit.lecun_normal()}
    m = jinit.nnx.init(abstract, rules, jax.random.key(0), structure=s)
    std = float(jnp.std(m.q.kernel[...]))
    # 262144 draws: the std's relative error is ~ 1/sqrt(2n) = 0.14%; 2% is > 10 sigma
    assert std == pytest.approx(1 / math.sqrt(256), rel=0.02)
    with pytest.warns(structure.AmbiguousFanWarning):
        shape_only = jinit.nnx.init(abstract, rules, jax.random.key(0))
    assert float(jnp.std(shape_only.q.kernel[...])) < 0.5 * std  # negative control


def test_explicit_axes_are_never_overridden():
    def fn(p, x):
        return jnp.einsum("btd,dnh->btnh", x, p["w"])

    s = structure.trace(fn, SDS((1, 2, 8), F32), params={"w": SDS((8, 4, 2), F32)})
    explicit = jinit.he_normal(in_axis=(0, 1), out_axis=2)
    assert structure.fit(explicit, s["w"]) is explicit
    fitted = structure.fit(jinit.he_normal(), s["w"])
    assert repr(fitted) == "jinit.he_normal(in_axis=(0,), out_axis=(1, 2), batch_axis=(), dtype=None)"
    assert structure.fit(jinit.normal(0.02), s["w"]) is not None


def test_import_jinit_does_not_import_flax():
    code = "import sys, jinit, jinit.structure; print('flax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------ equinox


def test_equinox_layers_and_custom_modules():
    eqx = pytest.importorskip("equinox")
    import jinit.equinox

    key = jax.random.key(0)

    class Net(eqx.Module):
        emb: eqx.nn.Embedding
        conv: eqx.nn.Conv2d
        mlp: eqx.nn.MLP
        w: jax.Array  # a custom (out, in) weight

        def __call__(self, ids):
            e = jax.vmap(self.emb)(ids)                    # (4, 12)
            c = self.conv(e.reshape(3, 4, 4))              # (4, 3, 2)
            h = self.mlp(c.reshape(-1)[:10])
            return self.w @ h

    k1, k2, k3 = jax.random.split(key, 3)
    net = Net(eqx.nn.Embedding(50, 12, key=k1), eqx.nn.Conv2d(3, 4, (2, 3), key=k2),
              eqx.nn.MLP(10, 6, 32, depth=2, key=k3), jnp.zeros((5, 6)))
    s = structure.trace(net, jnp.zeros((4,), jnp.int32))
    emb, conv = s["emb/weight"], s["conv/weight"]
    assert (emb.op, _fans(emb)) == ("gather", (50.0, 12.0))
    assert (conv.op, conv.in_axes, conv.out_axes, _fans(conv)) == (
        "conv", (1,), (0,), (3.0 * 6, 4.0 * 6))
    first = s["mlp/layers/0/weight"]  # Linear(10 -> 32), weight (32, 10)
    assert (first.in_axes, first.out_axes, _fans(first), first.after.name) == (
        (1,), (0,), (10.0, 32.0), "relu")
    assert (s["w"].in_axes, s["w"].out_axes, _fans(s["w"])) == ((1,), (0,), (6.0, 5.0))
    # equinox.init: the custom weight needs no axes under structure; the audit agrees
    rules = {r"weight$|^w$": jinit.he_normal(), r"bias$": jinit.zeros}
    new = jinit.equinox.init(net, rules, jax.random.key(1), structure=s)
    params = {p: u for p, u in s.items() if u.op != "unused"}
    assert new.w.shape == (5, 6)
    leaves = {jinit.tree.path_str(kp): x for kp, x in jax.tree_util.tree_flatten_with_path(new)[0]
              if eqx.is_inexact_array(x)}
    report = jinit.audit.check({p: leaves[p] for p in params}, rules, structure=s)
    assert report.ok, str(report)
    with pytest.raises(ValueError, match=r"is not in a layer whose layout jinit knows"):
        jinit.equinox.init(net, rules, jax.random.key(1))


def test_after_is_the_identity_when_a_norm_follows():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.relu(nn.LayerNorm()(nn.Dense(32)(x)))     # Dense_0: a norm after it
            return nn.Dense(4)(nn.relu(nn.Dense(32)(h)))     # Dense_2: relu after it

    s = structure.trace(Net(), jnp.zeros((2, 8)))
    assert s["params/Dense_0/kernel"].after.name == "identity"
    assert s["params/Dense_2/kernel"].after.name == "relu"
    assert s["params/LayerNorm_0/bias"].after.name == "relu"
