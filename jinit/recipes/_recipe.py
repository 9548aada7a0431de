"""The recipe object: roles found from leaf paths, one initializer per role and layer."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .. import _checks
from .._base import Init, Pieces, public_name
from .._typing import Array, KeyArray, OutSharding
from ..structure import DEFAULT_LAYER, DEFAULT_ROLES, DEFAULT_STACK

# Roles a recipe speaks of. Weights, biases and norm parameters are told apart by the leaf's
# own name (the last path part), so one role covers a module's kernel and its bias.
ROLES = (
    "token_embedding", "position_embedding", "patch_embedding", "cls_token",
    "qkv", "q", "k", "v", "kv", "attn_out", "attn_gate",
    "mlp_gate", "mlp_up", "mlp_out",
    "lm_head", "head", "pre_logits", "norm",
    "alpha", "s_qk", "s_uv", "s_z",
)
KINDS = ("weight", "bias", "scale")
LAYOUTS = ("in_out", "out_in")

_BIAS_NAMES = ("bias", "b")
_SCALE_NAMES = ("scale", "weight", "g", "gamma")


@dataclasses.dataclass(frozen=True)
class Leaf:
    """What a recipe knows about one leaf when it picks its initializer."""

    path: str
    shape: tuple[int, ...]
    role: str
    kind: str              # "weight", "bias" or "scale"
    layer: int | None      # the block index, None outside the blocks
    n_layer: int | None
    layout: str = "in_out"  # "in_out": Flax (in, out) kernels; "out_in": PyTorch/Equinox
    use: object = None      # the jinit.structure.Use traced for it (Recipe.fit), or None


@dataclasses.dataclass(frozen=True)
class Spec:
    """One row of a recipe: how a role's leaves are drawn.

    ``make(leaf)`` returns the initializer of that leaf (for one layer's slice); ``std(layer)``
    the standard deviation it promises (``None`` for deterministic values), used by the table
    and the tests; ``formula`` says it in words, with its source. ``fan_in`` is the
    contraction size the promised std was computed from (``d_model`` for a head drawn at
    :math:`d^{-1/2}`), ``None`` when it assumes none; ``fans`` says whether ``make`` reads
    the leaf's fans (:func:`jinit.recipes._specs.fan_axes`). :meth:`Recipe.fit` checks both
    against the traced use.
    """

    init: str
    formula: str
    make: Callable[[Leaf], Callable[..., Array]]
    std: Callable[[int | None], float | str | None] = lambda layer: None
    per_layer: bool = False
    fan_in: float | None = None
    fans: bool = False


def _kind(path: str, role: str) -> str:
    last = path.rsplit("/", 1)[-1]
    if role == "norm":
        return "bias" if last in _BIAS_NAMES else "scale"
    return "bias" if last in _BIAS_NAMES else "weight"


class Recipe:
    """A published initialization as rules: roles found from paths, an initializer per role.

    Accepted wherever rules are (:func:`jinit.tree.init_tree`, the audit): it stands for the
    rule function it builds. ``str(recipe)`` is its table: role → initializer → standard
    deviation formula → value. :meth:`fit` checks it against a traced model (also done by
    ``structure=`` wherever rules are taken) and lists what it adapted in the table.
    """

    def __init__(self, name: str, source: str, specs: Mapping[tuple[str, str], Spec], *,
                 n_layer: int | None, roles: object = None, layer: str | None = None,
                 scan_axis: int | None = None, stack: str | None = None,
                 layout: str = "in_out", notes: Sequence[str] = (),
                 extras: Mapping[str, float] | None = None, overrides: object = None):
        fn = f"recipes.{name}"
        self.name, self.source, self.n_layer = name, source, n_layer
        self.specs = dict(specs)
        self.notes = tuple(notes)
        self.extras = dict(extras or {})
        self._fn = fn
        self._roles = [(re.compile(p), r) for p, r in _role_rules(fn, roles)] + [
            (re.compile(p), r) for p, r in DEFAULT_ROLES]
        self._layer = _regex(fn, "layer", layer, DEFAULT_LAYER,
                             "a regex whose first group is the layer index")
        if self._layer.groups < 1:
            raise ValueError(_checks.message(
                fn, "layer", layer, "has no capture group, so it cannot give a layer index",
                r"a regex whose first group captures the index, such as r'blocks_(\d+)'"))
        self._stack = _regex(fn, "stack", stack, DEFAULT_STACK,
                             "a regex matching the paths of a scanned stack's leaves")
        self.layout = _checks.choice(fn, "layout", layout, LAYOUTS)
        if scan_axis is not None:
            scan_axis = _checks.integer(fn, "scan_axis", scan_axis, minimum=-8)
        self.scan_axis = scan_axis
        self.overridden = _apply_overrides(fn, self.specs, overrides)
        # One initializer object per distinct (role, kind, layer, shape): leaves that share
        # one share a compiled program in init_tree.
        self._made: dict[tuple[object, ...], Callable[..., Array]] = {}
        self.structure: object = None   # what fit() was given
        self.fitted: tuple[str, ...] = ()  # what fit() changed, one line per change

    # --------------------------------------------------------------------- roles

    def role_of(self, path: str) -> tuple[str, str] | None:
        """``(role, kind)`` of a leaf path, or ``None`` when no role pattern matches."""
        for regex, role in self._roles:
            if regex.search(path):
                return role, _kind(path, role)
        return None

    def layer_of(self, path: str) -> int | None:
        """The block index in ``path`` (the ``layer`` regex's first group), or ``None``."""
        found = self._layer.search(path)
        if not found or found.group(1) is None:
            return None
        if not found.group(1).isdigit():
            raise ValueError(_checks.message(
                self._fn, "layer", self._layer.pattern, f"captures {found.group(1)!r} in path "
                f"{path!r}, which is not a layer index", "a regex whose first group captures "
                "digits only, such as r'blocks_(\\d+)'"))
        return int(found.group(1))

    def roles_of(self, tree: object) -> dict[str, tuple[str, str]]:
        """Every leaf path of ``tree`` with its ``(role, kind)``; raises listing unmatched paths."""
        from .._rules import path_str

        out, missing = {}, []
        for kp, _ in jax.tree_util.tree_flatten_with_path(tree)[0]:
            path = path_str(kp)
            found = self.role_of(path)
            if found is None:
                missing.append(path)
            else:
                out[path] = found
        if missing:
            raise self._no_role(missing)
        return out

    def check_paths(self, paths: Sequence[str]) -> None:
        """Raises one error naming every path in ``paths`` that no role pattern matches (or,
        when all have roles, every path whose role this recipe does not define).

        :func:`jinit.tree.init_tree`, :func:`jinit.audit.check` and :func:`jinit.nnx.init`
        call it with all of a tree's paths before drawing, so a model with several unnamed
        leaves is told about all of them at once.
        """
        missing, undefined = [], []
        for path in paths:
            found = self.role_of(path)
            if found is None:
                missing.append(path)
            elif not any(k in self.specs for k in ((found[0], found[1]), (found[0], "*"),
                                                    ("*", found[1]))):
                undefined.append(f"{path!r} ({found[0]})")
        if missing:
            raise self._no_role(missing)
        if undefined:
            raise ValueError(_checks.message(
                self._fn, "roles", "found", f"gives {len(undefined)} leaf path(s) a role this "
                "recipe does not define: " + ", ".join(undefined), "a role of this "
                "architecture: " + ", ".join(sorted({r for r, _ in self.specs if r != "*"})),
                "Map the leaves to another role with roles={regex: role}."))

    __jinit_check_paths__ = check_paths

    def _no_role(self, paths: Sequence[str]) -> ValueError:
        shown = ", ".join(repr(p) for p in paths)
        return ValueError(_checks.message(
            self._fn, "roles", "default", f"gives no role to {len(paths)} leaf path(s): {shown}",
            "a role for every leaf (" + ", ".join(ROLES) + ")",
            "Name them with roles={regex: role}."))

    # ------------------------------------------------------------------- rules

    def __jinit_rules__(self) -> Callable[[str, tuple[int, ...], np.dtype], Callable[..., Array]]:
        from . import _fit

        return _fit.RecipeRules(self)

    def fit(self, structure: object) -> Recipe:
        """This recipe fitted to how a traced model uses its leaves; raises on a contradiction.

        ``structure`` is :func:`jinit.structure.trace`'s. The returned recipe (a copy; this
        one is unchanged) differs where the model's computation contradicts what the recipe
        assumed from names and shapes, and says so in its table (:attr:`fitted`):

        * a norm scale the model uses as ``x·(1 + scale)`` (``Use.offset == 1``, Gemma's
          ``RMSNorm``) gets ``zeros`` where the recipe says ``ones``, so the layer starts
          as the identity the recipe meant;
        * a std computed from a leaf's fans takes them from the traced axes
          (``Use.in_axes``/``out_axes``/``batch_axes``) instead of the guess from the
          leaf's name and shape (an einsum kernel of any layout, a DenseGeneral kernel).

        What cannot be adapted is one ``ValueError`` listing every such leaf and why: a std
        the recipe computed from ``d_model`` (or another given size) on a leaf whose traced
        fan-in differs; a fan-dependent std on a leaf contracted over a slice, whose fans
        no whole axes express, when the guess disagrees with the trace; a scale used with an
        offset other than 0 or 1, or with an offset of 1 and given 1 by ``overrides=``.
        Leaves without a role are left to :meth:`check_paths`, as without a structure.

        :func:`jinit.tree.init_tree`, :func:`jinit.audit.check` and :func:`jinit.nnx.init`
        call it when given the recipe with ``structure=``.
        """
        from . import _fit

        return _fit.fit(self, structure)

    __jinit_fit__ = fit

    def initializer_for(self, path: str, shape: tuple[int, ...], dtype: object = None
                        ) -> Callable[..., Array]:
        """The initializer this recipe gives the leaf at ``path`` with ``shape``."""
        from . import _fit

        found = self.role_of(path)
        if found is None:
            raise self._no_role([path])
        role, kind = found
        spec = self._spec(role, kind, path)
        layer = self.layer_of(path)
        stacked = layer is None and self.scan_axis is not None and bool(self._stack.search(path))
        use = _fit.use_for(self.structure, path, tuple(shape))
        if use is not None and use.offset == 1.0 and spec.init == "ones":
            spec = _fit.ZERO_FOR_OFFSET
        memo = (role, kind, layer if spec.per_layer else None, tuple(shape), stacked,
                _fit.use_key(use))
        if memo not in self._made:
            self._made[memo] = self._make(spec, path, tuple(shape), role, kind, layer, stacked,
                                          use)
        return self._made[memo]

    def _make(self, spec: Spec, path: str, shape: tuple[int, ...], role: str, kind: str,
              layer: int | None, stacked: bool, use: object = None) -> Callable[..., Array]:
        if stacked:
            return _stacked(self, spec, path, shape, role, kind, use)
        if spec.per_layer and layer is None:
            raise ValueError(_checks.message(
                self._fn, "path", path, f"has role {role!r}, whose std depends on the layer "
                "index, but no layer index in its path",
                "an unrolled path such as 'h/3/...' or 'layers_3/...', or scan_axis=",
                "For nn.scan / nnx.vmap stacks pass scan_axis (usually 0); for other "
                "namings pass layer=regex (and stack=regex for a scanned stack)."))
        return spec.make(Leaf(path, shape, role, kind, layer, self.n_layer, self.layout, use))

    def _spec(self, role: str, kind: str, path: str) -> Spec:
        for key in ((role, kind), (role, "*"), ("*", kind)):
            if key in self.specs:
                return self.specs[key]
        raise ValueError(_checks.message(
            self._fn, "path", path, f"has role {role!r} ({kind}), which this recipe does not "
            "define", "a role of this architecture: " + ", ".join(
                sorted({r for r, _ in self.specs if r != "*"})),
            "Map the leaf to another role with roles={regex: role}."))

    # ------------------------------------------------------------------- table

    def rows(self) -> list[tuple[str, str, str, str]]:
        rows = []
        order = {r: i for i, r in enumerate(ROLES + ("*",))}
        for (role, kind), spec in sorted(self.specs.items(), key=lambda item: (
                order.get(item[0][0], len(order)), item[0][1] != "weight", item[0][1])):
            label = role if kind in ("weight", "*") else f"{role} ({kind})"
            rows.append((label, spec.init, spec.formula, _value(spec, self.n_layer)))
        return rows

    def __str__(self) -> str:
        head = ("role", "initializer", "std", "value")
        rows = [head] + self.rows()
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [f"jinit.recipes.{self.name} — {self.source}"]
        for i, r in enumerate(rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        lines += [f"  {k} = {v:.6g}" for k, v in self.extras.items()]
        if self.overridden:
            lines.append("overridden (overrides=): " + ", ".join(self.overridden))
        if self.structure is not None:
            model = getattr(self.structure, "model", "") or "a traced model"
            if self.fitted:
                lines.append(f"fitted to {model} (structure=):")
                lines += [f"  {c}" for c in self.fitted]
            else:
                lines.append(f"fitted to {model} (structure=): every leaf is used as assumed")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<jinit.recipes.{self.name} recipe, n_layer={self.n_layer}>"


def _regex(fn: str, arg: str, value: object, default: str, expected: str) -> re.Pattern[str]:
    try:
        return re.compile(default if value is None else value)  # type: ignore[arg-type]
    except (re.error, TypeError) as e:
        raise _checks.fail(fn, arg, value, f"is not a regular expression ({e})",
                           expected) from None


# The kinds an override replaces: a role's weights (a norm's scale), never its biases.
_OVERRIDABLE = ("weight", "scale", "*")


def _apply_overrides(fn: str, specs: dict[tuple[str, str], Spec], overrides: object
                     ) -> tuple[str, ...]:
    """Replaces, in ``specs``, each overridden role's weight (or scale) spec; returns the roles."""
    from .._rules import check_initializer

    if overrides is None:
        return ()
    own = sorted({r for r, k in specs if r != "*" and k in _OVERRIDABLE})
    if not isinstance(overrides, Mapping):
        raise _checks.fail(fn, "overrides", overrides, "is not a mapping of role to initializer",
                           "a dict {role: initializer} with roles among " + ", ".join(own),
                           exc=TypeError)
    done = []
    for role, init in overrides.items():
        if role not in own:
            raise _checks.fail(fn, "overrides", role, "is not a role of this recipe",
                               "one of " + ", ".join(repr(r) for r in own))
        check_initializer(fn, f"overrides[{role!r}]", init)
        label = repr(init) if isinstance(init, Init) else public_name(init)
        for kind in _OVERRIDABLE:
            old = specs.get((role, kind))
            if old is not None:
                specs[(role, kind)] = Spec(
                    f"{label} [overridden]", f"overrides= (recipe: {old.init}, {old.formula})",
                    lambda leaf, i=init: i, lambda layer: "given")
        done.append(role)
    return tuple(done)


def _value(spec: Spec, n_layer: int | None) -> str:
    if not spec.per_layer:
        std = spec.std(None)
        if isinstance(std, str):
            return std
        return "-" if std is None else "per leaf (fans)" if std != std else f"{std:.4g}"
    first, last = spec.std(0), spec.std(n_layer - 1)
    return f"{first:.4g} (layer 0) … {last:.4g} (layer {n_layer - 1})"


def _role_rules(fn: str, roles: object) -> list[tuple[str, str]]:
    if roles is None:
        return []
    items = list(roles.items()) if isinstance(roles, Mapping) else list(roles) \
        if isinstance(roles, Sequence) and not isinstance(roles, str) else None
    if items is None:
        raise _checks.fail(fn, "roles", roles, "is not a mapping of regex to role",
                           "a dict {regex: role}", exc=TypeError)
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise _checks.fail(fn, "roles", item, "is not a (regex, role) pair",
                               "a dict {regex: role}", exc=TypeError)
        pattern, role = item
        _checks.choice(fn, f"roles[{pattern!r}]", role, ROLES)
        try:
            re.compile(pattern)
        except re.error as e:
            raise _checks.fail(fn, "roles", pattern, f"is not a valid regular expression ({e})",
                               "a pattern re.compile accepts") from None
        out.append((pattern, role))
    return out


def _stacked(recipe: Recipe, spec: Spec, path: str, shape: tuple[int, ...], role: str,
             kind: str, use: object = None) -> Init:
    """A scanned stack: slice ``i`` along the scan axis is layer ``i``'s initializer.

    Each slice is drawn with its own fans (the slice's shape) and the key
    ``fold_in(key, i)``, so its law is exactly that of the unrolled layer ``i``.
    """
    fn = recipe._fn
    axis = recipe.scan_axis
    rank = len(shape)
    if not -rank <= axis < rank:
        raise ValueError(_checks.message(
            fn, "scan_axis", axis, f"is not an axis of leaf {path!r} with shape {shape}",
            f"an axis in [-{rank}, {rank})"))
    n_layer = shape[axis] if recipe.n_layer is None else recipe.n_layer
    if shape[axis] != n_layer:
        raise ValueError(_checks.message(
            fn, "scan_axis", axis, f"does not index the {n_layer} layers of leaf "
            f"{path!r} with shape {shape}", f"an axis of size n_layer={n_layer}"))
    axis %= rank
    sliced = shape[:axis] + shape[axis + 1:]
    from . import _fit

    part_use = _fit.slice_use(use, axis)
    inits = [spec.make(Leaf(path, sliced, role, kind, i, n_layer, recipe.layout, part_use))
             for i in range(n_layer)]

    def body(key: KeyArray, shp: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding
             ) -> Array:
        part = shp[:axis] + shp[axis + 1:]
        layers = [init(jax.random.fold_in(key, i), part, dt) for i, init in enumerate(inits)]
        return jnp.stack(layers, axis=axis)

    return Pieces(f"recipes.{recipe.name}", body, {"role": role, "kind": kind,
                  "scan_axis": axis}, axis, tuple(inits), "stack")


def split(name: str, axis: int, inits: Sequence[Callable[..., Array]]) -> Init:
    """One leaf made of equal parts along ``axis`` (a fused QKV), each its own initializer."""
    inits = tuple(inits)

    def body(key: KeyArray, shp: tuple[int, ...], dt: np.dtype, out_sharding: OutSharding
             ) -> Array:
        ax = axis % len(shp)
        if shp[ax] % len(inits):
            raise ValueError(_checks.message(
                name, "shape", shp, f"has axis {ax} of size {shp[ax]}, which does not split into "
                f"{len(inits)} equal parts", f"a multiple of {len(inits)}"))
        part = shp[:ax] + (shp[ax] // len(inits),) + shp[ax + 1:]
        return jnp.concatenate([init(jax.random.fold_in(key, i), part, dt)
                                for i, init in enumerate(inits)], axis=ax)

    return Pieces(name, body, {"parts": len(inits), "axis": axis}, axis, inits, "split")
