"""The ``jinit`` console command: ``jinit verify``, ``jinit audit``, ``jinit compare``, ``jinit auto``.

The top of the house: each subcommand lives in its own room (:data:`COMMANDS`: ``jinit
verify`` in :mod:`jinit.verify._cli`, ``jinit audit`` in :mod:`jinit.audit._cli`, ...), which
builds its parser from :class:`jinit._console.Parser` and runs it with its ``main(argv)``.
This module lists them in ``jinit --help`` and imports only the one a command line names, by
its first word, so no subcommand imports another and a missing one leaves the rest working.

Exit status: the subcommand's (0 success, 1 a check failed or a leaf was flagged, 2 a usage
error, one line on stderr, 130 after Ctrl-C, one line, no traceback). The installed ``jinit``
script starts in :mod:`_jinit_launch`, outside the package, so that Ctrl-C is as clean while
Python is still importing jax.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import _console

PROG = "jinit"

# name -> (the module whose main(argv) runs it, its line in 'jinit --help').
COMMANDS = {
    "verify": ("jinit.verify._cli",
               "verify every initializer's moments, distribution and signal propagation "
               "(see 'jinit verify --help')"),
    "audit": ("jinit.audit._cli",
              "check a model's parameters against the laws of their declared initializers "
              "(see 'jinit audit --help')"),
    "compare": ("jinit.compare._cli",
                "train a model from several inits and compare their training and validation "
                "curves (see 'jinit compare --help')"),
    "auto": ("jinit.auto._cli",
             "choose each layer's init from the model's structure and a batch, with the proof "
             "(see 'jinit auto --help')"),
}


def build_parser() -> argparse.ArgumentParser:
    """``jinit``'s own parser: the list of subcommands (each parses its own arguments)."""
    parser = _console.Parser(prog=PROG, formatter_class=_console.Help,
                             description="jinit: weight initializers for JAX, verified.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=_console.Parser)
    for name, (_, line) in COMMANDS.items():
        sub.add_parser(name, add_help=False, help=line)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jinit``: runs the subcommand the first word names; returns the exit
    status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] and argv[0] in COMMANDS:
        return _run(argv[0], argv[1:])
    try:
        parser = build_parser()
        try:
            args, extra = parser.parse_known_args(argv)
            if extra:
                parser.error(f"unrecognized arguments: {' '.join(extra)}")
            if args.command is None:
                parser.error("a command is required; expected "
                             + ", ".join(repr(c) for c in list(COMMANDS)[:-1])
                             + f" or {list(COMMANDS)[-1]!r}")
            return _run(args.command, [])  # 'jinit -- verify': the command after '--'
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            return exc.code if isinstance(exc.code, int) else _console.USAGE
    except KeyboardInterrupt:
        return _console.interrupted(PROG)


def _run(name: str, argv: list[str]) -> int:
    """``jinit <name> <argv>``: imports the subcommand's module and runs its ``main``."""
    prog, module = f"{PROG} {name}", COMMANDS[name][0]
    try:
        cli = importlib.import_module(module)
    except KeyboardInterrupt:
        return _console.interrupted(prog)
    except ImportError as exc:
        package = module.rpartition(".")[0]
        missing = getattr(exc, "name", None) in (package, module)
        print(f"{prog}: error: " + (f"this jinit has no {name} command ({module} is missing)"
                                    if missing else f"{package} could not be imported: {exc}"),
              file=sys.stderr)
        return _console.USAGE
    try:
        return int(cli.main(argv) or 0)
    except KeyboardInterrupt:
        return _console.interrupted(prog)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else _console.USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
