r"""Published initializations as recipes: rules you can apply and audit.

Each function takes an architecture's numbers and returns a :class:`Recipe`: roles
(token embedding, q/k/v or fused QKV, attention output, MLP gate/up/down, LM head, norms,
biases …) found from the leaf paths, and for each role the initializer its source uses,
with the layer index where the source scales by depth. A recipe is accepted wherever rules
are::

    shapes = jax.eval_shape(model.init, key, tokens)
    params = jinit.tree.init_tree(key, shapes, jinit.recipes.nanogpt(n_layer=12))
    print(jinit.recipes.nanogpt(12))        # role -> initializer -> std formula -> value

Paths are matched by regular expressions that know Flax linen auto-names, NNX attribute
paths, the Hugging Face Flax ports (``transformer/h/3/attn/c_proj/kernel``,
``model/layers/3/self_attn/o_proj/kernel``) and the names of Flax's own example models
(google/flax at 18f8f31: ``examples/lm1b`` and ``examples/wmt`` ``models.py``, with
``Embed_0``, ``shared_embedding``, ``encoderdecoderblock_3``, ``logitdense``;
``examples/gemma`` ``transformer.py`` and ``modules.py``, with ``embedder``, ``q_einsum``,
``kv_einsum``, ``qkv_einsum``, ``attn_vec_einsum``, ``gate_proj``/``up_proj``/``down_proj``);
``roles={regex: role}`` adds your own, tried first. Leaves without a role are one error naming every one of them,
never a silent default. ``layer=`` is a regex whose first group is the block index (one
without a group is refused when the recipe is built). Scanned stacks (``nn.scan``,
``nnx.vmap``) take ``scan_axis=``: each slice along it gets its layer's initializer, with
fans computed per slice. ``overrides={role: initializer}`` replaces one role's initializer
(its weights, or a norm's scale) and is marked in the printed table, e.g.
``overrides={"norm": jinit.zeros}`` for Gemma's ``RMSNorm``, which computes
``x·(1 + scale)``: a recipe's norm scale of 1 would double it there, and the name does not
say so.

Where a recipe's std depends on fans, they come from the leaf's name, role and shape, not
from the computation, and are a guess: a DenseGeneral kernel ``(d, heads, head_dim)``
contracts axis 0, an output kernel ``(heads, head_dim, d)`` all but its last axis, Gemma's
einsum kernels are read by module name (``q_einsum`` ``(heads, d, head_dim)`` contracts
axis 1; ``kv_einsum``/``qkv_einsum`` stack their parts on axis 0), and any other einsum
kernel of 3 or more axes is refused there (its layout is in its einsum string). With
``structure=jinit.structure.trace(model, x)`` (in :func:`jinit.tree.init_tree`,
:func:`jinit.audit.check`, :func:`jinit.nnx.init`, or :meth:`Recipe.fit`) they come from the
computation instead; a ``1 + scale`` norm gets scale 0, and a size the recipe was given that
the model contradicts (``d_model`` against a traced fan-in) is one error naming every such
leaf.

=========================  ==========================================  ========================================================================
recipe                     source                                      what distinguishes it
=========================  ==========================================  ========================================================================
:func:`gpt2`               openai/gpt-2 ``src/model.py``                N(0, 0.02²), wpe 0.01; no residual scaling
:func:`nanogpt`            karpathy/nanoGPT ``model.py``                ``c_proj`` at 0.02/√(2·n_layer)
:func:`llama_hf`           transformers ``modeling_llama.py``           N(0, 0.02²) everywhere
:func:`llama_torchtitan`   torchtitan ``llama3/model/model.py``         N(0, 1) embedding (tied: the head's d^-1/2); wo/w2/w3 at 0.02/√(2(l+1))
:func:`olmo_mitchell`      allenai/OLMo ``olmo/model.py``               1/√fan_in at ±3σ; outputs /√(2(l+1))
:func:`olmo_megatron`      allenai/OLMo ``olmo/model.py``               0.02 at ±3σ; outputs /√(2N); head 1/√d
:func:`olmo_core`          OLMo-core ``nn/transformer/init.py``         ``InitMethod`` normal/llama/llama_depth/fan_in/normalized; gate ``w_g``
:func:`maxtext`            maxtext ``layers/{attentions,linears}.py``   fan-in over multi-axis fans; query /√head_dim
:func:`vit`                vision_transformer ``models_vit.py``         Xavier kernels, MLP biases N(0, 1e-12), zero head
:func:`nanochat`           karpathy/nanochat ``gpt.py`` (3a5e0bc)       fan-in with a fan-out cap; zero projections
:func:`deepnet`            Wang et al. 2022, Fig. 2                     Xavier with gain (8N)^-1/4; α = (2N)^1/4
=========================  ==========================================  ========================================================================
"""

from .._base import public
from ..structure import DEFAULT_LAYER as DEFAULT_LAYER
from ..structure import DEFAULT_ROLES as DEFAULT_ROLES
from ._deepnet import deepnet as deepnet
from ._google import maxtext as maxtext
from ._google import vit as vit
from ._gpt import gpt2 as gpt2
from ._gpt import nanochat as nanochat
from ._gpt import nanogpt as nanogpt
from ._llama import llama_hf as llama_hf
from ._llama import llama_torchtitan as llama_torchtitan
from ._olmo import olmo_core as olmo_core
from ._olmo import olmo_megatron as olmo_megatron
from ._olmo import olmo_mitchell as olmo_mitchell
from ._recipe import ROLES as ROLES
from ._recipe import Pieces as Pieces
from ._recipe import Recipe as Recipe

__all__ = ["DEFAULT_LAYER", "DEFAULT_ROLES", "ROLES", "Pieces", "Recipe", "deepnet", "gpt2",
           "llama_hf", "llama_torchtitan", "maxtext", "nanochat", "nanogpt", "olmo_core",
           "olmo_megatron", "olmo_mitchell", "vit"]

for _name in __all__:
    _obj = globals()[_name]
    if callable(_obj) and getattr(_obj, "__module__", "").startswith("jinit.recipes."):
        public("jinit.recipes")(_obj)
del _name, _obj
