"""``jinit compare TARGET``: compare inits on the model a user's function builds.

TARGET is ``path/to/file.py:function`` or ``package.module:function`` (as for ``jinit
audit``). The function takes no arguments and returns a dict::

    {"model": model,                       # required: linen, NNX, Equinox or fn(params, x)
     "train": (x, y),                      # required
     "val": (x_val, y_val),                # required (None: training curves only)
     "loss": "softmax_cross_entropy",      # required: a name or loss(outputs, targets)
     "inits": {"he": jinit.he_normal()},   # required: name -> init
     "optimizer": optax.adam(1e-3),        # optional
     "params": params,                     # for a function model
     "metrics": {name: fn},                # optional
     "batch_size": 128, "eval_every": 10}  # optional

Without ``batch_size`` the batch is 128 examples (or the whole training set, if smaller);
without ``eval_every`` the evaluation interval is the largest divisor of ``--steps`` up to 10.

Exit status: 0 when the comparison ran, 2 for a usage error (bad option, unwritable output
path, unimportable target, missing function, a target that raises, calls ``sys.exit`` or
returns the wrong value, arguments ``compare.run`` refuses), each reported in one line
before any training; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from .. import _console
from .._console import Usage, first_line, guarded, load

PROG = "jinit compare"
REQUIRED = ("model", "train", "val", "loss", "inits")
OPTIONAL = ("optimizer", "params", "metrics", "batch_size", "eval_every")
# compare.run writes its JSON to a file (never to stdout).
_json_file = _console.named(lambda text: _console.target(text, "JSON"), "JSON target")


_positive = _console.named(_console.integer(1), "positive int")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = _console.Parser(
        prog=prog,
        description="Train the model TARGET builds from each of its inits, several seeds "
                    "each, and compare training and validation loss and accuracy. Exits 2 on "
                    "a usage error, 130 when interrupted.",
        epilog=__doc__.split("\n\n", 1)[1].split("Exit status")[0].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET",
                   help="path/to/file.py:function or package.module:function")
    p.add_argument("--steps", type=_positive, default=500,
                   help="optimizer steps per seed (default: %(default)s)")
    p.add_argument("--seeds", type=_positive, default=8,
                   help="seeds per init (default: %(default)s)")
    p.add_argument("--seed", type=_console.seed, default=0,
                   help="root seed, an int in [0, 2**32) (default: %(default)s)")
    p.add_argument("--plot", type=_console.png_target, metavar="FILE.png",
                   help="draw the curves to a PNG")
    p.add_argument("--json", type=_json_file, metavar="FILE",
                   help="write every curve as JSON to FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def contract(target: str, value: object) -> dict:
    """The returned value as a dict of :data:`REQUIRED` and :data:`OPTIONAL` keys."""
    expected = (f"a dict with {', '.join(map(repr, REQUIRED))} (optional: "
                f"{', '.join(map(repr, OPTIONAL))})")
    if not isinstance(value, dict):
        raise Usage(f"TARGET {target!r} returned {_console.a_type(value)}; expected {expected}")
    unknown = [k for k in value if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                    f"expected {expected}")
    missing = [k for k in REQUIRED if k not in value]
    if missing:
        raise Usage(f"TARGET {target!r} returned no {', '.join(map(repr, missing))}; "
                    f"expected {expected}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit compare TARGET [options]``; returns the exit status (130 after Ctrl-C)."""
    return _console.command(PROG, argv, build_parser, _run)


def _run(args: argparse.Namespace) -> int:
    target = args.target
    try:
        if args.plot is not None:
            _console.needs_matplotlib()
        fn = load(target)
        spec = contract(target, guarded(f"TARGET {target!r}", fn))
        try:
            from . import run
        except ImportError as e:
            raise Usage(f"jinit compare needs optax: {first_line(e)}") from None
        kwargs = {k: spec[k] for k in OPTIONAL if k in spec}
        kwargs.setdefault("eval_every", max(d for d in range(1, min(10, args.steps) + 1)
                                            if args.steps % d == 0))
        try:
            kwargs.setdefault("batch_size", min(128, len(spec["train"][0])))
        except TypeError:
            pass  # compare.run names the bad train= value
        try:
            res = run(spec["model"], spec["inits"], train=spec["train"], val=spec["val"],
                      loss=spec["loss"], steps=args.steps, seeds=args.seeds, seed=args.seed,
                      quiet=args.quiet, **kwargs)
        except (ValueError, TypeError) as e:
            # compare.run checks every argument before it trains anything.
            raise Usage(f"TARGET {target!r} returned {first_line(e)}") from None
    except Usage as e:
        return _console.usage(PROG, str(e))
    print(res.summary())
    if args.json:
        res.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        res.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0
