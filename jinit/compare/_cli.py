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
path, unimportable target, missing function, wrong return value, arguments
``compare.run`` refuses), each reported in one line before any training.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

REQUIRED = ("model", "train", "val", "loss", "inits")
OPTIONAL = ("optimizer", "params", "metrics", "batch_size", "eval_every")


class _Usage(Exception):
    """A usage error: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive int")
    return value


def build_parser(prog: str = "jinit compare") -> argparse.ArgumentParser:
    p = _Parser(prog=prog,
                description="Train the model TARGET builds from each of its inits, several "
                            "seeds each, and compare training and validation loss and "
                            "accuracy. Exits 2 on a usage error.",
                epilog=__doc__.split("\n\n", 1)[1].split("Exit status")[0].strip(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET",
                   help="path/to/file.py:function or package.module:function")
    p.add_argument("--steps", type=_positive, default=500,
                   help="optimizer steps per seed (default: %(default)s)")
    p.add_argument("--seeds", type=_positive, default=8,
                   help="seeds per init (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="root seed (default: %(default)s)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the curves to a PNG")
    p.add_argument("--json", metavar="FILE", help="write every curve as JSON to FILE")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _writable(option: str, path: str) -> None:
    if os.path.isdir(path):
        raise _Usage(f"{option} {path!r} is a directory; expected a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise _Usage(f"{option} {path!r}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise _Usage(f"{option} {path!r}: directory {parent!r} is not writable")


def _check_outputs(args: argparse.Namespace) -> None:
    if args.json is not None:
        _writable("--json", args.json)
    if args.plot is not None:
        if not args.plot.lower().endswith(".png"):
            raise _Usage(f"--plot {args.plot!r} is not a .png file name")
        _writable("--plot", args.plot)
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _Usage("--plot needs matplotlib; install it with pip install "
                         "'jinit[plot]'") from None


def contract(target: str, value: object) -> dict:
    """The returned value as a dict of :data:`REQUIRED` and :data:`OPTIONAL` keys."""
    expected = (f"a dict with {', '.join(map(repr, REQUIRED))} (optional: "
                f"{', '.join(map(repr, OPTIONAL))})")
    if not isinstance(value, dict):
        raise _Usage(f"TARGET {target!r} returned a {type(value).__name__}; expected {expected}")
    unknown = [k for k in value if k not in REQUIRED + OPTIONAL]
    if unknown:
        raise _Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                     f"expected {expected}")
    missing = [k for k in REQUIRED if k not in value]
    if missing:
        raise _Usage(f"TARGET {target!r} returned no {', '.join(map(repr, missing))}; "
                     f"expected {expected}")
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit compare TARGET [options]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage error (2, one line already printed) or --help (0)
        return int(e.code or 0)
    try:
        _check_outputs(args)
        from jinit.audit._cli import load  # the one FILE_OR_MODULE:FUNCTION loader

        try:
            fn = load(args.target)
        except Exception as e:  # noqa: BLE001 - load raises only its usage error
            raise _Usage(str(e)) from None
        try:
            value = fn()
        except Exception as e:  # noqa: BLE001 - the user's function failed
            raise _Usage(f"TARGET {args.target!r} raised {_first_line(e)}") from None
        spec = contract(args.target, value)
        try:
            from . import run
        except ImportError as e:
            raise _Usage(f"jinit compare needs optax: {_first_line(e)}") from None
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
            raise _Usage(f"TARGET {args.target!r} returned {_first_line(e)}") from None
    except _Usage as e:
        print(f"jinit compare: error: {e}", file=sys.stderr)
        return 2
    print(res.summary())
    if args.json:
        res.to_json(args.json)
        print(f"wrote {args.json}")
    if args.plot:
        res.plot(args.plot)
        print(f"wrote {args.plot}")
    return 0
