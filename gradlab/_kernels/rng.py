"""numpy's ``default_rng(seed)`` permutation stream (PCG64 + Generator.shuffle), bit for bit.

A kernel can draw each epoch's row order itself: ``permutation(s, order)`` gives what
``rng.permutation(n)`` gives, and successive calls give the rows of
``rng.permuted(np.tile(np.arange(n), (E, 1)), axis=1)``. The state array is updated in place,
so the stream continues across calls and can be handed back to numpy (`pcg64_dict`).

State layout
------------
s : uint64[6] = (state_hi, state_lo, inc_hi, inc_lo, has_uint32, uinteger), the 128-bit LCG
    state and increment as 64-bit halves, then numpy's buffered half word: ``has_uint32`` is
    0 or 1 and ``uinteger`` the buffered high 32 bits. Many runs: a C-contiguous (R, 6) array,
    ``s[r]`` one run's state.

Algorithm (numpy/random/src/pcg64/pcg64.h, distributions.c, _generator.pyx)
-------------------------------------------------------------------------
next64   : state = state * M + inc (mod 2^128), M = 0x2360ED051FC65DA44385DF649FCCF645;
           then (step first) out = rotr64(hi ^ lo, hi >> 58).
next32   : the buffered half word if there is one, else the low 32 bits of next64, keeping
           the high 32 bits for the next call.
interval : random_interval(max): mask = smallest 2^k - 1 >= max; draw (next32 if
           max <= 2^32 - 1 else next64) & mask until <= max; max == 0 draws nothing.
shuffle  : for i = n-1 .. 1: j = interval(i); swap(x[i], x[j]).
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .blocks import _jit, _jit_inline

_M_HI = np.uint64(0x2360ED051FC65DA4)
_M_LO = np.uint64(0x4385DF649FCCF645)
_LO32 = np.uint64(0xFFFFFFFF)
_0 = np.uint64(0)
_1 = np.uint64(1)
_32 = np.uint64(32)
_58 = np.uint64(58)
_63 = np.uint64(63)
_64 = np.uint64(64)
_MASK64 = (1 << 64) - 1


def pcg64_state(seed):
    """The state array (uint64[6]) of ``np.random.default_rng(seed)``.

    ``seed``: an int (or anything ``default_rng`` takes), a PCG64 Generator or bit generator
    (its current state, e.g. after some draws), or a PCG64 state dict.
    """
    if isinstance(seed, dict):
        st = seed
    elif isinstance(seed, np.random.Generator):
        st = seed.bit_generator.state
    elif isinstance(seed, np.random.BitGenerator):
        st = seed.state
    else:
        st = np.random.PCG64(seed).state
    if st.get("bit_generator") != "PCG64":
        raise ValueError(f"need a PCG64 generator or state; got {st.get('bit_generator')!r}")
    state, inc = int(st["state"]["state"]), int(st["state"]["inc"])
    return np.array([state >> 64, state & _MASK64, inc >> 64, inc & _MASK64,
                     int(st["has_uint32"]), int(st["uinteger"])], np.uint64)


def pcg64_dict(s):
    """numpy's PCG64 state dict for the state array ``s``, for ``bit_generator.state = ...``."""
    s = [int(v) for v in s]
    return {"bit_generator": "PCG64", "state": {"state": s[0] << 64 | s[1], "inc": s[2] << 64 | s[3]},
            "has_uint32": s[4], "uinteger": s[5]}


@intrinsic
def _mulhi(typingctx, x, y):
    """High 64 bits of the 128-bit product x * y of two uint64 (one widening multiply)."""
    def codegen(context, builder, signature, args):
        i128 = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], i128), builder.zext(args[1], i128))
        return builder.trunc(builder.lshr(product, ir.Constant(i128, 64)), ir.IntType(64))
    return types.uint64(types.uint64, types.uint64), codegen


@_jit_inline
def _next64(hi, lo, inc_hi, inc_lo):
    """One PCG64 draw on the state held in scalars: returns (output, hi, lo) after the step."""
    new_lo = lo * _M_LO + inc_lo
    carry = _1 if new_lo < inc_lo else _0
    hi = _mulhi(lo, _M_LO) + hi * _M_LO + lo * _M_HI + inc_hi + carry
    x = hi ^ new_lo
    r = hi >> _58
    return (x >> r) | (x << ((_64 - r) & _63)), hi, new_lo


@_jit_inline
def _next32(hi, lo, inc_hi, inc_lo, has, buf):
    """numpy's buffered next_uint32 on scalars: returns (value, hi, lo, has, buf)."""
    if has != _0:
        return buf, hi, lo, _0, buf
    x, hi, lo = _next64(hi, lo, inc_hi, inc_lo)
    return x & _LO32, hi, lo, _1, x >> _32


@_jit_inline
def _interval(mx, hi, lo, inc_hi, inc_lo, has, buf):
    """numpy's random_interval(mx) on scalars: returns (value in [0, mx], hi, lo, has, buf)."""
    if mx == _0:
        return _0, hi, lo, has, buf
    mask = mx
    mask |= mask >> np.uint64(1)
    mask |= mask >> np.uint64(2)
    mask |= mask >> np.uint64(4)
    mask |= mask >> np.uint64(8)
    mask |= mask >> np.uint64(16)
    mask |= mask >> _32
    if mx <= _LO32:
        while True:
            v, hi, lo, has, buf = _next32(hi, lo, inc_hi, inc_lo, has, buf)
            v &= mask
            if v <= mx:
                return v, hi, lo, has, buf
    while True:
        v, hi, lo = _next64(hi, lo, inc_hi, inc_lo)
        v &= mask
        if v <= mx:
            return v, hi, lo, has, buf


@_jit_inline
def _pcg64_next64(s):
    """next_uint64 of state ``s`` (updated in place)."""
    x, s[0], s[1] = _next64(s[0], s[1], s[2], s[3])
    return x


@_jit_inline
def _pcg64_next32(s):
    """next_uint32 of state ``s`` (updated in place), as uint64."""
    x, s[0], s[1], s[4], s[5] = _next32(s[0], s[1], s[2], s[3], s[4], s[5])
    return x


@_jit_inline
def _random_interval(s, mx):
    """random_interval(mx) of state ``s`` (updated in place): uniform in [0, mx], as uint64."""
    x, s[0], s[1], s[4], s[5] = _interval(np.uint64(mx), s[0], s[1], s[2], s[3], s[4], s[5])
    return x


@_jit_inline
def shuffle(s, x):
    """Shuffle the 1-D array ``x`` in place as ``Generator.shuffle(x)``; ``s`` updated in place."""
    # the state lives in locals through the loop: s may alias x for all LLVM knows
    hi, lo, inc_hi, inc_lo, has, buf = s[0], s[1], s[2], s[3], s[4], s[5]
    for i in range(x.shape[0] - 1, 0, -1):
        j, hi, lo, has, buf = _interval(np.uint64(i), hi, lo, inc_hi, inc_lo, has, buf)
        t = x[i]
        x[i] = x[j]
        x[j] = t
    s[0], s[1], s[4], s[5] = hi, lo, has, buf


@_jit_inline
def permutation(s, out):
    """Fill the 1-D ``out`` with ``rng.permutation(len(out))``; ``s`` updated in place."""
    for i in range(out.shape[0]):
        out[i] = i
    shuffle(s, out)


@_jit
def permutations(s, out):
    """Fill each row of the 2-D ``out`` (E, n) with a permutation of range(n), as
    ``rng.permuted(np.tile(np.arange(n), (E, 1)), axis=1)``; ``s`` updated in place."""
    for e in range(out.shape[0]):
        permutation(s, out[e])
