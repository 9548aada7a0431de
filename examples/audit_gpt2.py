"""Audit a GPT-2 small initialization: find the residual projections that missed their scaling.

GPT-2 scales the residual projections ``c_proj`` (attention output and MLP output, two per
block) to std 0.02/sqrt(2 n_layer) and draws every other weight at 0.02
(``GPT2PreTrainedModel._init_weights`` in huggingface/transformers,
``src/transformers/models/gpt2/modeling_gpt2.py``; ``GPT._init_weights`` and the
``c_proj.weight`` loop in karpathy/nanoGPT, ``model.py``). Ports have lost that scaling
silently. This script draws the GPT-2 small layout (Hugging Face Flax names, 124M
parameters) *with the bug* (c_proj at 0.02), audits it against the rules that say
0.02/sqrt(24), and prints the table: exactly the 24 ``c_proj`` kernels are flagged. Run::

    python examples/audit_gpt2.py [--layers 12 --width 768 --vocab 50257] [--json FILE]
                                  [--plot FILE.png] [--fixed]
    jinit audit examples/audit_gpt2.py:build          # the same audit from the console

``--fixed`` draws the tree correctly instead (nothing is flagged). Finishes in well under a
minute on a CPU at the default (GPT-2 small) size.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import jax

import jinit
from jinit import audit

STD = 0.02  # GPT2Config.initializer_range (huggingface/transformers, configuration_gpt2.py)


def shapes(layers: int, width: int, vocab: int, context: int) -> dict:
    """The GPT-2 parameter layout (Hugging Face Flax names) as ``jax.ShapeDtypeStruct``."""
    def s(*shape):
        return jax.ShapeDtypeStruct(shape, "float32")

    def ln():
        return {"scale": s(width), "bias": s(width)}

    def dense(n_in, n_out):
        return {"kernel": s(n_in, n_out), "bias": s(n_out)}

    blocks = {str(i): {"ln_1": ln(), "ln_2": ln(),
                       "attn": {"c_attn": dense(width, 3 * width), "c_proj": dense(width, width)},
                       "mlp": {"c_fc": dense(width, 4 * width), "c_proj": dense(4 * width, width)}}
              for i in range(layers)}
    return {"transformer": {"wte": {"embedding": s(vocab, width)},
                            "wpe": {"embedding": s(context, width)},
                            "h": blocks, "ln_f": ln()}}


def rules(layers: int, scaled: bool = True) -> dict:
    """GPT-2's init as rules; ``scaled=False`` is the bug: c_proj left at 0.02."""
    c_proj = STD / math.sqrt(2 * layers) if scaled else STD
    return {r"c_proj/kernel$": jinit.normal(c_proj),
            r"(kernel|embedding)$": jinit.normal(STD),
            r"bias$": jinit.zeros,
            r"scale$": jinit.ones}


def build(layers: int = 12, width: int = 768, vocab: int = 50257, context: int = 1024,
          fixed: bool = False) -> dict:
    """The ``jinit audit`` target: ``jinit audit examples/audit_gpt2.py:build``.

    Returns the tree drawn with the bug (or ``fixed``) and the rules it should follow.
    """
    params = jinit.tree.init_tree(jax.random.key(0), shapes(layers, width, vocab, context),
                                  rules(layers, scaled=fixed))
    return {"params": params, "rules": rules(layers)}


def build_tiny() -> dict:
    """A 12-layer GPT-2 at width 64 (for quick runs and tests): the same 24 flags."""
    return build(width=64, vocab=512, context=64)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--vocab", type=int, default=50257)
    p.add_argument("--context", type=int, default=1024)
    p.add_argument("--fixed", action="store_true", help="draw c_proj correctly (no flags)")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="plot measured/expected std per leaf")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    params = build(args.layers, args.width, args.vocab, args.context, args.fixed)["params"]
    jax.block_until_ready(params)
    t1 = time.perf_counter()
    report = audit.check(params, rules(args.layers))   # what GPT-2 says the init should be
    t2 = time.perf_counter()
    print(report)
    n = sum(x.size for x in jax.tree.leaves(params))
    print(f"{n / 1e6:.1f}M parameters: init {t1 - t0:.1f} s, audit {t2 - t1:.1f} s; "
          f"{len(report.flagged)} leaves flagged.")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(report.to_json())
    if args.plot:
        report.plot(args.plot)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
