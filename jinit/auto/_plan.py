r"""From the model's structure to one choice per parameter (no data).

Per leaf (:class:`jinit.structure.Use` and the execution layout of :mod:`jinit.structure._program`):

* **Kernel** (``dot_general``/``conv``): :math:`W \sim \mathcal{N}(0,
  \sigma_w^2/\text{fan}_\text{in})`, fans from the trace (a convolution's window included). A first
  layer (its input is the data) takes :math:`\sigma_w^2 = q^*`, bias 0: LeCun's choice for
  standardized inputs (LeCun et al., "Efficient BackProp", 1998) at the pre-activation scale
  the activation after it is held at (:func:`jinit.auto._theory.fixed_scale`, for the depth
  :math:`L` of kernels off residual branches; 1 for most activations), whose real scale the
  data pass then corrects. Any other takes :mod:`jinit.auto._theory`'s :math:`(\sigma_w^2,
  \sigma_b^2)` for the activation applied to its *input*: the ``after`` of the kernel the
  walk found before it; when its input is not one kernel's output through elementwise
  operations (a residual sum, a norm's output, an attention mix), the identity with unit
  second moment (what a norm gives; a sum's real scale is left to the data pass); when the
  kernel was not reached by the walk (inside a loop body), the activation after the kernel
  itself, as in the mean-field stack of one activation (a guess, said so). That choice holds
  the input's :math:`q^*`; where the activation after the kernel is held at another
  :math:`q^*` (a readout feeding no activation: 1), both variances are scaled by the ratio.
* **Residual branch** without an internal normalization the stream's variance multiplies by
  :math:`(1 + v)` per block, :math:`2^L` with He's choice. Each of the :math:`m` kernels of a
  branch on a stream with :math:`L` branches is scaled by :math:`L^{-1/(2m)}` in standard
  deviation, so a positively homogeneous branch's output variance is :math:`1/L` of its
  input's and the stream grows at most by :math:`(1 + 1/L)^L \le e`: Fixup's depth rescaling
  (Zhang, Dauphin & Ma, ICLR 2019, arXiv:1901.09321, §3: :math:`L^{-1/(2m-2)}` on all but a
  zeroed last layer) spread over all :math:`m` layers so no branch starts dead, and the
  bounded sum of branch scales of Hanin & Rolnick ("How to Start Training", NeurIPS 2018,
  arXiv:1803.01719, Thm. 2). With pre-normalized branches the stream adds :math:`1/L` per
  branch instead, GPT-2's :math:`1/\sqrt{L}` rule for residual projections (Radford et al.
  2019). Branches are grouped by their module path (the path less the leaf and, for a
  ``kernel``/``weight`` leaf, its layer): a guess from names, said so.
* **Embedding** (``gather``): :math:`\mathcal{N}(0, 1)`, the unit second moment the layers
  after it are chosen for (Flax's ``nn.Embed`` default has the same variance).
* **Norm scale** (``scale``): 1, or 0 when the model computes ``x * (1 + scale)`` (the
  structure's ``offset`` 1), so the norm starts as the plain normalization.
* **Bias** of a kernel (a ``shift`` beside it): :math:`\mathcal{N}(0, \sigma_b^2)` from the
  theory (0 where it is 0); any other ``shift`` (a norm's bias, an additive table): 0.
* Anything else (``other``, ``unused``, a leaf the trace could not read): the framework's own
  value, said so per leaf.
"""

from __future__ import annotations

import collections
import dataclasses
import math

from .. import _basic, _constant
from . import _theory

_KERNEL_LEAVES = ("kernel", "weight", "w", "embedding")


@dataclasses.dataclass
class Row:
    """One parameter's choice (a row of :attr:`jinit.auto.Report.rows`)."""

    path: str
    shape: tuple[int, ...]
    op: str
    fan_in: float | None
    fan_out: float | None
    activation: str
    residual: str
    scheme: str
    std: float | None
    why: str
    input: str = "-"
    sigma_w2: float | None = None
    sigma_b2: float | None = None
    chi1: float | None = None
    first: bool = False
    factor: float = 1.0
    drawn: bool = True          # drawn by auto (else the framework's value is kept)
    data: bool = False          # set from the data (a mean correction): not a random law
    bias: str | None = None     # a kernel's bias path
    q: float = 1.0              # a kernel's target pre-activation second moment q*
    init: object = None

    def as_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "init"}
        d["shape"] = list(self.shape)
        return d


def parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


def branch(path: str) -> str:
    """The residual branch a kernel belongs to, guessed from its path."""
    head, _, leaf = path.rpartition("/")
    if leaf in _KERNEL_LEAVES and "/" in head:
        head = head.rpartition("/")[0]
    return head


def _biases(structure) -> dict[str, str]:
    """kernel path -> the path of its bias (a ``shift`` leaf under the same parent)."""
    by_parent = collections.defaultdict(list)
    for p, u in structure.items():
        by_parent[parent(p)].append((p, u))
    out = {}
    for items in by_parent.values():
        kernels = [p for p, u in items if u.op in ("dot_general", "conv")]
        shifts = [p for p, u in items if u.op == "shift"]
        if len(kernels) == 1 and len(shifts) == 1:
            out[kernels[0]] = shifts[0]
    return out


def plan(structure, layout) -> dict[str, Row]:
    """A :class:`Row` for every leaf of ``structure`` (layout: ``structure.read_layout``)."""
    biases = _biases(structure)
    bias_of = {b: k for k, b in biases.items()}
    streams: dict[int, set[str]] = collections.defaultdict(set)
    members: dict[str, list[str]] = collections.defaultdict(list)
    for p, u in structure.items():
        if u.residual and u.op in ("dot_general", "conv"):
            streams[u.stream].add(branch(p))
            members[branch(p)].append(p)
    rows: dict[str, Row] = {}
    bias_var: dict[str, float] = {}
    depth = max(sum(1 for u in structure.values()
                    if u.op in ("dot_general", "conv") and not u.residual), 1)
    for p, u in structure.items():
        if u.op not in ("dot_general", "conv"):
            continue
        rows[p] = _kernel(p, u, structure, layout, biases.get(p), streams, members, depth)
        bias_var[p] = rows[p].sigma_b2 or 0.0
    for p, u in structure.items():
        if p in rows:
            continue
        rows[p] = _other(p, u, bias_of.get(p), bias_var)
    return {p: rows[p] for p in structure}


def _kernel(p, u, structure, layout, bias, streams, members, depth) -> Row:
    has_bias = bias is not None
    res = "-"
    notes = []
    first = p in layout.first
    q_out, why_q = _theory.fixed_scale(u.after, depth)
    if q_out != 1.0:
        notes.append(f"output feeds {u.after.name}: {why_q}")
    if first:
        sw2, sb2, chi, inp = q_out * _theory.unit_input(0.0), 0.0, None, "data"
        scheme = "lecun (first layer)"
        notes.append(f"first layer: its input is the data; sigma_w2={sw2:.4g} for a "
                     "standardized input (the data pass corrects the real scale and mean)")
    else:
        if p in layout.before:
            src = layout.before[p]
            src_use = structure.get(src) if src else None
            after = src_use.after if src_use is not None else "identity"
            inp = after if isinstance(after, str) else after.name
            if src is None:
                notes.append("input is not one layer's output (a sum, a norm or a mix): "
                             "identity with unit second moment assumed")
        else:
            after = u.after
            inp = after.name
            notes.append("not reached by the walk (inside a loop?): input activation guessed "
                         "as the activation after this kernel")
        q_in = _theory.fixed_scale(after, depth)[0]
        c = _theory.choose(after, has_bias, q_in)
        sw2, sb2, chi = c.sigma_w2 * q_out / q_in, c.sigma_b2 * q_out / q_in, c.chi1
        if q_out != q_in:
            notes.append(f"sigma_w2 and sigma_b2 x {q_out / q_in:.4g}: from the input's "
                         f"q*={q_in:.3g} to the output's {q_out:.3g}")
        scheme = "edge of chaos" if c.understood and abs(c.chi1 - 1) < 1e-6 and sb2 > 0 else \
            "he" if c.understood and abs(sw2 - 2.0) < 1e-3 else \
            "lecun" if c.understood and abs(sw2 - 1.0) < 1e-9 else \
            "unit fixed point" if c.understood else "lecun (default)"
        notes.append(f"input {inp}: {c.note}; q*={q_in:.3g} is {c.verdict}")
    std = math.sqrt(sw2 / u.fan_in) if u.fan_in else None
    if u.residual:
        n_branches = len(streams[u.stream])
        m = len(members[branch(p)])
        factor = n_branches ** (-1.0 / (2 * m)) if n_branches > 1 else 1.0
        res = f"stream {u.stream}: {n_branches} branches"
        if std is not None and factor != 1.0:
            std *= factor
            scheme += f" x L^(-1/{2 * m})"
            notes.append(f"residual branch {branch(p)!r} ({m} kernels; branch guessed from the "
                         f"path) on a stream of L={n_branches}: std x L^(-1/(2m))={factor:.3g}, "
                         "branch variance 1/L (Fixup's depth scaling)")
    if u.tied:
        notes.append("tied: also used as " + "+".join(t.op for t in u.tied))
    if p in layout.normed:
        notes.append("a normalization (or softmax) reduces its output next, so its scale "
                     "matters less there")
    if u.source != "trace":
        notes.append("fans guessed from the shape")
    if std is None:
        return Row(p, u.shape, u.op, u.fan_in, u.fan_out, u.after.name, res, "framework default",
                   None, "no fan-in read: framework default kept", inp, drawn=False)
    return Row(p, u.shape, u.op, u.fan_in, u.fan_out, u.after.name, res, scheme, std,
               "; ".join(notes), inp, sw2, sb2, chi, first, init=_basic.normal(std),
               bias=bias, q=q_out)


def _other(p, u, kernel, bias_var) -> Row:
    def row(scheme, std, why, init, drawn=True):
        return Row(p, u.shape, u.op, u.fan_in, u.fan_out, u.after.name,
                   f"stream {u.stream}" if u.residual else "-", scheme, std, why,
                   drawn=drawn, init=init)

    if u.op == "gather":
        why = "embedding: unit second moment, the q*=1 the layers after it are chosen for"
        if u.tied:
            why += "; tied: also the output head (" + "+".join(t.op for t in u.tied) + ")"
        return row("normal(1)", 1.0, why, _basic.normal(1.0))
    if u.op == "scale":
        if u.offset == 1.0:
            return row("zeros (1+scale)", 0.0, "norm computes x*(1+scale): scale 0 starts it as "
                       "the plain normalization", _constant.zeros)
        if u.offset:
            return row("framework default", None, f"scale with offset {u.offset:g}: not "
                       "understood, framework default kept", None, drawn=False)
        return row("ones", 0.0, "norm scale x*scale: 1 keeps the normalized unit scale",
                   _constant.ones)
    if u.op == "shift":
        if kernel is not None:
            sb2 = bias_var.get(kernel, 0.0)
            if sb2 > 0:
                return row("normal(sigma_b)", math.sqrt(sb2), f"bias of {kernel}: sigma_b2="
                           f"{sb2:.3g} from the theory (its kernel's critical point)",
                           _basic.normal(math.sqrt(sb2)))
            return row("zeros", 0.0, f"bias of {kernel}: sigma_b2=0 from the theory",
                       _constant.zeros)
        return row("zeros", 0.0, "a shift not beside a kernel (a norm's bias, an additive "
                   "table): 0 leaves the signal as the layers before made it", _constant.zeros)
    if u.op == "unused":
        return row("framework default", None, "not read by the traced call: framework "
                   "default kept", None, drawn=False)
    return row("framework default", None, f"op {u.op!r}: not understood, framework default "
               "kept", None, drawn=False)
