"""Where the ECG comes from: resolve a source name and read it in chunks.

A source name is ``synthetic`` (the offline default, ECGSYN), a PhysioNet
name ``db/record`` resolved in the data directory, or a local WFDB record
path. The runner reads any source through the small :class:`Source`
protocol, so a 24-hour record, synthetic (:class:`SyntheticStreamSource`) or
WFDB (:class:`WfdbStreamSource`), streams without being held whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from acquire._check import check_positive
from acquire.sources.recording import Annotations, Recording

#: Sampling rate of the synthetic default (Hz): 500 Hz is a common ECG rate,
#: an integer divisor of the default 8 kHz simulation rate.
SYNTHETIC_FS_HZ = 500.0
#: The longest synthetic record generated in memory (s): 24 h, a Holter day (43.2 M samples at 500 Hz,
#: 0.35 GB). A window starting later than that would first generate all of its hours before the start.
SYNTHETIC_MAX_S = 24 * 3600.0
#: Samples a streamed WFDB record reads from its signal files at a time (s): one wfdb call per
#: minute of record keeps the calls' overhead negligible and the block small (173 kB for two
#: channels at 360 Hz in float64).
WFDB_BLOCK_S = 60.0


class Source(Protocol):
    """A chunked reader of ECG samples in volts, shape (n_channels, n)."""

    fs_hz: float
    n_samples: int
    channel_names: tuple[str, ...]
    annotations: Annotations | None
    provenance: dict

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples (fewer at the end)."""

    def reset(self) -> None:
        """Rewind to the first sample."""


class RecordingSource:
    """A :class:`Source` over an in-memory :class:`Recording`."""

    def __init__(self, recording: Recording):
        self.recording = recording
        self.fs_hz = recording.fs_hz
        self.n_samples = recording.n_samples
        self.channel_names = recording.channel_names
        self.annotations = recording.annotations
        self.provenance = recording.provenance
        self.reset()

    def reset(self) -> None:
        """Rewind to the first sample."""
        self.pos_ = 0

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples (fewer at the end)."""
        out = self.recording.signals_v[:, self.pos_:self.pos_ + n]
        self.pos_ += out.shape[1]
        return out


class SyntheticStreamSource:
    """A :class:`Source` streaming ECGSYN without holding the record in memory."""

    def __init__(self, *, duration_s: float, heart_rate_bpm: float, seed: int,
                 fs_hz: float = SYNTHETIC_FS_HZ):
        from acquire.sources.ecgsyn import EcgsynParams, EcgsynStream

        from dataclasses import asdict

        params = EcgsynParams(heart_rate_bpm=heart_rate_bpm)
        self.stream = EcgsynStream(params, duration_s=duration_s, fs_hz=fs_hz, seed=seed)
        self.fs_hz = float(fs_hz)
        self.n_samples = self.stream.n_samples
        self.channel_names = ("ECG",)
        self.annotations = self.stream.annotations
        # The loaded record's (``load_recording("synthetic", ...)``: the generator's, then the window's).
        self.provenance = {"generator": "ecgsyn", "seed": self.stream.seed, **asdict(params), "start_s": 0.0,
                           "duration_s": self.n_samples / self.fs_hz}

    def reset(self) -> None:
        """Rewind to the first sample."""
        self.stream.reset()

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples (fewer at the end)."""
        return self.stream.read(n)


class WfdbStreamSource(RecordingSource):
    """A :class:`Source` reading a window of a WFDB record from its signal files, block by block.

    Opening checks what the loader checks (header, signal file sizes, the
    annotations, read whole) and the window and channels as
    :meth:`Recording.select` does, on the record's sample-less outline
    (:meth:`~acquire.sources.physionet.WfdbFiles.outline`), with its errors;
    no sample is read until :meth:`read`. Then ``block_s`` of the selected
    channels is read at a time and chunks are served from it, so memory is
    one block whatever the record's length. Each block is scaled to volts
    element by element as the loaded record is
    (:meth:`~acquire.sources.physionet.WfdbFiles.read_v`), so the samples,
    annotations and provenance equal those of ``load(...).select(...)`` bit
    for bit.

    Parameters
    ----------
    files : WfdbFiles
        The checked record (:func:`~acquire.sources.physionet.open_physionet`,
        :func:`~acquire.sources.physionet.open_wfdb_path`).
    channels, start_s, duration_s
        As :meth:`Recording.select`.
    block_s : float
        Seconds read from the files at a time.

    Attributes
    ----------
    recording : Recording
        The window's outline (no samples): rate, names, annotations and
        provenance, as :class:`RecordingSource` describes its recording.
    """

    def __init__(self, files, *, channels=None, start_s: float = 0.0, duration_s: float | None = None,
                 block_s: float = WFDB_BLOCK_S):
        outline = files.outline()
        self.files = files
        self.channels, self.start, _ = outline.window_indices(channels, start_s, duration_s)
        self.block_n = max(1, int(round(check_positive("block_s", block_s) * outline.fs_hz)))
        super().__init__(outline.select(channels=channels, start_s=start_s, duration_s=duration_s))

    def reset(self) -> None:
        """Rewind to the first sample."""
        self.pos_ = 0
        self.block_start_ = 0
        self.block_ = np.zeros((len(self.channels), 0))

    def read(self, n: int) -> np.ndarray:
        """The next ``n`` samples (fewer at the end), from the current block and the next ones read."""
        out = np.empty((len(self.channels), min(n, self.n_samples - self.pos_)))
        done = 0
        while done < out.shape[1]:
            if self.pos_ == self.block_start_ + self.block_.shape[1]:
                stop = min(self.pos_ + self.block_n, self.n_samples)
                self.block_start_ = self.pos_
                self.block_ = self.files.read_v(self.start + self.pos_, self.start + stop, self.channels)
            part = self.block_[:, self.pos_ - self.block_start_:][:, :out.shape[1] - done]
            out[:, done:done + part.shape[1]] = part
            done += part.shape[1]
            self.pos_ += part.shape[1]
        return out


def load_recording(name: str, *, channels=None, start_s: float = 0.0,
                   duration_s: float | None = None, heart_rate_bpm: float = 72.0,
                   seed: int = 0) -> Recording:
    """Load a source by name into memory, restricted to channels and a window.

    Parameters
    ----------
    name : str
        ``"synthetic"``, a PhysioNet ``db/record`` name, or a local WFDB path.
    channels : list of int or str, optional
        Channel selection; None or empty keeps all.
    start_s, duration_s : float
        Time window; ``duration_s=None`` runs to the end (synthetic: 60 s).
    heart_rate_bpm, seed
        Synthetic source only.

    Raises
    ------
    ValueError
        A name that is none of the three kinds, with the reason for each.
    """
    if name == "synthetic":
        from acquire.sources.ecgsyn import EcgsynParams, ecgsyn

        total_s = start_s + (60.0 if duration_s is None else duration_s)
        if not total_s <= SYNTHETIC_MAX_S:
            raise ValueError(f"source.start_s + source.duration_s must be at most {SYNTHETIC_MAX_S:g} s (24 h) "
                             f"for the synthetic source; got {start_s:g} + {total_s - start_s:g} s.")
        rec = ecgsyn(EcgsynParams(heart_rate_bpm=heart_rate_bpm), duration_s=total_s,
                     fs_hz=SYNTHETIC_FS_HZ, seed=seed)
    else:
        rec = open_wfdb(name).load()
    return rec.select(channels=channels or None, start_s=start_s, duration_s=duration_s)


def open_wfdb(name: str):
    """The checked WFDB record a source name other than ``synthetic`` names, its samples not read.

    A local record path when ``name + ".hea"`` exists, else a PhysioNet
    ``db/record`` name (:func:`~acquire.sources.physionet.open_physionet`).

    Raises
    ------
    ValueError
        A name that is neither, with the reason for each.
    """
    if Path(str(name) + ".hea").is_file():
        from acquire.sources.physionet import open_wfdb_path

        return open_wfdb_path(name)
    from acquire.sources.physionet import catalog, open_physionet

    db = str(name).split("/", 1)[0]
    if "/" not in str(name) or db not in catalog():
        from acquire._check import suggest

        raise ValueError(
            f"unknown source {name!r}: use 'synthetic', a PhysioNet name such as 'mitdb/100' "
            f"(databases: {', '.join(sorted(catalog()))}), or a local WFDB record path "
            f"(no {name}.hea found).{suggest(db, catalog())}")
    return open_physionet(name)


def load_configured(source_cfg: dict) -> Recording:
    """Load the source described by a config's ``[source]`` table."""
    s = source_cfg
    return load_recording(s["name"], channels=s["channels"], start_s=s["start_s"],
                          duration_s=s.get("duration_s"), heart_rate_bpm=s["heart_rate_bpm"],
                          seed=s["seed"])


def stream_configured(source_cfg: dict) -> SyntheticStreamSource | WfdbStreamSource | None:
    """The source of a config's ``[source]`` table streamed, bit-identical to :func:`load_configured`'s record.

    A WFDB record through :class:`WfdbStreamSource`; the synthetic source
    through :class:`SyntheticStreamSource` when its window starts at 0 s on
    its one channel; None for another synthetic window (generated in memory).
    """
    s = source_cfg
    if s["name"] != "synthetic":
        return WfdbStreamSource(open_wfdb(s["name"]), channels=s["channels"] or None, start_s=s["start_s"],
                                duration_s=s.get("duration_s"))
    if s["channels"] or float(s["start_s"]) != 0.0:
        return None
    duration_s = 60.0 if s.get("duration_s") is None else float(s["duration_s"])
    return SyntheticStreamSource(duration_s=duration_s, heart_rate_bpm=s["heart_rate_bpm"], seed=s["seed"])
