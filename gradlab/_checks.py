"""Validation in one place: every public function checks its arguments here, in Python,
before any kernel runs, and raises ValueError/TypeError naming the argument."""
import math
import numbers
import operator

import numpy as np

from . import _kernels as K

ACTIVATION_CODES = {"identity": K.IDENTITY, "tanh": K.TANH, "relu": K.RELU,
                    "sigmoid": K.SIGMOID, "softmax": K.SOFTMAX}
LOSSES = ("ce", "mse")
VARIANTS = ("exact", "diagonal")


def choice(name, value, options):
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, one of {options}; got {type(value).__name__}")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


def float_dtype(name, dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from err
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt.type


def flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def seed(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer or None; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer or None; got {value}")
    return int(value)


def integer(name, value, low=None):
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer; got {value!r}")
    try:
        value = operator.index(value)
    except TypeError as err:
        raise TypeError(f"{name} must be an integer; got {value!r}") from err
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}; got {value}")
    return value


def number(name, value, low=None, high=None, low_open=False):
    """A finite real scalar in [low, high] (or (low, high] with low_open)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}; got {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}; got {value}")
    return value


def fraction(name, value):
    return number(name, value, 0.0, 1.0)


def betas(name, value):
    """Adam's (b1, b2): two numbers in [0, 1)."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a pair (b1, b2) of numbers in [0, 1); got {value!r}")
    out = tuple(number(f"{name}[{i}]", v, 0.0, 1.0) for i, v in enumerate(value))
    for i, v in enumerate(out):
        if v >= 1.0:
            raise ValueError(f"{name}[{i}] must be < 1; got {v}")
    return out


def layer_sizes(sizes):
    try:
        sizes = tuple(integer("sizes", s, low=1) for s in sizes)
    except TypeError as err:
        raise TypeError(f"sizes must be a sequence of positive integers; got {sizes!r}") from err
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least an input and an output size; got {list(sizes)}")
    return sizes


def _convert(name, x, ndim, dtype=None):
    """``x`` as a C-contiguous, non-empty float array of ``ndim`` dimensions.

    Booleans, integers and other float widths (float16, long double) become float64 unless
    ``dtype`` is given; complex, object and string data are refused.
    A new array is made whenever conversion is needed; the caller's is never written.
    Read-only arrays are copied too: numba types them apart from writable ones, so passing one
    would compile every kernel a second time.
    """
    if (dtype is not None and isinstance(x, np.ndarray) and x.dtype == dtype
            and x.ndim == ndim and x.flags.c_contiguous and x.flags.writeable):
        arr = x  # fast path: already what the kernels want
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
        if arr.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D; got shape {arr.shape}")
        target = dtype or (arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64)
        arr = np.ascontiguousarray(arr, dtype=target)
        if not arr.flags.writeable:
            arr = arr.copy()
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr


def _summary(arr):
    """(non-finite count, min, max, max |row sum - 1|) of a C-contiguous array, one pass."""
    return K.value_summary(arr.reshape(-1), arr.shape[-1])


def float_array(name, x, ndim, dtype=None):
    """``x`` converted as by `_convert`, and checked to be all finite."""
    arr = _convert(name, x, ndim, dtype)
    if _summary(arr)[0]:
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def labels(name, y, n_classes=None):
    """Class labels (1-D) in [0, n_classes) as int64: integers, or floats that are whole
    numbers (0.0, 1.0, ... as read from a CSV file)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold integer class labels; got dtype {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D class labels; got shape {y.shape}")
    if y.size == 0:
        raise ValueError(f"{name} is empty")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"{name} contains NaN or inf; class labels must be whole numbers")
        fractional = np.flatnonzero(y != np.round(y))
        if fractional.size:
            i = fractional[0]
            raise ValueError(f"{name} must hold whole-number class labels; got {y[i]} at index {i} (a 1-D "
                             f"{name} is class labels; targets go in a 2-D (n, K) array)")
    y = y.astype(np.int64)
    if n_classes is not None:
        integer("n_classes", n_classes, low=1)
    if y.min() < 0 or (n_classes is not None and y.max() >= n_classes):
        raise ValueError(f"{name}: labels must lie in [0, {n_classes if n_classes is not None else 'K'}); "
                         f"got range [{y.min()}, {y.max()}]")
    return y


_MLP = []  # the MLP class, filled on first use: nets imports this module


def net(net):
    if not _MLP:
        from .nets import MLP
        _MLP.append(MLP)
    if not isinstance(net, _MLP[0]):
        raise TypeError(f"net must be a gradlab.MLP; got {type(net).__name__}")
    return net


def net_params(net):
    """``net.params`` for the kernels: a copy when it is read-only (see `_convert`)."""
    return net.params if net.params.flags.writeable else net.params.copy()


def loss_code(loss, output, variant="exact"):
    """The kernel's loss code for a (loss, output activation, variant) triple."""
    choice("loss", loss, LOSSES)
    choice("variant", variant, VARIANTS)
    if loss == "ce" and output == "identity":
        raise ValueError("loss='ce' needs a softmax or sigmoid output; output is 'identity' "
                         "(use loss='mse' for identity outputs)")
    if variant == "diagonal":
        if not (loss == "mse" and output == "softmax"):
            raise ValueError("variant='diagonal' is the softmax-MSE shortcut; it needs "
                             f"loss='mse' and output='softmax', got loss={loss!r}, output={output!r}")
        return K.MSE_DIAGONAL
    return K.CE if loss == "ce" else K.MSE


def targets(name, T, n, n_outputs, loss, output, dtype):
    """Targets as an (n, K) matrix of ``dtype``; 1-D class labels (integers, or whole-number
    floats: `labels`) are one-hot encoded.

    CE needs targets in [0, 1]; softmax-CE needs rows summing to 1, to sqrt(eps) of the coarser
    of ``dtype`` and the precision the targets came in (float32 rows sum to 1 only to ~1e-7).
    """
    T_arr = np.asarray(T)
    eps = max(np.finfo(dtype).eps, np.finfo(T_arr.dtype).eps if T_arr.dtype.kind == "f" else 0.0)
    if T_arr.ndim == 1 and T_arr.dtype.kind in "iuf":
        y = labels(name, T_arr, max(n_outputs, 2))
        if n_outputs == 1:
            T_arr = y[:, None].astype(dtype)
        else:
            T_arr = np.zeros((y.shape[0], n_outputs), dtype)
            T_arr[np.arange(y.shape[0]), y] = 1
    T_arr = _convert(name, T_arr, ndim=2, dtype=dtype)
    bad, lo, hi, row_dev = _summary(T_arr)
    if bad:
        raise ValueError(f"{name} contains NaN or inf")
    if T_arr.shape != (n, n_outputs):
        raise ValueError(f"{name} must have shape ({n}, {n_outputs}) to match the data and the "
                         f"net's outputs; got {T_arr.shape}")
    if loss == "ce":
        if lo < 0 or hi > 1:
            raise ValueError(f"{name}: cross-entropy targets must lie in [0, 1]; got range [{lo}, {hi}]")
        if output == "softmax" and row_dev > np.sqrt(eps):
            raise ValueError(f"{name}: softmax cross-entropy targets must sum to 1 in every row "
                             f"(to sqrt(eps)); worst row is off by {row_dev:.3g}")
    return T_arr


def net_data(net_, X, T, loss, variant="exact"):
    """Validate a (net, X, T, loss) call; returns (X, T, loss_code) ready for the kernels."""
    code = loss_code(loss, net(net_).output, variant)
    X = net_inputs(net_, X)
    T = targets("T", T, X.shape[0], net_.sizes[-1], loss, net_.output, net_.dtype)
    return X, T, code


def net_inputs(net_, X, name="X"):
    """``X`` as the net's float dtype, (n, d) with d the net's input size, all finite."""
    net(net_)
    X = float_array(name, X, ndim=2, dtype=net_.dtype)
    if X.shape[1] != net_.sizes[0]:
        raise ValueError(f"{name} has {X.shape[1]} features but the net's input size is {net_.sizes[0]}")
    return X
