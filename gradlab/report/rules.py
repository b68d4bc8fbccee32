"""Verdict rules: one function per claim, ``rule_<claim>(...) -> (verdict, reason)``.

A rule takes the measured numbers as keyword arguments named like the script's `Number`s, so
a recorded result can be judged again from report.json alone (``reapply``). Thresholds are
module constants, each with its reason. Sections below are per claim (``# ---- C6 ----``);
whoever writes a claim's script appends its rule in its own section.
"""
import inspect
import math

VERDICTS = ("holds", "holds in part", "does not hold", "inconclusive")


def reapply(rule, numbers):
    """Apply ``rule`` (a rule function or its name) to recorded numbers: a list of `Number`s or
    of dicts with "name" and "value" (as in report.json). Only numbers named like a parameter
    of the rule are passed. Returns (verdict, reason)."""
    fn = globals()[rule] if isinstance(rule, str) else rule
    params = inspect.signature(fn).parameters
    values = {}
    for n in numbers:
        name, value = (n["name"], n["value"]) if isinstance(n, dict) else (n.name, n.value)
        if name in params:
            values[name] = value
    return fn(**values)


def _g(x):
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def _unmeasured(*unnamed, **values):
    """Names (or positions) of the values that are missing (None) or not a finite number ("nan" as
    report.json stores it included); a rule given any of them returns "inconclusive"."""
    bad = []
    for name, v in [*enumerate(unnamed), *values.items()]:
        try:
            ok = abs(float(v)) < float("inf")  # False for nan
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad.append(str(name))
    return bad


def _not_measured(bad):
    return "inconclusive", f"not measured (missing or not finite): {', '.join(bad)}"


# ---------------------------------------------------------------- one criterion for a paired difference

# A paired difference is the mean over seeds (or splits) of method minus reference, the two sharing
# initial weights and row order per seed, with its standard error SD(d) / sqrt(n). Its SE_FACTOR-SE
# interval is about a 95% interval (Student's t with 9-19 degrees of freedom: 2.1-2.26; 2 is the
# usual round value). One criterion judges every such difference in C8, C11 and E1 (`paired_call`).
SE_FACTOR = 2.0
PAIRED_CALLS = ("better", "worse", "equivalent", "not worse", "not better", "undecided")
SIDES = ("both", "no loss", "no gain")


def paired_call(diff, se, margin, higher_is_better=False, sided="both"):
    """The one criterion for a paired difference ``diff`` (method minus reference) with standard
    error ``se`` and an equivalence ``margin`` (differences inside +-margin do not matter).

    With the gain ``g`` (``diff`` when ``higher_is_better``, else ``-diff``) and its interval
    ``[lo, hi] = g -+ SE_FACTOR se``:

    - "better": ``g > margin`` and ``lo > 0`` (a material gain, beyond noise);
    - "worse": ``g < -margin`` and ``hi < 0`` (a material loss, beyond noise);
    - otherwise, by ``sided``, what the interval excludes:
      "both" (two-sided equivalence): "equivalent" when ``-margin <= lo`` and ``hi <= margin``;
      "no loss" (non-inferiority): "not worse" when ``lo >= -margin``;
      "no gain" (non-superiority): "not better" when ``hi <= margin``;
    - "undecided" otherwise, and for a missing, non-finite or negative input.

    A significant difference inside the margin (``|g| <= margin``, interval off 0) is not better or
    worse: the margin says it does not matter; it is "equivalent" when the interval stays inside
    the margin, "undecided" when the interval reaches past it."""
    if sided not in SIDES:
        raise ValueError(f"sided must be one of {SIDES}; got {sided!r}")
    if _unmeasured(diff, se, margin) or se < 0 or margin < 0:
        return "undecided"
    g = float(diff) if higher_is_better else -float(diff)
    lo, hi = g - SE_FACTOR * se, g + SE_FACTOR * se
    if g > margin and lo > 0:
        return "better"
    if g < -margin and hi < 0:
        return "worse"
    if sided == "both" and -margin <= lo and hi <= margin:
        return "equivalent"
    if sided == "no loss" and lo >= -margin:
        return "not worse"
    if sided == "no gain" and hi <= margin:
        return "not better"
    return "undecided"


# ---------------------------------------------------------------- shared thresholds (C1-C5)

# Formulas equal in exact arithmetic, evaluated in float64 on O(1) values: a few ulp (2.2e-16 each)
# of rounding at most; 1e-12 leaves room for sums over K <= 10 terms and still catches any real slip.
ROUNDING = 1e-12
# Central differences with h = 1e-6 in float64 err by about h^2 f''' + eps / h ~ 1e-10 relative;
# agreement to 1e-6 confirms the derivative, and a gap above MATERIAL cannot be truncation error.
FD_RTOL = 1e-6
# A difference this large (relative) is a different formula, not rounding or truncation.
MATERIAL = 1e-4


def _exactness(defect, what):
    """Judge one 'equal in exact arithmetic' measurement: holds / does not hold / inconclusive."""
    if defect <= ROUNDING:
        return "holds", f"{what} is {_g(defect)}, within rounding (<= {ROUNDING:g})"
    if defect > MATERIAL:
        return "does not hold", f"{what} is {_g(defect)}, far beyond rounding (> {MATERIAL:g})"
    return "inconclusive", f"{what} is {_g(defect)}: above rounding ({ROUNDING:g}) but below a material gap ({MATERIAL:g})"


# ---- C1 ----


def rule_c1(max_abs_delta_minus_o_minus_t, max_rel_err_vs_fd):
    """Holds when gradlab's softmax-CE error term equals o - t to rounding and finite differences
    confirm it is dL/dz; does not hold when either gap is material; inconclusive between, or when a
    number is missing. "holds in part" is unreachable by design: there is one formula to check."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    formula, fd = max_abs_delta_minus_o_minus_t, max_rel_err_vs_fd
    if formula > MATERIAL or fd > MATERIAL:
        return "does not hold", (f"the error term differs from o - t by up to {_g(formula)} and from finite "
                                 f"differences by {_g(fd)} (relative); a gap above {MATERIAL:g} is a different formula")
    if formula <= ROUNDING and fd <= FD_RTOL:
        return "holds", (f"delta equals o - t to {_g(formula)} (rounding) over all draws, and finite differences "
                         f"agree to {_g(fd)} relative, so o - t is dL/dz")
    return "inconclusive", (f"delta - (o - t) reaches {_g(formula)} and the finite-difference error {_g(fd)}: "
                            f"above rounding ({ROUNDING:g}, {FD_RTOL:g}) but not material")


# ---- C2 ----

# Element-wise outputs must follow sign(o - t) everywhere; one mismatched entry among thousands is a counterexample.
SIGN_MISMATCH_NONE = 0.0


def rule_c2(max_linearity_defect, max_abs_delta_at_target, max_rel_err_vs_fd, elementwise_sign_mismatch_share,
            softmax_sign_mismatch_share, documented_example_mismatches):
    """MSE error terms are linear in (o - t) and vanish at o = t (all outputs); the sign of delta_k
    follows o_k - t_k for element-wise outputs. Exact softmax-MSE couples the classes (J^T (o - t)),
    so its sign can differ: if mismatches are found the claim holds in part; if the linear
    structure itself fails it does not hold; inconclusive when a defect is above rounding but not
    material, or a number is missing."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    structure = max(max_linearity_defect, max_abs_delta_at_target)
    if structure > MATERIAL or max_rel_err_vs_fd > MATERIAL or elementwise_sign_mismatch_share > SIGN_MISMATCH_NONE:
        return "does not hold", (f"the MSE error term is not a linear function of o - t that vanishes at o = t "
                                 f"(defect {_g(structure)}, finite-difference error {_g(max_rel_err_vs_fd)}), or its sign "
                                 f"departs from o - t for element-wise outputs (share {_g(elementwise_sign_mismatch_share)})")
    if structure > ROUNDING or max_rel_err_vs_fd > FD_RTOL:
        return "inconclusive", (f"linearity / zero-at-target defect {_g(structure)} and finite-difference error "
                                f"{_g(max_rel_err_vs_fd)} are above rounding but not material")
    mismatch = softmax_sign_mismatch_share > SIGN_MISMATCH_NONE or documented_example_mismatches > 0
    if mismatch:
        return "holds in part", (f"every MSE error term is linear in o - t and zero at o = t (defect {_g(structure)}), and "
                                 f"for identity and sigmoid outputs sign(delta_k) = sign(o_k - t_k) everywhere; but for exact "
                                 f"softmax-MSE the sign differs in {_g(100 * softmax_sign_mismatch_share)}% of random "
                                 f"one-hot cases (and in {documented_example_mismatches} component(s) of CLAIMS.md's example), "
                                 f"so the update carries J^T (o - t), not (o - t)")
    return "holds", (f"every MSE error term is linear in o - t and zero at o = t (defect {_g(structure)}), and no sign "
                     f"mismatch was found for any output, exact softmax included")


# ---- C3 ----


def rule_c3(max_abs_err_smoothed_targets, max_abs_err_binary_0p9, a_of_post_target=None):
    """Holds when smooth_labels gives (1 - a) t + a / K to rounding and K = 2, a = 0.2 gives 0.9 / 0.1.
    ``a_of_post_target`` (the a behind the post's (0.1, 0.8, 0.1)) is stated, not judged.
    "holds in part" is unreachable by design (one formula); a missing number gives "inconclusive"."""
    if bad := _unmeasured(max_abs_err_smoothed_targets=max_abs_err_smoothed_targets,
                          max_abs_err_binary_0p9=max_abs_err_binary_0p9):
        return _not_measured(bad)
    worst = max(max_abs_err_smoothed_targets, max_abs_err_binary_0p9)
    verdict, why = _exactness(worst, "the largest gap between smooth_labels and (1 - a) t + a / K, "
                                     "0.9 / 0.1 at K = 2, a = 0.2 included,")
    if a_of_post_target is not None:
        why += f"; the post's example target (0.1, 0.8, 0.1) is this smoothing with K = 3, a = {a_of_post_target:.4g}"
    return verdict, why


# ---- C4 ----


def rule_c4(max_rel_mixture_defect, modified_inputs):
    """LS acts only through the target: grad(t') = (1 - a) grad(t) + a grad(1/K) to rounding, and
    no call (training with smoothing included) writes into the caller's arrays. "holds in part" is
    unreachable by design (one identity); a missing number gives "inconclusive"."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    if modified_inputs > 0:
        return "does not hold", f"{modified_inputs} caller array(s) were modified by a call with smoothing"
    verdict, why = _exactness(max_rel_mixture_defect, "the relative gap |grad(t') - (1 - a) grad(t) - a grad(1/K)|")
    if verdict == "holds":
        why += "; no caller array was modified"
    return verdict, why


# ---- C5 ----

# The post prints its deltas to 4 decimals: a reproduction must agree to half a unit of the last digit.
PUBLISHED_ATOL = 5e-5
# The flip is located by Brent's method on z to 1e-13, so o (|do/dz| <= 1/4) is within ~1e-13 of
# the root; 1e-9 leaves room for rounding in delta near its zero and still calls any real offset.
FLIP_ATOL = 1e-9


def rule_c5(max_abs_delta_minus_published, sign_mismatch_points, settings_without_one_flip, flip_off_target_max):
    """Two parts. The numbers: the four worked-example deltas agree with the post to its 4 printed
    decimals. The flip (CE and element-wise MSE): along every swept slice the true-class update
    has the sign of t' - o at every grid point, changes sign exactly once, and that at t'. Both:
    holds; one: holds in part; neither: does not hold; a missing number: inconclusive."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    numbers_ok = max_abs_delta_minus_published <= PUBLISHED_ATOL
    flip_ok = sign_mismatch_points == 0 and settings_without_one_flip == 0 and flip_off_target_max <= FLIP_ATOL
    part1 = (f"the four deltas {'match' if numbers_ok else 'do not match'} the published values "
             f"(largest gap {_g(max_abs_delta_minus_published)}, tolerance {PUBLISHED_ATOL:g})")
    part2 = (f"the true-class update {'flips' if flip_ok else 'does not flip'} sign exactly where o passes t' "
             f"({sign_mismatch_points} grid points with sign(update) != sign(t' - o), {settings_without_one_flip} "
             f"slices without exactly one sign change, flips at most {_g(flip_off_target_max)} from t')")
    verdict = {2: "holds", 1: "holds in part", 0: "does not hold"}[numbers_ok + flip_ok]
    return verdict, f"{part1}; {part2}"


# ---- E1 ----

# Measures a learned target is compared on, each with the sign that makes a difference a gain
# (higher test accuracy is better; lower NLL and ECE are better).
E1_MEASURES = {"acc": 1.0, "nll": -1.0, "ece": -1.0}
# Differences this small do not matter whatever the standard error: 0.5 points of accuracy is under
# 2 of the ~360 test rows; 0.02 nats of NLL and 0.01 of ECE are below the spread of either between
# test sets of this size (ECE on ~360 rows in 15 bins moves by about 0.01-0.02 from sampling alone).
E1_TOL = {"acc": 0.005, "nll": 0.02, "ece": 0.01}
# Fewer seeds give no usable standard error for the paired differences.
E1_MIN_SEEDS = 3
# "Keeps the weights from growing": the final weight norm is below the hard-target students' beyond
# noise, and over the second half of training it grew by at most this share of the hard-target
# students' relative growth (or by at most E1_FLAT, which counts as a plateau).
E1_GROWTH_SHARE = 0.5
E1_FLAT = 0.01
E1_TARGETS = {"cm": "class-mean teacher targets", "hp": "hidden-pattern targets"}
E1_MEASURE_NAMES = {"acc": "accuracy", "nll": "NLL", "ece": "ECE"}


# E1's words for the calls of `paired_call` (two-sided): "not falls behind" counts for the learned target.
E1_WORDS = {"better": "beats", "worse": "falls behind", "equivalent": "matches", "undecided": "undecided"}


def e1_measure_call(diff, se, measure):
    """E1's call on one measure: `paired_call` (two-sided, margin E1_TOL) in E1's words ('beats',
    'matches', 'undecided', 'falls behind'); ``diff`` is learned minus LS."""
    return E1_WORDS[paired_call(diff, se, E1_TOL[measure], higher_is_better=E1_MEASURES[measure] > 0)]


def _e1_judge(name, diffs, ses, norm_diff, norm_diff_se, growth, hard_growth):
    """One learned target: per-measure status, whether it keeps the weights from growing, and a sentence."""
    status = {m: e1_measure_call(diffs[m], ses[m], m) for m in E1_MEASURES}
    smaller = paired_call(norm_diff, norm_diff_se, 0.0) == "better"  # below hard's norm beyond noise
    slowed = growth <= max(E1_GROWTH_SHARE * hard_growth, E1_FLAT)
    kept = smaller and slowed
    parts = ", ".join(f"{E1_MEASURE_NAMES[m]} {_e1_value(m, diffs[m])} ± {E1_SCALE[m] * SE_FACTOR * ses[m]:.2g} "
                      f"({status[m]})" for m in E1_MEASURES)
    weights = (f"final weight norm {norm_diff:+.3g} ± {SE_FACTOR * norm_diff_se:.2g} vs hard targets, grown "
               f"{100 * growth:.3g}% over the second half of training vs {100 * hard_growth:.3g}% with hard targets: "
               f"{'kept from growing' if kept else 'not kept from growing'}")
    return status, kept, f"{E1_TARGETS[name]} minus LS at its best a (± {SE_FACTOR:g} s.e. over seeds): {parts}; {weights}"


E1_SCALE = {"acc": 100.0, "nll": 1.0, "ece": 1.0}
E1_UNIT = {"acc": " pt", "nll": "", "ece": ""}
E1_KIND = {"cm": "class-mean output targets (distillation)", "hp": "hidden-pattern targets"}
# "in its favour" on a measure: shown better or equivalent (`paired_call`); "undecided" counts for the target in
# the score (it is not shown to fall behind) but shows nothing.
E1_SHOWN = ("beats", "matches")


def _e1_value(m, d):
    return f"{E1_SCALE[m] * d:+.3g}{E1_UNIT[m]}"


def rule_e1(n_seeds, cm_minus_ls_acc, cm_minus_ls_acc_se, cm_minus_ls_nll, cm_minus_ls_nll_se, cm_minus_ls_ece,
            cm_minus_ls_ece_se, cm_minus_hard_weight_norm, cm_minus_hard_weight_norm_se, cm_late_growth,
            hard_late_growth, hp_minus_ls_acc=None, hp_minus_ls_acc_se=None, hp_minus_ls_nll=None,
            hp_minus_ls_nll_se=None, hp_minus_ls_ece=None, hp_minus_ls_ece_se=None, hp_minus_hard_weight_norm=None,
            hp_minus_hard_weight_norm_se=None, hp_late_growth=None, ls_a_at_grid_edge_acc=0,
            ls_a_at_grid_edge_nll=0, ls_a_at_grid_edge_ece=0, hp_lam_at_grid_edge_acc=0, hp_lam_at_grid_edge_nll=0,
            hp_lam_at_grid_edge_ece=0):
    """Does a learned target match or beat LS at its best a (chosen on held-out rows, per measure) on
    test accuracy, NLL and ECE, and keep the weights from growing like hard targets do?

    Inputs are paired differences over seeds (learned minus LS; learned minus hard for the weight
    norm) with their standard errors, and relative weight-norm growth over the second half of
    training. Each learned target measured (class-mean "cm"; hidden-pattern "hp" when given) is
    judged per measure by `paired_call` (two-sided, margins E1_TOL): beats, matches (equivalent),
    undecided or falls behind. The target that falls behind on the fewest measures (then: keeps the
    weights) decides, and the reason names it and what the other falls behind on. Holds when it
    beats or matches LS on all three measures and keeps the weights from growing; does not hold
    when it falls behind on every measure; inconclusive when no target shows anything in its favour
    (no measure beaten or matched, no weights kept); holds in part otherwise.

    ``ls_a_at_grid_edge_<m>`` / ``hp_lam_at_grid_edge_<m>``: 1 when the a (the hidden weight) chosen
    for measure m is at an end of its grid, so a wider grid could move that comparison (LS could do
    better, the hidden-pattern targets too). The reason says so; where such a move could change the
    verdict it is "inconclusive". Fewer than E1_MIN_SEEDS seeds or a missing or non-finite number
    also give "inconclusive"."""
    measured = {"cm": (cm_minus_ls_acc, cm_minus_ls_acc_se, cm_minus_ls_nll, cm_minus_ls_nll_se, cm_minus_ls_ece,
                       cm_minus_ls_ece_se, cm_minus_hard_weight_norm, cm_minus_hard_weight_norm_se, cm_late_growth)}
    hp = (hp_minus_ls_acc, hp_minus_ls_acc_se, hp_minus_ls_nll, hp_minus_ls_nll_se, hp_minus_ls_ece,
          hp_minus_ls_ece_se, hp_minus_hard_weight_norm, hp_minus_hard_weight_norm_se, hp_late_growth)
    if all(v is not None for v in hp):
        measured["hp"] = hp
    missing = "" if "hp" in measured else "; hidden-pattern targets were not measured (gl.train has no hidden_targets)"
    edge_flags = dict(ls_a_at_grid_edge_acc=ls_a_at_grid_edge_acc, ls_a_at_grid_edge_nll=ls_a_at_grid_edge_nll,
                      ls_a_at_grid_edge_ece=ls_a_at_grid_edge_ece, hp_lam_at_grid_edge_acc=hp_lam_at_grid_edge_acc,
                      hp_lam_at_grid_edge_nll=hp_lam_at_grid_edge_nll, hp_lam_at_grid_edge_ece=hp_lam_at_grid_edge_ece)
    if _unmeasured(n_seeds=n_seeds, hard_late_growth=hard_late_growth, *measured["cm"]) or _unmeasured(**edge_flags):
        return "inconclusive", f"a measurement is missing or not finite (a diverged run?){missing}"
    measured = {name: tuple(float(v) for v in vals) for name, vals in measured.items()}  # report.json: "nan" strings
    if float(n_seeds) < E1_MIN_SEEDS:
        return "inconclusive", f"only {n_seeds} seed(s): at least {E1_MIN_SEEDS} are needed for a standard error{missing}"
    if _unmeasured(*measured.get("hp", ())):
        return "inconclusive", f"a measurement is missing or not finite (a diverged run?){missing}"
    ls_edge = [m for m in E1_MEASURES if float(edge_flags[f"ls_a_at_grid_edge_{m}"])]
    hp_edge = [m for m in E1_MEASURES if float(edge_flags[f"hp_lam_at_grid_edge_{m}"])] if "hp" in measured else []
    judged, diffs, ses = {}, {}, {}
    for name, (da, sa, dn, sn, de, se, dw, sw, growth) in measured.items():
        diffs[name], ses[name] = {"acc": da, "nll": dn, "ece": de}, {"acc": sa, "nll": sn, "ece": se}
        judged[name] = _e1_judge(name, diffs[name], ses[name], dw, sw, growth, float(hard_late_growth))
    status = {n: st for n, (st, _, _) in judged.items()}
    kept = {n: k for n, (_, k, _) in judged.items()}
    score = {n: (sum(s != "falls behind" for s in status[n].values()), kept[n],
                 sum(s in E1_SHOWN for s in status[n].values())) for n in judged}
    best = max(judged, key=lambda n: score[n])  # ties: class-mean targets, the first measured
    good, best_kept, _ = score[best]
    shown_anywhere = any(kept[n] or any(s in E1_SHOWN for s in status[n].values()) for n in judged)
    if good == len(E1_MEASURES) and best_kept and all(s in E1_SHOWN for s in status[best].values()):
        verdict = "holds"
    elif good == 0:
        verdict = "does not hold"
    elif not shown_anywhere:
        verdict = "inconclusive"
    else:
        verdict = "holds in part"

    def listed_text(items):
        return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else (items[0] if items else "")

    def listed(ms):
        return listed_text([E1_MEASURE_NAMES[m] for m in ms])

    def behind(name):
        """Where a target falls behind LS, with the gap in points / nats and in standard errors."""
        ms = [m for m in E1_MEASURES if status[name][m] == "falls behind"]
        return listed_text([f"{E1_MEASURE_NAMES[m]} ({_e1_value(m, diffs[name][m])}, "
                            f"{abs(diffs[name][m]) / ses[name][m]:.2g} SE)" if ses[name][m] > 0 else
                            f"{E1_MEASURE_NAMES[m]} ({_e1_value(m, diffs[name][m])})" for m in ms])

    def summary(name, behind_first=False, which=""):
        st, bits = status[name], []
        for word, label in (("beats", "beat LS on"), ("matches", "match LS on"),
                            ("undecided", "are not shown to differ from LS on")):
            ms = [m for m in E1_MEASURES if st[m] == word]
            if ms:
                bits.append(f"{label} {listed(ms)}")
        if any(s == "falls behind" for s in st.values()):
            bits.insert(0 if behind_first else len(bits), f"fall behind LS on {behind(name)}")
        bits.append(f"{'keep' if kept[name] else 'do not keep'} the weights from growing")
        return f"{E1_KIND[name]}{which} " + "; ".join(bits)

    others = [n for n in judged if n != best]
    if verdict == "does not hold":
        lead = "every learned target falls behind LS at its best a on every measure: " + "; ".join(
            summary(n) for n in judged)
    elif verdict == "inconclusive":
        lead = "no learned target is shown to match or beat LS on any measure, nor to keep the weights from growing: " \
               + "; ".join(summary(n) for n in judged)
    else:
        lead = f"the verdict rests on {summary(best, which=', which')}"
        trailing = [n for n in others if any(s == "falls behind" for s in status[n].values())]
        lead += "".join(f". Behind them, {summary(n, behind_first=True)}" if n in trailing else f". {summary(n)}"
                        for n in others)

    # a choice at an end of its grid, and whether a wider grid could change the verdict
    edges, decisive = [], False
    if ls_edge:
        edges.append(f"LS's a chosen for {listed(ls_edge)} is at an end of its grid, so LS could do better there "
                     "with a wider grid")
        favour = {n: [m for m in E1_MEASURES if status[n][m] != "falls behind"] for n in judged}
        if verdict == "holds" and any(m in ls_edge for m in favour[best]):
            decisive = True  # LS improving on a measure the target matches could make it fall behind
        if verdict == "holds in part" and all(set(favour[n]) <= set(ls_edge) for n in judged) and \
                not any(kept[n] for n in judged):
            decisive = True  # every measure in the targets' favour could be lost
    if hp_edge:
        edges.append(f"the hidden-pattern weight chosen for {listed(hp_edge)} is at an end of its grid, so "
                     "hidden-pattern targets could do better there with a wider grid")
        not_shown = [m for m in E1_MEASURES if status["hp"][m] not in E1_SHOWN]
        if verdict == "does not hold" and any(status["hp"][m] == "falls behind" for m in hp_edge):
            decisive = True
        if verdict == "holds in part" and not_shown and set(not_shown) <= set(hp_edge) and \
                (kept["hp"] or "acc" in hp_edge):
            decisive = True  # hidden patterns could reach "holds"
        if verdict == "inconclusive":
            decisive = False
    edge_text = ""
    if edges:
        edge_text = ". " + "; ".join(edges)
        edge_text = edge_text[:2] + edge_text[2].upper() + edge_text[3:]
        if decisive:
            edge_text += f": this could change the verdict ({verdict} on this grid), so it is inconclusive"
            verdict = "inconclusive"
        else:
            edge_text += ", which could not change the verdict"
    sentences = "; ".join(text for _, _, text in judged.values())
    return verdict, f"{lead}{edge_text}. {sentences[0].upper()}{sentences[1:]}{missing}."


# ---- C8 ----

# C8 compares LS at each a with each penalty at the strength matching LS's final weight norm, paired over
# seeds (seed s of both shares its initial weights and row order): per measure the mean paired difference
# and its standard error over seeds, judged by `paired_call` as in C11 and E1.
# Equivalence margins: differences inside them do not matter. Accuracy, NLL and ECE: E1's (the same digits
# test rows). Predictions: the share of test rows two methods predict alike, same seed, may fall short of
# the share two seeds of one method predict alike by 1% of test rows (4 of digits' 360) at most.
C8_TOL = {"test_acc": E1_TOL["acc"], "test_nll": E1_TOL["nll"], "test_ece": E1_TOL["ece"], "predictions": 0.01}
# Margins relative to LS's seed mean: the logit gap as C7's GAP_RTOL (5% of the gap 3.3 moves the true-class
# output by ~0.01); layer norms 5%, since matching the total norm by interpolation itself leaves a few percent.
C8_RTOL = {"logit_gap": 0.05, "hidden_norm": 0.05, "output_norm": 0.05}
# A measure agrees (or differs) when at least 3 of 4 counted pairs do: one may miss, by a lambda near the
# grid's edge or by chance (a pair with no true difference lies beyond 2 SE in about 8% of pairs, 1 in 13,
# paired over 10 seeds: Student's t with 9 degrees of freedom).
C8_SHARE = 0.75
# Under plain SGD, L2 and decoupled weight decay of equal strength are one update: when their sweep runs
# (same lambda and seed) end within this relative weight norm of each other (rounding over the epochs of
# float64 updates, ~1e-15 measured), the weight-decay pairs repeat the L2 pairs and are not counted.
C8_SAME_UPDATE = 1e-9
C8_MEASURES = {"test_acc": "test accuracy", "test_nll": "test NLL", "test_ece": "ECE", "logit_gap": "logit gap",
               "hidden_norm": "hidden-layer norm", "output_norm": "output-layer norm", "predictions": "predictions"}


def c8_status(diff, se, margin, one_sided=False):
    """One pair on one measure, `paired_call` in C8's words: "agree" when it is "equivalent"
    (the SE_FACTOR-SE interval of the paired difference inside +-margin); "differ" when "better" or
    "worse" (beyond the margin and away from 0); else "inconclusive". ``one_sided``
    (predictions: the share of rows predicted alike, where only a shortfall counts): "agree" when
    "not worse" or "better", "differ" when "worse"."""
    if one_sided:
        call = paired_call(diff, se, margin, higher_is_better=True, sided="no loss")
        return {"not worse": "agree", "better": "agree", "worse": "differ"}.get(call, "inconclusive")
    call = paired_call(diff, se, margin)
    return {"equivalent": "agree", "better": "differ", "worse": "differ"}.get(call, "inconclusive")


def _listing(names):
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else (names[0] if names else "none")


def c8_measure_status(agree, differ, null_agree):
    """One measure over the counted pairs: "agree" when >= C8_SHARE of them agree where the null
    control (hard targets, no penalty, against LS at the same a) does not; "differ" when >= C8_SHARE
    differ; "cannot tell" when the null agrees with LS at more than 1 - C8_SHARE of the a values
    (agreement could not be shown however the penalty did); "mixed" otherwise."""
    if agree >= C8_SHARE:
        return "agree"
    if differ >= C8_SHARE:
        return "differ"
    return "cannot tell" if null_agree > 1 - C8_SHARE else "mixed"


def rule_c8(matched_pairs, repeated_pairs, l2_vs_weight_decay_max_rel_norm_gap,
            agree_test_acc, agree_test_nll, agree_test_ece, agree_logit_gap, agree_hidden_norm, agree_output_norm,
            agree_predictions, differ_test_acc, differ_test_nll, differ_test_ece, differ_logit_gap, differ_hidden_norm,
            differ_output_norm, differ_predictions, null_agree_test_acc, null_agree_test_nll, null_agree_test_ece,
            null_agree_logit_gap, null_agree_hidden_norm, null_agree_output_norm, null_agree_predictions,
            lambda_at_grid_edge=0, unmatched_pairs=0):
    """Does a penalty at LS's final weight norm do what LS does? ``matched_pairs``: the counted
    (a, penalty) pairs (``repeated_pairs`` weight-decay pairs equal to L2's are not counted). Per
    measure, ``agree_*``: share of counted pairs that agree (`c8_status`) at an a where hard targets
    without a penalty do not; ``differ_*``: share that differ; ``null_agree_*``: share of a values at
    which hard targets agree with LS. Each measure by `c8_measure_status`. Holds when every measure
    agrees; holds in part when some do; does not hold when none agrees and some differ; inconclusive
    without a counted pair, with a number missing, or when no measure can tell.

    ``lambda_at_grid_edge``: counted pairs whose matched lambda leans on an end of its grid;
    ``unmatched_pairs``: pairs the grid could not match. Both are stated; when more than
    1 - C8_SHARE of the pairs lean on an end (more than a measure may miss), the verdict is
    "inconclusive"."""
    if matched_pairs == 0:
        return "inconclusive", "no penalty strength on the grid reached LS's weight norm, so no pair could be compared"
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    v = locals()
    status = {name: c8_measure_status(v[f"agree_{m}"], v[f"differ_{m}"], v[f"null_agree_{m}"])
              for m, name in C8_MEASURES.items()}
    share = {name: (v[f"agree_{m}"], v[f"differ_{m}"], v[f"null_agree_{m}"]) for m, name in C8_MEASURES.items()}
    of = {k: [n for n, s in status.items() if s == k] for k in ("agree", "differ", "cannot tell", "mixed")}
    repeated = (f" (the {repeated_pairs} weight-decay pairs repeat the L2 pairs under plain SGD, to "
                f"{_g(float(l2_vs_weight_decay_max_rel_norm_gap))} relative weight norm, and are not counted)"
                if repeated_pairs else "")
    parts = [f"over {matched_pairs} independent (a, penalty) pairs matched by final weight norm{repeated}, paired "
             f"over seeds (2-SE intervals of the mean difference; margins {C8_TOL['test_acc']:g} accuracy, "
             f"{C8_TOL['test_nll']:g} nats NLL, {C8_TOL['test_ece']:g} ECE, {_g(100 * C8_RTOL['logit_gap'])}% of LS's "
             f"logit gap and layer norms)"]
    parts.append(f"LS and the penalty agree on {_listing(of['agree'])}" + (
        " (in >= {:g}% of pairs, at a values where hard targets without any penalty do not)".format(100 * C8_SHARE)
        if of["agree"] else ""))
    parts.append(f"they differ on {_listing([f'{n} ({_g(100 * share[n][1])}% of pairs)' for n in of['differ']])}")
    if of["cannot tell"]:
        parts.append("the test cannot tell on " + _listing(
            [f"{n} (hard targets without any penalty agree with LS at {_g(100 * share[n][2])}% of a values)"
             for n in of["cannot tell"]]))
    if of["mixed"]:
        parts.append("the pairs are mixed on " + _listing(
            [f"{n} ({_g(100 * share[n][0])}% agree, {_g(100 * share[n][1])}% differ)" for n in of["mixed"]]))
    if not of["differ"] and not of["cannot tell"] and not of["mixed"]:
        verdict = "holds"
    elif of["agree"]:
        verdict = "holds in part"
    elif of["differ"]:
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    edge, unmatched = int(lambda_at_grid_edge), int(unmatched_pairs)
    parts.append(f"{edge} of the {matched_pairs} matched lambdas lean on an end of their grid" if edge else
                 "every matched lambda lies inside its grid")
    if unmatched:
        parts[-1] += f" ({unmatched} pair(s) the grid could not match)"
    if edge > (1 - C8_SHARE) * matched_pairs and verdict != "inconclusive":
        parts[-1] += (f": more than {_g(100 * (1 - C8_SHARE))}% of the pairs, so the verdict ({verdict} on this grid) "
                      "is inconclusive")
        verdict = "inconclusive"
    return verdict, "; ".join(parts)


# ---- C8 over its regime map ----

# A cell's L2 run counts as norm-matched when its seed-mean final weight norm is within 5% of LS's: the
# same 5% C8 allows layer norms (C8_RTOL), since interpolating on a decade grid leaves a few percent.
C8_NORM_MATCH = 0.05
C8_CELL_MEASURES = ("nll", "ece", "logit_gap")


def c8_cell(nll_diff, nll_se, ece_diff, ece_se, logit_gap_diff, logit_gap_se, logit_gap_margin, null_nll_diff,
            null_nll_se, null_ece_diff, null_ece_se, null_logit_gap_diff, null_logit_gap_se, norm_gap):
    """C8 ('an L2 penalty does roughly what LS does') in one regime. Inputs: test NLL, ECE and mean
    logit gap of L2 at the strength matching LS's final weight norm minus LS, paired over seeds
    (``*_diff``, ``*_se``), the same for hard targets without a penalty minus LS (``null_*``, the
    control), and ``norm_gap``, the matched run's seed-mean norm over LS's minus 1. Each measure by
    `c8_status` (margins: C8_TOL's NLL and ECE, ``logit_gap_margin`` = C8_RTOL of LS's gap). Fails
    when L2 differs from LS on any of the three; holds when it agrees on all three and the null
    does not agree on at least one (so agreement shows something LS does); inconclusive otherwise,
    when the norms are not matched within C8_NORM_MATCH, or for a missing input."""
    v = locals()
    if _unmeasured(**v) or abs(float(norm_gap)) > C8_NORM_MATCH:
        return "inconclusive"
    margin = {"nll": C8_TOL["test_nll"], "ece": C8_TOL["test_ece"], "logit_gap": float(logit_gap_margin)}
    calls = [c8_status(v[f"{m}_diff"], v[f"{m}_se"], margin[m]) for m in C8_CELL_MEASURES]
    null = [c8_status(v[f"null_{m}_diff"], v[f"null_{m}_se"], margin[m]) for m in C8_CELL_MEASURES]
    if "differ" in calls:
        return "fails"
    return "holds" if all(c == "agree" for c in calls) and any(n != "agree" for n in null) \
        else "inconclusive"


def rule_c8_map(cells, cells_holds, cells_fails, domain_holds, domain_fails, unmatched_cells, null_agrees_cells,
                differ_nll_cells, differ_ece_cells, differ_logit_gap_cells, l2_lower_nll_cells, l2_lower_ece_cells,
                l2_larger_gap_cells, a):
    """C8 over its regime map: per cell `c8_cell` on L2 at LS's weight norm against LS at ``a``;
    the claim's verdict by `_map_verdict`. The reason names where L2 does what LS does and where
    it does not, on which measures (``differ_*_cells``: cells where L2 differs from LS on that
    measure; ``l2_lower_nll_cells``, ``l2_lower_ece_cells``, ``l2_larger_gap_cells``: of those,
    where L2's value is the lower NLL / ECE or the larger gap), how many cells could not be matched
    by norm (``unmatched_cells``) and in how many hard targets alone agree with LS on all three
    measures (``null_agrees_cells``: LS did nothing measurable there, so agreement could show
    nothing)."""
    counts = dict(cells=cells, cells_holds=cells_holds, cells_fails=cells_fails, unmatched_cells=unmatched_cells,
                  null_agrees_cells=null_agrees_cells, differ_nll_cells=differ_nll_cells,
                  differ_ece_cells=differ_ece_cells, differ_logit_gap_cells=differ_logit_gap_cells,
                  l2_lower_nll_cells=l2_lower_nll_cells, l2_lower_ece_cells=l2_lower_ece_cells,
                  l2_larger_gap_cells=l2_larger_gap_cells, a=a)
    verdict, text, ok = _map_counted(counts, dict(domain_holds=domain_holds, domain_fails=domain_fails))
    if not ok:
        return verdict, text
    text += (f", comparing LS at a = {_g(float(a))} with an L2 penalty whose strength gives the same final weight "
             f"norm (within {_g(100 * C8_NORM_MATCH)}%), paired over seeds")
    if int(cells_holds):
        text += (f". L2 agrees with LS on test NLL, ECE and logit gap (2-SE intervals inside the margins) for "
                 f"{domain_holds}")
    if int(cells_fails):
        text += (f". It differs for {domain_fails}: on NLL in {int(differ_nll_cells)} regimes (L2 lower in "
                 f"{int(l2_lower_nll_cells)}), on ECE in {int(differ_ece_cells)} (L2 lower in {int(l2_lower_ece_cells)}), "
                 f"on the logit gap in {int(differ_logit_gap_cells)} (L2 larger in {int(l2_larger_gap_cells)})")
    if int(unmatched_cells):
        text += (f". In {int(unmatched_cells)} regimes the L2 nets' final norm did not come within "
                 f"{_g(100 * C8_NORM_MATCH)}% of LS's (inconclusive)")
    if int(null_agrees_cells):
        text += (f". In {int(null_agrees_cells)} regimes hard targets without a penalty agree with LS on all three "
                 "measures: LS changes nothing measurable there")
    return verdict, text


# ---- C9 ----

# Two knobs are compared by the steepest change of seed-mean test NLL per decade of the knob over its useful
# range (gradlab.compare.knob_sensitivity). One is called more sensitive when its number is at least twice
# the other's: the steepest-of-several-differences statistic is itself noisy, about +-1 seed SD per decade
# with 10 seeds and half-decade steps, so smaller ratios are not distinguishable.
C9_RATIO = 2.0
# The useful range of a knob: values whose seed-mean test accuracy is within 2 percentage points of the
# knob's best (a loss one would notice and not accept: 7 of digits' 360 test rows), or within one test row
# where that is more (Iris: 1/30), since accuracy on a small test set moves in steps of one row.
C9_USEFUL_ACC_DROP = 0.02


def _c9_compare(sens_a, sens_lam):
    if sens_a >= C9_RATIO * sens_lam:
        return "more"
    if sens_lam >= C9_RATIO * sens_a:
        return "less"
    return "alike"


def rule_c9(sensitivity_a_iris, sensitivity_lambda_iris, sensitivity_a_digits, sensitivity_lambda_digits,
            slope_a_iris, slope_lambda_iris, slope_a_digits, slope_lambda_digits, span_iris, span_digits,
            a_at_grid_edge_iris=0, lambda_at_grid_edge_iris=0, a_at_grid_edge_digits=0,
            lambda_at_grid_edge_digits=0):
    """C9 as measured: is LS's ``a`` harder to set than an L2 strength? Per data set both knobs are
    measured over the same span of decades around their best values (``span_*``, the smaller of the
    two useful spans), so the longer grid gets no extra neighbouring differences to take the
    steepest of; and in two units: nats of test NLL per decade (``slope_*``) and seed SDs per decade
    (``sensitivity_*``, each knob divided by its own seed SD). A data set's call (``a`` more / less
    sensitive by >= C9_RATIO, or alike) stands only when both units give it; else it is
    "unit-dependent". Holds when ``a`` is the more sensitive knob on both data sets; holds in part
    when the two are alike on both (``a`` needs tuning on held-out data as lambda does, and no
    more); does not hold when ``a`` is the less sensitive on both; otherwise (the data sets or the
    units disagree, a number missing) inconclusive.

    ``<knob>_at_grid_edge_<data>``: 1 when that knob's best value is an end of its grid, so the
    window around it is one-sided and the curve beyond the grid unseen. The reason says so; a
    verdict that rests on such a data set's call ("holds", "holds in part", "does not hold") is
    "inconclusive" instead."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    sets = {"Iris": (sensitivity_a_iris, sensitivity_lambda_iris, slope_a_iris, slope_lambda_iris, span_iris),
            "digits": (sensitivity_a_digits, sensitivity_lambda_digits, slope_a_digits, slope_lambda_digits, span_digits)}
    edges = {"Iris": [k for k, f in (("a", a_at_grid_edge_iris), ("lambda", lambda_at_grid_edge_iris)) if float(f)],
             "digits": [k for k, f in (("a", a_at_grid_edge_digits), ("lambda", lambda_at_grid_edge_digits))
                        if float(f)]}
    cmp = {}
    for name, (sa, sl, na, nl, _) in sets.items():
        sd_call, nats_call = _c9_compare(sa, sl), _c9_compare(na, nl)
        cmp[name] = sd_call if sd_call == nats_call else f"unit-dependent ({sd_call} in seed SDs, {nats_call} in nats)"
    numbers = "; ".join(f"on {name} over {_g(float(span))} decades around each best value, a {_g(na)} vs L2 lambda "
                        f"{_g(nl)} nats of test NLL per decade ({_g(sa)} vs {_g(sl)} of each knob's seed SD)"
                        for name, (sa, sl, na, nl, span) in sets.items())
    flagged = [f"{' and '.join(ks)} on {name}" for name, ks in edges.items() if ks]
    edge = (f"; the best {', '.join(flagged)} is at an end of its grid, so the curve beyond it is unseen"
            if flagged else "; every best value lies inside its grid")
    kinds = set(cmp.values())
    if kinds == {"more"}:
        verdict, why = "holds", (f"a is the more sensitive knob on both data sets (by >= {C9_RATIO:g}x in both "
                                 f"units): {numbers}")
    elif kinds == {"alike"}:
        verdict, why = "holds in part", (f"a is about as sensitive as lambda on both data sets (within {C9_RATIO:g}x "
                                         f"in both units), so it needs tuning on held-out data like any regulariser, "
                                         f"and no more: {numbers}")
    elif kinds == {"less"}:
        verdict, why = "does not hold", (f"a is the less sensitive knob on both data sets (by >= {C9_RATIO:g}x in "
                                         f"both units): {numbers}")
    else:
        return "inconclusive", (f"the calls disagree (a against lambda: {cmp['Iris']} on Iris, {cmp['digits']} on "
                                f"digits): {numbers}{edge}")
    if flagged:
        return "inconclusive", (f"{why}{edge}: the verdict ({verdict} on these grids) rests on that data set's call, "
                                "so it is inconclusive")
    return verdict, why + edge


# ---- C11 ----

# C11's margins: ECE (15 bins) on a few hundred test rows moves by about 0.01 between two seeds of
# one net, and a user would not call a change under one point of calibration error a help; NLL:
# 0.02 nats is 2% of likelihood per test row.
C11_ECE_MARGIN = 0.01
C11_NLL_MARGIN = 0.02
# A claim holds (or fails) over its map when no cell says the opposite and at least this share of
# the cells says it; with cells on both sides it holds in part, and the report names where.
MAP_DECIDED_SHARE = 2 / 3


def c11_cell(ece_diff, ece_se, nll_diff, nll_se):
    """One regime of C11's map. Inputs: test ECE and NLL of LS at its validation-chosen a minus
    hard targets, paired over seeds (`paired_call`, lower is better, one-sided "no gain", margins
    `C11_ECE_MARGIN`, `C11_NLL_MARGIN`). The claim 'LS does not help calibration' fails in the
    cell when LS is better on ECE or NLL, holds when a material gain is excluded on both ("not
    better" or "worse"), and is inconclusive otherwise."""
    calls = (paired_call(ece_diff, ece_se, C11_ECE_MARGIN, sided="no gain"),
             paired_call(nll_diff, nll_se, C11_NLL_MARGIN, sided="no gain"))
    if "better" in calls:
        return "fails"
    if all(c in ("not better", "worse") for c in calls):
        return "holds"
    return "inconclusive"


def _map_verdict(cells, holds, fails):
    """The verdict of a claim from its cells' verdicts (`MAP_DECIDED_SHARE`)."""
    if not all(isinstance(v, int) and v >= 0 for v in (cells, holds, fails)) or cells == 0 or holds + fails > cells:
        return "inconclusive"
    if fails == 0 and holds >= MAP_DECIDED_SHARE * cells:
        return "holds"
    if holds == 0 and fails >= MAP_DECIDED_SHARE * cells:
        return "does not hold"
    if holds and fails:
        return "holds in part"
    return "inconclusive"


def rule_c11(cells, cells_holds, cells_fails, domain_fails, domain_holds, ece_gain_best, ece_gain_best_se,
             ece_gain_best_regime, fails_ts_as_good, a_at_grid_edge_cells, a_at_low_edge_cells):
    """C11 (LS does not help calibration) over its regime map: each cell's verdict by `c11_cell`;
    the claim's by `_map_verdict`. The reason names where the claim fails (``domain_fails``), the
    largest paired ECE gain of LS (``ece_gain_best`` ± SE, in ``ece_gain_best_regime``), in how
    many failing cells temperature scaling of the hard-target nets does as well as LS
    (``fails_ts_as_good``), and how many cells chose a at an end of the a grid (at its smallest
    value: ``a_at_low_edge_cells``)."""
    if bad := _unmeasured(cells=cells, cells_holds=cells_holds, cells_fails=cells_fails, ece_gain_best=ece_gain_best,
                          ece_gain_best_se=ece_gain_best_se, fails_ts_as_good=fails_ts_as_good,
                          a_at_grid_edge_cells=a_at_grid_edge_cells, a_at_low_edge_cells=a_at_low_edge_cells) + [
            n for n, v in (("domain_fails", domain_fails), ("domain_holds", domain_holds), ("ece_gain_best_regime",
                                                                                        ece_gain_best_regime))
            if not isinstance(v, str) or v in ("", "nan")]:
        return _not_measured(bad)
    cells, cells_holds, cells_fails = int(cells), int(cells_holds), int(cells_fails)
    if cells <= 0:
        return "inconclusive", "no regimes measured"
    verdict = _map_verdict(cells, cells_holds, cells_fails)
    inconclusive = cells - cells_holds - cells_fails
    text = f"holds in {cells_holds} of {cells} regimes, fails in {cells_fails}, inconclusive in {inconclusive}"
    if cells_fails:
        text += (f". LS lowers test ECE or NLL beyond the margins ({C11_ECE_MARGIN:g} ECE, {C11_NLL_MARGIN:g} nats, "
                 f"by {SE_FACTOR:g} SE) for {domain_fails}; the largest ECE gain is {_g(-ece_gain_best)} ± "
                 f"{_g(ece_gain_best_se)} ({ece_gain_best_regime}); temperature scaling of the hard-target nets "
                 f"does as well as LS in {fails_ts_as_good} of those {cells_fails} regimes")
    if cells_holds:
        text += f". It holds for {domain_holds}"
    if a_at_grid_edge_cells:
        text += (f". In {a_at_grid_edge_cells} regimes the chosen a is at an end of its grid ({a_at_low_edge_cells} at "
                 "the smallest a, where validation NLL wants LS nearly off)")
    return verdict, text


# ---- C6 ----

# A norm "keeps growing" when it gains at least 5% per decade of steps. Why 5%: a norm growing like
# c ln t (the rate known for separable data, Soudry et al. 2018) gains ln 10 / ln(t / t0) of itself per
# decade: 20% at t = 10^6 (t0 = 1), and it would fall to 5% only near t = 10^20, so any log growth a run
# can reach clears the bar.
GROWING = 0.05
# A norm is "bounded" when it changes by at most 2% per decade. Why 2%: a norm converging to a limit
# changes by ever less; what remains is SGD noise around the limit, and growth is measured from a
# least-squares fit over all records of the decade (gradlab.margins.decade_growth), which averages that
# noise to well below 2% (measured: below 1% for every converged run). Between 2% and 5% no call is made.
BOUNDED = 0.02


def rule_c6(separable_growth_min, nonseparable_change_max, separated_share_min, nonseparable_sets_linearly_separable,
            soudry_slope_ratio_first, soudry_slope_ratio_last, soudry_angle_first_deg, soudry_angle_last_deg,
            soudry_ratio_approaching, soudry_angle_decreasing):
    """C6 measured where it can hold and where it cannot. Separable data (the runs separate it,
    ``separated_share_min == 1``): does the norm with hard targets grow by >= GROWING in each of the
    last decades? Data the model cannot separate (an LP confirms it): does it change by <= BOUNDED
    over the last decade? And does a linear model follow the known rate (slope of ||w|| against ln t approaching
    ||w_hat||, angle to w_hat shrinking, decade by decade)?

    Growth on separable data only, bounded elsewhere, rate as known: holds in part (the growth is
    real but conditional on separability, and logarithmic). Growth everywhere: holds. No growth on
    separable data: does not hold. Anything else (premises failed, rates off, values between the
    thresholds, a number missing): inconclusive."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    if separated_share_min < 1 or nonseparable_sets_linearly_separable > 0:
        return "inconclusive", (f"the premises failed: the 'separable' runs reach a training accuracy of only "
                                f"{_g(separated_share_min)}, or {nonseparable_sets_linearly_separable} 'non-separable' "
                                "training set(s) are linearly separable")
    soudry = (f"a linear model's growth rate d||w||/d ln t went from {_g(soudry_slope_ratio_first)} to "
              f"{_g(soudry_slope_ratio_last)} of ||w_hat|| and its angle to the max-margin separator from "
              f"{_g(soudry_angle_first_deg)} to {_g(soudry_angle_last_deg)} degrees")
    if separable_growth_min < BOUNDED:
        return "does not hold", (f"on separable data the norm with hard targets grew by only {_g(100 * separable_growth_min)}% "
                                 f"in a decade (bounded: <= {_g(100 * BOUNDED)}%)")
    if not (soudry_ratio_approaching and soudry_angle_decreasing):
        return "inconclusive", f"the linear model does not follow the known asymptotics decade by decade: {soudry}"
    if separable_growth_min >= GROWING and nonseparable_change_max >= GROWING:
        return "holds", (f"the norm with hard targets grows by >= {_g(100 * separable_growth_min)}% per decade on separable "
                         f"data and by up to {_g(100 * nonseparable_change_max)}% where the model cannot separate it; {soudry}")
    if separable_growth_min >= GROWING and nonseparable_change_max <= BOUNDED:
        return "holds in part", (f"only on data the model separates: there the norm with hard targets keeps growing, by at "
                                 f"least {_g(100 * separable_growth_min)}% per decade up to the last step, but only "
                                 f"logarithmically ({soudry}: slowly towards 1 and 0, as the known O(1/ln t) rate predicts); where the model "
                                 f"cannot separate the data the norm settles (change <= {_g(100 * nonseparable_change_max)}% "
                                 "per decade) even with hard targets")
    return "inconclusive", (f"growth on separable data {_g(100 * separable_growth_min)}% and change on non-separable data "
                            f"{_g(100 * nonseparable_change_max)}% per decade fall between the thresholds "
                            f"({_g(100 * BOUNDED)}%, {_g(100 * GROWING)}%)")


# ---- C7 ----

# The measured mean logit gap counts as the per-sample optimum's when within 5% of log(1 + K(1 - a)/a):
# 5% of the gap 3.3 (a = 0.1, K = 3) is 0.17 logits, which moves the true-class output by about 0.01,
# i.e. the outputs sit at t' to within a hundredth.
GAP_RTOL = 0.05
# The formula against a numerical minimiser of one sample's loss (BFGS, gradient tolerance 1e-13): they
# agree to ~1e-9 when the formula is right; a wrong formula is off by orders of magnitude more.
GAP_FORMULA_ATOL = 1e-6


def rule_c7(ls_linear_growth_max, ls_output_growth_max, ls_output_growth_min, ls_hidden_growth_max,
            ls_hidden_growth_min, ls_to_hard_norm_ratio_min, ls_to_hard_norm_ratio_max, saturated_share_ls,
            saturated_share_hard, gap_rel_err_max, gap_formula_vs_optimizer_max):
    """Does LS stop the growth? The mechanism first: the per-sample optimum of CE against t' has the
    logit gap log(1 + K(1 - a)/a) (formula vs a numerical minimiser). Then the norms: a linear model
    with LS on separable data must settle (change <= BOUNDED per decade), and so must every layer of
    the 4-7-3 nets over the last decade. All settle: holds. The linear model settles but some layer
    of the nets keeps growing (>= GROWING): holds in part. The linear model keeps growing, or the
    formula is wrong: does not hold. Otherwise (a number missing included) inconclusive."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    if gap_formula_vs_optimizer_max > GAP_FORMULA_ATOL:
        return "does not hold", (f"one sample's optimum under LS is not at the gap log(1 + K(1 - a)/a): the numerical "
                                 f"minimiser differs by {_g(gap_formula_vs_optimizer_max)} logits")
    if ls_linear_growth_max >= GROWING:
        return "does not hold", (f"even a linear model's norm keeps growing under LS ({_g(100 * ls_linear_growth_max)}% "
                                 "per decade)")
    if ls_linear_growth_max > BOUNDED:
        return "inconclusive", (f"the linear model's norm under LS changes by {_g(100 * ls_linear_growth_max)}% per decade, "
                                f"between the thresholds ({_g(100 * BOUNDED)}%, {_g(100 * GROWING)}%)")
    gap = (f"the nets do end at the optimum's logit gap (within {_g(100 * gap_rel_err_max)}%)"
           if gap_rel_err_max <= GAP_RTOL else f"the nets' mean logit gap is still {_g(100 * gap_rel_err_max)}% off the "
                                               "optimum's")
    base = (f"LS gives each sample a finite optimum (gap log(1 + K(1 - a)/a), confirmed numerically to "
            f"{_g(gap_formula_vs_optimizer_max)}), and a linear model's norm settles under it (change <= "
            f"{_g(100 * ls_linear_growth_max)}% per decade)")
    ratio = (f"at the last step the LS nets' norms are {_g(ls_to_hard_norm_ratio_min)} to {_g(ls_to_hard_norm_ratio_max)} "
             "times the hard-target nets'")
    if max(ls_output_growth_max, ls_hidden_growth_max) <= BOUNDED:
        return "holds", f"{base}; every layer of the 4-7-3 nets settles too; {gap}; {ratio}"

    def layer(name, lo, hi):
        if lo >= GROWING:
            return f"the {name} layer keeps growing in every net and at every a ({_g(100 * lo)}% to {_g(100 * hi)}% in the last decade)"
        if hi >= GROWING:
            return (f"the {name} layer settles in some nets (down to {_g(100 * lo)}% per decade) and keeps growing in "
                    f"others (up to {_g(100 * hi)}%)")
        return f"the {name} layer changes by {_g(100 * lo)}% to {_g(100 * hi)}% per decade"

    shares = (f"({_g(100 * saturated_share_ls)}% against {_g(100 * saturated_share_hard)}% of activations beyond "
              "|h| = 0.99)")
    saturation = (f"Their hidden units end more saturated than with hard targets {shares}, consistent with o = t' on every "
                  "sample being reached only as the hidden units saturate" if saturated_share_ls > saturated_share_hard
                  else f"Their hidden units end no more saturated than with hard targets {shares}")
    if max(ls_output_growth_max, ls_hidden_growth_max) >= GROWING:
        return "holds in part", (f"{base}. Not in 4-7-3 nets with a tanh hidden layer: "
                                 f"{layer('hidden', ls_hidden_growth_min, ls_hidden_growth_max)}, and "
                                 f"{layer('output', ls_output_growth_min, ls_output_growth_max)}, although {gap}. {saturation}; "
                                 f"{ratio}")
    return "inconclusive", (f"{base}; the nets' layer norms change by up to {_g(100 * ls_hidden_growth_max)}% (hidden) and "
                            f"{_g(100 * ls_output_growth_max)}% (output) per decade, between the thresholds")


# ---- C10 ----

# MSE with LS counts as "as accurate" when its seed-mean test accuracy is at most 5 points below the better
# of MSE with hard targets and CE with LS. Why 5: one Iris test row is 3.3 points, and single runs at one
# setting spread over about 10 points (0.87-0.97), so seed means of 5 runs differ by 2-3 points by chance.
ACC_DROP_TOL = 0.05


def rule_c10(mse_hard_linear_growth_min, mse_ls_linear_change_max, mse_ls_acc_drop_max, mse_ls_output_growth_max,
             mse_ls_hidden_growth_max, mse_ls_gap_rel_err_max, mse_gap_formula_vs_optimizer_max):
    """LS with MSE (sigmoid and softmax outputs) measured as C6/C7 measure it with CE: the per-sample
    optimum sits at o = t' (finite logits; formula vs numerical minimiser); a linear model's norm,
    which grows with hard MSE targets (>= GROWING per decade), settles with MSE + LS (<= BOUNDED); and
    test accuracy is within ACC_DROP_TOL of MSE with hard targets and of CE with LS. All three: holds.
    Norms as with CE but accuracy lower: holds in part. LS does not stop the linear model's growth, or
    the optimum is elsewhere: does not hold. No contrast (hard MSE not growing), values between the
    thresholds or a number missing: inconclusive."""
    if bad := _unmeasured(**locals()):
        return _not_measured(bad)
    if mse_gap_formula_vs_optimizer_max > GAP_FORMULA_ATOL:
        return "does not hold", (f"with MSE the per-sample optimum under LS is not at o = t' (gap off by "
                                 f"{_g(mse_gap_formula_vs_optimizer_max)} logits)")
    if mse_ls_linear_change_max >= GROWING:
        return "does not hold", (f"with MSE, LS does not stop a linear model's norm from growing "
                                 f"({_g(100 * mse_ls_linear_change_max)}% per decade)")
    if mse_hard_linear_growth_min < GROWING or mse_ls_linear_change_max > BOUNDED:
        return "inconclusive", (f"no clear contrast: with MSE a linear model's norm grows by {_g(100 * mse_hard_linear_growth_min)}% "
                                f"per decade with hard targets and changes by up to {_g(100 * mse_ls_linear_change_max)}% with "
                                f"LS (growing: >= {_g(100 * GROWING)}%, settled: <= {_g(100 * BOUNDED)}%)")
    norms = (f"with MSE (sigmoid and softmax outputs) each sample's optimum under LS is o = t', at finite logits "
             f"(confirmed numerically to {_g(mse_gap_formula_vs_optimizer_max)}), and a linear model's norm, which grows "
             f"by >= {_g(100 * mse_hard_linear_growth_min)}% per decade with hard targets, settles with LS (change <= "
             f"{_g(100 * mse_ls_linear_change_max)}%), as with CE")
    grown = max(mse_ls_hidden_growth_max, mse_ls_output_growth_max)
    trend = ("keep growing" if grown >= GROWING else "settle" if grown <= BOUNDED else "neither settle nor clearly grow")
    nets = (f"in the 4-7-3 net the norms {trend} under MSE + LS (last decade: hidden layer up to "
            f"{_g(100 * mse_ls_hidden_growth_max)}%, output layer up to {_g(100 * mse_ls_output_growth_max)}%; mean logit "
            f"gap {_g(100 * mse_ls_gap_rel_err_max)}% from the optimum's at most)")
    if mse_ls_acc_drop_max <= ACC_DROP_TOL:
        return "holds", (f"{norms}; Iris test accuracy with MSE + LS is at most {_g(100 * mse_ls_acc_drop_max)} points below "
                         f"MSE with hard targets and CE with LS; {nets}")
    return "holds in part", (f"{norms}; but Iris test accuracy with MSE + LS is up to {_g(100 * mse_ls_acc_drop_max)} points "
                             f"below MSE with hard targets or CE with LS; {nets}")


# ---- C6, C7, C10 over their regime map ----

def growth_call(growth, se):
    """A norm's relative growth per decade of training (mean over seeds) with its standard error:
    'growing' when ``growth - 2 se >= GROWING``, 'not growing' when ``growth + 2 se <= BOUNDED``
    (settled or shrinking), 'unclear' between or for NaN input. C6, C7 and C10 judge every cell
    of their map by it: one criterion for one quantity."""
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in (growth, se)) or se < 0:
        return "unclear"
    if growth - SE_FACTOR * se >= GROWING:
        return "growing"
    if growth + SE_FACTOR * se <= BOUNDED:
        return "not growing"
    return "unclear"


def c6_cell(hard_growth, hard_growth_se):
    """C6 in one regime: the weight norm with hard targets keeps growing (holds), does not (fails)."""
    return {"growing": "holds", "not growing": "fails"}.get(growth_call(hard_growth, hard_growth_se), "inconclusive")


def c7_cell(ls_growth, ls_growth_se, hard_growth, hard_growth_se):
    """C7 (and C10 with MSE) in one regime: LS keeps the weights from growing (holds) when the
    norm stops growing with LS while it keeps growing with hard targets; fails when it keeps
    growing with LS; inconclusive otherwise, including when neither grows (nothing to stop)."""
    ls, hard = growth_call(ls_growth, ls_growth_se), growth_call(hard_growth, hard_growth_se)
    if ls == "growing":
        return "fails"
    return "holds" if (ls, hard) == ("not growing", "growing") else "inconclusive"


def _map_unmeasured(counts, texts):
    """`_unmeasured` for a map rule: counts must be finite numbers, domain texts strings."""
    return _unmeasured(**counts) + [n for n, v in texts.items() if not isinstance(v, str) or v in ("", "nan")]


def _map_counted(counts, texts):
    """The start of a map rule: ``(verdict, text, True)``, the verdict by `_map_verdict` and the
    cell counts in words; or ``("inconclusive", reason, False)`` when a count (``counts``: cells,
    cells_holds, cells_fails and the rule's other numbers) or a domain text (``texts``) is
    missing, or no cell was measured."""
    if bad := _map_unmeasured(counts, texts):
        return (*_not_measured(bad), False)
    cells, holds, fails = (int(counts[k]) for k in ("cells", "cells_holds", "cells_fails"))
    if cells <= 0:
        return "inconclusive", "no regimes measured", False
    text = f"holds in {holds} of {cells} regimes, fails in {fails}, inconclusive in {cells - holds - fails}"
    return _map_verdict(cells, holds, fails), text, True


def rule_c6_map(cells, cells_holds, cells_fails, domain_holds, domain_fails, fitted_cells, fitted_cells_holds):
    """C6 (hard targets: the weights keep growing) over its regime map: per cell `c6_cell` on the
    fastest-growing layer's weight norm's growth over the last decade of training, hard targets, CE; the claim's verdict by
    `_map_verdict`. The reason names where it holds and fails, and how it fares where the
    hard-target nets classify every training row in every seed (``fitted_cells``), the regime the
    argument is about (no finite minimiser once the data are separated)."""
    verdict, text, ok = _map_counted(dict(cells=cells, cells_holds=cells_holds, cells_fails=cells_fails,
                                          fitted_cells=fitted_cells, fitted_cells_holds=fitted_cells_holds),
                                     dict(domain_holds=domain_holds, domain_fails=domain_fails))
    if not ok:
        return verdict, text
    if int(cells_holds):
        text += (f". With hard targets the fastest-growing layer's weight norm grows by at least {_g(100 * GROWING)}% per decade of training "
                 f"({_g(SE_FACTOR)} SE) for {domain_holds}")
    if int(cells_fails):
        text += f". It stops growing (at most {_g(100 * BOUNDED)}% per decade) for {domain_fails}"
    text += (f". Where the hard-target nets classify every training row ({int(fitted_cells)} regimes) it keeps growing "
             f"in {int(fitted_cells_holds)}")
    return verdict, text


def _ls_growth_rule(loss, cells, cells_holds, cells_fails, domain_holds, domain_fails, no_contrast_cells,
                    norm_ratio_min, norm_ratio_max):
    verdict, text, ok = _map_counted(dict(cells=cells, cells_holds=cells_holds, cells_fails=cells_fails,
                                          no_contrast_cells=no_contrast_cells, norm_ratio_min=norm_ratio_min,
                                          norm_ratio_max=norm_ratio_max),
                                     dict(domain_holds=domain_holds, domain_fails=domain_fails))
    if not ok:
        return verdict, text
    if int(cells_holds):
        text += (f". With {loss} and LS every layer's weight norm stops growing (at most {_g(100 * BOUNDED)}% per decade of "
                 f"training, {_g(SE_FACTOR)} SE) while with hard targets some layer's keeps growing (at least "
                 f"{_g(100 * GROWING)}%) for {domain_holds}")
    if int(cells_fails):
        text += f". With LS some layer's norm keeps growing (at least {_g(100 * GROWING)}% per decade) for {domain_fails}"
    if int(no_contrast_cells):
        text += (f". In {int(no_contrast_cells)} regimes the norms stop growing with LS but do not grow with hard targets "
                 "either: nothing for LS to stop (inconclusive)")
    text += (f". Growing or not, the LS nets' weight norm at the end is {_g(float(norm_ratio_min))} to "
             f"{_g(float(norm_ratio_max))} times the hard-target nets' (cell means)")
    return verdict, text


def rule_c7_map(cells, cells_holds, cells_fails, domain_holds, domain_fails, no_contrast_cells, norm_ratio_min,
                norm_ratio_max):
    """C7 (LS keeps the weights from growing) over its regime map: per cell `c7_cell` on the
    fastest-growing layer's weight norm's growth over the last decade of training with CE and LS; the claim's verdict by
    `_map_verdict`. ``no_contrast_cells``: cells where the norm stops growing with LS and does
    not grow with hard targets either; ``norm_ratio_min`` / ``_max``: the range over cells of the
    LS nets' final weight norm over the hard-target nets' (how much smaller LS keeps them)."""
    return _ls_growth_rule("CE", cells, cells_holds, cells_fails, domain_holds, domain_fails, no_contrast_cells,
                           norm_ratio_min, norm_ratio_max)


def rule_c10_map(cells, cells_holds, cells_fails, domain_holds, domain_fails, no_contrast_cells, norm_ratio_min,
                 norm_ratio_max, agrees_with_ce_cells):
    """C10 (LS acts with MSE as with CE) over its regime map: C7's cell rule (`c7_cell`) on nets
    trained with MSE (softmax outputs) and LS against MSE with hard targets; ``no_contrast_cells``
    as in `rule_c7_map`; ``agrees_with_ce_cells``: cells whose verdict equals C7's (CE)."""
    if bad := _unmeasured(agrees_with_ce_cells=agrees_with_ce_cells):
        return _not_measured(bad)
    verdict, text = _ls_growth_rule("MSE", cells, cells_holds, cells_fails, domain_holds, domain_fails,
                                    no_contrast_cells, norm_ratio_min, norm_ratio_max)
    if not text.startswith(("not measured", "no regimes")):
        text += f". The MSE cells' verdicts equal CE's (C7) in {int(agrees_with_ce_cells)} of {int(cells)} regimes"
    return verdict, text


# ---- C9 over its regime map ----

# A choice of a by validation NLL "loses" against the best a in hindsight when its test NLL is
# worse by more than C11's NLL margin (0.02 nats) or its accuracy by more than E1's (0.5 points),
# both by 2 SE (`paired_call`): the same margins for the same quantities across claims.
C9_NLL_MARGIN = C11_NLL_MARGIN
C9_ACC_MARGIN = E1_TOL["acc"]


def c9_cell(nll_regret, nll_regret_se, acc_regret, acc_regret_se):
    """C9 ('no principled way to choose a') in one regime. Inputs: test NLL of the a chosen on
    validation NLL minus that of the a best on the test rows, and test accuracy of the best a
    minus the chosen a's (paired over seeds; a = 0 included). The claim holds in the cell when
    the validation choice is materially worse on either (`paired_call`, margins C9_NLL_MARGIN,
    C9_ACC_MARGIN), fails when it is shown not materially worse on both (a routine, principled
    choice works), and is inconclusive otherwise."""
    calls = (paired_call(nll_regret, nll_regret_se, C9_NLL_MARGIN, sided="no loss"),
             paired_call(acc_regret, acc_regret_se, C9_ACC_MARGIN, sided="no loss"))
    if "worse" in calls:
        return "holds"
    if all(c in ("not worse", "better") for c in calls):
        return "fails"
    return "inconclusive"


def rule_c9_map(cells, cells_holds, cells_fails, domain_holds, domain_fails, val_is_best_cells, nll_regret_max,
                nll_regret_max_se, nll_regret_max_regime, hard_chosen_cells):
    """C9 over C11's regime map (every cell trains hard targets and LS at each a of a grid):
    per cell `c9_cell` on what choosing a by validation NLL costs on the test rows against the
    best a in hindsight; the claim's verdict by `_map_verdict`. The reason names where a
    validation choice works and where it loses, the largest NLL loss (``nll_regret_max`` ±
    SE, in ``nll_regret_max_regime``), in how many cells the validation choice is the test-best
    a (``val_is_best_cells``) and in how many it is a = 0, hard targets (``hard_chosen_cells``).
    The best a in hindsight is picked on the same test rows it is scored on, so the loss is if
    anything overstated: a 'fails' is not flattered."""
    verdict, text, ok = _map_counted(dict(cells=cells, cells_holds=cells_holds, cells_fails=cells_fails,
                                          val_is_best_cells=val_is_best_cells, nll_regret_max=nll_regret_max,
                                          nll_regret_max_se=nll_regret_max_se, hard_chosen_cells=hard_chosen_cells),
                                     dict(domain_holds=domain_holds, domain_fails=domain_fails,
                                          nll_regret_max_regime=nll_regret_max_regime))
    if not ok:
        return verdict, text
    if int(cells_fails):
        text += (f". Choosing a (0 included) by validation NLL loses at most {_g(C9_NLL_MARGIN)} nats of test NLL and "
                 f"{_g(100 * C9_ACC_MARGIN)} points of accuracy against the best a in hindsight ({_g(SE_FACTOR)} SE) for "
                 f"{domain_fails}")
    if int(cells_holds):
        text += f". It loses more for {domain_holds}"
    text += (f". The largest test-NLL loss is {_g(float(nll_regret_max))} ± {_g(float(nll_regret_max_se))} "
             f"({nll_regret_max_regime}); the validation choice is the best a in {int(val_is_best_cells)} of "
             f"{int(cells)} regimes, and a = 0 (hard targets) in {int(hard_chosen_cells)}. The best a in hindsight is "
             "picked on the test rows it is scored on, which overstates the loss: a cell's 'holds' may be that "
             "selection, a 'fails' is not flattered")
    return verdict, text


# ---- E1 over its regime map ----

def e1_cell(cm_acc_diff, cm_acc_se, cm_nll_diff, cm_nll_se, cm_ece_diff, cm_ece_se, hp_acc_diff, hp_acc_se,
            hp_nll_diff, hp_nll_se, hp_ece_diff, hp_ece_se, hard_acc_diff, hard_acc_se, hard_nll_diff, hard_nll_se,
            hard_ece_diff, hard_ece_se):
    """E1 in one regime. Inputs: test accuracy, NLL and ECE of the students of each learned target
    (``cm``: class-mean outputs; ``hp``: class-mean hidden patterns) minus LS at its chosen a,
    paired over seeds, and the same for hard targets (``hard``, the null control). Each measure by
    `e1_measure_call` (E1's margins). A target stands in for LS when it "beats" or "matches" LS on
    all three, and falls behind when it "falls behind" on any. The claim holds in the cell when
    either target stands in and hard targets do not (else standing in shows nothing LS adds), fails
    when both targets fall behind, and is inconclusive otherwise (or for a missing input)."""
    v = locals()
    if _unmeasured(**v):
        return "inconclusive"
    calls = {t: [e1_measure_call(v[f"{t}_{m}_diff"], v[f"{t}_{m}_se"], m) for m in E1_MEASURES]
             for t in (*E1_TARGETS, "hard")}
    stands = {t: all(c in E1_SHOWN for c in cs) for t, cs in calls.items()}
    if any(stands[t] for t in E1_TARGETS) and not stands["hard"]:
        return "holds"
    if all("falls behind" in calls[t] for t in E1_TARGETS):
        return "fails"
    return "inconclusive"


def rule_e1_map(cells, cells_holds, cells_fails, domain_holds, domain_fails, cm_stands_in_cells, cm_behind_cells,
                hp_stands_in_cells, hp_behind_cells, hard_stands_in_cells, ls_a_low_edge_cells, hidden_weight):
    """E1 over its regime map (C11's cells; LS at the a chosen on validation NLL): per cell
    `e1_cell`; the claim's verdict by `_map_verdict`. The reason names where a learned target
    stands in for LS and where both fall behind, and for each target in how many regimes it
    stands in (``*_stands_in_cells``) and falls behind (``*_behind_cells``), in how many hard
    targets alone stand in (``hard_stands_in_cells``: there LS at its a adds nothing a learned target
    could be shown to replace) and in how many LS's a is its grid's smallest (``ls_a_low_edge_cells``:
    LS barely on)."""
    verdict, text, ok = _map_counted(dict(cells=cells, cells_holds=cells_holds, cells_fails=cells_fails,
                                          cm_stands_in_cells=cm_stands_in_cells, cm_behind_cells=cm_behind_cells,
                                          hp_stands_in_cells=hp_stands_in_cells, hp_behind_cells=hp_behind_cells,
                                          hard_stands_in_cells=hard_stands_in_cells,
                                          ls_a_low_edge_cells=ls_a_low_edge_cells, hidden_weight=hidden_weight),
                                     dict(domain_holds=domain_holds, domain_fails=domain_fails))
    if not ok:
        return verdict, text
    margins = f"margins {_g(100 * E1_TOL['acc'])} points, {_g(E1_TOL['nll'])} nats, {_g(E1_TOL['ece'])} ECE"
    if int(cells_holds):
        text += (f". A learned target matches or beats LS at its chosen a on test accuracy, NLL and ECE ({margins}, "
                 f"{_g(SE_FACTOR)} SE) for {domain_holds}")
    if int(cells_fails):
        text += f". Both fall behind LS on some measure for {domain_fails}"
    text += (f". Class-mean output targets (distillation) stand in for LS in {int(cm_stands_in_cells)} of {int(cells)} "
             f"regimes and fall behind in {int(cm_behind_cells)}; hidden-pattern targets (weight "
             f"{_g(float(hidden_weight))}) stand in in {int(hp_stands_in_cells)} and fall behind in {int(hp_behind_cells)}. "
             f"Hard targets alone match or beat LS at its chosen a in {int(hard_stands_in_cells)} regimes (there a learned "
             f"target's match shows nothing: inconclusive), and LS's a is its grid's smallest in "
             f"{int(ls_a_low_edge_cells)}, where LS is barely on")
    return verdict, text
