"""The streaming stage protocol, the chunk that flows between stages, and the chain.

Every box of the signal path is a stage: it takes a :class:`Chunk`, keeps its
own state, and returns a chunk. Running a record in one block or in chunks of
any size (one sample included) gives bit-identical output, and ``reset()``
restores the initial state exactly, seeded noise included. A :class:`Chain`
of stages is itself a stage.

A run starts in steady state by default: ``prime(dc_in_v)`` sets a stage's
initial state to the one it would reach after a constant input had been
applied forever (the dc operating point of electrode offsets and amplifier
bias), and ``reset()`` returns to that primed state, so priming changes only
where a run starts, never how it streams.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numba import njit



@dataclass(frozen=True, init=False)
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

    def __init__(self, diff_v: np.ndarray, cm_v: np.ndarray | None = None,
                 cm_dvdt_v_per_s: np.ndarray | None = None, start_sample: int = 0,
                 cm_quad_v: np.ndarray | None = None, cm_quad_dvdt_v_per_s: np.ndarray | None = None):
        # The fields in one dict update: the generated frozen __init__ calls object.__setattr__
        # per field, twice the cost (2 us), and every stage makes a chunk per call.
        self.__dict__.update(diff_v=diff_v, cm_v=cm_v, cm_dvdt_v_per_s=cm_dvdt_v_per_s,
                             start_sample=start_sample, cm_quad_v=cm_quad_v,
                             cm_quad_dvdt_v_per_s=cm_quad_dvdt_v_per_s)

    def with_diff(self, diff_v: np.ndarray) -> "Chunk":
        """This chunk with ``diff_v`` replaced; the common-mode fields pass unchanged.

        Built directly: ``dataclasses.replace`` costs 5 us against 1.
        """
        return Chunk(diff_v, self.cm_v, self.cm_dvdt_v_per_s, self.start_sample, self.cm_quad_v,
                     self.cm_quad_dvdt_v_per_s)

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
        """Restore the initial state: at rest when constructed, or the primed one."""

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Make the steady state for a constant input the initial state; return the dc output.

        Parameters
        ----------
        dc_in_v : ndarray, shape (n_channels,)
            Constant input of each channel, volts, applied since t = -inf.

        Returns
        -------
        ndarray, shape (n_channels,)
            The output the primed stage gives for that input, per channel.
        """


def dc_vector(dc_in_v, n_channels: int | None = None) -> np.ndarray:
    """``dc_in_v`` as a finite float vector of shape (n_channels,), checked.

    Raises
    ------
    ValueError
        Not one finite value per channel.
    """
    dc = np.array(dc_in_v, dtype=float)
    if dc.ndim != 1 or dc.size == 0 or not np.all(np.isfinite(dc)) \
            or (n_channels is not None and dc.size != n_channels):
        want = "n_channels" if n_channels is None else f"n_channels={n_channels}"
        raise ValueError(f"dc_in_v must be one finite value per channel, shape ({want},); got {dc_in_v!r}.")
    return dc


def sos_steady_state(sos, dc_in_v) -> tuple[np.ndarray, np.ndarray]:
    """State and output of a cascade of second-order sections at rest on a constant input.

    Parameters
    ----------
    sos : array_like, shape (n_sections, 6)
        ``[b0, b1, b2, 1, a1, a2]`` per section, as ``scipy.signal.sosfilt``
        takes them; no pole at z = 1.
    dc_in_v : array_like, shape (n_channels,)
        Constant input of each channel.

    Returns
    -------
    zi : ndarray, shape (n_sections, n_channels, 2)
        The state to pass as ``sosfilt(..., zi=zi)``.
    dc_out_v : ndarray, shape (n_channels,)
        The constant output, ``prod_i G_i`` times the input.

    Notes
    -----
    ``sosfilt`` runs each section in transposed direct form II::

        y[n] = b0 x[n] + z0[n-1]
        z0[n] = b1 x[n] - a1 y[n] + z1[n-1]
        z1[n] = b2 x[n] - a2 y[n]

    With ``x`` and ``y`` constant the states are constant, and solving gives

        y = G x,  G = (b0 + b1 + b2) / (1 + a1 + a2),
        z0 = (b1 + b2) x - (a1 + a2) y,   z1 = b2 x - a2 y;

    each section's output is the next one's input. This is
    ``scipy.signal.sosfilt_zi(sos)`` scaled by the input, in closed form
    instead of a linear solve per section.
    """
    sos = np.asarray(sos, dtype=float)
    x = dc_vector(dc_in_v)
    zi = np.empty((sos.shape[0], x.size, 2))
    for i, (b0, b1, b2, _, a1, a2) in enumerate(sos):
        y = (b0 + b1 + b2) / (1.0 + a1 + a2) * x
        zi[i, :, 0] = (b1 + b2) * x - (a1 + a2) * y
        zi[i, :, 1] = b2 * x - a2 * y
        x = y
    return zi, x


def sosfilt_carry(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``scipy.signal.sosfilt(sos, x, axis=-1, zi=zi)`` for float64 arrays, compiled, with less overhead per call.

    Parameters
    ----------
    sos : ndarray, shape (n_sections, 6)
        Float64 sections, checked by the caller (a stage checks them once).
    x : ndarray, shape (n_channels, n)
    zi : ndarray, shape (n_sections, n_channels, 2)
        Carried state; not modified.

    Returns
    -------
    y, zf : ndarray
        Output and final state, bit-identical to ``sosfilt``'s
        (:func:`sos_pairs` performs its operations), without the per-call
        validation and axis moves that cost about 40 us, and about twice as
        fast per sample as scipy's loop.
    """
    y = np.array(x, dtype=np.float64, order="C")
    z = np.array(zi, dtype=np.float64, order="C")
    sos_pairs(np.ascontiguousarray(sos, dtype=np.float64), y, z)
    return y, z


@njit(cache=True, nogil=True, inline="always")
def _tdf2(sos: np.ndarray, s: int, u: float, z0: float, z1: float) -> tuple[float, float, float]:
    """Section ``s`` on one sample, scipy's transposed direct form II: ``(y, z0', z1')``."""
    y = sos[s, 0] * u + z0
    return y, sos[s, 1] * u - sos[s, 4] * y + z1, sos[s, 2] * u - sos[s, 5] * y


@njit(cache=True, nogil=True)
def sos_pairs(sos: np.ndarray, y: np.ndarray, zi: np.ndarray) -> None:
    """The cascade ``sos`` on ``y`` (n_channels, n) in place, two sections per pass; ``zi`` updated.

    Each pass runs two consecutive sections sample by sample with their
    state in registers: the second section's recursion overlaps the first's
    (one waits on the other only through the sample passed on), and no state
    is stored and reloaded per sample as in a loop over a state array. The
    operations are :func:`_tdf2`'s, those of ``scipy.signal.sosfilt``, in
    its order for every sample.
    """
    n_sections = sos.shape[0]
    for c in range(y.shape[0]):
        row = y[c]
        for s in range(0, n_sections - 1, 2):
            z0, z1, w0, w1 = zi[s, c, 0], zi[s, c, 1], zi[s + 1, c, 0], zi[s + 1, c, 1]
            for i in range(row.shape[0]):
                v, z0, z1 = _tdf2(sos, s, row[i], z0, z1)
                row[i], w0, w1 = _tdf2(sos, s + 1, v, w0, w1)
            zi[s, c, 0], zi[s, c, 1], zi[s + 1, c, 0], zi[s + 1, c, 1] = z0, z1, w0, w1
        if n_sections % 2:
            s = n_sections - 1
            z0, z1 = zi[s, c, 0], zi[s, c, 1]
            for i in range(row.shape[0]):
                row[i], z0, z1 = _tdf2(sos, s, row[i], z0, z1)
            zi[s, c, 0], zi[s, c, 1] = z0, z1


class SosState:
    """The state handling of a stage that runs ``self.sos`` through ``sosfilt`` with the state in ``zi_``.

    ``zi_`` is None at rest (sized on the first chunk) or a copy of the
    primed state ``zi0_`` (:func:`sos_steady_state`).
    """

    zi0_: np.ndarray | None = None

    def reset(self) -> None:
        """Return to the initial state: at rest (zero state), or the primed steady state."""
        self.zi_ = None if self.zi0_ is None else self.zi0_.copy()

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Start in the steady state for the constant input ``dc_in_v`` (n_channels,); return the dc output.

        The output is the dc gain ``H(z = 1)`` times the input
        (:func:`sos_steady_state`); ``reset()`` returns to this state.
        """
        self.zi0_, dc_out = sos_steady_state(self.sos, dc_in_v)
        self.reset()
        return dc_out

    def _filter(self, x: np.ndarray) -> np.ndarray:
        """``sosfilt`` of ``x`` (n_channels, n) with the state carried."""
        if self.zi_ is None:
            self.zi_ = np.zeros((self.sos.shape[0], x.shape[0], 2))
        y, self.zi_ = sosfilt_carry(self.sos, x, self.zi_)
        return y


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

    def prime(self, dc_in_v: np.ndarray) -> np.ndarray:
        """Prime every stage in order, each with the previous one's dc output; return the last's."""
        for _, stage in self.stages:
            dc_in_v = stage.prime(dc_in_v)
        return dc_in_v
