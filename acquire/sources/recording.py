"""The value type for a loaded ECG: signals in volts, rate, channels, beats, provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from acquire._check import check_positive, suggest

#: MIT-BIH beat symbols mapped to the AAMI EC57 classes (N, S, V, F, Q).
#: Source: ANSI/AAMI EC57; the mapping used by WFDB ``bxb`` and de Chazal et
#: al., IEEE TBME 51(7), 2004, Table I.
AAMI_CLASS = {
    **dict.fromkeys("NLRej", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VE", "V"),
    "F": "F",
    **dict.fromkeys("/fQ", "Q"),
}


@dataclass(frozen=True)
class Annotations:
    """Beat annotations.

    Parameters
    ----------
    sample : ndarray of int, shape (n_beats,)
        Sample index of each beat at the recording's ``fs_hz``.
    symbol : ndarray of str, shape (n_beats,)
        MIT-BIH beat symbol of each beat.
    """

    sample: np.ndarray
    symbol: np.ndarray

    @property
    def aami_class(self) -> np.ndarray:
        """AAMI class (N, S, V, F or Q) of each beat."""
        return np.array([AAMI_CLASS.get(s, "Q") for s in self.symbol], dtype="<U1")

    def window(self, start: int, stop: int) -> "Annotations":
        """Beats with ``start <= sample < stop``, re-indexed to start at 0."""
        keep = (self.sample >= start) & (self.sample < stop)
        return Annotations(self.sample[keep] - start, self.symbol[keep])


@dataclass(frozen=True)
class Recording:
    """A loaded ECG.

    Parameters
    ----------
    signals_v : ndarray, shape (n_channels, n_samples)
        Lead voltages in volts.
    fs_hz : float
        Sampling rate.
    channel_names : tuple of str
        One name per channel.
    annotations : Annotations or None
        Beat annotations, when an annotation file or generator provides them.
    provenance : dict
        Where the samples came from: ``database``, ``version``, ``record`` for
        PhysioNet; ``generator`` and ``seed`` for synthetic signals.
    """

    signals_v: np.ndarray
    fs_hz: float
    channel_names: tuple[str, ...]
    annotations: Annotations | None = None
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        check_positive("fs_hz", self.fs_hz)
        if self.signals_v.ndim != 2:
            raise ValueError(
                f"signals_v must have shape (n_channels, n_samples); got shape {self.signals_v.shape}."
            )
        if len(self.channel_names) != self.signals_v.shape[0]:
            raise ValueError(
                f"channel_names has {len(self.channel_names)} names for "
                f"{self.signals_v.shape[0]} channels."
            )

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return self.signals_v.shape[1]

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.fs_hz

    def select(self, channels=None, start_s: float = 0.0, duration_s: float | None = None) -> "Recording":
        """Return a copy restricted to some channels and a time window.

        Parameters
        ----------
        channels : sequence of int or str, int, str, or None
            Channels by index or name; None keeps all.
        start_s : float
            Window start in seconds from the beginning of the recording.
        duration_s : float or None
            Window length in seconds; None runs to the end.

        Raises
        ------
        ValueError
            For an unknown channel name (with a suggestion), an index out of
            range, or a window outside the recording.
        """
        idx = self._channel_indices(channels)
        check_positive("start_s", start_s, allow_zero=True)
        start = int(round(start_s * self.fs_hz))
        if start >= self.n_samples:
            raise ValueError(
                f"start_s={start_s:g} s is past the end of the recording ({self.duration_s:g} s)."
            )
        if duration_s is None:
            stop = self.n_samples
        else:
            check_positive("duration_s", duration_s)
            stop = start + int(round(duration_s * self.fs_hz))
            if stop > self.n_samples:
                raise ValueError(
                    f"start_s + duration_s = {start_s + duration_s:g} s exceeds the recording "
                    f"length ({self.duration_s:g} s); shorten duration_s."
                )
        ann = self.annotations.window(start, stop) if self.annotations is not None else None
        prov = dict(self.provenance, start_s=float(start_s), duration_s=(stop - start) / self.fs_hz)
        return Recording(
            signals_v=self.signals_v[idx, start:stop].copy(),
            fs_hz=self.fs_hz,
            channel_names=tuple(self.channel_names[i] for i in idx),
            annotations=ann,
            provenance=prov,
        )

    def _channel_indices(self, channels) -> list[int]:
        if channels is None:
            return list(range(len(self.channel_names)))
        if isinstance(channels, (int, str)):
            channels = [channels]
        out = []
        for ch in channels:
            if isinstance(ch, str) and not ch.lstrip("-").isdigit():
                if ch not in self.channel_names:
                    raise ValueError(
                        f"channel must be one of {list(self.channel_names)} or an index; "
                        f"got {ch!r}.{suggest(ch, self.channel_names)}"
                    )
                out.append(self.channel_names.index(ch))
            else:
                i = int(ch)
                if not 0 <= i < len(self.channel_names):
                    raise ValueError(
                        f"channel index must be in 0..{len(self.channel_names) - 1}; got {i}."
                    )
                out.append(i)
        return out
