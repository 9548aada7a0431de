"""The verification suite itself: registry completeness, default coverage, report and JSON.

The full default run (``jinit verify``) is the ``slow`` test at the end; the fast tests run
the same machinery on a few initializers with fewer values.
"""

import json
import math

import numpy as np
import pytest

import jinit
from jinit import laws, verify
from jinit.verify import _report, _signal, _suite


def test_every_public_initializer_is_declared():
    names = verify.public_initializers()
    assert {"he_normal", "presets.torch_linear_kernel", "residual.fixup", "residual.tfixup",
            "residual.tfixup_embedding", "residual.rezero", "mup.initializer"} <= set(names)
    assert verify.undeclared() == [], (
        "public initializers without a declaration in jinit/verify/_expect_*.py: "
        f"{verify.undeclared()}")


def _plant(monkeypatch, module, name):
    def brand_new_normal(stddev: float = 1.0) -> "Init":  # noqa: F821 - annotation text only
        return jinit.normal(stddev)

    monkeypatch.setattr(module, name, brand_new_normal, raising=False)
    monkeypatch.setattr(module, "__all__", [*module.__all__, name])


def test_completeness_check_catches_a_new_initializer(monkeypatch):
    """Negative control: a new public initializer with no declaration is reported."""
    _plant(monkeypatch, jinit, "brand_new_normal")
    assert verify.undeclared() == ["brand_new_normal"]


@pytest.mark.parametrize("module", ["residual", "mup", "presets"])
def test_completeness_check_reaches_every_submodule(monkeypatch, module):
    """Negative control: a new initializer in any public submodule is reported."""
    _plant(monkeypatch, getattr(jinit, module), "brand_new_normal")
    assert verify.undeclared() == [f"{module}.brand_new_normal"]


def test_completeness_check_finds_a_new_submodule(monkeypatch):
    """Negative control: a submodule added to ``jinit.__all__`` is scanned without naming it."""
    import types

    mod = types.ModuleType("jinit.brand_new")
    mod.__all__ = []
    monkeypatch.setattr(jinit, "brand_new", mod, raising=False)
    monkeypatch.setattr(jinit, "__all__", [*jinit.__all__, "brand_new"])
    _plant(monkeypatch, mod, "scaled_normal")
    assert verify.undeclared() == ["brand_new.scaled_normal"]


def test_declarations_name_public_objects():
    for decl in verify.declarations():
        assert callable(decl.obj), decl.qualname
        assert decl.qualname in verify.public_initializers(), decl.qualname
        for alias in decl.aliases:
            assert getattr(decl.home, alias) is decl.obj, alias


def test_submodule_laws_are_the_docstrings_formulas():
    """Spot values of the declared laws, worked by hand from each docstring."""
    def law(name, args, shape=(256, 128)):
        return laws.lookup(name).law(shape, np.dtype(np.float32), args)

    # Fixup: 2 * L^(-1/(m-1)) / fan_in = 2 / 8 / 256
    assert law("residual.fixup", {"num_branches": 8, "layers_per_branch": 2}).variance == (
        pytest.approx(2 / 8 / 256))
    # T-Fixup decoder: (9 * 6)^(-1/2) * 2 / (256 + 128)
    assert law("residual.tfixup", {"num_layers": 6, "part": "decoder"}).variance == (
        pytest.approx(54 ** -0.5 * 2 / 384))
    assert law("residual.tfixup", {"num_layers": 6}).variance == pytest.approx(
        0.67 ** 2 * 6 ** -0.5 * 2 / 384)
    assert law("residual.tfixup_embedding", {"num_layers": 6}, (1000, 64)).variance == (
        pytest.approx(54 ** -0.5 / 64))
    # muP output: base_fan_in / fan_in^2 = 64 / 256^2
    assert law("mup.initializer", {"role": "output", "base_fan_in": 64}).variance == (
        pytest.approx(64 / 256 ** 2))
    assert law("mup.initializer", {"role": "hidden"}).variance == pytest.approx(1 / 256)


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
               if not isinstance(t.law, (laws.Exact, laws.Orthogonal,
                                         laws.DeltaOrthogonal,
                                         laws.ConvIsometry)))


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
    text = small_report.table(width=100)   # the width when COLUMNS is unset and no terminal
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
    bad = laws.Check("x", "(2,)", "float32", "variance", 1.0, 2.0, "+- 0.1", False)
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


def test_signal_check_flags_a_misscaled_he():
    """Negative control: He drawn at sigma^2 = 1.8/fan_in while declaring 2/fan_in must FAIL.

    Through 32 ReLU layers the forward variance falls by 0.9^32 = 0.034 (vanishing) where
    theory for sigma_w^2 = 2 admits only "stable"; the correct He in the same run passes.
    """
    planted = ("he_normal (1.8)", jinit.variance_scaling(1.8, "fan_in", "truncated_normal"), 2.0)
    right = ("he_normal (2.0)", jinit.he_normal(), 2.0)
    res = verify.signal_propagation(["relu"], [planted, right], depth=32, width=128, batch=32,
                                    keys=2)
    bad, good = res.rows
    assert (bad.forward_class, bad.forward_allowed) == ("vanishing", ("stable",))
    assert not bad.passed and good.passed
    verdicts = {c.initializer: c.passed for c in res.checks()}
    assert verdicts == {"he_normal (1.8)": False, "he_normal (2.0)": True}


def test_signal_predictions_do_not_use_jinit_theory(monkeypatch):
    """The suite predicts with its own quadrature: a broken jinit.theory changes nothing."""
    from jinit import theory

    before = _signal.theory_curves("tanh", 1.5, 0.1, 8)

    def broken(*args, **kwargs):
        raise AssertionError("jinit.theory was called")

    for name in theory.__all__:
        monkeypatch.setattr(theory, name, broken)
    after = _signal.theory_curves("tanh", 1.5, 0.1, 8)
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # relu at sigma_w^2 = 1 halves q per layer: the closed form, by hand
    q, g = _signal.theory_curves("relu", 1.0, 0.0, 6)
    assert np.allclose(q, 0.5 ** np.arange(7), rtol=1e-12)
    assert np.allclose(g, 0.5 ** np.arange(6, -1, -1), rtol=1e-12)


def test_signal_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"activation='swish' is not supported"):
        verify.signal_propagation(["swish"])
    with pytest.raises(ValueError, match=r"scheme='kaiming_magic' is not known; expected one of"):
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
    assert {d.qualname for d in laws.declarations()} == {
        c.initializer.split("(")[0] for c in report.checks if not c.check.startswith("signal")}
