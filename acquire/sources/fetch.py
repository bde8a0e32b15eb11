"""Download PhysioNet records into the local cache, verifying PhysioNet's SHA-256 sums.

Every file goes to a temporary name beside its target and is renamed only
when its SHA-256 equals the line in the database's ``SHA256SUMS.txt``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from acquire._check import suggest
from acquire.sources.physionet import data_dir, get_database

#: Where ``fetch`` downloads from unless ``base_url`` or ``$ECGFE_PHYSIONET_URL`` says otherwise.
DEFAULT_BASE_URL = "https://physionet.org/files"
#: Seconds to wait for a connection or for the next block of a transfer.
TIMEOUT_S = 30.0
_CHUNK_BYTES = 1 << 16


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
