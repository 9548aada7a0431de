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


def test_ctrl_c_while_jax_imports_control():
    """Negative control: an entry point inside the package, reached after ``import jinit``,
    fails the check above (a traceback, an interrupt dropped in a callback, or a crash)."""
    run = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('ready\\n'); "
                            "sys.stderr.flush(); from jinit._cli import main; sys.exit(main())",
                            "verify", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=_env(), cwd=ROOT)
    assert run.stderr.readline() == "ready\n"
    time.sleep(0.2)  # importing jax takes about a second
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=120)
    assert (run.returncode, err) != (130, "jinit: interrupted\n")
    assert "Traceback" in err or run.returncode not in (0, 2, 130), (run.returncode, err)


GC_CALLBACK = """
import gc, os, signal, sys
{install}
sent = []
def callback(phase, info):  # as jax's: Python drops an exception raised in it
    if not sent:
        sent.append(1)
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))  # bytecodes, where the signal is handled
gc.callbacks.append(callback)
try:
    gc.collect()
    for _ in range(10 ** 7):
        pass
except KeyboardInterrupt:
    print("interrupted")
else:
    print("ran on")
"""


@pytest.mark.parametrize(("install", "expected"), [
    ("import _jinit_launch; signal.signal(signal.SIGINT, _jinit_launch._on_sigint); "
     "sys.unraisablehook = _jinit_launch._unraisable", "interrupted"),
    ("", "ran on"),  # the control: Python's own handler, whose interrupt is dropped
])
def test_a_ctrl_c_in_a_gc_callback_is_raised_after_it(install, expected):
    """While the command runs: a SIGINT handled inside a garbage-collection callback (jax
    registers one) still interrupts, once the callback has returned."""
    done = subprocess.run([sys.executable, "-c", GC_CALLBACK.format(install=install)],
                          capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120)
    assert done.stdout == expected + "\n", (done.stdout, done.stderr)


def test_where_a_keyboard_interrupt_cannot_be_raised():
    """The launcher's handler defers inside garbage-collection callbacks, ``__del__`` and a C
    extension's initialization, and raises anywhere else."""
    import gc
    from importlib.machinery import ExtensionFileLoader

    import _jinit_launch

    seen = []

    def callback(phase, info):
        seen.append(_jinit_launch._cannot_raise(sys._getframe()))

    class Finalized:
        def __del__(self):
            seen.append(_jinit_launch._cannot_raise(sys._getframe()))

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    Finalized()
    assert seen and all(seen), seen
    assert not _jinit_launch._cannot_raise(sys._getframe())
    assert ExtensionFileLoader.create_module.__code__ in _jinit_launch._DEFER


def test_the_console_script_starts_outside_the_package():
    """pyproject's ``jinit`` script is the launcher, which the wheel and the sdist ship."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)
    assert project["project"]["scripts"] == {"jinit": "_jinit_launch:main"}
    assert os.path.isfile(os.path.join(ROOT, "_jinit_launch.py"))
    targets = project["tool"]["hatch"]["build"]["targets"]
    assert {"jinit", "_jinit_launch.py"} <= set(targets["wheel"]["only-include"])
    assert "_jinit_launch.py" in targets["sdist"]["include"]


BAD_TARGETS = """\
def boom():
    raise RuntimeError("no\\nsecond line")
def wrong():
    return 42
def ctrl_c():
    raise KeyboardInterrupt
not_a_function = 3
"""


@pytest.mark.parametrize("command", ["audit", "compare", "auto"])
@pytest.mark.parametrize(("name", "happened"), [
    ("boom", " raised RuntimeError: no (see"),                     # the first line only
    ("nothere", ": '{path}' has no function 'nothere' (see"),
    ("not_a_function", ": 'not_a_function' is an int, not a function (see"),
    ("wrong", " returned an int; expected "),                       # each command's contract
])
def test_every_command_reads_a_bad_target_alike(command, name, happened, tmp_path, capsys):
    """The same target, the same line from ``audit``, ``compare`` and ``auto``: exit 2, one
    line on stderr naming the target and what happened."""
    from jinit import _cli

    path = tmp_path / "targets.py"
    path.write_text(BAD_TARGETS)
    target = f"{path}:{name}"
    assert _cli.main([command, target]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"jinit {command}: error: TARGET {target!r}"
                          + happened.format(path=path)), err
    assert err.endswith(f" (see 'jinit {command} --help')\n"), err


@pytest.mark.parametrize("command", ["audit", "compare", "auto"])
def test_every_command_reads_a_missing_module_alike(command, capsys):
    from jinit import _cli

    assert _cli.main([command, "no_such_pkg.mod:build"]) == 2
    assert capsys.readouterr().err == (
        f"jinit {command}: error: TARGET 'no_such_pkg.mod:build': importing module "
        "'no_such_pkg.mod' raised ModuleNotFoundError: No module named 'no_such_pkg' "
        f"(see 'jinit {command} --help')\n")


@pytest.mark.parametrize("command", ["audit", "compare", "auto"])
def test_ctrl_c_in_the_target_exits_130_in_every_command(command, tmp_path, capsys):
    from jinit import _cli

    path = tmp_path / "targets.py"
    path.write_text(BAD_TARGETS)
    assert _cli.main([command, f"{path}:ctrl_c"]) == 130
    assert capsys.readouterr().err == f"jinit {command}: interrupted\n"
