"""The patient circuit: mains, body capacitances, reference electrode, driven right leg, isolation, input load.

Solved exactly as phasors, per mains harmonic. Nodes: the body B, the device
reference R (the amplifier's ground) and earth. Branches::

    mains V_m --C_pow-- B --C_body-- earth
    B --(Z_e,i + Z_c,i)-- R        each amplifier input: electrode, then its shunt to the reference
    B --Z_RL-- O                   the reference (right-leg) electrode, when ``grounded``;
                                   O = R without a driven right leg, else the DRL output
    R --C_iso-- earth              an isolated device (c_iso_f > 0); c_iso_f = 0 is a mains-earthed device (R = earth)

The amplifier's common mode is the body relative to the device reference,
v_cm = V_B - V_R. With admittances Y_p = jwC_pow, Y_b = jwC_body,
Y_in = sum_i 1/(Z_e,i + Z_c,i), Y_RL = 1/Z_RL (0 without the electrode),
Y_iso = jwC_iso and S = Y_in + Y_RL, Kirchhoff's current law at B and R gives

    v_cm = H_m V_m + H_o V_O,
    H_m = Y_p Y_iso / D,  H_o = Y_RL (Y_p + Y_b + Y_iso) / D,
    D = (Y_p + Y_b)(S + Y_iso) + S Y_iso,

with V_O the DRL output relative to R; a mains-earthed device is the limit
Y_iso -> inf: H_m = Y_p/(Y_p + Y_b + S), H_o = Y_RL/(Y_p + Y_b + S). A driven
right leg of loop gain A(jf) drives V_O = -A v_cm, so

    v_cm = H_m V_m / (1 + T),  T = A H_o   (the loop gain around the DRL).

Checks: floating and unloaded, v_cm = V_m C_pow/(C_pow + C_body) (230 V, 3 pF,
300 pF: 2.28 V rms); held by a 51 kOhm electrode, about jwC_pow V_m Z_RL
(11.1 mV rms); a DRL divides that by about 1 + A (Winter & Webster, IEEE TBME
30(1):62, 1983; facts.md 2.1-2.2); the inputs' common-mode capacitance loads
the body (INA128 2 x 9 pF: 5.9 % less than unloaded). The circuit-simulator
cross-check is in ``tests/data/patient/``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from acquire._check import FrontendWarning, check_option, check_positive
from acquire.analog.impedance import ElectrodeImpedance

BODY_MODES = ("displacement", "direct")
DRL_KINDS = ("pole", "integrator")
#: Below this phase margin at the DRL loop's crossover a FrontendWarning is raised, degrees.
MIN_PHASE_MARGIN_DEG = 45.0


@dataclass(frozen=True)
class BodyParams:
    """How the mains voltage reaches the patient's body; the reference electrode, DRL and isolation.

    Parameters
    ----------
    mode : {'displacement', 'direct'}
        'displacement': v_cm from the patient circuit (module docstring);
        'direct': the fundamental of v_cm is ``cm_v_rms`` at the amplifier's
        inputs (harmonics scaled by the mains' ``harmonic_ratios``), no circuit.
    cm_v_rms : float or None
        Common mode at the fundamental, V rms; 'direct' mode only.
    c_body_mains_f : float
        Body-to-mains capacitance C_pow (3 pF typical, facts.md section 2.1).
    c_body_ground_f : float
        Body-to-earth capacitance C_body (300 pF typical; the IEC test
        fixture uses 200 pF).
    grounded : bool
        True: the reference (right-leg) electrode ``z_ref`` connects the body
        to the device reference (or to the DRL output). False: no reference
        electrode; the body floats.
    z_ref : ElectrodeImpedance or float
        Reference electrode impedance, or a resistance in ohms; default
        51 kOhm (the worked example). Used only when ``grounded``.
    drl_loop_gain : float
        Dc gain A0 of a one-pole driven right leg (0: no DRL), ``drl_kind="pole"``.
    drl_bandwidth_hz : float
        Pole f_p of the DRL amplifier (math.inf: none).
    drl_kind : {'pole', 'integrator'}
        'pole': A(jf) = A0/(1 + jf/f_p); 'integrator': A(jf) = f_u/(jf) / (1 + jf/f_p),
        a real integrator of unity-gain frequency ``drl_unity_hz`` with a pole.
    drl_unity_hz : float
        Unity-gain frequency f_u of the integrating DRL (``drl_kind="integrator"``).
    drl_current_limit_a : float
        Peak output current the DRL can drive, A (math.inf: unlimited); the
        run reports when the required current exceeds it.
    c_iso_f : float
        Isolation capacitance from the device reference to earth, F; 0 is a
        mains-earthed device (reference at earth).
    loop_area_m2 : float
        Area A of the loop formed by the lead wires, m^2.
    flux_density_t : float
        Peak mains magnetic flux density B through that loop, tesla.

    Notes
    -----
    Magnetic pickup (Huhta & Webster 1973): a flux B A cos(phi) through the
    lead loop induces w B A sin(phi) differentially in every lead (1 uT,
    100 cm^2, 50 Hz: 3.1 uV peak).

    Raises
    ------
    ValueError
        A driven right leg without the reference electrode (``grounded =
        false``): the loop has nothing to drive.
    """

    mode: str = "displacement"
    cm_v_rms: float | None = None
    c_body_mains_f: float = 3e-12
    c_body_ground_f: float = 300e-12
    grounded: bool = False
    z_ref: ElectrodeImpedance | float = field(default_factory=lambda: ElectrodeImpedance(r_s_ohm=51e3))
    drl_loop_gain: float = 0.0
    drl_bandwidth_hz: float = math.inf
    drl_kind: str = "pole"
    drl_unity_hz: float = 0.0
    drl_current_limit_a: float = math.inf
    c_iso_f: float = 0.0
    loop_area_m2: float = 0.0
    flux_density_t: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        check_option("mode", self.mode, BODY_MODES)
        if self.mode == "direct":
            if self.cm_v_rms is None:
                raise ValueError("mode='direct' needs cm_v_rms (body common mode, V rms); got None.")
            set_(self, "cm_v_rms", check_positive("cm_v_rms", self.cm_v_rms, allow_zero=True))
        elif self.cm_v_rms is not None:
            raise ValueError(f"cm_v_rms applies to mode='direct' only; got cm_v_rms={self.cm_v_rms!r} "
                             f"with mode={self.mode!r}.")
        set_(self, "c_body_mains_f", check_positive("c_body_mains_f", self.c_body_mains_f))
        set_(self, "c_body_ground_f", check_positive("c_body_ground_f", self.c_body_ground_f))
        if not isinstance(self.grounded, (bool, np.bool_)):
            raise TypeError(f"grounded must be True or False; got {self.grounded!r}.")
        if not isinstance(self.z_ref, ElectrodeImpedance):
            if isinstance(self.z_ref, bool) or not isinstance(self.z_ref, (int, float, np.number)):
                raise TypeError(f"z_ref must be an ElectrodeImpedance or a resistance in ohms; "
                                f"got {self.z_ref!r}.")
            set_(self, "z_ref", ElectrodeImpedance(r_s_ohm=check_positive("z_ref", self.z_ref)))
        set_(self, "drl_loop_gain", check_positive("drl_loop_gain", self.drl_loop_gain, allow_zero=True))
        if not float(self.drl_bandwidth_hz) > 0:
            raise ValueError(f"drl_bandwidth_hz must be > 0 (math.inf: flat loop gain); "
                             f"got {self.drl_bandwidth_hz!r}.")
        check_option("drl_kind", self.drl_kind, DRL_KINDS)
        set_(self, "drl_unity_hz", check_positive("drl_unity_hz", self.drl_unity_hz, allow_zero=True))
        if (self.drl_kind == "integrator") != (self.drl_unity_hz > 0):
            raise ValueError("drl_unity_hz (> 0) is the integrating DRL's parameter: give it with "
                             f"drl_kind='integrator' and only then; got drl_kind={self.drl_kind!r}, "
                             f"drl_unity_hz={self.drl_unity_hz!r}.")
        if not float(self.drl_current_limit_a) > 0:
            raise ValueError(f"drl_current_limit_a must be > 0 (math.inf: unlimited); got {self.drl_current_limit_a!r}.")
        set_(self, "c_iso_f", check_positive("c_iso_f", self.c_iso_f, allow_zero=True))
        if self.has_drl and not self.grounded and self.mode == "displacement":
            raise ValueError("a driven right leg needs the reference (right-leg) electrode it drives: set "
                             "body.grounded = true (its impedance is body.z_ref_ohm), or remove the DRL "
                             "(body.drl_loop_gain = 0).")
        set_(self, "loop_area_m2", check_positive("loop_area_m2", self.loop_area_m2, allow_zero=True))
        set_(self, "flux_density_t", check_positive("flux_density_t", self.flux_density_t, allow_zero=True))

    @property
    def has_drl(self) -> bool:
        """True when a driven right leg is configured."""
        return self.drl_loop_gain > 0 or self.drl_kind == "integrator"

    def drl_gain(self, f_hz) -> np.ndarray:
        """The DRL amplifier's gain A(jf) (0 without a DRL)."""
        jf = 1j * np.asarray(f_hz, dtype=float)
        pole = 1.0 / (1.0 + jf / self.drl_bandwidth_hz)
        if self.drl_kind == "integrator":
            return self.drl_unity_hz / jf * pole
        return self.drl_loop_gain * pole


@dataclass(frozen=True)
class PatientCircuit:
    """The body with its reference electrode, DRL and isolation, loaded by the amplifier's inputs.

    Parameters
    ----------
    body : BodyParams
    inputs : tuple of (impedance parts, ParallelRC)
        One branch per amplifier input from the body to the device reference:
        the electrode impedance(s) in series, then the input's shunt (Z_cm
        with any cable capacitance). Empty: no input load.
    """

    body: BodyParams
    inputs: tuple = ()

    def load_admittance(self, f_hz) -> np.ndarray:
        """Y_in = sum over inputs of 1/(Z_e + Z_c), siemens."""
        f = np.asarray(f_hz, dtype=float)
        y = np.zeros(f.shape, dtype=complex)
        for parts, shunt in self.inputs:
            z = sum(p.z_ohm(f) for p in (parts if isinstance(parts, tuple) else (parts,)))
            y = y + 1.0 / (z + shunt.z_ohm(f))
        return y

    def transfer(self, f_hz, y_in=None) -> tuple[np.ndarray, np.ndarray]:
        """(H_m, H_o): v_cm per volt of mains and per volt of DRL output (module docstring).

        ``y_in`` overrides the inputs' load admittance (arrays broadcast: a
        Monte Carlo passes one per draw).
        """
        b = self.body
        w = 2 * np.pi * np.asarray(f_hz, dtype=float)
        y_p, y_b = 1j * w * b.c_body_mains_f, 1j * w * b.c_body_ground_f
        y_rl = 1.0 / b.z_ref.z_ohm(f_hz) if b.grounded else np.zeros(w.shape)
        s = (self.load_admittance(f_hz) if y_in is None else y_in) + y_rl
        if b.c_iso_f == 0:  # mains-earthed device: the reference is earth
            d = y_p + y_b + s
            return y_p / d, y_rl / d
        y_iso = 1j * w * b.c_iso_f
        d = (y_p + y_b) * (s + y_iso) + s * y_iso
        return y_p * y_iso / d, y_rl * (y_p + y_b + y_iso) / d

    def loop_gain(self, f_hz, y_in=None) -> np.ndarray:
        """T(jf) = A(jf) H_o(jf), the gain around the DRL loop (0 without a DRL)."""
        return self.body.drl_gain(f_hz) * self.transfer(f_hz, y_in)[1]

    def cm_phasor_v(self, mains_v_rms: float, f_hz, y_in=None):
        """Common mode at the amplifier (body relative to the device reference) for mains of ``mains_v_rms`` at f.

        Returns a complex rms phasor (array for an array of frequencies);
        'direct' mode returns ``cm_v_rms`` whatever the circuit. ``y_in`` as
        in :meth:`transfer`.
        """
        f = np.asarray(f_hz, dtype=float)
        if np.any(~(f > 0)):
            raise ValueError(f"f_hz must be > 0; got {f_hz!r}.")
        if self.body.mode == "direct":
            out = np.full(np.broadcast(f, 0 if y_in is None else y_in).shape, complex(self.body.cm_v_rms))
        else:
            h_m, h_o = self.transfer(f, y_in)
            out = mains_v_rms * h_m / (1.0 + self.body.drl_gain(f) * h_o)
        return complex(out) if out.ndim == 0 else out

    def drl_current_a(self, cm_phasor_v, f_hz):
        """Rms current the DRL drives through the reference electrode: (1 + A) v_cm / Z_RL."""
        return np.abs((1.0 + self.body.drl_gain(f_hz)) * cm_phasor_v / self.body.z_ref.z_ohm(f_hz))

    def phase_margin(self) -> tuple[float | None, float | None]:
        """(crossover frequency in Hz, phase margin in degrees) of the DRL loop; (None, None) if |T| < 1 everywhere."""
        if not (self.body.has_drl and self.body.mode == "displacement"):
            return None, None
        f = np.logspace(-3, 9, 4801)
        mag = np.abs(self.loop_gain(f))
        cross = np.flatnonzero((mag[:-1] >= 1) & (mag[1:] < 1))
        if not cross.size:
            return None, None
        i = cross[-1]
        # refine the last downward crossing by bisection on log f
        lo, hi = math.log10(f[i]), math.log10(f[i + 1])
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if abs(self.loop_gain(10 ** mid)) >= 1 else (lo, mid)
        f_c = 10 ** lo
        return f_c, 180.0 + math.degrees(float(np.angle(self.loop_gain(f_c))))

    def check_stability(self) -> dict:
        """The DRL loop's crossover and phase margin; a FrontendWarning below :data:`MIN_PHASE_MARGIN_DEG`."""
        f_c, pm = self.phase_margin()
        if pm is not None and pm < MIN_PHASE_MARGIN_DEG:
            warnings.warn(f"The driven right leg has a phase margin of {pm:.1f} deg at its {f_c:.4g} Hz crossover "
                          f"(below {MIN_PHASE_MARGIN_DEG:g} deg): it rings or oscillates; lower its gain or "
                          "bandwidth.", FrontendWarning, stacklevel=3)
        return {"crossover_hz": f_c, "phase_margin_deg": pm}


def circuit_report(circuit: PatientCircuit, harmonics) -> dict:
    """What the run reports about its patient circuit: v_cm, the DRL loop's stability and current.

    Parameters
    ----------
    circuit : PatientCircuit
    harmonics : list of (f_hz, v_cm rms phasor)
        The common mode per harmonic (:func:`acquire.analog.mains.cm_harmonics`).

    Returns
    -------
    dict
        ``v_cm_rms`` (root sum of squares over harmonics), ``isolated``,
        ``reference_electrode``, and with a DRL: ``drl_crossover_hz``,
        ``drl_phase_margin_deg``, ``drl_current_a_peak`` (the harmonics'
        peaks added: a bound on the waveform's peak) and ``drl_saturated``
        (the current exceeds ``drl_current_limit_a``; the model stays linear,
        so the run's common mode is then optimistic). Warns (FrontendWarning)
        on a low phase margin and on saturation.
    """
    b = circuit.body
    out = {"v_cm_rms": float(np.sqrt(sum(abs(v) ** 2 for _, v in harmonics))), "isolated": b.c_iso_f > 0,
           "reference_electrode": bool(b.grounded)}
    if b.has_drl and b.mode == "displacement":
        stability = circuit.check_stability()
        peak = float(sum(math.sqrt(2) * circuit.drl_current_a(v, f) for f, v in harmonics))
        saturated = peak > b.drl_current_limit_a
        if saturated:
            warnings.warn(f"The driven right leg needs {peak * 1e6:.3g} µA peak, above its "
                          f"{b.drl_current_limit_a * 1e6:.3g} µA limit: it saturates and the common mode "
                          "is higher than this linear model shows.", FrontendWarning, stacklevel=3)
        out.update(drl_crossover_hz=stability["crossover_hz"], drl_phase_margin_deg=stability["phase_margin_deg"],
                   drl_current_a_peak=peak, drl_saturated=saturated)
    return out


def as_circuit(patient) -> PatientCircuit:
    """A PatientCircuit from a PatientCircuit or a bare BodyParams (no input load)."""
    return patient if isinstance(patient, PatientCircuit) else PatientCircuit(patient)
