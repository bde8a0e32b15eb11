"""The stage contract, shared by every stage's tests.

A stage must give bit-identical output whether a signal is fed in one block
or in chunks of any size (one sample included), and ``reset()`` must replay
exactly, seeded noise included; a primed stage (``prime(dc)``, a steady
start) too, ``reset()`` replaying the primed run. Equality is exact
(``np.array_equal``): the design promises bit-identical streaming, so no
tolerance is allowed. :func:`check_steady_start` checks what priming sets:
the steady state a long unprimed run reaches.
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
                         modes=("ones", "random", "size:7", "size:1000"), dc_in_v=None) -> None:
    """Assert chunk invariance and exact reset replay for a stage.

    Parameters
    ----------
    make_stage : callable
        Returns a fresh stage.
    chunk : Chunk
        Input to feed.
    dc_in_v : array_like, shape (n_channels,), optional
        Prime every stage with it right after construction: the contract
        must hold from the primed state, and ``reset()`` must return to it.
    """
    if dc_in_v is not None:
        make_stage = primed(make_stage, dc_in_v)
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


def primed(make_stage, dc_in_v):
    """A factory of stages primed with ``dc_in_v`` right after ``make_stage()``."""
    def make():
        stage = make_stage()
        stage.prime(np.asarray(dc_in_v, dtype=float))
        return stage

    return make


def constant(dc_in_v, n_samples: int) -> Chunk:
    """A chunk holding ``dc_in_v`` (one value per channel) for ``n_samples`` samples."""
    return Chunk(np.repeat(np.asarray(dc_in_v, dtype=float)[:, None], n_samples, axis=1))


def check_steady_start(make_stage, dc_in_v, n_settle: int, n_check: int = 256, *,
                       settle_rtol: float = 1e-11, steady_output: bool = True) -> np.ndarray:
    """A primed stage fed its constant input is in steady state from its first sample.

    Parameters
    ----------
    make_stage : callable
        Returns a fresh (unprimed) stage.
    dc_in_v : array_like, shape (n_channels,)
        The constant input.
    n_settle : int
        Samples after which an unprimed stage fed the constant has settled
        to ``settle_rtol``; a resampler's down factor must divide it, so that
        its output phase is the same after ``n_settle`` inputs as at 0.
    n_check : int
        Samples compared.
    settle_rtol : float
        Tolerance of the comparison with the settled run, relative to the
        largest dc in or out: its remaining transient plus the rounding its
        long run accumulates.
    steady_output : bool
        The steady output is constant (every stage but an interpolating
        resampler, whose dc carries its images): it must then equal what
        ``prime`` returned, to 1e-12 of the largest dc (the same
        arithmetic on a state that is a fixed point, so only rounding).

    Returns
    -------
    ndarray
        The dc output ``prime`` returned.

    Notes
    -----
    The oracle is the steady state itself, not the priming formula: an
    unprimed stage fed the constant for ``n_settle`` samples, whose output
    over the next ``n_check`` is what the primed one must give at once.
    """
    stage = make_stage()
    dc_out = np.asarray(stage.prime(np.asarray(dc_in_v, dtype=float)))
    y = stage.process(constant(dc_in_v, n_check)).diff_v
    cold = make_stage().process(constant(dc_in_v, n_settle + n_check)).diff_v[:, -y.shape[1]:]
    scale = max(np.max(np.abs(dc_in_v)), np.max(np.abs(dc_out)))
    np.testing.assert_allclose(y, cold, rtol=0, atol=settle_rtol * scale)
    if steady_output:
        np.testing.assert_allclose(y, np.repeat(dc_out[:, None], y.shape[1], axis=1), rtol=0,
                                   atol=1e-12 * scale)
    return dc_out
