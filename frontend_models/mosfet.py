"""Square-law MOSFET small-signal parameters from device-level inputs.

Turns a drain current, a geometry (or an overdrive) and a channel-length
modulation coefficient into the ``g_m`` and ``r_o`` that
:mod:`frontend_models.diffpair` works with, so a designer can ask what a
longer channel or a larger current does to the stage.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from acquire._check import FrontendWarning, check_positive

#: Boltzmann constant, J/K, and elementary charge, C (exact SI values).
K_BOLTZMANN_J_PER_K = 1.380649e-23
Q_ELECTRON_C = 1.602176634e-19
#: Device temperature assumed throughout, kelvin.
TEMPERATURE_K = 300.0
#: Thermal voltage U_T = kT/q at ``TEMPERATURE_K``: 25.85 mV.
U_T_V = K_BOLTZMANN_J_PER_K * TEMPERATURE_K / Q_ELECTRON_C
#: Overdrive below which the square law is flagged as a poor model, volts.
V_OV_WEAK_INVERSION_V = 0.1


@dataclass(frozen=True)
class DeviceParams:
    """Device-level description of every transistor of a differential pair.

    All devices (input pair, load, cascodes) carry the same drain current and
    share this description, so they have one ``g_m`` and one ``r_o``.
    Give the geometry (``w_over_l`` with ``mu_cox_a_per_v2``) or the
    overdrive ``v_ov_v``, not both.

    Parameters
    ----------
    id_a : float
        Drain current of each device (half the tail current), amperes.
    l_m : float
        Channel length, metres.
    lambda0_per_v : float
        Channel-length modulation coefficient at the reference length
        ``l0_m``, 1/V; at ``l_m`` it is ``lambda0_per_v * l0_m / l_m``.
    l0_m : float
        Reference length at which ``lambda0_per_v`` holds, metres.
    w_over_l : float, optional
        Aspect ratio W/L. Held fixed when ``l_m`` changes, so W scales with L.
    mu_cox_a_per_v2 : float, optional
        Process transconductance parameter mu*C_ox (k'), A/V^2; required with
        ``w_over_l`` and only with it.
    v_ov_v : float, optional
        Overdrive V_GS - V_T, volts, instead of the geometry.
    n_slope : float, default 1.4
        Subthreshold slope factor n used for the weak-inversion limit; an
        **assumption** (typically 1.3-1.5 for bulk CMOS), not a fitted value;
        1 to 3 accepted.
    """

    id_a: float
    l_m: float
    lambda0_per_v: float
    l0_m: float
    w_over_l: float | None = None
    mu_cox_a_per_v2: float | None = None
    v_ov_v: float | None = None
    n_slope: float = 1.4

    def __post_init__(self):
        for name in ("id_a", "l_m", "lambda0_per_v", "l0_m"):
            check_positive(name, getattr(self, name))
        if (self.w_over_l is None) == (self.v_ov_v is None):
            raise ValueError(
                f"give either w_over_l (with mu_cox_a_per_v2) or v_ov_v, exactly one; got "
                f"w_over_l={self.w_over_l!r}, v_ov_v={self.v_ov_v!r}.")
        if (self.w_over_l is None) != (self.mu_cox_a_per_v2 is None):
            raise ValueError(
                f"mu_cox_a_per_v2 is required with w_over_l and only with it; got "
                f"w_over_l={self.w_over_l!r}, mu_cox_a_per_v2={self.mu_cox_a_per_v2!r}.")
        for name in ("w_over_l", "mu_cox_a_per_v2", "v_ov_v"):
            if getattr(self, name) is not None:
                check_positive(name, getattr(self, name))
        if not 1.0 <= float(self.n_slope) <= 3.0:
            raise ValueError(f"n_slope must be in [1, 3]; got {self.n_slope!r}.")

    @property
    def lambda_per_v(self) -> float:
        """Channel-length modulation at ``l_m``: ``lambda0 * L0 / L``, 1/V."""
        return self.lambda0_per_v * self.l0_m / self.l_m


@dataclass(frozen=True)
class SmallSignal:
    """Small-signal parameters of one device (what :func:`small_signal` returns)."""

    gm_s: float
    ro_ohm: float
    v_ov_v: float
    gm_square_law_s: float
    gm_weak_inversion_s: float


def small_signal(device: DeviceParams) -> SmallSignal:
    """Transconductance and output resistance of a saturated MOSFET.

    Parameters
    ----------
    device : DeviceParams

    Returns
    -------
    SmallSignal
        ``gm_s`` is the smaller of the square-law and weak-inversion values.

    Warns
    -----
    FrontendWarning
        When ``V_ov < 0.1 V``: the device is near or in weak inversion and the
        square law is a poor model there.

    Notes
    -----
    Square law in saturation (Sedra & Smith, Microelectronic Circuits, 7th ed.,
    ch. 5; Razavi, Design of Analog CMOS Integrated Circuits, ch. 2):

    - ``I_D = (1/2) mu C_ox (W/L) V_ov^2``, so ``V_ov = sqrt(2 I_D / (mu C_ox W/L))``
      when the geometry is given;
    - ``g_m = sqrt(2 mu C_ox (W/L) I_D) = 2 I_D / V_ov``;
    - ``r_o = 1 / (lambda I_D)`` with ``lambda = lambda_0 L_0 / L``: the Early
      voltage ``V_A = 1/lambda`` is proportional to L (Sedra & Smith,
      ``V_A = V_A' L``; Razavi: lambda is inversely proportional to L).

    Weak inversion (Razavi, ch. 2, subthreshold conduction,
    ``I_D ~ exp(V_GS / (n U_T))``): ``g_m = I_D / (n U_T)`` with
    ``U_T = kT/q = 25.85 mV`` at 300 K and the assumed slope factor ``n``.
    This is the largest ``g_m/I_D`` a MOSFET reaches; the square law exceeds
    it for ``V_ov < 2 n U_T`` (72 mV at ``n = 1.4``), so ``g_m`` is taken as
    the smaller of the two asymptotes. In moderate inversion the true
    ``g_m`` lies below both: the EKV interpolation
    ``g_m/I_D = 2 / (n U_T (1 + sqrt(1 + 4 IC)))`` (Enz, Krummenacher &
    Vittoz, 1995; IC the inversion coefficient) gives 0.62 of either
    asymptote where they cross (IC = 1). So ``g_m`` there is an upper bound,
    hence the warning from 0.1 V. ``r_o`` keeps the ``1/(lambda I_D)`` form
    in every regime.

    With ``I_D`` and ``W/L`` fixed, a longer channel leaves ``V_ov`` and
    ``g_m`` unchanged and raises ``r_o`` in proportion to L.
    """
    d = device
    if d.v_ov_v is None:
        v_ov = math.sqrt(2 * d.id_a / (d.mu_cox_a_per_v2 * d.w_over_l))
    else:
        v_ov = float(d.v_ov_v)
    gm_sq = 2 * d.id_a / v_ov
    gm_wi = d.id_a / (d.n_slope * U_T_V)
    if v_ov < V_OV_WEAK_INVERSION_V:
        warnings.warn(
            f"V_ov = {v_ov * 1e3:.3g} mV < {V_OV_WEAK_INVERSION_V * 1e3:.0f} mV: near weak inversion "
            f"the square law is a poor model; g_m = min(2 I_D/V_ov, I_D/(n U_T)) with assumed "
            f"n = {d.n_slope:g} is an upper bound.", FrontendWarning, stacklevel=2)
    return SmallSignal(gm_s=min(gm_sq, gm_wi), ro_ohm=1 / (d.lambda_per_v * d.id_a), v_ov_v=v_ov,
                       gm_square_law_s=gm_sq, gm_weak_inversion_s=gm_wi)
