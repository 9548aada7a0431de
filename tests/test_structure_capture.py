"""jinit.structure.capture and layers: one way to watch a model's layers, per call.

A capture must reach only the model it was given, for the length of its block: another
instance of the same class (in this thread or another) is untouched, classes are never
modified, and a model call that fails inside the block leaves nothing behind.
"""

import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jinit import audit, structure

nn = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

X = jnp.ones((2, 4))


class Pair(nnx.Module):
    def __init__(self, rngs, fail=False):
        self.first = nnx.Linear(4, 4, rngs=rngs)
        self.second = nnx.Linear(4, 3, rngs=rngs)
        self.fail = fail

    def __call__(self, x):
        h = self.first(x)
        if self.fail:
            raise RuntimeError("boom")
        return self.second(h)


def _zero(name, y):
    return jnp.zeros_like(y)


def test_nnx_hook_replaces_watched_outputs_only():
    model = Pair(nnx.Rngs(0))
    seen = []
    with structure.capture(model, lambda n, y: seen.append(n) or y * 0, watch={"first"}) as calls:
        out = model(X)
    assert seen == ["first"] and [(c.name, c.method) for c in calls] == [("first", "__call__")]
    np.testing.assert_array_equal(out, jnp.broadcast_to(model.second.bias[...], (2, 3)))
    np.testing.assert_array_equal(model(X), model.second(model.first(X)))  # block over: as before


def test_nnx_other_instance_and_class_are_untouched_meanwhile():
    model, other = Pair(nnx.Rngs(0)), nnx.Linear(4, 4, rngs=nnx.Rngs(1))
    original = nnx.Linear.__call__
    expected = other(X)
    in_thread = {}

    def elsewhere():  # another thread calls the watched instance itself: no block there
        in_thread["out"] = model.first(X)

    seen = []
    with structure.capture(model, lambda n, y: seen.append(n) or _zero(n, y)):
        assert nnx.Linear.__call__ is original  # the class is not modified
        assert type(other) is nnx.Linear
        np.testing.assert_array_equal(other(X), expected)
        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join()
        model(X)
    assert seen == ["first", "second"]
    np.testing.assert_array_equal(in_thread["out"], model.first(X))
    assert type(model.first) is nnx.Linear and type(model.second) is nnx.Linear


def test_nnx_nested_blocks_on_two_models_each_see_their_own():
    a, b = Pair(nnx.Rngs(0)), Pair(nnx.Rngs(1))
    seen_a, seen_b = [], []
    with structure.capture(a, lambda n, y: seen_a.append(n) or y):
        with structure.capture(b, lambda n, y: seen_b.append(n) or y):
            b(X)
        a(X)
        b(X)  # b's block is over
    assert seen_a == ["first", "second"] and seen_b == ["first", "second"]
    with structure.capture(a, lambda n, y: seen_a.append(n) or y, watch={"first"}):
        with structure.capture(a, lambda n, y: seen_b.append(n) or y, watch={"first"}):
            a(X)  # one instance watched twice: both blocks see it, once each
        assert type(a.first) is not nnx.Linear  # still the outer block's
    assert type(a.first) is nnx.Linear
    assert seen_a == ["first", "second", "first"] and seen_b == ["first", "second", "first"]


def test_nnx_failing_call_restores_every_class():
    model = Pair(nnx.Rngs(0), fail=True)
    seen = []
    with pytest.raises(RuntimeError, match="boom"):
        with structure.capture(model, lambda n, y: seen.append(n) or y):
            model(X)
    assert seen == ["first"]
    assert type(model.first) is nnx.Linear and type(model.second) is nnx.Linear
    model.fail = False
    model(X)  # no block is left active
    assert seen == ["first"]


def test_linen_hook_watch_and_calls_and_a_failing_call_leaves_nothing():
    model = nn.Sequential([nn.Dense(4), nn.relu, nn.Dense(3)])
    variables = model.init(jax.random.key(0), X)
    plain = model.apply(variables, X)
    with structure.capture(model, _zero, watch={"layers_2"}) as calls:
        out = model.apply(variables, X)
    np.testing.assert_array_equal(out, jnp.zeros_like(plain))
    assert [(c.name, c.method) for c in calls] == [("", "__call__"), ("layers_0", "__call__"),
                                                  ("layers_2", "__call__")]

    class Broken(nn.Module):
        @nn.compact
        def __call__(self, x):
            nn.Dense(4)(x)
            raise RuntimeError("boom")

    seen = []
    with pytest.raises(RuntimeError, match="boom"):
        with structure.capture(Broken(), lambda n, y: seen.append(n) or y):
            Broken().init(jax.random.key(0), X)
    assert seen == ["Dense_0"]
    np.testing.assert_array_equal(model.apply(variables, X), plain)  # no interceptor left
    assert seen == ["Dense_0"]


def test_layers_linen_and_nnx():
    class Net(nn.Module):
        @nn.compact
        def __call__(self, x):
            self.param("scale", nn.initializers.ones, (4,))
            self.variable("params", "spare", jnp.zeros, (1,))
            return nn.Dense(3, name="head")(nn.LayerNorm(name="norm")(x))

    variables = Net().init(jax.random.key(0), X)
    variables = {"params": {**variables["params"], "unused": {"kernel": jnp.zeros((2, 2))}}}
    found = structure.layers(Net(), X, params=variables)
    assert [(f.name, f.cls and f.cls.__name__, f.kernel, f.order) for f in found] == [
        ("", "Net", None, 2), ("norm", "LayerNorm", None, 0),
        ("head", "Dense", "params/head/kernel", 1), ("unused", None, "params/unused/kernel", None)]

    model = Pair(nnx.Rngs(0))
    model.spare = nnx.Linear(3, 3, rngs=nnx.Rngs(2))
    found = structure.layers(model, X)
    assert [(f.name, f.cls, f.kernel, f.order) for f in found] == [
        ("first", nnx.Linear, "first/kernel", 0), ("second", nnx.Linear, "second/kernel", 1),
        ("spare", nnx.Linear, "spare/kernel", None)]
    assert type(model.first) is nnx.Linear


def test_capture_and_layers_refuse_other_models():
    with pytest.raises(TypeError, match=r"structure.capture\(\): model=.* is not a model whose "
                                        r"layers jinit can watch"):
        with structure.capture(lambda x: x):
            pass
    with pytest.raises(TypeError, match=r"structure.layers\(\): params=None has no 'params'"):
        structure.layers(nn.Dense(3), X)


def test_signal_taps_a_subclass_calling_super_once():
    """Patching classes made a subclass's ``super().__call__`` report a second time."""

    class Doubled(nnx.Linear):
        def __call__(self, x):
            return 2 * super().__call__(x)

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.first = nnx.Linear(4, 4, rngs=rngs)
            self.doubled = Doubled(4, 4, rngs=rngs)

        def __call__(self, x):
            return self.doubled(self.first(x))

    sig = audit.signal(Net(nnx.Rngs(0)), X)
    assert sig.layers == ["first", "doubled"]
    assert Doubled.__call__.__qualname__.endswith("Doubled.__call__")
