"""PhysioNet records: the catalog of known databases, the local cache, loading, and fetch.

The catalog is one TOML file per database in ``datasets/`` (installed as
``acquire/_catalog/``). Downloads live under :func:`data_dir` in the same tree
as PhysioNet's, ``<data_dir>/<database>/<version>/<record>.<ext>``, and every
file is checked against the database's ``SHA256SUMS.txt`` before it is kept.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import os
import re
import tempfile
import tomllib
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import acquire
from acquire._check import check_positive, suggest
from acquire.sources.recording import AAMI_CLASS, Annotations, Recording


@contextmanager
def _quiet_wfdb():
    """Silence the pandas 3.1 deprecation that wfdb 4.3 triggers on import and in ``rdann``
    (``DataFrame.set_index(inplace=True)``); ecgfe's tests turn warnings into errors."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The inplace keyword", DeprecationWarning)
        yield


with _quiet_wfdb():
    import wfdb

#: Where ``fetch`` downloads from unless ``base_url`` or ``$ECGFE_PHYSIONET_URL`` says otherwise.
DEFAULT_BASE_URL = "https://physionet.org/files"
#: Seconds to wait for a connection or for the next block of a transfer.
TIMEOUT_S = 30.0
#: Physical units in WFDB headers and their factor to volts.
VOLTS_PER_UNIT = {"V": 1.0, "mV": 1e-3, "uV": 1e-6}
#: Bits per sample of the WFDB signal formats whose file size follows from the header.
_BITS_PER_SAMPLE = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12}
_RECORD_NAME = re.compile(r"[A-Za-z0-9_./-]+")
#: What wfdb raises on a malformed header, signal or annotation file.
_WFDB_ERRORS = (ValueError, IndexError, OSError, EOFError)
_CHUNK_BYTES = 1 << 16


class FetchError(RuntimeError):
    """A download could not be completed; nothing partial was kept."""


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
    checkout = Path(acquire.__file__).resolve().parent.parent
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
        Extension of the beat annotation file, read when it exists. Only beat
        symbols (the keys of :data:`acquire.recording.AAMI_CLASS`) are kept.

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
        symbol = np.asarray(ann.symbol)
        beat = np.isin(symbol, list(AAMI_CLASS))
        annotations = Annotations(np.asarray(ann.sample)[beat].astype(np.int64), symbol[beat])
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


# --------------------------------------------------------------------------- fetch


@dataclass(frozen=True)
class FetchReport:
    """What :func:`fetch` did.

    Parameters
    ----------
    database, version : str
        The database fetched.
    directory : Path
        ``<data_dir>/<database>/<version>``.
    records : tuple of str
        Records fetched or found complete.
    downloaded, skipped : tuple of str
        Files (relative to ``directory``) downloaded, and already present with
        the right checksum.
    nbytes_downloaded : int
        Bytes transferred.
    """

    database: str
    version: str
    directory: Path
    records: tuple[str, ...]
    downloaded: tuple[str, ...]
    skipped: tuple[str, ...]
    nbytes_downloaded: int


#: ``progress(nbytes_increment, total_bytes_or_None, filename)``.
Progress = Callable[[int, int | None, str], None]


def fetch(
    db: str,
    records: Iterable[str] | None = None,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Download records into :func:`data_dir`, verifying PhysioNet's SHA-256 sums.

    Parameters
    ----------
    db : str
        Database slug from the catalog, e.g. ``"mitdb"``.
    records : iterable of str or None
        Record names; None fetches every catalog record that the server's
        ``SHA256SUMS.txt`` lists (a mirror may hold a subset).
    base_url : str or None
        Where the ``<db>/<version>/`` tree lives: an http(s) or file URL or a
        local directory. Default ``$ECGFE_PHYSIONET_URL``, else
        :data:`DEFAULT_BASE_URL`.
    progress : callable or None
        ``progress(nbytes_increment, total_bytes_or_None, filename)``, called
        as each block of a file arrives.

    Returns
    -------
    FetchReport

    Raises
    ------
    FetchError
        One-line message for: an unknown database or record (with a
        suggestion), an unsafe record name (checked before any I/O), an
        unreachable server, a file missing on the server, an interrupted
        transfer, or a checksum mismatch. A file is renamed into place only
        after its checksum matches, so a failure leaves no partial file.

    Notes
    -----
    For each record the ``.hea`` header, the catalog's signal files and its
    annotation file are fetched when ``SHA256SUMS.txt`` lists them; files
    already present with the listed checksum are skipped.
    """
    try:
        database = get_database(db)
        if isinstance(records, str):
            records = [records]
        wanted = None if records is None else [database.check_record(r) for r in records]
    except ValueError as exc:
        raise FetchError(str(exc)) from None
    base = _base_url(base_url)
    root = f"{base}/{database.slug}/{database.version}"
    sums = _read_sums(f"{root}/SHA256SUMS.txt")
    listed = {name.rsplit(".", 1)[0] for name in sums}
    if wanted is None:
        wanted = [r for r in database.records if r in listed]
    for record in wanted:
        if f"{record}.hea" not in sums:
            raise FetchError(
                f"record {database.slug}/{record} is not listed in {root}/SHA256SUMS.txt."
                f"{suggest(record, sorted(listed))}"
            )
    directory = data_dir() / database.slug / database.version
    downloaded, skipped, nbytes = [], [], 0
    for record in wanted:
        for name in database.record_files(record):
            if name not in sums:
                continue
            dest = directory / name
            if dest.is_file() and _sha256_file(dest) == sums[name]:
                skipped.append(name)
                continue
            nbytes += _download(f"{root}/{name}", dest, sums[name], progress)
            downloaded.append(name)
    return FetchReport(
        database=database.slug,
        version=database.version,
        directory=directory,
        records=tuple(wanted),
        downloaded=tuple(downloaded),
        skipped=tuple(skipped),
        nbytes_downloaded=nbytes,
    )


def _base_url(base_url: str | None) -> str:
    base = base_url or os.environ.get("ECGFE_PHYSIONET_URL") or DEFAULT_BASE_URL
    scheme = base.split("://", 1)[0].lower() if "://" in base else None
    if scheme is None:
        local = Path(base).expanduser().resolve()
        if not local.is_dir():
            raise FetchError(
                f"PhysioNet mirror directory {local} does not exist; set $ECGFE_PHYSIONET_URL to "
                "a reachable mirror (http(s) URL or local directory)."
            )
        return local.as_uri()
    if scheme not in ("http", "https", "file"):
        raise FetchError(f"base URL must be http(s)://, file:// or a local directory; got {base!r}.")
    return base.rstrip("/")


def _open(url: str):
    """Open ``url``; FetchError with a one-line reason when that fails."""
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            raise FetchError(f"{url} is missing on the server (HTTP 404).") from None
        raise FetchError(f"{url}: server answered HTTP {exc.code} {exc.reason}.") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, FileNotFoundError):
            raise FetchError(f"{url} is missing on the server (no such file).") from None
        raise FetchError(
            f"cannot reach {url} ({exc.reason}); set $ECGFE_PHYSIONET_URL to a reachable "
            "mirror (http(s) URL or local directory)."
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(
            f"cannot reach {url} ({exc or type(exc).__name__}); set $ECGFE_PHYSIONET_URL to a "
            "reachable mirror (http(s) URL or local directory)."
        ) from None


def _read_sums(url: str) -> dict[str, str]:
    """Parse a ``SHA256SUMS.txt`` (``<hex> <path>`` per line) into {path: hex}."""
    with _open(url) as response:
        try:
            text = response.read().decode("utf-8")
        except (OSError, http.client.HTTPException, UnicodeDecodeError) as exc:
            raise FetchError(f"reading {url} failed ({exc or type(exc).__name__}).") from None
    sums = {}
    for line in text.splitlines():
        fields = line.split(maxsplit=1)
        if len(fields) == 2 and re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
            sums[fields[1].strip().lstrip("*")] = fields[0].lower()
    if not sums:
        raise FetchError(f"{url} lists no checksums.")
    return sums


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str, dest: Path, expected_sha256: str, progress: Progress | None) -> int:
    """Stream ``url`` to a temp file beside ``dest``; rename it only if the hash matches."""
    with _open(url) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            digest, done = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                try:
                    for block in iter(lambda: response.read(_CHUNK_BYTES), b""):
                        digest.update(block)
                        out.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(len(block), total, dest.name)
                except (OSError, http.client.HTTPException) as exc:
                    raise FetchError(
                        f"transfer of {url} was interrupted after {done} bytes "
                        f"({exc or type(exc).__name__}); nothing kept, run fetch again."
                    ) from None
            if total is not None and done != total:
                raise FetchError(
                    f"transfer of {url} was interrupted: got {done} of {total} bytes; "
                    "nothing kept, run fetch again."
                )
            if digest.hexdigest() != expected_sha256:
                raise FetchError(
                    f"checksum mismatch for {url}: SHA-256 expected {expected_sha256}, got "
                    f"{digest.hexdigest()}; nothing kept."
                )
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return done
