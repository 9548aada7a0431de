"""``jinit verify [options]``: verify every public initializer (the ``jinit`` command's
subcommand; the command itself and its dispatch are :mod:`jinit._cli`).

Exit status: 0 when every check passes, 1 when any fails (or nothing was checked), 2 for a
usage error, 130 after Ctrl-C. Every usage error is one line on stderr, found before any long
work: flags and their values (in range), ``--only`` names, the ``--json``/``--plot`` targets
(parent directory exists, target is not a directory, writable), and the memory the run would
need against the memory the machine has. The parser, the value checks and the error line are
the ones every ``jinit`` subcommand uses (:mod:`jinit._console`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
from collections.abc import Callable, Sequence

from .. import _console
from ._suite import DEFAULT_SAMPLES

# Every dtype some declaration is verified in (float8 under --full).
DTYPES = ("float32", "bfloat16", "float16", "complex64", "float8_e4m3fn", "float8_e5m2")
_COORD_KINDS = ("width", "depth", "unit")

# --samples: the variance check divides by n - 1, and the reductions count values (histogram,
# zeros, non-finite values) in int32.
SAMPLES_MIN, SAMPLES_END = 2, 2 ** 31
_samples = _console.named(_console.integer(
    SAMPLES_MIN, SAMPLES_END, "2**31", "the variance divides by n - 1; values are counted in "
    "int32"), "samples")
_size = _console.named(_console.integer(1), "size")

# Memory a run needs beyond the JAX runtime and its compiled programs (about 0.5 GiB),
# measured as the rise of the process's peak resident memory (VmHWM) over the largest task
# of each kind, on a CPU: a moment task holds at most about 72 bytes per value it draws
# (complex64 and the sparse schemes; 30 to 55 for the real dtypes); signal propagation about
# 4.5 times its float32 kernels (the orthogonal scheme's QRs) plus about 7 times its
# activations and their gradients. The estimate rounds each up.
_RUNTIME = 2 ** 29
_PER_VALUE = 80
_PER_KERNEL_BYTE, _PER_STATE_BYTE, _PER_LAYER = 5, 8, 2 ** 14


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
    from jinit import laws

    items = _items(text)
    if not items:
        raise argparse.ArgumentTypeError(f"{text!r} names no initializer")
    for name in items:
        try:
            laws.lookup(name)
        except ValueError:
            close = [n for n in sorted(laws.REGISTRY) if name in n or n in name]
            hint = f"; did you mean {', '.join(close[:5])}?" if close else ""
            raise argparse.ArgumentTypeError(
                f"{name!r} is not a public initializer{hint} (names as after 'jinit.': "
                "he_normal, presets.torch_linear_kernel, residual.fixup)") from None
    return items


def _coord_kinds(text: str) -> list[str]:
    return _listed(text, _COORD_KINDS, "check", "{item} is not a coordinate check; expected {listed}")


PROG = "jinit verify"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    v = _console.Parser(
        prog=prog, formatter_class=_console.Help,
        description="Checks every public initializer's mean, variance, support and distribution "
                    "(against closed forms, with bounds from the sample size), orthogonality, "
                    "and signal propagation through deep stacks next to mean-field theory.",
        epilog="Exit status: 0 all checks pass, 1 a check fails or nothing was checked, "
               "2 usage error (also a run estimated to need more memory than the machine has), "
               "130 interrupted (Ctrl-C).")
    named = _console.named
    v.add_argument("--only", type=named(_names, "name"), action="extend", metavar="NAMES",
                   help="comma-separated initializers (he_normal,presets.torch_linear_kernel,"
                        "residual.fixup): their moments, and signal propagation for those it "
                        "covers (default: all)")
    v.add_argument("--dtype", type=named(_dtypes, "dtype"), action="extend", metavar="DTYPES",
                   help=f"comma-separated dtypes among {', '.join(DTYPES)} (default: each "
                        "initializer's own; signal propagation runs in float32)")
    v.add_argument("--samples", type=_samples, default=DEFAULT_SAMPLES, metavar="N",
                   help="values per moment check, an int in [2, 2**31); about 80 bytes of "
                        "memory each (default: %(default)s = 2**20)")
    v.add_argument("--full", action="store_true",
                   help="every variant x shape x dtype, float8 included; takes minutes "
                        "(default: off)")
    v.add_argument("--depth", type=_size, default=32, metavar="L",
                   help="signal-propagation depth, an int >= 1; time and memory grow with it "
                        "(default: %(default)s)")
    v.add_argument("--width", type=_size, default=256, metavar="N",
                   help="signal-propagation width, an int >= 1; memory grows with depth x "
                        "width**2 (default: %(default)s)")
    v.add_argument("--no-signal", action="store_true",
                   help="skip signal propagation (default: run it)")
    v.add_argument("--coord-check", nargs="?", const=list(_COORD_KINDS),
                   type=named(_coord_kinds, "check"), metavar="KINDS",
                   help="also run coordinate checks (needs optax): comma-separated among "
                        f"{', '.join(_COORD_KINDS)} (muP, CompleteP, u-muP; all when no list "
                        "is given); with --plot, draws the width check to FILE-coord.png "
                        "(default: off)")
    v.add_argument("--seed", type=_console.seed, default=0,
                   help="base seed, an int in [0, 2**32): a seed's low 32 bits are all JAX "
                        "keeps (default: %(default)s)")
    v.add_argument("--json", nargs="?", const="-", type=_console.json_target, metavar="FILE",
                   help="write the full report as JSON to FILE, or to stdout with no FILE "
                        "(default: none)")
    v.add_argument("--plot", type=_console.png_target, metavar="FILE.png",
                   help="draw forward and backward variance against depth to a PNG (needs "
                        "matplotlib) (default: none)")
    v.add_argument("-v", "--verbose", action="store_true",
                   help="print every check, not one row per initializer x shape x dtype "
                        "(default: off)")
    v.add_argument("-q", "--quiet", action="store_true",
                   help="no progress lines on stderr (default: off)")
    v.set_defaults(parser=v)
    return v


def main(argv: Sequence[str] | None = None) -> int:
    """``jinit verify [options]``; returns the exit status (130 after Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["verify"]:
        argv = argv[1:]
    try:
        try:
            return _verify(build_parser().parse_args(argv))
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return exc.code if isinstance(exc.code, int) else _console.USAGE
    except KeyboardInterrupt:
        return _console.interrupted(PROG)


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
    too_big = _memory_error(args, tasks, bool(schemes))
    if too_big:
        error(too_big)

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
        _console.target(path, ".png")
    except argparse.ArgumentTypeError as exc:
        error(f"argument --plot: {exc}")


def moment_bytes(tasks: Sequence) -> int:
    """Estimated peak memory of the moment checks: their largest task's draws, worked on."""
    return _PER_VALUE * max((t.arrays * math.prod(t.shape) for t in tasks), default=0)


def signal_bytes(depth: int, width: int) -> int:
    """Estimated peak memory of signal propagation at ``depth`` x ``width``.

    Its float32 kernels (keys x depth x width x width), its activations and their gradients
    (keys x (depth + 1) x batch x width), at the ``keys`` and ``batch`` it runs with.
    """
    from ._signal import signal_propagation

    params = inspect.signature(signal_propagation).parameters
    keys, batch = params["keys"].default, params["batch"].default
    kernels = 4 * keys * depth * width * width
    states = 4 * keys * (depth + 1) * batch * width
    return _PER_KERNEL_BYTE * kernels + _PER_STATE_BYTE * states + _PER_LAYER * depth


def _largest(fits: Callable[[int], bool], high: int) -> int:
    """The largest ``n`` in ``[1, high]`` with ``fits(n)`` (``fits`` decreasing), or 0."""
    low = 0
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return low


def _memory_limit() -> tuple[int, str] | None:
    """The machine's memory (:func:`jinit._console.memory`), or an accelerator's if smaller."""
    found = _console.memory()
    try:
        import jax

        device = jax.devices()[0]
        limit = (device.memory_stats() or {}).get("bytes_limit") if (
            device.platform != "cpu") else None
    except Exception:  # noqa: BLE001 - no statistics on this backend: the host's memory
        limit = None
    if limit and (found is None or int(limit) < found[0]):
        found = (int(limit), f"the {device.platform.upper()} ({device.device_kind}) has")
    return found


def _memory_error(args: argparse.Namespace, tasks: Sequence, signal: bool) -> str | None:
    """Why the run would not fit in the machine's memory (a usage error), or ``None``."""
    found = _memory_limit()
    if found is None:
        return None
    limit, who = found
    room = limit - _RUNTIME
    size = _console.size
    need = moment_bytes(tasks)
    if need > room:
        fit = max(room // _PER_VALUE, 1)
        expected = (f"--samples <= 2**{fit.bit_length() - 1}" if fit >= SAMPLES_MIN else
                    "more memory")
        return (f"argument --samples: {args.samples} needs about {size(need + _RUNTIME)} of "
                f"memory (estimate: {need // _PER_VALUE} values drawn at once, {_PER_VALUE} "
                f"bytes each), more than the {size(limit)} {who}; expected {expected}")
    if not signal:
        return None
    depth, width = args.depth, args.width
    need = signal_bytes(depth, width)
    if need <= room:
        return None
    parser = args.parser
    by_depth = depth / parser.get_default("depth") > width / parser.get_default("width")
    if by_depth:
        flag, value, other = "--depth", depth, f"--width {width}"
        fit = _largest(lambda d: signal_bytes(d, width) <= room, depth)
    else:
        flag, value, other = "--width", width, f"--depth {depth}"
        fit = _largest(lambda w: signal_bytes(depth, w) <= room, width)
    expected = f"{flag} <= {fit} at {other}" if fit else f"a smaller {other}"
    return (f"argument {flag}: {value} at {other} needs about {size(need + _RUNTIME)} of memory "
            f"for signal propagation (estimate), more than the {size(limit)} {who}; expected "
            f"{expected}, or --no-signal")


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
