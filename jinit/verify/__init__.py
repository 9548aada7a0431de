"""The verification suite: proof that every initializer gives what it declares.

``jinit.verify.run()`` (and the console command ``jinit verify``) checks, for every public
initializer, shape and dtype, the mean, variance, support, values at a bound (no point
mass) and distribution shape against
the closed forms declared in :mod:`jinit.verify._expectations`, orthogonality of the
orthogonal schemes, and signal propagation through deep stacks next to mean-field theory.

Example:
  >>> from jinit import verify
  >>> report = verify.run(only=["he_normal"], samples=2 ** 14, dtypes=["float32"],
  ...                     signal=False)
  >>> report.passed, sorted({c.check for c in report.checks})[:3]
  (True, ['cdf (DKW)', 'finite', 'mass at bounds'])
"""

from ._expectations import Declaration as Declaration
from ._expectations import declarations as declarations
from ._expectations import public_initializers as public_initializers
from ._expectations import undeclared as undeclared
from ._moments import Check as Check
from ._report import Report as Report
from ._report import run as run
from ._signal import SignalResult as SignalResult
from ._signal import signal_propagation as signal_propagation

__all__ = [
    "Check",
    "Declaration",
    "Report",
    "SignalResult",
    "declarations",
    "public_initializers",
    "run",
    "signal_propagation",
    "undeclared",
]
