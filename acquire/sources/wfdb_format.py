"""Strict reading of WFDB files: headers parsed and checked by ecgfe, annotation files walked.

wfdb 4.3 reads a header's sampling frequency of -360 as 250 Hz (its pattern
skips the sign and falls back on WFDB's default), reads a header as ASCII
dropping every other character (a channel named "Ableitung µ" comes back as
"Ableitung"), accepts a truncated annotation file (the rest is dropped) and
reads random bytes as annotations. This module checks every field ecgfe uses
before wfdb reads the samples, and fails with one ValueError line naming the
file and the field.

The WFDB formats: https://physionet.org/physiotools/wag/header-5.htm and
annot-5.htm (G. Moody, PhysioNet).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Physical units in WFDB headers and their factor to volts.
VOLTS_PER_UNIT = {"V": 1.0, "mV": 1e-3, "uV": 1e-6}
#: Sampling frequencies a header may declare (Hz); outside them it is taken for corrupt.
FS_MIN_HZ, FS_MAX_HZ = 1e-3, 1e6
#: Bits per sample of the WFDB signal formats ecgfe reads (those whose file size follows
#: from the header; wfdb unpacks them).
_BITS_PER_SAMPLE = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12}
# Header fields, each a subset of what wfdb 4.3's own patterns read the same way.
_DECIMAL = r"(?:\d+\.?\d*|\.\d+)"
_FS_FIELD = re.compile(rf"({_DECIMAL})(?:/{_DECIMAL}(?:\(-?{_DECIMAL}\))?)?", re.ASCII)
_NAME_FIELD = re.compile(r"[-A-Za-z0-9_]+", re.ASCII)
_FILE_FIELD = re.compile(r"[A-Za-z0-9_][-A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)?", re.ASCII)
_FORMAT_FIELD = re.compile(r"(\d+)(?:x(\d{1,6}))?(?::\d{1,9})?(?:\+(\d{1,15}))?", re.ASCII)
_GAIN_FIELD = re.compile(rf"(-?{_DECIMAL}(?:e[-+]?\d+)?)(?:\(-?\d+\))?(?:/(\S+))?", re.ASCII)
#: Annotation codes wfdb 4.3 names (its ``ann_label_table``), and the MIT format's
#: pseudo-codes: SKIP (a 32-bit interval follows), NUM, SUB, CHN and AUX (a string follows).
_ANN_CODES = frozenset(range(1, 42)) - {15, 17}
_ANN_SKIP, _ANN_AUX, _ANN_FIELDS = 59, 63, frozenset({60, 61, 62})


@dataclass(frozen=True)
class WfdbSignal:
    """One signal line of a WFDB header: the fields ecgfe uses."""

    file_name: str
    fmt: str
    samples_per_frame: int
    byte_offset: int
    units: str
    name: str


@dataclass(frozen=True)
class WfdbHeader:
    """A single-segment WFDB header, parsed and checked by :func:`read_header`."""

    record_name: str
    fs_hz: float
    n_samples: int
    signals: tuple[WfdbSignal, ...]

    def signal_file_bytes(self) -> dict[str, int]:
        """Bytes each signal file must hold: its byte offset plus ``n_samples`` frames."""
        bits: dict[str, int] = {}
        offsets: dict[str, int] = {}
        for s in self.signals:
            bits[s.file_name] = bits.get(s.file_name, 0) + _BITS_PER_SAMPLE[s.fmt] * s.samples_per_frame
            offsets.setdefault(s.file_name, s.byte_offset)
        return {name: offsets[name] + -(-self.n_samples * b // 8) for name, b in bits.items()}


#: The signal line's optional integer fields after the gain, in order (WFDB header(5)).
_INTEGER_FIELDS = ("ADC resolution", "ADC zero", "initial value", "checksum", "block size")
_INTEGER_FIELD = re.compile(r"[+-]?[0-9]{1,18}")


def read_header(path) -> WfdbHeader:
    """Parse a WFDB ``.hea`` file strictly.

    The record line must give a record name (one segment), a positive number
    of signals, a sampling frequency from :data:`FS_MIN_HZ` to
    :data:`FS_MAX_HZ` and a positive number of samples (WFDB's defaults, 250 Hz
    and "unknown", are not assumed); one signal line per signal with a plain
    file name, a format ecgfe reads, a finite non-zero ADC gain and units of
    V, mV or uV, then integers (resolution, zero, initial value, checksum,
    block size) as far as they are given. The text is read as UTF-8 (Latin-1 if it is not), so channel
    names keep their non-ASCII characters.

    Raises
    ------
    ValueError
        One line: the file, the field, what is allowed and what it holds.
    """
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return parse_header(text, str(path))


def parse_header(text: str, source: str) -> WfdbHeader:
    """Parse the text of a WFDB header; ``source`` names it in errors (see :func:`read_header`)."""
    lines = [ln.strip(" \t\r") for ln in text.split("\n")]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ValueError(f"{source}: no record line (the header is empty or only comments)")
    fields = re.split(r"[ \t]+", lines[0])
    name, slash, segments = fields[0].partition("/")
    if slash:
        raise ValueError(f"{source}: multi-segment records are not supported; the record line "
                         f"names {_shown(fields[0])} ({segments} segments)")
    if not _NAME_FIELD.fullmatch(name):
        raise ValueError(f"{source}: record name must be letters, digits, '-' and '_'; got {_shown(name)}")
    n_signals = _count_field(source, "number of signals", fields, 1)
    fs_hz = _fs_field(source, fields)
    n_samples = _count_field(source, "number of samples", fields, 3)
    if len(lines) - 1 != n_signals:
        raise ValueError(f"{source}: the record line declares {n_signals} signal(s) but "
                         f"{len(lines) - 1} signal line(s) follow")
    signals = tuple(_signal_line(f"{source}: signal {i}", i, ln) for i, ln in enumerate(lines[1:]))
    return WfdbHeader(name, fs_hz, n_samples, signals)


def _count_field(source: str, field: str, fields: list[str], index: int) -> int:
    token = fields[index] if len(fields) > index else None
    digits = token is not None and token.isascii() and token.isdigit() and len(token) <= 18
    if not digits or int(token) < 1:
        got = "nothing (WFDB's 'unknown' is not accepted)" if token is None else _shown(token)
        raise ValueError(f"{source}: {field} (field {index + 1} of the record line) must be a "
                         f"positive integer below 1e18; got {got}")
    return int(token)


def _fs_field(source: str, fields: list[str]) -> float:
    token = fields[2] if len(fields) > 2 else None
    match = _FS_FIELD.fullmatch(token or "")
    fs_hz = float(match[1]) if match else math.nan
    if not FS_MIN_HZ <= fs_hz <= FS_MAX_HZ:
        got = "nothing (WFDB's default of 250 Hz is not assumed)" if token is None else _shown(token)
        raise ValueError(f"{source}: sampling frequency (field 3 of the record line) must be a "
                         f"number from {FS_MIN_HZ:g} to {FS_MAX_HZ:g} Hz; got {got}")
    return fs_hz


def _signal_line(where: str, index: int, line: str) -> WfdbSignal:
    parts = re.split(r"[ \t]+", line, maxsplit=8)
    if not _FILE_FIELD.fullmatch(parts[0]):
        raise ValueError(f"{where}: file name must be a plain name of letters, digits, '-' and "
                         f"'_' with one optional extension; got {_shown(parts[0])}")
    fmt = _FORMAT_FIELD.fullmatch(parts[1]) if len(parts) > 1 else None
    if fmt is None or fmt[1] not in _BITS_PER_SAMPLE or fmt[2] == "0":
        got = _shown(parts[1]) if len(parts) > 1 else "nothing"
        raise ValueError(f"{where}: format must be one of {', '.join(_BITS_PER_SAMPLE)} "
                         f"(optionally xN, :skew, +offset); got {got}")
    gain = _GAIN_FIELD.fullmatch(parts[2]) if len(parts) > 2 else None
    if gain is None or not math.isfinite(float(gain[1])) or float(gain[1]) == 0:
        got = _shown(parts[2]) if len(parts) > 2 else "nothing"
        raise ValueError(f"{where}: ADC gain must be a finite non-zero number of adu per unit "
                         f"(0 or none means uncalibrated); got {got}")
    units = gain[2] or "mV"
    if units not in VOLTS_PER_UNIT:
        raise ValueError(f"{where}: units must be one of {', '.join(VOLTS_PER_UNIT)}; got {_shown(units)}")
    for i, field in enumerate(_INTEGER_FIELDS, start=3):
        if len(parts) > i and not _INTEGER_FIELD.fullmatch(parts[i]):
            raise ValueError(f"{where}: {field} (field {i + 1} of the signal line) must be an integer; "
                             f"got {_shown(parts[i])}")
    name = parts[8].strip() if len(parts) == 9 else f"signal {index}"
    return WfdbSignal(parts[0], fmt[1], int(fmt[2] or 1), int(fmt[3] or 0), units, name)


def _shown(token: str) -> str:
    """``repr(token)``, cut to 40 characters: a field of a random file can be long."""
    return repr(token if len(token) <= 40 else token[:37] + "...")


def check_annotation_file(ann_file: Path, n_samples: int) -> None:
    """Walk a WFDB (MIT format) annotation file: known codes, samples inside the record, and the
    end-of-file word last. wfdb's reader accepts a truncated file (it drops the rest) and reads
    random bytes as annotations; this raises ValueError naming the file instead."""
    data = ann_file.read_bytes()
    if len(data) % 2:
        raise ValueError(f"{ann_file} is truncated or no annotation file: it has an odd number "
                         f"of bytes ({len(data)})")
    words = np.frombuffer(data, "<u2").tolist()
    i = count = sample = 0
    while i < len(words):
        code, value = words[i] >> 10, words[i] & 0x3FF
        if code == 0 and value == 0:
            if i != len(words) - 1:
                raise ValueError(f"{ann_file} is corrupt: {2 * (len(words) - i - 1)} bytes follow "
                                 f"its end-of-file word at byte {2 * i}")
            return
        if code == _ANN_SKIP:
            if i + 2 >= len(words):
                break
            skip = words[i + 1] << 16 | words[i + 2]
            sample, i = sample + skip - (skip >> 31 << 32), i + 3
            continue
        if code == _ANN_AUX or code in _ANN_FIELDS:
            i += 1 + ((value + 1) // 2 if code == _ANN_AUX else 0)
            continue
        if code not in _ANN_CODES:
            raise ValueError(f"{ann_file} is corrupt or no annotation file: code {code} at byte "
                             f"{2 * i} is no WFDB annotation code")
        sample, count, i = sample + value, count + 1, i + 1
        if not 0 <= sample < n_samples:
            raise ValueError(f"{ann_file} is corrupt: annotation {count} is at sample {sample}, "
                             f"outside the record's 0..{n_samples - 1}")
    raise ValueError(f"{ann_file} is truncated: it ends without the end-of-file word "
                     f"({count} annotations read)")
