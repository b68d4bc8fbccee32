"""Workload "per-sample-grads": G[n] = dL_n/dtheta for every row, shape (n, P).

gradlab is timed through its whole public call, ``gl.per_sample_grads(net, X, T, loss="ce")``
(argument validation included, exactly as a user calls it). The others compute the same
thing from the same flat float64 parameter vector (per layer W (fan_in, fan_out) row-major,
then b), the same X and the same smoothed targets:

- jax:   ``jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))`` with x64 enabled, inputs
         already on the device (jnp arrays), timed with ``.block_until_ready()``;
- torch: ``torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))`` in float64, eager;
- numpy: batched forward, then the backward pass as batched outer products written straight
         into the (n, P) result, no Python loop over samples.

``loss`` is the CE of one sample, ``-sum_k t_k log_softmax(z)_k``, with the params unflattened
inside it in gradlab's layout.
"""
import numpy as np

import gradlab as gl
import harness

HIDDEN = {"tanh", "relu", "sigmoid", "identity"}


class Data:
    """Everything an implementation may use; identical for all of them."""

    def __init__(self, X, y, sizes, hidden="tanh", smoothing=0.1, seed=0):
        K = sizes[-1]
        self.X = np.ascontiguousarray(X, np.float64)
        self.T = gl.smooth_labels(gl.one_hot(y, K), a=smoothing)
        self.net = gl.MLP(sizes, hidden=hidden, output="softmax", seed=seed)
        self.sizes = tuple(self.net.sizes)
        self.hidden = hidden
        self.params = self.net.params.copy()  # the same initial weights for everybody
        self.n, self.P = self.X.shape[0], self.net.n_params
        # (w0, w1, b1, fan_in, fan_out): W = params[w0:w1].reshape(fi, fo), b = params[w1:b1]
        self.layers = []
        p = 0
        for fi, fo in zip(self.sizes[:-1], self.sizes[1:]):
            self.layers.append((p, p + fi * fo, p + fi * fo + fo, fi, fo))
            p += fi * fo + fo
        assert p == self.P and hidden in HIDDEN


def iris_data():
    X, y = gl.datasets.iris()
    return Data(gl.datasets.standardize(X), y, [4, 7, 3])


def digits_data():
    X, y = gl.datasets.digits()
    return Data(gl.datasets.standardize(X), y, [64, 32, 10])


# ---------------------------------------------------------------- implementations


def build_gradlab(d):
    net, X, T = d.net, d.X, d.T

    def call():
        return gl.per_sample_grads(net, X, T, loss="ce")
    return call


def _numpy_act(hidden, z):
    if hidden == "tanh":
        return np.tanh(z, out=z)
    if hidden == "relu":
        return np.maximum(z, 0.0, out=z)
    if hidden == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def _numpy_slope(hidden, a):
    """d act/dz in terms of the activation a."""
    if hidden == "tanh":
        return 1.0 - a * a
    if hidden == "relu":
        return (a > 0).astype(a.dtype)
    if hidden == "sigmoid":
        return a * (1.0 - a)
    return 1.0


def numpy_per_sample_grads(params, X, T, layers, hidden):
    """Vectorised over the batch; every G block is written in place through a view."""
    n = X.shape[0]
    G = np.empty((n, params.shape[0]))
    acts = [X]
    a = X
    L = len(layers)
    for l, (w0, w1, b1, fi, fo) in enumerate(layers):
        z = a @ params[w0:w1].reshape(fi, fo)
        z += params[w1:b1]
        a = _numpy_act(hidden, z) if l < L - 1 else z
        acts.append(a)
    z = a - a.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    d = z - T  # dL/dz of softmax-CE; exact because every row of T sums to 1
    for l in range(L - 1, -1, -1):
        w0, w1, b1, fi, fo = layers[l]
        gw = G[:, w0:w1]
        gw.shape = (n, fi, fo)  # raises rather than copies if it is not a view
        np.multiply(acts[l][:, :, None], d[:, None, :], out=gw)  # batched outer products
        G[:, w1:b1] = d
        if l > 0:
            d = (d @ params[w0:w1].reshape(fi, fo).T) * _numpy_slope(hidden, acts[l])
    return G


def build_numpy(d):
    params, X, T, layers, hidden = d.params, d.X, d.T, d.layers, d.hidden

    def call():
        return numpy_per_sample_grads(params, X, T, layers, hidden)
    return call


def build_jax(d):
    try:
        import jax
    except ImportError as err:
        raise harness.Skip(f"jax not installed: {err}") from None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    layers, act = d.layers, {"tanh": jnp.tanh, "relu": jax.nn.relu,
                             "sigmoid": jax.nn.sigmoid, "identity": lambda z: z}[d.hidden]

    def loss(p, x, t):  # one sample
        a = x
        for l, (w0, w1, b1, fi, fo) in enumerate(layers):
            z = a @ p[w0:w1].reshape(fi, fo) + p[w1:b1]
            a = act(z) if l < len(layers) - 1 else z
        return -jnp.sum(t * jax.nn.log_softmax(a))

    f = jax.jit(jax.vmap(jax.grad(loss), in_axes=(None, 0, 0)))
    p, X, T = (jax.device_put(jnp.asarray(v, jnp.float64)) for v in (d.params, d.X, d.T))
    assert p.dtype == jnp.float64, "x64 was not enabled"

    def call():
        return f(p, X, T).block_until_ready()
    return call


def build_torch(d):
    try:
        import torch
    except ImportError as err:
        raise harness.Skip(f"torch not installed: {err}") from None
    if harness.requested_threads():
        torch.set_num_threads(harness.requested_threads())
    from torch.func import grad, vmap
    layers, act = d.layers, {"tanh": torch.tanh, "relu": torch.relu,
                             "sigmoid": torch.sigmoid, "identity": lambda z: z}[d.hidden]

    def loss(p, x, t):  # one sample
        a = x
        for l, (w0, w1, b1, fi, fo) in enumerate(layers):
            z = a @ p[w0:w1].view(fi, fo) + p[w1:b1]
            a = act(z) if l < len(layers) - 1 else z
        return -(t * torch.log_softmax(a, dim=-1)).sum()

    f = vmap(grad(loss), in_dims=(None, 0, 0))
    p, X, T = (torch.from_numpy(v.copy()).to(torch.float64) for v in (d.params, d.X, d.T))

    def call():
        return f(p, X, T)
    return call


IMPLS = {"gradlab": build_gradlab, "jax": build_jax, "torch": build_torch, "numpy": build_numpy}

NOTES = [
    "JAX gets its inputs as device arrays made once in build (no host-to-device copy per "
    "call), and its time includes `.block_until_ready()` but not a conversion to NumPy; "
    "gradlab's call includes validating X and T (finite, shapes, targets in [0, 1] and "
    "rows summing to 1) and allocating the result. torch.func runs eagerly (no "
    "torch.compile), re-tracing vmap/grad on every call, as users call it.",
    "torch with 2 OpenMP threads on this 2-vCPU VM is bimodal *across processes*: while "
    "writing this bench, a process either ran the Iris call in ~0.4-0.5 ms (CPU/wall ~1.9) "
    "or in ~60 ms for every call (CPU/wall 1.0), about 4 in 10 processes with "
    "OMP_NUM_THREADS unset and 8 of 8 with OMP_NUM_THREADS=2, even with torch alone in the "
    "process; with 1 thread it was always ~0.4-0.5 ms. So the library-defaults torch "
    "column can be off by 100x from one run to the next; the 1-thread pass is the stable one.",
]

WORKLOADS = [
    harness.Workload(
        name="per-sample-grads / iris",
        description="`gl.per_sample_grads(net, X, T, loss=\"ce\")` on Iris (150 x 4, "
                    "standardised), MLP [4, 7, 3] tanh/softmax seed 0 (P = 59), CE with "
                    "smoothed targets (a = 0.1), float64; result (150, 59).",
        setup=iris_data, impls=IMPLS, module=__name__, rtol=1e-12,
        targets={"jax": 3.0, "numpy": 3.0},
        fresh_process=("gradlab", "jax", "torch", "numpy"), batch_seconds=0.05, notes=NOTES),
    harness.Workload(
        name="per-sample-grads / digits",
        description="The same call on the UCI digits (1797 x 64, standardised), MLP "
                    "[64, 32, 10] tanh/softmax seed 0 (P = 2410), CE with smoothed targets "
                    "(a = 0.1), float64; result (1797, 2410) = 34.6 MB.",
        setup=digits_data, impls=IMPLS, module=__name__, rtol=1e-12,
        fresh_process=("gradlab",), batch_seconds=0.1),
]
