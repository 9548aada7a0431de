"""Smoke test of benchmarks/: every script runs with tiny sizes and emits valid JSON.

No timing is asserted; only that the harness runs end to end and its output is well formed
(and, for the whole-model programs, how many programs it compiles). Every test here is marked
``slow``: together they take about two minutes of CPU, and ``bash .ci/run`` runs them after
the default suite (``pytest -m slow tests/test_benchmarks.py``).
"""

import json
import math
import pathlib
import sys

import pytest

pytestmark = pytest.mark.slow

BENCH = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))


def _load(path):
    with open(path) as f:
        doc = json.load(f)  # valid JSON, or this raises
    header = doc["header"]
    for field in ("date", "jax", "numpy", "backend", "devices", "XLA_FLAGS", "flags"):
        assert field in header, field
    assert doc["rows"], "no rows"
    return doc


def _run(module, tmp_path, *flags):
    mod = __import__(module)
    out = tmp_path / f"{module}.json"
    mod.main(["--tiny", "--json", str(out), *flags])
    return _load(out)


def test_throughput(tmp_path):
    doc = _run("throughput", tmp_path, "--schemes", "normal,he_normal")
    for row in doc["rows"]:
        assert row["ms"] > 0 and math.isfinite(row["x_jax_nn"]) and row["floor"] > 0
    assert all(r["bit_identical"] for r in doc["rows"] if "bit_identical" in r)


def test_compile_time(tmp_path):
    doc = _run("compile_time", tmp_path, "--schemes", "normal")
    assert doc["rows"][0]["jinit_ms"] > 0


def test_orthogonal(tmp_path):
    doc = _run("orthogonal", tmp_path)
    assert {r["dtype"] for r in doc["rows"]} == {"float32", "bfloat16", "float16"}
    assert all(r["bit_identical"] for r in doc["rows"] if r["dtype"] == "float32")


def test_sharded(tmp_path):
    doc = _run("sharded", tmp_path)
    assert all(r["equal"] for r in doc["rows"])
    assert doc["header"]["flags"]["mesh"] == {"x": 8}


def test_whole_model(tmp_path):
    pytest.importorskip("flax")
    doc = _run("whole_model", tmp_path, "--no-torch")
    assert {r["method"] for r in doc["rows"]} == {"flax", "jinit"}
    assert len({r["params_M"] for r in doc["rows"]}) == 1  # same parameter count both ways


def test_harness_table_and_geomean():
    import _harness

    text = _harness.table([{"a": 1.23456, "b": "x"}, {"a": 1e-9}], ["a", "b"])
    assert text.splitlines()[0].split() == ["a", "b"] and "1.23" in text
    assert _harness.geomean([1.0, 4.0, float("nan"), None]) == pytest.approx(2.0)


def test_whole_model_cold_and_warm_rounds(tmp_path):
    pytest.importorskip("flax")
    doc = _run("whole_model", tmp_path, "--cold", "--no-torch")
    by = {r["method"]: r for r in doc["rows"]}
    assert set(by) == {"jinit", "jinit_serial", "jinit_warm"}
    assert by["jinit"]["cache_hits"] == 0 and by["jinit"]["compiled"] > 0
    assert by["jinit_warm"]["cache_hits"] >= by["jinit"]["compiled"]  # every program read back


def test_whole_model_sweep_and_plot(tmp_path):
    pytest.importorskip("flax")
    pytest.importorskip("matplotlib")
    plot = tmp_path / "sweep.png"
    doc = _run("whole_model", tmp_path, "--sweep", "--plot", str(plot))
    row, = doc["rows"]
    assert row["recompiled"] == 0 and row["programs"] > 0  # the second call compiled nothing
    assert plot.stat().st_size > 10_000


def test_whole_model_programs_counts_packed_and_per_shape_programs(tmp_path):
    pytest.importorskip("flax")
    doc = _run("whole_model", tmp_path, "--programs", "--no-torch")
    by = {(r["config"], r["method"]): r for r in doc["rows"]}
    # 8 kernels of 8 shapes (he_normal), zero biases: one packed program against eight
    assert by[("shapes8", "jinit")]["programs"] == 1
    assert by[("shapes8", "jinit_split")]["programs"] == 2  # the draw and its split
    assert by[("shapes8", "per_shape")]["programs"] == 8
    # GPT-2 tiny with its 2 blocks stacked (recipes.gpt2, scan_axis=0): every stacked
    # kernel's pieces are whole blocks, so one packed normal draws them and the embeddings
    # (and the split route cuts them out like any packed leaf), against one program per
    # stacked leaf per shape
    assert by[("scan_tiny", "jinit")]["programs"] == 1
    assert by[("scan_tiny", "jinit_split")]["programs"] == 2  # the draw and its split
    assert by[("scan_tiny", "per_shape")]["programs"] == 10
    assert all(r["floor_s"] > 0 and r["second/floor"] > 0 for r in doc["rows"])


def test_whole_model_llama_over_8_devices(tmp_path):
    pytest.importorskip("flax")
    doc = _run("whole_model", tmp_path, "--llama7b")
    row, = doc["rows"]
    assert row["devices"] == 8
    assert row["largest_shard_MB"] * 8 == pytest.approx(row["largest_leaf_MB"])  # sharded 8 ways


def test_gpu_script_refuses_unknown_arguments():
    import subprocess

    bad = subprocess.run(["bash", str(BENCH / "gpu.sh"), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument" in bad.stderr


# a minute of toy-sized runs of every step; the script is for a GPU
def test_gpu_script_runs_quick_on_any_device(tmp_path):
    import os
    import subprocess

    pytest.importorskip("flax")
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable)
    out = subprocess.run(["bash", str(BENCH / "gpu.sh"), "--quick"], env=env, capture_output=True,
                         text=True, timeout=1500)
    assert out.returncode == 0, out.stderr[-2000:]
    for name in ("throughput", "whole_model", "verify"):
        assert (tmp_path / f"{name}.json").stat().st_size > 0, name
    assert _load(tmp_path / "throughput.json")["rows"]
