"""The ``jinit`` console command: ``jinit verify [options]``.

Exit status: 0 when every check passes, 1 when any fails, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

_COORD_KINDS = ("width", "depth", "unit")
_DTYPES = ("float32", "bfloat16", "float16", "float64", "complex64", "float8_e4m3fn",
           "float8_e5m2")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with status 2 and a one-line message, never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an int") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not positive")
    return value


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="jinit", description="jinit: weight initializers for JAX, verified.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    v = sub.add_parser(
        "verify", help="verify every initializer's moments, distribution and signal propagation",
        description="Checks every public initializer's mean, variance, support and distribution "
                    "(against closed forms, with bounds from the sample size), orthogonality, "
                    "and signal propagation through deep stacks next to mean-field theory. "
                    "Exits 1 when any check fails.")
    v.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="write the full report as JSON to FILE (or to stdout with no FILE)")
    v.add_argument("--plot", metavar="FILE.png",
                   help="draw forward and backward variance against depth to a PNG")
    v.add_argument("--only", type=_names, metavar="NAMES",
                   help="comma-separated initializer names (e.g. he_normal,orthogonal,"
                        "presets.torch_linear_kernel); skips signal propagation")
    v.add_argument("--samples", type=_positive, metavar="N",
                   help="values per moment check (default 2**20)")
    v.add_argument("--depth", type=_positive, default=32, help="signal-propagation depth")
    v.add_argument("--width", type=_positive, default=256, help="signal-propagation width")
    v.add_argument("--dtype", type=_names, metavar="DTYPES",
                   help=f"comma-separated dtypes among {', '.join(_DTYPES)}")
    v.add_argument("--full", action="store_true",
                   help="every variant x shape x dtype (float8 included); takes longer")
    v.add_argument("--no-signal", action="store_true", help="skip signal propagation")
    v.add_argument("--coord-check", nargs="?", const=list(_COORD_KINDS), type=_names,
                   metavar="KINDS",
                   help="also run coordinate checks (needs optax): comma-separated among "
                        f"{', '.join(_COORD_KINDS)} (muP, CompleteP, u-muP; default all); with "
                        "--plot, draws the width check to FILE-coord.png")
    v.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    v.add_argument("-v", "--verbose", action="store_true", help="print every check, not one row "
                                                                "per initializer x shape x dtype")
    v.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jinit``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != "verify":
        parser.print_usage(sys.stderr)
        print("jinit: error: a command is required; expected 'verify' "
              "(try 'jinit verify --help')", file=sys.stderr)
        return 2
    return _verify(parser, args)


def _verify(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from . import _expectations

    for d in args.dtype or ():
        if d not in _DTYPES:
            parser.print_usage(sys.stderr)
            print(f"jinit verify: error: --dtype {d!r} is not supported; expected one of "
                  f"{', '.join(_DTYPES)}", file=sys.stderr)
            return 2
    for name in args.only or ():
        try:
            _expectations.lookup(name)
        except ValueError:
            parser.print_usage(sys.stderr)
            close = [n for n in sorted(_expectations.REGISTRY) if name in n or n in name]
            hint = f" Did you mean {', '.join(close[:5])}?" if close else ""
            print(f"jinit verify: error: --only {name!r} is not a public initializer.{hint} "
                  "The names are those of jinit (he_normal) and jinit.presets "
                  "(presets.torch_linear_kernel).", file=sys.stderr)
            return 2
    if args.plot and not args.plot.lower().endswith(".png"):
        parser.print_usage(sys.stderr)
        print(f"jinit verify: error: --plot {args.plot!r} is not a .png file name",
              file=sys.stderr)
        return 2
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("jinit verify: error: --plot needs matplotlib; install it with "
                  "pip install 'jinit[plot]'", file=sys.stderr)
            return 2
    for k in args.coord_check or ():
        if k not in _COORD_KINDS:
            parser.error(f"--coord-check {k!r} is not a check; expected {', '.join(_COORD_KINDS)}")
    if args.coord_check:
        try:
            import optax  # noqa: F401
        except ImportError:
            print("jinit verify: error: --coord-check needs optax; install it with "
                  "pip install 'jinit[flax]'", file=sys.stderr)
            return 2

    from . import _report, _suite

    progress = None if args.quiet else _report.stderr_progress()
    report = _report.run(
        args.only, samples=args.samples or _suite.DEFAULT_SAMPLES, dtypes=args.dtype,
        full=args.full, signal=not args.no_signal, depth=args.depth, width=args.width,
        coord_check=args.coord_check, seed=args.seed, progress=progress)
    if args.json == "-":
        json.dump(report.to_json(), sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(report.table(verbose=args.verbose))
        if args.json:
            with open(args.json, "w", encoding="utf-8") as f:
                json.dump(report.to_json(), f, indent=1)
    if args.plot:
        from ._plot import plot_signal

        if report.signal is not None:
            plot_signal(report.signal, args.plot)
            if progress:
                progress(f"plot: wrote {args.plot}")
        elif progress:
            progress("plot: no signal-propagation run (--only or --no-signal); nothing drawn")
        if report.coord is not None:
            from ._coord import plot_coord_check

            coord_path = args.plot[:-4] + "-coord.png"
            plot_coord_check(report.coord, coord_path)
            if progress:
                progress(f"plot: wrote {coord_path}")
    return 0 if report.passed else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
