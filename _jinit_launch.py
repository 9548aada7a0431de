"""The ``jinit`` console script's entry point, kept outside the package so Ctrl-C is clean.

``[project.scripts] jinit = "_jinit_launch:main"``: a private module shipped in the wheel
beside the ``jinit`` package, not part of jinit's API. ``import jinit`` imports jax first (about
1.5 s), so an entry point inside the package is reached only after that import, and a Ctrl-C
during it ended in a traceback. This module imports only the standard library; its
:func:`main` imports :mod:`jinit._cli` under its own SIGINT handler, which writes one line and
ends the process with exit status 130 at once (a ``KeyboardInterrupt`` raised while jax
imports can land in a garbage-collection callback, where Python prints it as "Exception
ignored" and goes on), then runs the command, which turns Ctrl-C into the same line and
status itself.

While the command runs, Python raises a Ctrl-C's ``KeyboardInterrupt`` in whatever Python code
runs when the signal is handled, and two places lose it: jax's garbage-collection callback
(``gc.callbacks``; the interrupt is dropped and the command runs to its end) and a C
extension module being initialized (jaxlib crashes). :func:`main` therefore handles SIGINT
itself there too: it raises outside such code and otherwise delivers the signal again a
moment later, once that code has returned; a ``KeyboardInterrupt`` Python still has to drop
(``sys.unraisablehook``) is delivered again the same way. After a Ctrl-C the process ends at
once (``os._exit``, once stdout and stderr are flushed): tearing the interpreter down while
XLA's threads still compile could crash it, a segmentation fault after the interrupted line.
Where SIGINT is not Python's default (ignored, as in a background job), it is left alone.
"""

import _thread
import gc
import os
import signal
import sys
import time
from importlib.machinery import ExtensionFileLoader

INTERRUPTED = 130  # 128 + SIGINT, as jinit._console.INTERRUPTED (not importable before jax)
# Code in which a KeyboardInterrupt is deferred, with garbage-collection callbacks.
_DEFER = {ExtensionFileLoader.create_module.__code__, ExtensionFileLoader.exec_module.__code__}


def _stop(signum, frame) -> None:
    sys.stderr.write("jinit: interrupted\n")
    sys.stderr.flush()
    os._exit(INTERRUPTED)  # nothing to clean up while modules are being imported


def _cannot_raise(frame) -> bool:
    """Whether a KeyboardInterrupt raised in ``frame`` would be dropped or crash the process:
    a garbage-collection callback, a ``__del__`` method, :func:`_unraisable` or the
    initialization of a C extension module is running (is on the stack)."""
    codes = {getattr(cb, "__code__", None) for cb in gc.callbacks}
    codes |= _DEFER | {_unraisable.__code__}
    while frame is not None:
        if frame.f_code in codes or frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _again() -> None:
    """Delivers SIGINT again in a millisecond, from another thread (delivering it from the
    handler itself would run the handler again at once, inside itself)."""
    def deliver():
        time.sleep(1e-3)
        _thread.interrupt_main(signal.SIGINT)

    _thread.start_new_thread(deliver, ())


def _on_sigint(signum, frame) -> None:
    """SIGINT while the command runs: a KeyboardInterrupt where it can be raised, else the
    signal again once the code that cannot raise it has returned."""
    if _cannot_raise(frame):
        _again()
        return
    raise KeyboardInterrupt


_dropped = sys.unraisablehook


def _unraisable(unraisable) -> None:
    """A KeyboardInterrupt Python cannot raise (in a callback): delivered again, not dropped."""
    if isinstance(unraisable.exc_type, type) and issubclass(unraisable.exc_type,
                                                            KeyboardInterrupt):
        _again()
        return
    _dropped(unraisable)


def main() -> int:
    """Runs ``jinit`` (:func:`jinit._cli.main`) with ``sys.argv``; returns its exit status.

    After a Ctrl-C it does not return: the process exits with status 130 at once.
    """
    ours = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if ours:
        signal.signal(signal.SIGINT, _stop)
    from jinit import _cli

    try:
        if ours:
            signal.signal(signal.SIGINT, _on_sigint)
            sys.unraisablehook = _unraisable
        status = _cli.main()
    except KeyboardInterrupt:  # on the way out, after the command's own handling
        sys.stderr.write("jinit: interrupted\n")
        status = INTERRUPTED
    if status == INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing more can be said there
                pass
        os._exit(INTERRUPTED)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
