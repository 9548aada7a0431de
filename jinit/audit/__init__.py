"""Audit a real model's initialization, leaf by leaf and layer by layer.

``check(params, rules)`` tests every leaf against the law its declared initializer promises;
``diff(a, b)`` compares two trees leaf by leaf; ``signal(model, batch)`` measures forward and
backward second moments at every submodule of the user's own model. Console:
``jinit audit FILE_OR_MODULE:FUNCTION`` (``python -m jinit.audit``).
"""

from ._check import check as check
from ._report import Leaf as Leaf
from ._report import Report as Report

__all__ = ["Leaf", "Report", "check"]

for _obj in (check, Leaf, Report):
    _obj.__module__ = "jinit.audit"
del _obj
