"""gl.MLPClassifier as a scikit-learn estimator: scikit-learn's own check suite, use inside
Pipeline / GridSearchCV / cross_val_score, pickling, binary and string labels, partial_fit,
and that it trains through gl.train (same seed, same model)."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import gradlab as gl

sklearn = pytest.importorskip("sklearn")
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

CHECK_SCRIPT = r"""
import json, sys
import gradlab as gl
from sklearn.utils.estimator_checks import check_estimator
results = []
for params in ({}, {"dtype": "float32", "hidden": (), "batch_size": 16, "lr": 0.1, "label_smoothing": 0.1}):
    for r in check_estimator(gl.MLPClassifier(**params), on_fail=None, on_skip=None):
        results.append({"params": repr(params), "check": r["check_name"], "status": r["status"],
                        "error": repr(r["exception"])[:2000] if r["exception"] else None})
json.dump(results, sys.stdout)
"""


def test_check_estimator_passes_in_full():
    """scikit-learn's whole suite, with the defaults (epochs=200: the suite's data sets are at
    most 300 rows, so it takes seconds) and with a float32 / linear / mini-batch / smoothed
    variant. In a subprocess with SCIPY_ARRAY_API=1, which must be set before scipy is first
    imported: without it check_array_api_input is skipped. Nothing may fail or be skipped."""
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    done = subprocess.run([sys.executable, "-c", CHECK_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    not_passed = [r for r in results if r["status"] != "passed"]
    assert not not_passed, json.dumps(not_passed, indent=1)
    names = {r["check"] for r in results}
    assert len(names) >= 45 and {"check_classifiers_train", "check_estimators_pickle", "check_fit_idempotent",
                                 "check_array_api_input", "check_estimators_dtypes"} <= names


@pytest.fixture(scope="module")
def iris():
    return gl.datasets.iris()


def test_pipeline_grid_search_and_cross_validation(iris):
    X, y = iris
    Xtr, Xte, ytr, yte = gl.datasets.train_test_split(X, y, test_size=0.3, seed=0)
    pipe = make_pipeline(StandardScaler(), gl.MLPClassifier(epochs=30, random_state=0)).fit(Xtr, ytr)
    assert pipe.score(Xte, yte) >= 0.9
    grid = GridSearchCV(make_pipeline(StandardScaler(), gl.MLPClassifier(epochs=20, random_state=0)),
                        {"mlpclassifier__label_smoothing": [0.0, 0.2], "mlpclassifier__hidden": [(3,), (7,)]},
                        cv=3).fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_score_ >= 0.9
    assert grid.best_params_["mlpclassifier__hidden"] in [(3,), (7,)]
    scores = cross_val_score(make_pipeline(StandardScaler(), gl.MLPClassifier(epochs=20, random_state=0)),
                             X, y, cv=5)
    assert scores.shape == (5,) and scores.min() >= 0.8


def test_pickle_round_trip_gives_identical_predictions(iris):
    X, y = iris
    clf = gl.MLPClassifier(hidden=(5, 4), epochs=10, random_state=3).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    for method in ("predict", "predict_proba", "decision_function"):
        np.testing.assert_array_equal(getattr(back, method)(X), getattr(clf, method)(X))
    np.testing.assert_array_equal(back.net_.params, clf.net_.params)
    # the views survive pickling: coefs_ / intercepts_ write through to the loaded net
    assert all(np.shares_memory(w, back.net_.params) for w in back.coefs_ + back.intercepts_)
    assert back.history_.net is back.net_


def test_same_seed_same_model_and_it_is_gl_train(iris):
    X, y = iris
    kw = dict(hidden=(6,), lr=0.05, label_smoothing=0.1, l2=1e-3, momentum=0.5, batch_size=8, epochs=15)
    a = gl.MLPClassifier(random_state=7, **kw).fit(X, y)
    b = gl.MLPClassifier(random_state=7, **kw).fit(X, y)
    c = gl.MLPClassifier(random_state=8, **kw).fit(X, y)
    np.testing.assert_array_equal(a.net_.params, b.net_.params)
    assert not np.array_equal(a.net_.params, c.net_.params)
    # the documented recipe: MLP(seed) then train(seed), one record per epoch
    net = gl.MLP([4, 6, 3], hidden="tanh", output="softmax", seed=7)
    hist = gl.train(net, X, y, smoothing=0.1, l2=1e-3, lr=0.05, momentum=0.5, batch_size=8, epochs=15, seed=7,
                    record_every=19)
    np.testing.assert_array_equal(a.net_.params, hist.net.params)
    np.testing.assert_array_equal(a.history_.weight_norm, hist.weight_norm)
    assert a.history_.step.tolist() == [19 * e for e in range(16)] and a.n_iter_ == 15


def test_sklearn_style_attributes(iris):
    X, y = iris
    clf = gl.MLPClassifier(hidden=(5, 4), epochs=2, random_state=0).fit(X, y)
    assert clf.n_features_in_ == 4 and clf.classes_.tolist() == [0, 1, 2]
    assert [w.shape for w in clf.coefs_] == [(4, 5), (5, 4), (4, 3)]
    assert [b.shape for b in clf.intercepts_] == [(5,), (4,), (3,)]
    assert isinstance(clf.net_, gl.MLP) and isinstance(clf.history_, gl.History)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(clf.predict(X), clf.decision_function(X).argmax(axis=1))
    assert clf.score(X, y) == np.mean(clf.predict(X) == y)


def test_string_labels_and_binary_problems_use_one_sigmoid_output(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = gl.MLPClassifier(epochs=20, random_state=0).fit(X, names)
    assert clf.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    assert set(clf.predict(X)) <= set(names) and clf.score(X, names) > 0.9
    keep = y > 0  # versicolor vs virginica: not linearly separable, a real binary problem
    Xb, yb = X[keep], names[keep]
    binary = gl.MLPClassifier(epochs=50, random_state=0, label_smoothing=0.2).fit(Xb, yb)
    assert binary.net_.sizes[-1] == 1 and binary.net_.output == "sigmoid"
    z = binary.decision_function(Xb)
    assert z.shape == (Xb.shape[0],)
    proba = binary.predict_proba(Xb)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-12)
    np.testing.assert_array_equal(binary.predict(Xb), binary.classes_[(z > 0).astype(int)])
    assert binary.score(Xb, yb) > 0.85
    # smoothing a = 0.2 on one sigmoid output: targets 0.9 / 0.1, so outputs stay below 0.9 + slack
    assert proba[:, 1].max() < 0.97 and proba[:, 1].min() > 0.03
    bools = gl.MLPClassifier(epochs=5, random_state=0).fit(Xb, yb == "virginica")
    assert bools.classes_.tolist() == [False, True]


def test_whole_number_float_labels_map_through_classes(iris):
    """Labels 0.0 / 1.0 / 2.0 (as read from a CSV file): scikit-learn's classes_ mapping takes
    them as classes, the model equals the int labels' bit for bit, predictions are the floats."""
    X, y = iris
    ints = gl.MLPClassifier(epochs=5, random_state=0).fit(X, y)
    floats = gl.MLPClassifier(epochs=5, random_state=0).fit(X, y.astype(float))
    assert floats.classes_.tolist() == [0.0, 1.0, 2.0]
    np.testing.assert_array_equal(floats.net_.params, ints.net_.params)
    np.testing.assert_array_equal(floats.predict(X), ints.predict(X).astype(float))
    with pytest.raises(ValueError, match="continuous"):  # fractional labels are a regression target
        gl.MLPClassifier(epochs=1).fit(X, y + 0.5 * (y == 1))


def test_partial_fit(iris):
    X, y = iris
    Xs = gl.datasets.standardize(X)
    clf = gl.MLPClassifier(random_state=0, lr=0.05)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(Xs, y)
    with pytest.raises(ValueError, match="labels that are not in classes"):
        gl.MLPClassifier().partial_fit(Xs, y, classes=[0, 1])
    for _ in range(10):
        clf.partial_fit(Xs[:75], y[:75], classes=[0, 1, 2])
        clf.partial_fit(Xs[75:], y[75:])
    assert clf.n_iter_ == 20 and clf.score(Xs, y) > 0.9
    again = gl.MLPClassifier(random_state=0, lr=0.05)
    for _ in range(10):
        again.partial_fit(Xs[:75], y[:75], classes=[0, 1, 2])
        again.partial_fit(Xs[75:], y[75:])
    np.testing.assert_array_equal(again.net_.params, clf.net_.params)
    with pytest.raises(ValueError, match="differs from the classes"):
        clf.partial_fit(Xs, y, classes=[0, 1])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(Xs[:, :3], y)
    # partial_fit after fit continues from the fitted net
    fitted = gl.MLPClassifier(epochs=3, random_state=0).fit(Xs, y)
    before = fitted.net_.params.copy()
    fitted.partial_fit(Xs, y)
    assert fitted.n_iter_ == 4 and not np.array_equal(before, fitted.net_.params)


SOLVERS = [dict(solver="adam", lr=0.01, beta_1=0.8, beta_2=0.99), dict(solver="sgd", lr=0.05, momentum=0.9),
           dict(solver="sgd", lr=0.05, momentum=0.9, nesterovs_momentum=True)]
GL_SOLVER = lambda kw: dict(optimizer=kw["solver"], lr=kw["lr"], momentum=kw.get("momentum", 0.0),
                            nesterov=kw.get("nesterovs_momentum", False),
                            betas=(kw.get("beta_1", 0.9), kw.get("beta_2", 0.999)))


@pytest.mark.parametrize("kw", SOLVERS, ids=["adam", "momentum", "nesterov"])
def test_partial_fit_keeps_the_optimizer_state_full_batch(iris, kw):
    """Full batch (no shuffling, so every path sees the rows in the same order): two
    partial_fit calls, and fit then partial_fit, equal one uninterrupted gl.train of two
    epochs, bit for bit. Restarting the optimizer's state at the second call (the old
    behaviour) gives other parameters."""
    X, y = gl.datasets.standardize(iris[0]), iris[1]
    clf = gl.MLPClassifier(hidden=(5,), batch_size=None, random_state=0, **kw)
    clf.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    fitted = gl.MLPClassifier(hidden=(5,), batch_size=None, random_state=0, epochs=1, **kw).fit(X, y)
    fitted.partial_fit(X, y)
    net = gl.MLP([4, 5, 3], hidden="tanh", output="softmax", seed=0)
    whole = gl.train(net, X, y, batch_size=None, epochs=2, **GL_SOLVER(kw)).net.params
    np.testing.assert_array_equal(clf.net_.params, whole)
    np.testing.assert_array_equal(fitted.net_.params, whole)
    restarted = gl.train(gl.train(net, X, y, batch_size=None, epochs=1, **GL_SOLVER(kw)).net, X, y,
                         batch_size=None, epochs=1, **GL_SOLVER(kw)).net.params
    assert not np.array_equal(restarted, whole)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", SOLVERS[:2], ids=["adam", "momentum"])
def test_partial_fit_keeps_the_optimizer_state_minibatch(iris, kw, dtype):
    """Mini-batches: each partial_fit call shuffles its epoch with its own seed
    (SeedSequence([random_state, n_iter])); the reference is one uninterrupted kernel call of two
    epochs in those same row orders, from zero optimizer state."""
    from gradlab import _kernels
    from gradlab.training import epoch_orders, plan_run

    X, y = gl.datasets.standardize(iris[0]).astype(dtype), iris[1]
    clf = gl.MLPClassifier(hidden=(5,), batch_size=16, random_state=0, dtype=dtype, **kw)
    clf.partial_fit(X, y, classes=[0, 1, 2]).partial_fit(X, y)
    assert clf._optimizer.steps == 2 * 10
    net = gl.MLP([4, 5, 3], hidden="tanh", output="softmax", seed=0, dtype=dtype)
    plan = plan_run(net, X, y, batch_size=16, epochs=2, record_every=10, **GL_SOLVER(kw))
    order = np.concatenate([epoch_orders(np.random.default_rng(np.random.SeedSequence([0, k]).generate_state(1)[0]),
                                         X.shape[0], 16, 1) for k in range(2)]).reshape(-1)
    params, velocity = net.params.copy(), np.zeros(2 * net.n_params, net.dtype)
    stats, norms = np.full((3, _kernels.N_STATS), np.nan), np.full((3, 2), np.nan)
    state = np.array([1, 0])
    _kernels.train_chunk(params, velocity, plan.penalized, *plan.model, plan.beta, plan.hyper, plan.X, plan.T,
                         plan.labels, order, 16, 2, 0, 10, 10, 20, plan.Xt, plan.Tt, plan.labels_t, plan.traced, stats,
                         norms, np.zeros((3, 0, 0), net.dtype), state, plan.hidden_target)
    assert state.tolist() == [3, 0]
    np.testing.assert_array_equal(clf.net_.params, params)
    np.testing.assert_array_equal(clf._optimizer.velocity, velocity)


def test_run_plan_continues_an_optimizer_state(iris):
    """gl.train's kernel path split in two by an OptimizerState equals the whole run (full
    batch); a state whose step count falls between the plan's records is refused."""
    from gradlab.training import OptimizerState, plan_run, run_plan

    X, y = gl.datasets.standardize(iris[0]), iris[1]
    net = gl.MLP([4, 5, 3], seed=1)
    kw = dict(batch_size=None, optimizer="adam", lr=0.01, record_every=2)
    whole = gl.train(net, X, y, epochs=10, **kw)
    state = OptimizerState.fresh(net)
    first = run_plan(plan_run(net, X, y, epochs=6, **kw), optimizer_state=state)
    assert state.steps == 6
    second = run_plan(plan_run(first.net, X, y, epochs=4, **kw), optimizer_state=state)
    assert state.steps == 10
    np.testing.assert_array_equal(second.net.params, whole.net.params)
    np.testing.assert_array_equal(second.train_loss, whole.train_loss[3:])
    state.steps = 5
    with pytest.raises(ValueError, match="optimizer_state.steps"):
        run_plan(plan_run(net, X, y, epochs=4, **kw), optimizer_state=state)
    with pytest.raises(ValueError, match="optimizer_state.velocity"):
        run_plan(plan_run(net, X, y, epochs=4, **kw), optimizer_state=OptimizerState(np.zeros(3), 0))


@pytest.mark.parametrize("param,value,error,match", [
    ("lr", -1.0, ValueError, "lr"),
    ("label_smoothing", 1.5, ValueError, "label_smoothing"),
    ("hidden", (0,), ValueError, "hidden"),
    ("hidden", "wide", TypeError, "hidden"),
    ("activation", "softmax", ValueError, "activation"),
    ("loss", "hinge", ValueError, "loss"),
    ("epochs", 0, ValueError, "epochs"),
    ("batch_size", 0, ValueError, "batch_size"),
    ("dtype", "int32", TypeError, "dtype"),
    ("random_state", -2, ValueError, "random_state"),
    ("momentum", 1.0, ValueError, "momentum"),
    ("solver", "lbfgs", ValueError, "solver"),
    ("beta_2", 1.0, ValueError, "betas"),
    ("epsilon", 0.0, ValueError, "eps"),
])
def test_bad_parameters_fail_at_fit_naming_the_parameter(iris, param, value, error, match):
    X, y = iris
    clf = gl.MLPClassifier(**{"epochs": 1, param: value})  # scikit-learn: __init__ never validates
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "classes_")  # a failed fit leaves the estimator unfitted
    if param != "epochs":  # partial_fit runs one epoch whatever epochs says
        with pytest.raises(error, match=match):
            clf.partial_fit(X, y, classes=[0, 1, 2])
        assert not hasattr(clf, "classes_")


def test_import_gradlab_does_not_need_sklearn():
    code = ("import sys; sys.modules['sklearn'] = None\n"
            "import gradlab as gl\n"
            "try:\n    gl.MLPClassifier\nexcept ImportError as e:\n    print(e)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "needs scikit-learn" in done.stdout


# ---------------------------------------------------------------- solvers, early stopping, log-probabilities


def test_adam_and_nesterov_solvers_are_gl_train(iris):
    X, y = iris
    net = gl.MLP([4, 6, 3], hidden="tanh", output="softmax", seed=3)
    adam = gl.MLPClassifier(hidden=(6,), solver="adam", lr=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-7,
                            weight_decay=1e-3, batch_size=16, epochs=10, random_state=3).fit(X, y)
    hist = gl.train(net, X, y, optimizer="adam", lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=1e-3,
                    batch_size=16, epochs=10, seed=3)
    np.testing.assert_array_equal(adam.net_.params, hist.net.params)
    nag = gl.MLPClassifier(hidden=(6,), momentum=0.9, nesterovs_momentum=True, lr=0.01, batch_size=16, epochs=10,
                           random_state=3).fit(X, y)
    hist = gl.train(net, X, y, momentum=0.9, nesterov=True, lr=0.01, batch_size=16, epochs=10, seed=3)
    np.testing.assert_array_equal(nag.net_.params, hist.net.params)
    assert adam.validation_scores_ is None and adam.best_validation_score_ is None


def test_early_stopping_follows_scikit_learns_rule_and_keeps_the_best_epoch(iris):
    X, y = iris
    kw = dict(hidden=(6,), lr=0.05, batch_size=8, epochs=300, random_state=1, early_stopping=True,
              validation_fraction=0.2, n_iter_no_change=5, tol=1e-4)
    clf = gl.MLPClassifier(**kw).fit(X, y)
    scores = np.array(clf.validation_scores_)
    assert clf.n_iter_ == len(scores) < 300  # Iris's validation accuracy stops rising long before 300 epochs
    # scikit-learn's rule, replayed: stop after more than n_iter_no_change epochs without a gain of tol
    best, bad = -np.inf, 0
    for e, score in enumerate(scores, 1):
        bad = bad + 1 if score < best + 1e-4 else 0
        best = max(best, score)
        if bad > 5:
            break
    assert e == clf.n_iter_ and clf.best_validation_score_ == scores.max()
    # the kept net is the first epoch that reached the best score: train that many epochs on the same rows
    Xtr, Xval, ytr, yval = gl.datasets.train_test_split(X, y, test_size=0.2, seed=1, stratify=True)
    best_epoch = int(np.argmax(scores)) + 1
    net = gl.MLP([4, 6, 3], seed=1)
    hist = gl.train(net, Xtr, ytr, lr=0.05, batch_size=8, epochs=best_epoch, seed=1)
    np.testing.assert_array_equal(clf.net_.params, hist.net.params)
    assert clf.score(Xval, yval) == clf.best_validation_score_
    # without early stopping every epoch runs
    assert gl.MLPClassifier(**{**kw, "early_stopping": False, "epochs": 20}).fit(X, y).n_iter_ == 20


@pytest.mark.parametrize("param,value,error,match", [
    ("validation_fraction", 0.0, ValueError, "validation_fraction"),
    ("validation_fraction", 1.0, ValueError, "validation_fraction"),
    ("n_iter_no_change", 0, ValueError, "n_iter_no_change"),
    ("tol", -1.0, ValueError, "tol"),
    ("early_stopping", "yes", TypeError, "early_stopping"),
])
def test_bad_early_stopping_parameters(iris, param, value, error, match):
    X, y = iris
    clf = gl.MLPClassifier(**{"epochs": 2, "early_stopping": True, param: value})
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "classes_")


@pytest.mark.parametrize("binary", [False, True])
def test_predict_log_proba_is_the_log_of_predict_proba_and_stays_finite(iris, binary):
    X, y = iris
    y = (y == 0).astype(int) if binary else y
    clf = gl.MLPClassifier(hidden=(5,), activation="identity", lr=0.01, epochs=5, random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)), rtol=1e-12, atol=0)
    far = X * 1e4  # logits of 1e4 and more: probabilities underflow; their logs stay exact and finite
    logp = clf.predict_log_proba(far)
    assert np.isfinite(logp).all() and logp.min() < -1000  # below log of the smallest double
    np.testing.assert_allclose(np.logaddexp.reduce(logp, axis=1), 0.0, atol=1e-12)
