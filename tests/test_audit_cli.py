"""``jinit audit TARGET`` (``jinit.audit._cli.main``), and the GPT-2 example it runs."""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from jinit.audit._cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "audit_gpt2.py"
TINY = f"{EXAMPLE}:build_tiny"  # GPT-2's 12 blocks at width 64: the same 24 c_proj kernels


def _example():
    spec = importlib.util.spec_from_file_location("audit_gpt2", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


C_PROJ = sorted(f"transformer/h/{i}/{part}/c_proj/kernel" for i in range(12)
                for part in ("attn", "mlp"))


def test_gpt2_flags_exactly_the_24_c_proj_kernels():
    from jinit import audit

    gpt2 = _example()
    spec = gpt2.build(width=64, vocab=512, context=64)
    report = audit.check(spec["params"], spec["rules"])
    assert sorted(report.flagged) == C_PROJ
    assert all("std" in checks for checks in report.flagged.values())
    fixed = gpt2.build(width=64, vocab=512, context=64, fixed=True)
    assert audit.check(fixed["params"], fixed["rules"]).ok  # the control: drawn right, passes


def test_example_runs(capsys):
    gpt2 = _example()
    assert gpt2.main(["--width", "64", "--vocab", "512", "--context", "64"]) == 1
    out = capsys.readouterr().out
    assert "24 leaves flagged" in out
    assert gpt2.main(["--width", "32", "--vocab", "64", "--context", "16", "--layers", "2",
                      "--fixed"]) == 0


def test_cli_table_and_exit_status(capsys):
    assert main([TINY]) == 1
    out = capsys.readouterr().out
    flagged = [line.split()[0] for line in out.splitlines() if "FLAGGED: " in line
               and line.startswith("transformer/")]
    assert sorted(flagged) == C_PROJ and "24 flagged" in out
    assert main([TINY, "--only", "ln_"]) == 0          # LayerNorms only: all pass
    assert main(["audit", TINY, "--only", "ln_f"]) == 0  # as the dispatcher passes it


def test_cli_json_to_stdout_and_file(capsys, tmp_path):
    assert main([TINY, "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert sorted(data["check"]["flagged"]) == C_PROJ and data["signal"] is None
    path = tmp_path / "r.json"
    assert main([TINY, "--json", str(path), "--alpha", "1e-9"]) == 1
    assert json.loads(path.read_text())["check"]["alpha"] == 1e-9


def test_cli_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "r.png"
    assert main([TINY, "--only", "h/0/", "--plot", str(path)]) == 1
    assert path.stat().st_size > 1000


def test_cli_signal_target(tmp_path, capsys):
    pytest.importorskip("flax")
    target = tmp_path / "mlp.py"
    target.write_text(
        "import jax, jax.numpy as jnp, flax.linen as nn, jinit\n"
        "def build():\n"
        "    model = nn.Sequential([nn.Dense(64, kernel_init=jinit.he_normal()), nn.relu,\n"
        "                           nn.Dense(64, kernel_init=jinit.he_normal())])\n"
        "    x = jnp.ones((8, 64))\n"
        "    params = model.init(jax.random.key(0), x)\n"
        "    rules = {'kernel': jinit.he_normal(), 'bias': jinit.zeros}\n"
        "    return {'params': params, 'rules': rules, 'model': model, 'batch': x, 'keys': 2}\n")
    assert main([f"{target}:build", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["signal"]["layers"] == ["layers_0", "layers_2"]


def _usage(capsys, argv, text):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and text in err, err
    assert len([line for line in lines if "error" in line]) == 1  # one line, then exit 2


def test_cli_usage_errors(capsys, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import no_such_module_anywhere\n")
    wrong = tmp_path / "wrong.py"
    wrong.write_text("def build():\n    return 42\n"
                     "def keys():\n    return {'params': {}, 'rules': {}, 'oops': 1}\n"
                     "def boom():\n    raise RuntimeError('no')\n"
                     "not_a_function = 3\n")
    _usage(capsys, ["no_such_pkg.mod:build"],
           "importing module 'no_such_pkg.mod' raised ModuleNotFoundError")
    _usage(capsys, [f"{bad}:build"], "ModuleNotFoundError")
    _usage(capsys, [f"{tmp_path / 'none.py'}:build"], "no such file")
    _usage(capsys, [f"{EXAMPLE}:nope"], "has no function 'nope'")
    _usage(capsys, [f"{wrong}:not_a_function"], "is an int, not a function")
    _usage(capsys, [f"{wrong}:build"], "returned an int; expected a dict")
    _usage(capsys, [f"{wrong}:keys"], "unknown key(s) 'oops'")
    _usage(capsys, [f"{wrong}:boom"], "raised RuntimeError: no")
    _usage(capsys, ["examples/audit_gpt2.py"], "is not FILE.py:FUNCTION")
    _usage(capsys, [TINY, "--alpha", "2"], "argument --alpha: '2' is out of range; expected a "
           "number in [1e-300, 1)")
    _usage(capsys, [TINY, "--only", "("], "is not a valid regular expression")
    _usage(capsys, [TINY, "--plot", "x.jpg"], "is not a .png file name")


def test_cli_checks_output_paths_before_any_work(capsys, tmp_path):
    marker = tmp_path / "called"
    target = tmp_path / "t.py"
    target.write_text(f"def build():\n    open({str(marker)!r}, 'w').close()\n"
                      "    return {'params': {}, 'rules': {}}\n")
    _usage(capsys, [f"{target}:build", "--json", str(tmp_path / "no" / "r.json")],
           "does not exist")
    (tmp_path / "d.png").mkdir()
    _usage(capsys, [f"{target}:build", "--plot", str(tmp_path / "d.png")], "is a directory")
    assert not marker.exists()   # the target never ran


def _line(capsys, argv):
    """``main(argv)``: exit 2 and exactly one line on stderr, which is returned."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    return captured.err.rstrip("\n")


HELP = " (see 'jinit audit --help')"


@pytest.mark.parametrize(("flag", "value", "expected"), [
    ("--alpha", "5e-324", "is out of range; expected a number in [1e-300, 1) (smaller rates "
                          "underflow once split over a leaf's checks)"),   # was: ZeroDivisionError
    ("--alpha", "nan", "is out of range; expected a number in [1e-300, 1) (smaller rates "
                       "underflow once split over a leaf's checks)"),
    ("--seed", str(2 ** 70), "is out of range; expected an int in [0, 2**32) (a seed's low 32 "
                             "bits are all JAX keeps)"),                   # was: OverflowError
    ("--seed", "-1", "is out of range; expected an int in [0, 2**32) (a seed's low 32 bits are "
                     "all JAX keeps)"),                     # was: refused after the target ran
    ("--seed", "x", "is not an int; expected an int in [0, 2**32) (a seed's low 32 bits are "
                    "all JAX keeps)"),
])
def test_flags_are_checked_before_the_target_is_imported(capsys, tmp_path, flag, value,
                                                         expected):
    marker = tmp_path / "imported"
    target = tmp_path / "slow.py"
    target.write_text(f"open({str(marker)!r}, 'w').close()\n"
                      "def build():\n    return {'params': {}, 'rules': {}}\n")
    assert _line(capsys, [f"{target}:build", flag, value]) == (
        f"jinit audit: error: argument {flag}: {value!r} {expected}{HELP}")
    assert not marker.exists()


def test_usage_errors_read_as_verify_reads_them(capsys, tmp_path):
    """One line, ``jinit audit: error: argument --flag: ...`` (no usage block before it)."""
    assert _line(capsys, [TINY, "--json", str(tmp_path / "no" / "r.json")]) == (
        f"jinit audit: error: argument --json: '{tmp_path / 'no' / 'r.json'}': directory "
        f"'{tmp_path / 'no'}' does not exist{HELP}")
    assert _line(capsys, []) == (
        f"jinit audit: error: the following arguments are required: TARGET{HELP}")
    assert _line(capsys, [TINY, "--bogus"]) == (
        f"jinit audit: error: unrecognized arguments: --bogus{HELP}")


BAD_TARGETS = """\
import sys
def none():
    pass
def exits():
    sys.exit(0)
def exits_3():
    sys.exit(3)
def exits_text():
    sys.exit("bye")
def boom():
    raise RuntimeError("no\\nsecond line")
def needs(x):
    return x
def triple():
    return 1, 2, 3
def bad_keys():
    return {"params": {}, "rules": {}, "model": print, "batch": 1, "keys": "8"}
def bad_rules():
    import jax.numpy as jnp
    return {"params": {"w": jnp.ones((4, 4))}, "rules": 5}
"""


@pytest.mark.parametrize(("name", "happened"), [
    ("none", "returned None (no return statement?); expected a dict with 'params' and 'rules' "
             "(optional: 'default', 'model', 'batch', 'init', 'keys') or a pair (params, rules)"),
    ("exits", "called sys.exit(0); expected it to return"),        # was: exit 0, silently
    ("exits_3", "called sys.exit(3); expected it to return"),      # was: exit 3, silently
    ("exits_text", "called sys.exit('bye'); expected it to return"),
    ("boom", "raised RuntimeError: no"),                           # the first line only
    ("needs", None),
    ("triple", "returned a tuple of 3; expected a dict with"),
    ("bad_keys", "returned keys='8'; expected an int >= 1"),
    ("bad_rules", ": audit.check() of what it returned raised TypeError: audit.check(): rules=5 "
                  "is not a set of rules"),
])
def test_a_target_that_misbehaves_is_one_line(capsys, tmp_path, name, happened):
    path = tmp_path / "targets.py"
    path.write_text(BAD_TARGETS)
    target = f"{path}:{name}"
    line = _line(capsys, [target])
    assert line.startswith(f"jinit audit: error: TARGET {target!r}") and line.endswith(HELP)
    if name == "needs":
        assert "needs(x) cannot be called without arguments" in line, line
        assert "expected a function of no arguments" in line
    else:
        assert line.startswith(f"jinit audit: error: TARGET {target!r} {happened}"
                               if not happened.startswith(":") else
                               f"jinit audit: error: TARGET {target!r}{happened}"), line


def test_sys_exit_while_importing_the_target(capsys, tmp_path):
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsys.exit(0)\n")
    assert _line(capsys, [f"{path}:build"]) == (
        f"jinit audit: error: TARGET '{path}:build': importing '{path}' called sys.exit(0); "
        f"expected it to return{HELP}")


def test_ctrl_c_exits_130(capsys, tmp_path):
    """KeyboardInterrupt in the target (or its import): exit 130, one line, no traceback."""
    path = tmp_path / "ctrl_c.py"
    path.write_text("def build():\n    raise KeyboardInterrupt\n")
    assert main([f"{path}:build"]) == 130
    assert capsys.readouterr().err == "jinit audit: interrupted\n"
    path.write_text("raise KeyboardInterrupt\n")
    assert main([f"{path}:build"]) == 130  # while importing: was a usage error (exit 2)
    assert capsys.readouterr().err == "jinit audit: interrupted\n"
    from jinit import _cli

    assert _cli.main(["audit", f"{path}:build"]) == 130  # through the jinit dispatcher
    assert capsys.readouterr().err == "jinit audit: interrupted\n"


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "jinit.audit", TINY, "--only", "wpe"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "transformer/wpe/embedding" in out.stdout


def test_console_command():
    beside = os.path.join(os.path.dirname(sys.executable), "jinit")
    exe = beside if os.path.exists(beside) else shutil.which("jinit")
    if exe is None:
        pytest.skip("the jinit console command is not installed (pip install -e .)")
    out = subprocess.run([exe, "audit", TINY], capture_output=True, text=True, timeout=600)
    assert out.returncode == 1 and "24 flagged" in out.stdout


def test_benchmark_runs(tmp_path):
    """benchmarks/audit.py at its tiny size emits well-formed rows (no timing asserted)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("bench_audit",
                                                      ROOT / "benchmarks" / "audit.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        doc = bench.main(["--tiny", "--json", str(tmp_path / "a.json")])
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    row = doc["rows"][0]
    assert row["flagged"] == 0 and row["audit_s"] > 0 and row["leaves"] == 2 * 12 + 4
    assert json.loads((tmp_path / "a.json").read_text())["benchmark"] == "audit"
