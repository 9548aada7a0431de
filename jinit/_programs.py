"""Compiled draws for whole-tree init: each distinct program compiled once per process.

:func:`jinit.tree.init_tree` runs one *packed* program per law (normal, uniform, truncated
normal, with its dtype: :func:`packed`) for every leaf that is one such draw on one device,
whatever the leaves' shapes, and one program per distinct (initializer, shape, dtype,
sharding) for the rest (shape-structured schemes such as orthogonal, initializers that are
not jinit's, leaves sharded over several devices). Compiling is most of a model's
first-call time, so this module

* keeps every compiled program in a process-wide cache keyed by a *stable description* of
  the initializer (:func:`describe`: its code and the values it closes over, not its
  ``id``), so a second ``init_tree`` call, or a fresh ``jinit.normal(0.02)`` equal to an
  earlier one, compiles nothing;
* compiles the programs a call still needs concurrently (XLA compiles outside the GIL) and
  hands each one back as soon as it is ready, so sampling with the first program overlaps
  compiling the rest.

Nothing here changes a value: a program is ``jax.jit(draw, out_shardings=sharding)``
traced, lowered and compiled exactly as a plain call would be, and the persistent
compilation cache (``jax_compilation_cache_dir``) applies to it as to any jitted function.
"""

from __future__ import annotations

import collections
import concurrent.futures
import functools
import math
import os
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence

import jax
import numpy as np

from . import _sampling
from ._base import Init
from ._typing import Array, KeyArray

_MAX_PROGRAMS = 512  # least recently used programs beyond this are dropped
_SMALL_ARRAY = 4096  # arrays closed over by an initializer are described by value up to this size
_DEPTH = 8
BLOCK = 1024  # elements per block of a packed draw (a leaf takes ceil(size / BLOCK) blocks)
MAX_WORKERS: int | None = None  # compile threads; None: one per CPU core (1: compile serially)
PACK = True  # False: every leaf drawn by its own per-shape program, as before packing (benchmarks)
HOST_VIEWS: bool | None = None  # packed leaves as host views; None: on a CPU (False: split program)

_cache: collections.OrderedDict[object, object] = collections.OrderedDict()
_laws: collections.OrderedDict[object, object] = collections.OrderedDict()
_lock = threading.Lock()
stats = {"compiled": 0, "reused": 0, "compile_s": 0.0}  # counters, for tests and benchmarks


def draw(init: Callable[..., Array], shape: tuple[int, ...], dtype: np.dtype,
         key: KeyArray) -> Array:
    """One leaf: ``init(key, shape, dtype)`` at the leaf's own key (an argument, so leaves
    that share an initializer, shape and dtype share one program)."""
    with jax.named_scope("jinit.init_tree"):
        return init(key, shape, dtype)


def describe(obj: object, depth: int = 0) -> object | None:
    """A hashable description equal for two initializers that compute the same function.

    A function is its code, globals and defaults plus the values it closes over (each
    described in turn); a jinit ``Init`` is its name, body and dtype; numbers are described
    exactly (``-0.0`` differs from ``0.0``). Returns ``None`` for anything else (the caller
    then keys on the object itself).
    """
    if depth > _DEPTH:
        return None
    d = depth + 1
    if obj is None or isinstance(obj, (bool, int, str, bytes)):
        return (type(obj), obj)
    if isinstance(obj, float):
        return (float, obj.hex())
    if isinstance(obj, complex):
        return (complex, obj.real.hex(), obj.imag.hex())
    if isinstance(obj, np.generic):
        return (np.generic, obj.dtype.str, obj.tobytes())
    if isinstance(obj, np.dtype):
        return (np.dtype, obj.str, obj.name)
    if isinstance(obj, type):
        return (type, obj)
    if isinstance(obj, (tuple, list, frozenset)):
        items = tuple(describe(x, d) for x in obj)
        return None if None in items else (type(obj), items)
    if isinstance(obj, dict):
        items = tuple((describe(k, d), describe(v, d)) for k, v in obj.items())
        return None if any(None in kv for kv in items) else (dict, items)
    if isinstance(obj, np.ndarray) or (isinstance(obj, jax.Array) and not isinstance(
            obj, jax.core.Tracer) and obj.is_fully_addressable):
        if obj.size > _SMALL_ARRAY or obj.dtype == object:
            return None
        value = np.asarray(obj)
        return (np.ndarray, value.dtype.str, value.shape, value.tobytes())
    if isinstance(obj, Init):
        name, fn, dtype, keyed, complex_ok = obj.draw
        body = describe(fn, d)
        return None if body is None else (Init, name, body, describe(dtype, d), keyed,
                                          complex_ok)
    if isinstance(obj, functools.partial):
        parts = (describe(obj.func, d), describe(obj.args, d), describe(obj.keywords, d))
        return None if None in parts else (functools.partial, parts)
    if isinstance(obj, types.FunctionType):
        cells = []
        for cell in obj.__closure__ or ():
            try:
                cells.append(describe(cell.cell_contents, d))
            except ValueError:  # an empty cell
                return None
        parts = (describe(obj.__defaults__, d), describe(obj.__kwdefaults__, d), tuple(cells))
        if None in parts or None in parts[2]:
            return None
        return (types.FunctionType, obj.__module__, obj.__qualname__, id(obj.__globals__),
                obj.__code__, parts)
    if isinstance(obj, (types.BuiltinFunctionType, types.ModuleType)):
        return (type(obj), obj)
    return None


def _config() -> tuple[object, ...]:
    """The jax settings a traced draw depends on (part of every cache key)."""
    c = jax.config
    return (c.jax_threefry_partitionable, c.jax_enable_x64, str(c.jax_default_prng_impl),
            str(c.jax_legacy_prng_key), c.jax_enable_custom_prng, str(c.jax_numpy_dtype_promotion),
            jax.sharding.get_abstract_mesh())


def cache_key(init: object, shape: tuple[int, ...], dtype: np.dtype, sharding: object,
              key: KeyArray) -> object | None:
    """The key of one program in the process-wide cache, or ``None`` when it cannot be kept."""
    what = describe(init)
    if what is None:
        try:
            hash(init)
        except TypeError:
            return None
        what = ("object", init)  # kept alive by the cache entry, so never confused by id
    try:
        hash(sharding)
    except TypeError:
        return None
    return (what, shape, dtype.str, sharding, np.shape(key), str(key.dtype), _config())


def lookup(ckey: object | None) -> object | None:
    """The compiled program cached under ``ckey``, or ``None``."""
    if ckey is None:
        return None
    with _lock:
        program = _cache.get(ckey)
        if program is not None:
            _cache.move_to_end(ckey)
            stats["reused"] += 1
        return program


def trace(init: Callable[..., Array], shape: tuple[int, ...], dtype: np.dtype,
          sharding: object, key: KeyArray) -> tuple[Callable[..., Array], jax.stages.Traced]:
    """The jitted draw and its trace for keys like ``key`` (``out_info``: the leaf it makes).

    The jitted function serves calls under a transformation (a traced key), where a
    compiled program cannot run."""
    fn = jax.jit(functools.partial(draw, init, shape, dtype), out_shardings=sharding)
    return fn, fn.trace(jax.ShapeDtypeStruct(np.shape(key), key.dtype))


def _compile(ckey: object | None, lowered: jax.stages.Lowered) -> object:
    t0 = time.perf_counter()
    program = lowered.compile()
    with _lock:
        stats["compiled"] += 1
        stats["compile_s"] += time.perf_counter() - t0
        if ckey is not None:
            _cache[ckey] = program
            _cache.move_to_end(ckey)
            while len(_cache) > _MAX_PROGRAMS:
                _cache.popitem(last=False)
    return program


def compile_all(jobs: Sequence[tuple[object | None, jax.stages.Traced]]
                ) -> Iterator[tuple[int, object]]:
    """Starts compiling ``jobs`` (``(cache_key, traced)``); yields ``(index, program)`` as
    each is ready.

    Lowering runs now, in the calling thread (it reads thread-local jax settings); each
    lowered program is compiled in a worker thread, so XLA compiles several programs at
    once while the caller goes on (deriving keys, running programs already done). An
    exception is raised when its job is reached.
    """
    workers = min(len(jobs), MAX_WORKERS or os.cpu_count() or 1)
    if workers <= 1:
        return ((i, _compile(ckey, traced.lower())) for i, (ckey, traced) in enumerate(jobs))
    pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="jinit-compile")
    try:
        futures = {pool.submit(_compile, ckey, traced.lower()): i
                   for i, (ckey, traced) in enumerate(jobs)}
    finally:
        pool.shutdown(wait=False)  # queued jobs still run; the threads exit when done

    def results() -> Iterator[tuple[int, object]]:
        for future in concurrent.futures.as_completed(futures):
            yield futures[future], future.result()

    return results()


# --------------------------------------------------- packed draws: one program per law


def law(init: Callable[..., Array], shape: tuple[int, ...], dtype: np.dtype,
        key: KeyArray) -> _sampling.Leaf | None:
    """:func:`jinit._sampling.law_of` of ``init`` at ``(shape, dtype)``, cached for the
    process under the initializer's description (one abstract trace per distinct leaf)."""
    ckey = cache_key(init, shape, dtype, None, key)
    if ckey is not None:
        with _lock:
            if ckey in _laws:
                _laws.move_to_end(ckey)
                return _laws[ckey]
    found = _sampling.law_of(init, key, shape, dtype)
    if ckey is not None:
        with _lock:
            _laws[ckey] = found
            while len(_laws) > 16 * _MAX_PROGRAMS:
                _laws.popitem(last=False)
    return found


def _packed(law: _sampling.Law, clips: bool, k0: Array, k1: Array, offset: Array,
            scale: Array, lo: Array, hi: Array) -> Array:
    """Block ``b`` (``BLOCK`` elements) is elements ``offset[b] ..`` of key ``(k0, k1)[b]``'s
    draw, scaled by ``scale[b]`` and clipped to ``[lo[b], hi[b]]``; flattened."""
    with jax.named_scope("jinit.init_tree"):
        counter = offset[:, None] + jax.lax.broadcasted_iota(np.uint32, (offset.shape[0], BLOCK), 1)
        bounds = (lo[:, None], hi[:, None]) if clips else None
        x = _sampling.draw_blocks(law, k0[:, None], k1[:, None], counter, scale[:, None], bounds)
        return x.reshape(-1)


def packed(law: _sampling.Law, clips: bool, blocks: int
           ) -> tuple[object, object | None, jax.stages.Traced | None]:
    """The program that draws ``blocks`` blocks of ``law`` (:func:`_packed`): its cache key,
    and either the compiled program (cached) or its trace (to compile). Its size is the
    only thing of a tree it depends on: leaves of every shape share it."""
    ckey = ("packed", describe(law), clips, blocks, BLOCK, _config())
    program = lookup(ckey)
    if program is not None:
        return ckey, program, None
    sdt = _sampling.sampling_dtype(law.dtype)
    specs = ([jax.ShapeDtypeStruct((blocks,), np.uint32)] * 3
             + [jax.ShapeDtypeStruct((blocks,), sdt)] * 3)
    return ckey, None, jax.jit(functools.partial(_packed, law, clips)).trace(*specs)


def _split(layout: tuple[tuple[int, tuple[int, ...]], ...], flat: Array) -> tuple[Array, ...]:
    return tuple(jax.lax.slice(flat, (start,), (start + math.prod(shape),)).reshape(shape)
                 for start, shape in layout)


def split(dtype: np.dtype, size: int, layout: tuple[tuple[int, tuple[int, ...]], ...]
          ) -> tuple[object, object | None, jax.stages.Traced | None]:
    """The program that cuts a packed draw of ``size`` elements into its leaves (``layout``:
    each leaf's start and shape), its input donated: used where the host cannot view device
    memory (accelerators)."""
    ckey = ("split", np.dtype(dtype).str, size, layout, _config())
    program = lookup(ckey)
    if program is not None:
        return ckey, program, None
    fn = jax.jit(functools.partial(_split, layout), donate_argnums=0)
    return ckey, None, fn.trace(jax.ShapeDtypeStruct((size,), dtype))


def clear() -> None:
    """Drops every cached program (and resets :data:`stats`)."""
    with _lock:
        _cache.clear()
        _laws.clear()
        stats.update(compiled=0, reused=0, compile_s=0.0)
