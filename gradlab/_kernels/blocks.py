"""Numba kernels: flat contiguous arrays and scalars in, caller-allocated arrays out.

No validation and no defaults here; the Python layer (`_checks`) does that. This module
holds the shared pieces (activations, forward and backward passes over a block of rows) and
the whole-data drivers; `training` and `runs` build the two training loops on them. numba's
on-disk cache only tracks a kernel's own file, so the package clears every kernel cache when
any kernel source changes (`gradlab._kernels.__init__`).

Index letters: ``n`` sample (row of ``X``), ``j`` position inside a block of rows,
``i``/``o`` in/out units of a layer, ``k`` output unit (class), ``p`` flat parameter.

Layouts
-------
params : 1-D, length P. For each layer ``l``: ``W_l`` (fan_in, fan_out) row-major, then ``b_l``.
sizes  : int64 layer sizes ``[d, h_1, ..., K]``.
Blocks : activations of ``B`` rows are *feature-major*: unit ``i`` of a layer occupies
         ``B`` contiguous slots, so every inner loop runs over rows and vectorises.
         ``A`` holds all layers (layer 0 = inputs, layer L = outputs); ``Z`` the logits.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic, overload

# error_model="numpy": a float division by zero gives inf/nan instead of a Python-style
# check, which would stop LLVM from inlining and vectorising the loops below.
_jit = njit(cache=True, error_model="numpy")
# Small block pieces are inlined into their callers: a numba call that passes arrays costs
# reference counting per array, which at one row per step costs more than the arithmetic. The
# forward and backward passes and the update are called, not inlined: inlined into
# `train_chunk`'s loop, whose parameter buffers swap every step, LLVM left their loops scalar
# (one online step of digits 64-32-10 took 11 us inlined, 4.3 us called).
_jit_inline = njit(cache=True, error_model="numpy", inline="always")

# Activation codes (hidden and output); SOFTMAX is an output only.
IDENTITY, TANH, RELU, SIGMOID, SOFTMAX = 0, 1, 2, 3, 4
# Loss codes; MSE_DIAGONAL is softmax-MSE with the (o - t) o (1 - o) shortcut.
CE, MSE, MSE_DIAGONAL = 0, 1, 2

ROW_BLOCK = 256  # rows per block in the whole-data drivers; bounds work memory
NARROW = 8  # layers with fewer outputs: per-sample gradients stored by column, and batch
#            gradients summed as dot products over rows (the vector loop runs over rows)


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float whose IEEE-754 bit pattern is ``bits`` (an LLVM bitcast): float64 from int64,
    float32 from int32."""
    if bits == types.int32:
        return types.float32(types.int32), lambda context, builder, signature, args: builder.bitcast(
            args[0], ir.FloatType())
    return types.float64(types.int64), lambda context, builder, signature, args: builder.bitcast(
        args[0], ir.DoubleType())


@intrinsic
def _bits_from_float(typingctx, x):
    """The IEEE-754 bit pattern of ``x`` (an LLVM bitcast): int64 of a float64, int32 of a float32."""
    if x == types.float32:
        return types.int32(types.float32), lambda context, builder, signature, args: builder.bitcast(
            args[0], ir.IntType(32))
    return types.int64(types.float64), lambda context, builder, signature, args: builder.bitcast(
        args[0], ir.IntType(64))


# Training arithmetic runs in the parameters' dtype: float32 nets compute in float32 (as
# numpy, PyTorch and JAX do), with every constant, accumulator and hyper-parameter rounded to
# it (``F = type(x)``), and their own exp and tanh below. float64 nets compute in float64.


@_jit
def _exp64(x):
    """exp(x) in plain arithmetic, so loops over rows vectorise (libm's exp does not); <= 2 ulp.

    exp(x) = 2^k exp(r), k = round(x / ln 2), |r| <= ln(2)/2, exp(r) by its degree-12 Taylor
    polynomial (truncation < 2e-16). x is clamped to [-708, 709] (normal results only).
    """
    x = min(max(x, -708.0), 709.0)
    k = np.floor(x * 1.4426950408889634 + 0.5)  # a float: converting it to an int would not vectorise
    r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    # 1 + (r + r^2 p): the two leading terms added last, so they round once
    # 2^k from the bits of k + 1.5 2^52 (k in its low bits; the high ones shift out)
    return (1.0 + (r + r * r * p)) * _float_from_bits((_bits_from_float(k + 6755399441055744.0) + 1023) << 52)


F32 = np.float32  # float32 constants below are rounded once, when the module loads


@_jit
def _exp32(x):
    """exp(x) in float32 arithmetic (Cephes expf): k = round(x / ln 2), r = x - k ln 2 in two
    parts, exp(r) = 1 + r + r^2 P(r) with P of degree 5. x is clamped to [-87, 88] (normal results only)."""
    x = min(max(x, F32(-87.0)), F32(88.0))
    k = np.floor(x * F32(1.44269504088896341) + F32(0.5))  # a float32 (math.floor gives an int)
    r = (x - k * F32(0.693359375)) - k * F32(-2.12194440e-4)
    p = F32(1.9875691500e-4)
    p = p * r + F32(1.3981999507e-3)
    p = p * r + F32(8.3334519073e-3)
    p = p * r + F32(4.1665795894e-2)
    p = p * r + F32(1.6666665459e-1)
    p = p * r + F32(5.0000001201e-1)
    return (F32(1.0) + (r + r * r * p)) * _float_from_bits(np.int32((_bits_from_float(k + F32(12582912.0)) + 127) << 23))


@_jit
def _tanh64(x):
    """tanh(x) in plain arithmetic (vectorises); <= 2 ulp in float64.

    |x| < 0.625: x + x^3 P(x^2)/Q(x^2) (Cephes tanh.c coefficients);
    otherwise 1 - 2 / (exp(2|x|) + 1), with |x| capped at 20 where tanh rounds to 1.
    """
    a = min(abs(x), 20.0)
    z = a * a
    p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
    q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
    small = a < 0.625
    # one division serves both branches (vectorised code evaluates both): p / q or 2 / (e + 1)
    e1 = _exp64(2.0 * a) + 1.0
    f = (p if small else 2.0) / (q if small else e1)
    return math.copysign(a + a * z * f if small else 1.0 - f, x)


@_jit
def _tanh32(x):
    """tanh(x) in float32 arithmetic: |x| < 0.625: x + x^3 P(x^2) (Cephes tanhf, P of degree 4);
    otherwise 1 - 2 / (exp(2|x|) + 1), with |x| capped at 10 where tanh rounds to 1."""
    a = min(abs(x), F32(10.0))
    z = a * a
    p = F32(-5.70498872745e-3)
    p = p * z + F32(2.06390887954e-2)
    p = p * z - F32(5.37397155531e-2)
    p = p * z + F32(1.33314422036e-1)
    p = p * z - F32(3.33332819422e-1)
    big = F32(1.0) - F32(2.0) / (_exp32(F32(2.0) * a) + F32(1.0))
    return math.copysign(a + a * z * p if a < F32(0.625) else big, x)


def _exp(x):
    """exp(x) in x's precision: `_exp32` for float32, `_exp64` otherwise (in kernels too)."""
    return _exp32(x) if isinstance(x, np.float32) else _exp64(x)


def _tanh(x):
    """tanh(x) in x's precision: `_tanh32` for float32, `_tanh64` otherwise (in kernels too)."""
    return _tanh32(x) if isinstance(x, np.float32) else _tanh64(x)


@overload(_exp, jit_options={"error_model": "numpy"}, inline="always")
def _exp_for_type(x):
    return (lambda x: _exp32(x)) if x == types.float32 else (lambda x: _exp64(x))


@overload(_tanh, jit_options={"error_model": "numpy"}, inline="always")
def _tanh_for_type(x):
    return (lambda x: _tanh32(x)) if x == types.float32 else (lambda x: _tanh64(x))


@_jit
def _sigmoid(x):
    """1 / (1 + exp(-x)), evaluated without overflow for either sign."""
    one = type(x)(1.0)
    e = _exp(-abs(x))
    return one / (one + e) if x >= 0 else e / (one + e)


@_jit
def _softplus(x):
    """log(1 + exp(x)) without overflow."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@_jit_inline
def _activate(code, v, m):
    """In place, element-wise: v[:m] <- act(v[:m]) for identity, tanh, relu or sigmoid.

    Loops index views from 0 on purpose: numba wraps negative indices, and an index whose
    sign it cannot prove turns every access into a gather and stops vectorisation.
    """
    if code == TANH:
        for q in range(m):
            v[q] = _tanh(v[q])
    elif code == RELU:
        for q in range(m):
            v[q] = max(v[q], 0.0)
    elif code == SIGMOID:
        for q in range(m):
            v[q] = _sigmoid(v[q])


@_jit_inline
def _softmax(z, out, K, B, tmp):
    """out[k, j] = exp(z[k, j] - max_k z[:, j]) / sum_k exp(...), over a K x B block.

    Loops run over rows j (vectorised); ``tmp`` is scratch of length >= B.
    """
    m = tmp[:B]
    for j in range(B):
        m[j] = z[j]
    for k in range(1, K):
        zk = z[k * B:(k + 1) * B]
        for j in range(B):
            m[j] = max(m[j], zk[j])
    for k in range(K):
        zk = z[k * B:(k + 1) * B]
        ok = out[k * B:(k + 1) * B]
        for j in range(B):
            ok[j] = _exp(zk[j] - m[j])
    for j in range(B):
        m[j] = out[j]
    for k in range(1, K):
        ok = out[k * B:(k + 1) * B]
        for j in range(B):
            m[j] += ok[j]
    for k in range(K):
        ok = out[k * B:(k + 1) * B]
        for j in range(B):
            ok[j] /= m[j]


@_jit_inline
def _output(code, z, out, K, B, tmp):
    """Outputs of the last layer from its logits: out = act_out(z), K x B."""
    if code == SOFTMAX:
        _softmax(z, out, K, B, tmp)
    else:
        for q in range(K * B):
            out[q] = z[q]
        _activate(code, out, K * B)


@_jit
def _activation_slope(code, a):
    """d act / d z written in terms of the activation a = act(z)."""
    F = type(a)
    if code == TANH:
        return F(1.0) - a * a
    if code == SIGMOID:
        return a * (F(1.0) - a)
    if code == RELU:
        return F(1.0) if a > 0 else F(0.0)
    return F(1.0)


TILE_ROWS, TILE_VECTORS = 4, 2  # `_tile`: 4 broadcast rows by 2 AVX2 vectors (8 float64, 16 float32)


def _tile_codegen(masked):
    """`_tile` (``masked`` False) and `_tile_masked`: one register block of `_gemm_acc`, written
    in LLVM vector IR (numba's scalar loops do not get register-blocked):

    C[c0 + a ca + b] += sum_{k < K} S[s0 + a sa + k sk] V[v0 + k vk + b]   for a < ma, b < nb,

    each sum started from C's value and taken in order of k with a separate multiply and add
    (no FMA), as a scalar loop would: results are bit-identical to one. Rows a >= ma
    (ma <= TILE_ROWS) read row ma - 1 and are not stored; unmasked, nb is the full width."""
    def typer(typingctx, C, c0, ca, S, s0, sa, sk, V, v0, vk, K, ma, nb):
        def codegen(context, builder, sig, args):
            i32, i64 = ir.IntType(32), ir.IntType(64)
            ft = context.get_value_type(C.dtype)
            W = 32 // context.get_abi_sizeof(ft)
            vt = ir.VectorType(ft, W)
            c0, ca, s0, sa, sk, v0, vk, K, ma, nb = (context.cast(builder, args[q], sig.args[q], types.int64)
                                                     for q in (1, 2, 4, 5, 6, 8, 9, 10, 11, 12))
            def base(q, off):
                return builder.gep(context.make_array(sig.args[q])(context, builder, args[q]).data, [off])
            pC, pS, pV = base(0, c0), base(3, s0), base(7, v0)
            splat = ir.Constant(ir.VectorType(i32, W), [0] * W)
            def bcast(x, ty):
                return builder.shuffle_vector(builder.insert_element(ir.Constant(ty, None), x, ir.Constant(i32, 0)),
                                              ir.Constant(ty, None), splat)
            align = ir.Constant(i32, 32 // W)
            if masked:
                suffix = f"v{W}{'f64' if W == 4 else 'f32'}.p0"
                mty = ir.VectorType(ir.IntType(1), W)
                mload = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
                    vt, [vt.as_pointer(), i32, mty, vt]), "llvm.masked.load." + suffix)
                mstore = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
                    ir.VoidType(), [vt, vt.as_pointer(), i32, mty]), "llvm.masked.store." + suffix)
                lanes = ir.Constant(ir.VectorType(i64, W), list(range(W)))
                masks = [builder.icmp_signed("<", lanes, bcast(builder.sub(nb, ir.Constant(i64, v * W)),
                                                                ir.VectorType(i64, W))) for v in range(TILE_VECTORS)]
            def vptr(ptr, v):
                return builder.bitcast(builder.gep(ptr, [ir.Constant(i64, v * W)]), vt.as_pointer())
            def vload(ptr, v):
                if masked:
                    return builder.call(mload, [vptr(ptr, v), align, masks[v], ir.Constant(vt, None)])
                return builder.load(vptr(ptr, v), align=32 // W)
            rows = [builder.select(builder.icmp_signed("<", ir.Constant(i64, a), ma), ir.Constant(i64, a),
                                   builder.sub(ma, ir.Constant(i64, 1))) for a in range(TILE_ROWS)]
            pc = [builder.gep(pC, [builder.mul(r, ca)]) for r in rows]
            ps = [builder.gep(pS, [builder.mul(r, sa)]) for r in rows]
            acc = [[cgutils.alloca_once(builder, vt) for v in range(TILE_VECTORS)] for a in range(TILE_ROWS)]
            for a in range(TILE_ROWS):
                for v in range(TILE_VECTORS):
                    builder.store(vload(pc[a], v), acc[a][v])
            with cgutils.for_range(builder, K) as loop:
                pv = builder.gep(pV, [builder.mul(loop.index, vk)])
                y = [vload(pv, v) for v in range(TILE_VECTORS)]
                for a in range(TILE_ROWS):
                    x = bcast(builder.load(builder.gep(ps[a], [builder.mul(loop.index, sk)])), vt)
                    for v in range(TILE_VECTORS):
                        builder.store(builder.fadd(builder.load(acc[a][v]), builder.fmul(x, y[v])), acc[a][v])
            for a in range(TILE_ROWS):
                with builder.if_then(builder.icmp_signed("<", ir.Constant(i64, a), ma)):
                    for v in range(TILE_VECTORS):
                        val = builder.load(acc[a][v])
                        if masked:
                            builder.call(mstore, [val, vptr(pc[a], v), align, masks[v]])
                        else:
                            builder.store(val, vptr(pc[a], v), align=32 // W)
            return context.get_dummy_value()
        if not all(isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C" for t in (C, S, V)):
            raise TypeError("_tile needs 1-D contiguous arrays")
        return types.void(C, c0, ca, S, s0, sa, sk, V, v0, vk, K, ma, nb), codegen
    return typer


_tile = intrinsic(_tile_codegen(False))
_tile_masked = intrinsic(_tile_codegen(True))


@_jit_inline
def _gemm_acc(C, c0, ca, S, s0, sa, sk, V, v0, vk, K, M, N):
    """C[c0 + a ca + b] += sum_{k < K} S[s0 + a sa + k sk] V[v0 + k vk + b] for a < M, b < N:
    a small matrix product accumulated onto C, each element's terms added in order of k (the
    order of a plain loop over k), in register blocks (`_tile`) vectorised over b."""
    NB = TILE_VECTORS * (32 // C.itemsize)
    for a0 in range(0, M, TILE_ROWS):
        ma = min(TILE_ROWS, M - a0)
        b0 = 0
        while b0 + NB <= N:
            _tile(C, c0 + a0 * ca + b0, ca, S, s0 + a0 * sa, sa, sk, V, v0 + b0, vk, K, ma, NB)
            b0 += NB
        if b0 < N:
            _tile_masked(C, c0 + a0 * ca + b0, ca, S, s0 + a0 * sa, sa, sk, V, v0 + b0, vk, K, ma, N - b0)


@_jit
def _forward_block(params, sizes, hidden, output, X, rows, B, A, Z, tmp):
    """Forward pass of rows ``X[rows[:B]]``: z_l = a_{l-1} W_l + b_l, a_l = act(z_l).

    Writes every layer's activations into ``A`` and the output logits into ``Z`` (K x B);
    ``tmp`` is scratch of length >= B.
    """
    for i in range(sizes[0]):
        for j in range(B):
            A[i * B + j] = X[rows[j], i]
    L = sizes.shape[0] - 1
    p = 0
    a_in = 0
    for l in range(L):
        fi = sizes[l]
        fo = sizes[l + 1]
        b0 = p + fi * fo
        a_out = a_in + fi * B
        last = l == L - 1
        zs = Z if last else A
        z0 = 0 if last else a_out
        if B == 1:  # one row: z[o] = b[o] + sum_i W[i, o] a[i], summed in order of i, vectorised over o
            for o in range(fo):
                zs[z0 + o] = params[b0 + o]
            for i in range(fi):
                a = A[a_in + i]
                w = params[p + i * fo:p + (i + 1) * fo]
                z = zs[z0:z0 + fo]
                for o in range(fo):
                    z[o] += w[o] * a
        else:
            for o in range(fo):
                bias = params[b0 + o]
                for j in range(B):
                    zs[z0 + o * B + j] = bias
            _gemm_acc(zs, z0, B, params, p, 1, fo, A, a_in, B, fi, fo, B)  # z[o, j] += sum_i W[i, o] a[i, j]
        if last:
            _output(output, Z, A[a_out:a_out + fo * B], fo, B, tmp)
        else:
            _activate(hidden, A[a_out:a_out + fo * B], fo * B)
        p = b0 + fo
        a_in = a_out


@_jit_inline
def _error_term_block(O, Z, T, rows, B, K, loss, output, beta, D):
    """Output error term delta = dL/dz (K x B) from outputs O and logits Z (K x B), targets T[rows].

    CE (softmax, or per-node binary CE on sigmoid) and MSE on identity: o - t.
    MSE sigmoid: (o - t) o (1 - o).  MSE softmax: J^T (o - t), J = diag(o) - o o^T, i.e.
    o_k ((o_k - t_k) - sum_m (o_m - t_m) o_m).  MSE_DIAGONAL: (o_k - t_k) o_k (1 - o_k).
    beta > 0 adds the confidence penalty -beta H(o): beta o_k (log o_k + H) for softmax,
    beta o_k (1 - o_k) z_k per sigmoid node.
    """
    F = D.dtype.type
    beta = F(beta)
    for j in range(B):
        r = rows[j]
        if loss == MSE and output == SOFTMAX:
            s = F(0.0)
            for k in range(K):
                o = O[k * B + j]
                s += (o - T[r, k]) * o
            for k in range(K):
                o = O[k * B + j]
                D[k * B + j] = o * ((o - T[r, k]) - s)
        else:
            for k in range(K):
                o = O[k * B + j]
                e = o - T[r, k]
                if loss != CE and output != IDENTITY:
                    e *= o * (F(1.0) - o)
                D[k * B + j] = e
        if beta != 0.0:
            if output == SOFTMAX:
                h = F(0.0)
                for k in range(K):
                    o = O[k * B + j]
                    if o > 0.0:
                        h -= o * math.log(o)
                for k in range(K):
                    o = O[k * B + j]
                    if o > 0.0:
                        D[k * B + j] += beta * o * (math.log(o) + h)
            else:
                for k in range(K):
                    o = O[k * B + j]
                    D[k * B + j] += beta * o * (F(1.0) - o) * Z[k * B + j]


@_jit
def _loss_block(O, Z, T, rows, B, K, loss, output, out):
    """Per-row loss into out[j].

    CE softmax: sum_k t_k (logsumexp(z) - z_k), as (max z - z_k) + log1p(sum over the other
    classes of exp(z_m - max z)), which keeps its relative accuracy when the loss is small.  CE sigmoid: sum_k softplus(z_k) - t_k z_k.
    MSE: 1/2 sum_k (o_k - t_k)^2.  (The data loss only: no penalty terms.)
    """
    if loss == CE and output == SOFTMAX:  # row by row as written, but with the loops over rows innermost
        top = np.zeros(B, np.int64)
        zmax = Z[:B].copy()
        rest = np.zeros(B)  # sum of exp(z_k - zmax) over k != top, so log(sum) = log1p(rest) exactly
        v = np.zeros(B)
        for k in range(1, K):
            for j in range(B):
                if Z[k * B + j] > zmax[j]:
                    top[j] = k
                    zmax[j] = Z[k * B + j]
        for k in range(K):
            for j in range(B):  # a select, not a branch, so the loop vectorises
                e = _exp(Z[k * B + j] - zmax[j])
                rest[j] = rest[j] + e if k != top[j] else rest[j]
        for j in range(B):
            rest[j] = math.log1p(rest[j])  # logsumexp(z) - zmax
        for k in range(K):
            for j in range(B):
                v[j] += T[rows[j], k] * ((zmax[j] - Z[k * B + j]) + rest[j])
        for j in range(B):
            out[j] = v[j]
        return
    for j in range(B):
        r = rows[j]
        v = 0.0
        if loss == CE:
            for k in range(K):
                z = Z[k * B + j]
                t = T[r, k]
                v += t * _softplus(-z) + (1.0 - t) * _softplus(z)
        else:
            for k in range(K):
                e = O[k * B + j] - T[r, k]
                v += 0.5 * e * e
        out[j] = v


@_jit_inline
def _dot(a, b, m):
    """sum_j a[j] b[j] with eight accumulators (a fixed order, so deterministic; the
    independent chains let LLVM use vector registers)."""
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0.0)
    j = 0
    while j + 8 <= m:
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
        j += 8
    while j < m:
        s0 += a[j] * b[j]
        j += 1
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


# Hyper-parameters of a run, in this order, in the parameters' dtype (`hyper` arrays).
LR, L2, L1, WEIGHT_DECAY, MOMENTUM, NESTEROV, ADAM, BETA1, BETA2, EPS = range(10)
N_HYPER = 10


@_jit_inline
def _adam_constants(hyper, t, F):
    """Adam's constants for step t (1 for the first): (1 - b1, b2, 1 - b2, eps, lr / c1, c2)
    with c1 = 1 - b1^t, c2 = sqrt(1 - b2^t) computed in float64 (as PyTorch does, in Python
    floats) and rounded to the parameters' dtype F. All zeros when the run is not Adam."""
    if hyper[ADAM] == 0.0:
        return (F(0.0), F(0.0), F(0.0), F(0.0), F(0.0), F(0.0))
    b1, b2 = hyper[BETA1], hyper[BETA2]
    c1 = F(1.0 - float(b1) ** float(t))
    return (F(1.0) - b1, b2, F(1.0) - b2, hyper[EPS], hyper[LR] / c1, F(math.sqrt(1.0 - float(b2) ** float(t))))


@_jit_inline
def _updated(w, g, m, v, pen, lr, l2, l1, wd, mom, nesterov, adam):
    """One parameter's step from its mean data gradient g: returns (new w, new m, new v).

    g += pen (l2 w + l1 sign(w))   (pen = 1 where penalties and decay apply, else 0)
    SGD:  m = mom m + g (when mom > 0);  d = g + mom m (Nesterov) or m;  w - lr d - lr wd pen w
    Adam: m += (1 - b1)(g - m);  v = b2 v + (1 - b2) g^2;
          w - lr wd pen w - (lr / c1) m / (sqrt(v) / c2 + eps), with ``adam`` = `_adam_constants`
    (weight decay is decoupled from the gradient: AdamW's with Adam).
    """
    g = g + pen * (l2 * w + l1 * np.sign(w))
    one_b1, b2, one_b2, eps, step_size, c2 = adam
    if step_size != 0.0:
        m = m + one_b1 * (g - m)
        v = b2 * v + one_b2 * g * g
        return w - lr * wd * pen * w - step_size * (m / (np.sqrt(v) / c2 + eps)), m, v
    if mom != 0.0:
        m = mom * m + g
        g = g + mom * m if nesterov else m
    return w - lr * g - lr * wd * pen * w, m, v


@_jit
def _sgd_update(params, new, grad_sum, scale, velocity, penalized, hyper, t):
    """Step ``t`` (1 for the first) from the mean data gradient ``scale * grad_sum``, written
    into ``new`` (``params`` is left as it was); returns whether every new value is finite.
    ``velocity`` (2P): the optimizer's state, m then v (`_updated`); hyper: see N_HYPER."""
    F = params.dtype.type
    P = params.shape[0]
    scale = F(scale)
    adam = _adam_constants(hyper, t, F)
    lr, l2, l1, wd, mom = hyper[LR], hyper[L2], hyper[L1], hyper[WEIGHT_DECAY], hyper[MOMENTUM]
    bad = False
    if hyper[ADAM] != 0.0 or mom != 0.0:
        nesterov = hyper[NESTEROV] != 0.0
        m, v = velocity[:P], velocity[P:]  # slices: indices that cannot be negative vectorise
        for p in range(P):
            new[p], m[p], v[p] = _updated(params[p], scale * grad_sum[p], m[p], v[p], penalized[p], lr, l2, l1, wd,
                                          mom, nesterov, adam)
            bad |= not np.isfinite(new[p])
    else:
        for p in range(P):
            new[p] = _updated(params[p], scale * grad_sum[p], F(0.0), F(0.0), penalized[p], lr, l2, l1, wd, mom,
                              False, adam)[0]
            bad |= not np.isfinite(new[p])
    return not bad


@_jit
def _backward_block(params, sizes, hidden, A, B, D, D2, DT, per_sample, G, g, extra, use_extra):
    """Back-propagate output deltas D (K x B) through the block in A.

    With ``use_extra``, ``extra`` (H x B, H the last hidden layer's width) is added to the
    back-propagated delta of the last hidden layer before its activation slope: the
    hidden-target term lam (a_L - p) of `_hidden_target_block`.

    delta_{l-1} = (delta_l W_l^T) * act'(a_{l-1});  dL/dW_l = a_{l-1}^T delta_l,  dL/db_l = delta_l.
    per_sample: G[j, p] = dL_j/dtheta_p (G is the block's B x P rows).
    Otherwise: g[p] += sum_j dL_j/dtheta_p. For a narrow layer over a long block the weight
    sums are dot products over rows (`_dot`); otherwise they are accumulated as
    g[W_l][i, :] += a[i, j] delta[j, :] from the transposed deltas DT (B x fo, flat), so the
    inner loop runs over output units. Either way the order is fixed by the shapes alone.
    D is overwritten; D2 is scratch of the same size.
    """
    F = params.dtype.type
    L = sizes.shape[0] - 1
    p_end = params.shape[0]
    a_lay = 0
    for l in range(L):
        a_lay += sizes[l] * B  # offset of the output layer's activations
    cur = D
    nxt = D2
    for l in range(L - 1, -1, -1):
        fi = sizes[l]
        fo = sizes[l + 1]
        b0 = p_end - fo
        w0 = b0 - fi * fo
        a_in = a_lay - fi * B
        add = use_extra and l == L - 1
        if l > 0 and B == 1:
            for i in range(fi):
                acc = F(0.0)
                w = params[w0 + i * fo:w0 + (i + 1) * fo]  # slices: indices that cannot be negative vectorise
                for o in range(fo):
                    acc += w[o] * cur[o]
                if add:
                    acc += extra[i]
                nxt[i] = acc * _activation_slope(hidden, A[a_in + i])
        elif l > 0:
            for q in range(fi * B):
                nxt[q] = 0.0
            _gemm_acc(nxt, 0, B, params, w0, fo, 1, cur, 0, B, fo, fi, B)  # sum_o W[i, o] delta[o, j]
            for i in range(fi):
                nx = nxt[i * B:(i + 1) * B]
                a = A[a_in + i * B:a_in + (i + 1) * B]
                if add:
                    for j in range(B):
                        nx[j] += extra[i * B + j]
                for j in range(B):
                    nx[j] *= _activation_slope(hidden, a[j])
        if per_sample and fo < NARROW:  # narrow layer: G written column by column
            for o in range(fo):
                d = cur[o * B:(o + 1) * B]
                col = G[:, b0 + o]
                for j in range(B):
                    col[j] = d[j]
                for i in range(fi):
                    a = A[a_in + i * B:a_in + (i + 1) * B]
                    col = G[:, w0 + i * fo + o]
                    for j in range(B):
                        col[j] = a[j] * d[j]
        elif per_sample:  # rows of G written whole, from the transposed deltas
            for o in range(fo):
                d = cur[o * B:(o + 1) * B]
                for j in range(B):
                    DT[j * fo + o] = d[j]
            for j in range(B):
                dt = DT[j * fo:(j + 1) * fo]
                gb = G[j, b0:b0 + fo]
                for o in range(fo):
                    gb[o] = dt[o]
                for i in range(fi):
                    a = A[a_in + i * B + j]
                    gw = G[j, w0 + i * fo:w0 + (i + 1) * fo]
                    for o in range(fo):
                        gw[o] = a * dt[o]
        elif B == 1:
            gb = g[b0:b0 + fo]
            for o in range(fo):
                gb[o] += cur[o]
            for i in range(fi):
                a = A[a_in + i]
                gw = g[w0 + i * fo:w0 + (i + 1) * fo]
                for o in range(fo):
                    gw[o] += a * cur[o]
        elif fo < NARROW and B >= 2 * NARROW:
            for o in range(fo):
                d = cur[o * B:(o + 1) * B]
                s = F(0.0)
                for j in range(B):
                    s += d[j]
                g[b0 + o] += s
                for i in range(fi):
                    g[w0 + i * fo + o] += _dot(A[a_in + i * B:a_in + (i + 1) * B], d, B)
        else:
            for o in range(fo):
                d = cur[o * B:(o + 1) * B]
                s = F(0.0)
                for j in range(B):
                    s += d[j]
                    DT[j * fo + o] = d[j]
                g[b0 + o] += s
            _gemm_acc(g, w0, fo, A, a_in, B, 1, DT, 0, fo, B, fi, fo)  # g[i, o] += sum_j a[i, j] delta[j, o]
        if l > 0:
            cur, nxt = nxt, cur
        p_end = w0
        a_lay = a_in


# ---------------------------------------------------------------- whole-data drivers


@_jit
def value_summary(x, row_len):
    """(number of non-finite values, min, max, max over rows of |row sum - 1|) of a flat
    array read as rows of ``row_len``; one pass, for the Python layer's checks."""
    bad = 0
    lo = np.inf
    hi = -np.inf
    worst = 0.0
    for r in range(x.shape[0] // row_len):
        s = 0.0
        for k in range(row_len):
            v = x[r * row_len + k]
            if not np.isfinite(v):
                bad += 1
            lo = min(lo, v)
            hi = max(hi, v)
            s += v
        worst = max(worst, abs(s - 1.0))
    return bad, lo, hi, worst


@_jit
def _workspace(sizes, B, like):
    """Buffers for blocks of up to B rows: activations A, logits Z, deltas D and D2 and
    their transpose DT, row scratch tmp, and row indices rows."""
    A = np.empty(sizes.sum() * B, like.dtype)
    width = sizes[1:].max()
    Z = np.empty(sizes[-1] * B, like.dtype)
    return (A, Z, np.empty(width * B, like.dtype), np.empty(width * B, like.dtype),
            np.empty(width * B, like.dtype), np.empty(B, like.dtype), np.empty(B, np.int64))


@_jit
def _output_offset(sizes, B):
    """Offset of the output layer inside a block's activations A."""
    return (sizes.sum() - sizes[-1]) * B


@_jit_inline
def _forward_rows(params, sizes, hidden, output, X, start, B, A, Z, tmp, rows):
    """Forward pass of rows start .. start + B - 1 of X; returns the output layer's offset in A."""
    for j in range(B):
        rows[j] = start + j
    _forward_block(params, sizes, hidden, output, X, rows, B, A, Z, tmp)
    return _output_offset(sizes, B)


@_jit
def forward_all(params, sizes, hidden, output, X, Z, O):
    """Row-major logits Z and outputs O (n x K) for every row of X."""
    n = X.shape[0]
    K = sizes[-1]
    Bmax = min(n, ROW_BLOCK)
    A, Zb, _, _, _, tmp, rows = _workspace(sizes, Bmax, params)
    for start in range(0, n, Bmax):
        B = min(Bmax, n - start)
        ob = _forward_rows(params, sizes, hidden, output, X, start, B, A, Zb, tmp, rows)
        for j in range(B):
            for k in range(K):
                Z[start + j, k] = Zb[k * B + j]
                O[start + j, k] = A[ob + k * B + j]


@_jit
def error_terms(Zt, T, loss, output, D):
    """Row-major delta (n x K) from feature-major logits Zt (K*n) and targets T (n x K)."""
    n, K = T.shape
    O = np.empty_like(Zt)
    _output(output, Zt, O, K, n, np.empty(n, Zt.dtype))
    Dt = np.empty_like(Zt)
    _error_term_block(O, Zt, T, np.arange(n), n, K, loss, output, 0.0, Dt)
    for j in range(n):
        for k in range(K):
            D[j, k] = Dt[k * n + j]


@_jit
def logit_losses(Zt, T, loss, output, out):
    """out[n] = L(z_n, t_n) from feature-major logits Zt (K*n) and targets T (n x K)."""
    n, K = T.shape
    O = np.empty_like(Zt)
    _output(output, Zt, O, K, n, np.empty(n, Zt.dtype))
    _loss_block(O, Zt, T, np.arange(n), n, K, loss, output, out)


@_jit
def sample_losses(params, sizes, hidden, output, loss, X, T, out):
    """out[n] = L(x_n, t_n) for every row."""
    n = X.shape[0]
    K = sizes[-1]
    Bmax = min(n, ROW_BLOCK)
    A, Zb, _, _, _, tmp, rows = _workspace(sizes, Bmax, params)
    for start in range(0, n, Bmax):
        B = min(Bmax, n - start)
        ob = _forward_rows(params, sizes, hidden, output, X, start, B, A, Zb, tmp, rows)
        _loss_block(A[ob:ob + K * B], Zb, T, rows, B, K, loss, output, out[start:start + B])


@_jit
def gradients(params, sizes, hidden, output, loss, X, T, per_sample, G, g):
    """Per-sample gradients into G (n x P), or their mean into g (P,), which must be zeroed."""
    n = X.shape[0]
    K = sizes[-1]
    Bmax = min(n, ROW_BLOCK)
    A, Zb, D, D2, DT, tmp, rows = _workspace(sizes, Bmax, params)
    for start in range(0, n, Bmax):
        B = min(Bmax, n - start)
        ob = _forward_rows(params, sizes, hidden, output, X, start, B, A, Zb, tmp, rows)
        _error_term_block(A[ob:ob + K * B], Zb, T, rows, B, K, loss, output, 0.0, D)
        Gb = G[start:start + B] if per_sample else G
        _backward_block(params, sizes, hidden, A, B, D, D2, DT, per_sample, Gb, g, tmp, np.bool_(False))
    if not per_sample:
        for p in range(g.shape[0]):
            g[p] /= n
