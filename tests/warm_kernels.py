"""Compile the suite's largest kernels into numba's on-disk cache, split in two parts that
conftest runs in parallel processes before the tests (numba compiles on one core; the
suite's cold run is mostly compiling). Tiny calls of the public API: a kernel compiles once
per type signature, whatever the sizes, so these are the signatures the tests use.

``python tests/warm_kernels.py PART`` (PART 0 or 1)."""
import sys
import warnings

import numpy as np

import gradlab as gl


def _data(d=4, K=3, n=24):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    y = np.arange(n) % K
    return X, y, X, y


def _grads(dtype):
    X, y, _, _ = _data()
    net = gl.MLP([4, 5, 3], seed=0, dtype=dtype)
    X, T = X.astype(dtype), gl.one_hot(y, 3, dtype=dtype)
    gl.forward(net, X)
    gl.per_sample_grads(net, X, T)
    gl.grad(net, X, T)
    gl.sample_losses(net, X, T)
    gl.deltas(net, X, T)
    z = gl.logits(net, X)
    gl.error_term(z, T)
    gl.logit_losses(z, T)


def _train(dtype):
    X, y, Xt, yt = _data()
    gl.train(gl.MLP([4, 5, 3], seed=0, dtype=dtype), X, y, batch_size=4, epochs=1, X_test=Xt, y_test=yt)


def part0():
    """The online loop (with a momentum run: the update of a "gradients" step) and float32."""
    gl.sweep(gl.Grid(sizes=[[4, 7, 3]], seed=[0, 1], epochs=[1], momentum=[0.0, 0.5]), _data(), progress=False)
    _grads(np.float32)
    _train(np.float32)


def part1():
    """Wide nets run by run (`train_each`), `train`'s kernel and float64 gradients."""
    gl.sweep(gl.Grid(sizes=[[64, 40, 3]], seed=[0], epochs=[1]), _data(d=64), progress=False)
    _train(np.float64)
    _grads(np.float64)


def main(part):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (part0, part1)[part]()


if __name__ == "__main__":
    main(int(sys.argv[1]))
