"""Small classification data sets, a stratified split and a standardizer.

Everything returns ``(X, y)`` with ``X`` float64 of shape (n, d) and ``y`` int64 labels of
shape (n,). The real data sets ship inside the package (``gradlab/data/``, see its
README.md); nothing is ever downloaded. The synthetic ones draw all their randomness from
``np.random.default_rng(seed)``, so the same seed gives bit-identical output.
"""
import functools
import numbers
from importlib import resources

import numpy as np

from . import _checks

__all__ = ["Standardizer", "blobs", "digits", "iris", "standardize", "train_test_split", "xor"]

BLOB_MARGIN = 1.0
"""``blobs(separable=True)``: distance every point keeps from its one-vs-rest hyperplanes."""
BLOB_TRUNCATION = 3.0
"""``blobs(separable=True)``: extra room, in standard deviations, between a class centre and
the margin band; points falling into the band are redrawn (about 0.1% per hyperplane)."""
BLOB_OVERLAP_GAP = 1.0
"""``blobs(separable=False)``: distance of each centre from its one-vs-rest midplane."""


@functools.cache
def _load_table(filename, skiprows):
    """Parsed ``gradlab/data/<filename>`` as read-only (features float64, labels int64)."""
    with resources.as_file(resources.files("gradlab") / "data" / filename) as path:
        table = np.loadtxt(path, delimiter=",", skiprows=skiprows, dtype=np.float64)
    X, y = table[:, :-1], table[:, -1].astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def iris():
    """Fisher's Iris: X float64 (150, 4) in cm (sepal length, sepal width, petal length,
    petal width), y int64 (150,) with 0 = setosa, 1 = versicolor, 2 = virginica, 50 each.

    Returns fresh copies on every call; the parsed file is cached.
    """
    X, y = _load_table("iris.csv", skiprows=1)
    return X.copy(), y.copy()


def digits():
    """UCI 8x8 handwritten digits: X float64 (1797, 64), whole numbers 0..16 (column ``8*r + c``
    is image row r, column c), y int64 (1797,) digit 0..9, 174 to 183 per class.

    The file ``digits.csv.gz`` has no header: 65 comma-separated integers a row, the 64
    pixel counts then the label. Returns fresh copies on every call; the parse is cached.
    """
    X, y = _load_table("digits.csv.gz", skiprows=0)
    return X.copy(), y.copy()


def blobs(n_samples=200, n_classes=2, n_features=2, separable=True, seed=0):
    """Gaussian blobs (unit variance) around ``n_classes`` centres: X float64
    (n_samples, n_features), y int64 (n_samples,), class counts differing by at most 1,
    rows in random order.

    Centres ``c_k = R u_k`` lie on unit directions ``u_k``: the axes ``e_k`` when
    ``n_classes <= n_features``, else a regular polygon in the first two features (needs
    ``n_features >= 2`` unless ``n_classes == 2``). With ``cos_max`` the largest
    ``u_j . u_k`` (j != k), the one-vs-rest hyperplane of class k is
    ``u_k . x = b``, ``b = R (1 + cos_max) / 2``; every centre lies at distance
    ``gap = R (1 - cos_max) / 2`` on its own side of its own hyperplane and at least ``gap``
    on the far side of every other class's.

    separable=True: ``gap = BLOB_MARGIN + BLOB_TRUNCATION`` (1 + 3) and any point closer than
    ``BLOB_MARGIN`` to the wrong side of any hyperplane is redrawn, so each class is
    separated from the rest by ``u_k . x = b`` with geometric margin >= 1 (one-vs-rest
    separability, hence also pairwise and argmax-linear separability).

    separable=False: ``gap = BLOB_OVERLAP_GAP`` (1 standard deviation, so the blobs
    overlap), and in every class two points are placed at ``m + z`` and ``m - z`` around the
    mean ``m`` of all centres. ``m`` is then in the convex hull of every class, so no
    hyperplane separates any class from the rest (nor any two classes).
    """
    n_samples = _checks.integer("n_samples", n_samples)
    n_classes = _checks.integer("n_classes", n_classes, low=2)
    n_features = _checks.integer("n_features", n_features, low=1)
    if n_samples < 2 * n_classes:
        raise ValueError(f"n_samples must be >= 2 * n_classes = {2 * n_classes} "
                         f"(two points per class); got {n_samples}")
    if n_features == 1 and n_classes > 2:
        raise ValueError(f"n_features must be >= 2 for n_classes={n_classes} > 2 "
                         "(in 1-D a middle class cannot be cut off by one threshold)")
    if not isinstance(separable, (bool, np.bool_)):
        raise TypeError(f"separable must be a bool; got {type(separable).__name__}")
    rng = np.random.default_rng(_checks.seed("seed", seed))

    if n_classes <= n_features:
        directions = np.eye(n_classes, n_features)
    else:
        angles = 2 * np.pi * np.arange(n_classes) / n_classes
        directions = np.zeros((n_classes, n_features))
        directions[:, :2] = np.column_stack([np.cos(angles), np.sin(angles)])[:, :n_features]
    cosines = directions @ directions.T
    cos_max = cosines[~np.eye(n_classes, dtype=bool)].max()
    gap = BLOB_MARGIN + BLOB_TRUNCATION if separable else BLOB_OVERLAP_GAP
    radius = 2 * gap / (1 - cos_max)
    centres = radius * directions
    threshold = radius * (1 + cos_max) / 2

    counts = n_samples // n_classes + (np.arange(n_classes) < n_samples % n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), counts)
    own_side = np.where(np.arange(n_classes) == y[:, None], 1.0, -1.0)  # +1 own hyperplane
    X = np.empty((n_samples, n_features))
    redraw = np.ones(n_samples, dtype=bool)
    while redraw.any():
        X[redraw] = centres[y[redraw]] + rng.standard_normal((redraw.sum(), n_features))
        if not separable:
            break
        signed_distances = (X @ directions.T - threshold) * own_side
        redraw = signed_distances.min(axis=1) < BLOB_MARGIN

    if not separable:
        first_of_class = np.concatenate([[0], np.cumsum(counts)[:-1]])
        offsets = rng.standard_normal((n_classes, n_features))
        X[first_of_class] = centres.mean(axis=0) + offsets
        X[first_of_class + 1] = centres.mean(axis=0) - offsets

    order = rng.permutation(n_samples)
    return X[order], y[order]


def xor(n_samples=200, noise=0.1, seed=0):
    """2-D XOR: X float64 (n_samples, 2), y int64 (n_samples,) with ``y = (x0 * x1 > 0)``.

    Points are ``s * |(1, 1) + noise * z|`` for the four quadrant signs ``s = (+-1, +-1)``
    in equal numbers (differing by at most 1), z standard normal; folding by ``|.|`` keeps
    each point in its quadrant, so the label rule holds exactly and a small net can learn
    it. Not linearly separable by construction: the first point of quadrant III is the
    mirror image ``-x`` of the first of quadrant I, likewise IV of II, so the origin is in
    the convex hull of both classes. Rows are in random order.
    """
    n_samples = _checks.integer("n_samples", n_samples, low=4)
    noise = _checks.number("noise", noise, low=0.0)
    rng = np.random.default_rng(_checks.seed("seed", seed))

    quadrant_signs = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])  # I..IV
    counts = n_samples // 4 + (np.arange(4) < n_samples % 4)
    quadrant = np.repeat(np.arange(4), counts)
    X = quadrant_signs[quadrant] * np.abs(1.0 + noise * rng.standard_normal((n_samples, 2)))
    first_of_quadrant = np.concatenate([[0], np.cumsum(counts)[:-1]])
    X[first_of_quadrant[2:]] = -X[first_of_quadrant[:2]]
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)

    order = rng.permutation(n_samples)
    return X[order], y[order]


def train_test_split(X, y, test_size=0.2, seed=0, stratify=True):
    """Random split of the rows: ``(X_train, X_test, y_train, y_test)``, all new arrays.

    ``test_size`` is a fraction in (0, 1), giving ``round(test_size * n)`` test rows, or a
    row count in [1, n - 1]. ``y`` is (n,) labels or an (n, K) target matrix (then rows are
    stratified on ``argmax``). With ``stratify`` each class of ``n_c`` rows contributes
    ``n_c * n_test / n`` test rows, rounded by largest remainder so the total is exact
    (so every class's test count is within 1 of its exact share). Both parts come out in
    random order.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim == 0:
        raise ValueError("X must have one row per sample; got a scalar")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be (n,) labels or an (n, K) target matrix; got shape {y.shape}")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X and y must have the same number of rows; got {n} and {y.shape[0]}")
    if n < 2:
        raise ValueError(f"X needs at least 2 rows to split; got {n}")
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int; got {test_size!r}")
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
    elif 0 < test_size < 1:
        n_test = round(test_size * n)
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a row count; got {test_size}")
    if not 1 <= n_test <= n - 1:
        raise ValueError(f"test_size={test_size!r} gives {n_test} test rows of {n}; "
                         f"need 1 to {n - 1}")
    if not isinstance(stratify, (bool, np.bool_)):
        raise TypeError(f"stratify must be a bool; got {type(stratify).__name__}")
    rng = np.random.default_rng(_checks.seed("seed", seed))

    order = rng.permutation(n)
    is_test = np.zeros(n, dtype=bool)  # position in `order`
    if not stratify:
        is_test[:n_test] = True
    else:
        classes = np.unique(y.argmax(axis=1) if y.ndim == 2 else y, return_inverse=True)[1]
        class_of_position = classes[order]
        class_sizes = np.bincount(classes)
        share = class_sizes * n_test / n
        class_tests = np.floor(share).astype(np.int64)
        leftover = n_test - class_tests.sum()
        class_tests[np.argsort(class_tests - share, kind="stable")[:leftover]] += 1
        for c, k in enumerate(class_tests):
            is_test[np.flatnonzero(class_of_position == c)[:k]] = True
    train, test = order[~is_test], order[is_test]
    return X[train], X[test], y[train], y[test]


class Standardizer:
    """Per-column standardization ``(X - mean_) / scale_``, as scikit-learn's StandardScaler.

    Fit it on the training rows only, then transform train and test with the same
    ``mean_`` and ``scale_`` (float64, shape (d,)); fitting on all rows leaks test data.
    ``scale_`` is the population standard deviation, with 1.0 for constant columns (which
    then transform to 0 instead of NaN).
    """

    def __init__(self):
        self.mean_ = None
        self.scale_ = None

    def fit(self, X):
        """Store the column means and scales of X (n, d); returns self."""
        X = _checks.float_array("X", X, ndim=2, dtype=np.float64)
        constant = (X == X[0]).all(axis=0)
        self.mean_ = np.where(constant, X[0], X.mean(axis=0))
        self.scale_ = np.where(constant, 1.0, X.std(axis=0))
        return self

    def _checked(self, X):
        if self.mean_ is None:
            raise RuntimeError("this Standardizer is not fitted yet; call fit(X_train) first")
        X = _checks.float_array("X", X, ndim=2, dtype=np.float64)
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X has {X.shape[1]} columns but the Standardizer was fitted on "
                             f"{self.mean_.shape[0]}")
        return X

    def transform(self, X):
        """``(X - mean_) / scale_`` as a new float64 (n, d) array."""
        return (self._checked(X) - self.mean_) / self.scale_

    def fit_transform(self, X):
        """``fit(X)`` then ``transform(X)``."""
        return self.fit(X).transform(X)

    def inverse_transform(self, X):
        """``X * scale_ + mean_``: back to the original units, a new float64 (n, d) array."""
        return self._checked(X) * self.scale_ + self.mean_


def standardize(X_train, X_test=None):
    """Standardize with the statistics of ``X_train`` only: returns the transformed
    ``X_train``, or ``(X_train, X_test)`` transformed when ``X_test`` is given."""
    scaler = Standardizer().fit(X_train)
    if X_test is None:
        return scaler.transform(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)
