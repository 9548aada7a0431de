"""Frozen values: the SHA-256 of every public initializer's output, eager and jitted.

``tests/golden/hashes.json`` holds, for a fixed key, one digest per (initializer, factory
arguments, shape, dtype, eager or jitted). A refactor must leave every digest unchanged; a
deliberate change of values is a decision, regenerated with
``python tests/test_golden.py --write`` and stated in the commit and the README.

Each entry names the public object it was made from. When a public name changes, ``RENAMED``
maps the recorded name to the new one, so the digests themselves never need rewriting.

Four schemes' bits depend on the CPU: ``orthogonal``, ``delta_orthogonal`` and
``presets.torch_orthogonal`` take a QR decomposition (LAPACK, whose kernels the CPU's vector
width selects, as for ``jax.nn.initializers.orthogonal`` itself), and ``conv_orthogonal``
also multiplies float32 matrices, which XLA's CPU matrix product sums in an order set by the
vector width. Their outputs differ in the last bits between CPU kinds (AVX2 with or without
AVX-512). The digests were recorded on one kind; ``tests/golden/platform_values.npz`` holds
these schemes' values from another (``python tests/test_golden.py --write-platform``). Such an
entry passes on its digest, or when every value is within ``PLATFORM_TOL`` plus two units of
its dtype's precision of the recorded value; every other scheme stays bit for bit in
every dtype.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

DATA = pathlib.Path(__file__).parent / "golden" / "hashes.json"
PLATFORM = pathlib.Path(__file__).parent / "golden" / "platform_values.npz"
PLATFORM_DEPENDENT = frozenset({"conv_orthogonal", "orthogonal", "delta_orthogonal",
                                "presets.torch_orthogonal"})
PLATFORM_TOL = 1e-5  # QR and float32 products of small orthogonal matrices: errors ~1e-7
DTYPES = ("float32", "float64", "bfloat16", "float16")
SEED = 20261201

# Recorded public name -> its current public name (empty until a name changes).
RENAMED: dict[str, str] = {
    "zero_init": "hadamard_identity",
    "sparse_columns": "sparse_outgoing",
}

# Initializers outside jinit.verify's declarations at the time the digests were recorded.
EXTRA = (
    ("residual.fixup", {"num_branches": 8, "layers_per_branch": 2}, [((64, 32), {})]),
    ("residual.fixup", {"num_branches": 4, "layers_per_branch": 3, "distribution": "uniform"},
     [((3, 3, 8, 16), {})]),
    ("residual.rezero", {}, [((), {}), ((4,), {})]),
    ("residual.rezero", {"value": 0.25}, [((), {})]),
    ("residual.tfixup", {"num_layers": 6}, [((64, 32), {})]),
    ("residual.tfixup", {"num_layers": 6, "part": "decoder"}, [((64, 32), {})]),
    ("residual.tfixup_embedding", {"num_layers": 6}, [((100, 32), {})]),
    ("mup.initializer", {"role": "hidden"}, [((64, 32), {})]),
    ("mup.initializer", {"role": "output", "base_fan_in": 16}, [((64, 10), {})]),
)


def _resolve(name: str):
    name = RENAMED.get(name, name)
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module("jinit" + ("." + module if module else "")), attr)


def _specs():
    """(name, factory args or None, shape, case args) for every recorded combination."""
    from jinit import verify

    for decl in verify.declarations():
        for variant in decl.variants if decl.variants is not None else (None,):
            for case in decl.cases:
                yield decl.qualname, variant, case.shape, case.args
    for name, args, cases in EXTRA:
        for shape, extra in cases:
            yield name, args, shape, extra


def _make(name, args, extra):
    obj = _resolve(name)
    return obj if args is None else obj(**{**args, **extra})


def _output(name, args, shape, extra, dtype, jitted):
    init = _make(name, args, extra)
    key = jax.random.key(SEED)
    call = jax.jit(init, static_argnums=(1, 2)) if jitted else init
    return np.asarray(call(key, tuple(shape), jnp.dtype(dtype)))


def _hash(out):
    return hashlib.sha256(out.tobytes() + str(out.dtype).encode() + str(out.shape).encode()).hexdigest()


def _digest(name, args, shape, extra, dtype, jitted):
    return _hash(_output(name, args, shape, extra, dtype, jitted))


def _platform_values():
    if not PLATFORM.exists():
        return {}
    with np.load(PLATFORM) as data:
        return {str(label): data[f"v{i}"] for i, label in enumerate(data["labels"])}


def _close(out, ref):
    """Within PLATFORM_TOL plus two units of the dtype's precision at each recorded value."""
    if out.shape != ref.shape:
        return False
    got, want = out.astype(np.float64), ref.astype(np.float64)
    eps = float(jnp.finfo(out.dtype).eps)
    return bool(np.all(np.abs(got - want) <= PLATFORM_TOL + 2 * eps * np.abs(want)))


def _label(e):
    return f"{e['name']}({e['args']}) {tuple(e['shape'])} {e['extra']} {e['dtype']} {'jit' if e['jit'] else 'eager'}"


def _entries():
    return json.loads(DATA.read_text())["entries"]


def _with_x64(dtype):
    return jax.enable_x64(True) if dtype == "float64" else jax.enable_x64(jax.config.jax_enable_x64)


def _outputs(entries):
    """Every entry's output, in order. The jitted entries of one dtype run as one jitted
    program returning all their arrays (one compilation instead of one per entry, about half
    the time); each output is computed from the key alone, so it has the bits of its own
    ``jax.jit`` call. The eager entries run one by one."""
    out = [None] * len(entries)
    groups = {}
    for i, e in enumerate(entries):
        groups.setdefault((e["dtype"], e["jit"]), []).append(i)
    for (dtype, jitted), index in groups.items():
        with _with_x64(dtype):
            if not jitted:
                for i in index:
                    e = entries[i]
                    out[i] = _output(e["name"], e["args"], e["shape"], e["extra"], dtype, False)
                continue
            inits = [(_make(entries[i]["name"], entries[i]["args"], entries[i]["extra"]),
                      tuple(entries[i]["shape"])) for i in index]
            def draw_all(key, inits=inits, dtype=dtype):
                return [init(key, shape, jnp.dtype(dtype)) for init, shape in inits]

            arrays = jax.jit(draw_all)(jax.random.key(SEED))
            for i, a in zip(index, arrays, strict=True):
                out[i] = np.asarray(a)
    return out


def _check(entries, platform=None):
    platform = _platform_values() if platform is None else platform
    wrong = []
    for e, out in zip(entries, _outputs(entries), strict=True):
        if _hash(out) == e["sha256"]:
            continue
        ref = platform.get(_label(e)) if RENAMED.get(e["name"], e["name"]) in \
            PLATFORM_DEPENDENT else None
        if ref is None or not _close(out, ref):
            wrong.append(_label(e))
    return wrong


# The default run checks the jitted digests of float32 and bfloat16 (every law's float32 and
# low-precision paths); `-m slow` (run by CI after it) checks float64 and float16 jitted, and
# every eager digest: eager calls equal jitted ones bit for bit (tests/test_transforms.py
# checks every scheme).
DEFAULT_RUN = ("float32", "bfloat16")


@pytest.mark.parametrize(("dtype", "jit"), [
    pytest.param(dtype, jit, id=f"{'jit' if jit else 'eager'}-{dtype}",
                 marks=() if jit and dtype in DEFAULT_RUN else pytest.mark.slow)
    for jit in (True, False) for dtype in DTYPES])
def test_values_unchanged(dtype, jit):
    entries = [e for e in _entries() if e["dtype"] == dtype and e["jit"] == jit]
    assert entries
    wrong = _check(entries)
    assert not wrong, f"{len(wrong)} outputs changed:\n" + "\n".join(wrong[:40])


def test_every_public_initializer_is_recorded():
    """A new public initializer needs digests: ``python tests/test_golden.py --write``."""
    from jinit import verify

    recorded = {RENAMED.get(e["name"], e["name"]) for e in _entries()}
    declared = {d.qualname for d in verify.declarations()}
    assert declared <= recorded, sorted(declared - recorded)


def test_a_changed_value_is_caught():
    """Negative control: one flipped bit in one recorded output fails the check."""
    entry = dict(_entries()[0])
    digest = entry["sha256"]
    entry["sha256"] = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    assert _check([entry]) == [_label(entry)]


def test_platform_values_are_checked_not_waved_through():
    """Negative control: a platform-dependent entry whose digest differs fails when its values
    move by 1e-4 (ten times the tolerance), and passes with the recorded values."""
    platform = _platform_values()
    entry = next(e for e in _entries() if e["name"] in PLATFORM_DEPENDENT
                 and e["dtype"] == "float32")
    entry = dict(entry, sha256="0" * 64)  # as on a CPU whose bits differ
    with _with_x64(entry["dtype"]):
        out = _output(entry["name"], entry["args"], entry["shape"], entry["extra"],
                      entry["dtype"], entry["jit"])
    assert _check([entry], {_label(entry): out}) == []
    assert _check([entry], {_label(entry): out + np.float32(1e-4)}) == [_label(entry)]
    assert _check([entry], {}) == [_label(entry)]
    assert all(k.split("(")[0] in PLATFORM_DEPENDENT for k in platform)


def _write_platform():
    labels, values = [], []
    for e in _entries():
        if RENAMED.get(e["name"], e["name"]) in PLATFORM_DEPENDENT:
            with _with_x64(e["dtype"]):
                out = _output(e["name"], e["args"], e["shape"], e["extra"], e["dtype"], e["jit"])
            values.append(out.astype(np.float64))  # exact for every recorded dtype
            labels.append(_label(e))
    np.savez_compressed(PLATFORM, labels=np.array(labels),
                        **{f"v{i}": v for i, v in enumerate(values)})
    print(f"wrote {len(labels)} platform values to {PLATFORM}")


def _write():
    entries = []
    for name, args, shape, extra in _specs():
        for dtype in DTYPES:
            for jitted in (False, True):
                with _with_x64(dtype):
                    try:
                        digest = _digest(name, args, shape, extra, dtype, jitted)
                    except (TypeError, ValueError) as err:  # a dtype the scheme does not define
                        print(f"skip {name} {shape} {dtype}: {err}", file=sys.stderr)
                        continue
                entries.append({"name": name, "args": args, "shape": list(shape), "extra": extra,
                                "dtype": dtype, "jit": jitted, "sha256": digest})
    DATA.write_text(json.dumps({"seed": SEED, "jax": jax.__version__, "entries": entries},
                               indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(entries)} digests to {DATA}")


if __name__ == "__main__":
    if sys.argv[1:] not in (["--write"], ["--write-platform"]):
        sys.exit("usage: python tests/test_golden.py --write | --write-platform")
    _write() if sys.argv[1:] == ["--write"] else _write_platform()
