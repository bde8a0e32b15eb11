"""The value type for a loaded ECG (signals in volts, rate, channels, annotations, provenance)
and the annotation-symbol tables of WFDB and AAMI EC57."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from acquire._check import check_positive, suggest

#: Annotation symbols WFDB counts as QRS complexes: the codes its ``isqrs``
#: table marks (``lib/ecgmap.h``: NORMAL .. UNKNOWN, BBB, LEARN, FLWAV, AESC,
#: SVESC, PFUS, RONT) by their mnemonics (``lib/annot.c``). Source: WFDB 10.7
#: (G. Moody, PhysioNet).
QRS_SYMBOLS = frozenset("NLRaVFJASEj/QB?!enfr")

#: QRS symbols mapped to the AAMI EC57 classes (N, S, V, F, Q). Source:
#: ANSI/AAMI EC57; de Chazal et al., IEEE TBME 51(7), 2004, Table I, for the
#: MIT-BIH symbols; the symbols MIT-BIH does not use follow their kind: ``B``
#: (bundle branch block) as L and R, ``n`` (supraventricular escape) as the
#: escape beats e and j, ``r`` (R-on-T) as V, ``?`` (learning) as Q (bxb's
#: ``amap``). ``!`` (ventricular flutter wave) has no class: bxb's ``amap``
#: labels it a non-beat although ``isqrs`` reads it as a QRS.
AAMI_CLASS = {
    **dict.fromkeys("NLRejBn", "N"),
    **dict.fromkeys("AaJS", "S"),
    **dict.fromkeys("VEr", "V"),
    "F": "F",
    **dict.fromkeys("/fQ?", "Q"),
}

#: Reference annotation symbols that open and close ventricular flutter or
#: fibrillation episodes (WFDB VFON and VFOFF).
VF_ON, VF_OFF = "[", "]"


def retime_samples(sample, fs_hz: float, fs_out_hz: float, delay_s: float = 0.0) -> np.ndarray:
    """Sample indices at ``fs_hz`` moved to ``fs_out_hz`` and delayed by ``delay_s``.

    ``n_out = floor((n / fs_hz + delay_s) fs_out_hz + 1/2)``: the nearest
    output sample, halves rounded up as WFDB's ``strtim`` rounds.
    """
    t_s = np.asarray(sample, dtype=np.int64) / check_positive("fs_hz", fs_hz) + float(delay_s)
    return np.floor(t_s * check_positive("fs_out_hz", fs_out_hz) + 0.5).astype(np.int64)


@dataclass(frozen=True)
class Annotations:
    """Reference annotations of a record: beats, and the others bxb reads.

    Parameters
    ----------
    sample : ndarray of int, shape (n,)
        Sample index of each annotation at the recording's ``fs_hz``.
    symbol : ndarray of str, shape (n,)
        WFDB mnemonic of each annotation: beats (:data:`QRS_SYMBOLS`),
        ventricular flutter/fibrillation bounds (:data:`VF_ON`,
        :data:`VF_OFF`), rhythm changes ``+``, noise ``~`` and the rest.
    delay_s : float
        How far these annotations, and the signal they belong to, lag the
        original record (0 as loaded; a resampler's delay after resampling).
        Record time is ``sample / fs_hz - delay_s``.
    """

    sample: np.ndarray
    symbol: np.ndarray
    delay_s: float = 0.0

    @property
    def is_beat(self) -> np.ndarray:
        """True for the QRS annotations (:data:`QRS_SYMBOLS`)."""
        return np.array([s in QRS_SYMBOLS for s in self.symbol.tolist()], dtype=bool)

    @property
    def aami_class(self) -> np.ndarray:
        """AAMI class (N, S, V, F or Q) of each annotation; "" where it is no classified beat."""
        return np.array([AAMI_CLASS.get(s, "") for s in self.symbol.tolist()], dtype="<U1")

    def beats(self) -> "Annotations":
        """The QRS annotations only."""
        keep = self.is_beat
        return Annotations(self.sample[keep], self.symbol[keep], self.delay_s)

    def window(self, start: int, stop: int) -> "Annotations":
        """Annotations with ``start <= sample < stop``, re-indexed to start at 0."""
        keep = (self.sample >= start) & (self.sample < stop)
        return Annotations(self.sample[keep] - start, self.symbol[keep], self.delay_s)

    def retimed(self, fs_hz: float, fs_out_hz: float, delay_s: float = 0.0) -> "Annotations":
        """All annotations at ``fs_out_hz``, delayed by ``delay_s`` more (:func:`retime_samples`)."""
        return Annotations(retime_samples(self.sample, fs_hz, fs_out_hz, delay_s), self.symbol,
                           self.delay_s + float(delay_s))


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
        Reference annotations (beats, VF episodes, rhythm and noise marks),
        when an annotation file or generator provides them.
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
        idx, start, stop = self.window_indices(channels, start_s, duration_s)
        ann = self.annotations.window(start, stop) if self.annotations is not None else None
        prov = dict(self.provenance, start_s=float(start_s), duration_s=(stop - start) / self.fs_hz)
        return Recording(
            signals_v=self.signals_v[idx, start:stop].copy(),
            fs_hz=self.fs_hz,
            channel_names=tuple(self.channel_names[i] for i in idx),
            annotations=ann,
            provenance=prov,
        )

    def window_indices(self, channels=None, start_s: float = 0.0,
                       duration_s: float | None = None) -> tuple[list[int], int, int]:
        """``(channel indices, start, stop)``: what :meth:`select` keeps, samples ``start .. stop - 1``.

        Arguments and errors as :meth:`select` (a streamed source reads the
        same window from the files without loading the record).
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
                    f"length ({self.duration_s:g} s); shorten duration_s or start earlier."
                )
        return idx, start, stop

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
