"""Coordinate checks across depth (CompleteP against SP) and unit scale (u-μP, bfloat16).

Reduced sizes of ``jinit verify --coord-check depth`` and ``--coord-check unit``; the
thresholds and why they separate the parametrizations are stated in each test.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("optax")


@pytest.mark.standard_promotion  # optax's adam
def test_depth_coord_check_completep_flat_sp_grows():
    # Reduced sizes (the CLI runs depths 4..64 at width 128, 4 seeds). CompleteP's last-step
    # update sizes must be flat in depth within |slope| <= 0.05 on every recorded layer; SP's
    # stream and logit updates grow (slope > 0.3): to leading order each of the L blocks moves
    # the stream by Theta(lr) under SP (slope 1) and by Theta(lr / L) under CompleteP (slope 0).
    # Measured (seed 0, these sizes): CompleteP |slope| <= 0.02, SP +0.5..+0.65 on x and logits.
    from jinit.verify._coord_depth import depth_coord_check

    r = depth_coord_check(depths=(4, 8, 16), width=64, seeds=2,
                          parametrizations=("sp", "completep", "depth_mup"))
    assert r.flat("completep"), r.table()
    assert r.sp_grows and not r.diverged["sp"], r.table()
    assert np.all(np.abs(r.slopes["completep"]) <= 0.05)
    # Negative controls: SP is not flat; depth-μP (alpha=1/2) is lazy inside the blocks: the
    # first block's internal update shrinks like (L/L0)^(-1/2), which the same check rejects.
    assert not r.flat("sp")
    assert not r.flat("depth_mup") and r.slopes["depth_mup"][1] < -0.1, r.table()
    assert not r.passed                 # because depth_mup is not flat
    # At the base depth every parametrization is the same network, step for step.
    assert np.allclose(r.deltas["completep"][0], r.deltas["sp"][0], rtol=1e-5)
    assert r.to_json()["diverged"] == {"sp": [], "completep": [], "depth_mup": []}


@pytest.mark.standard_promotion  # optax's adam
def test_unit_check_rms_in_band_in_bfloat16(monkeypatch):
    # At init every activation, activation gradient and weight gradient of the u-μP residual
    # MLP has RMS in [0.5, 2] in bfloat16 without loss scaling (measured 0.96..1.06 at widths
    # 64..1024); the full widths run in the slow test below and in `jinit verify
    # --coord-check unit`.
    from jinit.verify import _coord_unit

    r = _coord_unit.unit_check(widths=(64, 256), depth=2, steps=2)
    assert r.unit, r.table()
    lo, hi = r.span("grad:")
    assert 0.8 < lo and hi < 1.25, r.table()
    assert r.flat, r.table()
    # Negative control: the same network with plain matmuls (unit init, no 1/sqrt(fan_in))
    # has activations of RMS ~ sqrt(width) and fails the band.
    monkeypatch.setattr(_coord_unit.unit, "linear", lambda x, w, b=None, readout=False: x @ w)
    bad = _coord_unit.unit_check(widths=(64, 256), depth=2, steps=1)
    assert not bad.unit and bad.span("act:")[1] > 4


@pytest.mark.slow
@pytest.mark.standard_promotion  # optax's adam
def test_unit_check_widths_64_to_1024():
    from jinit.verify._coord_unit import unit_check

    r = unit_check()
    assert r.passed, r.table()


def test_cli_rejects_an_unknown_coord_check_kind():
    import shutil
    import subprocess

    exe = shutil.which("jinit")
    if exe is None:
        pytest.skip("the jinit console command is not installed")
    proc = subprocess.run([exe, "verify", "--only", "he_normal", "--coord-check", "depht"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "argument --coord-check: 'depht' is not a coordinate check; expected width, depth, unit" in proc.stderr
    assert "Traceback" not in proc.stderr
