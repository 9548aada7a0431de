"""jinit.tree: whole-tree init — per-leaf keys, rules, boxes, errors, statistics."""

import hashlib
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jinit
from jinit.tree import init_tree, leaf_key, path_str

Z = 4.9  # two-sided normal quantile for a false-failure rate of about 1e-6 per check

SHAPES = {
    "params": {
        "embed": {"embedding": jax.ShapeDtypeStruct((50, 16), jnp.float32)},
        "dense": {"kernel": jax.ShapeDtypeStruct((16, 32), jnp.float32),
                  "bias": jax.ShapeDtypeStruct((32,), jnp.float32)},
        "blocks": [{"kernel": jax.ShapeDtypeStruct((32, 32), jnp.float32)} for _ in range(2)],
    }
}
RULES = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros, r"embedding$": jinit.normal(0.02)}
DENSE_RULES = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros}  # for trees without embeddings


def expected_key(key, path):
    """The documented key derivation, written out independently of jinit.tree."""
    digest = hashlib.blake2b(path.encode("utf-8"), digest_size=8).digest()
    h0, h1 = int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")
    return jax.random.fold_in(jax.random.fold_in(key, np.uint32(h0)), np.uint32(h1))


def jitted(init, key, shape, dtype=jnp.float32):
    """The initializer under its own jit: XLA may fold a scale into the sampler's constants
    (1 ulp from an eager call, in jax.nn.initializers too), and init_tree is one jit."""
    return jax.jit(init, static_argnums=(1, 2))(key, shape, dtype)


def test_path_str_renders_dict_sequence_and_attribute_keys():
    flat = jax.tree_util.tree_flatten_with_path(SHAPES)[0]
    assert [path_str(p) for p, _ in flat] == [
        "params/blocks/0/kernel", "params/blocks/1/kernel", "params/dense/bias",
        "params/dense/kernel", "params/embed/embedding"]


def test_each_leaf_is_its_initializer_at_its_path_key():
    key = jax.random.key(3)
    out = init_tree(key, SHAPES, RULES)
    p = out["params"]
    want = jinit.he_normal()(expected_key(key, "params/dense/kernel"), (16, 32), jnp.float32)
    assert np.array_equal(p["dense"]["kernel"], want)
    want = jinit.he_normal()(expected_key(key, "params/blocks/1/kernel"), (32, 32), jnp.float32)
    assert np.array_equal(p["blocks"][1]["kernel"], want)
    want = jitted(jinit.normal(0.02), expected_key(key, "params/embed/embedding"), (50, 16))
    assert np.array_equal(p["embed"]["embedding"], want)
    assert np.array_equal(p["dense"]["bias"], np.zeros(32, np.float32))
    assert np.array_equal(jax.random.key_data(leaf_key(key, "a/b")),
                          jax.random.key_data(expected_key(key, "a/b")))


def test_legacy_key_and_typed_key_both_work():
    a = init_tree(jax.random.PRNGKey(0), SHAPES, RULES)
    want = jinit.he_normal()(expected_key(jax.random.PRNGKey(0), "params/dense/kernel"), (16, 32))
    assert np.array_equal(a["params"]["dense"]["kernel"], want)


def test_adding_or_removing_a_leaf_leaves_the_others_unchanged():
    key = jax.random.key(0)
    base = init_tree(key, SHAPES, RULES)
    more = {"params": dict(SHAPES["params"], extra={"kernel": jax.ShapeDtypeStruct((8, 8), jnp.float32)})}
    grown = init_tree(key, more, RULES)
    less = {"params": {"dense": SHAPES["params"]["dense"]}}
    shrunk = init_tree(key, less, DENSE_RULES)
    for k in ("embed", "dense", "blocks"):
        jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), base["params"][k], grown["params"][k])
    np.testing.assert_array_equal(base["params"]["dense"]["kernel"], shrunk["params"]["dense"]["kernel"])


def test_leaves_are_independent_and_the_check_rejects_a_shared_key():
    # Two same-shape leaves: their sample correlation over n entries is ~N(0, 1/n) when
    # independent, so |r| <= Z/sqrt(n); a leaf drawn with the other's key has r = 1.
    shapes = {"a": jax.ShapeDtypeStruct((256, 256), jnp.float32),
              "b": jax.ShapeDtypeStruct((256, 256), jnp.float32)}
    out = init_tree(jax.random.key(0), shapes, None, default=jinit.normal(1.0))
    a, b = (np.asarray(out[k], np.float64).ravel() for k in "ab")
    n = a.size
    assert abs(np.corrcoef(a, b)[0, 1]) <= Z / math.sqrt(n)
    same = np.asarray(jinit.normal(1.0)(leaf_key(jax.random.key(0), "a"), (256, 256)), np.float64).ravel()
    assert not abs(np.corrcoef(a, same)[0, 1]) <= Z / math.sqrt(n)  # negative control


def test_leaf_variance_matches_the_rule_and_rejects_the_wrong_rule():
    # He normal on (1024, 256): Var = 2/fan_in; truncated normal kurtosis < 3, so the sample
    # variance's half-width is at most Z * sigma^2 * sqrt(2/n).
    shapes = {"kernel": jax.ShapeDtypeStruct((1024, 256), jnp.float32)}
    w = np.asarray(init_tree(jax.random.key(5), shapes, {r"kernel$": jinit.he_normal()})["kernel"],
                   np.float64)
    n, var = w.size, 2.0 / 1024
    half = Z * var * math.sqrt(2.0 / n)
    assert abs(w.var() - var) <= half
    assert not abs(w.var() - 1.0 / 1024) <= Z * (1.0 / 1024) * math.sqrt(2.0 / n)  # LeCun: rejected


def test_first_matching_rule_wins_in_order():
    shapes = {"dense": {"kernel": jax.ShapeDtypeStruct((4, 4), jnp.float32),
                        "bias": jax.ShapeDtypeStruct((4,), jnp.float32)},
              "head": {"kernel": jax.ShapeDtypeStruct((4, 2), jnp.float32)}}
    out = init_tree(jax.random.key(0), shapes, [(r"dense", jinit.ones), (r"kernel", jinit.zeros)])
    assert float(out["dense"]["kernel"].min()) == 1.0
    assert float(out["head"]["kernel"].max()) == 0.0
    out = init_tree(jax.random.key(0), shapes, [(re.compile("kernel"), jinit.zeros), ("dense", jinit.ones)])
    assert float(out["dense"]["kernel"].max()) == 0.0
    assert float(out["dense"]["bias"].min()) == 1.0


def test_rule_function_gets_path_shape_dtype_and_may_fall_through_to_default():
    seen = []

    def rule(path, shape, dtype):
        seen.append((path, shape, dtype))
        return jinit.ones if len(shape) == 2 else None

    shapes = {"w": jax.ShapeDtypeStruct((3, 2), jnp.bfloat16), "b": jax.ShapeDtypeStruct((2,), jnp.float32)}
    out = init_tree(jax.random.key(0), shapes, rule, default=jinit.zeros)
    assert sorted(seen) == [("b", (2,), np.dtype("float32")), ("w", (3, 2), np.dtype(jnp.bfloat16))]
    assert out["w"].dtype == jnp.bfloat16 and float(out["w"].min()) == 1.0
    assert float(out["b"].max()) == 0.0


def test_dtype_overrides_every_leaf():
    out = init_tree(jax.random.key(0), SHAPES, RULES, dtype=jnp.bfloat16)
    assert {x.dtype for x in jax.tree.leaves(out)} == {np.dtype(jnp.bfloat16)}


def test_arrays_as_leaves_and_empty_tree():
    out = init_tree(jax.random.key(0), {"w": jnp.ones((3, 5))}, None, default=jinit.he_uniform())
    assert out["w"].shape == (3, 5)
    assert init_tree(jax.random.key(0), {}, RULES) == {}


def test_jax_initializers_work_as_rules():
    out = init_tree(jax.random.key(0), SHAPES, {"kernel": jax.nn.initializers.he_normal()},
                    default=jax.nn.initializers.zeros)
    want = jax.nn.initializers.he_normal()(expected_key(jax.random.key(0), "params/dense/kernel"), (16, 32))
    assert np.array_equal(out["params"]["dense"]["kernel"], want)


class Counting:
    """An initializer that counts how often it is traced or called."""

    def __init__(self, init):
        self.init, self.calls = init, 0

    def __call__(self, key, shape, dtype=None):
        self.calls += 1
        return self.init(key, shape, dtype)


def test_repeated_blocks_share_one_program_and_keep_their_own_values():
    # Six identical blocks: one trace (which is also the shape/dtype check) for the whole
    # kernel group, not one per leaf; each leaf is still its initializer under its own key.
    kernel = Counting(jinit.he_normal())
    blocks = {f"h_{i}": {"kernel": jax.ShapeDtypeStruct((16, 32), jnp.float32),
                         "bias": jax.ShapeDtypeStruct((32,), jnp.float32)} for i in range(6)}
    shapes = dict(blocks, head={"kernel": jax.ShapeDtypeStruct((32, 8), jnp.float32)})
    key = jax.random.key(4)
    out = init_tree(key, shapes, {r"kernel$": kernel, r"bias$": jinit.zeros})
    assert kernel.calls == 2  # one trace for (16, 32), one for (32, 8)
    for name in list(blocks) + ["head"]:
        w = out[name]["kernel"]
        want = jitted(jinit.he_normal(), expected_key(key, f"{name}/kernel"), tuple(w.shape))
        assert np.array_equal(w, want), name
    # negative control: a shared program that reused one key would make the blocks equal
    assert not np.array_equal(out["h_0"]["kernel"], out["h_1"]["kernel"])


def test_same_shape_leaves_with_different_shardings_are_placed_apart():
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((8,), ("x",))
    shapes = {k: jax.ShapeDtypeStruct((16, 32), jnp.float32) for k in "abc"}
    specs = {"a": P("x", None), "b": P(None, "x"), "c": P()}
    shardings = {k: NamedSharding(mesh, s) for k, s in specs.items()}
    init = Counting(jinit.normal(1.0))
    out = init_tree(jax.random.key(6), shapes, None, default=init, shardings=shardings)
    assert init.calls == 3  # one program (one trace) per sharding
    ref = init_tree(jax.random.key(6), shapes, None, default=jinit.normal(1.0))
    for k, spec in specs.items():
        assert out[k].sharding.is_equivalent_to(NamedSharding(mesh, spec), 2), k
        assert np.array_equal(out[k], ref[k]), k
    assert {s.data.shape for s in out["a"].addressable_shards} == {(2, 32)}
    assert {s.data.shape for s in out["b"].addressable_shards} == {(16, 4)}


# ---------------------------------------------------------------------------- flax


def test_flax_linen_partitioned_boxes_are_kept_and_apply_runs():
    nn = pytest.importorskip("flax.linen")

    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(32, kernel_init=nn.with_partitioning(jinit.he_normal(), (None, "model")))(x)
            return nn.Dense(4)(nn.relu(x))

    model = MLP()
    x = jnp.ones((2, 8))
    shapes = jax.eval_shape(model.init, jax.random.key(0), x)
    params = init_tree(jax.random.key(1), shapes, DENSE_RULES)
    box = params["params"]["Dense_0"]["kernel"]
    assert isinstance(box, nn.Partitioned) and box.names == (None, "model")
    want = jinit.he_normal()(expected_key(jax.random.key(1), "params/Dense_0/kernel"), (8, 32))
    assert np.array_equal(box.value, want)
    assert model.apply(params, x).shape == (2, 4)


def test_flax_nnx_param_state():
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(8, 16, rngs=rngs)
            self.l2 = nnx.Linear(16, 4, rngs=rngs)

        def __call__(self, x):
            return self.l2(nnx.relu(self.l1(x)))

    abstract = nnx.eval_shape(lambda: MLP(nnx.Rngs(0)))
    graphdef, params = nnx.split(abstract, nnx.Param)
    new = init_tree(jax.random.key(2), params, DENSE_RULES)
    model = nnx.merge(graphdef, new)
    want = jinit.he_normal()(expected_key(jax.random.key(2), "l1/kernel"), (8, 16))
    assert np.array_equal(model.l1.kernel[...], want)
    assert float(jnp.abs(model.l2.bias[...]).max()) == 0.0
    assert model(jnp.ones((3, 8))).shape == (3, 4)


# --------------------------------------------------------------------------- errors


def test_unmatched_leaf_names_its_path():
    with pytest.raises(ValueError, match=r"init_tree\(\): shapes\['params/embed/embedding'\]=.* "
                                         r"matches no rule \(patterns tried: 'kernel\$', 'bias\$'\); "
                                         r"expected a rule for every leaf\. .*default="):
        init_tree(jax.random.key(0), SHAPES, {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros})


def test_bad_rules_are_rejected():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"rules='\(kernel' is not a valid regular expression"):
        init_tree(key, SHAPES, {"(kernel": jinit.zeros})
    with pytest.raises(TypeError, match=r"rules\['kernel'\]=3 is not callable"):
        init_tree(key, SHAPES, {"kernel": 3})
    with pytest.raises(TypeError, match=r"rules=5 has a pattern that is not a string"):
        init_tree(key, SHAPES, {5: jinit.zeros})
    with pytest.raises(TypeError, match=r"rules=jinit.he_normal\(.*\) is an initializer, not a set of rules.*default="):
        init_tree(key, SHAPES, jinit.he_normal())
    with pytest.raises(TypeError, match=r"rules='kernel' is not a \(pattern, value\) pair"):
        init_tree(key, SHAPES, ["kernel"])
    with pytest.raises(TypeError, match=r"rules=7 is not a set of rules"):
        init_tree(key, SHAPES, 7)
    with pytest.raises(TypeError, match=r"default=1\.0 is not callable"):
        init_tree(key, SHAPES, RULES, default=1.0)
    with pytest.raises(TypeError, match=r"init_tree\(\): key=0 is not a PRNG key"):
        init_tree(0, SHAPES, RULES)


def test_initializer_with_wrong_shape_or_dtype_names_the_leaf():
    def flat(key, shape, dtype=None):
        return jnp.zeros((math.prod(shape),), dtype)

    def wrong_dtype(key, shape, dtype=None):
        return jnp.zeros(shape, jnp.bfloat16)

    with pytest.raises(ValueError, match=r"returned shape \(1024,\) float32 for leaf 'params/blocks/0/kernel'; "
                                         r"expected shape \(32, 32\) float32"):
        init_tree(jax.random.key(0), SHAPES, {"kernel": flat}, default=jinit.zeros)
    with pytest.raises(ValueError, match=r"returned shape \(32,\) bfloat16 for leaf 'params/dense/bias'"):
        init_tree(jax.random.key(0), SHAPES, {"bias": wrong_dtype}, default=jinit.zeros)


def test_initializer_errors_are_reraised_with_the_leaf_path():
    shapes = {"params": {"bias": jax.ShapeDtypeStruct((8,), jnp.float32)}}
    with pytest.raises(ValueError, match=r"init_tree\(\): leaf 'params/bias' \(shape \(8,\), float32\), "
                                         r"initialized by default=.*he_normal.*has 1 axis"):
        init_tree(jax.random.key(0), shapes, None, default=jinit.he_normal())
    ints = {"step": jax.ShapeDtypeStruct((), jnp.int32)}
    with pytest.raises(TypeError, match=r"leaf 'step' .* dtype=int32 is not inexact"):
        init_tree(jax.random.key(0), ints, None, default=jinit.zeros)


def test_bad_leaves_and_duplicate_paths():
    with pytest.raises(TypeError, match=r"shapes\['w'\]='abc' has no shape and dtype"):
        init_tree(jax.random.key(0), {"w": "abc"}, None, default=jinit.zeros)
    dup = {"a/b": jax.ShapeDtypeStruct((2,), jnp.float32), "a": {"b": jax.ShapeDtypeStruct((2,), jnp.float32)}}
    with pytest.raises(ValueError, match=r"shapes='a/b' names two leaves"):
        init_tree(jax.random.key(0), dup, None, default=jinit.zeros)


def test_sharding_tree_that_does_not_match_is_rejected():
    with pytest.raises(ValueError, match=r"shardings=.* does not match the structure of shapes"):
        init_tree(jax.random.key(0), SHAPES, RULES, shardings={"other": None})
    with pytest.raises(TypeError, match=r"shardings\['b'\]='x' is not a sharding"):
        init_tree(jax.random.key(0), {"b": jax.ShapeDtypeStruct((2,), jnp.float32)}, RULES,
                  shardings={"b": "x"})


# ------------------------------------------------------------ rules that say they are wrong


def test_rule_that_matches_nothing_warns_naming_the_pattern_and_the_closest_paths():
    from jinit.tree import UnmatchedRuleWarning

    rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros, r"kernal$": jinit.ones}
    with pytest.warns(UnmatchedRuleWarning) as record:
        out = init_tree(jax.random.key(0), SHAPES, rules, default=jinit.zeros)
    assert len(record) == 1
    text = str(record[0].message)
    assert text.startswith("init_tree(): rules='kernal$' has a pattern that matched no leaf; ")
    assert "Closest paths: 'params/dense/kernel'" in text and "'params/blocks/" in text
    assert "'kernel$'" not in text and "'bias$'" not in text  # live rules are not reported
    assert out["params"]["dense"]["kernel"].shape == (16, 32)  # the call still completes


def test_strict_turns_an_unmatched_rule_into_an_error_and_accepts_live_rules():
    rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros, r"kernal$": jinit.ones}
    with pytest.raises(ValueError, match=r"init_tree\(\): rules='kernal\$' has a pattern that "
                                         r"matched no leaf; .*Closest paths: "):
        init_tree(jax.random.key(0), SHAPES, rules, default=jinit.zeros, strict=True)
    out = init_tree(jax.random.key(0), SHAPES, RULES, strict=True)  # every rule matches: quiet
    assert set(jax.tree.leaves(jax.tree.map(lambda x: x.dtype, out))) == {np.dtype("float32")}


def test_a_rule_shadowed_by_an_earlier_one_is_reported():
    shapes = {"dense": {"kernel": jax.ShapeDtypeStruct((4, 4), jnp.float32)}}
    with pytest.raises(ValueError, match=r"rules='kernel' has a pattern that matched no leaf"):
        init_tree(jax.random.key(0), shapes, [("dense", jinit.ones), ("kernel", jinit.zeros)],
                  strict=True)


def _nnx_mlp_state():
    nnx = pytest.importorskip("flax.nnx")

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(8, 16, rngs=rngs)
            self.l2 = nnx.Linear(16, 4, rngs=rngs)

    abstract = nnx.eval_shape(lambda: MLP(nnx.Rngs(0)))
    return nnx.split(abstract, nnx.Param)


def test_nnx_rule_written_with_value_suffix_warns_instead_of_zeroing_silently():
    # The reported case: path_str of an nnx.State once showed 'l1/kernel/value'; a rule
    # 'kernel/value$' matched nothing and, with default=jinit.zeros, every kernel was 0.
    from jinit.tree import UnmatchedRuleWarning

    _, params = _nnx_mlp_state()
    with pytest.warns(UnmatchedRuleWarning, match=r"rules='kernel/value\$' has a pattern that "
                                                  r"matched no leaf.*Closest paths: 'l\d/kernel'"):
        init_tree(jax.random.key(0), params, {r"kernel/value$": jinit.he_normal()},
                  default=jinit.zeros)
    with pytest.raises(ValueError, match=r"kernel/value"):
        init_tree(jax.random.key(0), params, {r"kernel/value$": jinit.he_normal()},
                  default=jinit.zeros, strict=True)


def test_path_str_of_an_nnx_state_drops_the_value_attribute_and_equals_init_tree_paths():
    nnx = pytest.importorskip("flax.nnx")
    _, params = _nnx_mlp_state()
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    raw = [p for p, _ in flat]
    assert any(isinstance(p[-1], jax.tree_util.GetAttrKey) and p[-1].name == "value" for p in raw)
    names = [path_str(p) for p in raw]
    assert names == ["l1/bias", "l1/kernel", "l2/bias", "l2/kernel"]
    boxed = jax.tree_util.tree_flatten_with_path(
        params, is_leaf=lambda x: isinstance(x, nnx.Variable))[0]
    assert [path_str(p) for p, _ in boxed] == names
    # init_tree names (and so keys) the leaves by exactly these strings
    seen = []
    init_tree(jax.random.key(0), params, lambda path, shape, dtype: seen.append(path) or jinit.zeros)
    assert sorted(seen) == names
    # only a trailing box attribute is dropped: an attribute named value mid-path stays
    path = (jax.tree_util.GetAttrKey("value"), jax.tree_util.DictKey("w"))
    assert path_str(path) == "value/w"
    assert path_str((jax.tree_util.GetAttrKey("value"),)) == "value"


def test_uncalled_factory_as_a_rule_is_a_type_error_at_compile_time():
    from jinit import _base

    @_base.factory
    def my_normal(stddev=1.0):
        return jinit.normal(stddev)

    my_normal.__module__ = "jinit"
    traced = Counting(jinit.zeros)
    with pytest.raises(TypeError, match=r"init_tree\(\): rules\['kernel\$'\]=.* is the factory "
                                        r"jinit\.my_normal, not an initializer; .*Did you mean "
                                        r"jinit\.my_normal\(\)\?"):
        init_tree(jax.random.key(0), SHAPES, {r"kernel$": my_normal, r"bias$": traced})
    assert traced.calls == 0  # caught while compiling the rules, before any leaf is drawn
    with pytest.raises(TypeError, match=r"default=.* Did you mean jinit\.my_normal\(\)\?"):
        init_tree(jax.random.key(0), SHAPES, None, default=my_normal)
    with pytest.raises(TypeError, match=r"Did you mean jinit\.my_normal\(\)\?"):
        init_tree(jax.random.key(0), SHAPES, lambda p, s, d: my_normal)
    # the called factory is an initializer and works
    out = init_tree(jax.random.key(0), SHAPES, None, default=my_normal(0.5))
    assert out["params"]["dense"]["kernel"].shape == (16, 32)


def test_uncalled_public_factory_he_normal_names_the_call():
    with pytest.raises(TypeError, match=r"Did you mean jinit\.he_normal\(\)\?"):
        init_tree(jax.random.key(0), SHAPES, {r"kernel$": jinit.he_normal}, default=jinit.zeros)


# ------------------------------------------------------------------ compiled programs


def test_a_second_call_compiles_nothing_and_gives_the_same_values():
    from jinit import _programs

    shapes = {"a": {"kernel": jax.ShapeDtypeStruct((24, 40), jnp.float32),
                    "bias": jax.ShapeDtypeStruct((40,), jnp.float32)},
              "b": {"kernel": jax.ShapeDtypeStruct((40, 24), jnp.bfloat16)}}

    def rules():  # fresh initializer objects each time, as a re-run script makes them
        return {r"kernel$": jinit.normal(0.02), r"bias$": jinit.zeros}

    key = jax.random.key(8)
    _programs.clear()
    first = init_tree(key, shapes, rules())
    # one packed draw per (law, dtype): normal in float32, normal in bfloat16; the zeros
    # bias is filled on the host
    assert _programs.stats["compiled"] == 2
    second = init_tree(key, shapes, rules())
    assert _programs.stats["compiled"] == 2  # nothing compiled again
    jax.tree.map(np.testing.assert_array_equal, first, second)
    # a different scale is the same law (the scale is data): nothing compiled, and the
    # values differ (negative control: the scale is not baked into the program)
    third = init_tree(key, shapes, {r"kernel$": jinit.normal(0.03), r"bias$": jinit.zeros})
    assert _programs.stats["compiled"] == 2
    assert not np.array_equal(third["a"]["kernel"], first["a"]["kernel"])
    want = jitted(jinit.normal(0.03), expected_key(key, "b/kernel"), (40, 24), jnp.bfloat16)
    assert np.array_equal(third["b"]["kernel"], want)
    # a per-shape program (an initializer jinit does not know) is still one per shape
    init_tree(key, shapes, {r"kernel$": jax.nn.initializers.normal(0.02), r"bias$": jinit.zeros})
    assert _programs.stats["compiled"] == 4


def test_program_descriptions_tell_initializers_apart_by_what_they_compute():
    from jinit._programs import describe

    assert describe(jinit.normal(0.02)) == describe(jinit.normal(0.02))
    assert describe(jinit.normal(0.02)) != describe(jinit.normal(0.03))
    assert describe(jinit.normal(0.0)) != describe(jinit.normal(-0.0))  # sign bit differs
    assert describe(jinit.he_normal()) != describe(jinit.he_normal(in_axis=0))
    assert describe(jinit.he_normal()) != describe(jinit.lecun_normal())
    assert describe(jinit.zeros) == describe(jinit.zeros)
    J = jax.nn.initializers
    assert describe(J.normal(0.02)) == describe(J.normal(0.02))
    assert describe(J.normal(0.02)) != describe(J.normal(0.5))
    assert describe(J.normal(0.02)) != describe(J.uniform(0.02))
    assert describe(jinit.constant(np.ones(3))) != describe(jinit.constant(np.full(3, 2.0)))
    assert describe(Counting(jinit.zeros)) is None  # unknown objects are keyed by identity


def test_programs_compiled_concurrently_give_each_leaf_its_own_values():
    # Many distinct programs in one call (compiled in worker threads, run as they finish):
    # every leaf equals its initializer under jit at its own key.
    inits = [jinit.normal(0.5), jinit.uniform(0.1), jinit.truncated_normal(0.3),
             jinit.glorot_uniform(), jinit.he_normal(), jinit.zeros]
    shapes = {f"l{i}": jax.ShapeDtypeStruct((16 + i, 8 + 3 * i), jnp.float32)
              for i in range(len(inits))}
    rules = [(f"^l{i}$", init) for i, init in enumerate(inits)]
    key = jax.random.key(9)
    out = init_tree(key, shapes, rules)
    for i, init in enumerate(inits):
        want = jitted(init, expected_key(key, f"l{i}"), shapes[f"l{i}"].shape)
        assert np.array_equal(out[f"l{i}"], want), i


_CACHE_CHILD = r"""
import hashlib, json, jax, jax.numpy as jnp, numpy as np, jinit
events = {"hits": 0, "misses": 0}
def listen(event, **kwargs):
    if event == "/jax/compilation_cache/cache_hits":
        events["hits"] += 1
    if event == "/jax/compilation_cache/cache_misses":
        events["misses"] += 1
jax.monitoring.register_event_listener(listen)
shapes = {"h": [{"kernel": jax.ShapeDtypeStruct((32, 48), jnp.float32),
                 "bias": jax.ShapeDtypeStruct((48,), jnp.float32)} for _ in range(3)],
          "embedding": jax.ShapeDtypeStruct((100, 32), jnp.bfloat16)}
rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros, r"embedding$": jinit.normal(0.02)}
out = jinit.tree.init_tree(jax.random.key(0), shapes, rules)
digest = hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in jax.tree.leaves(out))).hexdigest()
print(json.dumps(dict(events, compiled=jinit._programs.stats["compiled"], digest=digest)))
"""


def test_persistent_compilation_cache_is_written_then_reused_by_a_second_process(tmp_path):
    # jax's persistent compilation cache, as the README documents it for init_tree: the
    # first process compiles and writes every program, the second reads every one back.
    import json
    import os
    import subprocess
    import sys

    cache = tmp_path / "jax-cache"
    env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    env.pop("XLA_FLAGS", None)

    def child():
        out = subprocess.run([sys.executable, "-c", _CACHE_CHILD], env=env, capture_output=True,
                             text=True, timeout=300, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = child()  # two draws (he_normal, normal); the zeros biases are host fills
    assert first["compiled"] == 2 and first["hits"] == 0 and first["misses"] >= 2
    written = sorted(p.name for p in cache.iterdir())
    assert len(written) >= 2
    second = child()
    assert second["hits"] >= 2 and second["misses"] == 0  # every program read back
    assert sorted(p.name for p in cache.iterdir()) == written  # nothing new written
    assert second["digest"] == first["digest"]


def test_init_tree_under_vmap_and_jit_equals_the_plain_call():
    # A traced key (init_tree inside jax.vmap or jax.jit): programs are traced into the
    # caller's computation instead of run compiled; values are those of the plain call.
    keys = jax.random.split(jax.random.key(10), 3)
    batched = jax.vmap(lambda k: init_tree(k, SHAPES, RULES))(keys)
    jitted_call = jax.jit(lambda k: init_tree(k, SHAPES, RULES))(keys[1])
    for i in range(3):
        plain = init_tree(keys[i], SHAPES, RULES)
        jax.tree.map(lambda a, b, i=i: np.testing.assert_array_equal(a[i], b), batched, plain)
        if i == 1:
            jax.tree.map(np.testing.assert_array_equal, jitted_call, plain)


def test_host_derived_leaf_keys_equal_leaf_key_for_every_key_kind():
    # init_tree folds threefry keys on the host (no program); each must equal leaf_key's
    # jax.random.fold_in. Other implementations (rbg) go through jax and must agree too.
    from jinit.tree import _leaf_keys

    paths = [f"params/h_{i}/attn/c_attn/kernel" for i in range(40)] + ["", "ü/é", "x" * 500]
    roots = [jax.random.key(0), jax.random.key(2**31 + 5), jax.random.PRNGKey(7),
             jax.random.key(3, impl="rbg")]
    for root in roots:
        got = _leaf_keys(root, paths)
        for path, k in zip(paths, got, strict=True):
            want = jinit.tree.leaf_key(root, path)
            assert k.dtype == want.dtype and k.shape == want.shape
            data = jax.random.key_data if jax.dtypes.issubdtype(k.dtype, jax.dtypes.prng_key) \
                else (lambda x: x)
            assert np.array_equal(data(k), data(want)), (root, path)
    # negative control: two paths never share a key
    datas = {tuple(np.asarray(jax.random.key_data(k))) for k in _leaf_keys(roots[0], paths)}
    assert len(datas) == len(paths)


def test_audit_fresh_draws_use_keys_init_tree_never_draws_with():
    # The audit's two-sample tests need a fresh draw independent of the leaf: leaf_key of
    # the audit's default seed would redraw the leaf init_tree drew with jax.random.key(0).
    from jinit.audit._check import fresh_key

    paths = [f"params/h_{i}/mlp/c_fc/kernel" for i in range(20)]
    drawn = {tuple(np.asarray(jax.random.key_data(leaf_key(jax.random.key(s), p))))
             for s in range(3) for p in paths}
    fresh = {tuple(np.asarray(jax.random.key_data(fresh_key(s, p))))
             for s in range(3) for p in paths}
    assert len(fresh) == len(drawn) == 60 and not fresh & drawn
    # the draw the audit compares with is not the leaf (with leaf_key it would be)
    shapes = {paths[0]: jax.ShapeDtypeStruct((64, 32), jnp.float32)}
    leaf = init_tree(jax.random.key(0), shapes, {".*": jinit.he_normal()})[paths[0]]
    same = jinit.he_normal()(leaf_key(jax.random.key(0), paths[0]), (64, 32))
    other = jinit.he_normal()(fresh_key(0, paths[0]), (64, 32))
    assert np.array_equal(same, leaf) and not np.any(np.asarray(other) == np.asarray(leaf))


def test_host_buffers_are_placed_without_a_copy_on_a_cpu(monkeypatch):
    """A constant leaf and a leaf assembled from pieces are numpy buffers handed to
    jax.device_put; on a CPU it keeps them (one buffer of the leaf's size, not two) when they
    are aligned, which numpy's own allocations are not."""
    from jinit import _packing
    from jinit.recipes._recipe import split

    if jax.default_backend() != "cpu":
        pytest.skip("device_put copies to an accelerator by design")
    kept, put = [], jax.device_put

    def spy(x, *args, **kwargs):
        out = put(x, *args, **kwargs)
        if isinstance(x, np.ndarray) and x.size:
            kept.append(out.unsafe_buffer_pointer() == x.ctypes.data)
        return out

    monkeypatch.setattr(jax, "device_put", spy)
    shapes = {"bias": jax.ShapeDtypeStruct((1000, 33), jnp.float32),
              "w": jax.ShapeDtypeStruct((48, 3 * 40), jnp.bfloat16)}
    rules = {"bias": jinit.ones, "w": split("w", 1, [jinit.normal(0.02)] * 3)}
    out = init_tree(jax.random.key(3), shapes, rules)
    assert np.all(np.asarray(out["bias"]) == 1)
    # one fill and one assembled leaf, each kept (the packed leaves are views, also kept)
    assert len(kept) >= 2 and all(kept), kept
    # negative control: a buffer 16 bytes off the alignment is copied, so the spy can fail
    unaligned = _packing.host_buffer((1004,), np.float32)[4:]
    assert unaligned.ctypes.data % _packing.HOST_ALIGN == 16
    assert put(unaligned).unsafe_buffer_pointer() != unaligned.ctypes.data


def test_host_fills_equal_the_initializers_in_every_dtype():
    shapes = {f"b{i}": jax.ShapeDtypeStruct((7, 3), dt) for i, dt in enumerate(
        (jnp.float32, jnp.bfloat16, jnp.float16, jnp.complex64, jnp.float8_e4m3fn))}
    for init in (jinit.zeros, jinit.ones):
        out = init_tree(jax.random.key(0), shapes, {".*": init})
        for name, s in shapes.items():
            want = init(jax.random.key(0), s.shape, s.dtype)
            assert out[name].dtype == want.dtype and out[name].shape == want.shape
            assert np.array_equal(np.asarray(out[name]).view(np.uint8),
                                  np.asarray(want).view(np.uint8))
