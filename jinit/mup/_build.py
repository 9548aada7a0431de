"""``mup.plan``: roles, fans and residual blocks of a parameter tree against a base model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np

from .. import _checks, _fans
from .._rules import compile_rules, path_str
from ..structure import guess, guess_blocks, warn_ambiguous
from ._plan import ALPHAS, DEPTH_ROLES, FORMULATIONS, OPTIMIZERS, ROLES, Leaf, Plan

FN = "mup.plan"


def _leaves(tree: object) -> list[tuple[str, tuple[int, ...]]]:
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        shape = getattr(leaf, "shape", None)
        if shape is None:
            shape = np.shape(leaf)
        out.append((path_str(path), tuple(int(d) for d in shape)))
    return out


def _check_role(fn: str, label: str, value: object) -> None:
    values = value if isinstance(value, tuple) else (value,)
    for v in values:
        _checks.choice(fn, label, v, ROLES + DEPTH_ROLES)


def _check_axes(fn: str, label: str, value: object) -> None:
    if not (isinstance(value, tuple) and len(value) == 2):
        raise _checks.fail(fn, label, value, "is not an (in_axis, out_axis) pair",
                           "a pair such as (-2, -1) or ((0, 1), -1)", exc=TypeError)
    for v in value:
        _checks.axis_arg(fn, label, v)


def check_structure(fn: str, structure: object) -> None:
    """Raises unless ``structure`` is ``None`` or a :class:`jinit.structure.Structure`."""
    if structure is not None:
        from ..structure import Structure

        if not isinstance(structure, Structure):
            raise _checks.fail(fn, "structure", structure, "is not a jinit.structure.Structure",
                               "what jinit.structure.trace(model, *args) returns, or None",
                               exc=TypeError)


def _mismatch(params: list[str], base: list[str]) -> Exception:
    """Names the first path on each side that the other lacks, and a missing/extra top level."""
    p_set, b_set = set(params), set(base)
    for a, b, side in ((b_set, p_set, "an extra"), (p_set, b_set, "a missing")):
        tops = {n.split("/", 1)[0] for n in a if "/" in n}
        for top in sorted(tops):
            stripped = {n.split("/", 1)[1] for n in a if n.startswith(top + "/")}
            if b and b <= stripped:
                fix = (f"Pass base[{top!r}]." if side == "an extra"
                       else f"Pass params[{top!r}], or a base with the same top level.")
                return _checks.fail(FN, "base", f"{top}/...", f"has {side} top level {top + '/'!r} "
                                    "compared with params", "a base tree with the same paths "
                                    "as params", fix)
    only_p = sorted(p_set - b_set)
    only_b = sorted(b_set - p_set)
    first_p = repr(only_p[0]) if only_p else "none"
    first_b = repr(only_b[0]) if only_b else "none"
    return _checks.fail(
        FN, "base", f"<{len(base)} leaves>",
        f"does not match params: first path only in params: {first_p}; "
        f"first path only in base: {first_b}",
        "a base tree with the same parameter paths as params (blocks may differ in number)",
        "Build both trees from the same model class.")


def plan(params: object, base: object, *, width: float | None = None,
         depth: int | None = None, base_depth: int | None = None,
         alpha: float | None = None,
         roles: Mapping[str, object] | Sequence[tuple[str, object]] | None = None,
         optimizer: str = "adam", formulation: str = "init",
         fan_axes: Mapping[str, tuple[object, object]] | None = None,
         structure: object = None) -> Plan:
    r"""Builds the μP (and depth-μP / CompleteP) :class:`Plan` of a parameter tree.

    **Width** (Tensor Programs V, Table 3). The base is the base model's parameter tree (any
    tree with the same paths whose leaves have ``.shape``; ``jax.eval_shape`` of the base
    model's ``init`` costs no memory) or a base width (a number) together with ``width``.
    With a base tree each parameter's multipliers are the ratios of its fans to the base's,
    :math:`m_\text{in} = \text{fan}_\text{in}/\text{fan}_{\text{in},0}`,
    :math:`m_\text{out} = \text{fan}_\text{out}/\text{fan}_{\text{out},0}`, and a parameter without a role
    gets the one its shapes imply: ≥2 axes with both fans growing → hidden, only fan-out →
    input, only fan-in → output, neither → fixed; fewer axes → bias (fixed if it does not
    grow). With a base width, the role (from ``roles``, or bias for 1-axis parameters) says
    which fans grow, by ``width / base``. Fans follow :func:`jinit.compute_fans` (last two
    axes), overridable per parameter with ``fan_axes``, except for Flax's attention layouts,
    which are guessed from the path and the rank (names and ranks only, so a ``fan_axes``
    rule settles any other case): a 3-axis ``query``/``key``/``value`` kernel
    ``(d_model, heads, head_dim)`` (``nn.DenseGeneral`` in linen's
    ``MultiHeadDotProductAttention`` and ``SelfAttention``, ``nnx.LinearGeneral`` in
    ``nnx.MultiHeadAttention``) has fan-in ``d_model`` and fan-out ``heads·head_dim``, the
    3-axis ``out`` kernel ``(heads, head_dim, d_model)`` fan-in ``heads·head_dim`` (all
    contracted axes) and fan-out ``d_model``, and a 2-axis ``query``/``key``/``value`` bias
    ``(heads, head_dim)`` is a bias of ``heads·head_dim`` entries. With ``structure``
    (:func:`jinit.structure.trace` of the model ``params`` belongs to) the fans of every
    leaf the model contracts over whole axes come from the traced ``in_axes``,
    ``out_axes`` and ``batch_axes`` instead, whatever its name or layout; a ``fan_axes``
    rule for such a leaf gives way to the trace, and a leaf that is not such a contraction
    (a bias, a norm scale, a slice of a fused kernel) keeps the rules above. Without a
    structure, leaves of 3 or more axes that take the last two axes as their fans and are
    not shaped like a convolution are listed in one
    :class:`jinit.structure.AmbiguousFanWarning`.

    **Depth** (with ``alpha``). Residual blocks are found from the paths: a sequence index
    (``layers/3/mlp/kernel``) or a numbered module with submodules (``Block_3/Dense_0/kernel``),
    in the family with the most blocks; :math:`L` and :math:`L_0` are the numbers of blocks
    in ``params`` and ``base`` (a base tree may have fewer blocks), or ``depth`` and
    ``base_depth``. Scanned models stack their blocks on a leading axis: with ``depth`` and
    ``base_depth`` given, a leaf whose leading axis is :math:`L` (and :math:`L_0` in the base)
    is stacked; ``roles`` may say so too (``"stacked"``), or mark a leaf ``"block"`` or
    ``"trunk"`` (outside the blocks). With :math:`m_L = L / L_0`, inside the blocks:

    .. math::

        x_{l+1} = x_l + m_L^{-\alpha} f_l(x_l), \qquad
        \eta_\text{Adam} \times m_L^{\alpha - 1}, \qquad
        \eta_\text{SGD} \times m_L^{2\alpha - 1}, \qquad
        \epsilon_\text{Adam} \times m_L^{-\alpha}, \qquad
        \sigma_\text{init} \times 1,

    on top of the width factors; parameters outside the blocks get no depth factor.
    ``alpha=1`` is CompleteP (Dey et al. 2025, Table 1; the reference code
    EleutherAI/nanoGPT-mup ``model.py`` multiplies branches by
    ``1/depth_multiplier**depth_alpha_exp`` and the block learning rates by
    ``depth_multiplier**(depth_alpha_exp - 1)``, the block epsilon by
    ``depth_multiplier**-depth_alpha_exp``); ``alpha=0.5`` is the depth-μP of Yang et al.
    2023 (Tensor Programs VI, branch multiplier :math:`1/\sqrt{L}`, SGD learning rate constant
    in depth, Adam's :math:`\propto 1/\sqrt{L}`) and of Bordelon et al. 2023. The SGD entry
    for ``alpha=1`` follows from the same requirement (each block moves the residual stream
    by :math:`\Theta(1/L)` per step: multiplier × gradient × learning rate
    :math:`= m_L^{-\alpha} m_L^{-\alpha} m_L^{2\alpha-1}`); CompleteP tabulates only AdamW.
    Adam's ε and weight decay follow CompleteP (:attr:`Plan.eps_multipliers`,
    :attr:`Plan.decay_multipliers`), where Tensor Programs V scales decay with the learning
    rate and u-μP makes it independent of it.

    Args:
      params: the parameter tree to train (linen ``variables["params"]``, an ``nnx.State``,
        any pytree of arrays or ``jax.ShapeDtypeStruct``).
      base: the base model's parameter tree, or a base width (a positive number).
      width: the model's width, required when ``base`` is a number.
      depth, base_depth: numbers of residual blocks :math:`L`, :math:`L_0` (default: counted).
      alpha: the residual-branch exponent, ``0.5`` or ``1.0``; ``None`` for width only.
      roles: ``{regex: role}`` (or pairs), ``re.search`` on each :func:`jinit.tree.path_str`,
        first match wins; a role is one of ``"input"``, ``"hidden"``, ``"output"``,
        ``"bias"``, ``"fixed"``, ``"block"``, ``"stacked"``, ``"trunk"``, or a tuple of a width
        role and a depth role. A rule that matches nothing warns.
      optimizer: ``"adam"`` (any entrywise-normalizing optimizer) or ``"sgd"``.
      formulation: ``"init"`` (Table 3) or ``"multiplier"`` (readout multiplier
        :math:`1/m_\text{in}` in the forward pass; see :mod:`jinit.mup`).
      fan_axes: ``{regex: (in_axis, out_axis)}`` for parameters whose fans are not on the
        last two axes (Flax attention's ``query``/``key``/``value``/``out`` kernels are
        guessed from their names, as above; a rule here overrides the guess).
      structure: ``jinit.structure.trace(model, *args)`` of the model ``params`` belongs
        to (the base model has the same layout, so its fans are read on the same axes);
        ``params`` may be the ``params`` collection of a linen variables dict the trace
        names ``params/...``.

    Returns:
      A :class:`Plan`.

    Raises:
      ValueError: an unknown role, optimizer, formulation or ``alpha``; a non-positive base
        width; a base tree whose paths (the first differing one on each side is named, and a
        missing or extra top level such as ``params/``) or ranks differ from ``params``; a
        ≥2-axis parameter without a role when ``base`` is a number; ``alpha`` without blocks.
      TypeError: ``roles``/``fan_axes`` of the wrong type; ``width`` missing with a number base.

    References:
      Yang et al., "Tensor Programs V", arXiv:2203.03466, 2022, Table 3. Yang, Yu, Zhu &
      Hayou, "Tensor Programs VI: Feature Learning in Infinite-Depth Neural Networks",
      arXiv:2310.02244, 2023. Bordelon, Noci, Li, Hanin & Pehlevan, "Depthwise
      Hyperparameter Transfer in Residual Networks", arXiv:2309.16620, 2023. Dey et al.,
      "Don't be lazy: CompleteP enables compute-efficient deep transformers",
      arXiv:2505.01618, 2025, Table 1.

    Example:
      >>> import jax.numpy as jnp, jinit
      >>> params = {"embed": jnp.zeros((100, 512)), "mlp": jnp.zeros((512, 512)),
      ...           "bias": jnp.zeros((512,)), "head": jnp.zeros((512, 100))}
      >>> p = jinit.mup.plan(params, 128, width=512, optimizer="sgd",
      ...                    roles={"embed": "input", "mlp": "hidden", "head": "output"})
      >>> p.roles["bias"], p.lr_multipliers["embed"], p.lr_multipliers["head"]
      ('bias', 4.0, 0.25)

      Depth: 16 blocks against a base of 4, CompleteP:

      >>> blocks = [{"w": jnp.zeros((64, 64))} for _ in range(16)]
      >>> tree = {"embed": jnp.zeros((8, 64)), "layers": blocks}
      >>> base = {"embed": jnp.zeros((8, 64)), "layers": blocks[:4]}
      >>> q = jinit.mup.plan(tree, base, alpha=1.0)
      >>> q.branch_multiplier, q.lr_multipliers["layers/7/w"], q.eps_multipliers["layers/7/w"]
      (0.25, 1.0, 0.25)
    """
    fn = FN
    _checks.choice(fn, "optimizer", optimizer, OPTIMIZERS)
    _checks.choice(fn, "formulation", formulation, FORMULATIONS)
    if alpha is not None:
        alpha = _checks.real(fn, "alpha", alpha)
        if alpha not in ALPHAS:
            raise _checks.fail(fn, "alpha", alpha, "is not valid",
                               "0.5 (depth-μP) or 1.0 (CompleteP), or None for width only")
    role_rules = compile_rules(fn, roles, arg="roles", check=_check_role,
                               expected="a mapping {regex: role} or (regex, role) pairs",
                               allow_function=False)
    axis_rules = compile_rules(fn, fan_axes, arg="fan_axes", check=_check_axes,
                               expected="a mapping {regex: (in_axis, out_axis)}",
                               allow_function=False)
    check_structure(fn, structure)
    leaves = _leaves(params)
    numeric = isinstance(base, (int, float, np.integer, np.floating)) and not isinstance(base, bool)
    family, templates, n_blocks = guess_blocks([n for n, _ in leaves])
    if numeric:
        _checks.real(fn, "base", base, minimum=0.0, strict=True)
        if width is None:
            raise _checks.fail(fn, "width", width, "is missing",
                               "the model's width when base is a number",
                               "Pass width=..., or pass the base model's parameter tree.",
                               TypeError)
        ratio = _checks.real(fn, "width", width, minimum=0.0, strict=True) / float(base)
        base_shapes, base_blocks = None, 0
    else:
        base_leaves = _leaves(base)
        _, base_templates, base_blocks = guess_blocks([n for n, _ in base_leaves])
        base_shapes = {}
        for n, s in base_leaves:
            base_shapes.setdefault(base_templates.get(n, n), s)
        keyed = [templates.get(n, n) for n, _ in leaves]
        if set(keyed) != set(base_shapes):
            raise _mismatch(keyed, list(base_shapes))
    L = _checks.integer(fn, "depth", depth, minimum=1) if depth is not None else n_blocks
    L0 = (_checks.integer(fn, "base_depth", base_depth, minimum=1) if base_depth is not None
          else base_blocks or (n_blocks if not numeric else 0))
    stack_known = depth is not None and base_depth is not None and L != L0
    out: dict[str, Leaf] = {}
    unsure: list[tuple[str, tuple[int, ...], None]] = []
    for name, shape in leaves:
        axis_hit = axis_rules.match(name, shape)
        hit = role_rules.match(name, shape)
        given = (hit[1] if isinstance(hit[1], tuple) else (hit[1],)) if hit else ()
        role = next((r for r in given if r in ROLES), None)
        where = next((r for r in given if r in DEPTH_ROLES), None)
        bshape = base_shapes[templates.get(name, name)] if base_shapes is not None else None
        if bshape is not None and len(bshape) != len(shape):
            raise _checks.fail(fn, "base", bshape, f"has rank {len(bshape)} at {name!r}",
                               f"rank {len(shape)}, as in params")
        if where is None:
            if name in templates:
                where = "block"
            elif (stack_known and len(shape) >= 2 and shape[0] == L
                  and (bshape is None or bshape[0] == L0)):
                where = "stacked"
            else:
                where = "trunk"
        batch = (0,) if where == "stacked" else ()
        traced = _traced(structure, name, shape)
        if traced is not None:
            in_axis, out_axis = traced[0], traced[1]
            batch = tuple(sorted(set(batch) | set(traced[2])))
        elif axis_hit is not None:
            in_axis, out_axis = axis_hit[1]
        else:
            use = guess(shape, form=_attention_form(name, len(shape) - len(batch)),
                        stacked=len(batch), path=name)
            in_axis, out_axis = use.in_axes, use.out_axes
            if structure is None and use.assumed is not None:
                unsure.append((name, shape[len(batch):], None))
        if bshape is not None:
            fi, fo = _leaf_fans(fn, shape, in_axis, out_axis, batch)
            bi, bo = _leaf_fans(fn, bshape, in_axis, out_axis, batch)
            m_in, m_out = _ratio(fi, bi), _ratio(fo, bo)
            if role is None:
                # a bias over several axes
                vector = in_axis == () and axis_hit is None and traced is None
                role = _infer(m_in, m_out, 1 if vector else len(shape) - len(batch))
        else:
            if role is None:
                if len(shape) - len(batch) >= 2:
                    raise _checks.fail(fn, "roles", roles, f"gives no role for {name!r} "
                                       f"(shape {shape})", f"a role from {', '.join(ROLES)}",
                                       "Add a regex for it, or pass the base model's tree.")
                role = "bias" if len(shape) - len(batch) == 1 else "fixed"
            grows_in = role in ("hidden", "output")
            grows_out = role in ("hidden", "input", "bias")
            m_in, m_out = (ratio if grows_in else 1.0), (ratio if grows_out else 1.0)
        in_block = where != "trunk"
        out[name] = Leaf(str(role), shape, float(m_in), float(m_out), in_block,
                         float(L) / float(L0) if in_block and L0 else 1.0)
    warn_ambiguous(fn, unsure, fix="give them fan_axes={regex: (in_axis, out_axis)}")
    role_rules.report_unmatched([n for n, _ in leaves], arg="roles")
    axis_rules.report_unmatched([n for n, _ in leaves], arg="fan_axes")
    if alpha is None:
        return Plan(out, optimizer, formulation)
    if not any(v.block for v in out.values()) or not L or not L0:
        raise _checks.fail(fn, "alpha", alpha, "needs residual blocks, and none were found",
                           "paths with a block index (layers/3/..., Block_3/...) or depth= and "
                           "base_depth=", "Mark block parameters with roles={regex: 'block'} "
                           "(or 'stacked' for a scanned axis) and pass depth= and base_depth=.")
    return Plan(out, optimizer, formulation, alpha, int(L), int(L0))


# Flax's attention (linen MultiHeadDotProductAttention/SelfAttention, nnx MultiHeadAttention)
# names its DenseGeneral/LinearGeneral projections query, key, value and out.
_QKV = ("query", "key", "value")


def _attention_form(name: str, rank: int) -> str:
    """The :func:`jinit.structure.guess` form of a leaf without a ``fan_axes`` rule: what the
    path and rank say is Flax attention (a guess from names and ranks), ``"plain"`` (the
    last two axes) otherwise. A ``query``/``key``/``value`` kernel ``(d_model, heads,
    head_dim)`` contracts its first axis (``"input"``), the ``out`` kernel ``(heads,
    head_dim, d_model)`` its first two (``"output"``), and a ``query``/``key``/``value``
    bias ``(heads, head_dim)`` is a bias over both axes (``"bias"``). ``rank`` counts the
    axes without a scanned-block axis."""
    parts = name.split("/")
    module, leaf = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", "")
    if leaf == "kernel" and rank == 3:
        if module in _QKV:
            return "input"
        if module == "out":
            return "output"
    if leaf == "bias" and module in _QKV and rank == 2:
        return "bias"
    return "plain"


def _traced(structure: object, name: str, shape: tuple[int, ...]
            ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None:
    """``(in_axes, out_axes, batch_axes)`` the trace read for ``name``, when the model
    contracts it over whole axes (:attr:`jinit.structure.Use.expressible`), else ``None``."""
    if structure is None:
        return None
    use = structure.lookup(name)
    if (use is None or use.source != "trace" or not use.expressible
            or tuple(use.shape) != tuple(shape)):
        return None
    return tuple(use.in_axes), tuple(use.out_axes), tuple(use.batch_axes)


def _infer(m_in: float, m_out: float, ndim: int) -> str:
    if ndim < 2:
        return "bias" if m_out != 1.0 else "fixed"
    return {(True, True): "hidden", (True, False): "output", (False, True): "input",
            (False, False): "fixed"}[(m_in != 1.0, m_out != 1.0)]


def _leaf_fans(fn: str, shape: tuple[int, ...], in_axis, out_axis, batch: tuple[int, ...]
               ) -> tuple[float, float]:
    core = len(shape) - len(batch)
    if core <= 0:
        return 1.0, 1.0
    if core == 1:
        return 1.0, float(shape[-1])
    return _fans.fans(fn, shape, in_axis, out_axis, batch)


def _ratio(a: float, b: float) -> float:
    return 1.0 if a == b else (a / b if b else 1.0)
