"""Files and directories that are complete or absent.

- :func:`atomic_write`: one file, written beside its target and renamed.
- :func:`output_transaction`: a whole output directory, built in a hidden
  sibling ``.<name>.tmp-<random>`` and renamed into place when complete;
  with ``overwrite`` the old directory is replaced only then (renamed aside,
  the new one renamed in, the old one removed). The sibling holds its
  owner (:data:`OWNER_NAME`) while it is built, so the next transaction on
  the same target removes one left by a killed process (``kill -9``, a
  power cut: no ``finally`` ran).
- :func:`check_output_dir`: the checks made before any work (a non-empty
  directory without ``overwrite``, an output over its own input).
- :class:`DirectoryLock`: exclusive use of a directory written in place
  (resumable sweeps), a lock file created with ``O_EXCL``.
- :class:`OutputError`: a file-system failure as one line naming the file
  and the errno.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

#: Files only an ecgfe command writes: a directory holding one may be replaced with ``overwrite``.
OUTPUT_MARKERS = ("provenance.json", "metrics.json", "comparison.json", "sweep.json", "montecarlo.json",
                  "compliance.json", "compliance_matrix.json", "batch.json")
#: The lock file of a directory written in place (:class:`DirectoryLock`).
LOCK_NAME = ".ecgfe.lock"
#: The owner of a hidden sibling being built (:func:`output_transaction`), removed before the rename.
OWNER_NAME = ".ecgfe.owner"
#: What marks the own directory of a resumable run (``resume`` of :func:`check_output_dir`), by kind.
RESUMABLE = {"sweep": ("points", "sweep.json"), "montecarlo": ("*/simulated/points", "montecarlo.json"),
             "batch": ("points", "batch.json")}


class OutputError(OSError):
    """An output file or directory could not be written; ``str()`` names the file and the errno.

    Parameters
    ----------
    path : path
        The file as the user knows it (the final name, not a temporary one).
    exc : OSError
        The failure; its errno and message are kept.
    """

    def __init__(self, path, exc: OSError):
        super().__init__(exc.errno, exc.strerror or str(exc), str(path))

    def __str__(self) -> str:
        code = errno.errorcode.get(self.errno, "no errno") if self.errno else "no errno"
        return f"cannot write {self.filename}: {self.strerror} ({code})"


class DirectoryLocked(OSError):
    """The directory is locked by another live process (:class:`DirectoryLock`)."""

    def __init__(self, lock: Path, holder: dict | None):
        super().__init__(errno.EBUSY, "locked", str(lock))
        self.holder = holder

    def __str__(self) -> str:
        lock = Path(self.filename)
        h = self.holder or {}
        who = (f"pid {h.get('pid')} on {h.get('host')} since {h.get('since_utc')}" if h
               else "an unknown process (the lock file is empty or unreadable)")
        return (f"{lock.parent} is in use by another ecgfe run ({who}); wait for it to finish, "
                f"or remove {lock} if that process is gone.")


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    A reader never sees a half-written file: on any error the temporary
    file is removed and ``path`` is left as it was.

    Raises
    ------
    OutputError
        Any file-system failure (full disk, no permission), naming ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.part")
    try:
        with open(tmp, "xb") as fh:  # not mkstemp: keep the umask's permissions, not 0600
            fh.write(data)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(path, exc) from exc
        raise
    return path


def ensure_writable_dir(out_dir) -> Path:
    """Create ``out_dir`` if needed and check it is writable (for outputs written in place).

    Raises
    ------
    OutputError
        It cannot be created or is not writable (errno named).
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(out, exc) from None
    if not os.access(out, os.W_OK):
        raise OutputError(out, OSError(errno.EACCES, os.strerror(errno.EACCES)))
    return out


def write_json(path: Path, obj) -> Path:
    """Strict JSON (no NaN/inf literals), written atomically."""
    return atomic_write(path, (json.dumps(obj, indent=2, allow_nan=False) + "\n").encode())


def _within(path: Path, directory: Path) -> bool:
    return path.resolve().is_relative_to(directory.resolve())


def _input_paths(inputs: Iterable) -> list[Path]:
    """Existing input files, and the headers of WFDB record names (``path`` with ``path.hea``)."""
    out = []
    for item in inputs:
        if item is None:
            continue
        p = Path(item)
        if p.is_file():
            out.append(p)
        elif Path(f"{item}.hea").is_file():
            out.append(Path(f"{item}.hea"))
    return out


def check_output_dir(out_dir, *, overwrite: bool = False, inputs: Iterable = (),
                     resume: Sequence[str] = ()) -> Path:
    """Check that ``out_dir`` may receive a command's output, before any work; create nothing.

    Parameters
    ----------
    out_dir : path
        The output directory.
    overwrite : bool
        Allow replacing a non-empty directory that an ecgfe command wrote
        (one holding a file of :data:`OUTPUT_MARKERS`).
    inputs : iterable of path or WFDB record name
        What the command reads; none of it may lie inside ``out_dir``.
    resume : sequence of str
        Glob patterns marking a resumable run's own directory
        (``("points",)`` for sweeps): a non-empty directory is accepted
        when one matches, and refused otherwise (``overwrite`` does not apply).

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        A usage error: ``out_dir`` contains an input, is not empty (without
        ``overwrite``), or is not an ecgfe output (with it).
    DirectoryLocked
        Another live process holds its :class:`DirectoryLock` (a running sweep).
    OutputError
        ``out_dir`` is a file, or its nearest existing ancestor is not a
        writable directory (a file-system error: the CLI's exit 1).
    """
    out = Path(out_dir)
    for p in _input_paths(inputs):
        if _within(p, out):
            raise ValueError(f"--out {out} contains the input {p}: the output would replace its own input; "
                             f"choose another --out.")
    if not resume and Path.cwd().resolve().is_relative_to(out.resolve()):
        raise ValueError(f"--out {out} contains the current directory; choose a directory below it.")
    if out.exists() and not out.is_dir():
        raise OutputError(out, OSError(errno.EEXIST, f"{out} is a file, not a directory; choose another --out"))
    lock = out / LOCK_NAME
    if lock.exists() and lock.resolve() not in DirectoryLock._held:
        holder = _read_lock(lock)
        if holder is None or not DirectoryLock._stale(holder):
            raise DirectoryLocked(lock, holder)
    if out.is_dir() and any(p.name != LOCK_NAME for p in out.iterdir()):
        if resume:
            if not any(any(out.glob(g)) for g in resume):
                raise ValueError(f"output directory {out} is not empty and holds no run to resume "
                                 f"({', '.join(resume)}); choose another --out.")
        elif not overwrite:
            raise ValueError(f"output directory {out} exists and is not empty; use --overwrite "
                             f"(overwrite=True) to replace it, or choose another --out.")
        elif not any((out / m).is_file() for m in OUTPUT_MARKERS):
            raise ValueError(f"--overwrite replaces only ecgfe output directories; {out} holds none of "
                             f"{', '.join(OUTPUT_MARKERS)}: choose another --out.")
    ancestor = out
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(out, OSError(errno.ENOTDIR, f"{ancestor} is not a directory, so it cannot be created"))
    writable = ancestor.parent if ancestor == out else ancestor  # the temporary sibling goes beside out
    if not os.access(writable, os.W_OK | os.X_OK):
        raise OutputError(out, OSError(errno.EACCES, f"{writable} is not writable"))
    return out


def _hidden_sibling(target: Path, kind: str, *, create: bool) -> Path:
    """``.<name>.<kind>-<random>`` beside ``target``; made as a directory when ``create``."""
    while True:
        path = target.with_name(f".{target.name}.{kind}-{secrets.token_hex(6)}")
        if not create:
            return path
        try:
            path.mkdir()  # the umask's permissions, as a plain mkdir of the output would have
            return path
        except FileExistsError:
            continue


def _user_path(filename, tmp: Path, out: Path):
    """A path inside the temporary directory as its final name inside ``out``."""
    if filename is None:
        return out
    p = Path(os.fsdecode(filename))
    return out / p.relative_to(tmp) if p.is_relative_to(tmp) else p


@contextmanager
def output_transaction(out_dir, *, overwrite: bool = False, inputs: Iterable = ()):
    """Build an output directory in a hidden temporary sibling; rename it into place when complete.

    Use as ``with output_transaction(out) as tmp: write files into tmp``.
    On success ``tmp`` becomes ``out_dir`` (an old one, allowed by
    ``overwrite``, is renamed aside first and removed after); on any error or
    interruption ``tmp`` is removed and ``out_dir`` is left as it was.

    Parameters
    ----------
    out_dir : path
        The output directory.
    overwrite, inputs
        As in :func:`check_output_dir`, checked before and again at the rename.

    Yields
    ------
    Path
        The temporary directory to write into.

    Raises
    ------
    ValueError
        A refused target (:func:`check_output_dir`).
    OutputError
        A file-system failure, naming the file by its final path and the errno.
    """
    inputs = list(inputs)
    out = check_output_dir(out_dir, overwrite=overwrite, inputs=inputs)
    try:
        out.absolute().parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned_siblings(out.absolute())
        tmp = _hidden_sibling(out.absolute(), "tmp", create=True)
    except OSError as exc:
        raise OutputError(out, exc) from exc
    try:
        (tmp / OWNER_NAME).write_text(json.dumps(_holder(secrets.token_hex(8))), encoding="utf-8")
        yield tmp
        check_output_dir(out, overwrite=overwrite, inputs=inputs)
        (tmp / OWNER_NAME).unlink()
        _swap_into_place(tmp, out.absolute())
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and not isinstance(exc, DirectoryLocked):
            raise OutputError(_user_path(exc.filename, tmp, out), exc) from exc
        raise


def remove_abandoned_siblings(target: Path) -> list[Path]:
    """Remove the hidden siblings ``.<name>.tmp-*`` of ``target`` whose builder is gone; return them.

    A sibling is abandoned when its :data:`OWNER_NAME` names a process of
    this host that no longer runs (:meth:`DirectoryLock._stale`). One
    without a readable owner (being created this instant, or another
    host's) is left alone: only a certainly dead owner's work is removed.
    """
    removed = []
    for sibling in target.parent.glob(f".{target.name}.tmp-*"):
        holder = _read_lock(sibling / OWNER_NAME)
        if holder is not None and holder["pid"] != os.getpid() and DirectoryLock._stale(holder):
            shutil.rmtree(sibling, ignore_errors=True)
            removed.append(sibling)
    return removed


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` is renamed aside first and removed after."""
    old = None
    if out.exists():
        old = _hidden_sibling(out, "old", create=False)
        os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        if old is not None:
            os.rename(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _holder(token: str) -> dict:
    """This process as a lock's or a sibling's holder: ``{"pid", "host", "since_utc", "token"}``."""
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "since_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"), "token": token}


def _read_lock(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("pid"), int) else None


class DirectoryLock:
    """Exclusive use of a directory written in place, across processes (a context manager).

    ``with DirectoryLock(out_dir): ...`` creates ``<out_dir>/.ecgfe.lock``
    with ``O_CREAT | O_EXCL``, holding JSON ``{"pid", "host", "since_utc",
    "token"}``, and removes it on exit. A lock whose process is gone (same
    host, no such pid) is taken over; a live one raises
    :class:`DirectoryLocked` naming its holder. Re-entrant within a process.

    Parameters
    ----------
    directory : path
        Created if needed.

    Raises
    ------
    DirectoryLocked
        Another live process holds the lock (an OSError: exit code 1).
    OutputError
        The directory or the lock file cannot be created.
    """

    _held: dict = {}  # resolved lock path -> [token, depth], for this process

    def __init__(self, directory):
        self.path = Path(directory) / LOCK_NAME

    def __enter__(self) -> DirectoryLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(self.path.parent, exc) from None
        key = self.path.resolve()
        if key in self._held:
            self._held[key][1] += 1
        else:
            self._held[key] = [self._acquire(), 1]
        return self

    def __exit__(self, *exc_info) -> None:
        key = self.path.resolve()
        self._held[key][1] -= 1
        if self._held[key][1] == 0:
            token = self._held.pop(key)[0]
            holder = _read_lock(self.path)
            if holder is not None and holder.get("token") == token:
                self.path.unlink(missing_ok=True)

    def _acquire(self) -> str:
        token = secrets.token_hex(8)
        me = _holder(token)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _read_lock(self.path)
                if holder is None or not self._stale(holder):
                    raise DirectoryLocked(self.path, holder) from None
                self._take_over(holder)
                continue
            except OSError as exc:
                raise OutputError(self.path, exc) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(me, fh)
            return token
        raise DirectoryLocked(self.path, _read_lock(self.path))

    @staticmethod
    def _stale(holder: dict) -> bool:
        """The holder is this host's and its process is gone (or it is this pid, which holds no lock)."""
        if holder.get("host") != socket.gethostname():
            return False
        return holder["pid"] == os.getpid() or not _pid_alive(holder["pid"])

    def _take_over(self, holder: dict) -> None:
        """Remove the stale lock ``holder``, unless another process replaced it meanwhile."""
        aside = _hidden_sibling(self.path, "stale", create=False)
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another process took it over first
        taken = _read_lock(aside)
        if taken != holder:  # a live lock replaced the stale one: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            finally:
                aside.unlink(missing_ok=True)
            raise DirectoryLocked(self.path, taken)
        aside.unlink(missing_ok=True)
