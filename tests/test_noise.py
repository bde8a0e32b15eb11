"""Tests for chunk-invariant block noise."""

import numpy as np

from acquire.noise import BlockNoise


def test_draws_depend_on_absolute_index_only():
    a = BlockNoise(seed=3, stream=1, n_channels=2, block_size=100)
    whole = a.normal(0, 1000)
    b = BlockNoise(seed=3, stream=1, n_channels=2, block_size=100)
    cuts = [0, 1, 7, 99, 100, 101, 350, 999, 1000]
    parts = np.concatenate([b.normal(x, y) for x, y in zip(cuts, cuts[1:])], axis=1)
    assert np.array_equal(whole, parts)
    # Oracle: block 2 is exactly default_rng([seed, stream, 2]).
    ref = np.random.default_rng([3, 1, 2]).standard_normal((2, 100))
    assert np.array_equal(whole[:, 200:300], ref)


def test_streams_are_independent_and_statistics_normal():
    x = BlockNoise(0, 1, 1).normal(0, 200_000)[0]
    y = BlockNoise(0, 2, 1).normal(0, 200_000)[0]
    # 200k draws: std error of the std is 1/sqrt(2n) = 0.0016 and of the correlation 1/sqrt(n) = 0.0022.
    assert abs(x.std() - 1) < 0.01
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.01


def test_other_bit_generator():
    # Oracle: Generator(SFC64(SeedSequence([seed, stream, block]))) for block 1.
    x = BlockNoise(5, 3, 1, block_size=50, bit_generator=np.random.SFC64).normal(50, 100)
    ref = np.random.Generator(np.random.SFC64(np.random.SeedSequence([5, 3, 1]))).standard_normal((1, 50))
    assert np.array_equal(x, ref)


def test_fast_noise_raw_stream_is_numpy_sfc64_and_draws_are_chunk_invariant():
    from numba import njit

    from acquire.noise import FastBlockNoise, _sfc64

    @njit
    def raw(state, n):
        out = np.empty(n, dtype=np.uint64)
        a, b, c, cnt = state[0], state[1], state[2], state[3]
        for i in range(n):
            out[i], a, b, c, cnt = _sfc64(a, b, c, cnt)
        return out

    # Oracle: numpy's SFC64 raw output from the same seed sequence.
    seq = np.random.SeedSequence([5, 3, 1])
    state = np.random.SFC64(seq).state["state"]["state"].astype(np.uint64)
    assert np.array_equal(raw(state, 1000), np.random.SFC64(seq).random_raw(1000))
    whole = FastBlockNoise(3, 1, 2, block_size=100).normal(0, 1000)
    b = FastBlockNoise(3, 1, 2, block_size=100)
    cuts = [0, 1, 7, 99, 100, 101, 350, 999, 1000]
    assert np.array_equal(whole, np.concatenate([b.normal(x, y) for x, y in zip(cuts, cuts[1:])], axis=1))
    b.reset()
    assert np.array_equal(b.normal(0, 1000), whole)


def test_fast_noise_is_standard_normal():
    from scipy import stats

    from acquire.noise import FastBlockNoise

    x = FastBlockNoise(7, 3, 1, block_size=1 << 20).normal(0, 1 << 22)[0]
    # 1000 equiprobable bins of N(0, 1): chi-square with 999 degrees of freedom (mean 999, sd 45).
    counts = np.bincount(np.searchsorted(stats.norm.ppf(np.linspace(0, 1, 1001)[1:-1]), x), minlength=1000)
    expected = x.size / 1000
    assert np.sum((counts - expected) ** 2 / expected) < 999 + 4 * 45
    # The tail beyond the base layer (r = 3.654, drawn by its own rejection loop): 1083 expected, sd 33.
    assert abs(np.count_nonzero(np.abs(x) > 3.6541528853610088) / (x.size * 2 * stats.norm.sf(3.6541528853610088))
               - 1) < 4 * 33 / 1083
    assert abs(x.mean()) < 4 / np.sqrt(x.size) and abs(x.std() - 1) < 4 / np.sqrt(2 * x.size)
