r"""Each layer's initialization chosen from the model's structure and the data, with proof.

:func:`init` reads the model with :func:`jinit.structure.trace` (the activation after every
kernel, its fans, first layers, residual branches, norms), picks per layer the weight and
bias variances that put the forward second moment at the fixed point :math:`q^* = 1` and,
where the activation allows, at the edge of chaos :math:`\chi_1 = 1` (:mod:`jinit.theory`),
scales residual branches for the depth, corrects the first layer for the data's real mean
and scale and the rest for the theory's residual error in one LSUV-style pass, and returns a
:class:`Report`: a row per parameter with the reason, the measured forward and backward
second moments before and after, and rules :func:`jinit.audit.check` verifies.
"""

from ._init import init as init
from ._report import Report as Report

__all__ = ["Report", "init"]

init.__module__ = "jinit.auto"
