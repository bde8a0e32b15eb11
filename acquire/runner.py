"""The simulation runner: source -> analog stages -> ADC -> digital stages, in chunks.

One call streams a source through a front end and returns the outputs at two
tap points, **acquired** (after the ADC) and **recovered** (after the digital
stages), both input-referred (divided by the nominal total gain). Output may
also be written incrementally to a sink, so that memory stays bounded by the
chunk size whatever the record length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from acquire._check import check_positive
from acquire.analog.resample import Resampler
from acquire.stage import Chain, Chunk

TAPS = ("acquired", "recovered")


@dataclass
class Frontend:
    """A built front end: the three chains and what the runner needs to know.

    Attributes
    ----------
    analog : Chain
        From the source rate to the ADC input (resampler, body, electrodes,
        amplifier, post-amplifier stages), at ``fs_sim_hz``.
    adc : Stage
        The converter, ``fs_sim_hz`` -> ``fs_adc_hz``.
    digital : Chain or None
        Digital stages at the ADC rate (None: recovered equals acquired).
    nominal_gain_v_per_v : float
        Gain from the electrodes to the ADC output in the passband, used to
        express outputs input-referred.
    """

    analog: Chain
    adc: object
    digital: Chain | None
    nominal_gain_v_per_v: float
    info: dict = field(default_factory=dict)

    def stages(self):
        """All (name, stage) pairs, in signal order."""
        yield from self.analog.stages
        yield "adc", self.adc
        if self.digital is not None:
            yield from self.digital.stages

    def reset(self) -> None:
        """Reset every stage."""
        self.analog.reset()
        self.adc.reset()
        if self.digital is not None:
            self.digital.reset()

    def prime(self, n_channels: int) -> np.ndarray:
        """Start every stage in steady state at the front end's dc operating point.

        Parameters
        ----------
        n_channels : int
            Number of leads the front end was built for.

        Returns
        -------
        ndarray, shape (n_channels,)
            The dc at the recovered tap, volts at the ADC's input scale (not
            input-referred).

        Notes
        -----
        The analog chain is primed with a zero input: the ECG's own baseline
        belongs to the source, not to the operating point, which is what the
        stages add (electrode half-cell offsets, the amplifier's offset
        voltage and bias currents through the electrodes). The converter is
        then primed with the analog chain's dc output, and the digital chain
        with the converter's (quantised, clipped) one. ``reset()`` returns
        every stage to this state, so a run measures steady operation while
        chunking and reset replay stay exact. A saturating operating point
        stays saturated: the clipped dc is what the next stage is primed with.
        """
        dc = self.adc.prime(self.analog.prime(np.zeros(n_channels)))
        return dc if self.digital is None else self.digital.prime(dc)

    def counts(self) -> dict[str, int]:
        """Event counters of every stage (``n_clipped_``, ``n_*_violations_``), keyed ``stage.counter``."""
        out = {}
        for name, stage in self.stages():
            for attr, value in vars(stage).items():
                if attr.startswith("n_") and attr.endswith(("clipped_", "violations_")):
                    out[f"{name}.{attr.rstrip('_')}"] = int(value)
        return out

    def step(self, x: np.ndarray, start_sample: int) -> dict[str, np.ndarray]:
        """Process the next source chunk; tap -> its output chunk, input-referred volts (n_channels, m).

        ``start_sample`` is the chunk's first source sample. Chunks must follow
        one another from a :meth:`reset`; :func:`run` is this in a loop.
        """
        return self.step_from(0, Chunk(x, start_sample=start_sample))

    def step_from(self, first: int, chunk: Chunk) -> dict[str, np.ndarray]:
        """:meth:`step` on a chunk that has been through the first ``first`` analog stages already."""
        for _, stage in self.analog.stages[first:]:
            chunk = stage.process(chunk)
        acquired = self.adc.process(chunk)
        recovered = acquired if self.digital is None else self.digital.process(acquired)
        gain = self.nominal_gain_v_per_v
        return {"acquired": acquired.diff_v / gain, "recovered": recovered.diff_v / gain}

    @property
    def fs_adc_hz(self) -> float:
        """Rate of the acquired tap."""
        return self.adc.fs_out_hz

    @property
    def fs_out_hz(self) -> float:
        """Rate of the recovered tap."""
        return self.digital.fs_out_hz if self.digital is not None else self.adc.fs_out_hz


def same_resampler(a, b) -> bool:
    """Whether two stages are resamplers in the same state, so the same input gives the same output bit for bit.

    True only for two :class:`~acquire.analog.resample.Resampler` with the
    same ratio (``up``, ``down``), the same taps and the same input history
    (``history_``, compared as they are now: call it on freshly reset
    stages): their outputs are then the same dot products of the same
    numbers. Anything else is False.
    """
    if not (type(a) is type(b) is Resampler and (a.up, a.down) == (b.up, b.down)
            and np.array_equal(a.taps, b.taps)):
        return False
    if a.history_ is None or b.history_ is None:
        return a.history_ is None and b.history_ is None
    return np.array_equal(a.history_, b.history_)


class TwinSteps:
    """Step a front end and its twin on the same source chunks, resampling the source once when they agree.

    When both analog chains start with the same resampler
    (:func:`same_resampler`), its output is computed by the front end's and
    passed to both chains after it (the twin gets a copy, so no stage can
    see the other chain's arrays); the twin's own resampler is then not run.
    Otherwise each front end steps on its own. Either way the outputs are
    those of ``frontend.step`` and ``twin.step``. Build it on freshly reset
    front ends.
    """

    def __init__(self, frontend: Frontend, twin: Frontend):
        self.frontend, self.twin = frontend, twin
        self.shared = same_resampler(frontend.analog.stages[0][1], twin.analog.stages[0][1])

    def step(self, x: np.ndarray, start_sample: int) -> tuple[dict, dict]:
        """``(frontend.step(x, start_sample), twin.step(x, start_sample))``."""
        if not self.shared:
            return self.frontend.step(x, start_sample), self.twin.step(x, start_sample)
        chunk = self.frontend.analog.stages[0][1].process(Chunk(x, start_sample=start_sample))
        return (self.frontend.step_from(1, chunk),
                self.twin.step_from(1, chunk.with_diff(chunk.diff_v.copy())))


@dataclass
class RunResult:
    """Outputs of one run, input-referred volts, shape (n_channels, n) per tap."""

    acquired_v: np.ndarray | None
    recovered_v: np.ndarray | None
    fs_acquired_hz: float
    fs_recovered_hz: float
    n_acquired: int
    n_recovered: int
    counts: dict


def run(frontend: Frontend, source, *, chunk_s: float = 1.0,
        progress: Callable[[int, int], None] | None = None, keep: bool = True,
        sink=None) -> RunResult:
    """Stream ``source`` through ``frontend`` in chunks of ``chunk_s`` seconds.

    Parameters
    ----------
    frontend : Frontend
        The front end; it is reset first (to its primed steady state, if
        :meth:`Frontend.prime` was called), so a run is repeatable.
    source : acquire.sources.Source
        Read in chunks; rewound first.
    chunk_s : float
        Chunk duration at the source rate. The output does not depend on it
        (every stage is chunk-invariant), only memory and speed do.
    progress : callable(done, total), optional
        Called after each chunk with source samples done and total.
    keep : bool
        Keep the outputs in memory and return them. Switch off for long
        records written to ``sink``.
    sink : object with ``write(tap, x_v)``, optional
        Receives each input-referred output chunk as it is produced.

    Returns
    -------
    RunResult
    """
    check_positive("chunk_s", chunk_s)
    n_chunk = max(1, int(round(chunk_s * source.fs_hz)))
    if not np.isclose(frontend.analog.fs_in_hz, source.fs_hz):
        raise ValueError(f"front end built for a {frontend.analog.fs_in_hz:g} Hz source; "
                         f"got a {source.fs_hz:g} Hz source; rebuild it for this rate.")
    frontend.reset()
    source.reset()
    kept = {tap: [] for tap in TAPS}
    n_out = dict.fromkeys(TAPS, 0)
    done = 0
    while done < source.n_samples:
        x = source.read(min(n_chunk, source.n_samples - done))
        outputs = frontend.step(x, done)
        done += x.shape[1]
        for tap, y in outputs.items():
            n_out[tap] += y.shape[1]
            if keep:
                kept[tap].append(y)
            if sink is not None:
                sink.write(tap, y)
        if progress is not None:
            progress(done, source.n_samples)
    out = {tap: np.concatenate(kept[tap], axis=1) if keep else None for tap in TAPS}
    return RunResult(out["acquired"], out["recovered"], frontend.fs_adc_hz, frontend.fs_out_hz,
                     n_out["acquired"], n_out["recovered"], frontend.counts())
