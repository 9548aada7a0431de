import types

import jax
import jax.numpy as jnp

import jinit


def test_every_name_of_jax_nn_initializers_is_public():
    names = {n for n in dir(jax.nn.initializers) if not n.startswith("_")}
    assert names <= set(jinit.__all__), names - set(jinit.__all__)


def test_public_objects_live_at_jinit():
    """Submodules are ``jinit.<name>``; every other public object says it lives at ``jinit``."""
    for name in jinit.__all__:
        obj = getattr(jinit, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ == f"jinit.{name}", name
        else:
            assert obj.__module__ == "jinit", (name, obj.__module__)


def test_he_normal_under_strict_promotion_all_dtypes():
    for dt in (jnp.float32, jnp.bfloat16, jnp.float16, jnp.float8_e4m3fn, jnp.complex64):
        w = jinit.he_normal()(jax.random.key(0), (16, 8), dt)
        assert w.dtype == dt and w.shape == (16, 8)
