"""The multi-layer perceptron: layer sizes, activations and ONE flat parameter vector."""
import numpy as np

from . import _checks

HIDDEN_ACTIVATIONS = ("identity", "tanh", "relu", "sigmoid")
OUTPUT_ACTIVATIONS = ("identity", "sigmoid", "softmax")


class MLP:
    """A fully connected net ``sizes = [d, h_1, ..., h_m, K]`` (no hidden layer: ``[d, K]``).

    ``z_l = a_{l-1} W_l + b_l``; hidden layers apply ``hidden``, the last layer ``output``.

    Parameters live in one flat vector ``params`` of length ``P = sum_l (fan_in + 1) fan_out``,
    ordered layer by layer as ``W_l`` (fan_in, fan_out) row-major, then ``b_l`` (fan_out,).
    ``weights[l]`` and ``biases[l]`` are views into ``params``: writing through them changes
    the net. Many nets of one shape are thus one 2-D array of shape (runs, P).

    Initialisation (from ``np.random.default_rng(seed)``, drawn in float64 and then cast,
    so float32 and float64 nets of one seed agree to rounding): weights uniform on
    ``+-sqrt(6 / (fan_in + fan_out))`` (Glorot), or ``+-sqrt(6 / fan_in)`` (He) for relu
    hidden units; biases zero.
    """

    def __init__(self, sizes, hidden="tanh", output="softmax", seed=0, dtype=np.float64):
        self.sizes = _checks.layer_sizes(sizes)
        self.hidden = _checks.choice("hidden", hidden, HIDDEN_ACTIVATIONS)
        self.output = _checks.choice("output", output, OUTPUT_ACTIVATIONS)
        self.dtype = _checks.float_dtype("dtype", dtype)
        if self.output == "softmax" and self.sizes[-1] < 2:
            raise ValueError(f"sizes: a softmax output needs at least 2 units, got {self.sizes[-1]}")
        rng = np.random.default_rng(_checks.seed("seed", seed))
        params = np.zeros(self.n_params, np.float64)
        for (fan_in, fan_out), (w, _) in zip(self._shapes(), self._slices()):
            fan = fan_in if self.hidden == "relu" else fan_in + fan_out
            limit = np.sqrt(6.0 / fan)
            params[w] = rng.uniform(-limit, limit, fan_in * fan_out)
        self._set_params(params.astype(self.dtype))

    @classmethod
    def from_params(cls, sizes, params, hidden="tanh", output="softmax"):
        """A net of the given shape holding a copy of ``params`` (1-D, length P; its dtype is kept)."""
        net = cls.__new__(cls)
        net.sizes = _checks.layer_sizes(sizes)
        net.hidden = _checks.choice("hidden", hidden, HIDDEN_ACTIVATIONS)
        net.output = _checks.choice("output", output, OUTPUT_ACTIVATIONS)
        params = _checks.float_array("params", params, ndim=1)
        net.dtype = params.dtype
        if params.shape[0] != net.n_params:
            raise ValueError(f"params: a net of sizes {list(net.sizes)} has {net.n_params} "
                             f"parameters, got {params.shape[0]}")
        net._set_params(params.copy())
        return net

    def copy(self):
        """A net of the same shape holding a copy of the parameters (no checks: this net is valid)."""
        net = MLP.__new__(MLP)
        net.sizes, net.hidden, net.output, net.dtype = self.sizes, self.hidden, self.output, self.dtype
        net._set_params(self.params.copy())
        return net

    @property
    def n_params(self):
        return int(sum((a + 1) * b for a, b in self._shapes()))

    @property
    def n_layers(self):
        """Number of weight layers (hidden layers + 1)."""
        return len(self.sizes) - 1

    def layer_slices(self):
        """``[(weight_slice, bias_slice), ...]`` of each layer inside ``params``."""
        return list(self._slices())

    def weight_mask(self):
        """Boolean (P,): True where ``params`` holds a weight, False for a bias."""
        mask = np.zeros(self.n_params, bool)
        for w, _ in self._slices():
            mask[w] = True
        return mask

    def _shapes(self):
        return zip(self.sizes[:-1], self.sizes[1:])

    def _slices(self):
        p = 0
        for fan_in, fan_out in self._shapes():
            w = slice(p, p + fan_in * fan_out)
            b = slice(w.stop, w.stop + fan_out)
            yield w, b
            p = b.stop

    def _set_params(self, params):
        self.params = params
        self._sizes = np.asarray(self.sizes, np.int64)
        self.weights, self.biases = [], []
        for (w, b), (fi, fo) in zip(self._slices(), self._shapes()):
            self.weights.append(params[w].reshape(fi, fo))
            self.biases.append(params[b])

    def __repr__(self):
        return (f"MLP(sizes={list(self.sizes)}, hidden={self.hidden!r}, output={self.output!r}, "
                f"dtype={np.dtype(self.dtype).name}, n_params={self.n_params})")
