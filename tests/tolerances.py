"""Every numeric tolerance the gradient and claim tests use, each with the reason for its size.

Rules: a tolerance is set from an error analysis (or a measurement of an independent
reference), never widened to make a failing test pass. ``EPS64``/``EPS32`` are the unit
roundoffs times two (machine epsilon) of float64 / float32.
"""
import numpy as np

EPS64 = float(np.finfo(np.float64).eps)  # 2.22e-16
EPS32 = float(np.finfo(np.float32).eps)  # 1.19e-7

# ---------------------------------------------------------------- finite differences

# Central differences in float64 with step h = 1e-6: truncation h^2 |f'''| / 6 ~ 1e-13 and
# rounding ~ eps |L| / h ~ 2e-10 |L|, so agreement to 1e-6 relative is what the issue asks for
# and still leaves headroom over the FD error itself (measured worst: 1.1e-7, softmax-CE,
# over 6000 examples with the relative error defined below).
FD_STEP = 1e-6
FD_RTOL = 1e-6

# The denominator of the FD relative error is max(max_p |FD_p|, FD_FLOOR * S) with
# S = max(1, |L|, max_k |z_k|), the size of the numbers the loss is computed from: FD noise is
# ~ c eps S / h ~ 2e-10 c S (c = a few roundings), so a gradient smaller than 1e-3 S cannot be
# resolved to 1e-6 relative by FD at all; below that it is compared absolutely (to 1e-9 S).
FD_FLOOR = 1e-3

# FD w.r.t. the logits of a loss evaluated by the plain-NumPy reference: the same error model.
# (Kept separate so the two FD uses can be told apart in a failure message.)
FD_Z_RTOL = 1e-6

# ---------------------------------------------------------------- kernels vs references

# Kernel vs naive NumPy reference (forward values, per-sample gradients) in float64. Both do
# the same few-dozen roundings per entry in a different order, with exp/tanh differing by a
# few ulp; measured against the first-order rounding-error *scale* of each entry (see
# naive.error_scales, which does not vanish when an entry cancels), the error is bounded by
# ~depth * width * few eps <= ~200 eps ~ 4e-14. 1e-12 (as the issue asks) leaves 25x.
# Measured: <= 8.3 eps * scale over 6000 hypothesis examples (all 20 activation/output/loss
# combinations).
KERNEL_RTOL = 1e-12

# Identical per-row arithmetic in a different association order (mean of per-sample rows vs
# the blocked, 4-accumulator reduction): n * eps relative to mean_n |G_n| for n <= 600 rows
# is <= 1.3e-13; the same 1e-12 budget as above.
REDUCTION_RTOL = 1e-12

# float32 nets vs float64 nets holding the same (float32-representable) parameters and data:
# the same <= ~200 roundings as above, in float32 ulps of the same scale (256 EPS32 ~ 3e-5).
# Measured: <= 1.1 EPS32 * scale over 6000 examples (the kernels keep many intermediates
# in float64).
F32_RTOL = 256 * EPS32
# ... plus float32's underflow threshold: results below the smallest normal float32 (e.g. the
# gradient x (o - t) of an input x = 1.4e-45) lose relative precision or flush to 0, and the
# float32 exp clamps its argument at -87 (normal results only, `blocks._exp32`), so a softmax
# output whose exact value is below exp(-87) = 1.65e-38 = 1.4 tiny comes out near that value
# (found by hypothesis: 1.65e-38 for an exact 9e-55). 2 tiny covers both.
F32_ATOL = 2 * float(np.finfo(np.float32).tiny)  # 2.4e-38

# _kernels._tanh and _kernels._exp vs np.tanh / np.exp (glibc, < 1 ulp): the kernels'
# docstrings promise <= 2 ulp. Measured on the test grids: _tanh 2 ulp vs np.tanh (1.5 vs an
# 80-bit reference); _exp 2 ulp vs np.exp since commit c1cc4fd (it was 3 ulp before, at points
# with |r| near ln(2)/2, where the degree-12 polynomial was summed in plain Horner order).
ACTIVATION_MAX_ULP = 2
# Their float32 versions (_tanh32, _exp32: Cephes tanhf/expf polynomials in float32) against the
# exact value, in float32 ulp: measured on every float32 in [0.25, 4) and [4, 10.5) and every 7th
# in [1e-6, 0.25) (both signs): _tanh32 1.33 ulp, _exp32 0.98 ulp. 2 allows for the rounding
# of the final subtraction/multiplication, as for float64.
ACTIVATION32_MAX_ULP = 2

# ---------------------------------------------------------------- closed-form formulas

# A closed form with < 10 roundings per entry on O(1) numbers (error terms from logits,
# label smoothing, affine combinations): <= ~20 eps ~ 4.4e-15 of the scale; 1e-13 leaves 20x.
FORMULA_RTOL = 1e-13

# Label smoothing of values in [0, 1]: (1 - a) t + a / K is 3 roundings of numbers <= 1,
# <= 2 eps ~ 4.4e-16; the issue asks for 1e-15 on the (0.9, 0.1) example.
SMOOTH_ATOL = 1e-15

# float32 label smoothing vs the float64 formula on the float64 targets, values <= 1: the
# targets' own float32 rounding plus three float32 roundings, each <= EPS32 / 2: <= 2 EPS32.
SMOOTH_ATOL_F32 = 2 * EPS32

# Row sums of K <= 10 smoothed targets: each entry carries <= 3 roundings and the sum K more,
# <= 40 eps ~ 9e-15.
ROW_SUM_ATOL = 1e-14

# C5 worked example: -lr (o - t) h with o = sigmoid(log(o/(1-o))) exact to a few ulp; 1e-12
# is what the claim test asks for and is ~1e4 times the rounding.
WORKED_EXAMPLE_ATOL = 1e-12

# A sign is only meaningful when the quantity is clearly away from rounding noise: o - t and
# delta are O(1) numbers computed with a few roundings, so |x| > 1e-12 is never an artefact.
SIGN_MARGIN = 1e-12

# A difference this large is a property of the formulas, never rounding (>= 1e10 FORMULA_RTOL):
# used where a test shows that two quantities really differ (diagonal vs exact softmax-MSE).
MATERIAL_DIFFERENCE = 1e-3

# C2 "delta = 0 only if o = t": |delta| >= m |o - t| (m = smallest slope of the output map on
# the relevant subspace) is checked with half the bound as slack, where the bound is at least
# this, i.e. >= 1e9 times the rounding of delta (a few eps).
LOWER_BOUND_MIN = 1e-6

# ReLU kinks: FD is only valid if no hidden pre-activation is within this of 0 (and no FD
# stencil point changes the activation pattern, which the tests check separately).
RELU_KINK_MARGIN = 1e-4

# ---------------------------------------------------------------- optimizers vs PyTorch

# gl.train vs a float64 PyTorch loop with torch.optim.Adam / AdamW / SGD(nesterov=True), 200
# steps: each step differs by a few roundings (the order of the sums in the gradient, the
# bias corrections' pow, Adam's m / (sqrt(v) / c2 + eps)), ~10 eps relative per step; over 200
# steps of these small, smooth nets the differences add up to ~2000 eps ~ 4e-13 without
# growing (the maps are contractions or mild expansions at lr <= 0.1). 1e-12 is what the issue
# asks for.
TRAJECTORY_RTOL = 1e-12
