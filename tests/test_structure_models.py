"""jinit.structure on third-party model code: flaxmodels' ResNet-18 and GPT-2 block.

Needs the optional ``models`` extra (``pip install jinit[models]``: flaxmodels 0.1.3). Every
expected number is derived from the model's configuration, not read back from jinit.
"""

import types

import jax.numpy as jnp
import pytest

from jinit import structure

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
