import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from gradlab import datasets


def linearly_separable(X, positive):
    """Is there (w, b) with w.x + b >= 1 on ``positive`` rows and <= -1 on the others?
    (An LP feasibility problem: zero objective, free variables.)"""
    sign = np.where(positive, 1.0, -1.0)
    A_ub = -sign[:, None] * np.column_stack([X, np.ones(len(X))])
    result = linprog(np.zeros(X.shape[1] + 1), A_ub=A_ub, b_ub=-np.ones(len(X)),
                     bounds=(None, None), method="highs")
    assert result.status in (0, 2), result.message  # 0 feasible, 2 infeasible
    return result.status == 0


def one_vs_rest_separable(X, y):
    return [linearly_separable(X, y == k) for k in np.unique(y)]


# ---------------------------------------------------------------- bundled data sets

def test_iris_shape_dtype_and_classes():
    X, y = datasets.iris()
    assert X.shape == (150, 4) and X.dtype == np.float64
    assert y.shape == (150,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(X[0], [5.1, 3.5, 1.4, 0.2])
    # Fisher's values, not UCI's two typos (rows 35 and 38, 1-based)
    np.testing.assert_array_equal(X[34], [4.9, 3.1, 1.5, 0.2])
    np.testing.assert_array_equal(X[37], [4.9, 3.6, 1.4, 0.1])
    assert X.min() == 0.1 and X.max() == 7.9


def test_digits_shape_dtype_and_classes():
    X, y = datasets.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    counts = np.bincount(y)
    assert counts.shape == (10,) and counts.sum() == 1797
    assert np.all((170 <= counts) & (counts <= 190))
    assert X.min() == 0 and X.max() == 16
    np.testing.assert_array_equal(X, np.round(X))


@pytest.mark.parametrize("load", [datasets.iris, datasets.digits])
def test_returned_arrays_are_independent_copies(load):
    X, y = load()
    X_expected, y_expected = X.copy(), y.copy()
    X[:] = -1.0
    y[:] = 99
    X_again, y_again = load()
    np.testing.assert_array_equal(X_again, X_expected)
    np.testing.assert_array_equal(y_again, y_expected)
    assert X_again.flags.writeable and y_again.flags.writeable


@pytest.mark.parametrize("name", ["iris", "digits"])
def test_matches_scikit_learn(name):
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    ours = getattr(datasets, name)()
    theirs = getattr(sklearn_datasets, f"load_{name}")(return_X_y=True)
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


# ---------------------------------------------------------------- blobs

classes_and_features = st.integers(2, 5).flatmap(
    lambda k: st.tuples(st.just(k), st.integers(1 if k == 2 else 2, 6)))


@settings(deadline=None, max_examples=30)
@given(k_d=classes_and_features, n_per_class=st.integers(2, 40), extra=st.integers(0, 4),
       seed=st.integers(0, 2**32 - 1))
def test_blobs_separable_is_one_vs_rest_separable(k_d, n_per_class, extra, seed):
    n_classes, n_features = k_d
    n_samples = n_per_class * n_classes + extra
    X, y = datasets.blobs(n_samples, n_classes, n_features, separable=True, seed=seed)
    assert X.shape == (n_samples, n_features) and X.dtype == np.float64
    assert y.shape == (n_samples,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=n_classes)
    assert counts.sum() == n_samples and counts.max() - counts.min() <= 1
    assert all(one_vs_rest_separable(X, y))


@settings(deadline=None, max_examples=30)
@given(k_d=classes_and_features, n_per_class=st.integers(2, 40), seed=st.integers(0, 2**32 - 1))
def test_blobs_overlapping_is_not_linearly_separable(k_d, n_per_class, seed):
    n_classes, n_features = k_d
    X, y = datasets.blobs(n_per_class * n_classes, n_classes, n_features, separable=False,
                          seed=seed)
    assert not any(one_vs_rest_separable(X, y))
    if n_classes > 2:  # not even any two classes on their own
        pair = y < 2
        assert not linearly_separable(X[pair], y[pair] == 0)


def test_blobs_margin_is_the_documented_one():
    X, y = datasets.blobs(500, n_classes=2, n_features=2, separable=True, seed=3)
    # 2 classes <= 2 features: centres R e_k on the axes, cos_max = 0, so both one-vs-rest
    # hyperplanes x_k = b sit at b = R / 2 = gap = margin + truncation
    b = datasets.BLOB_MARGIN + datasets.BLOB_TRUNCATION
    own_side = np.where(np.arange(2) == y[:, None], 1.0, -1.0)
    assert ((X - b) * own_side).min() >= datasets.BLOB_MARGIN


# ---------------------------------------------------------------- xor

@settings(deadline=None, max_examples=30)
@given(n_samples=st.integers(4, 300), noise=st.floats(0, 2), seed=st.integers(0, 2**32 - 1))
def test_xor_is_not_linearly_separable_but_follows_the_sign_rule(n_samples, noise, seed):
    X, y = datasets.xor(n_samples, noise, seed)
    assert X.shape == (n_samples, 2) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(y, X[:, 0] * X[:, 1] > 0)
    assert abs(np.bincount(y, minlength=2) @ [1, -1]) <= 1
    assert not linearly_separable(X, y == 1)
    # one product feature (what a small hidden layer can build) makes it separable
    assert linearly_separable(np.column_stack([X, X[:, 0] * X[:, 1]]), y == 1)


# ---------------------------------------------------------------- determinism

@pytest.mark.parametrize("make", [
    lambda seed: datasets.blobs(90, 3, 4, separable=True, seed=seed),
    lambda seed: datasets.blobs(90, 3, 4, separable=False, seed=seed),
    lambda seed: datasets.xor(90, 0.3, seed),
    lambda seed: datasets.train_test_split(np.arange(90.0)[:, None], np.arange(90) % 3,
                                           0.3, seed),
])
def test_same_seed_gives_bit_identical_output(make):
    first, again, other = make(7), make(7), make(8)
    for a, b in zip(first, again):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert any(a.tobytes() != b.tobytes() for a, b in zip(first, other))


# ---------------------------------------------------------------- train_test_split

@settings(deadline=None, max_examples=30)
@given(n=st.integers(2, 300), n_classes=st.integers(1, 6),
       test_size=st.one_of(st.floats(0.01, 0.99), st.integers(1, 299)),
       seed=st.integers(0, 2**32 - 1), stratify=st.booleans())
def test_split_covers_every_row_once_and_stratifies(n, n_classes, test_size, seed, stratify):
    n_test = test_size if isinstance(test_size, int) else round(test_size * n)
    assume(1 <= n_test <= n - 1)
    labels = np.random.default_rng(seed).integers(0, n_classes, n)
    row_ids = np.arange(n)
    X = np.column_stack([row_ids, row_ids]).astype(np.float64)
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, labels, test_size, seed,
                                                                 stratify)
    assert len(X_test) == len(y_test) == n_test and len(X_train) == len(y_train) == n - n_test
    ids_train, ids_test = X_train[:, 0].astype(int), X_test[:, 0].astype(int)
    assert np.intersect1d(ids_train, ids_test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([ids_train, ids_test])), row_ids)
    np.testing.assert_array_equal(y_train, labels[ids_train])
    np.testing.assert_array_equal(y_test, labels[ids_test])
    if stratify:
        exact_share = np.bincount(labels, minlength=n_classes) * n_test / n
        assert np.all(np.abs(np.bincount(y_test, minlength=n_classes) - exact_share) < 1)


def test_split_of_a_target_matrix_stratifies_on_argmax():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    T = np.eye(3)[labels] * 0.9 + 0.1 / 3  # smoothed one-hot
    X = np.arange(100.0)[:, None]
    X_train, X_test, T_train, T_test = datasets.train_test_split(X, T, test_size=0.2, seed=1)
    assert T_test.shape == (20, 3)
    assert np.bincount(T_test.argmax(axis=1)).tolist() == [10, 6, 4]
    np.testing.assert_array_equal(T_train, T[X_train[:, 0].astype(int)])


def test_split_returns_copies():
    X, y = np.arange(20.0).reshape(10, 2), np.arange(10) % 2
    X_before, y_before = X.copy(), y.copy()
    parts = datasets.train_test_split(X, y, test_size=3)
    for part in parts:
        part[...] = -1
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)


# ---------------------------------------------------------------- Standardizer

def test_standardizer_fits_train_rows_only_and_round_trips():
    rng = np.random.default_rng(0)
    X_train = rng.normal([5.0, -3.0, 100.0], [2.0, 0.1, 30.0], size=(200, 3))
    X_test = rng.normal(size=(20, 3))
    X_train_before = X_train.copy()
    scaler = datasets.Standardizer().fit(X_train)
    Z = scaler.transform(X_train)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(Z), X_train, rtol=1e-12)
    np.testing.assert_allclose(scaler.transform(X_test),
                               (X_test - X_train.mean(axis=0)) / X_train.std(axis=0))
    np.testing.assert_array_equal(X_train, X_train_before)
    np.testing.assert_array_equal(datasets.Standardizer().fit_transform(X_train), Z)
    Z_train, Z_test = datasets.standardize(X_train, X_test)
    np.testing.assert_array_equal(Z_train, Z)
    np.testing.assert_array_equal(Z_test, scaler.transform(X_test))
    np.testing.assert_array_equal(datasets.standardize(X_train), Z)


def test_standardizer_constant_column_maps_to_zero():
    X = np.column_stack([np.full(7, 0.1), np.arange(7.0)])
    scaler = datasets.Standardizer().fit(X)
    assert scaler.scale_[0] == 1.0
    Z = scaler.transform(X)
    assert np.all(np.isfinite(Z)) and np.all(Z[:, 0] == 0)
    np.testing.assert_array_equal(scaler.inverse_transform(Z)[:, 0], X[:, 0])


def test_standardizer_accepts_integers():
    X, _ = datasets.digits()
    Z = datasets.standardize(X.astype(np.int64))
    assert Z.dtype == np.float64 and np.all(np.isfinite(Z))


# ---------------------------------------------------------------- bad arguments

X10, y10 = np.zeros((10, 2)), np.arange(10) % 2


@pytest.mark.parametrize("call, error, name", [
    (lambda: datasets.blobs(n_classes=1), ValueError, "n_classes"),
    (lambda: datasets.blobs(n_classes=2.0), TypeError, "n_classes"),
    (lambda: datasets.blobs(n_samples=5, n_classes=3), ValueError, "n_samples"),
    (lambda: datasets.blobs(n_features=0), ValueError, "n_features"),
    (lambda: datasets.blobs(n_classes=3, n_features=1), ValueError, "n_features"),
    (lambda: datasets.blobs(separable="yes"), TypeError, "separable"),
    (lambda: datasets.blobs(seed=-1), ValueError, "seed"),
    (lambda: datasets.xor(n_samples=3), ValueError, "n_samples"),
    (lambda: datasets.xor(noise=-0.1), ValueError, "noise"),
    (lambda: datasets.xor(noise=np.nan), ValueError, "noise"),
    (lambda: datasets.xor(seed=1.5), TypeError, "seed"),
    (lambda: datasets.train_test_split(X10, y10, test_size=1.5), ValueError, "test_size"),
    (lambda: datasets.train_test_split(X10, y10, test_size=0.0), ValueError, "test_size"),
    (lambda: datasets.train_test_split(X10, y10, test_size=0.01), ValueError, "test_size"),
    (lambda: datasets.train_test_split(X10, y10, test_size=10), ValueError, "test_size"),
    (lambda: datasets.train_test_split(X10, y10, test_size="0.2"), TypeError, "test_size"),
    (lambda: datasets.train_test_split(X10, y10, test_size=True), TypeError, "test_size"),
    (lambda: datasets.train_test_split(X10, y10[:9]), ValueError, "X and y"),
    (lambda: datasets.train_test_split(X10, y10[:, None, None]), ValueError, "y"),
    (lambda: datasets.train_test_split(X10, y10, stratify=None), TypeError, "stratify"),
    (lambda: datasets.Standardizer().fit(np.array([[1.0, np.nan]])), ValueError, "X"),
    (lambda: datasets.Standardizer().fit(np.ones(3)), ValueError, "X"),
    (lambda: datasets.Standardizer().fit(X10).transform(np.ones((2, 3))), ValueError, "X"),
    (lambda: datasets.Standardizer().transform(X10), RuntimeError, "fit"),
])
def test_bad_arguments_are_named(call, error, name):
    with pytest.raises(error, match=name):
        call()
