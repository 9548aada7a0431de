"""Audit a real model's initialization, leaf by leaf and layer by layer.

``check(params, rules)`` tests every leaf against the law its declared initializer promises;
``diff(a, b)`` compares two trees leaf by leaf; ``signal(model, batch)`` measures forward and
backward second moments at every submodule of the user's own model. Console:
``jinit audit FILE_OR_MODULE:FUNCTION`` (``python -m jinit.audit``).
"""

from ._check import check as check
from ._diff import diff as diff
from ._report import Leaf as Leaf
from ._report import Report as Report
from ._signal import SignalReport as SignalReport
from ._signal import signal as signal
from ._signal import tap as tap

__all__ = ["Leaf", "Report", "SignalReport", "check", "diff", "signal", "tap"]

for _obj in (check, diff, signal, tap, Leaf, Report, SignalReport):
    _obj.__module__ = "jinit.audit"
del _obj
