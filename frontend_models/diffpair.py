"""Small-signal designer for a MOS differential pair (the input stage of an amplifier).

From a transconductance, output resistances, a load topology, a tail
resistance and device mismatches it gives the differential gain, the
common-mode gain, the CMRR, the output pole and the unity-gain frequency, and
turns them into the gain/CMRR/bandwidth of a behavioural amplifier stage.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

from acquire._check import FrontendWarning, check_option, check_positive

#: Load topologies.
LOADS = ("resistive", "active", "cascode")


@dataclass(frozen=True)
class DiffPairParams:
    """Small-signal description of a differential pair.

    Every device (input pair, load, cascodes) has the same ``gm_s``; NMOS
    devices have ``ro_n_ohm`` and PMOS devices ``ro_p_ohm``.

    Parameters
    ----------
    gm_s : float
        Transconductance of each device, siemens.
    ro_n_ohm, ro_p_ohm : float
        Output resistance of the input (NMOS) and load (PMOS) devices, ohms.
    load : {"resistive", "active", "cascode"}
        Drain resistors with differential output; current-mirror load with
        single-ended output; cascoded pair with a cascoded mirror load.
    r_d_ohm : float, optional
        Drain resistance; required for ``load="resistive"`` and only then.
    c_load_f : float, default 1e-12
        Capacitance at the output node(s), farads.
    r_tail_ohm : float, default inf
        Output resistance ``R_SS`` of the tail current source; ``inf`` for an
        ideal source (no common-mode gain).
    gm_mismatch_fraction : float, default 0
        ``|delta g_m| / g_m`` of the input pair.
    r_d_mismatch_fraction : float, default 0
        Load mismatch: ``|delta R_D| / R_D`` for the resistive load, the
        mirror's current-ratio error for the active and cascode loads.
    """

    gm_s: float
    ro_n_ohm: float
    ro_p_ohm: float
    load: str = "resistive"
    r_d_ohm: float | None = None
    c_load_f: float = 1e-12
    r_tail_ohm: float = math.inf
    gm_mismatch_fraction: float = 0.0
    r_d_mismatch_fraction: float = 0.0

    def __post_init__(self):
        check_positive("gm_s", self.gm_s)
        check_positive("ro_n_ohm", self.ro_n_ohm)
        check_positive("ro_p_ohm", self.ro_p_ohm)
        check_option("load", self.load, LOADS)
        if (self.load == "resistive") != (self.r_d_ohm is not None):
            raise ValueError(
                f"r_d_ohm is required for load='resistive' and only for it; got load={self.load!r}, "
                f"r_d_ohm={self.r_d_ohm!r}."
            )
        if self.r_d_ohm is not None:
            check_positive("r_d_ohm", self.r_d_ohm)
        check_positive("c_load_f", self.c_load_f)
        if not float(self.r_tail_ohm) > 0:
            raise ValueError(f"r_tail_ohm must be > 0 (inf allowed); got {self.r_tail_ohm!r}.")
        check_positive("gm_mismatch_fraction", self.gm_mismatch_fraction, allow_zero=True)
        check_positive("r_d_mismatch_fraction", self.r_d_mismatch_fraction, allow_zero=True)


@dataclass(frozen=True)
class DiffPairResult:
    """What :func:`design` computes (low-frequency values and the output pole)."""

    r_out_ohm: float
    a_d_v_per_v: float
    a_cm_v_per_v: float
    cmrr_db: float
    f_3db_hz: float
    f_t_hz: float
    gbw_hz: float


def design(params: DiffPairParams) -> DiffPairResult:
    """Differential gain, common-mode gain, CMRR and bandwidth of a differential pair.

    Parameters
    ----------
    params : DiffPairParams

    Returns
    -------
    DiffPairResult

    Warns
    -----
    FrontendWarning
        When ``2 g_m R_SS < 10``: the common-mode formulas assume ``2 g_m R_SS >> 1``.

    Notes
    -----
    Sedra & Smith, Microelectronic Circuits, 7th ed., ch. 9 (MOS differential pair),
    with ``g_m``, ``r_o`` and ``R_SS`` as in ``DiffPairParams``:

    Output resistance and differential gain ``A_d = g_m R_out``:

    - resistive: ``R_out = R_D`` (``r_o`` neglected, valid for ``R_D << r_o``;
      differential output);
    - active (current-mirror) load: ``R_out = r_on || r_op`` (single-ended);
    - cascode pair with cascode mirror: ``R_out = (g_m r_on^2) || (g_m r_op^2)``.

    Common-mode gain (magnitudes; mismatches add in the worst case), with
    ``eps_R`` the load and ``eps_gm`` the transconductance mismatch:

    - resistive: ``A_cm = R_D/(2 R_SS) * (eps_R + eps_gm)``
      (Sedra & Smith's results for ``Delta R_D`` and ``Delta g_m``), hence
      ``CMRR = 2 g_m R_SS / (eps_R + eps_gm)``;
    - active and cascode loads: ``A_cm = 1/(2 g_mp R_SS) + R_out (eps_R + eps_gm)/(2 R_SS)``:
      the first term is the matched current-mirror result (Sedra & Smith,
      active-loaded pair; ``g_mp = g_m`` here), the second the imbalance current
      ``(eps) v_cm/(2 R_SS)`` flowing into ``R_out``.

    ``CMRR = 20 log10(A_d / A_cm)`` (``inf`` for an ideal tail). The output
    node is a single pole, so ``f_3dB = 1/(2 pi R_out C_L)`` and
    ``GBW = A_d f_3dB = g_m/(2 pi C_L) = f_T`` for every load (facts.md
    section 4: doubling ``R_out`` doubles the gain and halves the bandwidth;
    ``f_T`` is **unconfirmed** there).
    """
    p = params
    gm = p.gm_s
    if p.load == "resistive":
        r_out = p.r_d_ohm
    elif p.load == "active":
        r_out = _parallel(p.ro_n_ohm, p.ro_p_ohm)
    else:
        r_out = _parallel(gm * p.ro_n_ohm ** 2, gm * p.ro_p_ohm ** 2)
    a_d = gm * r_out
    r_ss = float(p.r_tail_ohm)
    if 2 * gm * r_ss < 10:
        warnings.warn(
            f"2 g_m R_SS = {2 * gm * r_ss:.3g} is not >> 1; the common-mode gain "
            f"approximations are poor (raise r_tail_ohm).", FrontendWarning, stacklevel=2)
    eps = p.r_d_mismatch_fraction + p.gm_mismatch_fraction
    a_cm = r_out * eps / (2 * r_ss)
    if p.load != "resistive":
        a_cm += 1 / (2 * gm * r_ss)
    cmrr_db = math.inf if a_cm == 0 else 20 * math.log10(a_d / a_cm)
    f_3db = 1 / (2 * math.pi * r_out * p.c_load_f)
    return DiffPairResult(r_out_ohm=r_out, a_d_v_per_v=a_d, a_cm_v_per_v=a_cm, cmrr_db=cmrr_db,
                          f_3db_hz=f_3db, f_t_hz=gm / (2 * math.pi * p.c_load_f),
                          gbw_hz=a_d * f_3db)


def to_inamp_params(result: DiffPairResult) -> dict:
    """Gain, CMRR and bandwidth of a designed pair, as keyword arguments for an amplifier.

    Returns
    -------
    dict
        ``{"gain_v_per_v": A_d, "cmrr_db": CMRR, "bandwidth_hz": f_3dB}``:
        the fields of ``frontend_models.inamp.InAmpParams`` with those names,
        so ``InAmpParams(**to_inamp_params(r), ...)`` builds a stage from the
        design. A plain dict keeps this module free of a dependency on the
        amplifier model. ``cmrr_db`` is ``inf`` for an ideal tail source.
    """
    return {"gain_v_per_v": result.a_d_v_per_v, "cmrr_db": result.cmrr_db,
            "bandwidth_hz": result.f_3db_hz}


def _parallel(a: float, b: float) -> float:
    return a * b / (a + b)
