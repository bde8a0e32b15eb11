"""Throughput of the digital stages at 500 Hz on 10 minutes x 2 channels, and chunking cost."""

from __future__ import annotations

import time

import numpy as np

from acquire.digital.filters import comb, highpass, lowpass, make_digital_stage, notch
from acquire.digital.nlms import AdaptiveMainsCanceller
from acquire.stage import Chain, Chunk

FS_HZ = 500.0


def _seconds(stage, x: np.ndarray, chunk_samples: int) -> float:
    """Best of three wall-clock times to stream ``x`` through ``stage``."""
    best = np.inf
    for _ in range(3):
        stage.reset()
        t0 = time.perf_counter()
        for a in range(0, x.shape[1], chunk_samples):
            stage.process(Chunk(x[:, a:a + chunk_samples], start_sample=a))
        best = min(best, time.perf_counter() - t0)
    return best


def _chain() -> Chain:
    """The default digital chain: 0.05 Hz high-pass, 60 Hz notch (1, 2), 150 Hz low-pass."""
    return Chain([("highpass", highpass("diagnostic", FS_HZ)),
                  ("notch", notch(60.0, FS_HZ, harmonics=(1, 2))),
                  ("lowpass", lowpass("diagnostic", FS_HZ))])


def run() -> list[tuple[str, float, str]]:
    """Rows (name, value, unit): Msamples/s counted over both channels (2 x 10 min at 500 Hz)."""
    rng = np.random.default_rng(0)
    x = 1e-3 * rng.standard_normal((2, int(FS_HZ * 600)))
    second = int(FS_HZ)
    stages = [
        ("high-pass 0.05 Hz order 1", highpass("diagnostic", FS_HZ)),
        ("low-pass 150 Hz order 4", lowpass("diagnostic", FS_HZ)),
        ("notch 60 Hz, harmonics 1-2, Q 30", notch(60.0, FS_HZ, harmonics=(1, 2))),
        ("comb 60 Hz (9-tap moving average)", comb(60.0, FS_HZ)),
        ("NLMS canceller 60 Hz, 1 harmonic", AdaptiveMainsCanceller(60.0, FS_HZ)),
        ("NLMS canceller 60 Hz, harmonics 1-3",
         AdaptiveMainsCanceller(60.0, FS_HZ, harmonics=(1, 2, 3))),
        ("NLMS canceller 60 Hz, tracking",
         AdaptiveMainsCanceller(60.0, FS_HZ, track_frequency=True)),
        ("decimate by 2", make_digital_stage("decimate", FS_HZ, factor=2)),
        ("default chain (high-pass, notch, low-pass)", _chain()),
    ]
    rows = [(f"{name}, 1 s chunks", x.size / _seconds(stage, x, second) / 1e6,
             "Msamples/s") for name, stage in stages]
    chain = _chain()
    rows.append(("default chain: time in 1 s chunks / in one block",
                 _seconds(chain, x, second) / _seconds(chain, x, x.shape[1]), "ratio"))
    return rows
