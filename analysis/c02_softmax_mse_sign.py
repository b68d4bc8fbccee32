"""C2: MSE error terms and the sign of the update; where exact softmax-MSE breaks the sign rule.

Figure c02_sign_map: over the output simplex (K = 3), the entries where sign(delta_k) differs
from sign(o_k - t_k) for a hard and a smoothed target, with counterexamples marked, and how far
the diagonal shortcut is from the exact error term.
"""
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

from gradlab import claims, error_term
from gradlab.report import ClaimResult, Number, rules, save_figure, script_main, style
from gradlab.targets import one_hot, smooth_labels

CLAIMS = ("C2",)
A = 0.1  # smoothing of the second panel's target
DOC_O, DOC_T = [0.01, 0.01, 0.98], [1.0, 0.0, 0.0]  # CLAIMS.md's example
MISMATCH_CODES = ["none", "class 1 (target class) only", "class 2 only", "class 3 only", "two or more classes"]
MISMATCH_COLORS = ["#EEEEEE", style.GREEN, style.BLUE, style.ORANGE, style.BLACK]


def mismatch_code(mask):
    """(n, 3) mismatch mask -> one category per row (index into MISMATCH_CODES)."""
    count = mask.sum(axis=1)
    return np.where(count == 0, 0, np.where(count == 1, 1 + mask.argmax(axis=1), 4))


def near_target(t, width, half=0.06):
    """Mismatch categories on a Cartesian (o_2, o_3) grid around target row t (K = 3)."""
    o2, o3 = np.meshgrid(*(np.linspace(max(v - half, 1e-4), v + half, width // 2) for v in t[1:]))
    o = np.stack([1 - o2 - o3, o2, o3], axis=-1).reshape(-1, 3)
    code = mismatch_code(claims.sign_mismatch(np.log(o), np.tile(t, (o.shape[0], 1)))).reshape(o2.shape)
    return code, (o2.min(), o2.max(), o3.min(), o3.max())


def to_first_class(z, t):
    """Reorder a (logits, one-hot target) pair so its class comes first."""
    c = int(np.argmax(t))
    order = np.r_[c, [j for j in range(len(t)) if j != c]]
    return z[order], t[order]


def sign_map(ctx, targets, examples, area, width):
    P, inside, extent = style.ternary_raster(width)
    o = P[inside]
    z = np.log(o)
    fig, axes = style.subplots(1, 3)
    frames = []
    cmap = ListedColormap(MISMATCH_COLORS)
    present = set()
    for ax, (name, t) in zip(axes[:2], targets.items()):
        mask = claims.sign_mismatch(z, np.tile(t, (o.shape[0], 1)))
        image = np.full(inside.shape, np.nan)
        image[inside] = mismatch_code(mask)
        ax.imshow(image, origin="lower", extent=extent, cmap=cmap, vmin=-0.5, vmax=4.5, interpolation="nearest")
        style.ternary_frame(ax, ["class 1 (target)", "class 2", "class 3"])
        ax.plot(*style.ternary_xy(t), "*", color="black", ms=10, mfc=style.YELLOW)
        for label, (po, marker, offset) in examples[name].items():
            ax.plot(*style.ternary_xy(po), marker, color="black", ms=7, mfc="white", mew=1.2)
            ax.annotate(label, style.ternary_xy(po), xytext=offset, textcoords="offset points", fontsize=7,
                        ha="right" if offset[0] < 0 else "left")
        ax.set_title(f"{name} t = ({', '.join(f'{v:.3g}' for v in t)}): {100 * area[name]:.0f}% of the simplex",
                     fontsize=9)
        present.update(np.unique(image[inside]).astype(int))
        frames.append(pd.DataFrame({"target": name, "o1": o[:, 0].round(5), "o2": o[:, 1].round(5),
                                    "o3": o[:, 2].round(5), **{f"mismatch_class{k + 1}": mask[:, k].astype(int)
                                                               for k in range(3)}}))
    zoom_image, zoom_extent = near_target(targets["smoothed"], width)
    inset = axes[1].inset_axes([0.08, 0.6, 0.26, 0.36])
    inset.imshow(zoom_image, origin="lower", extent=zoom_extent, cmap=cmap, vmin=-0.5, vmax=4.5,
                 interpolation="nearest")
    inset.plot(targets["smoothed"][1], targets["smoothed"][2], "*", color="black", ms=8, mfc=style.YELLOW)
    inset.set_xlabel("o_2", fontsize=7, labelpad=1)
    inset.set_ylabel("o_3", fontsize=7, labelpad=1)
    inset.tick_params(labelsize=6)
    inset.set_xticks([0.02, 0.06])
    inset.set_yticks([0.02, 0.06])
    inset.set_title("zoom on t", fontsize=7)
    inset.grid(False)
    t = targets["hard"]
    gap = claims.diagonal_vs_exact(z, np.tile(t, (o.shape[0], 1)))["rel_l1"]
    image = np.full(inside.shape, np.nan)
    image[inside] = gap
    shown = axes[2].imshow(image, origin="lower", extent=extent, vmin=0, vmax=2, cmap="cividis",
                           interpolation="nearest")
    X, Y = style.ternary_xy(P)
    lines = axes[2].contour(X, Y, np.where(inside, image, np.nan), levels=[0.25, 0.5, 1.0], colors="white",
                            linewidths=0.7)
    axes[2].clabel(lines, fontsize=7, fmt="%g")
    style.ternary_frame(axes[2], ["class 1 (target)", "class 2", "class 3"])
    axes[2].set_title("diagonal shortcut vs exact, t = (1, 0, 0)")
    fig.colorbar(shown, ax=axes[2], shrink=0.8, label="|δ_diag - δ_exact|₁ / |δ_exact|₁", extend="max")
    frames[0]["diag_rel_l1"] = np.float32(gap)  # 7 digits are plenty for a colour
    handles = [Patch(color=MISMATCH_COLORS[i], label=f"mismatch: {MISMATCH_CODES[i]}") for i in sorted(present)]
    handles += [axes[0].plot([], [], "*", color="black", mfc=style.YELLOW, ms=10, label="target t")[0]]
    fig.legend(handles=handles, loc="outside lower center", ncol=5)
    fig.suptitle("Exact softmax-MSE (K = 3): output points o where some δ_k has the opposite sign of o_k - t_k",
                 fontsize=9)
    marks = pd.DataFrame([{"panel": name, "label": label, "o1": po[0], "o2": po[1], "o3": po[2]}
                          for name, ex in examples.items() for label, (po, _, _) in ex.items()])
    data = {"hard": frames[0], "smoothed": frames[1], "marks": marks}
    return save_figure(ctx, fig, "c02_sign_map", data, {"K": 3, "a": A, "raster_width": width,
                       "targets": {k: v.tolist() for k, v in targets.items()}, "seeds": {"search": 2}})


def run(ctx):
    rng = np.random.default_rng(0)
    check = claims.check_c2(n=600 if ctx.quick else 3000, seed=0)  # FD, linearity, zero at o = t, random search
    m = check.measured
    outs = ("identity", "sigmoid", "softmax")
    linearity = max(m[f"{o}: linearity defect"] for o in outs)
    at_target = max(m[f"{o}: max |delta| at t = o"] for o in outs)
    fd = max(m[f"{o}: max rel. error vs finite differences"] for o in outs)
    elementwise = 1 - min(m[f"{o}: share of entries with sign(delta) = sign(o - t)"] for o in ("identity", "sigmoid"))
    share_random = m["softmax: share of random one-hot cases with a sign mismatch"]
    doc = claims.sign_mismatch(np.log([DOC_O]), [DOC_T])[0]
    doc_delta = error_term(np.log([DOC_O]), [DOC_T], "mse", "softmax")[0]

    targets = {"hard": np.array(DOC_T), "smoothed": smooth_labels(one_hot([0], 3), A)[0]}
    search = np.random.default_rng(2)
    tries = 2000 if ctx.quick else 20000
    _, (zc, tc) = claims.sign_counterexample(search, tries=tries)
    zc, tc = to_first_class(zc, tc)
    share_soft, zs = claims.sign_mismatch_search(search, targets["smoothed"], tries=tries)
    examples = {"hard": {"CLAIMS.md example": (np.array(DOC_O), "X", (10, -4)),
                         "random search": (claims.outputs(zc[None], "softmax")[0], "o", (-8, 8))},
                "smoothed": {} if zs is None else {
                    "random search": (claims.outputs(zs[None], "softmax")[0], "o", (-8, 8))}}
    n_simplex = 20000 if ctx.quick else 400000
    area = {k: claims.mismatch_share_on_simplex(rng, t, n_simplex) for k, t in targets.items()}

    diag = {}
    for K in (3, 10):
        z = rng.normal(0, 3, (n_simplex // 10, K))
        for kind, T in (("one-hot", one_hot(rng.integers(0, K, z.shape[0]), K)),
                        ("soft", rng.dirichlet(np.ones(K), z.shape[0]))):
            diag[K, kind] = claims.diagonal_vs_exact(z, T)
    rel = np.concatenate([d["rel_l1"] for d in diag.values()])
    cos = np.concatenate([d["cosine"] for d in diag.values()])
    entries = sum(d["sign_differences"].size * K for (K, _), d in diag.items())
    sign_diff = sum(d["sign_differences"].sum() for d in diag.values()) / entries

    verdict, reason = rules.rule_c2(linearity, at_target, fd, elementwise, share_random, int(doc.sum()))
    numbers = [
        Number("max_linearity_defect", linearity, "", "identity, sigmoid, softmax: |δ(mix of targets) - mix of δ|"),
        Number("max_abs_delta_at_target", at_target, "", "largest |δ| when t = o"),
        Number("max_rel_err_vs_fd", fd, "", "error terms vs central finite differences of the loss"),
        Number("elementwise_sign_mismatch_share", elementwise, "", "identity and sigmoid outputs"),
        Number("softmax_sign_mismatch_share", share_random, "", "exact softmax-MSE, random logits (sd 3), one-hot t, "
               "rows with a mismatch"),
        Number("documented_example_mismatches", int(doc.sum()), "components",
               f"o = (0.01, 0.01, 0.98), t = (1, 0, 0): δ = ({', '.join(f'{v:+.4f}' for v in doc_delta)})"),
        Number("counterexample_hard", f"z = {np.array2string(zc, precision=3)}, t = {tc}", "",
               "first random-search hit, class of t moved first"),
        Number("simplex_mismatch_share_hard", area["hard"], "", "share of the simplex (uniform) with a mismatch"),
        Number("simplex_mismatch_share_smoothed", area["smoothed"], "", f"the same, target smoothed with a = {A}"),
        Number("smoothed_random_mismatch_share", share_soft, "", f"random logits, t smoothed with a = {A}"),
        Number("diagonal_median_rel_l1", float(np.nanmedian(rel)), "", "diagonal vs exact, |Δδ|₁ / |δ|₁, K = 3 and 10, "
               "one-hot and soft targets"),
        Number("diagonal_p90_rel_l1", float(np.nanpercentile(rel, 90)), "", "the same, 90th percentile"),
        Number("diagonal_median_cosine", float(np.nanmedian(cos)), "", "cosine between diagonal and exact δ"),
        Number("diagonal_sign_differs_share", float(sign_diff), "", "entries where diagonal and exact δ differ in sign"),
    ]
    figures = [sign_map(ctx, targets, examples, area, 150 if ctx.quick else 240)[0]]
    return [ClaimResult("C2", "MSE: does the update also carry (t - o)?",
                        "With mean squared error the weight update also carries the factor (t - o), as with "
                        "cross-entropy.", verdict, reason, numbers, figures, "rule_c2")]


if __name__ == "__main__":
    script_main(run, CLAIMS)
