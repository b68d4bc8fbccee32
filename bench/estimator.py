"""Workload U1: `gl.MLPClassifier.fit` against scikit-learn's `MLPClassifier` at equal settings.

Data: sklearn's digits (1797 x 64, 10 classes), `train_test_split(test_size=0.2,
random_state=0, stratify=y)`, standardised by a `StandardScaler` fitted on the train rows.
Net: one hidden layer of 32 tanh units, softmax output with log-loss (gradlab's default
loss="ce"; sklearn's multiclass MLP does the same), no L2 (sklearn alpha=0), float64,
30 epochs, no early stopping (sklearn: tol=0, n_iter_no_change=huge). Settings:
  sgd-b32   plain SGD, batch 32, lr 0.05, no momentum
  sgd-b1    plain SGD, batch 1, lr 0.01 (fewer epochs for both if one sklearn fit > ~20 s)
  adam-b32  Adam, batch 32, lr 1e-3, betas (0.9, 0.999), eps 1e-8
Per setting: one untimed warm-up fit of each library (gradlab's includes the numba compile
or cache load; its time is reported separately), then for each seed one gradlab and one
sklearn fit, interleaved (order alternating seed by seed), each fit() timed with
time.perf_counter. Seeds double as timing repeats: per fit time = best / median over
seeds; test accuracy = mean +- SD over seeds. Prints a markdown table and writes
RESULTS_estimator.json next to this script.

Run: python bench/estimator.py [--quick]     (--quick: 1 seed, hence 1 repeat)
"""
import argparse, json, os, platform, statistics, sys, time, warnings
from pathlib import Path

import numba
import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SkMLP
from sklearn.preprocessing import StandardScaler

import gradlab as gl

EPOCHS, SK_BUDGET = 30, 20.0  # epochs; a longer sklearn warm-up fit (s) cuts the epochs
SETTINGS = [  # name, gradlab kwargs, sklearn kwargs
    ("sgd-b32", dict(lr=0.05, batch_size=32),
     dict(solver="sgd", learning_rate_init=0.05, momentum=0.0, nesterovs_momentum=False, batch_size=32)),
    ("sgd-b1", dict(lr=0.01, batch_size=1),
     dict(solver="sgd", learning_rate_init=0.01, momentum=0.0, nesterovs_momentum=False, batch_size=1)),
    ("adam-b32", dict(solver="adam", lr=1e-3, batch_size=32),
     dict(solver="adam", learning_rate_init=1e-3, batch_size=32, beta_1=0.9, beta_2=0.999, epsilon=1e-8)),
]


def data():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte


def make(lib, kw, epochs, seed):
    if lib == "gradlab":
        return gl.MLPClassifier(hidden=(32,), activation="tanh", epochs=epochs, random_state=seed, **kw)
    return SkMLP(hidden_layer_sizes=(32,), activation="tanh", max_iter=epochs, alpha=0.0, tol=0.0,
                 n_iter_no_change=10**9, shuffle=True, random_state=seed, **kw)


def timed_fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        model.fit(X, y)
        return time.perf_counter() - t0


def run_setting(name, gkw, skw, seeds, D):
    Xtr, Xte, ytr, yte = D
    epochs = EPOCHS
    warm_gl = timed_fit(make("gradlab", gkw, epochs, 12345), Xtr, ytr)
    warm_sk = timed_fit(make("sklearn", skw, epochs, 12345), Xtr, ytr)
    if warm_sk > SK_BUDGET:  # sklearn too slow at full length: shorten both alike
        epochs = max(1, int(EPOCHS * SK_BUDGET / warm_sk))
    out = {"gradlab": {"t": [], "acc": []}, "sklearn": {"t": [], "acc": []}}
    for i, s in enumerate(seeds):
        order = ("gradlab", "sklearn") if i % 2 == 0 else ("sklearn", "gradlab")
        for lib in order:
            m = make(lib, gkw if lib == "gradlab" else skw, epochs, s)
            out[lib]["t"].append(timed_fit(m, Xtr, ytr))
            out[lib]["acc"].append(float(m.score(Xte, yte)))
            assert m.n_iter_ == epochs, (name, lib, m.n_iter_)  # both ran every epoch
    res = {"setting": name, "epochs": epochs, "seeds": list(seeds),
           "gradlab_warmup_fit_s": warm_gl, "sklearn_warmup_fit_s": warm_sk}
    for lib, r in out.items():
        sd = statistics.stdev(r["acc"]) if len(r["acc"]) > 1 else 0.0
        res[lib] = {"fit_s": r["t"], "best_s": min(r["t"]), "median_s": statistics.median(r["t"]),
                    "acc": r["acc"], "acc_mean": statistics.mean(r["acc"]), "acc_sd": sd}
    res["ratio_best"] = res["sklearn"]["best_s"] / res["gradlab"]["best_s"]
    res["ratio_median"] = res["sklearn"]["median_s"] / res["gradlab"]["median_s"]
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 seed (= 1 timing repeat)")
    seeds = range(1) if ap.parse_args().quick else range(5)
    D = data()
    machine = {"cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(),
               "platform": platform.platform(), "python": sys.version.split()[0],
               "numpy": np.__version__, "numba": numba.__version__, "sklearn": sklearn.__version__,
               "gradlab": getattr(gl, "__version__", "?")}
    rows = [run_setting(n, g, s, seeds, D) for n, g, s in SETTINGS]
    print(f"U1 digits, 32 tanh, float64 | cpu_count={machine['cpu_count']} "
          f"numba_threads={machine['numba_threads']} | seeds={len(seeds)} (times: best / median)\n")
    print("| setting | gradlab s per fit | sklearn s per fit | ratio (sklearn / gradlab) "
          "| gradlab test acc | sklearn test acc |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        g, k = r["gradlab"], r["sklearn"]
        print(f"| {r['setting']} ({r['epochs']} ep) | {g['best_s']:.3f} / {g['median_s']:.3f} "
              f"| {k['best_s']:.3f} / {k['median_s']:.3f} | {r['ratio_best']:.1f} / {r['ratio_median']:.1f} "
              f"| {g['acc_mean']:.4f} ± {g['acc_sd']:.4f} | {k['acc_mean']:.4f} ± {k['acc_sd']:.4f} |")
    print("\nwarm-up (first) fit, s: " + ", ".join(
        f"{r['setting']}: gradlab {r['gradlab_warmup_fit_s']:.2f} (numba compile/cache load), "
        f"sklearn {r['sklearn_warmup_fit_s']:.2f}" for r in rows))
    path = Path(__file__).resolve().parent / "RESULTS_estimator.json"
    path.write_text(json.dumps({"workload": "U1", "machine": machine, "results": rows}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
