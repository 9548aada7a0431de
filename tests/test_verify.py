"""The verification suite itself: registry completeness, default coverage, report and JSON.

The full default run (``jinit verify``) is the ``slow`` test at the end; the fast tests run
the same machinery on a few initializers with fewer values.
"""

import json
import math

import numpy as np
import pytest

import jinit
from jinit import verify
from jinit.verify import _expectations, _moments, _report, _signal, _suite


def test_every_public_initializer_is_declared():
    names = verify.public_initializers()
    assert "he_normal" in names and "presets.torch_linear_kernel" in names
    assert verify.undeclared() == [], (
        "public initializers without a declaration in jinit/verify/_expectations.py: "
        f"{verify.undeclared()}")


def test_completeness_check_catches_a_new_initializer(monkeypatch):
    """A negative control: a new public initializer with no declaration is reported."""
    monkeypatch.setattr(jinit, "brand_new_normal", lambda stddev=1.0: jinit.normal(stddev),
                        raising=False)
    monkeypatch.setattr(jinit, "__all__", [*jinit.__all__, "brand_new_normal"])
    jinit.brand_new_normal.__annotations__["return"] = "Init"
    assert verify.undeclared() == ["brand_new_normal"]


def test_declarations_name_public_objects():
    for decl in verify.declarations():
        assert callable(decl.obj), decl.qualname
        for alias in decl.aliases:
            module = jinit if decl.module == "jinit" else jinit.presets
            assert getattr(module, alias) is decl.obj, alias


def test_default_plan_covers_every_declaration_shape_and_dtype():
    tasks = _suite.plan()
    labels = {t.label.split("(")[0] for t in tasks}
    assert labels == {d.qualname for d in verify.declarations()}
    dtypes = {t.dtype.name for t in tasks}
    assert {"float32", "bfloat16", "float16", "complex64"} <= dtypes
    # dense, conv and batched shapes for the variance-scaling family
    he = {(t.shape, t.shape_label) for t in tasks if t.label == "he_normal"}
    assert {(256, 128), (3, 3, 32, 64), (8, 64, 32)} <= {s for s, _ in he}
    assert any("batch_axis=0" in label for _, label in he)
    assert {t.dtype.name for t in tasks if t.label == "he_normal"} == {
        "float32", "bfloat16", "float16", "complex64"}
    assert all(t.values == _suite.DEFAULT_SAMPLES for t in tasks
               if not isinstance(t.law, (_moments.Exact, _moments.Orthogonal,
                                         _moments.DeltaOrthogonal, _moments.ConvIsometry)))


def test_full_plan_is_a_superset():
    default = {(t.label, t.shape_label, t.dtype.name) for t in _suite.plan(["orthogonal"])}
    full = {(t.label, t.shape_label, t.dtype.name) for t in _suite.plan(["orthogonal"], full=True)}
    assert default < full


def test_only_accepts_aliases_and_rejects_unknown_names():
    assert _suite.select(["kaiming_normal"]) == _suite.select(["he_normal"])
    assert _suite.select(["torch_linear_kernel"])[0].qualname == "presets.torch_linear_kernel"
    with pytest.raises(ValueError, match="no declaration named 'he_normall'"):
        _suite.select(["he_normall"])


@pytest.fixture(scope="module")
def small_report():
    return verify.run(only=["he_normal", "orthogonal", "zeros", "presets.torch_linear_bias",
                            "sparse_outgoing"], samples=2 ** 16, dtypes=["float32"],
                      signal=False)


def test_small_run_passes(small_report):
    assert small_report.passed, small_report.summary()
    checks = {c.check for c in small_report.checks}
    assert {"mean", "variance", "support", "cdf (DKW)", "values", "zero fraction"} <= checks
    assert any(c.check.startswith("orthogonality") for c in small_report.checks)


def test_table_and_summary_are_readable(small_report):
    text = small_report.table()
    header = text.splitlines()[0].split()
    assert header == ["initializer", "shape", "dtype", "check", "expected", "measured", "bound",
                      "verdict"]
    assert "he_normal" in text and "PASS" in text.splitlines()[-1]
    assert "relative variance error" in small_report.summary()


def test_json_schema(small_report):
    data = json.loads(json.dumps(small_report.to_json()))
    assert data["jinit_verify"] == 1
    assert set(data) == {"jinit_verify", "config", "environment", "summary", "checks",
                         "signal", "coord"}
    assert data["summary"]["passed"] is True
    assert data["summary"]["checks"] == len(data["checks"]) > 0
    row = data["checks"][0]
    assert set(row) == {"initializer", "shape", "dtype", "check", "expected", "measured",
                        "bound", "passed", "info"}
    assert data["config"]["samples"] == 2 ** 16
    assert data["environment"]["jax"]


def test_failing_check_fails_the_report():
    bad = _moments.Check("x", "(2,)", "float32", "variance", 1.0, 2.0, "+- 0.1", False)
    report = _report.Report([bad], config={"samples": 100})
    assert not report.passed
    assert "FAILED: 1 check(s)" in report.summary() and report.summary().endswith("FAIL")


def test_detectable_variance_error():
    # (z_alpha + z_beta) sqrt(2/n): 2^20 values at alpha 1e-6, power 0.999 -> 1.10%
    assert math.isclose(_report.detectable_variance_error(2 ** 20), 0.01102, rel_tol=1e-3)
    assert _report.detectable_variance_error(2 ** 22) < 0.006


@pytest.fixture(scope="module")
def signal_result():
    return verify.signal_propagation(["relu", "tanh"], ["glorot_uniform", "he_normal"], depth=12,
                                     width=128, batch=32, keys=2)


def test_signal_propagation_matches_theory(signal_result):
    res = signal_result
    classes = {(r.scheme, r.activation): r.forward_class for r in res.rows}
    # ReLU halves the forward variance per layer under Glorot when fan_in = fan_out
    assert classes[("glorot_uniform", "relu")] == "vanishing"
    assert classes[("he_normal", "relu")] == "stable"
    relu_glorot = next(r for r in res.rows if r.scheme == "glorot_uniform" and r.activation == "relu")
    per_layer = (relu_glorot.forward[-1] / relu_glorot.forward[0]) ** (1 / 12)
    assert abs(per_layer - 0.5) < 0.05
    assert np.allclose(relu_glorot.forward_theory, 0.5 ** np.arange(13))
    assert all(r.passed for r in res.rows)
    assert len(res.checks()) == 2 * len(res.rows)


def test_signal_check_flags_a_wrong_theory(signal_result):
    """Negative control: a row whose measured class theory does not allow fails."""
    import copy

    res = copy.deepcopy(signal_result)
    row = next(r for r in res.rows if r.scheme == "he_normal" and r.activation == "relu")
    row.forward_allowed = ("vanishing",)
    assert not row.passed and not all(c.passed for c in res.checks())


def test_signal_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"activation='swish' is not supported"):
        verify.signal_propagation(["swish"])
    with pytest.raises(ValueError, match=r"scheme='kaiming_magic' is not known"):
        verify.signal_propagation(["relu"], ["kaiming_magic"], depth=2, width=8, batch=2, keys=1)
    with pytest.raises(ValueError, match=r"depth=0 is not a positive int"):
        verify.signal_propagation(depth=0)


def test_signal_classify():
    assert _signal.classify(0.1) == "vanishing"
    assert _signal.classify(1.0) == "stable"
    assert _signal.classify(10.0) == "exploding"
    assert _signal.classify(math.inf) == "exploding"


def test_plot_writes_a_png(tmp_path, signal_result):
    pytest.importorskip("matplotlib")
    from jinit.verify._plot import plot_signal

    res = signal_result
    path = tmp_path / "signal.png"
    plot_signal(res, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_import_jinit_stays_light():
    import subprocess
    import sys

    code = ("import sys, jinit; bad = [m for m in ('matplotlib', 'jinit.verify', 'scipy') "
            "if m in sys.modules]; import jinit.verify; bad += [m for m in "
            "('matplotlib', 'scipy') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_default_run_passes():
    report = verify.run()
    assert report.passed, report.summary()
    assert len(report.signal.rows) == len(_signal.SCHEMES) * len(_signal.ACTIVATIONS)
    assert {d.qualname for d in _expectations.declarations()} == {
        c.initializer.split("(")[0] for c in report.checks if not c.check.startswith("signal")}
