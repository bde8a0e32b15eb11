"""Chunk-invariant seeded noise: draws keyed on the absolute sample index.

Sample ``k`` of every channel comes from block ``k // block_size``, drawn
by ``Generator(bit_generator(SeedSequence([seed, stream, block])))`` (with
the default PCG64 that is ``numpy.random.default_rng([seed, stream,
block])``). The values depend
on the absolute index only, never on how the signal was chunked, and a
fresh object (or ``reset()``) replays them exactly.
"""

from __future__ import annotations

import numpy as np

#: Samples per independently seeded block: large enough that drawing a block
#: costs little per sample, small enough to keep memory bounded.
NOISE_BLOCK = 65536


class BlockNoise:
    """Standard normal draws for absolute sample indices.

    Parameters
    ----------
    seed : int
        Seed of the run.
    stream : int
        Identifies the noise source (each stage and source uses its own), so
        that two sources with the same seed are independent.
    n_channels : int
        Rows drawn per sample.
    block_size : int
        Samples per seeded block.
    bit_generator : numpy BitGenerator class
        PCG64 (numpy's default) or a faster one such as SFC64.
    """

    def __init__(self, seed: int, stream: int, n_channels: int, block_size: int = NOISE_BLOCK,
                 bit_generator=np.random.PCG64):
        self.seed, self.stream = int(seed), int(stream)
        self.n_channels, self.block_size = int(n_channels), int(block_size)
        self.bit_generator = bit_generator
        self.reset()

    def reset(self) -> None:
        """Forget the cached block (the draws themselves never change)."""
        self.block_ = None
        self.draws_ = None

    def normal(self, k0: int, k1: int, out: np.ndarray | None = None) -> np.ndarray:
        """Draws for samples ``k0 <= k < k1``, shape (n_channels, k1 - k0), into ``out`` if given."""
        out = np.empty((self.n_channels, k1 - k0)) if out is None else out
        k, size = k0, self.block_size
        while k < k1:
            b = k // size
            if self.block_ != b:
                seq = np.random.SeedSequence([self.seed, self.stream, b])
                rng = np.random.Generator(self.bit_generator(seq))
                self.block_, self.draws_ = b, rng.standard_normal((self.n_channels, size))
            stop = min(k1, (b + 1) * size)
            out[:, k - k0:stop - k0] = self.draws_[:, k - b * size:stop - b * size]
            k = stop
        return out
