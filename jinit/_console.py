"""What the ``jinit`` console commands share: the usage-error line, value checks, targets, Ctrl-C.

``jinit`` (:mod:`jinit._cli`) dispatches to its subcommands, each of which builds its parser
from :class:`Parser` and checks flag values with the types made here (``jinit verify``:
:mod:`jinit.verify._cli`, ``jinit audit``: :mod:`jinit.audit._cli`, ``jinit compare``:
:mod:`jinit.compare._cli`, ``jinit auto``: :mod:`jinit.auto._cli`), so a usage error reads the
same in all of them::

    jinit <command>: error: argument --flag: <value> <problem>; expected <allowed> (see 'jinit <command> --help')

one line on stderr, exit status 2, before any long work. The commands that run a user's
function load it with :func:`load` and call it through :func:`guarded`, so a target that is
missing, raises or calls ``sys.exit`` is one such line (a :class:`Usage` error) in each of them.
Ctrl-C ends every command with exit status 130 and one line, no traceback. Only the standard
library is imported here.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import math
import os
import sys
from collections.abc import Callable, Sequence

USAGE = 2          # exit status of a usage error
INTERRUPTED = 130  # exit status after Ctrl-C (128 + SIGINT, as a shell reports it)


def error_line(prog: str, message: str) -> str:
    """The one line of a usage error, newline included."""
    return f"{prog}: error: {message} (see '{prog} --help')\n"


def usage(prog: str, message: str) -> int:
    """Prints a usage error's line on stderr; returns :data:`USAGE`."""
    sys.stderr.write(error_line(prog, message))
    return USAGE


def interrupted(prog: str) -> int:
    """Prints that ``prog`` was interrupted (Ctrl-C); returns :data:`INTERRUPTED`."""
    sys.stderr.write(f"{prog}: interrupted\n")
    return INTERRUPTED


class Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit 2), never a traceback."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(USAGE, error_line(self.prog, message))


class Help(argparse.HelpFormatter):
    """Help with the flags in a column 30 wide."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def named(fn: Callable[[str], object], name: str) -> Callable[[str], object]:
    """``fn`` under ``name``: argparse names a type in its "invalid <name> value" message."""
    fn.__name__ = name
    return fn


def integer(low: int, high: int | None = None, high_text: str | None = None,
            why: str = "") -> Callable[[str], int]:
    """An argparse type: an int in ``[low, high)`` (``high=None``: no upper end).

    ``high_text`` writes the upper end (``"2**32"``); ``why`` says where the range comes from.
    """
    allowed = (f"an int >= {low}" if high is None else
               f"an int in [{low}, {high_text or high})") + (f" ({why})" if why else "")

    def check(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an int; expected {allowed}") \
                from None
        if value < low or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; expected {allowed}")
        return value

    return check


def real(low: float, high: float, why: str = "") -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high)``."""
    allowed = f"a number in [{low:g}, {high:g})" + (f" ({why})" if why else "")

    def check(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected {allowed}") \
                from None
        if not (math.isfinite(value) and low <= value < high):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range; expected {allowed}")
        return value

    return check


# JAX (without jax_enable_x64) keeps a seed's low 32 bits: larger seeds repeat smaller ones.
seed = named(integer(0, 2 ** 32, "2**32", "a seed's low 32 bits are all JAX keeps"), "seed")


def target(text: str, what: str) -> str:
    """A file a run will write: its directory exists, it is not a directory, writable."""
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


def json_target(text: str) -> str:
    """``-`` (stdout) or a JSON file the run can write."""
    return text if text == "-" else target(text, "JSON")


def png_target(text: str) -> str:
    """A ``.png`` file the run can write."""
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a .png file name")
    return target(text, ".png")


json_target = named(json_target, "JSON target")
png_target = named(png_target, "PNG target")


def memory() -> tuple[int, str] | None:
    """The memory a run may use, in bytes, and what limits it; ``None`` when unknown.

    The physical memory (``psutil`` where installed, else ``sysconf``), or a smaller cgroup
    limit (a container's).
    """
    total = None
    try:
        import psutil  # optional: not a dependency

        total = int(psutil.virtual_memory().total)
    except Exception:  # noqa: BLE001 - not installed, or no answer on this platform
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (AttributeError, ValueError, OSError):
            pass
    found = (total, "this machine has") if total and total > 0 else None
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                limit = int(f.read().strip())
        except (OSError, ValueError):  # absent, or "max"
            continue
        if limit > 0 and (found is None or limit < found[0]):
            found = (limit, "the container (cgroup) allows")
    return found


def size(n: float) -> str:
    """Bytes as ``12.3 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def command(prog: str, argv: Sequence[str] | None, build_parser: Callable[[], argparse.ArgumentParser],
            run: Callable[[argparse.Namespace], int]) -> int:
    """One subcommand's ``main``: ``argv`` (``sys.argv[1:]`` by default, without a leading
    subcommand name) parsed by ``build_parser()`` before any work, then ``run(args)``.

    Returns ``run``'s exit status, argparse's for ``--help`` (0) or a usage error (2, its one
    line already printed), and :data:`INTERRUPTED` after Ctrl-C (:func:`interrupted`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [prog.rpartition(" ")[2]]:
        argv = argv[1:]
    try:
        try:
            args = build_parser().parse_args(argv)  # every flag, before the target is imported
        except SystemExit as e:  # usage error (2, one line already printed) or --help (0)
            return e.code if isinstance(e.code, int) else USAGE
        return run(args)
    except KeyboardInterrupt:
        return interrupted(prog)


# ------------------------------------------------------------------- a user's function


class Usage(Exception):
    """A usage error: its message is one line on stderr (:func:`usage`), exit status 2."""


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (or the type alone) of an exception."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def a_type(value: object) -> str:
    """The type of ``value`` with its article, as an error message says it: ``an int``,
    ``a dict``, ``None``."""
    if value is None:
        return "None"
    name = type(value).__name__
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def guarded(what: str, action: Callable[[], object]) -> object:
    """``action()``; where the user's code raises or calls ``sys.exit``, a :class:`Usage`
    saying so after ``what``. Ctrl-C (KeyboardInterrupt) passes through."""
    try:
        return action()
    except KeyboardInterrupt:
        raise
    except SystemExit as e:
        raise Usage(f"{what} called sys.exit({e.code!r}); expected it to return") from None
    except BaseException as e:  # noqa: BLE001 - the user's code failed
        raise Usage(f"{what} raised {first_line(e)}") from None


def load(target: str) -> Callable:
    """The function TARGET names (``file.py:fn`` or ``pkg.mod:fn``), or :class:`Usage`.

    Importing it runs through :func:`guarded`; the function must be callable without
    arguments.
    """
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise Usage(f"TARGET {target!r} is not FILE.py:FUNCTION or MODULE:FUNCTION")
    if where.endswith(".py") or os.sep in where or "/" in where:
        if not os.path.isfile(where):
            raise Usage(f"TARGET {target!r}: no such file {where!r}")
        spec = importlib.util.spec_from_file_location(
            f"_jinit_audit_target_{abs(hash(os.path.abspath(where)))}", where)
        if spec is None or spec.loader is None:
            raise Usage(f"TARGET {target!r}: {where!r} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, os.path.dirname(os.path.abspath(where)))
        try:
            guarded(f"TARGET {target!r}: importing {where!r}",
                    lambda: spec.loader.exec_module(module))
        finally:
            sys.path.pop(0)
    else:
        module = guarded(f"TARGET {target!r}: importing module {where!r}",
                         lambda: importlib.import_module(where))
    fn = getattr(module, name, None)
    if fn is None:
        raise Usage(f"TARGET {target!r}: {where!r} has no function {name!r}")
    if not callable(fn):
        raise Usage(f"TARGET {target!r}: {name!r} is {a_type(fn)}, not a function")
    try:
        inspect.signature(fn).bind()
    except TypeError as e:
        raise Usage(f"TARGET {target!r}: {name}{inspect.signature(fn)} cannot be called "
                    f"without arguments ({e}); expected a function of no arguments") from None
    except ValueError:  # no signature to read (a builtin): calling it will tell
        pass
    return fn


def needs_matplotlib() -> None:
    """A :class:`Usage` error unless matplotlib, which ``--plot`` draws with, is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise Usage("--plot needs matplotlib; install it with pip install 'jinit[plot]'") \
            from None
