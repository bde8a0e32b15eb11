"""The bench fixture around the modelled device: fixture electrodes, source-impedance divider, the bench runner."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

from acquire._check import check_positive
from acquire.analog.post import AcCoupling, AnalogSosStage
from acquire.analog.electrodes import ElectrodeParams, ElectrodeStage
from acquire.digital.filters import SETTLING_FRACTION
from acquire.analog.mains import MainsParams, MainsStage, cm_harmonics
from acquire.frontend import SEED_STREAMS, body_params, build_frontend, cmrr_phase_rad, lumped, patient_circuit
from acquire.analog.impedance import ElectrodeImpedance, ParallelRC
from acquire.runner import Frontend, run
from acquire.stage import Chain
from frontend_models.inamp import InAmpParams, InstrumentationAmplifier

#: Oversampling of the CMR output before its p-v is read (band-limited reconstruction).
CMR_OVERSAMPLE = 32


def input_impedance(amp: InAmpParams) -> ParallelRC:
    """Impedance seen by a source in series with one input: Z_cm || Z_diff (Z_cm without Z_diff).

    Two R || C networks in parallel are one: R = R1 || R2, C = C1 + C2.
    """
    if amp.z_diff is None:
        return amp.z_cm
    r1, r2 = amp.z_cm.r_ohm, amp.z_diff.r_ohm
    r = r2 if math.isinf(r1) else r1 if math.isinf(r2) else r1 * r2 / (r1 + r2)
    return ParallelRC(r, amp.z_cm.c_f + amp.z_diff.c_f)


class SourceImpedanceDivider(AnalogSosStage):
    """The differential test signal loaded by the amplifier input through a series network.

    Parameters
    ----------
    z_series : ElectrodeImpedance or ParallelRC
        Network in series with one electrode (620 kOhm || 4.7 nF).
    z_in : ParallelRC
        Input impedance of that amplifier input (:func:`input_impedance`).
    fs_hz : float
        Simulation rate.

    Notes
    -----
    With the generator's return at the amplifier's reference (the other
    electrode connected directly), the input under test sees the divider

        v_in / v_src = H(s) = Z_in / (Z_in + Z_s),   Z_in = Z_cm || Z_diff,

    a first-order section for R || C networks. Discretised by the bilinear
    transform at ``fs_hz``; its frequency error at f is about
    (pi f / fs)^2 / 3 (8e-5 at 40 Hz for 8 kHz), so the realised drop is
    that of :meth:`freq_response` to better than 1e-4. The electrode stage
    models only the common-mode path of the same impedances, so this stage
    supplies the loading of the differential signal.
    """

    def __init__(self, z_series, z_in: ParallelRC, fs_hz: float):
        if not isinstance(z_in, ParallelRC):
            raise TypeError(f"z_in must be a ParallelRC; got {type(z_in).__name__}.")
        if not isinstance(z_series, (ElectrodeImpedance, ParallelRC)):
            raise TypeError(f"z_series must be an ElectrodeImpedance or ParallelRC; got {type(z_series).__name__}.")
        self.fs_in_hz = self.fs_out_hz = check_positive("fs_hz", fs_hz)
        self.z_series, self.z_in = z_series, z_in
        (ns, ds), (ni, di) = z_series.s_polys(), z_in.s_polys()
        b = np.trim_zeros(np.polymul(ni, ds), "f")
        a = np.trim_zeros(np.polyadd(b, np.polymul(ns, di)), "f")
        self.sos = signal.tf2sos(*signal.bilinear(b / a[0], a / a[0], fs=self.fs_in_hz))
        self.reset()

    def freq_response(self, f_hz) -> np.ndarray:
        """Analytic Z_in / (Z_in + Z_s) at ``f_hz``."""
        z_in = self.z_in.z_ohm(f_hz)
        return z_in / (z_in + self.z_series.z_ohm(f_hz))



# ----------------------------------------------------------------------------- the device on the bench

def settling_time_s(frontend: Frontend) -> float:
    """Longest 1 % settling time of the device's stages, s (at least 1 s).

    Digital stages report ``settling_time_s``; an analog AC coupling of
    order n at f_c settles with its slowest pole, tau = 1/(2 pi f_c
    sin(pi/(2n))) (Butterworth); the amplifier's dc block with
    tau = 1/(2 pi f_dc). Time to 1 %: tau ln(100).
    """
    times = [1.0, *(float(getattr(s, "settling_time_s", 0.0)) for _, s in frontend.stages())]
    to_1pct = math.log(1 / SETTLING_FRACTION)
    for _, stage in frontend.analog.stages:
        if isinstance(stage, AcCoupling):
            times.append(to_1pct / (2 * math.pi * stage.corner_hz * math.sin(math.pi / (2 * stage.order))))
    dc_block_hz = frontend.info["amp"].dc_block_hz
    if dc_block_hz:
        times.append(to_1pct / (2 * math.pi * dc_block_hz))
    return max(times)


class ArraySource:
    """A one-lead signal at the simulation rate, read in chunks by :func:`acquire.runner.run`."""

    def __init__(self, x_v: np.ndarray, fs_hz: float):
        self.x, self.fs_hz, self.n_samples = np.asarray(x_v, dtype=float)[None, :], fs_hz, len(x_v)
        self.reset()

    def reset(self) -> None:
        self.pos_ = 0

    def read(self, n: int) -> np.ndarray:
        out = self.x[:, self.pos_:self.pos_ + n]
        self.pos_ += n
        return out


#: Resistance of a lead wire tied straight to the fixture's node, ohms (an assumption; it only keeps a
#: reference electrode without the network finite).
LEAD_WIRE_OHM = 1.0
#: Leads the CMR network can sit on: the two measuring inputs and the reference (right-leg) electrode.
LEADS = ("-", "+", "rl")


@dataclass(frozen=True)
class Fixture:
    """What the bench connects: network and the lead it sits on, offset, common-mode fixture, loading, noise.

    ``cm_v_rms`` is the fixture node's voltage with the cable unplugged: a
    generator drives the node through ``generator_c_f``, the node has
    ``node_c_f`` to earth, and the generator is trimmed so that, unloaded,
    the node is at ``cm_v_rms``. The device (its inputs, its reference
    electrode or driven right leg, its isolation) then loads the node: the
    patient circuit of :mod:`acquire.analog.patient` with the fixture as the
    body.
    """

    network: ElectrodeImpedance | None = None
    network_lead: str = "-"
    both_electrodes: bool = False
    offset_v: float = 0.0
    cm_v_rms: float = 0.0
    mains_hz: float = 60.0
    generator_c_f: float = 100e-12
    node_c_f: float = 100e-12
    divider: bool = False
    noise: bool = False

    @property
    def generator_v_rms(self) -> float:
        """The trimmed generator: cm_v_rms (C_g + C_n) / C_g."""
        return self.cm_v_rms * (self.generator_c_f + self.node_c_f) / self.generator_c_f


class Bench:
    """Builds the device in a fixture and measures its response, caching reference runs."""

    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.fs_sim_hz = float(cfg["run"]["fs_sim_hz"])
        self._cache: dict = {}
        probe = self.device(Fixture())
        self.settle_s = settling_time_s(probe)
        self.fs_out_hz = probe.fs_out_hz
        self.amp = probe.info["amp"]
        self.preset = probe.info["preset"]

    def device(self, fx: Fixture) -> Frontend:
        cfg = copy.deepcopy(self.cfg)
        cfg["mains"] = {"frequency_hz": fx.mains_hz, "harmonic_ratios": {}}
        cfg["electrodes"] = {"imbalance": 0.0}
        if not fx.noise:
            cfg["amplifier"].update(noise_v_per_rthz=0.0, current_noise_a_per_rthz=0.0)
            cfg["adc"]["noise_v_rms"] = 0.0
        base = build_frontend(cfg, self.fs_sim_hz, 1)
        fs, seed = self.fs_sim_hz, int(cfg["run"]["seed"])
        network = fx.network if fx.network is not None else ElectrodeImpedance(0.0)
        electrodes = self._electrodes(fx)
        # the amplifier's common-mode phase for this fixture's network (worst case by default)
        amp = dataclasses.replace(base.info["amp"], cmrr_phase_rad=0.0)
        amp = dataclasses.replace(amp, cmrr_phase_rad=cmrr_phase_rad(
            cfg["amplifier"].get("cmrr_polarity", "worst"), amp, electrodes, fx.mains_hz))
        stages = []
        if fx.divider:
            stages.append(("source_impedance", SourceImpedanceDivider(network, input_impedance(amp), fs)))
        if fx.cm_v_rms:
            stages.append(("mains", self._mains_stage(fx, electrodes, amp)))
        stages += [
            ("electrodes", ElectrodeStage(electrodes, amp.z_cm, fs, 1, seed=seed + SEED_STREAMS["electrodes"],
                                          z_cm_mismatch=amp.z_cm_mismatch)),
            ("amplifier", InstrumentationAmplifier(amp, fs, z_pos=lumped(electrodes.z_pos),
                                                   z_neg=lumped(electrodes.z_neg), n_channels=1,
                                                   seed=seed + SEED_STREAMS["amplifier"])),
        ]
        stages += [(n, s) for n, s in base.analog.stages if n not in ("resample", "mains", "electrodes", "amplifier")]
        device = Frontend(Chain(stages), base.adc, base.digital, base.nominal_gain_v_per_v,
                          {**base.info, "electrodes": electrodes, "amp": amp})
        if cfg["run"].get("start", "steady") == "steady":  # the fixture's own offsets: its dc operating point
            device.prime(1)
        return device

    @staticmethod
    def _electrodes(fx: Fixture) -> ElectrodeParams:
        """The fixture's leads: the network on one input (or on both electrodes), the dc offset."""
        zero = ElectrodeImpedance(0.0)
        network = fx.network if fx.network is not None else zero
        on_input = fx.network_lead in ("+", "-")
        return ElectrodeParams(z_electrode=network if fx.both_electrodes else zero,
                               imbalance=network if on_input and not fx.both_electrodes else zero,
                               imbalance_lead=fx.network_lead if on_input else "-", offset_v=fx.offset_v)

    def _mains_stage(self, fx: Fixture, electrodes: ElectrodeParams, amp: InAmpParams) -> MainsStage:
        """The fixture node driving the device: the device's own reference electrode, DRL and isolation."""
        z_rl = fx.network if fx.network_lead == "rl" else ElectrodeImpedance(LEAD_WIRE_OHM)
        body = dataclasses.replace(body_params(self.cfg), mode="displacement", cm_v_rms=None,
                                   c_body_mains_f=fx.generator_c_f, c_body_ground_f=fx.node_c_f, z_ref=z_rl)
        mains = MainsParams(frequency_hz=fx.mains_hz, mains_v_rms=fx.generator_v_rms, harmonic_ratios={})
        return MainsStage(mains, patient_circuit(body, electrodes, amp, 1), self.fs_sim_hz)

    def common_mode_v_rms(self, fx: Fixture) -> float:
        """The common mode at the device's inputs in fixture ``fx`` (rms, fundamental; the circuit solved)."""
        stage = self._mains_stage(fx, self._electrodes(fx), self.amp)
        return abs(cm_harmonics(stage.mains, stage.circuit)[0][1])

    def _run(self, fx: Fixture, x_v: np.ndarray) -> tuple[np.ndarray, dict]:
        result = run(self.device(fx), ArraySource(x_v, self.fs_sim_hz), chunk_s=1.0)
        return result.recovered_v[0], result.counts

    def response(self, fx: Fixture, x_v: np.ndarray | None, n_samples: int) -> tuple[np.ndarray, dict]:
        """Output RTI to the stimulus (test signal ``x_v``, common mode or noise), reference subtracted.

        The reference is the same fixture without the stimulus: zero input,
        no common mode, no noise. Returns the difference and the event
        counts of the run with the stimulus.
        """
        zeros = np.zeros(n_samples)
        y, counts = self._run(fx, zeros if x_v is None else x_v)
        ref = dataclasses.replace(fx, cm_v_rms=0.0, noise=False)
        key = (ref, n_samples)
        if key not in self._cache:
            self._cache[key] = self._run(ref, zeros)[0]
        return y - self._cache[key], counts

    def time_s(self, n_sim: int) -> np.ndarray:
        """Times of the output samples of a run of ``n_sim`` simulation samples."""
        n_out = int(round(n_sim * self.fs_out_hz / self.fs_sim_hz))
        return np.arange(n_out) / self.fs_out_hz


def saturation(counts: Mapping[str, int]) -> tuple[int, str]:
    """(clipped samples, note) from a run's event counts."""
    clipped = {k: v for k, v in counts.items() if k.endswith("n_clipped") and v}
    cm = {k: v for k, v in counts.items() if k.endswith("n_cm_range_violations") and v}
    notes = []
    if clipped:
        notes.append("saturated: " + ", ".join(f"{k}={v}" for k, v in clipped.items()))
    if cm:
        notes.append("input common-mode range exceeded (not failed): " + ", ".join(f"{k}={v}" for k, v in cm.items()))
    return sum(clipped.values()), "; ".join(notes)


def tone_amplitudes_v(y, fs_hz: float, freqs_hz: Sequence[float]) -> np.ndarray:
    """Peak amplitude of each tone in ``y``, by joint least squares with a dc and a linear term.

    Notes
    -----
    ``y[n] ~ c0 + c1 t + sum_k (a_k cos w_k t + b_k sin w_k t)``, amplitude
    ``sqrt(a_k^2 + b_k^2)``. Exact for tones of any frequency on any window
    of at least 2 K + 2 samples; the linear term absorbs what remains of a
    slow transient (cf. :func:`acquire.metrics.goertzel_amplitude_v_rms`,
    one tone and dc).
    """
    y = np.asarray(y, dtype=float)
    t = np.arange(y.size) / fs_hz
    phase = 2 * np.pi * np.outer(t, np.asarray(freqs_hz, dtype=float))
    design = np.hstack([np.ones((y.size, 1)), t[:, None] - t.mean(), np.cos(phase), np.sin(phase)])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    k = len(freqs_hz)
    return np.hypot(coef[2:2 + k], coef[2 + k:])


def periodic_pv(y: np.ndarray) -> float:
    """Peak-to-valley of the band-limited reconstruction of a window holding whole periods.

    The output of the CMR test is periodic over the window (an integer
    number of seconds holds whole 50 and 60 Hz periods), so FFT
    interpolation by :data:`CMR_OVERSAMPLE` gives the continuous trace at
    32 times the rate. A tone with P samples per period then reads at most
    1 - cos(pi / (32 P)) low: 4.8e-5 (0.0004 dB) for 50 Hz at 500 Hz,
    where the raw samples (10 per period) can read up to
    20 log10(cos 18 deg) = -0.44 dB low.
    """
    return float(np.ptp(signal.resample(y, y.size * CMR_OVERSAMPLE)))
