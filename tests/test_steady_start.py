"""Steady-state start: a run begins at the front end's dc operating point, not at switch-on.

The first tests drive :meth:`acquire.runner.Frontend.prime` directly on a front end built
cold. The acceptance tests (issue 11, item 4) go through ``acquire.simulate`` with
``run.start`` set explicitly, which needs the ``run.start`` option in the configuration
and ``build_frontend`` priming by default.
"""

from __future__ import annotations

import numpy as np
import pytest

import acquire
from acquire.config import load_config
from acquire.frontend import build_frontend
from acquire.runner import run

FS_SRC_HZ = 500.0
#: A dc-coupled in-amp whose operating point fits the converter: 10 x 0.2 V = 2 V < 2.4 V.
DC_COUPLED = ["amplifier.preset=ina128", "amplifier.gain_v_per_v=10", "electrodes.offset_v=0.2",
              "amplifier.noise_v_per_rthz=0", "amplifier.current_noise_a_per_rthz=0"]


class ZeroSource:
    """No ECG: ``n_samples`` zeros at 500 Hz, one lead (the operating point alone)."""

    def __init__(self, duration_s: float):
        self.fs_hz, self.n_samples = FS_SRC_HZ, int(duration_s * FS_SRC_HZ)
        self.reset()

    def reset(self) -> None:
        self.pos_ = 0

    def read(self, n: int) -> np.ndarray:
        n = min(n, self.n_samples - self.pos_)
        self.pos_ += n
        return np.zeros((1, n))


def cold_frontend(overrides, *, ideal=False, digital=True):
    cfg = load_config(None, overrides)
    cfg["run"]["start"] = "cold"  # built at rest, whether or not build_frontend primes by default
    if not digital:
        cfg["digital"] = []
    return build_frontend(cfg, FS_SRC_HZ, 1, ideal=ideal)


def period_means_v(x_v: np.ndarray, skip: int = 50) -> np.ndarray:
    """Means over 25 samples (3 whole cycles of 60 Hz at 500 Hz, the mains residual's period) after ``skip``."""
    x = x_v[0, skip:]
    return x[:x.size // 25 * 25].reshape(-1, 25).mean(axis=1)


def test_prime_is_the_operating_point_a_cold_run_settles_to():
    fe = cold_frontend(DC_COUPLED, digital=False)
    cold = run(fe, ZeroSource(10.0)).acquired_v * fe.nominal_gain_v_per_v  # volts at the ADC
    dc = fe.prime(1)
    warm = run(fe, ZeroSource(10.0)).acquired_v * fe.nominal_gain_v_per_v
    # About G x 0.2 V = 2 V plus the amplifier's own offset and bias drop (G V_dc).
    assert dc == pytest.approx([2.0], rel=0.01)
    # Oracle: the cold run's last period, settled (anti-alias filter and in-amp: ms). Its mean
    # holds the mains residual's mean over whole cycles (zero) and its quantisation error; the
    # residual repeats every 25 samples, so the errors repeat too and need not average out: up
    # to LSB/2 (0.15 uV; 0.057 uV observed).
    tol = fe.adc.lsb_v / 2
    assert period_means_v(cold)[-1] == pytest.approx(dc[0], abs=tol)
    # Primed, every period is there from the start. The first 0.1 s is left out: the mains
    # common mode itself switches on at t = 0 through the electrode divider and the filters
    # (a few time constants of R_d C_d = 4.7 ms), an interference transient, not a dc one.
    np.testing.assert_allclose(period_means_v(warm), dc[0], rtol=0, atol=tol)


def test_primed_digital_high_pass_removes_the_offset_from_sample_0():
    fe = cold_frontend(DC_COUPLED)
    cold = run(fe, ZeroSource(10.0)).recovered_v
    np.testing.assert_allclose(fe.prime(1), [0.0], atol=1e-12)  # the 0.05 Hz high-pass blocks it
    warm = run(fe, ZeroSource(10.0)).recovered_v
    ref_fe = cold_frontend([*DC_COUPLED, "electrodes.offset_v=0"])
    ref_fe.prime(1)
    ref = run(ref_fe, ZeroSource(10.0)).recovered_v
    # Cold, the 0.2 V step decays through the high-pass as exp(-t/3.18 s): still 0.2 exp(-10/3.18)
    # = 8.6 mV input-referred after 10 s (the amplifier's own offset adds a little).
    assert abs(cold[0, -1]) > 5e-3
    # Primed, the output with the offset is the output without it, but for quantisation: the
    # codes of x + 2 V and x round differently, a difference of -1, 0 or +1 LSB (0.29 uV,
    # 0.029 uV input-referred at G = 10) at each sample, white, ~0.4 LSB rms, and so after
    # the unit-gain digital band (0.29 LSB rms, 1.09 LSB at most over 5000 samples observed):
    # 4 LSB is 14 sigma. Cold, the difference is mV.
    lsb_rti = fe.adc.lsb_v / fe.nominal_gain_v_per_v
    assert np.max(np.abs(warm - ref)) <= 4 * lsb_rti


def test_prime_survives_reset_and_repeated_runs():
    fe = cold_frontend(DC_COUPLED)
    fe.prime(1)
    first = run(fe, ZeroSource(4.0), chunk_s=0.37)
    second = run(fe, ZeroSource(4.0), chunk_s=1.0)  # run() resets: back to the primed state
    np.testing.assert_array_equal(first.recovered_v, second.recovered_v)
    np.testing.assert_array_equal(first.acquired_v, second.acquired_v)


def test_the_ideal_twin_has_no_operating_point():
    fe = cold_frontend(DC_COUPLED, ideal=True)
    cold = run(fe, ZeroSource(2.0))
    assert fe.prime(1) == pytest.approx([0.0], abs=0)  # no offsets, bias or Vos: exactly at rest
    warm = run(fe, ZeroSource(2.0))
    np.testing.assert_array_equal(cold.recovered_v, warm.recovered_v)


def test_a_saturating_operating_point_primes_the_digital_stages_with_the_clipped_dc():
    fe = cold_frontend([*DC_COUPLED, "electrodes.offset_v=0.3"], digital=False)
    # 10 x 0.3 V = 3 V is past the 2.4 V reference: the top code, (2^23 - 1) LSB.
    np.testing.assert_array_equal(fe.prime(1), [(2 ** 23 - 1) * fe.adc.lsb_v])
    result = run(fe, ZeroSource(2.0))
    assert result.counts["adc.n_clipped"] == result.n_acquired  # every sample: physics


# ----------------------------------------------------------------------------- acceptance (run.start)

def simulate(**keys):
    return acquire.simulate(source__duration_s=60, run__score_exclude_s=0, **keys)


@pytest.fixture(scope="module")
def ad8232_runs():
    """AD8232 (in-amp dc block, AC coupling, G = 1100) with 0.3 V and 0 V offset, steady and cold."""
    return {(start, offset): simulate(preset="ad8232", electrodes__offset_v=offset, run__start=start)
            for start in ("steady", "cold") for offset in (0.3, 0.0)}


def test_steady_ad8232_with_300mv_offset_detects_every_beat(ad8232_runs):
    sim = ad8232_runs["steady", 0.3]
    rec = sim.metrics["channels"]["ECG"]["recovered"]
    # Scored over the whole minute (no learning period excluded): 72 beats of ECGSYN at 72 bpm.
    assert rec["qrs_sensitivity"] >= 0.99 and rec["qrs_ppv"] >= 0.99
    assert rec["qrs_tp"] + rec["qrs_fn"] == 72
    assert rec["saturated_fraction"] == 0.0
    assert all(v == 0 for k, v in sim.metrics["counts"].items() if k.endswith("n_clipped"))


def test_steady_ad8232_offset_leaves_no_transient_beyond_the_digital_filters(ad8232_runs):
    # The digital filters' own settling (the notch on the mains switch-on, the high-pass on the
    # ECG's baseline) is the same with and without the offset; any start-up transient of the
    # offset would be the difference. Both runs draw the same seeded noise, and the dc block
    # holds the 30 V amplified offset, so what reaches the converter differs by rounding of
    # 30 V (7e-15 V) at most: a code flip of one LSB (2.4 V / 2^23 = 0.29 uV at the ADC,
    # 0.26 nV input-referred at G = 1100) now and then, passed by the unit-gain digital band
    # at about its own size; 4 LSB leaves margin (bit-identical observed).
    steady, ref = ad8232_runs["steady", 0.3], ad8232_runs["steady", 0.0]
    lsb_rti = 2.4 / 2 ** 23 / steady.metrics["nominal_gain_v_per_v"]
    for tap in ("acquired_v", "recovered_v"):
        diff = getattr(steady.simulation.result, tap) - getattr(ref.simulation.result, tap)
        assert np.max(np.abs(diff)) <= 4 * lsb_rti


def test_cold_ad8232_keeps_the_switch_on_transient(ad8232_runs):
    # The control: run.start = "cold" applies the 0.3 V as a step at t = 0, which saturates the
    # in-amp (30 V against its 1.45 V swing) for about a second and costs beats at the start.
    cold, ref = ad8232_runs["cold", 0.3], ad8232_runs["cold", 0.0]
    assert cold.metrics["counts"]["amplifier.n_clipped"] > 0
    assert cold.metrics["channels"]["ECG"]["recovered"]["qrs_sensitivity"] < 0.99
    diff = cold.simulation.result.recovered_v - ref.simulation.result.recovered_v
    assert np.max(np.abs(diff)) > 1e-3  # mV of start-up transient, input-referred


def test_steady_dc_coupled_gain_10_still_saturates():
    # Physics, not a start-up artefact: 10 x 0.3 V = 3 V at the converter, past its 2.4 V
    # reference, for the whole run; with 0.2 V (2 V) nothing clips.
    keys = dict(preset="ina128", amplifier__gain_v_per_v=10, adc__vref_v=2.4, source__duration_s=10,
                run__start="steady")
    sat = acquire.simulate(electrodes__offset_v=0.3, **keys)
    assert sat.metrics["counts"]["adc.n_clipped"] == 10 * 500  # every sample of 10 s at 500 Hz
    assert sat.metrics["channels"]["ECG"]["recovered"]["saturated_fraction"] == 1.0
    fits = acquire.simulate(electrodes__offset_v=0.2, **keys)
    assert fits.metrics["counts"]["adc.n_clipped"] == 0


def test_run_start_is_checked():
    with pytest.raises(ValueError, match=r"run.start must be one of 'cold', 'steady'; got 'warm'"):
        acquire.simulate(source__duration_s=2, run__start="warm")
