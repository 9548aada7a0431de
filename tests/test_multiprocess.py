"""Two processes on localhost, 4 simulated CPU devices each: a globally sharded init_tree.

Each process runs the same ``init_tree`` call on an 8-device global mesh, holds only the
shards of its own 4 devices, and writes them to a file; the parent checks that the two
processes' shards tile every array exactly and equal a single-process computation.
"""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit.tree import init_tree

TIMEOUT_S = 120
SKIP_EXIT = 77  # the worker's exit code when the distributed runtime cannot start

# (shape, dtype name) per leaf: plain literals, so the parent and the workers share them.
LAYOUT = {
    "params": {
        "embed": ((64, 16), "float32"),
        "dense": {"kernel": ((16, 32), "float32"), "bias": ((32,), "float32")},
        "out": {"kernel": ((32, 8), "bfloat16")},
    }
}


def _is_entry(x):
    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], str)


SHAPES = jax.tree.map(lambda e: jax.ShapeDtypeStruct(e[0], jnp.dtype(e[1])), LAYOUT, is_leaf=_is_entry)
SPECS = {"params/embed": ("data", "model"), "params/dense/kernel": (None, "model"),
         "params/dense/bias": ("model",), "params/out/kernel": ("model", None)}

WORKER = textwrap.dedent('''
    import sys
    port, pid, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    import jax
    try:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                                   process_id=pid, initialization_timeout=60)
        assert jax.process_count() == 2 and jax.device_count() == 8
    except Exception as e:  # noqa: BLE001 - any failure to start means: skip, with the reason
        print(f"distributed runtime unavailable: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(%(skip)d)
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import jinit
    from jinit.tree import init_tree, path_str
    LAYOUT = %(layout)r
    SHAPES = jax.tree.map(lambda e: jax.ShapeDtypeStruct(e[0], jnp.dtype(e[1])), LAYOUT,
                          is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], str))
    SPECS = %(specs)r
    mesh = jax.make_mesh((2, 4), ("data", "model"))
    flat, treedef = jax.tree_util.tree_flatten_with_path(SHAPES)
    shardings = jax.tree.unflatten(
        treedef, [NamedSharding(mesh, P(*SPECS[path_str(p)])) for p, _ in flat])
    rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.normal(1.0), r"embed$": jinit.normal(0.02)}
    tree = init_tree(jax.random.key(7), SHAPES, rules, shardings=shardings)
    rows = {}
    for path, arr in jax.tree_util.tree_flatten_with_path(tree)[0]:
        name = path_str(path)
        assert not arr.is_fully_addressable, name
        shards = arr.addressable_shards
        assert len(shards) == 4 and {s.device.process_index for s in shards} == {pid}, name
        for i, s in enumerate(shards):
            want = arr.sharding.shard_shape(arr.shape)
            assert s.data.shape == want, (name, s.data.shape, want)
            bounds = [(sl.start or 0, sl.stop if sl.stop is not None else n)
                      for sl, n in zip(s.index, arr.shape)]
            rows[f"{name}|{i}|index"] = np.array(bounds, np.int64).reshape(-1, 2)
            rows[f"{name}|{i}|data"] = np.asarray(s.data.astype(jnp.float32))
    np.savez(out, **rows)
    jax.distributed.shutdown()
''')


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_materialize_only_their_shards_and_match_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER % {"skip": SKIP_EXIT, "layout": LAYOUT, "specs": SPECS})
    root = str(pathlib.Path(jinit.__file__).resolve().parent.parent)
    env = dict(os.environ, JAX_PLATFORMS="cpu",
               XLA_FLAGS="--xla_force_host_platform_device_count=4",
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    port = _free_port()
    outs = [tmp_path / f"shards{i}.npz" for i in range(2)]
    procs = [subprocess.Popen([sys.executable, str(script), str(port), str(i), str(outs[i])],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    logs = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=TIMEOUT_S)
            logs.append(err)
    except subprocess.TimeoutExpired:
        for p in procs:
            p.kill()
        for p in procs:
            p.communicate()
        pytest.skip(f"2-process jax.distributed run did not finish within {TIMEOUT_S} s")
    codes = [p.returncode for p in procs]
    if SKIP_EXIT in codes:
        reason = next(line for log in logs for line in log.splitlines()
                      if "distributed runtime unavailable" in line)
        pytest.skip(reason)
    assert codes == [0, 0], "\n".join(log[-3000:] for log in logs)

    rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.normal(1.0), r"embed$": jinit.normal(0.02)}
    reference = init_tree(jax.random.key(7), SHAPES, rules)
    flat = {jinit.tree.path_str(p): np.asarray(a.astype(jnp.float32))
            for p, a in jax.tree_util.tree_flatten_with_path(reference)[0]}
    covered = {name: np.zeros(a.shape, np.int64) for name, a in flat.items()}
    for out in outs:
        with np.load(out) as rows:
            for entry in rows.files:
                name, i, kind = entry.split("|")
                if kind != "index":
                    continue
                bounds = rows[entry]
                index = tuple(slice(int(lo), int(hi)) for lo, hi in bounds)
                data = rows[f"{name}|{i}|data"]
                np.testing.assert_array_equal(data, flat[name][index], err_msg=name)
                covered[name][index] += 1
    # Each element is held by the devices its spec replicates it over, no more, no fewer.
    mesh_size = {"data": 2, "model": 4}
    for name, count in covered.items():
        used = 1
        for axis in SPECS[name]:
            used *= mesh_size[axis] if axis is not None else 1
        assert (count == 8 // used).all(), name
