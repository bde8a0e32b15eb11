"""Lumped impedance models shared by electrodes and amplifier inputs.

Each model gives its complex impedance ``z_ohm(f_hz)``, its dc resistance,
and its impedance as a ratio of polynomials in the Laplace variable ``s``
(coefficients highest power first, as ``numpy.polyval`` and
``scipy.signal`` expect), so stages can build exact analog transfer
functions and discretise them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from acquire._check import check_positive


def parallel_rc_z_ohm(r_ohm, c_f, f_hz):
    """R || C: R / (1 + j w R C), or 1/(j w C) where R is infinite; arrays broadcast."""
    s = 2j * np.pi * np.asarray(f_hz, dtype=float)
    r, c = np.asarray(r_ohm, dtype=float), np.asarray(c_f, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(np.isinf(r), 1.0 / (s * c), r / (1.0 + s * np.where(np.isinf(r), 0.0, r) * c))
    return z[()] if z.ndim == 0 else z


def electrode_z_ohm(r_s_ohm, r_d_ohm, c_d_f, f_hz):
    """R_s + (R_d || C_d): R_s + R_d / (1 + j w R_d C_d); arrays broadcast."""
    s = 2j * np.pi * np.asarray(f_hz, dtype=float)
    return r_s_ohm + r_d_ohm / (1.0 + s * r_d_ohm * c_d_f)


@dataclass(frozen=True)
class ParallelRC:
    """Resistor ``r_ohm`` in parallel with capacitor ``c_f``.

    Notes
    -----
    Z(s) = R / (1 + s R C). ``r_ohm = inf`` gives a pure capacitor;
    ``c_f = 0`` a pure resistor. Used for the standards' imbalance network
    (51 kOhm || 47 nF, IEC 60601-2-27 / AAMI EC13) and for an amplifier's
    common-mode input impedance (e.g. INA128: 1e11 Ohm || 9 pF).
    """

    r_ohm: float
    c_f: float = 0.0

    def __post_init__(self):
        if not self.r_ohm > 0:
            raise ValueError(f"r_ohm must be > 0 (inf for a pure capacitor); got {self.r_ohm!r}.")
        check_positive("c_f", self.c_f, allow_zero=True)
        if math.isinf(self.r_ohm) and self.c_f == 0:
            raise ValueError("ParallelRC needs a finite r_ohm or a nonzero c_f; got an open circuit.")

    def z_ohm(self, f_hz) -> np.ndarray:
        """Complex impedance at ``f_hz`` (scalar or array)."""
        return parallel_rc_z_ohm(self.r_ohm, self.c_f, f_hz)

    @property
    def r_dc_ohm(self) -> float:
        """Resistance at dc."""
        return self.r_ohm

    def s_polys(self) -> tuple[np.ndarray, np.ndarray]:
        """(numerator, denominator) of Z(s), highest power first."""
        if math.isinf(self.r_ohm):
            return np.array([1.0]), np.array([self.c_f, 0.0])
        return np.array([self.r_ohm]), np.array([self.r_ohm * self.c_f, 1.0])


@dataclass(frozen=True)
class ElectrodeImpedance:
    """Electrode-skin impedance: R_s in series with (R_d || C_d).

    Parameters
    ----------
    r_s_ohm : float
        Series resistance of gel and lead (>= 0).
    r_d_ohm : float
        Stratum-corneum / double-layer resistance (>= 0; 0 means none).
    c_d_f : float
        Capacitance in parallel with ``r_d_ohm``.

    Notes
    -----
    Z(s) = R_s + R_d / (1 + s R_d C_d): the usual simplification of the
    Cole-type model R_s + (R_d || CPE) with the constant-phase element
    replaced by a capacitor (see facts.md section 2.3 and
    https://pmc.ncbi.nlm.nih.gov/articles/PMC6302411/).
    """

    r_s_ohm: float
    r_d_ohm: float = 0.0
    c_d_f: float = 0.0

    def __post_init__(self):
        check_positive("r_s_ohm", self.r_s_ohm, allow_zero=True)
        check_positive("r_d_ohm", self.r_d_ohm, allow_zero=True)
        check_positive("c_d_f", self.c_d_f, allow_zero=True)

    def z_ohm(self, f_hz) -> np.ndarray:
        """Complex impedance at ``f_hz`` (scalar or array)."""
        return electrode_z_ohm(self.r_s_ohm, self.r_d_ohm, self.c_d_f, f_hz)

    @property
    def r_dc_ohm(self) -> float:
        """Resistance at dc (R_s + R_d)."""
        return self.r_s_ohm + self.r_d_ohm

    def s_polys(self) -> tuple[np.ndarray, np.ndarray]:
        """(numerator, denominator) of Z(s), highest power first."""
        tau_s = self.r_d_ohm * self.c_d_f
        return np.array([self.r_s_ohm * tau_s, self.r_s_ohm + self.r_d_ohm]), np.array([tau_s, 1.0])

    def plus(self, other: "ElectrodeImpedance") -> "ElectrodeImpedance":
        """This impedance in series with an (R || C) network given as ``other``.

        Only defined when at most one of the two has an R_d || C_d part, since
        the sum of two such sections is no longer of this form.
        """
        if self.r_d_ohm and other.r_d_ohm:
            raise ValueError("Cannot combine two R_d || C_d sections into one ElectrodeImpedance.")
        rd, cd = (self.r_d_ohm, self.c_d_f) if self.r_d_ohm else (other.r_d_ohm, other.c_d_f)
        return ElectrodeImpedance(self.r_s_ohm + other.r_s_ohm, rd, cd)


#: The standards' electrode-imbalance network, 51 kOhm || 47 nF (IEC 60601-2-25/-27, AAMI EC11/EC13).
IEC_IMBALANCE = ElectrodeImpedance(r_s_ohm=0.0, r_d_ohm=51e3, c_d_f=47e-9)
