"""The laws initializers promise, and the statistical tests that hold a sample to them.

One room shared by :mod:`jinit.verify` (batches of fresh draws) and :mod:`jinit.audit` (the
leaves of a model): the closed-form laws (real, complex, structured), the registry of what
every public initializer declares (:func:`declarations`, :func:`lookup`), and the tolerances
of the moment, distribution, support, bound-mass and orthogonality checks, each derived from
the sampling distribution at a stated false-failure rate. Both callers use these names only;
the modules behind them are private.

Example:
  >>> import numpy as np
  >>> from jinit import laws
  >>> law = laws.lookup("he_normal").law((256, 128), np.dtype("float32"), {})
  >>> round(law.variance * 256, 12)
  2.0
"""

# The declarations, by family: each module calls declare() on import, after the registry.
from . import _expect_jinit, _expect_presets, _expect_submodules  # noqa: E402, F401, I001
from ._activations import ACTIVATIONS as ACTIVATIONS
from ._activations import derivative as derivative
from ._activations import forward_scale as forward_scale
from ._activations import gauss as gauss
from ._complex import ComplexHaarEntry as ComplexHaarEntry
from ._complex import ComplexLaw as ComplexLaw
from ._complex import ComplexNormal as ComplexNormal
from ._real import HaarEntry as HaarEntry
from ._real import Normal as Normal
from ._real import RealLaw as RealLaw
from ._real import Rounded as Rounded
from ._real import TruncatedNormal as TruncatedNormal
from ._real import Uniform as Uniform
from ._real import ZeroInflated as ZeroInflated
from ._real import bound_edges as bound_edges
from ._real import for_dtype as for_dtype
from ._real import is_rounded as is_rounded
from ._real import ndtri as ndtri
from ._registry import REAL_DTYPES as REAL_DTYPES
from ._registry import REGISTRY as REGISTRY
from ._registry import Declaration as Declaration
from ._registry import declarations as declarations
from ._registry import is_initializer as is_initializer
from ._registry import lookup as lookup
from ._registry import public_initializers as public_initializers
from ._registry import undeclared as undeclared
from ._registry import vs as vs
from ._structured import ConvIsometry as ConvIsometry
from ._structured import DeltaOrthogonal as DeltaOrthogonal
from ._structured import Exact as Exact
from ._structured import Orthogonal as Orthogonal
from ._tests import BAND as BAND
from ._tests import CLASSES as CLASSES
from ._tests import EDGES as EDGES
from ._tests import Z_POWER as Z_POWER
from ._tests import Check as Check
from ._tests import bound_mass as bound_mass
from ._tests import cdf_distance as cdf_distance
from ._tests import classify as classify
from ._tests import compute_dtype as compute_dtype
from ._tests import count_limit as count_limit
from ._tests import detectable as detectable
from ._tests import dkw_bound as dkw_bound
from ._tests import epsilon as epsilon
from ._tests import gram_bound as gram_bound
from ._tests import mean_tolerance as mean_tolerance
from ._tests import round_up as round_up
from ._tests import support_limits as support_limits
from ._tests import variance_spread as variance_spread
from ._tests import z_value as z_value
from ._tests import zero_tolerance as zero_tolerance
