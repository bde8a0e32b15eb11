"""Write outputs as WFDB records incrementally, in physical units, atomically.

Samples are stored in WFDB format 32 (little-endian 32-bit integers) with a
gain of 1e6 adu/mV, i.e. 1 nV resolution and a +-2.147 V range, which covers
any input-referred ECG output. The ``.dat`` file grows chunk by chunk under a
temporary name; ``close()`` writes the header (with first values and
checksums, as the WFDB header format specifies) and renames both files, so
an interrupted run never leaves a record that looks complete.

The WFDB library reserves -2**31 at format 32 for an invalid sample (it reads
it back as NaN), so samples are clipped to +-(2**31 - 1) adu: the reserved
value is never written. Clipped samples are counted (``n_clipped``) and
reported with a :class:`~acquire._check.FrontendWarning` when the record is
closed.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from acquire._check import FrontendWarning
from acquire.output.files import OutputError

#: ADC units per millivolt: 1 adu = 1 nV.
GAIN_ADU_PER_MV = 1e6
INT32_MAX = 2**31 - 1
#: The value WFDB reserves for an invalid sample at format 32; never written.
WFDB_INVALID_32 = -(2**31)


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
        try:
            self.file = open(self.dat_tmp, "wb")
        except OSError as exc:
            raise OutputError(self.directory / f"{name}.dat", exc) from None
        self.n_samples = 0
        self.first = None
        self.checksum = np.zeros(len(self.channel_names), dtype=np.int64)
        self.n_clipped = 0

    def write(self, x_v: np.ndarray) -> None:
        """Append a chunk of shape (n_channels, n) in volts.

        Raises
        ------
        ValueError
            A NaN sample (WFDB would store it as its invalid-sample value).
        OutputError
            The file cannot be written (full disk, ...).
        """
        adu = np.rint(x_v * 1e3 * GAIN_ADU_PER_MV)
        if np.isnan(adu).any():
            bad = [self.channel_names[c] for c in np.flatnonzero(np.isnan(adu).any(axis=1))]
            raise ValueError(f"record {self.name}: channel(s) {', '.join(bad)} hold NaN samples; "
                             f"a WFDB record stores finite values only.")
        self.n_clipped += int(np.count_nonzero(np.abs(adu) > INT32_MAX))
        adu = np.clip(adu, -INT32_MAX, INT32_MAX).astype("<i4")  # never WFDB_INVALID_32
        if adu.shape[1] and self.first is None:
            self.first = adu[:, 0].copy()
        self.checksum += adu.sum(axis=1, dtype=np.int64)
        try:
            self.file.write(adu.T.tobytes())
        except OSError as exc:
            raise OutputError(self.directory / f"{self.name}.dat", exc) from None
        self.n_samples += adu.shape[1]

    def close(self) -> Path:
        """Write the header and rename both files into place; return the record path.

        Warns (:class:`~acquire._check.FrontendWarning`) when samples were
        clipped to the format's range.
        """
        hea_tmp = self.directory / f".{self.name}.hea.partial"
        failing = self.directory / f"{self.name}.dat"
        try:
            self.file.close()
            failing = self.directory / f"{self.name}.hea"
            first = self.first if self.first is not None else np.zeros(len(self.channel_names), int)
            lines = [f"{self.name} {len(self.channel_names)} {self.fs_hz:g} {self.n_samples}"]
            for ch, f0, cs in zip(self.channel_names, first, self.checksum):
                checksum = int(((int(cs) + 32768) % 65536) - 32768)
                lines.append(f"{self.name}.dat 32 {GAIN_ADU_PER_MV:g}/mV 32 0 {int(f0)} {checksum} 0 {ch}")
            hea_tmp.write_text("\n".join(lines) + "\n")
            os.replace(self.dat_tmp, self.directory / f"{self.name}.dat")
            os.replace(hea_tmp, self.directory / f"{self.name}.hea")
        except OSError as exc:
            hea_tmp.unlink(missing_ok=True)
            self.dat_tmp.unlink(missing_ok=True)
            raise OutputError(failing, exc) from None
        if self.n_clipped:
            limit_mv = INT32_MAX / GAIN_ADU_PER_MV
            warnings.warn(f"WFDB record {self.name}: {self.n_clipped} sample(s) beyond +-{limit_mv:.6g} mV "
                          f"(format 32 at {GAIN_ADU_PER_MV:g} adu/mV) were clipped to that range.",
                          FrontendWarning, stacklevel=2)
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

    def update(self, tap: str, y_v: np.ndarray, x_ideal_v=None, x_source_v=None) -> None:
        """The simulation's observer interface: append the output chunk ``y_v`` to the tap's record."""
        self.write(tap, y_v)

    def close(self) -> list[Path]:
        """Finish every record (header written, files renamed into place)."""
        return [w.close() for w in self.writers.values()]

    def abort(self) -> None:
        """Delete every partial file."""
        for w in self.writers.values():
            w.abort()
