"""The ``jinit`` console command (``jinit verify``), called through ``main(argv)``."""

import json
import subprocess
import sys

import pytest

from jinit.verify._cli import main

SMALL = ["verify", "--only", "he_normal,presets.torch_linear_kernel", "--samples", "4096",
         "--dtype", "float32", "-q"]


def test_small_run_passes(capsys):
    assert main(SMALL) == 0
    out = capsys.readouterr().out
    assert "he_normal" in out and "presets.torch_linear_kernel" in out
    assert out.rstrip().endswith("PASS")


def test_json_parses(capsys):
    assert main([*SMALL, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["passed"] is True
    assert {c["initializer"] for c in data["checks"]} == {"he_normal",
                                                         "presets.torch_linear_kernel"}


def test_json_to_file_and_only_alias(tmp_path, capsys):
    path = tmp_path / "report.json"
    assert main(["verify", "--only", "kaiming_normal", "--samples", "4096", "--dtype",
                 "float32", "-q", "--json", str(path)]) == 0
    assert "he_normal" in capsys.readouterr().out
    assert json.loads(path.read_text())["config"]["only"] == ["kaiming_normal"]


@pytest.mark.parametrize("argv", [["verify", "--bogus"], ["verify", "--samples", "zero"],
                                  ["verify", "--samples", "-3"], ["frobnicate"]])
def test_bad_flags_exit_2_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: jinit") and "error:" in err and "Traceback" not in err


def test_no_command_exits_2(capsys):
    assert main([]) == 2
    assert "a command is required" in capsys.readouterr().err


def test_unknown_initializer_exits_2(capsys):
    assert main(["verify", "--only", "he_normall"]) == 2
    err = capsys.readouterr().err
    assert "--only 'he_normall' is not a public initializer" in err
    assert "Did you mean he_normal" in err and "Traceback" not in err


def test_unknown_dtype_and_bad_plot_name_exit_2(capsys):
    assert main(["verify", "--dtype", "float12"]) == 2
    assert "--dtype 'float12' is not supported" in capsys.readouterr().err
    assert main(["verify", "--plot", "out.pdf"]) == 2
    assert "not a .png file name" in capsys.readouterr().err


def test_python_dash_m_bad_flag_has_no_traceback():
    out = subprocess.run([sys.executable, "-m", "jinit", "verify", "--bogus"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "usage: jinit" in out.stderr and "Traceback" not in out.stderr
