"""PhysioNet records: the catalog of known databases, the local cache, and loading.

The catalog is one TOML file per database in ``datasets/`` (installed as
``acquire/_catalog/``). Downloads live under :func:`data_dir` in the same tree
as PhysioNet's, ``<data_dir>/<database>/<version>/<record>.<ext>``, and every
file is checked against the database's ``SHA256SUMS.txt`` before it is kept.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import tomllib
import warnings

from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from acquire._check import check_positive, suggest
from acquire.sources.recording import Annotations, Recording


@contextmanager
def _quiet_wfdb():
    """Silence the pandas 3.1 deprecation that wfdb 4.3 triggers on import and in ``rdann``
    (``DataFrame.set_index(inplace=True)``); ecgfe's tests turn warnings into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The inplace keyword", DeprecationWarning)
        yield


with _quiet_wfdb():
    import wfdb

#: Physical units in WFDB headers and their factor to volts.
VOLTS_PER_UNIT = {"V": 1.0, "mV": 1e-3, "uV": 1e-6}
#: Bits per sample of the WFDB signal formats whose file size follows from the header.
_BITS_PER_SAMPLE = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12}
_RECORD_NAME = re.compile(r"[A-Za-z0-9_./-]+")
#: What wfdb raises on a malformed header, signal or annotation file.
_WFDB_ERRORS = (ValueError, IndexError, OSError, EOFError)


@dataclass(frozen=True)
class Database:
    """One PhysioNet database as described by its catalog file.

    Parameters
    ----------
    slug : str
        PhysioNet's short name, e.g. ``"mitdb"``.
    title : str
        Full name.
    version : str
        Published version, e.g. ``"1.0.0"``; part of every file's URL and path.
    fs_hz : float
        Sampling rate of the records.
    records : tuple of str
        Record names as in the database's ``RECORDS`` file.
    channels : tuple of str
        Lead names that occur in the headers (each record's own names come
        from its header).
    signal_extensions : tuple of str
        Extensions of each record's signal files, besides the ``.hea`` header.
    annotator : str or None
        Extension of the reference beat annotation file, or None.
    licence, citation : str
        Terms of use and what to cite.
    """

    slug: str
    title: str
    version: str
    fs_hz: float
    records: tuple[str, ...]
    channels: tuple[str, ...]
    signal_extensions: tuple[str, ...]
    annotator: str | None
    licence: str
    citation: str

    def __post_init__(self):
        check_positive("fs_hz", self.fs_hz)
        if not self.records:
            raise ValueError(f"database {self.slug!r} lists no records.")
        for record in self.records:
            check_record_name(record)

    def check_record(self, record: str) -> str:
        """Return ``record`` if this database lists it, else raise ValueError with a hint."""
        check_record_name(record)
        if record not in self.records:
            raise ValueError(
                f"unknown record {self.slug}/{record}; {self.slug} has {len(self.records)} "
                f"records ({self.records[0]} ... {self.records[-1]}).{suggest(record, self.records)}"
            )
        return record

    def record_files(self, record: str) -> tuple[str, ...]:
        """Files of ``record`` (relative to the version folder): header, signals, annotations."""
        extensions = ("hea", *self.signal_extensions, *([self.annotator] if self.annotator else []))
        return tuple(f"{record}.{ext}" for ext in extensions)


def check_record_name(record: str) -> str:
    """Return ``record`` if it is a safe relative record name, else raise ValueError.

    Allowed: letters, digits and ``_ . / -``, no leading ``/``, no empty, ``.``
    or ``..`` path component (``patient001/s0010_re`` is fine).
    """
    safe = (
        isinstance(record, str)
        and _RECORD_NAME.fullmatch(record)
        and all(part not in ("", ".", "..") for part in record.split("/"))
    )
    if not safe:
        raise ValueError(
            "record name must be a relative path of letters, digits and '_.-/' without "
            f"'..' or a leading '/'; got {record!r}."
        )
    return record


def _catalog_root():
    """``datasets/`` in a checkout or editable install, else the installed ``acquire/_catalog``.

    A checkout is recognised by ``pyproject.toml`` beside ``datasets/``, so that a
    site-packages ``datasets`` (the Hugging Face package) is never taken for it.
    """
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "datasets").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "datasets"
    return importlib.resources.files("acquire") / "_catalog"


@cache
def _load_catalog() -> tuple[Database, ...]:
    databases = []
    for entry in sorted(_catalog_root().iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        raw = tomllib.loads(entry.read_text(encoding="utf-8"))
        db = Database(
            slug=raw["slug"],
            title=raw["title"],
            version=raw["version"],
            fs_hz=float(raw["fs_hz"]),
            records=tuple(raw["records"]),
            channels=tuple(raw["channels"]),
            signal_extensions=tuple(raw["signal_extensions"]),
            annotator=raw.get("annotator"),
            licence=raw["licence"],
            citation=raw["citation"],
        )
        if entry.name != f"{db.slug}.toml":
            raise ValueError(f"catalog file {entry.name} describes {db.slug!r}; name it {db.slug}.toml.")
        databases.append(db)
    return tuple(databases)


def catalog() -> dict[str, Database]:
    """The databases ecgfe knows, by slug."""
    return {db.slug: db for db in _load_catalog()}


def get_database(slug: str) -> Database:
    """Return the catalog entry for ``slug``; ValueError with a hint if unknown."""
    known = catalog()
    if slug not in known:
        raise ValueError(f"unknown database {slug!r}; known: {', '.join(known)}.{suggest(slug, known)}")
    return known[slug]


def data_dir() -> Path:
    """Directory holding downloaded records.

    ``$ECGFE_DATA_DIR`` if set, else ``$XDG_CACHE_HOME/ecgfe``, else
    ``~/.cache/ecgfe``. Records are at ``<data_dir>/<db>/<version>/<record>.*``.
    """
    if os.environ.get("ECGFE_DATA_DIR"):
        return Path(os.environ["ECGFE_DATA_DIR"]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "ecgfe"


def local_records() -> list[tuple[str, str, str]]:
    """``(database, version, record)`` for every record header under :func:`data_dir`, sorted."""
    found = []
    for slug in catalog():
        for version_dir in sorted(p for p in (data_dir() / slug).glob("*") if p.is_dir()):
            for header in version_dir.rglob("*.hea"):
                record = header.relative_to(version_dir).with_suffix("").as_posix()
                found.append((slug, version_dir.name, record))
    return sorted(found)


# --------------------------------------------------------------------------- loading


def load_wfdb_path(path, *, annotator: str | None = "atr") -> Recording:
    """Load a local WFDB record.

    Parameters
    ----------
    path : str or Path
        Record path without extension (``.../mitdb/1.0.0/100``).
    annotator : str or None
        Extension of the reference annotation file, read when it exists.
        Every annotation is kept: beats, VF episode bounds ``[`` ``]``,
        rhythm ``+``, noise ``~`` and the others, as WFDB ``bxb`` reads them
        (:class:`acquire.sources.recording.Annotations`).

    Returns
    -------
    Recording
        Signals in volts, shape (n_channels, n_samples); channel names from
        the header; provenance ``{"path": ...}``.

    Raises
    ------
    FileNotFoundError
        When the header is missing.
    ValueError
        When the record is corrupt or truncated, or a unit is not a voltage.
    """
    return _load(Path(path), annotator, {}, "re-fetch it")


def load_physionet(name: str) -> Recording:
    """Load a downloaded PhysioNet record, ``"<db>/<record>"`` (e.g. ``"mitdb/100"``).

    The record is read from ``<data_dir>/<db>/<version>/<record>``; annotations
    come from the catalog's annotator. Provenance holds ``database``,
    ``version``, ``record`` and ``path``.

    Raises
    ------
    ValueError
        Unknown database or record (with a suggestion), or a corrupt record.
    FileNotFoundError
        When the record is not downloaded; the message gives the fetch command.
    """
    slug, slash, record = name.partition("/")
    if not slash:
        raise ValueError(f"name must be '<database>/<record>', e.g. 'mitdb/100'; got {name!r}.")
    db = get_database(slug)
    db.check_record(record)
    path = data_dir() / db.slug / db.version / record
    if not path.with_name(path.name + ".hea").is_file():
        raise FileNotFoundError(
            f"record {slug}/{record} is not downloaded; run: ecgfe fetch {slug} {record}"
        )
    provenance = {"database": slug, "version": db.version, "record": record}
    return _load(path, db.annotator, provenance, f"re-fetch it: ecgfe fetch {slug} {record}")


def _load(path: Path, annotator: str | None, provenance: dict, refetch: str) -> Recording:
    header_file = path.with_name(path.name + ".hea")
    if not header_file.is_file():
        raise FileNotFoundError(f"no WFDB header {header_file}")
    try:
        header = wfdb.rdheader(str(path))
    except _WFDB_ERRORS as exc:
        raise ValueError(
            f"{header_file} is corrupt or unreadable ({_one_line(exc)}); {refetch}"
        ) from exc
    _check_signal_files(header, path.parent, refetch)
    ann_file = path.with_name(f"{path.name}.{annotator}") if annotator else None
    try:
        with _quiet_wfdb():
            record = wfdb.rdrecord(str(path))
            ann = wfdb.rdann(str(path), annotator) if ann_file and ann_file.is_file() else None
    except _WFDB_ERRORS as exc:
        raise ValueError(
            f"record {path} is corrupt or truncated ({_one_line(exc)}); {refetch}"
        ) from exc
    scale = [_volts_per_unit(u, ch, header_file) for u, ch in zip(record.units, record.sig_name)]
    annotations = None
    if ann is not None:
        annotations = Annotations(np.asarray(ann.sample, dtype=np.int64), np.asarray(ann.symbol, dtype=str))
    return Recording(
        signals_v=np.ascontiguousarray((record.p_signal * np.array(scale)).T),
        fs_hz=float(record.fs),
        channel_names=tuple(record.sig_name),
        annotations=annotations,
        provenance={**provenance, "path": str(path)},
    )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_signal_files(header, directory: Path, refetch: str) -> None:
    """Raise ValueError naming a signal file that is missing or shorter than the header says."""
    frame_bits: dict[str, int | None] = {}
    for file_name, fmt, spf in zip(header.file_name, header.fmt, header.samps_per_frame):
        bits, so_far = _BITS_PER_SAMPLE.get(fmt), frame_bits.get(file_name, 0)
        frame_bits[file_name] = None if bits is None or so_far is None else so_far + bits * spf
    offsets = dict(zip(header.file_name, header.byte_offset))
    for file_name, bits in frame_bits.items():
        file = directory / file_name
        if not file.is_file():
            raise ValueError(f"{file} is missing; the record is incomplete; {refetch}")
        if bits is None:
            continue  # packed or compressed format: wfdb's own checks apply
        expected = (offsets[file_name] or 0) + -(-header.sig_len * bits // 8)
        size = file.stat().st_size
        if size < expected:
            raise ValueError(
                f"{file} is corrupt or truncated ({size} of the {expected} bytes that "
                f"{header.record_name}.hea expects); {refetch}"
            )


def _volts_per_unit(unit: str, channel: str, header_file: Path) -> float:
    if unit not in VOLTS_PER_UNIT:
        raise ValueError(
            f"{header_file}: channel {channel!r} has units {unit!r}; "
            f"expected one of {', '.join(VOLTS_PER_UNIT)}."
        )
    return VOLTS_PER_UNIT[unit]
