r"""Declared expectations: what every public initializer promises, in one registry.

A :class:`Declaration` names a public initializer (or factory), how to build it for the
verification run (``variants``: factory arguments), the shapes it is checked on (``cases``,
each with extra factory arguments such as ``batch_axis``), the dtypes it defines, and its
``law``: a function ``(shape, dtype, args) -> law`` returning the distribution the output
promises, built from the closed forms in :mod:`jinit.laws._real` and written here from the
docstrings' formulas. Fans are recomputed here (jax's rule: the receptive field is the
product of the axes that are neither in, out nor batch axes), not taken from the library.

Adding an initializer is a few lines::

    declare("he_normal", vs(2.0, "fan_in", "truncated_normal"), cases=FANNED, complex=True,
            aliases=("kaiming_normal",))

The declarations themselves are written by family: :mod:`jinit.laws._expect_jinit` (the
top-level schemes), :mod:`jinit.laws._expect_presets` (framework defaults) and
:mod:`jinit.laws._expect_submodules` (residual, μP). :func:`public_initializers` discovers
every initializer of ``jinit`` and of each public submodule named in ``jinit.__all__``, and
``tests/test_verify.py`` fails when one has no declaration.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from ._complex import ComplexDisk, ComplexNormal, ComplexTruncatedNormal
from ._real import Normal, TruncatedNormal, Uniform
from ._structured import Exact

REAL_DTYPES = ("float32", "bfloat16", "float16")
FLOAT8_DTYPES = ("float8_e4m3fn", "float8_e5m2")
COMPLEX_DTYPES = ("complex64",)


@dataclasses.dataclass(frozen=True)
class Case:
    """A shape to verify on, with extra factory arguments (e.g. ``batch_axis=0``)."""

    shape: tuple[int, ...]
    extra: tuple[tuple[str, object], ...] = ()

    @property
    def args(self) -> dict[str, object]:
        return dict(self.extra)

    def label(self) -> str:
        text = "(" + ", ".join(str(d) for d in self.shape) + ("," if len(self.shape) == 1 else "") + ")"
        return text + "".join(f" {k}={v!r}" for k, v in self.extra)


def case(shape: Sequence[int], **extra: object) -> Case:
    return Case(tuple(int(d) for d in shape), tuple(sorted(extra.items())))


DENSE = case((256, 128))
CONV = case((3, 3, 32, 64))
STACKED = case((8, 64, 32))
BATCHED = case((8, 64, 32), batch_axis=0)   # stacked layers, for factories with fan axes
FANNED = (DENSE, CONV, BATCHED)
ANY = (DENSE, CONV, STACKED)

Law = object
LawFn = Callable[[tuple[int, ...], np.dtype, dict], Law]


@dataclasses.dataclass(frozen=True, eq=False)
class Declaration:
    """What one public initializer promises, and how to build it for verification.

    Attributes:
      name: the public name (``module.name``).
      law: ``law(shape, dtype, args) -> law`` for the output of ``build(args)``.
      variants: factory argument sets to verify; ``None`` when the public object is itself
        the initializer (``zeros``).
      cases: shapes (with per-shape extra arguments) to verify on; the first is the primary.
      complex: whether complex dtypes are defined (verified as ``complex64``).
      float8: whether float8 dtypes are verified under ``--full``.
      module: the public submodule holding it, as an attribute path from ``jinit``
        (``""`` for ``jinit`` itself, ``"presets"``, ``"residual"``, ``"mup"``).
      aliases: other public names bound to the same object.
      promise: the promise in words, for listings.
      heavy: seconds per shape to draw (many small QRs, per-unit sorts): the default run
        verifies it on its first shape in the real dtypes only.
    """

    name: str
    law: LawFn
    variants: tuple[Mapping[str, object], ...] | None = ({},)
    cases: tuple[Case, ...] = ANY
    complex: bool = False
    float8: bool = True
    module: str = ""
    aliases: tuple[str, ...] = ()
    promise: str = ""
    heavy: bool = False

    @property
    def qualname(self) -> str:
        """The name a user types after ``jinit.``: ``he_normal``, ``residual.fixup``."""
        return qualify(self.module, self.name)

    @property
    def home(self) -> object:
        """The public module holding the object (``jinit``, ``jinit.presets``, ...)."""
        import jinit

        return functools.reduce(getattr, self.module.split("."), jinit) if self.module else jinit

    @property
    def obj(self) -> object:
        return getattr(self.home, self.name)

    def build(self, args: Mapping[str, object]) -> Callable:
        """The initializer for factory arguments ``args`` (the object itself if not a factory)."""
        return self.obj if self.variants is None else self.obj(**args)

    def dtypes(self, full: bool = False) -> tuple[str, ...]:
        out = REAL_DTYPES + (FLOAT8_DTYPES if full and self.float8 else ())
        return out + (COMPLEX_DTYPES if self.complex else ())


def qualify(module: str, name: str) -> str:
    """``module.name``, or ``name`` for the top level."""
    return f"{module}.{name}" if module else name


REGISTRY: dict[str, Declaration] = {}


def declare(name: str, law: LawFn, **kwargs: object) -> Declaration:
    """Adds a declaration (and its aliases) to the registry."""
    decl = Declaration(name, law, **kwargs)  # type: ignore[arg-type]
    for key in (decl.qualname,) + tuple(qualify(decl.module, a) for a in decl.aliases):
        REGISTRY[key] = decl
    return decl


def declarations() -> list[Declaration]:
    """Every declaration once (aliases folded), in registry order."""
    seen: dict[int, Declaration] = {}
    for decl in REGISTRY.values():
        seen.setdefault(id(decl), decl)
    return list(seen.values())


def lookup(name: str) -> Declaration:
    """The declaration of a public name (``"he_normal"``, ``"presets.torch_linear_kernel"``).

    A submodule's initializer may be named without its module (``"torch_linear_kernel"``)
    when no other module has that name.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    found = {id(d): d for key, d in REGISTRY.items() if key.rpartition(".")[2] == name}
    if len(found) == 1:
        return next(iter(found.values()))
    listed = ", ".join(sorted(REGISTRY))
    raise ValueError(f"verify: no declaration named {name!r}; expected one of: {listed}")


# ---------------------------------------------------------------------------- fans


def fans(shape: tuple[int, ...], args: Mapping[str, object]) -> tuple[float, float]:
    """``(fan_in, fan_out)`` by :func:`jinit.compute_fans`, jax's rule (overlapping axes too:
    Flax's ``Embed`` default has ``in_axis=-2, out_axis=0``)."""
    from jinit._fans import compute_fans

    return compute_fans(tuple(shape), args.get("in_axis", -2), args.get("out_axis", -1),
                        args.get("batch_axis", ()))


def is_complex(dtype: np.dtype) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.complexfloating))


# A standard normal truncated to [-2, 2] has variance 1 - 4 phi(2) / (2 Phi(2) - 1); a unit
# circular complex normal with modulus truncated at 2 has E|z|^2 = 1 - 4 e^-4 / (1 - e^-4).
TRUNC_STD = math.sqrt(TruncatedNormal(1.0).variance)
COMPLEX_TRUNC_STD = math.sqrt(ComplexTruncatedNormal(1.0, 2.0).second_moment)


def variance_law(variance: float, distribution: str, dtype: np.dtype) -> Law:
    """The law with mean 0 and ``E|w|^2 = variance`` for a variance-scaling distribution."""
    if is_complex(dtype):
        return {
            "normal": lambda: ComplexNormal(variance),
            "uniform": lambda: ComplexDisk(math.sqrt(2 * variance)),
            "truncated_normal": lambda: ComplexTruncatedNormal(math.sqrt(variance) / COMPLEX_TRUNC_STD),
        }[distribution]()
    return {
        "normal": lambda: Normal(math.sqrt(variance)),
        "uniform": lambda: Uniform(-math.sqrt(3 * variance), math.sqrt(3 * variance)),
        "truncated_normal": lambda: TruncatedNormal(math.sqrt(variance) / TRUNC_STD),
    }[distribution]()


_DENOMINATOR = {
    "fan_in": lambda i, o: i,
    "fan_out": lambda i, o: o,
    "fan_avg": lambda i, o: (i + o) / 2,
    "fan_geo_avg": lambda i, o: math.sqrt(i * o),
}


def vs(scale: float | Callable[[dict], float] | None = None, mode: str | None = None,
       distribution: str | None = None) -> LawFn:
    r"""Variance scaling: :math:`\mathbb{E}|w|^2 = s/n(\text{mode})`; ``None`` reads the argument."""

    def law(shape, dtype, args):
        s = args["scale"] if scale is None else (scale(args) if callable(scale) else scale)
        m = args["mode"] if mode is None else mode
        d = args["distribution"] if distribution is None else distribution
        fan_in, fan_out = fans(shape, args)
        return variance_law(float(s) / _DENOMINATOR[m](fan_in, fan_out), d, dtype)

    return law


def normal_law(std_arg: str, default: float, loc_arg: str | None = None) -> LawFn:
    def law(shape, dtype, args):
        std = float(args.get(std_arg, default))
        if is_complex(dtype):
            return ComplexNormal(std * std)
        return Normal(std, float(args.get(loc_arg, 0.0)) if loc_arg else 0.0)

    return law


def exact(fn: Callable[[tuple[int, ...], dict], np.ndarray], ulps: float = 1.0) -> LawFn:
    return lambda shape, dtype, args: Exact(np.asarray(fn(shape, args)), ulps)


# ----------------------------------------------------------- registry coverage


def is_initializer(obj: object) -> bool:
    """Whether a public object is an initializer or a factory returning one.

    An :class:`jinit._base.Init`; a function whose first parameters are ``key, shape``
    (``zeros``); or a callable annotated to return ``Init``/``Initializer``.
    """
    from jinit._base import Init

    if isinstance(obj, Init):
        return True
    if isinstance(obj, type) or inspect.ismodule(obj) or not callable(obj):
        return False
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return False
    if list(sig.parameters)[:2] == ["key", "shape"]:
        return True
    ann = sig.return_annotation
    if isinstance(ann, str):
        return ann.split(".")[-1] in ("Init", "Initializer")
    return getattr(ann, "__name__", None) in ("Init", "Initializer")


def _public_modules() -> list[tuple[str, object]]:
    """``(attribute path, module)`` of every public submodule reachable through ``__all__``."""
    import jinit

    out: list[tuple[str, object]] = []
    seen = {id(jinit)}
    todo: list[tuple[str, object]] = [("", jinit)]
    while todo:
        path, module = todo.pop(0)
        out.append((path, module))
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if (inspect.ismodule(obj) and obj.__name__.startswith("jinit.")
                    and id(obj) not in seen):
                seen.add(id(obj))
                todo.append((qualify(path, name), obj))
    return out


def public_initializers() -> list[str]:
    """Names of every public initializer in ``jinit`` and in each of its public submodules.

    Submodules are found through ``__all__`` (``jinit.__all__`` names ``presets``,
    ``residual``, ``mup``, ...; theirs may name further ones), initializers by
    :func:`is_initializer`; names are written as a user types them after ``jinit.``.
    """
    names = []
    for path, module in _public_modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if not inspect.ismodule(obj) and is_initializer(obj):
                names.append(qualify(path, name))
    return names


def undeclared() -> list[str]:
    """Public initializers with no declaration (the completeness test asserts this is empty).

    Example:
      >>> from jinit.verify import undeclared
      >>> undeclared()
      []
    """
    return [n for n in public_initializers() if n not in REGISTRY]
