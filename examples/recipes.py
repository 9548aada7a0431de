"""Published recipes: a small GPT-2 and a small Llama in NNX, initialized and audited.

Prints each recipe's table (role -> initializer -> std formula -> value), initializes the
model from its abstract state with ``jinit.tree.init_tree(key, state, recipe)``, merges the
values back into the NNX module, and audits every leaf against the same recipe with
``jinit.audit.check``. A planted mismatch (GPT-2's released init audited against nanoGPT's
recipe) shows what a wrong init looks like: exactly the residual projections and ``wpe`` are
flagged; ``--plot FILE.png`` draws that audit (measured / expected std per leaf).

Run:
    python examples/recipes.py                   # defaults: 4 layers, width 128
    python examples/recipes.py --layers 2 --width 64
"""

from __future__ import annotations

import argparse

import jax
from flax import nnx

import jinit


class Block(nnx.Module):
    def __init__(self, d: int, names: dict[str, str], rngs: nnx.Rngs):
        self.attn = nnx.Dict({n: nnx.Linear(d, d, rngs=rngs) for n in names["attn"]})
        self.mlp = nnx.Dict({names["up"]: nnx.Linear(d, 4 * d, rngs=rngs),
                             names["down"]: nnx.Linear(4 * d, d, rngs=rngs)})
        self.norms = nnx.Dict({n: nnx.LayerNorm(d, rngs=rngs) for n in names["norms"]})


class GPT2(nnx.Module):
    """GPT-2's names: wte, wpe, h/<i>/attn/{c_attn, c_proj}, h/<i>/mlp/{c_fc, c_proj}."""

    def __init__(self, layers: int, d: int, vocab: int, rngs: nnx.Rngs):
        self.wte = nnx.Embed(vocab, d, rngs=rngs)
        self.wpe = nnx.Embed(256, d, rngs=rngs)
        names = {"attn": ("c_attn", "c_proj"), "up": "c_fc", "down": "c_proj",
                 "norms": ("ln_1", "ln_2")}
        self.h = nnx.List([Block(d, names, rngs) for _ in range(layers)])
        self.ln_f = nnx.LayerNorm(d, rngs=rngs)


class Llama(nnx.Module):
    """Llama's names: embed_tokens, layers/<i>/self_attn/{q,k,v,o}_proj, mlp/..., lm_head."""

    def __init__(self, layers: int, d: int, vocab: int, rngs: nnx.Rngs):
        self.embed_tokens = nnx.Embed(vocab, d, rngs=rngs)
        names = {"attn": ("q_proj", "k_proj", "v_proj", "o_proj"), "up": "up_proj",
                 "down": "down_proj", "norms": ("input_layernorm", "post_attention_layernorm")}
        self.layers = nnx.List([Block(d, names, rngs) for _ in range(layers)])
        for block in self.layers:
            block.mlp["gate_proj"] = nnx.Linear(d, 4 * d, rngs=rngs)
        self.norm = nnx.RMSNorm(d, rngs=rngs)
        self.lm_head = nnx.Linear(d, vocab, use_bias=False, rngs=rngs)


def initialize(cls, recipe, layers: int, d: int, vocab: int, key):
    """Builds the module abstractly, draws every Param from the recipe, merges them back."""
    abstract = nnx.eval_shape(lambda: cls(layers, d, vocab, nnx.Rngs(0)))
    graphdef, params, rest = nnx.split(abstract, nnx.Param, ...)
    params = jinit.tree.init_tree(key, params, recipe)
    return nnx.merge(graphdef, params, rest), params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=4, help="blocks (default: 4)")
    parser.add_argument("--width", type=int, default=128, help="model width (default: 128)")
    parser.add_argument("--vocab", type=int, default=1024, help="vocabulary (default: 1024)")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="draw the planted mismatch's audit (std ratio per leaf)")
    args = parser.parse_args(argv)
    if args.layers < 1 or args.width < 8 or args.vocab < 2:
        parser.error("--layers must be >= 1, --width >= 8 and --vocab >= 2")

    key = jax.random.key(0)
    cases = [
        ("GPT-2 (nanoGPT / Hugging Face)", GPT2, jinit.recipes.nanogpt(args.layers)),
        ("Llama (torchtitan, depth_init)", Llama,
         jinit.recipes.llama_torchtitan(args.layers, args.width)),
    ]
    failures = 0
    for title, cls, recipe in cases:
        print(f"== {title}\n{recipe}\n")
        model, params = initialize(cls, recipe, args.layers, args.width, args.vocab, key)
        report = jinit.audit.check(params, recipe)
        print(report)
        print(f"audit: {'PASS' if report.ok else 'FAIL'}\n")
        failures += not report.ok
        del model

    released = jinit.recipes.gpt2(args.layers)
    _, params = initialize(GPT2, released, args.layers, args.width, args.vocab, key)
    planted = jinit.audit.check(params, jinit.recipes.nanogpt(args.layers))
    flagged = sorted(planted.flagged)
    print("== GPT-2 as released, audited against nanoGPT's recipe")
    print(f"flagged {len(flagged)} leaves: " + ", ".join(flagged))
    expected = {f"h/{i}/{m}/c_proj/kernel" for i in range(args.layers)
                for m in ("attn", "mlp")} | {"wpe/embedding"}
    failures += set(flagged) != expected
    print("the mismatch is exactly the residual projections and wpe:",
          "yes" if set(flagged) == expected else "no")
    if args.plot:
        planted.plot(args.plot)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
