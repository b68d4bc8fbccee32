"""The PCG64 kernels (`gradlab._kernels.rng`) against numpy itself, bit for bit: raw 64- and
32-bit draws against the bit generator's own C functions (``PCG64.ctypes``), random_interval
against legacy ``RandomState(PCG64).randint`` (the same masked rejection on the same next_uint32 /
next_uint64), permutations against ``Generator.permutation`` / ``permuted``, and the state left
behind against numpy's state after the same draws."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gradlab._kernels.rng import (_pcg64_next32, _pcg64_next64, _random_interval, pcg64_dict, pcg64_state,
                                  permutation, permutations, shuffle)

seeds = st.integers(0, 2**63)


def tiles(n, epochs):
    return np.tile(np.arange(n), (epochs, 1))


@given(seeds)
def test_state_round_trips_through_numpy(seed):
    bg = np.random.PCG64(seed)
    s = pcg64_state(seed)
    assert s.dtype == np.uint64 and s.shape == (6,)
    assert pcg64_dict(s) == bg.state
    assert np.array_equal(pcg64_state(np.random.default_rng(seed)), s)
    assert np.array_equal(pcg64_state(bg), s) and np.array_equal(pcg64_state(bg.state), s)


@pytest.mark.parametrize("bitgen", [np.random.MT19937, np.random.PCG64DXSM, np.random.Philox])
def test_state_refuses_other_bit_generators(bitgen):
    with pytest.raises(ValueError, match="PCG64"):
        pcg64_state(np.random.Generator(bitgen(0)))


@given(seeds, st.lists(st.booleans(), min_size=1, max_size=200))
def test_next64_and_next32_follow_numpys_bit_generator(seed, wide):
    """Any mix of 64- and 32-bit draws, against numpy's next_uint64 / next_uint32 (a 64-bit draw
    leaves a buffered half word in place)."""
    bg = np.random.PCG64(seed)
    c = bg.ctypes
    s = pcg64_state(seed)
    for w in wide:
        if w:
            assert _pcg64_next64(s) == c.next_uint64(c.state)
        else:
            assert _pcg64_next32(s) == c.next_uint32(c.state)
    assert pcg64_dict(s) == bg.state


@given(seeds)
def test_next64_is_random_raw(seed):
    s = pcg64_state(seed)
    got = np.array([_pcg64_next64(s) for _ in range(300)], np.uint64)
    rng = np.random.default_rng(seed)
    assert np.array_equal(got, rng.bit_generator.random_raw(300))
    assert pcg64_dict(s) == rng.bit_generator.state


maxima = st.one_of(st.integers(0, 300), st.integers(0, 2**64 - 1),
                   st.sampled_from([1, 2**32 - 2, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1]))


@given(seeds, st.lists(maxima, min_size=1, max_size=60))
def test_random_interval_is_numpys_masked_rejection(seed, maxes):
    """random_interval(m) = RandomState(PCG64).randint(0, m + 1, dtype=uint64) (masked rejection:
    32-bit draws up to m = 2^32 - 1, 64-bit above), draw for draw."""
    legacy = np.random.RandomState(np.random.PCG64(seed))
    s = pcg64_state(seed)
    for m in maxes:
        assert _random_interval(s, np.uint64(m)) == legacy.randint(0, m + 1, dtype=np.uint64), m
    assert pcg64_dict(s) == legacy._bit_generator.state


@given(seeds, st.integers(1, 300), st.integers(1, 5))
def test_permutations_are_numpys_permuted_tiles(seed, n, epochs):
    rng = np.random.default_rng(seed)
    s = pcg64_state(seed)
    out = np.full((epochs, n), -1, np.int64)
    permutations(s, out)
    assert np.array_equal(out, rng.permuted(tiles(n, epochs), axis=1))
    assert pcg64_dict(s) == rng.bit_generator.state


@given(seeds, st.integers(1, 300), st.lists(st.integers(1, 5), min_size=2, max_size=4))
def test_stream_continues_across_calls(seed, n, chunks):
    """Epochs drawn chunk by chunk, the state carried between calls, give numpy's one-call tiles."""
    s = pcg64_state(seed)
    got = []
    for epochs in chunks:
        out = np.empty((epochs, n), np.int64)
        permutations(s, out)
        got.append(out)
    rng = np.random.default_rng(seed)
    assert np.array_equal(np.concatenate(got), rng.permuted(tiles(n, sum(chunks)), axis=1))
    assert pcg64_dict(s) == rng.bit_generator.state


@given(seeds, st.integers(0, 40), st.integers(1, 300))
def test_permutation_after_numpy_draws(seed, before, n):
    """State captured from a Generator part-way (often with a buffered half word) continues it."""
    rng = np.random.default_rng(seed)
    rng.permutation(before)
    s = pcg64_state(rng)
    out = np.empty(n, np.int64)
    permutation(s, out)
    assert np.array_equal(out, rng.permutation(n))
    assert pcg64_dict(s) == rng.bit_generator.state


@given(seeds, st.integers(0, 300))
def test_shuffle_is_generator_shuffle(seed, n):
    x = np.random.default_rng(seed + 1).standard_normal(n)
    want = x.copy()
    rng = np.random.default_rng(seed)
    rng.shuffle(want)
    s = pcg64_state(seed)
    shuffle(s, x)
    assert np.array_equal(x, want)
    assert pcg64_dict(s) == rng.bit_generator.state


def test_rows_of_a_runs_state_array_update_in_place():
    """Per-run states as rows of one (R, 6) array: each row advances as its own generator."""
    seeds_ = [0, 1, 2**63]
    states = np.stack([pcg64_state(x) for x in seeds_])
    out = np.empty((3, 17), np.int64)
    for r in range(3):
        permutations(states[r], out[r:r + 1])
    for r, x in enumerate(seeds_):
        rng = np.random.default_rng(x)
        assert np.array_equal(out[r], rng.permutation(17))
        assert pcg64_dict(states[r]) == rng.bit_generator.state
