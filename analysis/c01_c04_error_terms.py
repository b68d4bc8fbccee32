"""C1, C3, C4: the softmax-CE error term, the smoothed targets, and LS acting only through t.

Numbers only (these claims are identities); figure c01_error_term_gap: how far gradlab's softmax-CE
error term is from o - t, in units of rounding, over random logits and targets.
"""
import numpy as np
import pandas as pd

from gradlab import claims, error_term
from gradlab.report import ClaimResult, Number, rules, save_figure, script_main, style
from gradlab.targets import smoothing_of

CLAIMS = ("C1", "C3", "C4")
POST_TARGET = [0.1, 0.8, 0.1]  # the post's example of a smoothed target, K = 3


def c1(ctx):
    n = 450 if ctx.quick else 4500
    check = claims.check_c1(n=n, seed=0)
    formula = check.measured["max |delta - (o - t)|"]
    fd = check.measured["max rel. error vs finite differences"]
    rng = np.random.default_rng(1)
    frames = []
    for K in (2, 3, 10):
        z = rng.normal(0, 3, (n, K))
        T = rng.dirichlet(np.ones(K), n)
        gap = np.abs(error_term(z, T, "ce", "softmax") - (claims.outputs(z, "softmax") - T)).max(axis=1)
        frames.append(pd.DataFrame({"K": K, "max_abs_gap": gap, "gap_in_eps": gap / np.finfo(float).eps}))
    data = pd.concat(frames, ignore_index=True)
    fig, ax = style.subplots()
    bins = np.arange(0, max(4.0, data["gap_in_eps"].max() + 1) + 0.5, 0.5)
    for K, color in zip((2, 3, 10), style.PALETTE):
        ax.hist(data.loc[data.K == K, "gap_in_eps"], bins=bins, histtype="step", color=color, label=f"K = {K}", lw=1.4)
    ax.set(xlabel="max_k |δ_k - (o_k - t_k)| per row, in units of ε = 2.2e-16", ylabel="rows",
           title="softmax-CE: gradlab's δ vs o - t (soft targets)")
    ax.legend()
    figure = save_figure(ctx, fig, "c01_error_term_gap", data,
                         {"rows_per_K": n, "K": [2, 3, 10], "logits": "normal(0, 3)", "targets": "Dirichlet(1)",
                          "seed": 1})[0]
    verdict, reason = rules.rule_c1(formula, fd)
    numbers = [Number("max_abs_delta_minus_o_minus_t", formula, "", f"{check.measured['rows']} rows, K = 2..10, "
                      "logits normal(0, 3), soft targets"),
               Number("max_rel_err_vs_fd", fd, "", "relative to max |δ|, central differences h = 1e-6"),
               Number("gap_in_eps_max", float(data["gap_in_eps"].max()), "ε", "figure sample")]
    return ClaimResult("C1", "Softmax + cross-entropy: the error term is o - t",
                       "With softmax outputs and cross-entropy, dL/dz is exactly o - t, so every weight update "
                       "carries the factor (t - o).", verdict, reason, numbers, [figure], "rule_c1")


def c3(ctx):
    rng = np.random.default_rng(3)
    smoothed, binary = claims.smoothing_defects(rng, n=50 if ctx.quick else 500)
    a_post, a_post_off = smoothing_of(POST_TARGET), smoothing_of(POST_TARGET, variant="off_class")
    verdict, reason = rules.rule_c3(smoothed, binary, a_post)
    numbers = [Number("max_abs_err_smoothed_targets", smoothed, "", "K = 2..10, one-hot and soft T, random a"),
               Number("max_abs_err_binary_0p9", binary, "", "K = 2, a = 0.2 vs (0.9, 0.1); single column too"),
               Number("a_of_post_target", a_post, "", "smoothing_of((0.1, 0.8, 0.1)), uniform, K = 3"),
               Number("a_of_post_target_off_class", a_post_off, "", "the same for the a / (K - 1) variant"),
               Number("a_of_binary_0.9", float(smoothing_of([[0.9]])[0]), "", "one sigmoid output, target 0.9")]
    return ClaimResult("C3", "Smoothed targets, and 0.9 / 0.1 as label smoothing",
                       "Smoothing turns a target t into t' = (1 - a) t + a / K; the old habit of training two "
                       "classes on 0.9 / 0.1 is this with K = 2 and a = 0.2.", verdict, reason, numbers, [], "rule_c3")


def c4(ctx):
    check = claims.check_c4(seed=0, n_nets=8 if ctx.quick else 40)
    defect = check.measured["max rel. |grad(t') - (1 - a) grad(t) - a grad(1/K)|"]
    modified = claims.training_modifies_inputs(epochs=2 if ctx.quick else 20)
    verdict, reason = rules.rule_c4(defect, modified)
    numbers = [Number("max_rel_mixture_defect", defect, "", f"{check.measured['nets (CE/MSE x softmax/sigmoid)']} "
                      "nets, CE and MSE, softmax and sigmoid, random a"),
               Number("modified_inputs", modified, "arrays", "X, y, X_test, y_test, T, params after train(smoothing=0.2)")]
    return ClaimResult("C4", "Label smoothing acts only through the target",
                       "LS changes the update only through the target in (t - o): the gradient with t' is the "
                       "mixture (1 - a) grad(t) + a grad(uniform), and the data are never changed.",
                       verdict, reason, numbers, [], "rule_c4")


def run(ctx):
    return [c1(ctx), c3(ctx), c4(ctx)]


if __name__ == "__main__":
    script_main(run, CLAIMS)
