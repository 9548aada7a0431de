"""The analyses over a flattened program: where each parameter's value goes and how it is used.

One forward pass (:func:`analyse`) follows every parameter leaf through the operations that
only move or relabel its elements (reshape, transpose, broadcast, casts, slices, a scan's or
a loop's indexing of a stacked leaf, and elementwise arithmetic with constants or other
parameters), keeping for each axis of the moved value the parameter axes it came from. Where
such a value meets data (a value computed from the model's inputs) the meeting is a *use*:
a contraction (``dot_general``, ``conv_general_dilated``, a data-indexed ``gather``) or an
elementwise ``mul``/``add``. Then, per use, the elementwise chain that follows its output
(:func:`_after`) and whether that output is added back to a stream its input came from
(:func:`_residual`).
"""

from __future__ import annotations

import dataclasses
import heapq
import math

import numpy as np

from ._chain import PASS_IN_CHAIN as _PASS_IN_CHAIN
from ._chain import bind as _bind
from ._chain import chain_fn as _chain_fn
from ._chain import name as _name
from ._graph import Const, Graph, Node
from ._use import IDENTITY, After
from ._view import RawUse, View
from ._view import reshape_dims as _reshape_dims
from ._view import union as _union

# Primitives that apply one scalar function per element (all operands the same shape, or
# rank-0/size-1 broadcast). The chain after a contraction is made of these.
ELEMENTWISE = frozenset("""
neg sign floor ceil round is_finite exp exp2 log log1p expm1 tanh logistic sin cos tan asin
acos atan sinh cosh asinh acosh atanh abs sqrt rsqrt cbrt pow integer_pow square max min add
sub mul div rem erf erfc erf_inv select_n clamp ge gt lt le eq ne and or not xor atan2
nextafter add_any
""".split())
# Layout-only primitives: the value's elements, moved or relabelled (or cast).
MOVES = frozenset("""
convert_element_type copy copy_p reduce_precision sharding_constraint pvary device_put
optimization_barrier reshape transpose broadcast_in_dim squeeze rev slice dynamic_slice pad
concatenate scan_slice expand_dims
""".split())


# Chains already named, by their primitives, constants and parameters (across traces).
_NAMES: dict[object, After] = {}


class Analysis:
    def __init__(self, graph: Graph, leaf_values: list[int], leaf_shapes: list[tuple[int, ...]],
                 data_values: list[int]):
        self.g = graph
        self.leaf_shapes = leaf_shapes
        n = len(graph.shapes)
        self.data = np.zeros(n, bool)
        self.param = np.zeros(n, bool)
        self.views: dict[int, tuple[View, ...]] = {}
        for v in data_values:
            self.data[v] = True
        for i, v in enumerate(leaf_values):
            self.param[v] = True
            self.views[v] = (View(i, tuple((k,) for k in range(len(leaf_shapes[i])))),)
        self.uses: list[RawUse] = []
        self.consumers: dict[int, list[int]] = {}
        self._static: dict[int, object] = {}
        self._producer: dict[int, int] = {}

    # -------------------------------------------------------------------- helpers

    def is_data(self, x: object) -> bool:
        return isinstance(x, int) and bool(self.data[x])

    def views_of(self, x: object) -> tuple[View, ...]:
        return self.views.get(x, ()) if isinstance(x, int) else ()

    def static_scalar(self, x: object) -> float | None:
        """The value of a constant operand, as one float when it is uniform."""
        if isinstance(x, Const):
            return x.scalar()
        if self.data[x] or self.param[x]:
            return None
        value = self._static_value(x)
        return None if value is None else value.scalar()

    def _static_value(self, v: int, depth: int = 0) -> Const | None:
        if v in self._static:
            return self._static[v]
        self._static[v] = None
        node_i = self._producer.get(v)
        if node_i is None or depth > 24:
            return None
        node = self.g.nodes[node_i]
        if node.primitive is None or len(node.outs) != 1 or \
                math.prod(self.g.shapes[v]) > 1 << 16:
            return None
        args = []
        for x in node.ins:
            c = x if isinstance(x, Const) else self._static_value(x, depth + 1)
            if c is None:
                return None
            args.append(c.value)
        try:
            out = _bind(node.primitive, node.params, args)
            got = Const(np.asarray(out))
        except Exception:  # noqa: BLE001 - not foldable here: treated as unknown
            got = None
        self._static[v] = got
        return got

    # ------------------------------------------------------------------- the pass

    def run(self) -> None:
        g = self.g
        for i, node in enumerate(g.nodes):
            for x in node.ins:
                if isinstance(x, int):
                    self.consumers.setdefault(x, []).append(i)
            for o in node.outs:
                self._producer[o] = i
            ids = [x for x in node.ins if isinstance(x, int)]
            d = any(self.data[x] for x in ids)
            p = any(self.param[x] for x in ids)
            for o in node.outs:
                self.data[o] = d
                self.param[o] = p
            if p:
                self._node(i, node)

    def _set(self, out: int, views) -> None:
        views = tuple(views)
        if views:
            self.views[out] = views

    def _node(self, i: int, node: Node) -> None:
        prim, ins, outs = node.prim, node.ins, node.outs
        if prim == "dot_general":
            self._dot(i, node)
            return
        if prim == "conv_general_dilated":
            self._conv(i, node)
            return
        if prim == "gather":
            if self.is_data(ins[1]):
                self._gather(i, node)
            else:
                self._set(outs[0], (self._gather_view(node, v) for v in self.views_of(ins[0])))
            return
        if prim in MOVES:
            self._move(node)
            return
        if prim in ELEMENTWISE:
            self._elementwise(i, node)
            return
        if prim in ("loop_out", "scan_stack", "join"):
            return
        for x in ins:  # any other primitive reading a parameter's value
            for v in self.views_of(x):
                self._record(RawUse(v.leaf, "other", i, outs[0] if outs else None, None))

    def _record(self, use: RawUse) -> None:
        self.uses.append(use)

    def _move(self, node: Node) -> None:
        prim, ins, outs, g = node.prim, node.ins, node.outs, self.g
        if prim in ("optimization_barrier", "device_put"):
            for x, o in zip(ins, outs, strict=False):
                self._set(o, self.views_of(x))
            return
        if prim == "concatenate":
            self._set(outs[0], (v for x in ins for v in self.views_of(x)))
            return
        src = g.shapes[ins[0]] if isinstance(ins[0], int) else ()
        dst = g.shapes[outs[0]]
        new = []
        for v in self.views_of(ins[0]):
            shape = self.leaf_shapes[v.leaf]
            indexed = v.indexed
            if prim == "reshape":
                dims, dropped = _reshape_dims(src, dst, v.dims, shape)
                indexed = indexed | dropped
            elif prim == "transpose":
                dims = tuple(v.dims[k] for k in node.params["permutation"])
            elif prim == "broadcast_in_dim":
                out = [()] * len(dst)
                for k, d in enumerate(node.params["broadcast_dimensions"]):
                    if src[k] == dst[d]:
                        out[d] = v.dims[k]
                dims = tuple(out)
            elif prim in ("squeeze", "scan_slice"):
                gone = (tuple(node.params["dimensions"]) if prim == "squeeze" else (0,))
                gone = tuple(k % len(src) for k in gone)
                indexed = indexed | frozenset(a for k in gone for a in v.dims[k])
                dims = tuple(d for k, d in enumerate(v.dims) if k not in gone)
            elif len(src) == len(dst):  # casts, slices, pads, reversals: axes kept
                dims = v.dims
            else:
                continue
            new.append(dataclasses.replace(v, dims=dims, indexed=indexed))
        self._set(outs[0], new)

    def _gather_view(self, node: Node, v: View) -> View:
        """A gather by constant indices (a table's rows picked, a stacked layer indexed)."""
        dn = node.params["dimension_numbers"]
        src = self.g.shapes[node.ins[0]]
        idx_shape = self.g.shapes[node.ins[1]] if isinstance(node.ins[1], int) else \
            node.ins[1].value.shape
        collapsed = set(dn.collapsed_slice_dims) | set(getattr(dn, "operand_batching_dims", ()))
        kept = [k for k in range(len(src)) if k not in collapsed]
        dst = self.g.shapes[node.outs[0]]
        dims: list[tuple[int, ...]] = [()] * len(dst)
        for pos, k in zip(dn.offset_dims, kept, strict=False):
            dims[pos] = v.dims[k]
        points = math.prod(idx_shape[:-1]) if idx_shape else 1
        looked = _union(v.dims[k] for k in dn.start_index_map)
        if points > 1:  # rows picked: the index axes of the output carry the table's axis
            rest = [p for p in range(len(dst)) if p not in set(dn.offset_dims)]
            for p in rest:
                dims[p] = looked
            return dataclasses.replace(v, dims=tuple(dims))
        gone = frozenset(a for k in collapsed for a in v.dims[k])
        return dataclasses.replace(v, dims=tuple(dims), indexed=v.indexed | gone)

    def _elementwise(self, i: int, node: Node) -> None:
        prim, ins, outs = node.prim, node.ins, node.outs
        dst = self.g.shapes[outs[0]]
        data_in = [x for x in ins if self.is_data(x)]
        viewed = [(k, x) for k, x in enumerate(ins) if self.views_of(x)]
        if data_in:
            op = {"mul": "scale", "div": "scale", "add": "shift", "sub": "shift",
                  "add_any": "shift"}.get(prim, "other")
            for _, x in viewed:
                for v in self.views_of(x):
                    axes = _union(v.dims)
                    self._record(RawUse(v.leaf, op, i, outs[0], data_in[0], out_axes=axes,
                                        batch_axes=tuple(sorted(v.indexed)),
                                        offset=v.offset, mult=v.mult))
            return
        new = []
        const = [self.static_scalar(x) for x in ins]
        for k, x in viewed:
            for v in self.views_of(x):
                src = self.g.shapes[x]
                if len(src) == len(dst):
                    dims = tuple(d if src[j] == dst[j] else () for j, d in enumerate(v.dims))
                else:
                    dims = tuple(() for _ in dst)
                other = const[1 - k] if len(ins) == 2 else None
                offset, mult, modified = v.offset, v.mult, v.modified
                if prim in ("add", "add_any") and other is not None:
                    offset += other
                elif prim == "sub" and other is not None and k == 0:
                    offset -= other
                elif prim == "mul" and other is not None:
                    offset, mult = offset * other, mult * other
                elif prim == "div" and other is not None and k == 0 and other != 0:
                    offset, mult = offset / other, mult / other
                elif prim != "convert_element_type":
                    modified = True
                new.append(dataclasses.replace(v, dims=dims, offset=offset, mult=mult,
                                               modified=modified))
        self._set(outs[0], new)

    def _dot(self, i: int, node: Node) -> None:
        (lc, rc), (lb, rb) = node.params["dimension_numbers"]
        for side, (contract, batch) in enumerate(((lc, lb), (rc, rb))):
            x, other = node.ins[side], node.ins[1 - side]
            shape = self.g.shapes[x] if isinstance(x, int) else ()
            for v in self.views_of(x):
                free = [k for k in range(len(shape)) if k not in set(contract) | set(batch)]
                fan_in = math.prod(shape[k] for k in contract if v.dims[k])
                fan_out = math.prod(shape[k] for k in free if v.dims[k])
                self._record(RawUse(
                    v.leaf, "dot_general", i, node.outs[0], other, float(fan_in), float(fan_out),
                    _union(v.dims[k] for k in contract), _union(v.dims[k] for k in free),
                    tuple(sorted(set(_union(v.dims[k] for k in batch)) | v.indexed)),
                    offset=v.offset, mult=v.mult))

    def _conv(self, i: int, node: Node) -> None:
        dn = node.params["dimension_numbers"]
        rhs_spec = dn.rhs_spec
        x = node.ins[1]
        shape = self.g.shapes[x] if isinstance(x, int) else ()
        for v in self.views_of(x):
            o, k_in, spatial = rhs_spec[0], rhs_spec[1], rhs_spec[2:]
            receptive = math.prod(shape[k] for k in spatial)
            self._record(RawUse(
                v.leaf, "conv", i, node.outs[0], node.ins[0],
                float(shape[k_in] * receptive), float(shape[o] * receptive),
                v.dims[k_in], v.dims[o], tuple(sorted(v.indexed)), receptive,
                offset=v.offset, mult=v.mult))
        for v in self.views_of(node.ins[0]):
            self._record(RawUse(v.leaf, "other", i, node.outs[0], node.ins[1]))

    def _gather(self, i: int, node: Node) -> None:
        dn = node.params["dimension_numbers"]
        x = node.ins[0]
        shape = self.g.shapes[x]
        sizes = node.params["slice_sizes"]
        # an indexed axis sliced whole (a vmapped dynamic_slice indexes every axis) is kept
        looked = tuple(k for k in dn.start_index_map if sizes[k] < shape[k])
        rest = [k for k in range(len(shape)) if k not in looked and sizes[k] == shape[k]]
        for v in self.views_of(x):
            self._record(RawUse(
                v.leaf, "gather", i, node.outs[0], node.ins[1],
                float(math.prod(shape[k] for k in looked if v.dims[k])),
                float(math.prod(shape[k] for k in rest if v.dims[k])),
                _union(v.dims[k] for k in looked), _union(v.dims[k] for k in rest),
                tuple(sorted(v.indexed)), offset=v.offset, mult=v.mult))

    # ---------------------------------------------------------------- after

    def afters(self) -> None:
        names = _NAMES
        if len(names) > 4096:
            names.clear()
        for use in self.uses:
            if use.out is not None and use.op != "other":
                use.after = self._after(use.out, names)

    def _chain_step(self, node: Node, inchain: set[int]):
        """How a node joins the chain: one spec per operand, or ``None`` if it does not."""
        if node.prim not in ELEMENTWISE and node.prim not in _PASS_IN_CHAIN:
            return None
        if len(node.outs) != 1:
            return None
        specs, hit = [], False
        for x in node.ins:
            if isinstance(x, int) and x in inchain:
                specs.append(("v", x))
                hit = True
                continue
            c = self.static_scalar(x)
            if c is not None:
                specs.append(("c", c, x.value.dtype if isinstance(x, Const) else
                              self.g.dtypes[x]))
                continue
            if isinstance(x, int) and self.param[x] and not self.data[x] and \
                    node.prim in ("add", "sub", "add_any"):
                specs.append(("skip",))
                continue
            return None
        if not hit or (node.prim in _PASS_IN_CHAIN and len(node.ins) != 1):
            return None
        return specs

    def _after(self, v0: int, names: dict) -> After:
        nodes = self.g.nodes
        inchain = {v0}
        steps: dict[int, list] = {}
        heap = list(self.consumers.get(v0, ()))
        heapq.heapify(heap)
        seen: set[int] = set()
        while heap and len(steps) < 256:
            n = heapq.heappop(heap)
            if n in seen:
                continue
            seen.add(n)
            specs = self._chain_step(nodes[n], inchain)
            if specs is None:
                continue
            steps[n] = specs
            out = nodes[n].outs[0]
            inchain.add(out)
            for c in self.consumers.get(out, ()):
                heapq.heappush(heap, c)
        outputs = {x for x in self.g.outputs if isinstance(x, int)}

        def leaves_chain(v: int) -> bool:
            return v in outputs or any(c not in steps for c in self.consumers.get(v, ()))

        # The chain's result is its last value read outside it; when the contraction's own
        # output is also read outside (a norm's statistics, a residual add), it passes on as
        # it is and the function after it is the identity.
        # values equal to the output itself: moved, cast, or with a bias added
        same = {v0}
        for n in sorted(steps):
            nd = nodes[n]
            ins = [s[1] for s in steps[n] if s[0] == "v"]
            if len(ins) == 1 and ins[0] in same and (
                    nd.prim in _PASS_IN_CHAIN or ("skip",) in steps[n]):
                same.add(nd.outs[0])
        end, end_at = v0, -1
        if not any(leaves_chain(v) for v in same):
            for n in steps:
                if leaves_chain(nodes[n].outs[0]) and n > end_at:
                    end, end_at = nodes[n].outs[0], n
        if end == v0:
            return IDENTITY
        needed: set[int] = {end}
        program = []
        for n in sorted(steps, reverse=True):
            if nodes[n].outs[0] in needed:
                program.append((nodes[n], steps[n]))
                needed.update(s[1] for s in steps[n] if s[0] == "v")
        program.reverse()
        position = {v0: -1}
        for k, (nd, _) in enumerate(program):
            position[nd.outs[0]] = k
        signature = tuple((nd.prim, tuple(("v", position[s[1]]) if s[0] == "v" else s[:2]
                                          for s in sp),
                           tuple(sorted((k, repr(p)) for k, p in nd.params.items())))
                          for nd, sp in program)
        if signature in names:
            return names[signature]
        fn = _chain_fn(v0, end, program)
        prims = tuple(nd.prim for nd, sp in program
                      if nd.prim not in _PASS_IN_CHAIN and ("skip",) not in sp)
        after = After(_name(fn, prims), fn, prims) if prims else IDENTITY
        names[signature] = after
        return after

    # -------------------------------------------------------------- residual

    def residuals(self) -> None:
        """Marks uses whose output is added back to a stream their input came from."""
        uses_at: dict[int, list[int]] = {}
        for k, use in enumerate(self.uses):
            if use.out is not None:
                uses_at.setdefault(use.out, []).append(k)
        reach: dict[int, int] = {}
        for node in self.g.nodes:
            m = 0
            for x in node.ins:
                if isinstance(x, int):
                    m |= reach.get(x, 0)
            for o in node.outs:
                bits = m
                for k in uses_at.get(o, ()):
                    bits |= 1 << k
                if bits:
                    reach[o] = bits
        candidates = []  # (node index, stream operand, branch uses)
        for i, node in enumerate(self.g.nodes):
            if node.prim not in ("add", "add_any") or len(node.ins) != 2:
                continue
            a, b = node.ins
            if not (isinstance(a, int) and isinstance(b, int)):
                continue
            for r, q in ((a, b), (b, a)):
                if not self.data[r]:
                    continue
                branch = reach.get(q, 0) & ~reach.get(r, 0)
                if branch:
                    candidates.append((i, r, branch))
        if not candidates:
            return
        bit_of = {}
        for _, r, _ in candidates:
            bit_of.setdefault(r, len(bit_of))
        anc: dict[int, int] = {r: 1 << b for r, b in bit_of.items()}
        for node in self.g.nodes:
            m = 0
            for x in node.ins:
                if isinstance(x, int):
                    m |= anc.get(x, 0)
            if m:
                for o in node.outs:
                    anc[o] = anc.get(o, 0) | m
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            while parent.get(x, x) != x:
                x = parent[x]
            return x

        marked: dict[int, int] = {}  # use index -> stream operand
        for i, r, branch in candidates:
            bit = 1 << bit_of[r]
            hit = False
            k = 0
            while branch:
                if branch & 1 and k not in marked:
                    inp = self.uses[k].inp
                    if isinstance(inp, int) and anc.get(inp, 0) & bit:
                        marked[k] = r
                        hit = True
                branch >>= 1
                k += 1
            if hit:
                out = self.g.nodes[i].outs[0]
                parent[find(out)] = find(r)
        numbers: dict[int, int] = {}
        for k in sorted(marked):
            root = find(marked[k])
            self.uses[k].residual = True
            self.uses[k].stream = numbers.setdefault(root, len(numbers))
