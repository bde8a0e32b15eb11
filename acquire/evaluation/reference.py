"""The source reference of a tap, computed in blocks through scratch files.

The reference is the recording resampled to the tap's rate
(:func:`scipy.signal.resample_poly`), band-limited zero-phase to the tap's
nominal passband (2nd-order Butterworth high-pass and low-pass, each applied
forward and backward as :func:`scipy.signal.sosfiltfilt` with its default
even padding of ``min(n - 1, 10 fs)`` samples), then delayed by the chain's
reported delay (linear interpolation at the output instants). A zero-phase
filter needs the whole record, so each pass streams through a float64
scratch file on disk (read back with plain file reads, never mapped, so it
does not count against the process's memory) and the memory stays bounded
by the block.

Each step equals its whole-array scipy form: the polyphase filter is
evaluated on overlapping input blocks aligned to the rate ratio (each
output is the same dot product), ``sosfilt`` carries its state between
blocks, and the backward pass reads the forward output in reverse (its own
output stays in the file in reverse order and is read back that way). Taps
at the same rate share the resampling; the chunks of a tap are interpolated
:data:`READ_SPAN` outputs at a time.
"""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import chain
from pathlib import Path

import numpy as np
from scipy import signal

#: Samples per block of the scratch passes.
BLOCK = 1 << 16
#: Outputs computed ahead at a time by the chunk reader (:class:`DelayedReference`).
READ_SPAN = 4096


class Scratch:
    """A float64 signal of shape (n_channels, n) stored sample-major in a file.

    Written in time order, or (``backward``) from its last sample to its
    first, as a backward filter pass produces it; read in time order either
    way, so no pass is needed to turn it round.
    """

    def __init__(self, path: Path, n_channels: int, *, backward: bool = False):
        self.path, self.n_channels, self.n = Path(path), int(n_channels), 0
        self.backward = bool(backward)
        self.file = open(self.path, "wb")
        self.reader = None

    def write(self, block: np.ndarray) -> None:
        """Append samples, shape (n_channels, m)."""
        self.file.write(np.ascontiguousarray(block.T, dtype="<f8"))  # its buffer, without a bytes copy
        self.n += block.shape[1]

    def close(self) -> "Scratch":
        """Finish writing; return self for reading."""
        self.file.close()
        return self

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start .. stop - 1`` (clipped to the signal), shape (n_channels, m).

        The file stays open for reading (one handle, not one open per read)
        until :meth:`unlink`.
        """
        start, stop = max(0, start), min(self.n, stop)
        if self.reader is None:
            self.reader = open(self.path, "rb")
        first = self.n - max(start, stop) if self.backward else start  # sample at the file's position
        self.reader.seek(first * self.n_channels * 8)
        data = np.fromfile(self.reader, dtype="<f8", count=max(0, stop - start) * self.n_channels)
        data = data.reshape(-1, self.n_channels).T
        return np.ascontiguousarray(data[:, ::-1]) if self.backward else data

    def blocks(self, *, reverse: bool = False, size: int = BLOCK):
        """The samples in blocks, in time order or (``reverse``) from the end, each block in that order."""
        starts = range(0, self.n, size)
        for start in (reversed(starts) if reverse else starts):
            block = self.read(start, start + size)
            yield block[:, ::-1] if reverse else block

    def unlink(self) -> None:
        """Close the reading handle and delete the file."""
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.path.unlink(missing_ok=True)


def _resampled(source, n_channels: int, up: int, down: int, size: int = BLOCK):
    """``resample_poly(x, up, down)`` of the source's samples, in blocks (the same filter and padding)."""
    n_in = source.n_samples
    if up == down == 1:
        while (x := source.read(size)).shape[1]:
            yield np.asarray(x, dtype=float)
        return
    max_rate = max(up, down)
    half_len = 10 * max_rate
    h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    n_pre_pad = down - half_len % down
    h = np.concatenate([np.zeros(n_pre_pad), h, np.zeros(down)])  # enough post padding for every output
    n_pre_remove = (half_len + n_pre_pad) // down
    n_out = -(-n_in * up // down)
    buf, buf_start = np.zeros((n_channels, 0)), 0
    for m0 in range(0, n_out, size):
        q0, q1 = m0 + n_pre_remove, min(m0 + size, n_out) + n_pre_remove
        j_lo = max(0, -(-(q0 * down - h.size + 1) // up))
        j0, j1 = (j_lo // down) * down, min(n_in, (q1 - 1) * down // up + 1)
        while buf_start + buf.shape[1] < j1:
            buf = np.concatenate([buf, np.asarray(source.read(size), dtype=float)], axis=1)
        buf, buf_start = buf[:, j0 - buf_start:], j0
        y = signal.upfirdn(h, buf[:, :j1 - j0], up, down, axis=-1)
        offset = j0 * up // down
        yield y[:, q0 - offset:q1 - offset]


def _sosfiltfilt(sos: np.ndarray, x: Scratch, out_path: Path) -> Scratch:
    """``sosfiltfilt(sos, x, padtype="even", padlen=min(n - 1, padlen))`` of a scratch signal, into a new one.

    Even padding mirrors the first and last ``padlen`` samples about the
    end samples; the forward pass starts at ``zi * x_ext[0]``, the backward
    pass at ``zi * y[-1]`` (scipy's definition).
    """
    n, pad = x.n, x.pad
    zi = signal.sosfilt_zi(sos)[:, None, :]
    head, tail = x.read(1, pad + 1)[:, ::-1], x.read(n - pad - 1, n - 1)[:, ::-1]
    forward = Scratch(Path(f"{out_path}.fwd"), x.n_channels)
    state = zi * (head[:, :1] if pad else x.read(0, 1))
    for block in chain([head], x.blocks(), [tail]):  # a generator: one block in memory at a time
        y, state = signal.sosfilt(sos, block, axis=-1, zi=state)
        forward.write(y)
    forward.close()
    out = Scratch(out_path, x.n_channels, backward=True)
    state = zi * forward.read(forward.n - 1, forward.n)
    done = 0  # samples of the reversed forward output filtered so far
    for block in forward.blocks(reverse=True):
        y, state = signal.sosfilt(sos, block, axis=-1, zi=state)
        keep = y[:, max(0, pad - done):max(0, pad + n - done)]  # drop the reversed padding
        out.write(keep)
        done += block.shape[1]
    forward.unlink()
    out.close()
    out.pad = pad
    return out


class DelayedReference:
    """The reference delayed by ``delay_s`` at the output instants ``i / fs``, read in consecutive chunks.

    ``np.interp(i / fs - delay_s, k / fs, x[k], left=x[0], right=x[-1])``
    evaluated on the grid points around each chunk.
    """

    def __init__(self, x: Scratch, fs_hz: float, delay_s: float):
        self.x, self.fs_hz, self.delay_s = x, float(fs_hz), float(delay_s)
        self.first, self.last = x.read(0, 1)[:, 0], x.read(x.n - 1, x.n)[:, 0]
        self.pos = 0
        self.ahead, self.ahead_start = np.zeros((x.n_channels, 0)), 0

    def close(self) -> None:
        """Release the scratch file (its handle and the file)."""
        self.x.unlink()

    def read(self, m: int) -> np.ndarray:
        """The next ``m`` output samples, shape (n_channels, m).

        Computed :data:`READ_SPAN` outputs at a time (one file read and one
        interpolation per span): each output depends only on its index, so
        the span changes no value.
        """
        if self.pos + m > self.ahead_start + self.ahead.shape[1]:
            self.ahead, self.ahead_start = self._outputs(self.pos, max(m, READ_SPAN)), self.pos
        i = self.pos - self.ahead_start
        self.pos += m
        return self.ahead[:, i:i + m]

    def _outputs(self, pos: int, m: int) -> np.ndarray:
        """Outputs ``pos .. pos + m - 1``."""
        t = np.arange(pos, pos + m) / self.fs_hz - self.delay_s
        k0 = max(0, math.floor(t[0] * self.fs_hz) - 2) if m else 0
        k1 = min(self.x.n, math.ceil(t[-1] * self.fs_hz) + 3) if m else 0
        if k1 <= k0:  # the whole span lies before the first or after the last grid point
            edge = self.first if m and t[-1] < 0 else self.last
            return np.repeat(edge[:, None], m, axis=1)
        grid = np.arange(k0, k1) / self.fs_hz
        values = self.x.read(k0, k1)
        out = np.empty((values.shape[0], m))
        for c, (v, a, b) in enumerate(zip(values, self.first, self.last)):
            out[c] = np.interp(t, grid, v, left=a, right=b)
        return out


def source_reference(source, fs_out_hz: float, delay_s: float, band_hz: tuple[float, float],
                     scratch_dir: Path, name: str) -> DelayedReference:
    """The tap's source reference (module docstring), as a reader of consecutive chunks.

    Parameters
    ----------
    source : acquire.sources.Source
        Rewound and read once.
    fs_out_hz : float
        The tap's rate.
    delay_s : float
        The chain's reported delay up to the tap.
    band_hz : (float, float)
        High-pass corner (0: none) and low-pass cutoff.
    scratch_dir : path
        Where the scratch files go (deleted by the caller).
    name : str
        Stem of the scratch files.

    Returns
    -------
    DelayedReference
        Keeps its scratch file open until :meth:`~DelayedReference.close`.
    """
    return source_references(source, {name: (fs_out_hz, delay_s, band_hz)}, scratch_dir)[name]


def source_references(source, taps: dict, scratch_dir: Path) -> dict:
    """:func:`source_reference` of several taps, ``name -> (fs_out_hz, delay_s, band_hz)``.

    Taps at the same rate share one resampling of the source (the same
    numbers: it depends on the rate only); the source is read once per rate.
    Each reader keeps its scratch file open: :meth:`DelayedReference.close` it.
    """
    scratch_dir = Path(scratch_dir)
    resampled, refs = {}, {}
    for name, (fs_out_hz, delay_s, (lo, hi)) in taps.items():
        if fs_out_hz not in resampled:
            resampled[fs_out_hz] = _resampled_scratch(source, fs_out_hz, scratch_dir / f"{name}.res")
        x = resampled[fs_out_hz]
        stages = ([signal.butter(2, lo, "highpass", fs=fs_out_hz, output="sos")] if lo > 0 else [])
        stages.append(signal.butter(2, hi, "lowpass", fs=fs_out_hz, output="sos"))
        for i, sos in enumerate(stages):
            y = _sosfiltfilt(sos, x, scratch_dir / f"{name}.f{i}")
            if i:  # the previous stage's output; the resampled source may serve another tap
                x.unlink()
            x = y
        refs[name] = DelayedReference(x, fs_out_hz, delay_s)
    for x in resampled.values():
        x.unlink()
    return refs


def _resampled_scratch(source, fs_out_hz: float, path: Path) -> Scratch:
    """The source resampled to ``fs_out_hz`` (:func:`_resampled`) in a scratch file, its filter padding set."""
    ratio = Fraction(fs_out_hz / source.fs_hz).limit_denominator(10000)
    source.reset()
    n_channels = len(source.channel_names)
    x = Scratch(path, n_channels)
    try:  # closed also when the source fails mid-read (a WFDB file truncated during the run)
        for block in _resampled(source, n_channels, ratio.numerator, ratio.denominator):
            x.write(block)
    finally:
        x.close()
    x.pad = min(x.n - 1, int(10 * fs_out_hz))
    return x
