"""Bad arguments: every public entry point refuses them in Python, before any kernel runs,
with ValueError or TypeError whose message names the argument (never a numba error)."""
import numba
import numpy as np
import pytest

import gradlab as gl

NET = gl.MLP([4, 5, 3], hidden="tanh", output="softmax", seed=0)
SIG = gl.MLP([4, 2], hidden="tanh", output="sigmoid", seed=0)
IDN = gl.MLP([4, 2], hidden="relu", output="identity", seed=0)
X = np.linspace(-1, 1, 24).reshape(6, 4)
Y = np.array([0, 1, 2, 0, 1, 2])
T = gl.one_hot(Y, 3)
Z = np.linspace(-2, 2, 18).reshape(6, 3)


def with_value(A, index, value):
    A = np.array(A, np.float64)
    A[index] = value
    return A


CASES = [
    # shapes
    ("X 1-D", lambda: gl.forward(NET, X[0]), ValueError, "X must be 2-D"),
    ("X wrong n_features", lambda: gl.forward(NET, X[:, :3]), ValueError, "X has 3 features"),
    ("X wrong n_features (grad)", lambda: gl.grad(NET, np.ones((6, 5)), T), ValueError, "X has 5"),
    ("T wrong number of columns", lambda: gl.grad(NET, X, T[:, :2]), ValueError, "T must have shape"),
    ("T rows != X rows", lambda: gl.grad(NET, X, T[:5]), ValueError, "T must have shape"),
    ("T 3-D", lambda: gl.per_sample_grads(NET, X, T[None]), ValueError, "T must be 2-D"),
    ("z 1-D", lambda: gl.error_term(Z[0], T[0]), ValueError, "z must be 2-D"),
    ("error_term T rows != z rows", lambda: gl.error_term(Z, T[:4]), ValueError, "T must have shape"),
    ("softmax z with one column", lambda: gl.error_term(Z[:, :1], np.ones((6, 1))), ValueError, "z:"),
    # non-finite values
    ("NaN in X", lambda: gl.forward(NET, with_value(X, (2, 1), np.nan)), ValueError, "X contains NaN"),
    ("inf in X", lambda: gl.grad(NET, with_value(X, (0, 0), np.inf), T), ValueError, "X contains NaN"),
    ("NaN in T", lambda: gl.grad(NET, X, with_value(T, (1, 1), np.nan)), ValueError, "T contains NaN"),
    ("-inf in T (mse)", lambda: gl.grad(IDN, X, with_value(np.zeros((6, 2)), (3, 0), -np.inf), loss="mse"),
     ValueError, "T contains NaN"),
    ("NaN in z", lambda: gl.error_term(with_value(Z, (0, 2), np.nan), T), ValueError, "z contains NaN"),
    ("inf in z", lambda: gl.error_term(with_value(Z, (4, 0), np.inf), T, loss="mse"), ValueError,
     "z contains NaN"),
    ("NaN in params", lambda: gl.MLP.from_params([4, 3], with_value(np.zeros(15), 3, np.nan)),
     ValueError, "params contains NaN"),
    # labels
    ("label 3 for a 3-class net", lambda: gl.grad(NET, X, np.array([0, 1, 2, 3, 1, 0])), ValueError, "T:"),
    ("negative label", lambda: gl.per_sample_grads(NET, X, np.array([0, 1, -1, 2, 1, 0])), ValueError, "T:"),
    ("one_hot label >= n_classes", lambda: gl.one_hot(np.array([0, 3]), 3), ValueError, "y:"),
    ("one_hot fractional labels", lambda: gl.one_hot(np.array([0.5, 1.0])), ValueError, "y must hold whole"),
    # float labels: whole numbers are class labels (as read from a CSV file), others are refused
    ("train 1-D fractional float y", lambda: gl.train(NET, X, Y + 0.5, epochs=1), ValueError,
     "y must hold whole-number class labels; got 0.5 at index 0"),
    ("train 1-D NaN float y", lambda: gl.train(NET, X, with_value(Y, 2, np.nan), epochs=1), ValueError,
     "y contains NaN"),
    ("train fractional float y_test", lambda: gl.train(NET, X, Y, epochs=1, X_test=X, y_test=with_value(Y, 4, 1.25)),
     ValueError, "y_test must hold whole-number class labels"),
    ("grad 1-D fractional float T", lambda: gl.grad(NET, X, with_value(Y, 3, 0.999)), ValueError,
     "T must hold whole-number class labels"),
    ("float label 3.0 for a 3-class net", lambda: gl.loss(NET, X, with_value(Y, 1, 3.0)), ValueError, "T:"),
    ("float32 fractional labels", lambda: gl.per_sample_grads(NET, X, (Y + 0.5).astype(np.float32)), ValueError,
     "T must hold whole"),
    ("sweep fractional float y_train", lambda: gl.sweep(gl.Grid(sizes=[[4, 5, 3]], epochs=[1]), (X, Y - 0.5, X, Y)),
     ValueError, "y_train must hold whole-number class labels"),
    ("sweep fractional float y (split)", lambda: gl.sweep(gl.Grid(sizes=[[4, 5, 3]], epochs=[1]),
                                                          (np.tile(X, (2, 1)), np.tile(Y, 2) * 1.5)),
     ValueError, "y_train must hold whole-number class labels"),
    # smoothing strength
    ("a > 1", lambda: gl.smooth_labels(T, 1.5), ValueError, "a must be <= 1"),
    ("a < 0", lambda: gl.smooth_labels(T, -0.1), ValueError, "a must be >= 0"),
    ("a NaN", lambda: gl.smooth_labels(T, np.nan), ValueError, "a must be finite"),
    ("a string", lambda: gl.smooth_labels(T, "0.1"), TypeError, "a must be a real number"),
    ("smooth_labels T 1-D", lambda: gl.smooth_labels(Y, 0.1), ValueError, "T must be 2-D"),
    # names
    ("unknown loss", lambda: gl.grad(NET, X, T, loss="hinge"), ValueError, "loss must be one of"),
    ("loss not a string", lambda: gl.loss(NET, X, T, loss=None), TypeError, "loss must be a string"),
    ("unknown output", lambda: gl.error_term(Z, T, output="relu"), ValueError, "output must be one of"),
    ("unknown hidden", lambda: gl.MLP([4, 3], hidden="softmax"), ValueError, "hidden must be one of"),
    ("unknown MLP output", lambda: gl.MLP([4, 3], output="tanh"), ValueError, "output must be one of"),
    ("unknown variant", lambda: gl.grad(NET, X, T, loss="mse", variant="approx"), ValueError,
     "variant must be one of"),
    ("unknown smoothing variant", lambda: gl.smooth_labels(T, 0.1, variant="other"), ValueError,
     "variant must be one of"),
    ("ce with identity output (net)", lambda: gl.grad(IDN, X, np.zeros((6, 2)), loss="ce"), ValueError,
     "loss='ce'"),
    ("ce with identity output (z)", lambda: gl.error_term(Z, T, loss="ce", output="identity"), ValueError,
     "loss='ce'"),
    ("diagonal with CE", lambda: gl.per_sample_grads(NET, X, T, loss="ce", variant="diagonal"),
     ValueError, "variant='diagonal'"),
    ("diagonal with sigmoid MSE", lambda: gl.error_term(Z, T, loss="mse", output="sigmoid",
                                                          variant="diagonal"), ValueError, "variant='diagonal'"),
    # empty
    ("empty X", lambda: gl.forward(NET, np.empty((0, 4))), ValueError, "X is empty"),
    ("empty X (grad)", lambda: gl.grad(NET, np.empty((0, 4)), np.empty((0, 3))), ValueError, "X is empty"),
    ("empty z", lambda: gl.error_term(np.empty((0, 3)), np.empty((0, 3))), ValueError, "z is empty"),
    ("empty T", lambda: gl.error_term(Z, np.empty((0, 3))), ValueError, "T is empty"),
    ("empty labels", lambda: gl.grad(NET, X, np.array([], int)), ValueError, "T is empty"),
    # dtypes
    ("complex X", lambda: gl.forward(NET, X.astype(complex)), TypeError, "X must hold real numbers"),
    ("string T", lambda: gl.grad(NET, X, np.full((6, 3), "a")), TypeError, "T must hold real numbers"),
    ("object X", lambda: gl.forward(NET, X.astype(object)), TypeError, "X must hold real numbers"),
    ("object z", lambda: gl.error_term(Z.astype(object), T), TypeError, "z must hold real numbers"),
    ("string X", lambda: gl.forward(NET, [["a", "b", "c", "d"]]), TypeError, "X must hold real numbers"),
    ("complex params", lambda: gl.MLP.from_params([4, 3], np.zeros(15, complex)), TypeError,
     "params must hold real numbers"),
    ("bool labels for one_hot", lambda: gl.one_hot(np.array([True, False])), TypeError, "y must hold"),
    # net
    ("net not an MLP", lambda: gl.forward("net", X), TypeError, "net must be a gradlab.MLP"),
    ("net None (grad)", lambda: gl.grad(None, X, T), TypeError, "net must be a gradlab.MLP"),
    # learning rate
    ("lr = 0", lambda: gl.deltas(NET, X, T, lr=0.0), ValueError, "lr must be > 0"),
    ("lr < 0", lambda: gl.deltas(NET, X, T, lr=-0.01), ValueError, "lr must be > 0"),
    ("lr NaN", lambda: gl.deltas(NET, X, T, lr=np.nan), ValueError, "lr must be finite"),
    ("lr inf", lambda: gl.deltas(NET, X, T, lr=np.inf), ValueError, "lr must be finite"),
    ("lr string", lambda: gl.deltas(NET, X, T, lr="0.1"), TypeError, "lr must be a real number"),
    # CE targets
    ("sigmoid CE target > 1", lambda: gl.grad(SIG, X, np.full((6, 2), 1.5)), ValueError, "T: cross-entropy"),
    ("sigmoid CE target < 0", lambda: gl.error_term(Z[:, :2], np.full((6, 2), -0.5), output="sigmoid"),
     ValueError, "T: cross-entropy"),
    ("softmax CE row sum != 1", lambda: gl.grad(NET, X, 0.5 * T), ValueError, "T: softmax cross-entropy"),
    ("softmax CE row sum != 1 (z)", lambda: gl.error_term(Z, np.full((6, 3), 0.5)), ValueError,
     "T: softmax cross-entropy"),
    # MLP construction
    ("sizes [4]", lambda: gl.MLP([4]), ValueError, "sizes needs"),
    ("sizes with 0", lambda: gl.MLP([4, 0, 3]), ValueError, "sizes must be >= 1"),
    ("sizes negative", lambda: gl.MLP([4, -2]), ValueError, "sizes must be >= 1"),
    ("sizes fractional", lambda: gl.MLP([4, 2.5]), TypeError, "sizes must be"),
    ("softmax with 1 output", lambda: gl.MLP([4, 1], output="softmax"), ValueError, "sizes:"),
    ("dtype int", lambda: gl.MLP([4, 3], dtype=int), TypeError, "dtype must be float32 or float64"),
    ("dtype nonsense", lambda: gl.MLP([4, 3], dtype="banana"), TypeError, "dtype must be float32"),
    ("seed negative", lambda: gl.MLP([4, 3], seed=-1), ValueError, "seed must be"),
    ("seed float", lambda: gl.MLP([4, 3], seed=1.5), TypeError, "seed must be"),
    ("from_params wrong length", lambda: gl.MLP.from_params([4, 3], np.zeros(14)), ValueError, "params:"),
    ("from_params 2-D params", lambda: gl.MLP.from_params([4, 3], np.zeros((3, 5))), ValueError,
     "params must be 1-D"),
]

assert len(CASES) >= 25


@pytest.mark.parametrize("description,call,exc_type,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_argument(description, call, exc_type, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    exc = info.value
    assert not isinstance(exc, numba.core.errors.NumbaError), f"{description}: numba error {exc!r}"
    assert type(exc) is exc_type, f"{description}: {type(exc).__name__}, expected {exc_type.__name__}: {exc}"
    assert message in str(exc), f"{description}: message {str(exc)!r} lacks {message!r}"


UNSUPPORTED_FLOATS = [np.float16] + ([np.longdouble] if np.dtype(np.longdouble) != np.float64 else [])


@pytest.mark.parametrize("dtype", UNSUPPORTED_FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", ["from_params", "error_term", "smooth_labels", "forward X"])
def test_other_float_widths_are_converted_or_refused(case, dtype):
    """float16 / long double arrays are real numbers: the library must either convert them
    (to float64, as it does for ints) or refuse them with a TypeError/ValueError naming the
    argument -- never fail inside a numba kernel."""
    calls = {
        "from_params": ("params", lambda: gl.forward(
            gl.MLP.from_params([4, 3], np.zeros(15, dtype)), X)),
        "error_term": ("z", lambda: gl.error_term(Z.astype(dtype), T)),
        "smooth_labels": ("T", lambda: gl.smooth_labels(T.astype(dtype), 0.1)),
        "forward X": ("X", lambda: gl.forward(NET, X.astype(dtype))),
    }
    name, call = calls[case]
    try:
        result = call()
    except (ValueError, TypeError) as exc:
        assert not isinstance(exc, numba.core.errors.NumbaError), repr(exc)
        assert name in str(exc), str(exc)
    else:
        assert result.dtype in (np.float32, np.float64), result.dtype
