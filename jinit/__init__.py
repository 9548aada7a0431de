"""jinit: weight initializers for JAX — every classic scheme, verified by statistics.

Drop-in with ``jax.nn.initializers``: the same names, parameters, defaults and (in
float32/float64) the same bits, plus correct low-precision sampling and clear errors.
"""

from . import layouts as layouts
from . import lsuv as lsuv
from . import mup as mup
from . import presets as presets
from . import residual as residual
from . import structure as structure
from . import theory as theory
from . import tree as tree
from ._basic import normal as normal
from ._basic import truncated_normal as truncated_normal
from ._basic import uniform as uniform
from ._constant import constant as constant
from ._constant import ones as ones
from ._constant import ones_init as ones_init
from ._constant import zeros as zeros
from ._constant import zeros_init as zeros_init
from ._fans import compute_fans as compute_fans
from ._gain import InitStabilityWarning as InitStabilityWarning
from ._gain import calculate_gain as calculate_gain
from ._gain import for_activation as for_activation
from ._gain import gain as gain
from ._identity import dirac as dirac
from ._identity import hadamard_identity as hadamard_identity
from ._identity import identity as identity
from ._orthoconv import conv_orthogonal as conv_orthogonal
from ._orthogonal import delta_orthogonal as delta_orthogonal
from ._orthogonal import orthogonal as orthogonal
from ._sparse import sparse_incoming as sparse_incoming
from ._sparse import sparse_outgoing as sparse_outgoing
from ._typing import Initializer as Initializer
from ._variance import glorot_normal as glorot_normal
from ._variance import glorot_uniform as glorot_uniform
from ._variance import he_normal as he_normal
from ._variance import he_uniform as he_uniform
from ._variance import kaiming_normal as kaiming_normal
from ._variance import kaiming_uniform as kaiming_uniform
from ._variance import lecun_normal as lecun_normal
from ._variance import lecun_uniform as lecun_uniform
from ._variance import variance_scaling as variance_scaling
from ._variance import xavier_normal as xavier_normal
from ._variance import xavier_uniform as xavier_uniform

__version__ = "0.1.0"

__all__ = [
    "Initializer",
    "compute_fans",
    "constant",
    "delta_orthogonal",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
    "ones_init",
    "zeros_init",
    "InitStabilityWarning",
    "calculate_gain",
    "for_activation",
    "gain",
    "conv_orthogonal",
    "dirac",
    "hadamard_identity",
    "identity",
    "sparse_incoming",
    "sparse_outgoing",
    "layouts",
    "lsuv",
    "mup",
    "presets",
    "recipes",
    "residual",
    "structure",
    "theory",
    "tree",
]

# Submodules that import more than the initializers need (or an optional extra) are loaded on
# first attribute access (PEP 562), so ``import jinit`` imports only jax and numpy and
# ``jinit.nnx.init(...)`` still works without an import of its own. The value is the extra
# (``pip install "jinit[<extra>]"``, named as the package it installs) a submodule needs.
_LAZY = {"audit": None, "equinox": "equinox", "keras": "keras", "linen": "flax", "nnx": "flax",
         "recipes": None, "verify": None, "compare": None, "auto": None}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib
    import importlib.util
    import sys

    package = extra = _LAZY[name]
    if package is not None and (sys.modules[package] is None if package in sys.modules
                                else importlib.util.find_spec(package) is None):
        raise ImportError(f"jinit.{name} needs {package}, which is not installed; install "
                          f'it with: pip install "jinit[{extra}]"', name=package)
    return importlib.import_module(f"{__name__}.{name}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
