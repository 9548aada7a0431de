"""``jinit audit TARGET``: audit the parameters a user's function builds.

TARGET is ``path/to/file.py:function`` or ``package.module:function``. The function takes no
arguments and returns a dict (the return contract)::

    {"params": tree,             # required: what jinit.audit.check audits
     "rules": rules,             # required unless "default" is given
     "default": initializer,     # optional
     "model": model, "batch": x, # optional, both: also run jinit.audit.signal
     "init": key -> params,      # optional, for signal: vmapped over keys
     "keys": 8}                  # optional, for signal

or a pair ``(params, rules)``. Exit status: 0 when every leaf passes, 1 when a leaf is
flagged (or undeclared), 2 for a usage error (bad option, unwritable output path,
unimportable target, missing function, wrong return value, invalid rules), each reported
in one line before any long work.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Sequence

KEYS = ("params", "rules", "default", "model", "batch", "init", "keys")


class _Usage(Exception):
    """A usage error: one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not in (0, 1)")
    return value


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid regular expression ({e})") \
            from None
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="jinit audit",
                description="Audit a model's initialization: every leaf against the law its "
                            "rule declares (and, with a model and batch, the signal through "
                            "it). Exits 1 when a leaf is flagged, 2 on a usage error.",
                epilog=__doc__.split("\n\n", 1)[1].split("Exit status")[0].strip(),
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET",
                   help="path/to/file.py:function or package.module:function")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the report as JSON to FILE (to stdout, instead of the table, "
                        "with no FILE)")
    p.add_argument("--plot", metavar="FILE.png",
                   help="draw the signal (with a model and batch) or measured/expected std "
                        "per leaf to a PNG")
    p.add_argument("--alpha", type=_alpha, default=1e-6,
                   help="false-flag rate per leaf (default 1e-6)")
    p.add_argument("--only", type=_regex, metavar="REGEX", help="audit only matching paths")
    p.add_argument("--seed", type=int, default=0, help="seed of fresh draws and signal keys")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per check")
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
    if args.json not in (None, "-"):
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load(target: str) -> object:
    """The function TARGET names (``file.py:fn`` or ``pkg.mod:fn``), or :class:`_Usage`."""
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise _Usage(f"TARGET {target!r} is not FILE.py:FUNCTION or MODULE:FUNCTION")
    if where.endswith(".py") or os.sep in where or "/" in where:
        if not os.path.isfile(where):
            raise _Usage(f"TARGET {target!r}: no such file {where!r}")
        spec = importlib.util.spec_from_file_location(
            f"_jinit_audit_target_{abs(hash(os.path.abspath(where)))}", where)
        if spec is None or spec.loader is None:
            raise _Usage(f"TARGET {target!r}: {where!r} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(where)))
        try:
            spec.loader.exec_module(module)
        except BaseException as e:  # noqa: BLE001 - the user's module failed to import
            raise _Usage(f"TARGET {target!r}: importing {where!r} failed: {_first_line(e)}") \
                from None
        finally:
            sys.path.pop(0)
    else:
        try:
            module = importlib.import_module(where)
        except BaseException as e:  # noqa: BLE001
            raise _Usage(f"TARGET {target!r}: cannot import module {where!r}: "
                         f"{_first_line(e)}") from None
    fn = getattr(module, name, None)
    if fn is None:
        raise _Usage(f"TARGET {target!r}: {where!r} has no function {name!r}")
    if not callable(fn):
        raise _Usage(f"TARGET {target!r}: {name!r} is a {type(fn).__name__}, not a function")
    return fn


def contract(target: str, value: object) -> dict:
    """The returned value as a dict of :data:`KEYS`, or :class:`_Usage`."""
    expected = ("a dict with 'params' and 'rules' (optional: 'default', 'model', 'batch', "
                "'init', 'keys') or a pair (params, rules)")
    if isinstance(value, tuple) and len(value) == 2:
        value = {"params": value[0], "rules": value[1]}
    if not isinstance(value, dict):
        raise _Usage(f"TARGET {target!r} returned a {type(value).__name__}; expected {expected}")
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise _Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                     f"expected {expected}")
    if "params" not in value or ("rules" not in value and "default" not in value):
        raise _Usage(f"TARGET {target!r} returned keys {sorted(value)}; expected {expected}")
    if ("model" in value) != ("batch" in value):
        raise _Usage(f"TARGET {target!r} returned only one of 'model' and 'batch'; signal "
                     "needs both")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit audit TARGET [options]``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["audit"]:
        argv = argv[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # usage error (2, one line already printed) or --help (0)
        return int(e.code or 0)
    try:
        _check_outputs(args)
        fn = load(args.target)
        try:
            value = fn()
        except Exception as e:  # noqa: BLE001 - the user's function failed
            raise _Usage(f"TARGET {args.target!r} raised {_first_line(e)}") from None
        spec = contract(args.target, value)
        from . import check, signal

        try:
            report = check(spec["params"], spec.get("rules"), default=spec.get("default"),
                           alpha=args.alpha, only=args.only, seed=args.seed)
        except (ValueError, TypeError) as e:
            raise _Usage(f"TARGET {args.target!r} returned {_first_line(e)}") from None
        sig = None
        if "model" in spec:
            try:
                sig = signal(spec["model"], spec["batch"], params=spec.get("params")
                             if spec.get("init") is None else None, init=spec.get("init"),
                             keys=spec.get("keys", 8), seed=args.seed)
            except (ValueError, TypeError) as e:
                raise _Usage(f"signal: {_first_line(e)}") from None
    except _Usage as e:
        print(f"jinit audit: error: {e}", file=sys.stderr)
        return 2
    doc = {"check": report.as_dict(), "signal": sig.as_dict() if sig is not None else None}
    import json

    if args.json == "-":
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(report.table(verbose=args.verbose))
        print(report.summary())
        if sig is not None:
            print()
            print(sig)
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
    if args.plot:
        (sig if sig is not None else report).plot(args.plot)
    return 0 if report.ok else 1
