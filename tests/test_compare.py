"""jinit.compare: the init-comparison experiment on a user's model.

Chance bounds. A classifier whose predictions do not depend on the labels it is scored
against (a constant prediction, or labels shuffled against the inputs) has accuracy whose
count of hits is at most as variable as a Binomial(n, p) with p the frequency of the
predicted classes, at most the largest class frequency P_MAX = 1/4 of the task below
(balanced by construction). The one-sided bound p + Z·sqrt(p(1-p)/n) with Z = 4.75 has a false
failure rate of about 1e-6 per check. Every claim has a negative control that must fail.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

optax = pytest.importorskip("optax")
nn = pytest.importorskip("flax.linen")

import jinit  # noqa: E402
import jinit.compare  # noqa: E402
from jinit.compare import _cli  # noqa: E402

# optax's optimizers rely on jax's standard dtype promotion.
pytestmark = pytest.mark.standard_promotion

K, D, N_TRAIN, N_VAL = 4, 8, 512, 512
Z = 4.75


def _task(seed: int = 0):
    """4 Gaussian blobs (centres N(0, 1.5² I_8), unit noise) in R^8, exactly balanced in the
    training and the validation set."""
    rng = np.random.default_rng(seed)
    centres = 1.5 * rng.standard_normal((K, D))
    y = np.concatenate([np.arange(N_TRAIN) % K, np.arange(N_VAL) % K]).astype(np.int32)
    x = (centres[y] + rng.standard_normal((len(y), D))).astype(np.float32)
    tr, va = rng.permutation(N_TRAIN), N_TRAIN + rng.permutation(N_VAL)
    return x[tr], y[tr], x[va], y[va]


X, Y, XV, YV = _task()
P_MAX = float(np.bincount(YV, minlength=K).max() / N_VAL)


def chance_bound(p: float = 0.25, n: int = N_VAL) -> float:
    return p + Z * math.sqrt(p * (1 - p) / n)


def mlp(depth: int = 3, width: int = 32):
    layers = []
    for _ in range(depth - 1):
        layers += [nn.Dense(width), nn.relu]
    return nn.Sequential([*layers, nn.Dense(K)])


def test_task_is_balanced():
    assert P_MAX == 0.25, P_MAX  # the chance bound's p


@pytest.fixture(scope="module")
def deep():
    """An 8-layer ReLU MLP from zero and He init, Adam, validation on held-out data."""
    return jinit.compare.run(mlp(8), {"zero": jinit.zeros, "he": jinit.he_normal()},
                             train=(X, Y), val=(XV, YV), loss="softmax_cross_entropy",
                             optimizer=optax.adam(3e-3), steps=200, batch_size=64, seeds=2,
                             eval_every=20, quiet=True)


def test_history_shapes_and_steps(deep):
    assert deep.steps.tolist() == list(range(20, 201, 20))
    assert set(deep.history) == {"zero", "he"}
    for h in deep.history.values():
        assert list(h) == ["train_loss", "val_loss", "train_accuracy", "val_accuracy"]
        assert all(v.shape == (2, 10) and v.dtype == np.float64 for v in h.values())
    assert deep.diverged == {"zero": 0, "he": 0}
    assert deep.config["programs"] == 1  # the two inits have the same shapes


def test_zero_init_stays_at_chance(deep):
    """Zero kernels and biases: every hidden unit is 0 with zero gradient (relu'(0) = 0 in
    jax), so only the output bias learns: a constant prediction. Measured 0.27."""
    acc = deep.history["zero"]["val_accuracy"][:, -1]
    assert np.all(acc <= chance_bound()), acc
    # Control: the same bound rejects the He-initialized network (measured > 0.85).
    assert not np.all(deep.history["he"]["val_accuracy"][:, -1] <= chance_bound())


def test_he_on_deep_relu_learns(deep):
    """Measured val accuracy > 0.85 for both seeds; threshold 0.7, far above chance."""
    assert np.all(deep.history["he"]["val_accuracy"][:, -1] > 0.7)
    assert np.all(deep.history["he"]["train_loss"][:, -1] < 0.6 * math.log(K))
    assert not np.all(deep.history["zero"]["val_accuracy"][:, -1] > 0.7)  # control


def test_shuffled_validation_labels_give_chance():
    """The validation set is really used: with its labels shuffled, val accuracy stays at
    chance while training accuracy rises (measured ~0.95)."""
    shuffled = np.random.default_rng(1).permutation(YV)
    res = jinit.compare.run(mlp(3), {"he": jinit.he_normal()}, train=(X, Y),
                            val=(XV, shuffled), loss="softmax_cross_entropy",
                            optimizer=optax.adam(1e-2), steps=100, batch_size=64, seeds=2,
                            eval_every=50, quiet=True)
    h = res.history["he"]
    assert np.all(h["train_accuracy"][:, -1] > 0.8), h["train_accuracy"]
    assert np.all(h["val_accuracy"][:, -1] <= chance_bound()), h["val_accuracy"]
    assert not np.all(h["train_accuracy"][:, -1] <= chance_bound())  # control


def test_divergence_is_counted_and_masked(tmp_path):
    """N(0, 100²) kernels and SGD at lr 1: every seed overflows; He at the same rate and the
    same batches stays finite in the same call."""
    res = jinit.compare.run(mlp(3), {"huge": jinit.normal(100.0), "he": jinit.he_normal()},
                            train=(X, Y), val=(XV, YV), loss="softmax_cross_entropy",
                            optimizer=optax.sgd(1.0), steps=40, batch_size=64, seeds=3,
                            eval_every=10, quiet=True)
    assert res.diverged == {"huge": 3, "he": 0}
    huge = res.history["huge"]["val_loss"]
    first_nan = np.argmax(np.isnan(huge), axis=1)
    for s in range(3):  # masked from the first non-finite evaluation on
        assert np.all(np.isnan(huge[s, first_nan[s]:]))
    for h in res.history["he"].values():
        assert np.all(np.isfinite(h))
    assert math.isnan(res.final("huge", "val_loss")[0])
    assert "3/3" in res.summary().splitlines()[1]
    if importlib.util.find_spec("matplotlib"):  # all-NaN curves draw without a warning
        res.plot(str(tmp_path / "d.png"))


def _log_model(params, x):
    return x @ jnp.log(params["w"])  # NaN for a negative w


def test_a_diverging_seed_does_not_poison_the_others():
    """w ~ N(0, 1) and a model that takes log(w): the seeds drawn negative are NaN from the
    first step, the others fit y = 0.5·x; vmapped seeds stay independent."""
    x = np.random.default_rng(2).standard_normal((256, 1)).astype(np.float32)
    res = jinit.compare.run(_log_model, {"n": jinit.normal(1.0)}, params={"w": jnp.ones((1, 1))},
                            train=(x, 0.5 * x), val=(x, 0.5 * x), loss="mse",
                            optimizer=optax.adam(0.05), steps=60, batch_size=32, seeds=8,
                            eval_every=20, keep_params=True, quiet=True)
    bad = res.diverged["n"]
    assert 0 < bad < 8, bad  # fixed seed: a mixed draw (P(all one sign) = 2/256)
    loss = res.history["n"]["val_loss"]
    alive = np.all(np.isfinite(loss), axis=1)
    assert alive.sum() == 8 - bad
    assert np.all(np.isnan(loss[~alive]))
    assert np.all(loss[alive, -1] < loss[alive, 0])
    w = np.asarray(res.final_params["n"]["w"])[:, 0, 0]
    assert np.all(np.isfinite(w[alive]))


def test_same_seed_reproduces_bit_for_bit():
    kw = dict(train=(X[:128], Y[:128]), val=(XV[:64], YV[:64]), loss="softmax_cross_entropy",
              optimizer=optax.adam(1e-2), steps=20, batch_size=32, seeds=2, eval_every=10,
              quiet=True)
    a = jinit.compare.run(mlp(2), {"he": jinit.he_normal()}, **kw)
    b = jinit.compare.run(mlp(2), {"he": jinit.he_normal()}, **kw)
    c = jinit.compare.run(mlp(2), {"he": jinit.he_normal()}, seed=1, **kw)
    for m in a.history["he"]:
        assert np.array_equal(a.history["he"][m], b.history["he"][m])
    assert not np.array_equal(a.history["he"]["train_loss"], c.history["he"]["train_loss"])
    # Seeds differ from each other (their own init keys and batches).
    assert not np.array_equal(*a.history["he"]["train_loss"])


def test_one_compiled_program_per_init(caplog):
    """Counted from jax's compile log: two inits of one model compile the training program
    once; a control run with other settings compiles it again (the counter counts)."""
    kw = dict(train=(X[:128], Y[:128]), val=(XV[:64], YV[:64]), loss="softmax_cross_entropy",
              optimizer=optax.sgd(0.1), batch_size=32, seeds=3, eval_every=5, quiet=True)

    def compiles(**extra):
        caplog.clear()
        with caplog.at_level(logging.DEBUG), jax.log_compiles(True):
            jinit.compare.run(mlp(2), {"a": jinit.he_normal(), "b": jinit.lecun_normal()},
                              **kw, **extra)
        return sum(r.getMessage().startswith("Compiling jit(compare_program)")
                   for r in caplog.records)

    assert compiles(steps=10) == 1
    assert compiles(steps=15) == 1  # control: a new program (other steps) is counted again


def test_mse_has_no_accuracy_and_says_so():
    x = X[:128]
    res = jinit.compare.run(mlp(2), {"he": jinit.he_normal()}, train=(x, x[:, :K]),
                            val=(x, x[:, :K]), loss="mse", steps=10, batch_size=32, seeds=1,
                            eval_every=5, metrics={"mae": lambda o, t: jnp.mean(jnp.abs(o - t))},
                            quiet=True)
    assert list(res.history["he"]) == ["train_loss", "val_loss", "train_mae", "val_mae"]
    assert "no accuracy: loss='mse' is a regression loss" in res.summary()
    assert res.target[0] == "val_loss"


def test_plot_and_json(deep, tmp_path):
    pytest.importorskip("matplotlib")
    deep.plot(str(tmp_path / "c.png"))
    assert (tmp_path / "c.png").stat().st_size > 10_000
    deep.to_json(str(tmp_path / "c.json"))
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["steps"] == deep.steps.tolist()
    assert np.allclose(doc["history"]["he"]["val_loss"], deep.history["he"]["val_loss"])


def test_nnx_equinox_and_function_models():
    nnx = pytest.importorskip("flax.nnx")
    eqx = pytest.importorskip("equinox")
    kw = dict(train=(X[:256], Y[:256]), val=(XV[:128], YV[:128]), loss="softmax_cross_entropy",
              optimizer=optax.adam(1e-2), steps=60, batch_size=32, seeds=2, eval_every=30,
              quiet=True)

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.a, self.b = nnx.Linear(D, 32, rngs=rngs), nnx.Linear(32, K, rngs=rngs)

        def __call__(self, x):
            return self.b(jax.nn.relu(self.a(x)))

    models = {
        "nnx": (Net(nnx.Rngs(0)), None),
        "equinox": (eqx.nn.MLP(D, K, 32, 1, key=jax.random.key(0)), None),
        "function": (lambda p, x: jax.nn.relu(x @ p["w1"]) @ p["w2"],
                     {"w1": jnp.zeros((D, 32)), "w2": jnp.zeros((32, K))}),
    }
    for kind, (model, params) in models.items():
        # Every leaf zero (Equinox draws its biases at random, which breaks the symmetry).
        res = jinit.compare.run(model, {"zero": {".*": jinit.zeros}, "he": jinit.he_normal()},
                                params=params, **kw)
        assert res.config["model"] == kind
        he, zero = res.final("he", "val_accuracy")[0], res.final("zero", "val_accuracy")[0]
        assert he > 0.6 and zero <= chance_bound(n=128), (kind, he, zero)


def test_rules_and_recipe_values_are_accepted():
    recipe = jinit.recipes.nanogpt(2, roles={"layers_0": "mlp_up", "layers_2": "mlp_out"})
    res = jinit.compare.run(mlp(2), {"rules": {r"kernel$": jinit.glorot_normal()},
                                     "default": None, "recipe": recipe},
                            train=(X[:64], Y[:64]), loss="softmax_cross_entropy", steps=5,
                            batch_size=16, seeds=1, eval_every=5, quiet=True)
    assert list(res.history["rules"]) == ["train_loss", "train_accuracy"]
    assert list(res.history) == ["rules", "default", "recipe"]
    with pytest.warns(jinit.tree.UnmatchedRuleWarning, match="matched no leaf"):
        jinit.compare.run(mlp(2), {"r": {r"kernel$": jinit.he_normal(), "nothere": jinit.zeros}},
                          train=(X[:64], Y[:64]), loss="softmax_cross_entropy", steps=5,
                          batch_size=16, seeds=1, eval_every=5, quiet=True)


def test_train_optax_articles_smoke(tmp_path, capsys):
    """examples/train_optax.py --articles: the articles' experiment through jinit.compare."""
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "examples" / "train_optax.py"
    module = sys.modules.get("train_optax")  # as tests/test_examples.py loads it
    if module is None:
        spec = importlib.util.spec_from_file_location("train_optax", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["train_optax"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    png = tmp_path / "c.png"
    out = module.main(["--activations", "relu", "--depths", "3", "--schemes", "he_normal",
                       "--seeds", "1", "--steps", "5", "--width", "8", "--samples", "256",
                       "--articles", "--articles-steps", "20", "--plot", str(png)])
    text = capsys.readouterr().out
    assert "articles' experiment" in text and "val_accuracy" in text
    res = out["articles"]
    assert list(res.history) == ["zero", "N(0,1)", "xavier", "he", "lecun"]
    assert (tmp_path / "c_articles.png").stat().st_size > 10_000


@pytest.mark.slow
def test_benchmark_runs_tiny(tmp_path):
    """benchmarks/compare.py at its tiny size emits well-formed rows (no timing asserted)."""
    import pathlib

    bench = pathlib.Path(__file__).resolve().parent.parent / "benchmarks"
    sys.path.insert(0, str(bench))
    try:
        import compare as bench_compare

        bench_compare.main(["--tiny", "--json", str(tmp_path / "b.json")])
    finally:
        sys.path.remove(str(bench))
    doc = json.loads((tmp_path / "b.json").read_text())
    assert [r["method"] for r in doc["rows"]] == ["compare_8", "compare_1", "loop_8"]
    assert all(r["exec_s"] > 0 and r["total_s"] > 0 for r in doc["rows"])


# ----------------------------------------------------------------------- argument checks


def _run(**over):
    kw = dict(model=mlp(2), inits={"he": jinit.he_normal()}, train=(X[:64], Y[:64]),
              val=(XV[:32], YV[:32]), loss="softmax_cross_entropy", steps=10, batch_size=16,
              seeds=1, eval_every=5, quiet=True)
    kw.update(over)
    return jinit.compare.run(kw.pop("model"), kw.pop("inits"), **kw)


@pytest.mark.parametrize(("over", "exc", "match"), [
    ({"loss": "cross_entropy"}, ValueError,
     r"compare.run\(\): loss='cross_entropy' is not a known loss; expected one of "
     r"'softmax_cross_entropy', 'mse'"),
    ({"steps": 0}, ValueError, r"steps=0 is less than 1; expected an int >= 1"),
    ({"seeds": 0}, ValueError, r"seeds=0 is less than 1"),
    ({"batch_size": 65}, ValueError, r"batch_size=65 is more than the 64 training examples; "
                                     r"expected an int in \[1, 64\]"),
    ({"eval_every": 3}, ValueError, r"eval_every=3 does not divide steps=10"),
    ({"eval_every": 20}, ValueError, r"eval_every=20 is more than steps=10"),
    ({"train": (X[:64], Y[:63])}, ValueError,
     r"train='x of length 64, y of length 63' has mismatched lengths"),
    ({"inits": {"he": 3}}, TypeError, r"inits\['he'\]=3 is not an init; expected None"),
    ({"inits": {"he": jinit.he_normal}}, TypeError, r"Did you mean jinit.he_normal\(\)\?"),
    ({"inits": {"x": "xavier"}}, ValueError, r"inits\['x'\]='xavier' is not a known init name"),
    ({"inits": {}}, TypeError, r"inits=\{\} is not a non-empty mapping"),
    ({"loss": "mse"}, ValueError, r"does not fit loss='mse'"),
    ({"optimizer": "adam"}, TypeError, r"optimizer='adam' is not an optax optimizer"),
    ({"model": 3}, TypeError, r"model=3 is not a model"),
    ({"target": ("val_f1", 0.5)}, ValueError, r"names a metric the run does not record"),
    ({"target": ("val_loss", "low")}, TypeError, r"is not a \(metric, value\) pair"),
    ({"sampling": "shuffle"}, ValueError, r"sampling='shuffle'"),
])
def test_bad_arguments(over, exc, match):
    with pytest.raises(exc, match=match):
        _run(**over)


def test_auto_is_an_init():
    """``"auto"`` draws through jinit.auto.init on one training batch, and trains."""
    res = _run(inits={"auto": "auto"})
    loss = np.asarray(res.history["auto"]["train_loss"])
    assert res.diverged["auto"] == 0 and np.all(np.isfinite(loss)), loss


def test_import_jinit_stays_light():
    code = ("import sys, jinit; heavy = [m for m in ('optax', 'flax', 'matplotlib', "
            "'jinit.compare') if m in sys.modules]; assert not heavy, heavy; "
            "assert callable(jinit.compare.run)")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------- console


BUILD = """
import numpy as np, optax, flax.linen as nn, jinit

def build():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32)
    return {"model": nn.Sequential([nn.Dense(16), nn.relu, nn.Dense(2)]),
            "train": (x[:96], y[:96]), "val": (x[96:], y[96:]),
            "loss": "softmax_cross_entropy", "optimizer": optax.adam(1e-2),
            "inits": {"zeros": jinit.zeros, "he": jinit.he_normal()}}

def bad_loss():
    d = build(); d["loss"] = "hinge"; return d

def not_a_dict():
    return 3
"""


@pytest.fixture
def target(tmp_path):
    path = tmp_path / "exp.py"
    path.write_text(BUILD)
    return str(path)


def test_cli_runs_and_writes(target, tmp_path, capsys):
    from jinit._cli import main

    js, png = tmp_path / "c.json", tmp_path / "c.png"
    rc = main(["compare", f"{target}:build", "--steps", "20", "--seeds", "2", "--json", str(js),
               "--plot", str(png), "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "zeros" in out and "he" in out and "val_accuracy" in out
    doc = json.loads(js.read_text())
    assert doc["steps"] == list(range(10, 21, 10)) and doc["config"]["seeds"] == 2
    assert png.stat().st_size > 10_000


@pytest.mark.parametrize(("args", "match"), [
    (["{t}:nothere"], r"has no function 'nothere'"),
    (["{t}:not_a_dict"], r"returned an int; expected a dict with 'model'"),
    (["{t}:bad_loss"], r"loss='hinge' is not a known loss"),
    (["{t}:build", "--steps", "0"], r"argument --steps: '0' is out of range; expected an int >= 1"),
    (["{t}:build", "--seed", "4294967296"],
     r"argument --seed: '4294967296' is out of range; expected an int in \[0, 2\*\*32\)"),
    (["{t}:build", "--plot", "x.pdf"], r"--plot: 'x.pdf' is not a .png file name"),
    (["{t}:build", "--json", "/no/such/dir/c.json"], r"does not exist"),
    (["missing.py:build"], r"no such file 'missing.py'"),
])
def test_cli_usage_errors(target, capsys, args, match):
    rc = _cli.main([a.format(t=target) for a in args])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(match, err), err
