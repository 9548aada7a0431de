"""Each leaf's key: the root key folded with a stable digest of the leaf's path.

:func:`leaf_key` is public as ``jinit.tree.leaf_key``; :func:`leaf_keys` derives every leaf's
key of a tree at once (on the host where the key allows: the same bits, no program).

It is the one key of a leaf's draw (``init_tree``, ``nnx.init``, ``equinox.init``, LSUV,
``auto.init``). ``jinit.audit.check`` derives its fresh comparison draws from other keys on
purpose (``fresh_key`` in ``jinit/audit/_check.py``: its two-sample tests need a sample
independent of the audited leaf, which ``leaf_key`` of the audit's default seed would
reproduce).
"""

from __future__ import annotations

import hashlib

import jax
import numpy as np

from . import _fastbits
from ._typing import Array, KeyArray


def digest(path: str) -> tuple[int, int]:
    h = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(h[:4], "little"), int.from_bytes(h[4:], "little")


def leaf_key(key: KeyArray, path: str) -> KeyArray:
    r"""The key :func:`jinit.tree.init_tree` uses for the leaf at ``path``.

    .. math::

        k_\text{leaf} = \texttt{fold_in}\bigl(\texttt{fold_in}(k, h_0), h_1\bigr),
        \qquad (h_0, h_1) = \text{BLAKE2b-64}(\text{path})

    where :math:`k` is the root key and :math:`h_0, h_1` are the two little-endian 32-bit
    halves of the 8-byte BLAKE2b digest of the UTF-8 path string. The digest is stable
    across processes and Python versions (unlike the salted built-in ``hash``), and 64 bits
    make an accidental collision between two paths of one model negligible (probability
    about :math:`n^2/2^{65}` for :math:`n` leaves).

    Args:
      key: the root PRNG key (typed or legacy).
      path: the leaf's path string (see :func:`jinit.tree.path_str`).

    Returns:
      A key of the same kind as ``key``.

    References:
      Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC 2011
      (counter-based generation, which ``fold_in`` relies on); Aumasson et al., BLAKE2,
      RFC 7693, 2015.

    Example:
      >>> import jax
      >>> from jinit.tree import leaf_key
      >>> a = leaf_key(jax.random.key(0), "params/Dense_0/kernel")
      >>> b = leaf_key(jax.random.key(0), "params/Dense_1/kernel")
      >>> bool((jax.random.key_data(a) != jax.random.key_data(b)).any())
      True
    """
    h0, h1 = digest(path)
    return jax.random.fold_in(jax.random.fold_in(key, np.uint32(h0)), np.uint32(h1))


@jax.jit
def _derive(key: KeyArray, digest: Array) -> KeyArray:
    """:func:`leaf_key` from the path's digest as data: one compiled program for every leaf
    of every tree (an eager ``fold_in`` runs the threefry hash operation by operation)."""
    return jax.random.fold_in(jax.random.fold_in(key, digest[0]), digest[1])


def leaf_key_data(key: KeyArray, paths: list[str]) -> np.ndarray | None:
    """:func:`leaf_key` data of every path (``uint32[n, 2]``) for a concrete threefry key
    (typed, or legacy ``uint32[2]``), folded on the host all at once
    (:func:`jinit._fastbits.fold_in_host`: the same bits, no program); ``None`` otherwise."""
    data = _fastbits.host_key_data(key)
    if data is None:
        return None
    digests = np.asarray([digest(p) for p in paths], np.uint32).reshape(-1, 2)
    return _fastbits.fold_in_host(_fastbits.fold_in_host(data, digests[:, 0]), digests[:, 1])


def wrap(key: KeyArray, data: np.ndarray) -> KeyArray:
    """Key data from :func:`leaf_key_data` as a key of ``key``'s kind."""
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(key))
    return jax.numpy.asarray(data)


def leaf_keys(key: KeyArray, paths: list[str]) -> list[KeyArray]:
    """:func:`leaf_key` of every path: folded on the host where :func:`leaf_key_data` can,
    through :func:`_derive` (one program for every leaf of every tree) otherwise."""
    data = leaf_key_data(key, paths)
    if data is None:
        digests = np.asarray([digest(p) for p in paths], np.uint32).reshape(-1, 2)
        return [_derive(key, d) for d in digests]
    return [wrap(key, d) for d in data]


leaf_key.__module__ = "jinit.tree"
