"""examples/depth_transfer.py at reduced size: the learning-rate transfer claims hold.

Both claims of the example at fixed seeds: under CompleteP the best Adam learning rate found
with 4 blocks is within one octave of the best with 32 blocks, and under the standard
parametrization it moves by more than one octave. Measured (seed 0, these flags): CompleteP
moves -0.5 octave, SP -2 octaves. The SP result is the negative control: the same argmin
over the same grid must see the move that CompleteP removes.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

pytest.importorskip("optax")

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # a 30 s learning-rate sweep; tests/test_mup_depth.py checks the coordinates
@pytest.mark.standard_promotion  # optax's adam
def test_best_lr_transfers_across_depth_under_completep_only(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    example = _load("depth_transfer")
    out = example.main(["--depths", "4", "32", "--steps", "100", "--log2-lrs", "-11", "-10.5",
                        "-10", "-9.5", "-9", "-8.5", "-8", "-7.5", "--plot",
                        str(tmp_path / "d.png")])
    assert abs(out["shift"]["completep", 32]) <= 1.0, out["best_log2_lr"]
    assert abs(out["shift"]["sp", 32]) > 1.0, out["best_log2_lr"]
    # The grid's edges are not the optimum (the argmin is a real minimum).
    for key, value in out["best_log2_lr"].items():
        assert -11 < value < -7.5, key
    assert (tmp_path / "d.png").stat().st_size > 0
    assert "largest move of the best log2 lr" in capsys.readouterr().out
