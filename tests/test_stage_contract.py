"""The stage contract, run over every stage the project has (scikit-learn style).

Property-based: hypothesis draws chunkings (1-sample chunks included) and
the output must equal the one-block output bit for bit; ``reset()`` must
replay exactly, seeded noise included; the same from a primed (steady) start,
``reset()`` then replaying the primed run. The per-module test files run the
same contract with their own parameter variants; this file guarantees that
no stage is left out.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acquire.analog.adc import Adc, AdcParams
from acquire.analog.post import AcCoupling, AntiAliasFilter, GainStage
from acquire.studies.compliance.fixture import SourceImpedanceDivider
from acquire.config import load_config
from acquire.analog.electrodes import ElectrodeParams, ElectrodeStage
from acquire.digital.filters import comb, highpass, lowpass, notch
from acquire.frontend import build_frontend
from acquire.analog.impedance import IEC_IMBALANCE, ParallelRC
from acquire.analog.mains import BodyParams, MainsParams, MainsStage
from acquire.digital.nlms import AdaptiveMainsCanceller
from acquire.analog.resample import Decimator, Resampler
from acquire.stage import Chain, Chunk
from frontend_models.inamp import InAmpParams, InstrumentationAmplifier
from tests.contract import assert_same, primed, run_chunked

N = 2400
FS_SIM, FS_ADC = 8000.0, 500.0
RNG = np.random.default_rng(7)
ECG = RNG.standard_normal((2, N)) * 1e-3
T = np.arange(N) / FS_SIM
CM = (np.sin(2 * np.pi * 60 * T), 2 * np.pi * 60 * np.cos(2 * np.pi * 60 * T))
MAINS = MainsParams(frequency_hz=60, drift_hz_rms=0.05, am_depth=0.1)
AMP = InAmpParams(gain_v_per_v=10.0, cmrr_db=90.0, cmrr_corner_hz=1e3, gbw_hz=1e6,
                  noise_v_per_rthz=10e-9, noise_corner_hz=5.0, current_noise_a_per_rthz=1e-12,
                  output_swing_v=0.02)
NOISY_ELECTRODES = ElectrodeParams(imbalance=IEC_IMBALANCE, offset_v=(0.01, -0.02),
                                   offset_drift_v_per_rts=1e-4, noise_v_rms=5e-6)


def plain(x):
    return Chunk(x)


def with_cm(x):
    return Chunk(x, cm_v=CM[0][:x.shape[1]], cm_dvdt_v_per_s=CM[1][:x.shape[1]])


#: name -> (factory, input chunk); every streaming stage class appears at least once.
STAGES = {
    "resampler": (lambda: Resampler(360.0, FS_SIM), plain(ECG)),
    "decimator": (lambda: Decimator(FS_SIM, 16), plain(ECG)),
    "mains": (lambda: MainsStage(MAINS, BodyParams(), FS_SIM, seed=1), plain(ECG)),
    "electrodes": (lambda: ElectrodeStage(NOISY_ELECTRODES, ParallelRC(1e9, 5e-12), FS_SIM, 2, seed=2),
                   with_cm(ECG)),
    "amplifier": (lambda: InstrumentationAmplifier(AMP, FS_SIM, z_pos=NOISY_ELECTRODES.z_electrode,
                                                   z_neg=NOISY_ELECTRODES.z_electrode, n_channels=2, seed=3),
                  with_cm(ECG)),
    "ac_coupling": (lambda: AcCoupling(0.5, 2, fs_hz=FS_SIM), plain(ECG)),
    "gain2": (lambda: GainStage(100.0, FS_SIM, output_swing_v=0.2), plain(ECG)),
    "anti_alias": (lambda: AntiAliasFilter(150.0, 4, "bessel", fs_hz=FS_SIM), plain(ECG)),
    "adc": (lambda: Adc(AdcParams(n_bits=12, vref_v=2e-3, noise_v_rms=1e-5), FS_SIM, seed=4), plain(ECG)),
    "divider": (lambda: SourceImpedanceDivider(IEC_IMBALANCE, ParallelRC(2e6, 1e-9), FS_SIM), plain(ECG)),
    "highpass": (lambda: highpass("diagnostic", FS_ADC), plain(ECG)),
    "lowpass": (lambda: lowpass(40.0, FS_ADC), plain(ECG)),
    "notch": (lambda: notch(60.0, FS_ADC, harmonics=(1, 2)), plain(ECG)),
    "comb": (lambda: comb(60.0, FS_ADC), plain(ECG)),
    "nlms": (lambda: AdaptiveMainsCanceller(60.0, FS_ADC, harmonics=(1, 3)), plain(ECG)),
    "nlms_tracking": (lambda: AdaptiveMainsCanceller(60.0, FS_ADC, track_frequency=True, track_block_s=0.1),
                      plain(ECG)),
    "chain": (lambda: Chain([("hp", highpass(0.5, FS_ADC)), ("notch", notch(60.0, FS_ADC))]), plain(ECG)),
}


def full_frontend_chain():
    """The default configured front end (analog, ADC, digital) as one chain, noise and drift on."""
    cfg = load_config(None, ["electrodes.noise_v_rms=5e-6", "mains.drift_hz_rms=0.05"])
    fe = build_frontend(cfg, 500.0, 2)
    return Chain([("analog", fe.analog), ("adc", fe.adc), ("digital", fe.digital)])


STAGES["full_frontend"] = (full_frontend_chain, plain(RNG.standard_normal((2, 1500)) * 1e-3))


#: The dc operating point every stage is primed with (one value per lead): electrode-offset sized.
DC_IN_V = [0.01, -0.02]


@pytest.mark.parametrize("start", ["cold", "steady"])
@pytest.mark.parametrize("name", sorted(STAGES))
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_random_chunkings_are_bit_identical(name, start, data):
    make, chunk = STAGES[name]
    if start == "steady":
        make = primed(make, DC_IN_V)
    n = chunk.n_samples
    cuts = data.draw(st.lists(st.integers(1, n - 1), max_size=12, unique=True).map(sorted))
    stage = make()
    block = stage.process(chunk)
    stage.reset()
    assert_same(run_chunked(stage, chunk, cuts), block)


@pytest.mark.parametrize("start", ["cold", "steady"])
@pytest.mark.parametrize("name", sorted(STAGES))
def test_one_sample_chunks_and_reset_replay(name, start):
    make, chunk = STAGES[name]
    if start == "steady":
        make = primed(make, DC_IN_V)
    chunk = Chunk(chunk.diff_v[:, :400], None if chunk.cm_v is None else chunk.cm_v[:400],
                  None if chunk.cm_dvdt_v_per_s is None else chunk.cm_dvdt_v_per_s[:400])
    stage = make()
    block = stage.process(chunk)
    stage.reset()
    assert_same(run_chunked(stage, chunk, list(range(1, chunk.n_samples))), block)
    stage.reset()
    assert_same(stage.process(chunk), block)


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_stage_primes_and_reset_returns_to_the_primed_state(name):
    make, chunk = STAGES[name]
    stage = make()
    dc_out = stage.prime(np.array(DC_IN_V))
    assert np.shape(dc_out) == (2,) and np.all(np.isfinite(dc_out))
    first = stage.process(chunk)
    stage.reset()
    assert_same(stage.process(chunk), first)
    # Priming twice with the same dc is the same start (it sets, it does not accumulate).
    again = make()
    again.prime(np.array(DC_IN_V))
    again.prime(np.array(DC_IN_V))
    assert_same(again.process(chunk), first)
