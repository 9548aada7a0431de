"""The ``jinit`` script's start (``_jinit_launch``) and the four subcommands' shared target rules."""

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH = [sys.executable, "-c", "import sys, _jinit_launch; sys.exit(_jinit_launch.main())"]


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_ctrl_c_while_jax_imports_is_one_line_and_130(delay):
    """Ctrl-C before the command runs (Python still importing jinit and jax): exit 130, one
    line, no traceback. The control: the same command, left alone, exits 0."""
    run = subprocess.Popen([*LAUNCH, "verify", "--help"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=_env(), cwd=ROOT)
    time.sleep(delay)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    if run.returncode == 0:
        pytest.skip(f"the command finished within {delay} s, before the signal")
    assert run.returncode == 130, (run.returncode, err)
    assert err == "jinit: interrupted\n"


def test_the_launcher_runs_the_command():
    done = subprocess.run([*LAUNCH, "verify", "--help"], capture_output=True, text=True,
                          env=_env(), cwd=ROOT, timeout=120)
    assert done.returncode == 0 and "jinit verify" in done.stdout, done.stderr


@pytest.mark.parametrize("command", ["audit", "compare", "auto"])
def test_a_target_that_calls_sys_exit_is_a_usage_error_in_every_command(command, tmp_path,
                                                                       capsys):
    from jinit import _cli

    (tmp_path / "t.py").write_text("import sys\n\ndef build():\n    sys.exit(3)\n")
    target = f"{tmp_path / 't.py'}:build"
    assert _cli.main([command, target]) == 2
    err = capsys.readouterr().err
    assert err == (f"jinit {command}: error: TARGET {target!r} called sys.exit(3); expected it "
                   f"to return (see 'jinit {command} --help')\n")


def test_verify_imports_no_room_above_it():
    code = ("import sys, jinit.verify._cli; print(sorted(m for m in ('jinit.audit._cli', "
            "'jinit.compare', 'jinit.auto', 'jinit._cli') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=_env(), cwd=ROOT, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
