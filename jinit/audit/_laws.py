"""The audit's one door into the verifier: declarations, laws and bounds, and how an
initializer object is mapped to the law it promises.

Every name the audit takes from :mod:`jinit.verify` is imported here and nowhere else, so a
reorganisation of the verifier changes this file only.

An initializer built by a jinit factory is a :class:`jinit._base.Init` whose ``_name`` is
the public name (``"he_normal"``, ``"presets.torch_linear_kernel"``) and whose ``_params``
are the factory arguments; the declaration registered under that name turns
``(shape, dtype, params)`` into a law. Aliases share their object, so ``xavier_uniform``
resolves like ``glorot_uniform``. A public initializer that is a plain function
(``jinit.zeros``) is found by identity among the declarations.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np

from jinit._base import Init, public_name
from jinit.verify import Check as Check
from jinit.verify import declarations as declarations
from jinit.verify._complex_laws import ComplexLaw as ComplexLaw
from jinit.verify._expectations import lookup as lookup
from jinit.verify._laws import RealLaw as RealLaw
from jinit.verify._laws import ZeroInflated as ZeroInflated
from jinit.verify._laws import bound_edges as bound_edges
from jinit.verify._laws import for_dtype as for_dtype
from jinit.verify._laws import is_rounded as is_rounded
from jinit.verify._laws import ndtri as ndtri
from jinit.verify._moments import dkw_bound as dkw_bound
from jinit.verify._moments import z_value as z_value
from jinit.verify._signal import BAND as BAND
from jinit.verify._signal import classify as classify
from jinit.verify._structured_laws import ConvIsometry as ConvIsometry
from jinit.verify._structured_laws import DeltaOrthogonal as DeltaOrthogonal
from jinit.verify._structured_laws import Exact as Exact
from jinit.verify._structured_laws import Orthogonal as Orthogonal
from jinit.verify._verdicts import bound_mass as bound_mass
from jinit.verify._verdicts import gram_bound as gram_bound

STRUCTURED = (Orthogonal, DeltaOrthogonal, ConvIsometry)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What an initializer promises for one leaf.

    Attributes:
      label: the initializer as the user wrote it (``jinit.he_normal(in_axis=-2, ...)``).
      law: the declared law for the leaf's shape and dtype, or ``None`` when the
        initializer has no declaration (then the leaf is compared with a fresh draw).
      why: for ``law=None``, why no law applies.
    """

    label: str
    law: object | None
    why: str = ""


@functools.cache
def _by_object() -> dict[int, object]:
    """Declarations of public initializers that are plain functions (``zeros``, ``ones``)."""
    out = {}
    for decl in declarations():
        if decl.variants is None:
            out[id(decl.obj)] = decl
    return out


def _arg(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)


def label_of(init: Callable) -> str:
    """How a row names an initializer: ``jinit.normal(stddev=0.00408248)``."""
    if isinstance(init, Init):
        args = ", ".join(f"{k}={_arg(v)}" for k, v in init._params.items()
                         if not (k == "dtype" and v is None))
        return f"jinit.{init._name}({args})"
    name = getattr(init, "__qualname__", None) or type(init).__name__
    module = getattr(init, "__module__", "") or ""
    if module.startswith("jinit"):
        return public_name(init)
    return f"{module}.{name}" if module else name


def resolve(init: Callable, shape: tuple[int, ...], dtype: np.dtype) -> Resolved:
    """The law ``init`` promises for a leaf of ``shape`` and ``dtype`` (see :class:`Resolved`)."""
    label = label_of(init)
    if isinstance(init, Init):
        try:
            decl = lookup(init._name)
        except ValueError:
            return Resolved(label, None, f"{init._name} has no declared law")
        args = {k: v for k, v in init._params.items() if k != "dtype"}
    else:
        decl = _by_object().get(id(init))
        if decl is None:
            return Resolved(label, None, "not a jinit initializer")
        args = {}
    try:
        law = decl.law(tuple(shape), np.dtype(dtype), args)
    except Exception as exc:  # noqa: BLE001 - a law that does not apply: compare with a draw
        return Resolved(label, None, f"declared law does not apply ({type(exc).__name__}: {exc})")
    return Resolved(label, law)
