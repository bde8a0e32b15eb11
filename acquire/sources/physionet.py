"""PhysioNet records: the catalog of known databases, the local cache, and loading.

The catalog is one TOML file per database in ``datasets/`` (installed as
``acquire/_catalog/``). Downloads live under :func:`data_dir` in the same tree
as PhysioNet's, ``<data_dir>/<database>/<version>/<record>.<ext>``, and every
file is checked against the database's ``SHA256SUMS.txt`` before it is kept.

Loading is strict: the header is parsed and checked by
:mod:`acquire.sources.wfdb_format`, the signal files must be as long as it
says, and a catalog record's annotation file must be present and complete.
Each failure is one ValueError line naming the file (and the field).
Opening (:func:`open_physionet`, :func:`open_wfdb_path`) does all that without
reading a sample; the samples are then read whole or a block at a time
(:meth:`WfdbFiles.read_v`), bit-identical either way.
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
from acquire.sources.wfdb_format import VOLTS_PER_UNIT, WfdbHeader, check_annotation_file, read_header


@contextmanager
def _quiet_wfdb():
    """Silence the pandas 3.1 deprecation that wfdb 4.3 triggers on import and in ``rdann``
    (``DataFrame.set_index(inplace=True)``); ecgfe's tests turn warnings into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The inplace keyword", DeprecationWarning)
        yield


with _quiet_wfdb():
    import wfdb

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


@dataclass(frozen=True, order=True)
class LocalRecord:
    """A catalog record with at least one of its files under :func:`data_dir`.

    Parameters
    ----------
    database, version, record : str
        Where it is: ``<data_dir>/<database>/<version>/<record>.*``.
    problem : str or None
        Why it cannot be loaded (a file missing or truncated, a malformed
        header), or None when it is complete.
    """

    database: str
    version: str
    record: str
    problem: str | None = None


def local_records() -> list[LocalRecord]:
    """Every catalog record with a file under :func:`data_dir`, complete or not, sorted.

    A record is complete when its header is valid, the signal files it names
    are as long as it says and the catalog's annotation file is present.
    """
    found = []
    for slug, db in catalog().items():
        for version_dir in sorted(p for p in (data_dir() / slug).glob("*") if p.is_dir()):
            for record in db.records:
                if any((version_dir / name).is_file() for name in db.record_files(record)):
                    problem = _record_problem(version_dir / record, db.annotator)
                    found.append(LocalRecord(slug, version_dir.name, record, problem))
    return sorted(found)


def _record_problem(path: Path, annotator: str | None) -> str | None:
    try:
        _check_files(path, annotator, required=True)
    except ValueError as exc:
        return str(exc)
    return None


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
        Signals in volts, shape (n_channels, n_samples); rate and channel
        names from the header (:func:`read_header`); provenance ``{"path": ...}``.

    Raises
    ------
    FileNotFoundError
        When the header is missing.
    ValueError
        One line naming the file: a malformed header field, a signal file
        missing or shorter than the header says, a truncated or corrupt
        annotation file.
    """
    return open_wfdb_path(path, annotator=annotator).load()


def open_wfdb_path(path, *, annotator: str | None = "atr") -> WfdbFiles:
    """A local WFDB record checked as :func:`load_wfdb_path` does, its samples not read."""
    path = Path(path)
    if not path.with_name(path.name + ".hea").is_file():
        raise FileNotFoundError(f"no WFDB header {path.with_name(path.name + '.hea')}")
    return _open(path, annotator, {}, required=False, hint="")


def load_physionet(name: str) -> Recording:
    """Load a downloaded PhysioNet record, ``"<db>/<record>"`` (e.g. ``"mitdb/100"``).

    The record is read from ``<data_dir>/<db>/<version>/<record>``; its
    annotations come from the catalog's annotator, whose file must be there.
    Provenance holds ``database``, ``version``, ``record`` and ``path``.

    Raises
    ------
    ValueError
        Unknown database or record (with a suggestion), or a record that is
        incomplete (a file missing, among them the catalog's annotation file)
        or corrupt; the message names the file and ends with the fetch command.
    FileNotFoundError
        When none of the record's files is downloaded; the message gives the
        fetch command.
    """
    return open_physionet(name).load()


def open_physionet(name: str) -> WfdbFiles:
    """A downloaded PhysioNet record checked as :func:`load_physionet` does, its samples not read."""
    slug, slash, record = name.partition("/")
    if not slash:
        raise ValueError(f"name must be '<database>/<record>', e.g. 'mitdb/100'; got {name!r}.")
    db = get_database(slug)
    db.check_record(record)
    version_dir = data_dir() / db.slug / db.version
    hint = f"; run 'ecgfe fetch {slug} {record}'"
    if not any((version_dir / file).is_file() for file in db.record_files(record)):
        raise FileNotFoundError(f"record {slug}/{record} is not downloaded{hint}.")
    provenance = {"database": slug, "version": db.version, "record": record}
    return _open(version_dir / record, db.annotator, provenance, required=True,
                 hint=f"; record {slug}/{record} is incomplete or corrupt{hint}")


@dataclass(frozen=True)
class WfdbFiles:
    """A WFDB record on disk whose files passed the loader's checks, its samples not read yet.

    Parameters
    ----------
    path : Path
        Record path without extension.
    header : WfdbHeader
        The checked header.
    annotations : Annotations or None
        The reference annotations, read whole (they are small).
    provenance : dict
        As the loaded record's, ``path`` included.
    annotator : str or None
        Extension of the annotation file.
    required : bool
        Whether the annotation file must be there (a catalog record).
    hint : str
        Appended to every error (the fetch command for a catalog record).
    """

    path: Path
    header: WfdbHeader
    annotations: Annotations | None
    provenance: dict
    annotator: str | None
    required: bool
    hint: str

    def read_v(self, sampfrom: int = 0, sampto: int | None = None, channels=None) -> np.ndarray:
        """Samples ``sampfrom`` to ``sampto`` of ``channels`` (indices; None: all) in volts.

        wfdb's physical values ``(d - baseline) / gain`` times the unit's
        factor to volts (:data:`VOLTS_PER_UNIT`), element by element, so a
        block is bit-identical to the same samples of the whole record.
        Shape (n_channels, n), C-contiguous.

        Raises
        ------
        ValueError
            One line: the loader's message for a file found missing or
            truncated on a second look (it changed since it was checked), else
            wfdb's failure to read the signal file (a short file among them).
        """
        channels = list(range(len(self.header.signals))) if channels is None else list(channels)
        sampto = self.header.n_samples if sampto is None else sampto
        try:
            with _quiet_wfdb():
                record = wfdb.rdrecord(str(self.path), sampfrom=sampfrom, sampto=sampto, channels=channels)
        except _WFDB_ERRORS as exc:
            _checked(self.path, self.annotator, required=self.required, hint=self.hint)
            raise ValueError(f"{self.path}.hea or its signal file is corrupt: wfdb cannot read the record "
                             f"({_one_line(exc)}){self.hint}.") from exc
        scale = np.array([VOLTS_PER_UNIT[self.header.signals[c].units] for c in channels])
        return np.ascontiguousarray((record.p_signal * scale).T)

    def recording(self, signals_v: np.ndarray) -> Recording:
        """The record with these signals (all channels, all samples)."""
        return Recording(signals_v=signals_v, fs_hz=self.header.fs_hz,
                         channel_names=tuple(s.name for s in self.header.signals),
                         annotations=self.annotations, provenance=self.provenance)

    def load(self) -> Recording:
        """The whole record in memory."""
        return self.recording(self.read_v())

    def outline(self) -> Recording:
        """The record with zero-byte samples (dtype ``V0``): what :meth:`Recording.select` needs to
        check a window and select its channels, annotations and provenance without reading a sample."""
        return self.recording(np.empty((len(self.header.signals), self.header.n_samples), dtype="V0"))


def _open(path: Path, annotator: str | None, provenance: dict, *, required: bool, hint: str) -> WfdbFiles:
    header, ann_file = _checked(path, annotator, required=required, hint=hint)
    try:
        annotations = _read_annotations(path, ann_file, annotator, header.n_samples) if ann_file else None
    except ValueError as exc:
        raise ValueError(f"{exc}{hint}.") from None
    return WfdbFiles(path, header, annotations, {**provenance, "path": str(path)}, annotator, required, hint)


def _checked(path: Path, annotator: str | None, *, required: bool, hint: str) -> tuple[WfdbHeader, Path | None]:
    """:func:`_check_files`, its error ending with ``hint``."""
    try:
        return _check_files(path, annotator, required=required)
    except ValueError as exc:
        raise ValueError(f"{exc}{hint}.") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _check_files(path: Path, annotator: str | None, *, required: bool) -> tuple[WfdbHeader, Path | None]:
    """The header, checked; every signal file present and long enough; the annotation file
    (None when absent and not ``required``). ValueError naming the file otherwise."""
    header_file = path.with_name(path.name + ".hea")
    if not header_file.is_file():
        raise ValueError(f"{header_file} is missing")
    header = read_header(header_file)
    for file_name, expected in header.signal_file_bytes().items():
        file = path.parent / file_name
        if not file.is_file():
            raise ValueError(f"{file} is missing")
        size = file.stat().st_size
        if size < expected:
            raise ValueError(f"{file} is truncated: {size} of the {expected} bytes that "
                             f"{header_file.name} implies for its number of samples ({header.n_samples})")
    ann_file = path.with_name(f"{path.name}.{annotator}") if annotator else None
    if ann_file is not None and not ann_file.is_file():
        if required:
            raise ValueError(f"{ann_file} (the catalog's reference annotations) is missing")
        ann_file = None
    return header, ann_file


def _read_annotations(path: Path, ann_file: Path, annotator: str, n_samples: int) -> Annotations:
    """Annotations of a file that :func:`check_annotation_file` finds complete, read by wfdb."""
    check_annotation_file(ann_file, n_samples)
    try:
        with _quiet_wfdb():
            ann = wfdb.rdann(str(path), annotator)
    except _WFDB_ERRORS as exc:
        raise ValueError(f"{ann_file} is corrupt: wfdb cannot read it ({_one_line(exc)})") from exc
    return Annotations(np.asarray(ann.sample, dtype=np.int64), np.asarray(ann.symbol, dtype=str))
