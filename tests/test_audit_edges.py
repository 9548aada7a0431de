"""Edges of the audit: Equinox modules, Flax's own initializers, transformer depth verdicts,
and the lazily loaded submodules of ``import jinit``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

# ----------------------------------------------------------------- lazy submodules


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_import_jinit_loads_no_extra_and_reaches_every_submodule():
    done = _run("""
        import os, sys
        os.environ.pop("KERAS_BACKEND", None)
        import jinit
        heavy = [m for m in ("flax", "equinox", "keras", "optax", "matplotlib", "torch")
                 if m in sys.modules]
        assert heavy == [], heavy
        names = ("nnx", "equinox", "keras", "audit", "recipes", "verify")
        assert not any(f"jinit.{n}" in sys.modules for n in names)
        assert set(names) <= set(dir(jinit))
        assert callable(jinit.nnx.init) and jinit.nnx.__name__ == "jinit.nnx"
        assert callable(jinit.equinox.init)
        assert callable(jinit.audit.check) and callable(jinit.recipes.gpt2)
        assert callable(jinit.keras.Initializer) and os.environ["KERAS_BACKEND"] == "jax"
        print("ok")
    """)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize("name, extra", [("nnx", "flax"), ("equinox", "equinox"),
                                         ("keras", "keras")])
def test_missing_extra_names_what_to_install(name, extra):
    done = _run(f"""
        import sys
        sys.modules[{extra!r}] = None      # as if the extra were not installed
        import jinit
        try:
            jinit.{name}
        except ImportError as e:
            print(e)
        try:
            jinit.no_such_module
        except AttributeError as e:
            print(type(e).__name__)
    """)
    assert done.returncode == 0, done.stderr
    assert f'pip install "jinit[{extra}]"' in done.stdout and f"jinit.{name}" in done.stdout
    assert "AttributeError" in done.stdout
