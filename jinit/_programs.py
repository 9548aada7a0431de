"""Compiled draws for whole-tree init: each distinct program compiled once per process.

:func:`jinit.tree.init_tree` runs one XLA program per distinct (initializer, shape, dtype,
sharding). Compiling them is most of a model's first-call time on a CPU, so this room

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
import os
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence

import jax
import numpy as np

from ._base import Init
from ._typing import Array, KeyArray

_MAX_PROGRAMS = 512  # least recently used programs beyond this are dropped
_SMALL_ARRAY = 4096  # arrays closed over by an initializer are described by value up to this size
_DEPTH = 8
MAX_WORKERS: int | None = None  # compile threads; None: one per CPU core (1: compile serially)

_cache: collections.OrderedDict[object, object] = collections.OrderedDict()
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
        body = describe(obj._body, d)
        return None if body is None else (Init, obj._name, body, describe(obj._dtype, d),
                                          obj._keyed, obj._complex_ok)
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


def clear() -> None:
    """Drops every cached program (and resets :data:`stats`)."""
    with _lock:
        _cache.clear()
        stats.update(compiled=0, reused=0, compile_s=0.0)
