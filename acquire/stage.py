"""The streaming stage protocol, the chunk that flows between stages, and the chain.

Every box of the signal path is a stage: it takes a :class:`Chunk`, keeps its
own state, and returns a chunk. Running a record in one block or in chunks of
any size (one sample included) gives bit-identical output, and ``reset()``
restores the initial state exactly, seeded noise included. A :class:`Chain`
of stages is itself a stage.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Chunk:
    """A block of samples flowing through the signal path.

    Parameters
    ----------
    diff_v : ndarray, shape (n_channels, n_samples)
        Differential (lead) voltage, volts. After the amplifier it holds the
        amplifier or ADC output in volts.
    cm_v : ndarray, shape (n_samples,), optional
        Body common-mode voltage at the amplifier inputs, volts; shared by all
        leads. Consumed (set to None) by the instrumentation amplifier.
    cm_dvdt_v_per_s : ndarray, shape (n_samples,), optional
        Exact time derivative of ``cm_v``, volts per second. The interference
        stages generate the common mode analytically, so the amplifier can
        apply a CMRR that falls at 20 dB/decade without discretisation error.
    start_sample : int
        Absolute index (at this chunk's rate) of the first sample. Stages that
        synthesise signals take their phase from it, so chunking cannot
        change what they produce.
    cm_quad_v, cm_quad_dvdt_v_per_s : ndarray, shape (n_samples,), optional
        The quadrature partner of ``cm_v`` (its Hilbert transform: every
        harmonic delayed by 90 degrees) and its exact derivative, generated
        analytically with ``cm_v``. The amplifier uses them to apply a
        common-mode gain of any phase (``cmrr_phase_rad``).
    """

    diff_v: np.ndarray
    cm_v: np.ndarray | None = None
    cm_dvdt_v_per_s: np.ndarray | None = None
    start_sample: int = 0
    cm_quad_v: np.ndarray | None = None
    cm_quad_dvdt_v_per_s: np.ndarray | None = None

    def with_diff(self, diff_v: np.ndarray) -> "Chunk":
        """This chunk with ``diff_v`` replaced; the common-mode fields pass unchanged."""
        return dataclasses.replace(self, diff_v=diff_v)

    def common_mode(self) -> tuple:
        """``(cm_v, cm_dvdt_v_per_s, cm_quad_v, cm_quad_dvdt_v_per_s)``."""
        return self.cm_v, self.cm_dvdt_v_per_s, self.cm_quad_v, self.cm_quad_dvdt_v_per_s

    @property
    def n_samples(self) -> int:
        """Number of samples in the chunk."""
        return self.diff_v.shape[-1]

    @property
    def n_channels(self) -> int:
        """Number of channels (leads) in the chunk."""
        return self.diff_v.shape[0]


@runtime_checkable
class Stage(Protocol):
    """What every streaming stage provides.

    Attributes
    ----------
    fs_in_hz, fs_out_hz : float
        Sampling rates of the input and output chunks.

    Notes
    -----
    Stages that count events (clipped or saturated samples) keep the counts
    in trailing-underscore attributes such as ``n_clipped_``, zeroed by
    ``reset()``. Linear digital stages also expose ``group_delay_s`` and
    ``settling_time_s``.
    """

    fs_in_hz: float
    fs_out_hz: float

    def process(self, chunk: Chunk) -> Chunk:
        """Consume one chunk and return the corresponding output chunk."""

    def reset(self) -> None:
        """Restore the state the stage had when constructed."""


class Chain:
    """Stages run in order; a chain is itself a stage.

    Parameters
    ----------
    stages : sequence of (name, Stage)
        Named stages. Names must be unique; each stage's ``fs_out_hz`` must
        equal the next stage's ``fs_in_hz``.

    Raises
    ------
    ValueError
        On duplicate names, an empty chain, or mismatched rates.
    """

    def __init__(self, stages: Sequence[tuple[str, Stage]]):
        stages = list(stages)
        if not stages:
            raise ValueError("Chain needs at least one (name, stage) pair; got none.")
        names = [name for name, _ in stages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Chain stage names must be unique; {duplicates} appear more than once.")
        for (n1, s1), (n2, s2) in zip(stages, stages[1:]):
            if not math.isclose(s1.fs_out_hz, s2.fs_in_hz, rel_tol=1e-12):
                raise ValueError(
                    f"Inconsistent rates: stage {n1!r} outputs {s1.fs_out_hz:g} Hz but "
                    f"{n2!r} expects {s2.fs_in_hz:g} Hz; insert a resampler or fix fs_hz."
                )
        self.stages = stages
        self.fs_in_hz = stages[0][1].fs_in_hz
        self.fs_out_hz = stages[-1][1].fs_out_hz

    def __getitem__(self, name: str) -> Stage:
        for n, s in self.stages:
            if n == name:
                return s
        raise KeyError(f"No stage named {name!r}; stages are {[n for n, _ in self.stages]}.")

    def process(self, chunk: Chunk) -> Chunk:
        """Pass ``chunk`` through every stage in order."""
        for _, stage in self.stages:
            chunk = stage.process(chunk)
        return chunk

    def reset(self) -> None:
        """Reset every stage."""
        for _, stage in self.stages:
            stage.reset()
