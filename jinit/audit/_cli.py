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
import re
import sys
from collections.abc import Sequence

from .. import _console
from .._console import Usage, guarded, load

PROG = "jinit audit"
KEYS = ("params", "rules", "default", "model", "batch", "init", "keys")


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


EXPECTED = ("a dict with 'params' and 'rules' (optional: 'default', 'model', 'batch', 'init', "
            "'keys') or a pair (params, rules)")


def contract(target: str, value: object) -> dict:
    """The returned value as a dict of :data:`KEYS`, or :class:`Usage`."""
    if isinstance(value, tuple) and len(value) == 2:
        value = {"params": value[0], "rules": value[1]}
    if value is None:
        raise Usage(f"TARGET {target!r} returned None (no return statement?); expected "
                     f"{EXPECTED}")
    if not isinstance(value, dict):
        what = (f"a tuple of {len(value)}" if isinstance(value, tuple) else
                _console.a_type(value))
        raise Usage(f"TARGET {target!r} returned {what}; expected {EXPECTED}")
    unknown = [k for k in value if k not in KEYS]
    if unknown:
        raise Usage(f"TARGET {target!r} returned unknown key(s) {', '.join(map(repr, unknown))}; "
                     f"expected {EXPECTED}")
    if "params" not in value or ("rules" not in value and "default" not in value):
        raise Usage(f"TARGET {target!r} returned keys {sorted(value)}; expected {EXPECTED}")
    if ("model" in value) != ("batch" in value):
        raise Usage(f"TARGET {target!r} returned only one of 'model' and 'batch'; signal "
                     "needs both")
    keys = value.get("keys", 8)
    if isinstance(keys, bool) or not isinstance(keys, int) or keys < 1:
        raise Usage(f"TARGET {target!r} returned keys={keys!r}; expected an int >= 1")
    if value.get("init") is not None and not callable(value["init"]):
        raise Usage(f"TARGET {target!r} returned init={type(value['init']).__name__}; "
                     "expected a function key -> params")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit audit TARGET [options]``; returns the exit status (130 after Ctrl-C)."""
    return _console.command(PROG, argv, build_parser, _run)


def _run(args: argparse.Namespace) -> int:
    target = args.target
    try:
        if args.plot is not None:
            _console.needs_matplotlib()
        fn = load(target)
        spec = contract(target, guarded(f"TARGET {target!r}", fn))
        from . import check, signal

        report = guarded(f"TARGET {target!r}: audit.check() of what it returned", lambda: check(
            spec["params"], spec.get("rules"), default=spec.get("default"), alpha=args.alpha,
            only=args.only, seed=args.seed))
        sig = None
        if "model" in spec:
            sig = guarded(f"TARGET {target!r}: audit.signal() of what it returned", lambda: signal(
                spec["model"], spec["batch"], params=spec.get("params")
                if spec.get("init") is None else None, init=spec.get("init"),
                keys=spec.get("keys", 8), seed=args.seed))
    except Usage as e:
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
