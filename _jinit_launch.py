"""The ``jinit`` console script's entry point, kept outside the package so Ctrl-C is clean.

``[project.scripts] jinit = "_jinit_launch:main"``: a private module shipped in the wheel
beside the ``jinit`` package, not part of jinit's API. ``import jinit`` imports jax first (about
1.5 s), so an entry point inside the package is reached only after that import, and a Ctrl-C
during it ended in a traceback. This module imports only :mod:`os`, :mod:`signal` and :mod:`sys`;
its :func:`main` imports :mod:`jinit._cli` under its own SIGINT handler, which writes one line
and ends the process with exit status 130 at once (a ``KeyboardInterrupt`` raised while jax
imports can land in a garbage-collection callback, where Python prints it as "Exception
ignored" and goes on), then restores Python's handler and runs the command, which turns
Ctrl-C into the same line and status itself.
"""

import os
import signal
import sys

INTERRUPTED = 130  # 128 + SIGINT, as jinit._console.INTERRUPTED (not importable before jax)


def _stop(signum, frame) -> None:
    sys.stderr.write("jinit: interrupted\n")
    sys.stderr.flush()
    os._exit(INTERRUPTED)  # nothing to clean up while modules are being imported


def main() -> int:
    """Runs ``jinit`` (:func:`jinit._cli.main`) with ``sys.argv``; returns its exit status."""
    previous = signal.signal(signal.SIGINT, _stop)
    try:
        from jinit import _cli
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        return _cli.main()
    except KeyboardInterrupt:  # on the way out, after the command's own handling
        sys.stderr.write("jinit: interrupted\n")
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
