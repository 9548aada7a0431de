"""``jinit auto TARGET``: choose the initialization of the model a user's function builds.

TARGET is ``path/to/file.py:function`` or ``package.module:function`` (as for ``jinit
audit``). The function takes no arguments and returns ``(model, x)`` (or ``(model, x1, x2,
...)``), or a dict::

    {"model": model,          # required: linen, NNX, Equinox or fn(params, *args)
     "args": (x,),            # required: the example input(s), with a batch axis ("x": x works)
     "params": params}        # a function model's parameters

Exit status: 0 when the initialization was chosen, 2 for a usage error (bad option,
unwritable output path, unimportable target, missing function, a target that raises, calls
``sys.exit`` or returns the wrong value, arguments ``jinit.auto.init`` refuses), each
reported in one line before any work; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .. import _console
from .._console import Usage, first_line, guarded, load

PROG = "jinit auto"
KEYS = ("model", "args", "x", "params")


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = _console.Parser(
        prog=prog,
        description="Choose each layer's initialization of the model TARGET builds from its "
                    "structure, mean-field theory and one pass on the example input; print "
                    "the table and the signal before and after. Exits 2 on a usage error, "
                    "130 when interrupted.",
        epilog=__doc__.split("\n\n", 1)[1].split("Exit status")[0].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET",
                   help="path/to/file.py:function or package.module:function")
    p.add_argument("--seed", type=_console.seed, default=0,
                   help="root seed, an int in [0, 2**32) (default: %(default)s)")
    p.add_argument("--no-data", action="store_true", help="skip the data pass")
    p.add_argument("--plot", type=_console.png_target, metavar="FILE.png",
                   help="draw the signal before and after")
    p.add_argument("--json", type=_console.json_target, metavar="FILE",
                   help="write the report as JSON ('-': stdout)")
    return p


def contract(target: str, value: object) -> dict:
    """The returned value as ``{'model', 'args', 'params'}``, or :class:`Usage`."""
    expected = "a tuple (model, x, ...) or a dict with 'model' and 'args' (or 'x'), and " \
               "'params' for a function model"
    if isinstance(value, tuple) and len(value) >= 2:
        return {"model": value[0], "args": tuple(value[1:]), "params": None}
    if not isinstance(value, dict):
        raise Usage(f"TARGET {target!r} returned {_console.a_type(value)}; expected {expected}")
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                    f"expected {expected}")
    if "model" not in value or ("args" not in value and "x" not in value):
        raise Usage(f"TARGET {target!r} returned keys {sorted(value)}; expected {expected}")
    args = value["args"] if "args" in value else (value["x"],)
    if not isinstance(args, tuple):
        args = (args,)
    return {"model": value["model"], "args": args, "params": value.get("params")}


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit auto TARGET [options]``; returns the exit status (130 after Ctrl-C)."""
    return _console.command(PROG, argv, build_parser, _run)


def _run(args: argparse.Namespace) -> int:
    target = args.target
    try:
        if args.plot is not None:
            _console.needs_matplotlib()
        fn = load(target)
        spec = contract(target, guarded(f"TARGET {target!r}", fn))
        import jax

        from . import init

        try:
            _, report = init(spec["model"], jax.random.key(args.seed), *spec["args"],
                             params=spec["params"], use_data=not args.no_data)
        except (ValueError, TypeError) as e:
            raise Usage(f"TARGET {target!r} returned {first_line(e)}") from None
    except Usage as e:
        return _console.usage(PROG, str(e))
    if args.json == "-":
        sys.stdout.write(report.to_json() + "\n")
    else:
        print(report)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(report.to_json())
    if args.plot:
        report.plot(args.plot)
    return 0
