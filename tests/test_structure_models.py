"""jinit.structure on third-party model code: flaxmodels' ResNet-18 and GPT-2 block.

Needs the optional ``models`` extra (``pip install jinit[models]``: flaxmodels 0.1.3). Every
expected number is derived from the model's configuration, not read back from jinit.
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit import audit, recipes, structure

fm = pytest.importorskip("flaxmodels")


def test_resnet18_convolutions_dense_head_and_identity_shortcuts():
    classes = 10
    model = fm.ResNet18(pretrained=None, num_classes=classes, output="logits")
    s = structure.trace(model, jnp.zeros((1, 32, 32, 3)), train=False)
    stem = s["params/Conv_0/kernel"]  # 7x7 stem, 3 -> 64 channels
    assert (stem.op, stem.shape, stem.fan_in, stem.fan_out, stem.receptive) == (
        "conv", (7, 7, 3, 64), 7 * 7 * 3, 7 * 7 * 64, 49)
    # layer 2's first block: 3x3 convs 64 -> 128 -> 128 and a 1x1 projection shortcut
    assert (s["params/BasicBlock_2/Conv_0/kernel"].fan_in,
            s["params/BasicBlock_2/Conv_0/kernel"].fan_out) == (9 * 64, 9 * 128)
    proj = s["params/BasicBlock_2/Conv_2/kernel"]
    assert (proj.shape, proj.fan_in, proj.fan_out, proj.receptive) == ((1, 1, 64, 128), 64, 128, 1)
    head = s["params/Dense_0/kernel"]
    assert (head.op, head.fan_in, head.fan_out) == ("dot_general", 512, classes)
    # blocks with an identity shortcut add their output back to their input's stream
    first = s["params/BasicBlock_0/Conv_0/kernel"]
    assert first.residual and s["params/BasicBlock_0/Conv_1/kernel"].stream == first.stream
    assert not stem.residual and not head.residual
    assert s["params/BatchNorm_0/scale"].after.name == "relu"


@pytest.mark.slow
def test_resnet18_auto_init_in_eval_mode():
    """jinit.auto on flaxmodels' ResNet-18 called as ``model.apply(v, x, False)``: every
    convolution's fans from the computation, the stem set from the data, the identity
    shortcuts' branches kept at their depth scaling, and the result passes the audit."""
    model = fm.ResNet18(pretrained=None, num_classes=10, output="logits")
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    with jax.numpy_dtype_promotion("standard"):
        variables, rep = jinit.auto.init(model, jax.random.key(1), x, False, signal=False)
        logits = model.apply(variables, x, False)
    rows = {r["path"]: r for r in rep.rows}
    stem = rows["params/Conv_0/kernel"]
    assert (stem["fan_in"], stem["input"]) == (7 * 7 * 3, "data")
    proj = rows["params/BasicBlock_2/Conv_2/kernel"]  # the 1x1 projection shortcut
    assert (proj["fan_in"], proj["fan_out"]) == (64, 128)
    assert rows["params/BasicBlock_0/Conv_0/kernel"]["residual"].startswith("stream")
    assert rows["params/Dense_0/kernel"]["fan_in"] == 512
    assert bool(jnp.all(jnp.isfinite(logits))) and logits.shape == (4, 10)
    assert jinit.audit.check(variables, rep.rules).ok


def test_gpt2_block_fused_qkv_mlp_and_residual_branches():
    d, heads = 64, 4
    cfg = types.SimpleNamespace(
        vocab_size=100, n_positions=16, n_embd=d, n_head=heads, n_layer=1,
        layer_norm_epsilon=1e-5, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0,
        scale_attn_weights=True, activation_function="gelu_new", n_inner=None)
    s = structure.trace(fm.gpt2.gpt2.GPT2Block(config=cfg), jnp.zeros((2, 8, d)))
    qkv = s["params/GPT2SelfAttention_0/Dense_0/kernel"]  # c_attn: d -> 3d, split after
    proj = s["params/GPT2SelfAttention_0/Dense_1/kernel"]
    up = s["params/GPT2MLP_0/Dense_0/kernel"]  # n_inner None: 4 d
    down = s["params/GPT2MLP_0/Dense_1/kernel"]
    assert (qkv.fan_in, qkv.fan_out) == (d, 3 * d)
    assert (proj.fan_in, proj.fan_out) == (d, d)
    assert (up.fan_in, up.fan_out, up.after.name) == (d, 4 * d, "gelu_tanh")  # gelu_new
    assert (down.fan_in, down.fan_out, down.after.name) == (4 * d, d, "identity")
    assert all(u.residual for u in (qkv, proj, up, down))
    assert s["params/LayerNorm_0/scale"].op == "scale"


# --------------------------------------------- rules and recipes drawn with the structure

Z = 5.0  # two-sided z of each std comparison: a false failure rate of 6e-7 per leaf


def _std_tol(*sizes):
    """The tolerance on |ln(s_a/s_b)| for sample stds of (truncated) normal draws of the given
    sizes: Var[ln s] ≈ (κ - 1)/(4n), with κ = 3 (a normal; ±2σ truncation lowers it)."""
    return Z * float(np.sqrt(sum(2 / (4 * n) for n in sizes)))


def _random_leaves(tree):
    """Paths and float64 values of the leaves whose values are not all equal (random draws)."""
    out = {}
    for kp, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        a = np.asarray(leaf, np.float64)
        if a.size > 1 and a.std() > 0:
            out[jinit.tree.path_str(kp)] = a
    return out


def _same_stds(ours, theirs):
    """Every random leaf of ``theirs`` has a random leaf in ``ours`` of the same std."""
    a, b = _random_leaves(ours), _random_leaves(theirs)
    assert set(a) == set(b) and a
    worst = max(abs(np.log(a[p].std() / b[p].std())) / _std_tol(a[p].size, b[p].size)
                for p in b)
    return worst <= 1.0


def _gpt2_block(d=64, heads=4):
    cfg = types.SimpleNamespace(
        vocab_size=100, n_positions=16, n_embd=d, n_head=heads, n_layer=1,
        layer_norm_epsilon=1e-5, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0,
        scale_attn_weights=True, activation_function="gelu_new", n_inner=None)
    return fm.gpt2.gpt2.GPT2Block(config=cfg), jnp.zeros((2, 8, d))


# flaxmodels names GPT-2's c_attn, c_proj, c_fc and c_proj Dense_0/Dense_1 in their modules
GPT2_ROLES = {r"GPT2SelfAttention_0/Dense_0/": "qkv", r"GPT2SelfAttention_0/Dense_1/": "attn_out",
              r"GPT2MLP_0/Dense_0/": "mlp_up", r"GPT2MLP_0/Dense_1/": "mlp_out"}


def test_gpt2_block_rules_and_recipes_with_structure_draw_the_models_own_stds():
    d = 64
    model, x = _gpt2_block(d)
    s = structure.trace(model, x)
    own = model.init(jax.random.key(0), x)            # flaxmodels' own draws: Dense defaults
    shapes = jax.eval_shape(lambda: own)
    rules = jinit.tree.rules_from(model, x)
    drawn = jinit.tree.init_tree(jax.random.key(1), shapes, rules, structure=s)
    assert _same_stds(drawn, own)
    assert audit.check(own, rules, structure=s).ok   # nothing flagged on the model's own draws
    # MaxText's MLP, logits and attention kernels are fan-in variance scaling: Flax's
    # lecun_normal in law for the MLP, the same std (untruncated) for attention
    recipe = recipes.maxtext(1, d, d // 4, 4 * d, roles=GPT2_ROLES)
    by_recipe = jinit.tree.init_tree(jax.random.key(2), shapes, recipe, structure=s)
    assert _same_stds(by_recipe, own)
    for path, n_in in (("GPT2SelfAttention_0/Dense_0", d), ("GPT2MLP_0/Dense_1", 4 * d)):
        w = np.asarray(by_recipe["params"][path.split("/")[0]][path.split("/")[1]]["kernel"])
        assert abs(np.log(w.std() * np.sqrt(n_in))) <= _std_tol(w.size, 1e12)
    assert audit.check(by_recipe, recipe, structure=s).ok
    # negative controls: GPT-2's 0.02 is not the model's own std, and the audit of the
    # model's rules says so; a recipe given a wrong d_model names every leaf it mis-sizes
    gpt2 = jinit.tree.init_tree(jax.random.key(3), shapes, recipes.gpt2(roles=GPT2_ROLES),
                                structure=s)
    assert not _same_stds(gpt2, own)
    flagged = audit.check(gpt2, rules, structure=s).flagged
    assert {p for p in flagged if p.endswith("kernel")} == {
        f"params/{m}/kernel" for m in ("GPT2SelfAttention_0/Dense_0",
                                       "GPT2SelfAttention_0/Dense_1", "GPT2MLP_0/Dense_0",
                                       "GPT2MLP_0/Dense_1")}
    # (c_attn and c_fc read d_model; c_proj of the MLP reads the d_ff given, 4·d, and fits)
    with pytest.raises(ValueError, match=r"(?s)at 2 leaf path\(s\).*GPT2MLP_0/Dense_0/kernel' "
                       r"\(mlp_up\): its std \(1/√d\) is computed for a fan-in of 128, but the "
                       r"model contracts 64.*GPT2SelfAttention_0/Dense_0/kernel' \(qkv\)"):
        recipes.maxtext(1, 2 * d, d // 4, 4 * d, roles=GPT2_ROLES).fit(s)


@pytest.mark.slow
def test_resnet18_rules_with_structure_draw_the_models_own_stds_and_audit_clean():
    model = fm.ResNet18(pretrained=None, num_classes=10, output="logits")
    x = jnp.zeros((1, 32, 32, 3))
    s = structure.trace(model, x, train=False)
    own = model.init(jax.random.key(0), x, train=False)
    rules = jinit.tree.rules_from(model, x, train=False)
    shapes = jax.eval_shape(lambda: {"params": own["params"]})
    drawn = jinit.tree.init_tree(jax.random.key(1), shapes, rules, structure=s)
    assert _same_stds(drawn, {"params": own["params"]})
    stem = np.asarray(drawn["params"]["Conv_0"]["kernel"])   # lecun: 1/√(7·7·3)
    assert abs(np.log(stem.std() * np.sqrt(7 * 7 * 3))) <= _std_tol(stem.size, 1e12)
    assert audit.check(own, rules, structure=s, only=r"^params/").ok
    # negative control: He's √2 larger std is not the model's
    he = jinit.tree.init_tree(jax.random.key(1), shapes, {r"kernel$": jinit.he_normal(),
                                                           r"bias$": jinit.zeros,
                                                           r"scale$": jinit.ones}, structure=s)
    assert not _same_stds(he, {"params": own["params"]})
    assert "params/Conv_0/kernel" in audit.check(he, rules, structure=s).flagged


def test_penzai_llamalike_traced_through_a_function_of_its_unbound_params():
    """A penzai model is a pytree of named-axis layers: unbind its parameters, bind them
    back inside a function of ``(params, tokens)``, and trace that function."""
    pz = pytest.importorskip("penzai.pz")
    ll = pytest.importorskip("penzai.models.transformer.variants.llamalike_common")
    d, kv_heads, proj, hidden, vocab = 32, 2, 8, 64, 50
    cfg = ll.LlamalikeTransformerConfig(
        num_kv_heads=kv_heads, query_head_multiplier=1, embedding_dim=d, projection_dim=proj,
        mlp_hidden_dim=hidden, num_decoder_blocks=2, vocab_size=vocab, mlp_variant="swiglu",
        tie_embedder_and_logits=False)
    unbound, params = pz.unbind_params(
        ll.build_llamalike_transformer(cfg, init_base_rng=jax.random.key(0)))
    values = {p.label: p.value for p in params}

    def fn(v, tokens):
        return pz.bind_variables(unbound, [pz.Parameter(value=x, label=k)
                                           for k, x in v.items()])(tokens)

    tokens = pz.nx.wrap(jnp.zeros((2, 6), jnp.int32)).tag("batch", "seq")
    with jax.numpy_dtype_promotion("standard"):  # penzai's RoPE mixes int and float
        s = structure.trace(fn, tokens, params=values)
    at = "transformer/block_1/attention/"
    # query/key/value {embedding, heads, projection}: fan-in d; output {heads, projection,
    # embedding}: fan-in heads·projection, in the NamedArray's positional order
    for name in ("query", "key", "value"):
        u = s[at + name + ".weights/data_array"]
        assert (u.shape, u.in_axes, u.fan_in, u.fan_out) == ((d, kv_heads, proj), (0,), d,
                                                              kv_heads * proj)
    out = s[at + "output.weights/data_array"]
    assert (out.in_axes, out.fan_in, out.fan_out) == ((0, 1), kv_heads * proj, d)
    gate = s["transformer/block_1/mlp/gating_linear.weights/data_array"]
    assert (gate.fan_in, gate.fan_out, gate.after.name) == (d, hidden, "silu")
    emb = s["transformer/embedder.embeddings/data_array"]
    assert (emb.op, emb.fan_in) == ("gather", vocab)
    # penzai scales by a named-axis contraction whose every axis is a batch axis: the trace
    # sees a dot_general without fans to read, which jinit.structure.fit leaves alone
    scale = s["transformer/block_1/pre_attention_norm/scale.weights/data_array"]
    assert (scale.op, scale.batch_axes, scale.expressible) == ("dot_general", (0,), False)
