"""Download PhysioNet records into the local cache: each record complete and verified, or not at all.

A record needs its header, the signal files the header names and the
annotation file the catalog declares; each must be listed in the database's
``SHA256SUMS.txt``. Every file streams to a hidden ``.part`` file beside its
target, bounded in time (:data:`DEADLINE_S`) and size (:data:`MAX_FILE_BYTES`),
and the record's files are renamed into place, header last, only when every
one matched its SHA-256. On any failure, an interrupt or SIGTERM included, the
record's ``.part`` files are removed; the next fetch sweeps those a killed
process left behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import math
import os
import re
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from acquire._check import suggest
from acquire.sources.physionet import Database, data_dir, get_database
from acquire.sources.wfdb_format import WfdbHeader, read_header

#: Where ``fetch`` downloads from unless ``base_url`` or ``$ECGFE_PHYSIONET_URL`` says otherwise.
DEFAULT_BASE_URL = "https://physionet.org/files"
#: Seconds to wait for a connection or for the next block of a transfer.
TIMEOUT_S = 30.0
#: Seconds one file's transfer may take in all; ``deadline_s=`` or ``$ECGFE_FETCH_DEADLINE_S``
#: override it.
DEADLINE_S = 300.0
#: Bytes one file may have; ``max_bytes=`` or ``$ECGFE_FETCH_MAX_BYTES`` override it.
MAX_FILE_BYTES = 1 << 30
_SUMS_MAX_BYTES = 64 << 20
_CHUNK_BYTES = 1 << 16
_PART_NAME = re.compile(r"\..+\.[0-9a-f]{12}\.part")


class FetchError(RuntimeError):
    """A download could not be completed; nothing partial was kept."""


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
        Records now complete in ``directory``: fetched or found complete.
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


@dataclass(frozen=True)
class _Limits:
    """Bounds on each file's transfer, and the progress callback."""

    deadline_s: float
    max_bytes: int
    progress: Progress | None


def fetch(
    db: str,
    records: Iterable[str] | None = None,
    *,
    base_url: str | None = None,
    progress: Progress | None = None,
    deadline_s: float | None = None,
    max_bytes: int | None = None,
) -> FetchReport:
    """Download complete records into :func:`data_dir`, verifying PhysioNet's SHA-256 sums.

    Parameters
    ----------
    db : str
        Database slug from the catalog, e.g. ``"mitdb"``.
    records : iterable of str or None
        Record names; None fetches every catalog record whose header the
        server's ``SHA256SUMS.txt`` lists (a mirror may hold a subset).
    base_url : str or None
        Where the ``<db>/<version>/`` tree lives: an http(s) or file URL or a
        local directory. Default ``$ECGFE_PHYSIONET_URL``, else
        :data:`DEFAULT_BASE_URL`.
    progress : callable or None
        ``progress(nbytes_increment, total_bytes_or_None, filename)``, called
        as each block of a file arrives.
    deadline_s : float or None
        Longest time one file's transfer may take. Default
        ``$ECGFE_FETCH_DEADLINE_S``, else :data:`DEADLINE_S`.
    max_bytes : int or None
        Largest file accepted, whether or not the server sends its length.
        Default ``$ECGFE_FETCH_MAX_BYTES``, else :data:`MAX_FILE_BYTES`.

    Returns
    -------
    FetchReport

    Raises
    ------
    FetchError
        One line, naming the file, for: an unknown database or record (with a
        suggestion), an unsafe record name (checked before any I/O), an
        unreachable server, a file the record needs that ``SHA256SUMS.txt``
        does not list or the server lacks, a header that is no valid WFDB
        header, an interrupted, too slow or too large transfer, or a checksum
        mismatch. The failing record's files are not renamed into place and
        its ``.part`` files are removed; records fetched before it stay.
    ValueError
        ``deadline_s`` or ``max_bytes`` (or their variables) not a positive number.
    OSError
        The data directory cannot be written.

    Notes
    -----
    Files already present with the listed checksum are skipped. While the
    files download in the main thread, SIGTERM (when it has its default
    action) first removes the ``.part`` files, then terminates the process as
    SIGTERM does. Each wait for data lasts at most ``min(TIMEOUT_S,
    deadline_s)``, so a transfer ends within that of its deadline.
    """
    database, wanted = _resolve(db, records)
    limits = _Limits(
        _setting("deadline_s", deadline_s, "ECGFE_FETCH_DEADLINE_S", DEADLINE_S, float),
        _setting("max_bytes", max_bytes, "ECGFE_FETCH_MAX_BYTES", MAX_FILE_BYTES, int),
        progress,
    )
    root = f"{_base_url(base_url)}/{database.slug}/{database.version}"
    directory = data_dir() / database.slug / database.version
    _sweep(directory)
    sums_url = f"{root}/SHA256SUMS.txt"
    sums = _read_sums(sums_url, limits)
    wanted = _listed_records(database, wanted, sums, sums_url)
    downloaded, skipped, nbytes = [], [], 0
    with _sigterm_removes_parts():
        for record in wanted:
            got = _RecordFetch(root, directory, sums, limits).run(database, record)
            downloaded += got.downloaded
            skipped += got.skipped
            nbytes += got.nbytes
    return FetchReport(
        database=database.slug,
        version=database.version,
        directory=directory,
        records=tuple(wanted),
        downloaded=tuple(downloaded),
        skipped=tuple(skipped),
        nbytes_downloaded=nbytes,
    )


def _resolve(db: str, records) -> tuple[Database, list[str] | None]:
    """The catalog entry and the checked record names; FetchError before any I/O."""
    try:
        database = get_database(db)
        if isinstance(records, str):
            records = [records]
        wanted = None if records is None else [database.check_record(r) for r in records]
    except ValueError as exc:
        raise FetchError(str(exc)) from None
    return database, wanted


def _setting(name: str, value, variable: str, default, kind: type):
    """``value``, else ``$variable``, else ``default``; ValueError unless a positive number."""
    source, raw = (name, value) if value is not None else (variable, os.environ.get(variable))
    if raw is None:
        return default
    try:
        number = kind(raw)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        unit = "seconds" if kind is float else "bytes (an integer)"
        raise ValueError(f"{source} must be a positive number of {unit}; got {raw!r}.")
    return number


def _listed_records(database: Database, wanted, sums: dict[str, str], sums_url: str) -> list[str]:
    """The records to fetch; FetchError naming a header or annotation file ``sums`` lacks."""
    if wanted is None:
        wanted = [r for r in database.records if f"{r}.hea" in sums]
    listed = sorted({name.rsplit(".", 1)[0] for name in sums})
    for record in wanted:
        if f"{record}.hea" not in sums:
            raise FetchError(f"record {database.slug}/{record} is not listed in {sums_url}."
                             f"{suggest(record, listed)}")
        annotation = f"{record}.{database.annotator}" if database.annotator else None
        if annotation is not None and annotation not in sums:
            raise FetchError(
                f"{annotation}, the annotation file the catalog declares for {database.slug}/"
                f"{record}, is not listed in {sums_url}; the record would be incomplete, "
                "nothing fetched."
            )
    return wanted


class _Part:
    """A hidden ``.part`` file beside ``dest``, locked while open so :func:`_sweep` spares it.

    Opened with ``open(..., "xb")``, not ``tempfile.mkstemp``: the file gets the
    user's umask (0o666 & ~umask), not 0o600.
    """

    def __init__(self, dest: Path):
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.dest = dest
        self.path = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
        self.file = open(self.path, "xb")
        fcntl.flock(self.file, fcntl.LOCK_EX)

    def commit(self) -> None:
        """Rename into place (the data was flushed after the checksum matched)."""
        os.replace(self.path, self.dest)
        self.file.close()

    def discard(self) -> None:
        """Close and remove."""
        self.file.close()
        self.path.unlink(missing_ok=True)


class _RecordFetch:
    """One record's files: verified copies in place or staged as parts, committed together."""

    def __init__(self, root: str, directory: Path, sums: dict[str, str], limits: _Limits):
        self.root, self.directory, self.sums, self.limits = root, directory, sums, limits
        self.parts: list[_Part] = []
        self.downloaded: list[str] = []
        self.skipped: list[str] = []
        self.nbytes = 0

    def run(self, database: Database, record: str) -> "_RecordFetch":
        """Fetch ``record``: header, the signal files it names, the catalog's annotation file."""
        try:
            header_name = f"{record}.hea"
            header = self._header(header_name, database, record)
            folder = record.rpartition("/")[0]
            names = [f"{folder}/{name}" if folder else name for name in header.signal_file_bytes()]
            names += [f"{record}.{database.annotator}"] if database.annotator else []
            for name in names:
                if name not in self.sums:
                    raise FetchError(
                        f"{name}, which {header_name} names, is not listed in {self.root}/"
                        f"SHA256SUMS.txt; {database.slug}/{record} would be incomplete, not fetched."
                    )
            for name in names:
                self._obtain(name)
            header_dest = self.directory / header_name
            for part in sorted(self.parts, key=lambda p: p.dest == header_dest):
                part.commit()  # the header last: no header ever announces files not yet in place
            self.parts.clear()
        finally:
            for part in self.parts:
                part.discard()
        return self

    def _header(self, header_name: str, database: Database, record: str) -> WfdbHeader:
        path = self._obtain(header_name)
        try:
            return read_header(path)
        except ValueError as exc:
            raise FetchError(f"{self.root}/{header_name} is no usable WFDB header ({exc}); "
                             f"{database.slug}/{record} not fetched.") from None

    def _obtain(self, name: str) -> Path:
        """A verified copy of ``name``: the one in place, else a new part (downloaded now)."""
        dest = self.directory / name
        if dest.is_file() and _sha256_file(dest) == self.sums[name]:
            self.skipped.append(name)
            return dest
        part = _Part(dest)
        self.parts.append(part)
        self.nbytes += _download(f"{self.root}/{name}", part, self.sums[name], self.limits)
        self.downloaded.append(name)
        return part.path


def _sweep(directory: Path) -> None:
    """Remove the ``.part`` files under ``directory`` that no live fetch holds locked."""
    if not directory.is_dir():
        return
    for path in directory.rglob(".*.part"):
        if not _PART_NAME.fullmatch(path.name):
            continue
        try:
            with open(path, "rb") as leftover:
                fcntl.flock(leftover, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
        except OSError:
            continue  # locked by a live fetch, or already gone


class _Terminated(BaseException):
    """SIGTERM during a fetch, raised so that ``finally`` blocks remove the ``.part`` files."""


@contextlib.contextmanager
def _sigterm_removes_parts():
    """While downloading, SIGTERM raises :class:`_Terminated`; once the parts are gone the
    process terminates by SIGTERM as it would have. Only in the main thread, and only when
    SIGTERM has its default action (a program's own handler is left alone)."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup
        raise _Terminated()

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        raise
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


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


def _open(url: str, timeout_s: float):
    """Open ``url``; FetchError with a one-line reason when that fails."""
    try:
        return urllib.request.urlopen(url, timeout=timeout_s)
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


def _stream(url: str, sink: Callable[[bytes], None], limits: _Limits, cap: int,
            label: str | None = None) -> int:
    """Pass ``url``'s body to ``sink`` block by block, within ``limits.deadline_s`` and ``cap``
    bytes; return its length. Progress is reported for a ``label``led file."""
    start = time.monotonic()
    with _open(url, min(TIMEOUT_S, limits.deadline_s)) as response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isascii() and length.isdigit() else None
        if total is not None and total > cap:
            raise FetchError(f"{url} is {total} bytes, more than the {cap} allowed per file "
                             "(max_bytes, $ECGFE_FETCH_MAX_BYTES); nothing kept.")
        done = 0
        while True:
            if time.monotonic() - start > limits.deadline_s:
                raise FetchError(
                    f"transfer of {url} passed its {limits.deadline_s:g} s deadline after {done} "
                    "bytes (deadline_s, $ECGFE_FETCH_DEADLINE_S); nothing kept, run fetch again."
                )
            try:
                block = response.read1(_CHUNK_BYTES)
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(
                    f"transfer of {url} was interrupted after {done} bytes "
                    f"({exc or type(exc).__name__}); nothing kept, run fetch again."
                ) from None
            if not block:
                break
            done += len(block)
            if done > cap:
                raise FetchError(f"{url} sent more than the {cap} bytes allowed per file "
                                 "(max_bytes, $ECGFE_FETCH_MAX_BYTES); nothing kept.")
            sink(block)
            if label is not None and limits.progress is not None:
                limits.progress(len(block), total, label)
    if total is not None and done != total:
        raise FetchError(
            f"transfer of {url} was interrupted: got {done} of {total} bytes; "
            "nothing kept, run fetch again."
        )
    return done


def _read_sums(url: str, limits: _Limits) -> dict[str, str]:
    """Parse a ``SHA256SUMS.txt`` (``<hex> <path>`` per line) into {path: hex}."""
    body = bytearray()
    _stream(url, body.extend, limits, min(limits.max_bytes, _SUMS_MAX_BYTES))
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FetchError(f"reading {url} failed ({exc}).") from None
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


def _download(url: str, part: _Part, expected_sha256: str, limits: _Limits) -> int:
    """Stream ``url`` into ``part``; FetchError unless its SHA-256 is ``expected_sha256``."""
    digest = hashlib.sha256()

    def sink(block: bytes) -> None:
        digest.update(block)
        part.file.write(block)

    done = _stream(url, sink, limits, limits.max_bytes, part.dest.name)
    part.file.flush()
    if digest.hexdigest() != expected_sha256:
        raise FetchError(
            f"checksum mismatch for {url}: SHA-256 expected {expected_sha256}, got "
            f"{digest.hexdigest()}; nothing kept."
        )
    return done
