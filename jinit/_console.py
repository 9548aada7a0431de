"""What the ``jinit`` console commands share: the usage-error line, value checks, Ctrl-C.

``jinit verify`` (:mod:`jinit.verify._cli`) and ``jinit audit`` (:mod:`jinit.audit._cli`)
build their parsers from :class:`Parser` and check flag values with the types made here, so a
usage error reads the same in both::

    jinit <command>: error: argument --flag: <value> <problem>; expected <allowed> (see 'jinit <command> --help')

one line on stderr, exit status 2, before any long work. Ctrl-C ends either command with exit
status 130 and one line, no traceback. Only the standard library is imported here.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

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
