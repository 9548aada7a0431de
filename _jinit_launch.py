"""The ``jinit`` console script's entry point, kept outside the package so Ctrl-C is clean.

``[project.scripts] jinit = "_jinit_launch:main"``: a private module shipped in the wheel
beside the ``jinit`` package, not part of jinit's API. ``import jinit`` imports jax first (about
1.5 s), so an entry point inside the package is reached only after that import, and a Ctrl-C
during it ended in a traceback. This module imports nothing at its top but :mod:`sys`; its
:func:`main` imports :mod:`jinit._cli` and runs it inside one ``try``, so a Ctrl-C at any moment
ends the command with one line on stderr and exit status 130, as it does once the command runs.
"""

import sys

INTERRUPTED = 130  # 128 + SIGINT, as jinit._console.INTERRUPTED (not importable before jax)


def main() -> int:
    """Runs ``jinit`` (:func:`jinit._cli.main`) with ``sys.argv``; returns its exit status."""
    try:
        from jinit import _cli

        return _cli.main()
    except KeyboardInterrupt:  # while Python imports jinit (and jax), or on the way out
        sys.stderr.write("jinit: interrupted\n")
        return INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
