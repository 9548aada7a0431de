"""Test configuration: 8 simulated CPU devices, strict dtype promotion, fixed seeds."""

import os
import shutil
import tempfile

# Must happen before jax is imported anywhere.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


def pytest_configure(config):
    """A persistent compilation cache for this session only, one folder per process.

    Many tests compile the same program (an initializer at a shape and dtype) from a fresh
    ``jax.jit``; jax's in-memory caches key on the function object, the persistent cache on
    the program, so a repeat is read back instead of compiled again (the same executable, so
    the same bits). Each pytest-xdist worker gets its own folder: jax's cache writes without a
    lock unless ``filelock`` is installed, so folders are never shared between processes. The
    folder is removed at the end of the session. ``JINIT_TEST_COMPILATION_CACHE=0`` turns it
    off.
    """
    if os.environ.get("JINIT_TEST_COMPILATION_CACHE", "1") == "0":
        return
    path = tempfile.mkdtemp(prefix="jinit-test-jax-cache-")
    config._jinit_compilation_cache = path
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def pytest_unconfigure(config):
    path = getattr(config, "_jinit_compilation_cache", None)
    if path is not None:
        jax.config.update("jax_compilation_cache_dir", None)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _strict_promotion(request):
    """Catches silent dtype upcasts inside jinit, as equinox's tests do.

    Tests marked ``standard_promotion`` run third-party code (optax's optimizers) that relies on
    standard promotion, so they keep jax's default.
    """
    mode = "standard" if request.node.get_closest_marker("standard_promotion") else "strict"
    with jax.numpy_dtype_promotion(mode):
        yield


@pytest.fixture
def x64():
    """Runs a test with 64-bit types enabled, restoring the flag afterwards."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
