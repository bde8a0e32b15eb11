"""Throughput of the analog-side stages: resampler, AC coupling, anti-alias filter, ADC."""

from __future__ import annotations

import time

import numpy as np

from acquire.analog.adc import Adc, AdcParams
from acquire.analog.post import AcCoupling, AntiAliasFilter
from acquire.analog.resample import Resampler
from acquire.stage import Chunk

FS_SIM_HZ = 8000.0


def _msamples_per_s(stage, x: np.ndarray, chunk_samples: int, count: str) -> float:
    """Best of three runs; ``count`` is "in" or "out" (which samples are counted)."""
    best = np.inf
    for _ in range(3):
        stage.reset()
        n_out = 0
        t0 = time.perf_counter()
        for a in range(0, x.shape[1], chunk_samples):
            n_out += stage.process(Chunk(x[:, a:a + chunk_samples], start_sample=a)).n_samples
        best = min(best, time.perf_counter() - t0)
    n = x.shape[0] * (n_out if count == "out" else x.shape[1])
    return n / best / 1e6


def run() -> list[tuple[str, float, str]]:
    """Rows (name, value, unit): throughput in Msamples/s (one channel unless stated)."""
    rng = np.random.default_rng(0)
    src = rng.standard_normal((1, 360 * 600))  # 10 min at 360 Hz -> 4.8 M outputs at 8 kHz
    sim = 1e-3 * rng.standard_normal((1, int(FS_SIM_HZ * 300)))  # 5 min at 8 kHz
    rows = [
        ("resampler 360->8000 Hz, one block (output samples)",
         _msamples_per_s(Resampler(360.0, FS_SIM_HZ), src, src.shape[1], "out"), "Msamples/s"),
        ("resampler 360->8000 Hz, 10 s chunks (output samples)",
         _msamples_per_s(Resampler(360.0, FS_SIM_HZ), src, 3600, "out"), "Msamples/s"),
        ("resampler 8000->500 Hz, 10 s chunks (input samples)",
         _msamples_per_s(Resampler(FS_SIM_HZ, 500.0), sim, 80_000, "in"), "Msamples/s"),
        ("AC coupling 0.05 Hz order 1, 10 s chunks",
         _msamples_per_s(AcCoupling(0.05, fs_hz=FS_SIM_HZ), sim, 80_000, "in"), "Msamples/s"),
        ("anti-alias Butterworth 4th order 150 Hz, 10 s chunks",
         _msamples_per_s(AntiAliasFilter(150.0, 4, fs_hz=FS_SIM_HZ), sim, 80_000, "in"), "Msamples/s"),
        ("ADC 24 bit 8000->500 Hz with noise floor, 10 s chunks (input samples)",
         _msamples_per_s(Adc(AdcParams(noise_v_rms=1e-6), FS_SIM_HZ), sim, 80_000, "in"), "Msamples/s"),
    ]
    return rows
