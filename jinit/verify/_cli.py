"""The ``jinit`` console command: ``jinit verify [options]`` and ``jinit audit [options]``.

Exit status: 0 when every check passes, 1 when any fails (or nothing was checked), 2 for a
usage error. Every usage error is one line on stderr, found before any long work: flags and
their values, ``--only`` names, and the ``--json``/``--plot`` targets (parent directory
exists, target is not a directory, writable).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from ._suite import DEFAULT_SAMPLES

# Every dtype some declaration is verified in (float8 under --full).
DTYPES = ("float32", "bfloat16", "float16", "complex64", "float8_e4m3fn", "float8_e5m2")
_COORD_KINDS = ("width", "depth", "unit")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit 2), never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Help(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive int")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if not 0 <= value < 2 ** 32:
        raise argparse.ArgumentTypeError(f"{text!r} is not in [0, 2**32)")
    return value


def _items(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _listed(text: str, allowed: Sequence[str], what: str, bad: str) -> list[str]:
    """A comma-separated list of ``allowed`` names; ``bad`` formats the refusal of one."""
    items = _items(text)
    listed = ", ".join(allowed)
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} names no {what}; expected some of {listed}")
    for item in items:
        if item not in allowed:
            raise argparse.ArgumentTypeError(bad.format(item=repr(item), listed=listed))
    return items


def _dtypes(text: str) -> list[str]:
    return _listed(text, DTYPES, "dtype", "invalid choice: {item} (choose from {listed})")


def _names(text: str) -> list[str]:
    from . import _expectations

    items = _items(text)
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} names no initializer")
    for name in items:
        try:
            _expectations.lookup(name)
        except ValueError:
            close = [n for n in sorted(_expectations.REGISTRY) if name in n or n in name]
            hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
            raise argparse.ArgumentTypeError(
                f"{name!r} is not a public initializer{hint} (names as after 'jinit.': "
                "he_normal, presets.torch_linear_kernel, residual.fixup)") from None
    return items


def _coord_kinds(text: str) -> list[str]:
    return _listed(text, _COORD_KINDS, "check", "{item} is not a coordinate check; expected {listed}")


def _target(text: str, what: str) -> str:
    """A file the run will write: its directory exists, it is not a directory, writable."""
    path = os.path.abspath(os.path.expanduser(text))
    parent = os.path.dirname(path)
    if os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; expected a {what} file name")
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text!r}: directory {parent!r} does not exist")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text!r} is not writable")
    if not os.path.exists(path) and not os.access(parent, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text!r}: directory {parent!r} is not writable")
    return text


def _json_target(text: str) -> str:
    return text if text == "-" else _target(text, "JSON")


def _png_target(text: str) -> str:
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a .png file name")
    return _target(text, ".png")


def _typed(fn: Callable[[str], object], name: str) -> Callable[[str], object]:
    fn.__name__ = name  # argparse names the type in its "invalid <name> value" message
    return fn


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jinit", description="jinit: weight initializers for JAX, verified.",
                     formatter_class=_Help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    v = sub.add_parser(
        "verify", formatter_class=_Help,
        help="verify every initializer's moments, distribution and signal propagation",
        description="Checks every public initializer's mean, variance, support and distribution "
                    "(against closed forms, with bounds from the sample size), orthogonality, "
                    "and signal propagation through deep stacks next to mean-field theory.",
        epilog="Exit status: 0 all checks pass, 1 a check fails or nothing was checked, "
               "2 usage error.")
    v.add_argument("--only", type=_typed(_names, "name"), action="extend", metavar="NAMES",
                   help="comma-separated initializers (he_normal,presets.torch_linear_kernel,"
                        "residual.fixup): their moments, and signal propagation for those it "
                        "covers (default: all)")
    v.add_argument("--dtype", type=_typed(_dtypes, "dtype"), action="extend", metavar="DTYPES",
                   help=f"comma-separated dtypes among {', '.join(DTYPES)} (default: each "
                        "initializer's own; signal propagation runs in float32)")
    v.add_argument("--samples", type=_typed(_positive, "positive int"), default=DEFAULT_SAMPLES,
                   metavar="N", help="values per moment check (default: %(default)s = 2**20)")
    v.add_argument("--full", action="store_true",
                   help="every variant x shape x dtype, float8 included; takes minutes "
                        "(default: off)")
    v.add_argument("--depth", type=_typed(_positive, "positive int"), default=32, metavar="L",
                   help="signal-propagation depth (default: %(default)s)")
    v.add_argument("--width", type=_typed(_positive, "positive int"), default=256, metavar="N",
                   help="signal-propagation width (default: %(default)s)")
    v.add_argument("--no-signal", action="store_true",
                   help="skip signal propagation (default: run it)")
    v.add_argument("--coord-check", nargs="?", const=list(_COORD_KINDS),
                   type=_typed(_coord_kinds, "check"), metavar="KINDS",
                   help="also run coordinate checks (needs optax): comma-separated among "
                        f"{', '.join(_COORD_KINDS)} (muP, CompleteP, u-muP; all when no list "
                        "is given); with --plot, draws the width check to FILE-coord.png "
                        "(default: off)")
    v.add_argument("--seed", type=_typed(_seed, "seed"), default=0,
                   help="base seed (default: %(default)s)")
    v.add_argument("--json", nargs="?", const="-", type=_typed(_json_target, "JSON target"),
                   metavar="FILE",
                   help="write the full report as JSON to FILE, or to stdout with no FILE "
                        "(default: none)")
    v.add_argument("--plot", type=_typed(_png_target, "PNG target"), metavar="FILE.png",
                   help="draw forward and backward variance against depth to a PNG (needs "
                        "matplotlib) (default: none)")
    v.add_argument("-v", "--verbose", action="store_true",
                   help="print every check, not one row per initializer x shape x dtype "
                        "(default: off)")
    v.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines on stderr (default: off)")
    v.set_defaults(parser=v)
    sub.add_parser("audit", add_help=False,
                   help="check a model's parameters against the laws of their declared "
                        "initializers (see 'jinit audit --help')")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jinit``: dispatches to ``verify`` or ``audit``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["audit"]:
        return _audit(argv[1:])
    if argv[:1] == ["compare"]:
        from jinit.compare._cli import main as compare_main

        return int(compare_main(argv[1:]) or 0)
    if argv[:1] == ["auto"]:
        from jinit.auto._cli import main as auto_main

        return int(auto_main(argv[1:]) or 0)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            getattr(args, "parser", parser).error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command is None:
            parser.error("a command is required; expected 'verify' or 'audit'")
        return _verify(args)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2


def _audit(argv: list[str]) -> int:
    try:
        from jinit.audit import _cli as audit_cli
    except ImportError as exc:
        missing = getattr(exc, "name", None) in ("jinit.audit", "jinit.audit._cli")
        print("jinit audit: error: " + ("this jinit has no audit command (jinit.audit._cli is "
                                        "missing)" if missing else
                                        f"jinit.audit could not be imported: {exc}"),
              file=sys.stderr)
        return 2
    try:
        return int(audit_cli.main(argv) or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2


def _verify(args: argparse.Namespace) -> int:
    from . import _report, _signal, _suite

    prog = args.parser.prog
    error = args.parser.error
    signal = not args.no_signal
    if args.plot and args.no_signal and not args.coord_check:
        error("--plot draws signal propagation, which --no-signal turns off; drop one of them")
    schemes = _report.signal_schemes(args.only, args.dtype) if signal else ()
    if args.plot and not schemes and not args.coord_check:
        why = ("--dtype leaves out float32, the dtype signal propagation runs in"
               if args.dtype and "float32" not in args.dtype else
               f"--only selects none of the schemes it covers ({', '.join(_signal.KNOWN)})")
        error(f"--plot draws signal propagation, but {why}")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            error("--plot needs matplotlib; install it with pip install 'jinit[plot]'")
        if args.coord_check:
            _target_or_error(error, args.plot[:-4] + "-coord.png")
    if args.coord_check:
        try:
            import optax  # noqa: F401
        except ImportError:
            error("--coord-check needs optax; install it with pip install 'jinit[flax]'")
    tasks = _suite.plan(args.only, samples=args.samples, dtypes=args.dtype, full=args.full,
                        seed=args.seed)
    if not tasks and not schemes and not args.coord_check:
        print(f"{prog}: nothing was checked: {_nothing_reason(args)}", file=sys.stderr)
        return 1

    progress = None if args.quiet else _report.stderr_progress()
    report = _report.run(
        args.only, samples=args.samples, dtypes=args.dtype, full=args.full, signal=signal,
        depth=args.depth, width=args.width, coord_check=args.coord_check, seed=args.seed,
        progress=progress, tasks=tasks)
    if args.json == "-":
        json.dump(report.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(report.table(verbose=args.verbose, width=_report.terminal_width()))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(report.to_json(), f, indent=1)
    if args.plot:
        from ._plot import plot_signal

        if report.signal is not None:
            plot_signal(report.signal, args.plot)
            if progress:
                progress(f"plot: wrote {args.plot}")
        if report.coord is not None:
            from ._coord import plot_coord_check

            coord_path = args.plot[:-4] + "-coord.png"
            plot_coord_check(report.coord, coord_path)
            if progress:
                progress(f"plot: wrote {coord_path}")
    return 0 if report.passed else 1


def _target_or_error(error: Callable[[str], None], path: str) -> None:
    try:
        _target(path, ".png")
    except argparse.ArgumentTypeError as exc:
        error(f"argument --plot: {exc}")


def _nothing_reason(args: argparse.Namespace) -> str:
    """Why a selection holds no check, in terms of the flags that made it empty."""
    from . import _suite

    decls = _suite.select(args.only)
    defined = list(dict.fromkeys(d for decl in decls for d in decl.dtypes(False)))
    extra = [d for d in dict.fromkeys(d for decl in decls for d in decl.dtypes(True))
             if d not in defined]
    who = decls[0].qualname + " is" if len(decls) == 1 else "the selected initializers are"
    where = ", ".join(defined) + (f", and {', '.join(extra)} with --full" if extra and not
                                  args.full else (", " + ", ".join(extra) if extra else ""))
    fix = " (add --full)" if not args.full and set(args.dtype or ()) & set(extra) else ""
    signal = ("" if args.no_signal else
              "; signal propagation runs in float32, which --dtype leaves out"
              if "float32" not in (args.dtype or ("float32",)) else "")
    return (f"{who} verified in {where}; --dtype {','.join(args.dtype)} selects none of them"
            f"{fix}{signal}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
