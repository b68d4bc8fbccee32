"""Grids of training settings: products of value lists, joined by ``+`` as unions."""
import itertools
import json
import numbers
import tomllib

import numpy as np

from . import _checks
from .nets import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from .targets import SMOOTHING_VARIANTS
from .training import OPTIMIZERS


def _nonneg(name):
    return lambda v: _checks.number(name, v, low=0.0)


def _batch_size(v):
    return None if v is None else _checks.integer("batch_size", v, low=1)


def _momentum(v):
    v = _checks.number("momentum", v, 0.0, 1.0)
    if v >= 1.0:
        raise ValueError(f"momentum must be < 1; got {v}")
    return v


def _seed(v):
    if v is None:
        raise TypeError("seed must be a non-negative integer (None is not reproducible in a sweep)")
    return _checks.seed("seed", v)


def _sizes(v):
    if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
        raise TypeError(f"sizes: each value must be a list of layer sizes such as [4, 7, 3]; got {v!r}")
    return list(_checks.layer_sizes(v))


# key -> (validator returning the normalised value, default). Defaults are those of gl.train
# and gl.MLP; sizes has none and must be given.
KEYS = {
    "sizes": (_sizes, None),
    "hidden": (lambda v: _checks.choice("hidden", v, HIDDEN_ACTIVATIONS), "tanh"),
    "output": (lambda v: _checks.choice("output", v, OUTPUT_ACTIVATIONS), "softmax"),
    "loss": (lambda v: _checks.choice("loss", v, _checks.LOSSES), "ce"),
    "dtype": (lambda v: np.dtype(_checks.float_dtype("dtype", v)).name, "float64"),
    "smoothing": (lambda v: _checks.fraction("smoothing", v), 0.0),
    "smoothing_variant": (lambda v: _checks.choice("smoothing_variant", v, SMOOTHING_VARIANTS), "uniform"),
    "l2": (_nonneg("l2"), 0.0),
    "l1": (_nonneg("l1"), 0.0),
    "weight_decay": (_nonneg("weight_decay"), 0.0),
    "confidence_penalty": (_nonneg("confidence_penalty"), 0.0),
    "penalize_bias": (lambda v: _checks.flag("penalize_bias", v), False),
    "lr": (lambda v: _checks.number("lr", v, low=0.0, low_open=True), 0.01),
    "momentum": (_momentum, 0.0),
    "batch_size": (_batch_size, 1),
    "epochs": (lambda v: _checks.integer("epochs", v, low=1), 1000),
    "seed": (_seed, 0),
    "hidden_weight": (_nonneg("hidden_weight"), 0.0),
    "optimizer": (lambda v: _checks.choice("optimizer", v, OPTIMIZERS), "sgd"),
    "betas": (lambda v: _checks.betas("betas", v), (0.9, 0.999)),
    "eps": (lambda v: _checks.number("eps", v, low=0.0, low_open=True), 1e-8),
    "nesterov": (lambda v: _checks.flag("nesterov", v), False),
}
NET_KEYS = ("sizes", "hidden", "output", "dtype")


def _values(key, values):
    """The value list of one grid key, each value validated and normalised."""
    if key not in KEYS:
        raise ValueError(f"Grid: unknown key {key!r}; the keys are {', '.join(KEYS)}")
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"Grid key {key!r}: give a list of values, e.g. {key}=[...]; got {values!r}")
    values = list(values)
    if not values:
        raise ValueError(f"Grid key {key!r}: the list of values is empty")
    if key == "sizes" and all(isinstance(v, numbers.Integral) for v in values):
        raise TypeError(f"Grid key 'sizes': give a list of layer-size lists, e.g. sizes=[{values!r}]")
    check, _ = KEYS[key]
    out = []
    for v in values:
        if isinstance(v, np.generic):
            v = v.item()
        try:
            out.append(check(v))
        except (TypeError, ValueError) as err:
            raise type(err)(f"Grid key {key!r}: {err}") from None
    return out


class Grid:
    """Training settings to sweep: the product of each key's list of values.

    ``Grid(smoothing=[0, 0.1], seed=range(4), sizes=[[4, 7, 3]])`` holds 8 runs. ``g1 + g2``
    is the union of two grids (their runs one after the other, like scikit-learn's list of
    parameter grids), so settings of different kinds need not be crossed. Keys are the
    arguments of `gl.train` (smoothing, smoothing_variant, l2, l1, weight_decay,
    confidence_penalty, lr, momentum, batch_size, epochs, seed, penalize_bias, hidden_weight,
    optimizer, betas, eps, nesterov) and of the net
    (sizes, hidden, output, dtype) plus loss; a missing key takes gl.train's / gl.MLP's
    default. Each run's net is initialised from its ``seed``, which also orders its rows.
    """

    def __init__(self, **values):
        self.parts = [{key: _values(key, v) for key, v in values.items()}] if values else []

    @classmethod
    def _of_parts(cls, parts):
        grid = cls()
        grid.parts = [dict(p) for p in parts]
        return grid

    def __add__(self, other):
        if not isinstance(other, Grid):
            return NotImplemented
        return Grid._of_parts(self.parts + other.parts)

    def __iter__(self):
        """Every run's complete settings, in order: parts in turn, the last key varying fastest."""
        for part in self.parts:
            keys = list(part)
            for combo in itertools.product(*(part[k] for k in keys)):
                settings = {k: v for k, (_, v) in KEYS.items()}
                settings.update(zip(keys, combo))
                if settings["sizes"] is None:
                    raise ValueError("Grid: key 'sizes' is required (the net's layer sizes, e.g. sizes=[[4, 7, 3]])")
                yield settings

    def __len__(self):
        return sum(int(np.prod([len(v) for v in p.values()])) for p in self.parts)

    def __eq__(self, other):
        return isinstance(other, Grid) and self.to_json() == other.to_json()

    def __repr__(self):
        return " + ".join(f"Grid({', '.join(f'{k}={v!r}' for k, v in p.items())})" for p in self.parts) or "Grid()"

    def to_json(self):
        return json.dumps(self.parts, sort_keys=False)

    @classmethod
    def from_json(cls, text):
        return sum((cls(**p) for p in json.loads(text)), cls())

    @classmethod
    def from_toml(cls, path):
        """A grid from a TOML file: top-level keys form one product; each ``[[grid]]`` table
        is one more product joined as a union. Values are lists (a single value is allowed)."""
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            raise ValueError(f"grid file {str(path)!r} does not exist") from None
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"grid file {str(path)!r} is not valid TOML: {err}") from None
        tables = doc.pop("grid", [])
        if not isinstance(tables, list):
            raise ValueError(f"grid file {str(path)!r}: 'grid' must be an array of tables ([[grid]])")
        parts = ([doc] if doc else []) + tables
        if not parts:
            raise ValueError(f"grid file {str(path)!r} defines no settings")
        grid = cls()
        for part in parts:
            listed = {k: (v if isinstance(v, list) and not (k == "sizes" and v and not isinstance(v[0], list))
                          else [v]) for k, v in part.items()}
            grid = grid + cls(**listed)
        return grid
