"""Tests for the lumped impedance models (oracle: worked-examples.md)."""

import numpy as np
import pytest

from acquire.analog.impedance import IEC_IMBALANCE, ElectrodeImpedance, ParallelRC


def test_iec_network_magnitude_matches_worked_example():
    # worked-examples.md: |51 kOhm || 47 nF| = 40.74 kOhm at 50 Hz, 37.84 kOhm at 60 Hz (4 digits given).
    assert abs(IEC_IMBALANCE.z_ohm(50.0)) == pytest.approx(40.74e3, rel=2e-4)
    assert abs(IEC_IMBALANCE.z_ohm(60.0)) == pytest.approx(37.84e3, rel=2e-4)


@pytest.mark.parametrize("z", [ElectrodeImpedance(1e3, 51e3, 47e-9), ParallelRC(100e6, 2e-12),
                               ParallelRC(np.inf, 5e-12)])
def test_s_polys_agree_with_direct_formula(z):
    num, den = z.s_polys()
    f = np.array([0.5, 50.0, 1e3])
    s = 2j * np.pi * f
    np.testing.assert_allclose(np.polyval(num, s) / np.polyval(den, s), z.z_ohm(f), rtol=1e-12)


def test_series_combination_and_dc():
    z = ElectrodeImpedance(10e3).plus(IEC_IMBALANCE)
    assert z.r_dc_ohm == 61e3
    np.testing.assert_allclose(z.z_ohm(50.0), 10e3 + IEC_IMBALANCE.z_ohm(50.0))


def test_errors():
    with pytest.raises(ValueError, match="r_s_ohm"):
        ElectrodeImpedance(-1.0)
    with pytest.raises(ValueError, match="open circuit"):
        ParallelRC(np.inf, 0.0)
