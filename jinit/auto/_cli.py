"""``jinit auto TARGET``: choose the initialization of the model a user's function builds.

TARGET is ``path/to/file.py:function`` or ``package.module:function`` (as for ``jinit
audit``). The function takes no arguments and returns ``(model, x)`` (or ``(model, x1, x2,
...)``), or a dict::

    {"model": model,          # required: linen, NNX, Equinox or fn(params, *args)
     "args": (x,),            # required: the example input(s), with a batch axis ("x": x works)
     "params": params}        # a function model's parameters

Exit status: 0 when the initialization was chosen, 2 for a usage error (bad option,
unwritable output path, unimportable target, missing function, wrong return value,
arguments ``jinit.auto.init`` refuses), each reported in one line before any work.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

KEYS = ("model", "args", "x", "params")


class _Usage(Exception):
    """A usage error: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(prog: str = "jinit auto") -> argparse.ArgumentParser:
    p = _Parser(prog=prog,
                description="Choose each layer's initialization of the model TARGET builds "
                            "from its structure, mean-field theory and one pass on the example "
                            "input; print the table and the signal before and after. Exits 2 "
                            "on a usage error.",
                epilog=__doc__.split("\n\n", 1)[1].split("Exit status")[0].strip(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET",
                   help="path/to/file.py:function or package.module:function")
    p.add_argument("--seed", type=int, default=0, help="root seed (default: %(default)s)")
    p.add_argument("--no-data", action="store_true", help="skip the data pass")
    p.add_argument("--plot", metavar="FILE.png", help="draw the signal before and after")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON ('-': stdout)")
    return p


def _writable(option: str, path: str) -> None:
    if os.path.isdir(path):
        raise _Usage(f"{option} {path!r} is a directory; expected a file name")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise _Usage(f"{option} {path!r}: directory {parent!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise _Usage(f"{option} {path!r}: directory {parent!r} is not writable")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def contract(target: str, value: object) -> dict:
    """The returned value as ``{'model', 'args', 'params'}``, or :class:`_Usage`."""
    expected = "a tuple (model, x, ...) or a dict with 'model' and 'args' (or 'x'), and " \
               "'params' for a function model"
    if isinstance(value, tuple) and len(value) >= 2:
        return {"model": value[0], "args": tuple(value[1:]), "params": None}
    if not isinstance(value, dict):
        raise _Usage(f"TARGET {target!r} returned a {type(value).__name__}; expected {expected}")
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise _Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                     f"expected {expected}")
    if "model" not in value or ("args" not in value and "x" not in value):
        raise _Usage(f"TARGET {target!r} returned keys {sorted(value)}; expected {expected}")
    args = value["args"] if "args" in value else (value["x"],)
    if not isinstance(args, tuple):
        args = (args,)
    return {"model": value["model"], "args": args, "params": value.get("params")}


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit auto TARGET [options]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["auto"]:
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage error (2, one line already printed) or --help (0)
        return int(e.code or 0)
    try:
        if args.plot:
            _writable("--plot", args.plot)
            if not args.plot.endswith(".png"):
                raise _Usage(f"--plot {args.plot!r} is not a .png file name")
            try:
                import matplotlib  # noqa: F401
            except ImportError:
                raise _Usage("--plot needs matplotlib; install it with pip install "
                             "'jinit[plot]'") from None
        if args.json and args.json != "-":
            _writable("--json", args.json)
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
        import jax

        from . import init

        try:
            _, report = init(spec["model"], jax.random.key(args.seed), *spec["args"],
                             params=spec["params"], use_data=not args.no_data)
        except (ValueError, TypeError) as e:
            raise _Usage(f"TARGET {args.target!r} returned {_first_line(e)}") from None
    except _Usage as e:
        print(f"jinit auto: error: {e}", file=sys.stderr)
        return 2
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
