"""Monte Carlo analytic fast path: 10,000 draws for one preset (target <= 1 s on one core)."""

from __future__ import annotations

import time

from acquire.config import resolve_config
from acquire.studies import montecarlo as mc

N_DRAWS = 10_000
TARGET_S = 1.0
SPREADS = ["electrodes.imbalance=lognormal(0.5)", "amplifier.z_cm_mismatch=uniform(-0.1, 0.1)",
           "electrodes.cable_c_f=uniform(0, 200e-12)", "electrodes.cable_c_mismatch=uniform(-0.2, 0.2)"]


def run():
    cfg = resolve_config()
    dists = [mc.parse_distribution(s) for s in SPREADS]
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        mc.run_montecarlo(cfg, ["ina128"], dists, N_DRAWS, seed=1)
        best = min(best, time.perf_counter() - t0)
    yield f"Monte Carlo, {N_DRAWS} analytic draws, one preset (target <= {TARGET_S} s)", best, "s"
    yield "  the same, draws per second", N_DRAWS / best, "1/s"
