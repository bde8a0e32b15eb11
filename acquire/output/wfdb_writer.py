"""Write outputs as WFDB records incrementally, in physical units, atomically.

Samples are stored in WFDB format 32 (little-endian 32-bit integers) with a
gain of 1e6 adu/mV, i.e. 1 nV resolution and a +-2.1 V range, which covers
any input-referred ECG output. The ``.dat`` file grows chunk by chunk under a
temporary name; ``close()`` writes the header (with first values and
checksums, as the WFDB header format specifies) and renames both files, so
an interrupted run never leaves a record that looks complete.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: ADC units per millivolt: 1 adu = 1 nV.
GAIN_ADU_PER_MV = 1e6
INT32_MAX = 2**31 - 1


class WfdbWriter:
    """Append (n_channels, n) chunks in volts to ``<directory>/<name>.dat``/``.hea``.

    Parameters
    ----------
    directory : path
        Existing output directory.
    name : str
        Record name.
    fs_hz : float
        Sampling rate written in the header.
    channel_names : sequence of str
        Signal descriptions.
    """

    def __init__(self, directory, name: str, fs_hz: float, channel_names):
        self.directory, self.name = Path(directory), name
        self.fs_hz, self.channel_names = float(fs_hz), tuple(channel_names)
        self.dat_tmp = self.directory / f".{name}.dat.partial"
        self.file = open(self.dat_tmp, "wb")
        self.n_samples = 0
        self.first = None
        self.checksum = np.zeros(len(self.channel_names), dtype=np.int64)
        self.n_clipped = 0

    def write(self, x_v: np.ndarray) -> None:
        """Append a chunk of shape (n_channels, n) in volts."""
        adu = np.rint(x_v * 1e3 * GAIN_ADU_PER_MV)
        self.n_clipped += int(np.count_nonzero(np.abs(adu) > INT32_MAX))
        adu = np.clip(adu, -INT32_MAX, INT32_MAX).astype("<i4")
        if adu.shape[1] and self.first is None:
            self.first = adu[:, 0].copy()
        self.checksum += adu.sum(axis=1, dtype=np.int64)
        self.file.write(adu.T.tobytes())
        self.n_samples += adu.shape[1]

    def close(self) -> Path:
        """Write the header and rename both files into place; return the record path."""
        self.file.close()
        first = self.first if self.first is not None else np.zeros(len(self.channel_names), int)
        lines = [f"{self.name} {len(self.channel_names)} {self.fs_hz:g} {self.n_samples}"]
        for ch, f0, cs in zip(self.channel_names, first, self.checksum):
            checksum = int(((int(cs) + 32768) % 65536) - 32768)
            lines.append(f"{self.name}.dat 32 {GAIN_ADU_PER_MV:g}/mV 32 0 {int(f0)} {checksum} 0 {ch}")
        hea_tmp = self.directory / f".{self.name}.hea.partial"
        hea_tmp.write_text("\n".join(lines) + "\n")
        os.replace(self.dat_tmp, self.directory / f"{self.name}.dat")
        os.replace(hea_tmp, self.directory / f"{self.name}.hea")
        return self.directory / self.name

    def abort(self) -> None:
        """Close and delete the partial file."""
        self.file.close()
        self.dat_tmp.unlink(missing_ok=True)


class WfdbSink:
    """The runner's sink (``write(tap, x_v)``): one :class:`WfdbWriter` per tap.

    Parameters
    ----------
    directory : path
        Existing output directory; records are named after the taps.
    fs_by_tap : dict
        Tap name -> sampling rate.
    channel_names : sequence of str
        Signal descriptions.
    """

    def __init__(self, directory, fs_by_tap: dict, channel_names):
        self.writers = {tap: WfdbWriter(directory, tap, fs, channel_names) for tap, fs in fs_by_tap.items()}

    def write(self, tap: str, x_v: np.ndarray) -> None:
        """Append a chunk to the tap's record."""
        self.writers[tap].write(x_v)

    def close(self) -> list[Path]:
        """Finish every record (header written, files renamed into place)."""
        return [w.close() for w in self.writers.values()]

    def abort(self) -> None:
        """Delete every partial file."""
        for w in self.writers.values():
            w.abort()
