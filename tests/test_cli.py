"""The ``jinit`` console command, run as a user runs it: every message and exit status pinned.

Exit status: 0 every check passed, 1 a check failed or nothing was checked, 2 a usage error,
which is one line on stderr, found before any work. Most usage errors are checked in this
process through ``jinit._cli.main(argv)``, the function the console command calls; a few of
each kind, the help, the runs and a fuzz sample run the installed console command (``jinit``
next to this interpreter; ``python -m jinit`` when it is not installed).
"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jinit import _cli
from jinit.verify import _cli as verify_cli  # noqa: F401 - imported before the timed calls
from jinit.verify import _report, _suite  # noqa: F401

_SCRIPT = shutil.which("jinit", path=os.path.dirname(sys.executable))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "jinit"]
# Small and float32 only (the dtypes are the verify suite's own tests): two schemes' moments and
# signal propagation, through the console command, in a few seconds.
SMALL = ["--only", "he_normal,presets.torch_linear_kernel", "--samples", "4096", "--depth", "4",
         "--width", "16", "--dtype", "float32", "-q"]


def jinit(*args, columns=None, timeout=300):
    env = dict(os.environ)
    env.pop("COLUMNS", None)
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run([*COMMAND, *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def usage_error(*args):
    """Runs a usage error: exit 2, exactly one line on stderr, nothing on stdout."""
    out = jinit(*args)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = out.stderr.splitlines()
    assert len(lines) == 1, out.stderr
    return lines[0]


def usage_error_here(capsys, *args):
    """The same usage error through ``main(argv)`` in this process: exit 2, exactly one line on
    stderr, nothing on stdout, no traceback."""
    capsys.readouterr()
    assert _cli.main(list(args)) == 2
    out = capsys.readouterr()
    assert "Traceback" not in out.err and out.out == "", out
    lines = out.err.splitlines()
    assert len(lines) == 1 and out.err.endswith("\n"), out.err
    return lines[0]


HELP = " (see 'jinit verify --help')"


# ----------------------------------------------------------------------- usage errors


def test_output_targets_are_checked_before_any_work(tmp_path, capsys):
    """The first case through the console command, the rest through ``main`` in process."""
    missing = tmp_path / "nonexistent" / "dir"
    assert usage_error("verify", "--json", f"{missing}/x.json") == (
        f"jinit verify: error: argument --json: '{missing}/x.json': directory '{missing}' "
        f"does not exist{HELP}")
    assert usage_error_here(capsys, "verify", "--plot", f"{missing}/x.png") == (
        f"jinit verify: error: argument --plot: '{missing}/x.png': directory '{missing}' "
        f"does not exist{HELP}")
    assert usage_error_here(capsys, "verify", "--json", str(tmp_path)) == (
        f"jinit verify: error: argument --json: '{tmp_path}' is a directory; expected a JSON "
        f"file name{HELP}")
    (tmp_path / "d.png").mkdir()
    assert usage_error_here(capsys, "verify", "--plot", str(tmp_path / "d.png")) == (
        f"jinit verify: error: argument --plot: '{tmp_path / 'd.png'}' is a directory; "
        f"expected a .png file name{HELP}")
    assert usage_error_here(capsys, "verify", "--plot", "out.pdf") == (
        f"jinit verify: error: argument --plot: 'out.pdf' is not a .png file name{HELP}")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write anywhere")
def test_unwritable_target_is_a_usage_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert usage_error("verify", "--json", f"{locked}/r.json") == (
            f"jinit verify: error: argument --json: '{locked}/r.json': directory '{locked}' "
            f"is not writable{HELP}")
    finally:
        locked.chmod(0o700)


def test_unwritable_target_is_refused_in_process(tmp_path, monkeypatch, capsys):
    """The same refusal, with ``os.access`` answering as for an unprivileged user."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p).startswith(
        str(tmp_path)) else real(p, mode))
    assert _cli.main(["verify", "--json", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err == (
        f"jinit verify: error: argument --json: '{tmp_path / 'r.json'}': directory "
        f"'{tmp_path}' is not writable{HELP}\n")


def test_flags_and_values(capsys):
    """One error of the subcommand's parser and one of jinit's own through the console
    command; the rest through ``main`` in process."""
    assert usage_error("verify", "--samples", "zero") == (
        "jinit verify: error: argument --samples: 'zero' is not an int; expected an int in "
        f"[2, 2**31) (the variance divides by n - 1; values are counted in int32){HELP}")
    assert usage_error() == ("jinit: error: a command is required; expected 'verify', "
                             "'audit', 'compare' or 'auto' (see 'jinit --help')")
    assert usage_error_here(capsys, "verify", "--bogus") == (
        f"jinit verify: error: unrecognized arguments: --bogus{HELP}")
    assert usage_error_here(capsys, "verify", "--depth", "-3") == (
        f"jinit verify: error: argument --depth: '-3' is out of range; expected an int >= 1{HELP}")
    assert usage_error_here(capsys, "verify", "--dtype", "float12") == (
        "jinit verify: error: argument --dtype: invalid choice: 'float12' (choose from "
        f"float32, bfloat16, float16, complex64, float8_e4m3fn, float8_e5m2){HELP}")
    assert usage_error_here(capsys, "verify", "--only", "he_normall") == (
        "jinit verify: error: argument --only: 'he_normall' is not a public initializer; did "
        "you mean he_normal, normal? (names as after 'jinit.': he_normal, "
        f"presets.torch_linear_kernel, residual.fixup){HELP}")
    assert usage_error_here(capsys, "frobnicate") == (
        "jinit: error: argument COMMAND: invalid choice: 'frobnicate' (choose from 'verify', "
        "'audit', 'compare', 'auto') (see 'jinit --help')")


SAMPLES = "expected an int in [2, 2**31) (the variance divides by n - 1; values are counted in int32)"
SEED = "expected an int in [0, 2**32) (a seed's low 32 bits are all JAX keeps)"


@pytest.mark.parametrize(("flag", "value", "problem", "expected"), [
    ("--samples", "1", "is out of range", SAMPLES),       # the variance's n - 1 (was: 1/0)
    ("--samples", str(2 ** 40), "is out of range", SAMPLES),  # int32 counts (was: ran, FAIL)
    ("--samples", "2.5", "is not an int", SAMPLES),
    ("--seed", "-1", "is out of range", SEED),
    ("--seed", str(2 ** 32), "is out of range", SEED),    # would repeat seed 0
    ("--seed", str(2 ** 70), "is out of range", SEED),
    ("--depth", "0", "is out of range", "expected an int >= 1"),
    ("--width", "x", "is not an int", "expected an int >= 1"),
])
def test_numbers_out_of_range(capsys, flag, value, problem, expected):
    assert usage_error_here(capsys, "verify", flag, value) == (
        f"jinit verify: error: argument {flag}: {value!r} {problem}; {expected}{HELP}")


def test_a_run_that_cannot_fit_in_memory_is_refused_first(capsys):
    """--width 10**7 / --depth 10**9 ran out of memory after a minute; now refused at once,
    against this machine's memory (``main`` in process, the console command's code)."""
    line = usage_error_here(capsys, "verify", "--width", str(10 ** 7))
    assert re.fullmatch(
        r"jinit verify: error: argument --width: 10000000 at --depth 32 needs about [\d.]+ PiB "
        r"of memory for signal propagation \(estimate\), more than the [\d.]+ [GTM]iB (this "
        r"machine has|the container \(cgroup\) allows); expected --width <= \d+ at --depth 32, "
        r"or --no-signal \(see 'jinit verify --help'\)", line), line
    line = usage_error_here(capsys, "verify", "--depth", str(10 ** 9))
    assert "argument --depth: 1000000000 at --width 256 needs about" in line, line
    assert "expected --depth <= " in line and "at --width 256, or --no-signal" in line


def test_memory_estimate_against_a_small_machine(capsys, monkeypatch):
    """The estimates, read against an 8 GiB machine: what fits runs, what does not is refused
    with the estimate, the limit and the largest value that fits."""
    from jinit import _console

    monkeypatch.setattr(_console, "memory", lambda: (8 * 2 ** 30, "this machine has"))
    line = usage_error_here(capsys, "verify", "--samples", str(2 ** 30), "--no-signal")
    drawn = max(t.arrays * math.prod(t.shape) for t in _suite.plan(None, samples=2 ** 30))
    assert 2 ** 30 <= drawn < 2 ** 30 + 2 ** 20  # whole arrays of the largest case shape
    assert line == (
        "jinit verify: error: argument --samples: 1073741824 needs about 80.5 GiB of memory "
        f"(estimate: {drawn} values drawn at once, 80 bytes each), more than the 8 GiB this "
        f"machine has; expected --samples <= 2**26{HELP}")
    line = usage_error_here(capsys, "verify", "--width", "8192", "--depth", "8")
    fit = int(re.search(r"expected --width <= (\d+) at --depth 8", line).group(1))
    room = 8 * 2 ** 30 - verify_cli._RUNTIME
    assert verify_cli.signal_bytes(8, fit) <= room < verify_cli.signal_bytes(8, fit + 1)
    line = usage_error_here(capsys, "verify", "--depth", "40000", "--width", "64")
    assert "argument --depth: 40000 at --width 64 needs about" in line
    # the default run is estimated well inside 8 GiB: kernels 4 x 32 x 256 x 256 float32
    # (32 MiB) five times over, activations 4 x 33 x 64 x 256 float32 (8.25 MiB) eight times
    assert verify_cli.signal_bytes(32, 256) == 5 * 2 ** 25 + 8 * 33 * 2 ** 18 + 32 * 2 ** 14
    tasks = _suite.plan(None)
    largest = max(t.arrays * math.prod(t.shape) for t in tasks)
    assert 2 ** 20 <= largest < 2 ** 21 and verify_cli.moment_bytes(tasks) == 80 * largest


def test_an_accelerators_memory_is_the_limit_when_smaller(capsys, monkeypatch):
    import jax

    from jinit import _console

    class Device:
        platform, device_kind = "gpu", "Fake GPU"

        def memory_stats(self):
            return {"bytes_limit": 4 * 2 ** 30}

    monkeypatch.setattr(_console, "memory", lambda: (64 * 2 ** 30, "this machine has"))
    monkeypatch.setattr(jax, "devices", lambda: [Device()])
    line = usage_error_here(capsys, "verify", "--width", "8192", "--depth", "8")
    assert "more than the 4 GiB the GPU (Fake GPU) has; expected --width <= " in line, line


def test_ctrl_c_exits_130_without_a_traceback(capsys, monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(verify_cli, "_verify", interrupted)
    assert _cli.main(["verify"]) == 130
    assert capsys.readouterr().err == "jinit verify: interrupted\n"


def test_ctrl_c_on_the_console_command():
    """SIGINT while the moments run: exit 130, one line, no traceback."""
    import signal

    proc = subprocess.Popen([*COMMAND, "verify", "--only", "orthogonal", "--samples", "4096"],
                            stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # the first progress line: the run has started
        assert "moments" in first, first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, (first, err)
    assert "Traceback" not in err and err.rstrip().endswith("jinit verify: interrupted"), err


def test_plot_that_would_draw_nothing_is_refused(capsys):
    """The first case through the console command, the rest through ``main`` in process."""
    assert usage_error("verify", "--no-signal", "--plot", "x.png") == (
        "jinit verify: error: --plot draws signal propagation, which --no-signal turns off; "
        f"drop one of them{HELP}")
    assert usage_error_here(capsys, "verify", "--only", "zeros", "--plot", "x.png") == (
        "jinit verify: error: --plot draws signal propagation, but --only selects none of the "
        "schemes it covers (lecun_normal, lecun_uniform, glorot_normal, glorot_uniform, "
        f"he_normal, he_uniform, orthogonal, for_activation, presets.torch_linear_kernel){HELP}")
    assert usage_error_here(capsys, "verify", "--dtype", "bfloat16", "--plot", "x.png") == (
        "jinit verify: error: --plot draws signal propagation, but --dtype leaves out float32, "
        f"the dtype signal propagation runs in{HELP}")


def test_python_dash_m_is_the_same_command():
    out = subprocess.run([sys.executable, "-m", "jinit", "verify", "--bogus"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr == (
        f"jinit verify: error: unrecognized arguments: --bogus{HELP}\n")


# ------------------------------------------------------------------------------ help


def test_help_lists_every_command_and_every_default(capsys, monkeypatch):
    """``jinit --help`` through the console command; ``jinit verify --help`` through ``main``
    in process, at 200 columns."""
    top = jinit("--help")
    assert top.returncode == 0
    for command in ("verify", "audit", "compare", "auto"):  # each with where its help is
        assert f"(see 'jinit {command} --help')" in top.stdout, top.stdout
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    assert _cli.main(["verify", "--help"]) == 0
    sub = capsys.readouterr().out
    for text in ("--depth L", "(default: 32)", "(default: 256)", "(default: 1048576 = 2**20)",
                 "(default: 0)", "an int in [2, 2**31)", "an int in [0, 2**32)",
                 "depth, an int >= 1", "width, an int >= 1", "130 interrupted"):
        assert text in sub, text
    actions = [a for a in verify_cli.build_parser()._actions
               if a.dest not in ("help", "parser")]
    assert all("(default: " in a.help for a in actions), [a.dest for a in actions
                                                          if "(default: " not in a.help]
    assert verify_cli.DEFAULT_SAMPLES == _suite.DEFAULT_SAMPLES == 2 ** 20


# ----------------------------------------------------------------------------- audit


def test_audit_is_delegated_or_reported_missing(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "jinit.audit", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "jinit.audit._cli", None)  # even if imported before
    assert _cli.main(["audit", "model.py:make"]) == 2
    assert capsys.readouterr().err == (
        "jinit audit: error: this jinit has no audit command (jinit.audit._cli is missing)\n")


def test_audit_receives_its_own_arguments(monkeypatch):
    import types

    seen = []
    fake = types.ModuleType("jinit.audit._cli")
    fake.main = lambda argv: seen.append(argv) or 1
    pkg = types.ModuleType("jinit.audit")
    pkg._cli = fake
    monkeypatch.setitem(sys.modules, "jinit.audit", pkg)
    monkeypatch.setitem(sys.modules, "jinit.audit._cli", fake)
    assert _cli.main(["audit", "m.py:f", "--strict"]) == 1
    assert seen == [["m.py:f", "--strict"]]


# ------------------------------------------------------------------------------ runs


def test_nothing_checked_exits_1_and_says_why():
    out = jinit("verify", "--only", "he_normal", "--dtype", "float8_e4m3fn")
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr == (
        "jinit verify: nothing was checked: he_normal is verified in float32, bfloat16, float16, "
        "complex64, and float8_e4m3fn, float8_e5m2 with --full; --dtype float8_e4m3fn selects "
        "none of them (add --full); signal propagation runs in float32, which --dtype leaves "
        "out\n")


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "report.json"
    out = jinit("verify", *SMALL, "--json", str(path), columns=80)
    return out, path


def test_small_run_passes_and_writes_json(small_run):
    out, path = small_run
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.rstrip().endswith("PASS")
    data = json.loads(path.read_text())
    assert data["summary"]["passed"] is True
    assert {c["initializer"] for c in data["checks"]} == {"he_normal",
                                                         "presets.torch_linear_kernel"}
    # --only runs signal propagation for the selected schemes it covers
    assert {r["scheme"] for r in data["signal"]["rows"]} == {"he_normal",
                                                           "presets.torch_linear_kernel"}


def test_tables_fit_the_terminal(small_run):
    out, _ = small_run
    assert max(len(line) for line in out.stdout.splitlines()) <= 80
    wide = jinit("verify", "--only", "presets.torch_kaiming_uniform", "--samples", "4096",
                 "--dtype", "float32", "-q")
    assert wide.returncode == 0
    assert max(len(line) for line in wide.stdout.splitlines()) <= 100  # COLUMNS unset


def test_signal_table_separates_fate_from_verdict(small_run):
    out, _ = small_run
    text = out.stdout[out.stdout.index("signal propagation:"):]
    table = text[:text.index("checks passed")]
    header = table.split("\n---")[0]  # the header may wrap at 80 columns
    assert {"fate", "vs", "theory"} <= set(header.split()) and "PASS" not in table
    from jinit import verify

    planted = ("he_at_1.8", jinit_module().variance_scaling(1.8, "fan_in", "truncated_normal"),
               2.0)
    res = verify.signal_propagation(["relu", "selu"], ["he_normal", planted], depth=16,
                                    width=64, batch=16, keys=2)
    rows = {tuple(line.split()[:2]): line for line in _report.Report(
        res.checks(), signal=res)._signal_table(200).splitlines()[3:]}
    assert re.search(r" stable +agrees$", rows[("he_normal", "relu")])
    assert re.search(r" exploding +agrees$", rows[("he_normal", "selu")])
    assert re.search(r" vanishing +DISAGREES$", rows[("he_at_1.8", "relu")])


def jinit_module():
    import jinit as module

    return module


def test_json_to_stdout_parses():
    out = jinit("verify", "--only", "kaiming_normal", "--samples", "4096", "--dtype", "float32",
                "--no-signal", "-q", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["config"]["only"] == ["kaiming_normal"]
    assert {c["initializer"] for c in data["checks"]} == {"he_normal"}


def test_a_failing_check_exits_1(capsys):
    """Negative control: a declaration that no longer matches its initializer fails the run."""
    from jinit import laws

    decl = laws.lookup("he_normal")
    right = decl.law
    object.__setattr__(decl, "law", laws.vs(2.2, "fan_in", "truncated_normal"))
    try:  # the declaration now promises 10% more variance than he_normal draws
        assert _cli.main(["verify", "--only", "he_normal", "--samples", "65536", "--dtype",
                          "float32", "--no-signal", "-q"]) == 1
    finally:
        object.__setattr__(decl, "law", right)
    out = capsys.readouterr().out
    assert "FAIL" in out.splitlines()[-1]


# ------------------------------------------------------------------------------ fuzz

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

# Valid values keep every run small (tiny stacks, few values); at most one flag goes wrong.
_GOOD = {
    "--only": ["zeros", "he_normal", "residual.rezero", "glorot_uniform,zeros"],
    "--dtype": ["float32", "bfloat16,float16", "float8_e5m2", "complex64"],
    "--samples": ["64", "4096"],
    "--seed": ["0", "7"],
    "--depth": ["2", "3"],
    "--width": ["8"],
    "--json": ["-", "{tmp}/r.json"],
    "--plot": ["{tmp}/p.png"],
}
_BAD = {
    "--only": ["he_normall", "", ","],
    "--dtype": ["float12", "float64", ""],
    "--samples": ["0", "1", "-1", "x", str(2 ** 40)],
    "--seed": ["-1", "x", str(2 ** 32)],
    "--depth": ["0", "x"],
    "--width": ["-4", str(10 ** 7)],
    "--json": ["{tmp}", "{tmp}/no/such/r.json"],
    "--plot": ["{tmp}/p.pdf", "{tmp}/no/p.png", "{tmp}"],
}
_SWITCHES = ["--full", "--no-signal", "-v", "-q"]


@st.composite
def _argvs(draw):
    flags = ["--only", "--depth", "--width", "--samples"]  # always set: runs stay small
    flags += draw(st.lists(st.sampled_from(["--dtype", "--seed", "--json", "--plot"]),
                           max_size=2, unique=True))
    wrong = draw(st.sampled_from([None, None, "--bogus", "--only", *flags]))
    argv = ["verify"]
    for flag in dict.fromkeys(flags):
        table = _BAD if flag == wrong else _GOOD
        argv += [flag, draw(st.sampled_from(table[flag]))]
    argv += draw(st.lists(st.sampled_from(_SWITCHES), max_size=2, unique=True))
    if wrong == "--bogus":
        argv.append("--bogus")
    return argv


@hypothesis.settings(max_examples=30, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(argv=_argvs())
def test_fuzz_flag_combinations(argv, tmp_path_factory):
    """Random flag combinations: exit 0/1/2 only, no exception escapes, usage errors fast.

    ``main`` is called in the test's process (jinit already imported), so the time measured
    for a usage error is the CLI's own, before any work; real runs are not timed.
    """
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("fuzz")
    argv = [a.replace("{tmp}", str(tmp)) for a in argv]
    err = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = _cli.main(argv)
    elapsed = time.perf_counter() - t0
    assert code in (0, 1, 2), (argv, code)
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert len(err.getvalue().splitlines()) == 1, (argv, err.getvalue())
        assert elapsed < 1.0, (argv, elapsed)


@hypothesis.settings(max_examples=4, derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
@hypothesis.given(argv=_argvs())
def test_fuzz_console_command_never_prints_a_traceback(argv, tmp_path_factory):
    """The same combinations through the console command: exit 0/1/2, no traceback."""
    tmp = tmp_path_factory.mktemp("fuzz")
    out = jinit(*[a.replace("{tmp}", str(tmp)) for a in argv])
    assert out.returncode in (0, 1, 2), (argv, out.stderr)
    assert "Traceback" not in out.stderr, (argv, out.stderr)
    assert Path(tmp).exists()
