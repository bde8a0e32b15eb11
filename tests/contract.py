"""The stage contract, shared by every stage's tests.

A stage must give bit-identical output whether a signal is fed in one block
or in chunks of any size (one sample included), and ``reset()`` must replay
exactly, seeded noise included. Equality is exact (``np.array_equal``): the
design promises bit-identical streaming, so no tolerance is allowed.
"""

from __future__ import annotations

import numpy as np

from acquire.stage import Chunk


def split_points(n_samples: int, rng: np.random.Generator, mode: str) -> list[int]:
    """Chunk boundaries for a feed mode: 'ones', 'random' or a fixed 'size:K'."""
    if mode == "ones":
        return list(range(1, n_samples))
    if mode.startswith("size:"):
        k = int(mode.split(":")[1])
        return list(range(k, n_samples, k))
    n_cuts = int(rng.integers(1, max(2, n_samples // 3)))
    return sorted(set(rng.integers(1, n_samples, size=n_cuts).tolist()))


def slice_chunk(chunk: Chunk, a: int, b: int) -> Chunk:
    """Samples ``a:b`` of ``chunk`` with the absolute start index advanced."""
    return Chunk(
        diff_v=chunk.diff_v[:, a:b],
        cm_v=None if chunk.cm_v is None else chunk.cm_v[a:b],
        cm_dvdt_v_per_s=None if chunk.cm_dvdt_v_per_s is None else chunk.cm_dvdt_v_per_s[a:b],
        start_sample=chunk.start_sample + a,
    )


def run_chunked(stage, chunk: Chunk, cuts: list[int]) -> Chunk:
    """Feed ``chunk`` to ``stage`` split at ``cuts``; concatenate the outputs."""
    bounds = [0, *cuts, chunk.n_samples]
    outs = [stage.process(slice_chunk(chunk, a, b)) for a, b in zip(bounds, bounds[1:])]
    return concat(outs)


def concat(outs: list[Chunk]) -> Chunk:
    """Concatenate output chunks along time."""
    def cat(name):
        parts = [getattr(o, name) for o in outs]
        return None if parts[0] is None else np.concatenate(parts, axis=-1)

    return Chunk(diff_v=cat("diff_v"), cm_v=cat("cm_v"), cm_dvdt_v_per_s=cat("cm_dvdt_v_per_s"),
                 start_sample=outs[0].start_sample)


def assert_same(a: Chunk, b: Chunk) -> None:
    """Exact equality of every field of two chunks."""
    assert a.diff_v.shape == b.diff_v.shape
    assert np.array_equal(a.diff_v, b.diff_v), np.max(np.abs(a.diff_v - b.diff_v))
    for name in ("cm_v", "cm_dvdt_v_per_s"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert np.array_equal(x, y), name


def check_stage_contract(make_stage, chunk: Chunk, seed: int = 0,
                         modes=("ones", "random", "size:7", "size:1000")) -> None:
    """Assert chunk invariance and exact reset replay for a stage.

    Parameters
    ----------
    make_stage : callable
        Returns a fresh stage.
    chunk : Chunk
        Input to feed.
    """
    rng = np.random.default_rng(seed)
    stage = make_stage()
    block = stage.process(chunk)
    for mode in modes:
        if mode == "ones" and chunk.n_samples > 3000:
            continue
        stage.reset()
        assert_same(run_chunked(stage, chunk, split_points(chunk.n_samples, rng, mode)), block)
    stage.reset()
    assert_same(stage.process(chunk), block)
    fresh = make_stage()
    assert_same(fresh.process(chunk), block)
