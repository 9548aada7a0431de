"""jinit.tree's packed draws: one program per law, every leaf bit-identical to its own draw."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding, SingleDeviceSharding
from jax.sharding import PartitionSpec as P

import jinit
from jinit import _programs, _rules
from jinit.tree import init_tree, leaf_key, path_str

# Every scheme family the recipes use, each a single sampler call (so it is packed).
FAMILIES = {
    "normal": jinit.normal(0.02),
    "normal_wide": jinit.normal(3.0),
    "truncated_normal": jinit.truncated_normal(0.3),
    "truncated_asym": jinit.truncated_normal(0.5, lower=-1.0, upper=3.0),
    "uniform": jinit.uniform(0.1),
    "he_normal": jinit.he_normal(),
    "lecun_normal": jinit.lecun_normal(),
    "glorot_uniform": jinit.glorot_uniform(),
    **{f"vs_{mode}_{dist}": jinit.variance_scaling(1.7, mode, dist)
       for mode in ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
       for dist in ("normal", "truncated_normal", "uniform")},
    "zeros": jinit.zeros,
    "ones": jinit.ones,
    "constant": jinit.constant(0.1),
    "constant_neg": jinit.constant(-3.5),
}
# Sizes below, at and across the block size, a conv kernel, a vector of odd length.
SHAPES = [(16, 32), (33, 31), (1024, 1), (1025, 3), (3, 3, 4, 8), (7, 1), (130, 70)]


def per_leaf(init, key, path, shape, dtype):
    """The leaf as its own initializer's call under jit at its path's key (the contract)."""
    return jax.jit(init, static_argnums=(1, 2))(leaf_key(key, path), shape, dtype)


def bits(x):
    return np.asarray(x).view(np.uint8)


def family_tree(dtype):
    shapes, rules = {}, []
    for f, (name, init) in enumerate(FAMILIES.items()):
        for s, shape in enumerate((SHAPES * 2)[2 * f % len(SHAPES):][:2]):
            shapes[f"{name}/w{s}"] = jax.ShapeDtypeStruct(shape, dtype)
        rules.append((f"^{name}/", init))
    return shapes, rules


def check_tree(key, dtype):
    shapes, rules = family_tree(dtype)
    _programs.clear()
    out = init_tree(key, shapes, rules)
    # normal, truncated normal (two bound pairs), uniform (two ranges): at most five laws
    # for the 7 shapes of 21 initializers; constants need no program
    assert _programs.stats["compiled"] <= 5
    for path, s in shapes.items():
        init = dict(rules)[f"^{path.split('/')[0]}/"]
        want = per_leaf(init, key, path, s.shape, s.dtype)
        assert out[path].dtype == want.dtype and out[path].shape == want.shape, path
        assert np.array_equal(bits(out[path]), bits(want)), path
    # negative control: a leaf's draw under another leaf's key is not what init_tree made
    other = per_leaf(FAMILIES["normal"], key, "normal/w1", SHAPES[0], dtype)
    assert not np.array_equal(bits(out["normal/w0"]), bits(other))


@pytest.mark.parametrize(("dtype", "kind"), [(jnp.float32, "typed"), (jnp.bfloat16, "typed"),
                                             (jnp.float16, "legacy"), (jnp.float32, "legacy")])
def test_packed_leaves_equal_their_own_draws(dtype, kind):
    key = jax.random.key(11) if kind == "typed" else jax.random.PRNGKey(11)
    check_tree(key, dtype)


def test_packed_leaves_equal_their_own_draws_in_float64(x64):
    check_tree(jax.random.key(12), jnp.float64)


def _many_shapes():
    # 48 kernels of 48 shapes, 48 biases, 48 embeddings
    return {f"layer{i}": {"kernel": jax.ShapeDtypeStruct((16 + i, 8 + 3 * i), jnp.float32),
                          "bias": jax.ShapeDtypeStruct((8 + 3 * i,), jnp.float32),
                          "embedding": jax.ShapeDtypeStruct((40 + i, 16), jnp.float32)}
            for i in range(48)}


def _count_compiles(fn):
    """The number of XLA compiles jax reports while ``fn`` runs (every program in the
    process, not jinit's own counter), and ``fn``'s result."""
    compiles = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        out = jax.block_until_ready(fn())
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    return len(compiles), out


def test_many_distinct_shapes_compile_at_most_four_programs():
    # The per-shape route would compile one program per (initializer, shape): 96 here.
    # Packed, it is one per law: truncated normal (he_normal) and normal.
    shapes = _many_shapes()
    rules = {r"kernel$": jinit.he_normal(), r"bias$": jinit.zeros,
             r"embedding$": jinit.normal(0.02)}
    key = jax.random.key(13)
    _programs.clear()
    count, out = _count_compiles(lambda: init_tree(key, shapes, rules))
    assert count <= 4 and _programs.stats["compiled"] == 2
    again, _ = _count_compiles(lambda: init_tree(key, shapes, rules))
    assert again == 0  # a second call compiles nothing
    for i in (0, 17, 47):
        for name, init in rules.items():
            leaf = name.strip("$")
            s = shapes[f"layer{i}"][leaf]
            want = per_leaf(init, key, f"layer{i}/{leaf}", s.shape, s.dtype)
            assert np.array_equal(out[f"layer{i}"][leaf], want), (i, leaf)


@pytest.mark.slow  # 48 compiles
def test_many_distinct_shapes_compile_one_program_each_when_not_packed():
    # negative control of the count: jax's own initializers are not jinit laws, so each
    # distinct kernel shape is a program of its own (counted the same way)
    kernels = {name: {"kernel": layer["kernel"]} for name, layer in _many_shapes().items()}
    _programs.clear()
    count, _ = _count_compiles(lambda: init_tree(
        jax.random.key(13), kernels, {r"kernel$": jax.nn.initializers.he_normal()}))
    assert count >= 48


def test_sharded_leaves_keep_their_programs_and_equal_the_packed_values():
    # 8 devices: NamedSharding leaves are written shard by shard where they live (their
    # own programs); unsharded and one-device leaves are packed. Every value equals the
    # unsharded call's, and each leaf lives where it was asked to.
    mesh = jax.make_mesh((8,), ("x",))
    shapes = {"a": jax.ShapeDtypeStruct((64, 32), jnp.float32),
              "b": jax.ShapeDtypeStruct((16, 40), jnp.bfloat16),
              "c": jax.ShapeDtypeStruct((24, 24), jnp.float32),
              "d": jax.ShapeDtypeStruct((48, 16), jnp.float32),
              "e": jax.ShapeDtypeStruct((40,), jnp.float32)}
    device = jax.devices()[3]
    shardings = {"a": NamedSharding(mesh, P("x", None)), "b": NamedSharding(mesh, P(None, "x")),
                 "c": None, "d": SingleDeviceSharding(device), "e": NamedSharding(mesh, P())}
    rules = {"^[ab]$": jinit.he_normal(), "^[cd]$": jinit.glorot_uniform(), "^e$": jinit.ones}
    key = jax.random.key(14)
    plain = init_tree(key, shapes, rules)
    _programs.clear()
    out = init_tree(key, shapes, rules, shardings=shardings)
    # a and b: one program each (two shapes, two shardings); c and d: one packed uniform
    assert _programs.stats["compiled"] == 3
    for name, s in shapes.items():
        assert np.array_equal(bits(out[name]), bits(plain[name])), name
        want = per_leaf(rules[next(r for r in rules if name in r)], key, name, s.shape, s.dtype)
        assert np.array_equal(bits(out[name]), bits(want)), name
    assert out["a"].sharding.is_equivalent_to(shardings["a"], 2)
    assert {sh.data.shape for sh in out["b"].addressable_shards} == {(16, 5)}
    assert out["d"].devices() == {device}
    assert out["e"].sharding.is_equivalent_to(shardings["e"], 1)


def _pieces_tree(dtype):
    """Scanned stacks (layer axis first and second) and a fused projection whose parts are
    two laws and a constant: every piece of each is a packed law or a constant. The stacked
    ``c_fc`` kernel's pieces are whole blocks (read back as one view), the others' are not
    (copied into their leaf)."""
    from jinit import recipes
    from jinit.recipes._recipe import split

    s = jax.ShapeDtypeStruct
    stacked = {"h": {"attn": {"c_proj": {"kernel": s((4, 48, 40), dtype),
                                         "bias": s((4, 40), dtype)},
                              "c_attn": {"kernel": s((4, 40, 120), dtype)}},
                     "mlp": {"c_fc": {"kernel": s((4, 64, 128), dtype)}},  # whole blocks
                     "ln_1": {"scale": s((4, 40), dtype)}}}
    moved = {"layers": {"attention": {"wo": {"kernel": s((64, 4, 48), dtype)}}}}
    fused = split("fused", -1, [jinit.normal(0.02), jinit.he_normal(), jinit.zeros])
    return [(stacked, recipes.gpt2(4, scan_axis=0)),
            (moved, recipes.maxtext(4, 48, 12, 96, scan_axis=1)),
            ({"qkv": s((40, 3 * 24), dtype)}, {"qkv": fused})]


@pytest.mark.parametrize(("dtype", "views"), [(jnp.float32, None), (jnp.bfloat16, None),
                                              (jnp.float32, False)])
def test_scanned_and_fused_leaves_join_the_packed_draws(dtype, views, monkeypatch):
    # Each piece i of a jinit.recipes.Pieces leaf is drawn under fold_in(leaf key, i) by
    # its law's packed program and the leaf read back whole or assembled on the host: the
    # leaf equals its own jitted draw (the Pieces initializer's), and on a CPU no leaf has a
    # program of its own. views=False is the accelerators' route: only the leaf of whole
    # blocks is packed (then cut by the split program), the others keep their programs.
    monkeypatch.setattr(_programs, "HOST_VIEWS", views)
    key = jax.random.key(17)
    for shapes, rules in _pieces_tree(dtype):
        _programs.clear()
        out = init_tree(key, shapes, rules)
        if views is None:
            # at most two packed programs: the stacked GPT-2's normal for the leaves read
            # whole and for the pieces copied into their leaves; normal and truncated
            # normal for the others
            assert _programs.stats["compiled"] <= 2
        paths = [path_str(p) for p, _ in jax.tree_util.tree_leaves_with_path(shapes)]
        compiled = _rules.compile_rules("test", rules)
        for path, s, got in zip(paths, jax.tree.leaves(shapes), jax.tree.leaves(out),
                                strict=True):
            init = compiled.match(path, s.shape, np.dtype(s.dtype))[1]
            assert isinstance(init, jinit.recipes.Pieces), path
            want = per_leaf(init, key, path, s.shape, s.dtype)
            assert got.dtype == want.dtype and got.shape == want.shape, path
            assert np.array_equal(bits(got), bits(want)), path
    # negative control: the pieces are not one draw repeated (each has its own key)
    h = init_tree(key, *_pieces_tree(dtype)[0])["h"]
    for kernel in (h["attn"]["c_proj"]["kernel"], h["mlp"]["c_fc"]["kernel"]):
        assert not np.array_equal(bits(kernel[0]), bits(kernel[1]))


def test_a_stack_of_one_constant_is_one_fill_but_signed_zeros_are_not_one():
    from jinit.recipes._recipe import split

    key = jax.random.key(19)
    shapes = {"w": jax.ShapeDtypeStruct((4, 3), jnp.float32)}
    for parts in ([jinit.zeros, jinit.constant(0.0)], [jinit.zeros, jinit.constant(-0.0)],
                  [jinit.constant(-0.0), jinit.zeros]):
        fused = split("fused", 0, parts)
        out = init_tree(key, shapes, {"w": fused})["w"]
        assert np.array_equal(bits(out), bits(per_leaf(fused, key, "w", (4, 3), jnp.float32)))
    assert np.signbit(np.asarray(out)[:2]).all() and not np.signbit(np.asarray(out)[2:]).any()


def test_pieces_that_are_not_packed_laws_keep_their_programs():
    # a fused leaf with an orthogonal part is drawn by its own program, the same values
    from jinit.recipes._recipe import split

    fused = split("fused", 0, [jinit.orthogonal(), jinit.normal(0.5)])
    shapes = {"w": jax.ShapeDtypeStruct((32, 16), jnp.float32)}
    key = jax.random.key(18)
    _programs.clear()
    out = init_tree(key, shapes, {"w": fused})
    assert _programs.stats["compiled"] == 1
    assert np.array_equal(bits(out["w"]), bits(per_leaf(fused, key, "w", (32, 16), jnp.float32)))


def test_leaves_that_are_not_one_sampler_call_keep_per_shape_programs():
    # orthogonal (a QR), a shifted normal (a draw, then mean + std * z), an rbg key: no
    # packing, the same values
    scaled = jinit.presets.keras_random_normal(0.5, 0.1)
    shapes = {"q": jax.ShapeDtypeStruct((32, 16), jnp.float32),
              "s": jax.ShapeDtypeStruct((12, 20), jnp.float32)}
    rules = {"^q$": jinit.orthogonal(), "^s$": scaled}
    for key in (jax.random.key(15), jax.random.key(15, impl="rbg")):
        out = init_tree(key, shapes, rules)
        for name, s in shapes.items():
            want = per_leaf(rules[f"^{name}$"], key, name, s.shape, s.dtype)
            assert np.array_equal(out[name], want), (name, key.dtype)
    # under an rbg key a normal leaf is not packed (its bits are not threefry's) and is
    # still its own draw
    key = jax.random.key(16, impl="rbg")
    out = init_tree(key, {"w": jax.ShapeDtypeStruct((8, 8), jnp.float32)}, {"w": jinit.normal(1.0)})
    assert np.array_equal(out["w"], per_leaf(jinit.normal(1.0), key, "w", (8, 8), jnp.float32))


def test_law_probe_accepts_single_draws_and_rejects_everything_else():
    from jinit._sampling import law_of

    key = jax.random.key(0)
    f32 = np.dtype(np.float32)
    assert law_of(jinit.normal(0.02), key, (4, 4), f32).law.kind == "normal"
    assert law_of(jinit.he_uniform(), key, (4, 4), f32).law.params == (-1.0, 1.0)
    assert law_of(jinit.zeros, key, (4, 4), f32).law.kind == "full"
    # negative controls: a QR, arithmetic on the draw, an array fill, an error, a non-jinit
    # initializer: none is one sampler call
    assert law_of(jinit.orthogonal(), key, (4, 4), f32) is None
    assert law_of(lambda k, s, d: jinit.normal(1.0)(k, s, d) * 2, key, (4, 4), f32) is None
    assert law_of(jinit.constant(np.arange(4.0)), key, (4, 4), f32) is None
    assert law_of(jinit.he_normal(), key, (4,), f32) is None  # one axis: no fans
    assert law_of(jax.nn.initializers.normal(), key, (4, 4), f32) is None
    # an initializer that draws with a key other than its own is not packed either
    assert law_of(lambda k, s, d: jinit.normal(1.0)(jax.random.fold_in(k, 1), s, d),
                  key, (4, 4), f32) is None
