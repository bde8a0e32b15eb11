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
