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
flagged (or undeclared), 2 for a usage error (bad option or value, unwritable output path,
unimportable target, missing function, a target that raises, calls ``sys.exit`` or returns
the wrong value, invalid rules), each reported in one line, every flag checked before the
target is imported; 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import os
import re
import sys
from collections.abc import Callable, Sequence

from .. import _console

PROG = "jinit audit"
KEYS = ("params", "rules", "default", "model", "batch", "init", "keys")


class _Usage(Exception):
    """A usage error: one line on stderr, exit status 2."""


# alpha is split over a leaf's checks (and pieces) and halved for a two-sided bound before
# its logarithm and normal quantile are taken: below ~1e-300 that underflows.
ALPHA_MIN = 1e-300
_alpha = _console.named(_console.real(
    ALPHA_MIN, 1.0, "smaller rates underflow once split over a leaf's checks"), "alpha")


def _regex(text: str) -> str:
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid regular expression ({e})") \
            from None
    return text


def build_parser() -> argparse.ArgumentParser:
    p = _console.Parser(
        prog=PROG,
        description="Audit a model's initialization: every leaf against the law its rule "
                    "declares (and, with a model and batch, the signal through it). Exits 1 "
                    "when a leaf is flagged, 2 on a usage error, 130 when interrupted.",
        epilog=__doc__.split("\n\n", 1)[1].split("Exit status")[0].strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET",
                   help="path/to/file.py:function or package.module:function")
    p.add_argument("--json", nargs="?", const="-", type=_console.json_target, metavar="FILE",
                   help="write the report as JSON to FILE (to stdout, instead of the table, "
                        "with no FILE)")
    p.add_argument("--plot", type=_console.png_target, metavar="FILE.png",
                   help="draw the signal (with a model and batch) or measured/expected std "
                        "per leaf to a PNG")
    p.add_argument("--alpha", type=_alpha, default=1e-6,
                   help="false-flag rate per leaf, a number in [1e-300, 1) (default: "
                        "%(default)s)")
    p.add_argument("--only", type=_regex, metavar="REGEX", help="audit only matching paths")
    p.add_argument("--seed", type=_console.seed, default=0,
                   help="seed of fresh draws and signal keys, an int in [0, 2**32): a seed's "
                        "low 32 bits are all JAX keeps (default: %(default)s)")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per check")
    return p


def _check_outputs(args: argparse.Namespace) -> None:
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _Usage("--plot needs matplotlib; install it with pip install "
                         "'jinit[plot]'") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _guarded(what: str, action: Callable[[], object]) -> object:
    """``action()``; where the user's code raises or calls ``sys.exit``, a :class:`_Usage`
    saying so after ``what``. Ctrl-C (KeyboardInterrupt) passes through."""
    try:
        return action()
    except KeyboardInterrupt:
        raise
    except SystemExit as e:
        raise _Usage(f"{what} called sys.exit({e.code!r}); expected it to return") from None
    except BaseException as e:  # noqa: BLE001 - the user's code failed
        raise _Usage(f"{what} raised {_first_line(e)}") from None


def load(target: str) -> Callable:
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
            _guarded(f"TARGET {target!r}: importing {where!r}",
                     lambda: spec.loader.exec_module(module))
        finally:
            sys.path.pop(0)
    else:
        module = _guarded(f"TARGET {target!r}: importing module {where!r}",
                          lambda: importlib.import_module(where))
    fn = getattr(module, name, None)
    if fn is None:
        raise _Usage(f"TARGET {target!r}: {where!r} has no function {name!r}")
    if not callable(fn):
        raise _Usage(f"TARGET {target!r}: {name!r} is a {type(fn).__name__}, not a function")
    try:
        inspect.signature(fn).bind()
    except TypeError as e:
        raise _Usage(f"TARGET {target!r}: {name}{inspect.signature(fn)} cannot be called "
                     f"without arguments ({e}); expected a function of no arguments") from None
    except ValueError:  # no signature to read (a builtin): calling it will tell
        pass
    return fn


EXPECTED = ("a dict with 'params' and 'rules' (optional: 'default', 'model', 'batch', 'init', "
            "'keys') or a pair (params, rules)")


def contract(target: str, value: object) -> dict:
    """The returned value as a dict of :data:`KEYS`, or :class:`_Usage`."""
    if isinstance(value, tuple) and len(value) == 2:
        value = {"params": value[0], "rules": value[1]}
    if value is None:
        raise _Usage(f"TARGET {target!r} returned None (no return statement?); expected "
                     f"{EXPECTED}")
    if not isinstance(value, dict):
        what = (f"a tuple of {len(value)}" if isinstance(value, tuple) else
                f"a {type(value).__name__}")
        raise _Usage(f"TARGET {target!r} returned {what}; expected {EXPECTED}")
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise _Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                     f"expected {EXPECTED}")
    if "params" not in value or ("rules" not in value and "default" not in value):
        raise _Usage(f"TARGET {target!r} returned keys {sorted(value)}; expected {EXPECTED}")
    if ("model" in value) != ("batch" in value):
        raise _Usage(f"TARGET {target!r} returned only one of 'model' and 'batch'; signal "
                     "needs both")
    keys = value.get("keys", 8)
    if isinstance(keys, bool) or not isinstance(keys, int) or keys < 1:
        raise _Usage(f"TARGET {target!r} returned keys={keys!r}; expected an int >= 1")
    if value.get("init") is not None and not callable(value["init"]):
        raise _Usage(f"TARGET {target!r} returned init={type(value['init']).__name__}; "
                     "expected a function key -> params")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit audit TARGET [options]``; returns the exit status (130 after Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["audit"]:
        argv = argv[1:]
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return _console.interrupted(PROG)


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)  # every flag, before the target is imported
    except SystemExit as e:  # usage error (2, one line already printed) or --help (0)
        return e.code if isinstance(e.code, int) else _console.USAGE
    target = args.target
    try:
        _check_outputs(args)
        fn = load(target)
        spec = contract(target, _guarded(f"TARGET {target!r}", fn))
        from . import check, signal

        report = _guarded(f"TARGET {target!r}: audit.check() of what it returned", lambda: check(
            spec["params"], spec.get("rules"), default=spec.get("default"), alpha=args.alpha,
            only=args.only, seed=args.seed))
        sig = None
        if "model" in spec:
            sig = _guarded(f"TARGET {target!r}: audit.signal() of what it returned", lambda: signal(
                spec["model"], spec["batch"], params=spec.get("params")
                if spec.get("init") is None else None, init=spec.get("init"),
                keys=spec.get("keys", 8), seed=args.seed))
    except _Usage as e:
        return _console.usage(PROG, str(e))
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
