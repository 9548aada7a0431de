"""Test configuration: 8 simulated CPU devices, strict dtype promotion, fixed seeds."""

import os

# Must happen before jax is imported anywhere.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


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
