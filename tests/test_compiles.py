"""Each kernel compiles once per dtype: the public paths (gl.train, gl.sweep through
`train_each` and the online loop) call the kernels with the same argument types
(no literal ints, int32 against int64, or differently laid-out arrays that would make numba
compile a second specialisation, costing 20 s to 2 min each on a cold run). Counted in a fresh
process, so what other tests call does not matter; counting signatures is deterministic."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, sys, warnings
from collections import Counter
import numpy as np
from numba import types
from numba.core.registry import CPUDispatcher
import gradlab as gl
from gradlab._kernels import blocks, fused, rng, runs, training

warnings.simplefilter("ignore")
gen = np.random.default_rng(0)
X, y = gen.normal(size=(24, 64)), np.arange(24) % 3
small = (X[:, :4], y, X[:, :4], y)
for dtype in sys.argv[1].split(","):
    net = gl.MLP([4, 5, 3], seed=0, dtype=dtype)
    gl.train(net, small[0], y, batch_size=4, epochs=1, X_test=small[2], y_test=y)       # train_chunk
    gl.train(net, small[0], y, batch_size=4, epochs=1, optimizer="adam", record_every=3)
    gl.MLPClassifier(hidden=(5,), epochs=2, dtype=dtype, solver="adam", batch_size=8, random_state=0).fit(*small[:2])
    if dtype == "float64" or "sweeps" in sys.argv:
        gl.sweep(gl.Grid(sizes=[[64, 40, 3]], seed=[0, 1], epochs=[1], batch_size=[1, 4], dtype=[dtype]),
                 (X, y, X, y), progress=False)                                            # train_each
        gl.sweep(gl.Grid(sizes=[[4, 5, 3]], seed=[0, 1], batch_size=[4], epochs=[1], dtype=[dtype]), small,
                 progress=False)                                                          # train_each
        gl.sweep(gl.Grid(sizes=[[4, 7, 3]], seed=[0, 1], epochs=[1], dtype=[dtype]), small,
                 progress=False)                                                          # online loop

def key(sig):
    floats = sorted({str(a.dtype) for a in sig if isinstance(a, types.Array) and isinstance(a.dtype, types.Float)}
                    | {str(a) for a in sig if isinstance(a, types.Float)})
    return "float32" if "float32" in floats else (floats[0] if floats else "-")  # float32 nets keep float64 stats

out = {}
for mod in (blocks, training, runs, rng, fused):
    for name, obj in vars(mod).items():
        if isinstance(obj, CPUDispatcher) and obj.__module__ == mod.__name__ and obj.signatures:
            out[name] = dict(Counter(key(s) for s in obj.signatures))
            out[name]["signatures"] = [str(s) for s in obj.signatures]
json.dump(out, sys.stdout)
"""


def _signatures(dtypes, sweeps=False):
    here = Path(__file__).resolve().parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(here.parent), os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(dtypes), *(["sweeps"] if sweeps else [])],
                          capture_output=True, text=True, env=env, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


def _check_once_per_dtype(found, expected):
    twice = {name: counts["signatures"] for name, counts in found.items()
             if any(n > 1 for k, n in counts.items() if k != "signatures")}
    assert not twice, "compiled more than once per dtype:\n" + "\n".join(
        f"{name}:\n  " + "\n  ".join(sigs) for name, sigs in twice.items())
    for name, keys in expected.items():
        assert name in found, f"{name} was not compiled"
        assert sorted(k for k in found[name] if k != "signatures") == sorted(keys), (name, found[name])


def test_kernels_compile_once_per_dtype():
    """float64 through every path, float32 through gl.train and MLPClassifier (the float32
    sweeps compile the sweep kernels a second time: see the slow test below)."""
    found = _signatures(["float64", "float32"])
    _check_once_per_dtype(found, {"train_chunk": ["float64", "float32"], "record": ["float64", "float32"],
                                  "train_each": ["float64"], "train_online": ["float64"]})


@pytest.mark.slow
def test_sweep_kernels_compile_once_per_dtype_in_float32_too():
    found = _signatures(["float64", "float32"], sweeps=True)
    both = ["float64", "float32"]
    _check_once_per_dtype(found, {"train_chunk": both, "record": both, "train_each": both, "train_online": both})
