"""jinit.keras.Initializer: Keras layouts, per-layer seeds, config and .keras round trips."""

import math
import os
import re
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import jinit  # noqa: E402

keras = pytest.importorskip("keras")
jk = pytest.importorskip("jinit.keras")
if keras.backend.backend() != "jax":
    pytest.skip("keras is not on the JAX backend", allow_module_level=True)

Z = 4.9  # false-failure rate about 1e-6 per check


def _truncnorm_kurtosis():
    phi, za = math.exp(-2) / math.sqrt(2 * math.pi), math.erf(math.sqrt(2))
    m2 = 1 - 4 * phi / za
    return (3 * m2 - 16 * phi / za) / m2**2


KURTOSIS = _truncnorm_kurtosis()


def passes(x, variance):
    x = np.asarray(x, np.float64).ravel()
    return abs(np.mean(x * x) - variance) <= Z * variance * math.sqrt((KURTOSIS - 1) / x.size)


def kernels(layer_fn, input_shape, n):
    out = []
    init = jk.Initializer(jinit.he_normal(), seed=3)
    for _ in range(n):
        layer = layer_fn(init)
        layer.build(input_shape)
        out.append(np.asarray(layer.kernel.value, np.float64))
    return np.stack(out)


def test_dense_and_conv_layouts_are_jinits_defaults():
    """Dense (in, out), Conv2D (kh, kw, in, out): he_normal gets fan_in without axes."""
    dense = kernels(lambda i: keras.layers.Dense(128, kernel_initializer=i), (None, 32), 64)
    assert dense.shape[1:] == (32, 128)
    assert passes(dense, 2 / 32) and not passes(dense, 2 / 128)  # fan_out would be wrong
    assert not passes(dense * math.sqrt(1.03), 2 / 32)          # negative control
    conv = kernels(lambda i: keras.layers.Conv2D(32, 3, kernel_initializer=i), (None, 8, 8, 16),
                   48)
    assert conv.shape[1:] == (3, 3, 16, 32)
    assert passes(conv, 2 / 144) and not passes(conv * math.sqrt(1.03), 2 / 144)


def test_one_shared_instance_gives_each_layer_its_own_values_and_seed_reproduces():
    def build(init):
        model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(16, kernel_initializer=init),
                                  keras.layers.Dense(16, kernel_initializer=init)])
        return [np.asarray(w.value) for w in model.weights if w.name == "kernel"]

    a1, a2 = build(jk.Initializer(jinit.he_normal(), seed=0))
    b1, b2 = build(jk.Initializer(jinit.he_normal(), seed=0))
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    # The Keras behaviour it avoids: an int-seeded Keras initializer repeats itself.
    with warnings.catch_warnings():  # some Keras versions warn about the reuse
        warnings.simplefilter("ignore", UserWarning)
        k1, k2 = build(keras.initializers.HeNormal(seed=0))
    np.testing.assert_array_equal(k1, k2)


def test_config_round_trip_rebuilds_the_same_initializer():
    for init in (jinit.he_normal(in_axis=0, out_axis=1), jinit.orthogonal(scale=2.0),
                 jinit.presets.torch_linear_kernel(), jinit.zeros,
                 jinit.variance_scaling(0.5, "fan_avg", "uniform", batch_axis=(0,))):
        wrapped = jk.Initializer(init, seed=7)
        config = wrapped.get_config()
        again = jk.Initializer.from_config(config)
        assert repr(again.init) == repr(init) and again.get_config() == config
        np.testing.assert_array_equal(again((4, 8, 8)), jk.Initializer(init, seed=7)((4, 8, 8)))
    restored = keras.initializers.deserialize(keras.initializers.serialize(wrapped))
    assert isinstance(restored, jk.Initializer)


# Keras 3.15's own saving code calls np.array on jax arrays in a way numpy 2 deprecates.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
def test_saved_model_reloads(tmp_path):
    init = jk.Initializer(jinit.he_uniform(), seed=1)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4, kernel_initializer=init)])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(loaded.layers[0].kernel.value),
                                  np.asarray(model.layers[0].kernel.value))
    restored = loaded.layers[0].kernel_initializer
    assert isinstance(restored, jk.Initializer) and repr(restored.init) == repr(jinit.he_uniform())


def test_errors():
    with pytest.raises(TypeError, match=re.escape("keras.Initializer(): init=")):
        jk.Initializer(lambda k, s, d: jax.numpy.zeros(s, d))
    with pytest.raises(TypeError, match=re.escape("keras.Initializer(): seed='a'")):
        jk.Initializer(jinit.zeros, seed="a")
    with pytest.raises(ValueError, match=re.escape("config['initializer']='no_such'")):
        jk.Initializer.from_config({"initializer": "no_such", "params": {}, "seed": None})
