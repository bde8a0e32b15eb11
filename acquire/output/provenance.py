"""``provenance.json``: how an output came to be, enough to reproduce it and to check its inputs.

The document (schema :data:`SCHEMA`) holds the exact command line (or
``"python API"``), the tool version and, in a checkout, its git commit; the
versions of Python and of the numerical libraries; the SHA-256 of every input
file read (the record's header, signal and annotation files, the
configuration file, user amplifier model files); the seeds; and when the run
started (ISO 8601, UTC) and how long it took until the output was complete.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import shlex
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from acquire._version import __version__

SCHEMA = "ecgfe.provenance/1"
#: The command line stated for outputs written from Python rather than the ``ecgfe`` command.
API_COMMAND = "python API"
#: Distributions whose versions decide the numbers and the files.
LIBRARIES = ("numpy", "scipy", "wfdb", "matplotlib")


@dataclass(frozen=True)
class RunInfo:
    """The command line of a run and when it started.

    Attributes
    ----------
    command : str
        ``shlex.join(argv)`` of the ``ecgfe`` command, or :data:`API_COMMAND`.
    started_utc : str
        ISO 8601 UTC start time, e.g. ``"2025-01-31T12:00:00.123Z"``.
    started_monotonic_s : float
        ``time.monotonic()`` at the start (for the duration).
    """

    command: str
    started_utc: str
    started_monotonic_s: float

    @classmethod
    def begin(cls, argv: Sequence[str] | None = None) -> RunInfo:
        """Start now; ``argv`` (``sys.argv``) from the command line, None from the Python API."""
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(API_COMMAND if argv is None else shlex.join(argv), now, time.monotonic())


@functools.cache
def git_state() -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the checkout this package runs from; ``(None, None)`` when not a checkout.

    Runs ``git rev-parse --show-toplevel HEAD`` in the package's directory and
    accepts the answer only when the repository's top level is the folder
    holding this package (an installed copy inside some other repository is
    not a checkout of ecgfe). Never raises: no git, a timeout or an error is
    None.
    """
    package = Path(__file__).resolve().parents[1]

    def git(*args) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=package, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    out = git("rev-parse", "--show-toplevel", "HEAD")
    lines = out.split() if out else []
    if len(lines) != 2 or Path(lines[0]).resolve() != package.parent:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return lines[1], None if status is None else bool(status.strip())


def library_versions() -> dict:
    """Python's and :data:`LIBRARIES`' versions (None for a library that is not installed)."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def sha256_file(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_inputs(source: Mapping) -> list[tuple[str, Path]]:
    """``(role, path)`` of the files a WFDB record source was read from, from its provenance.

    ``source`` is a Recording's ``provenance`` (``path``, and ``database``
    for a PhysioNet record): the header, every signal file it names, and the
    reference annotation file (the catalog's annotator, ``atr`` for a local
    record) when it exists. A synthetic source has none.
    """
    if "path" not in source:
        return []
    import wfdb

    from acquire.sources.physionet import get_database

    path = Path(source["path"])
    annotator = get_database(source["database"]).annotator if "database" in source else "atr"
    files = [("record header", path.with_name(f"{path.name}.hea"))]
    signal_files = dict.fromkeys(wfdb.rdheader(str(path)).file_name or ())
    files += [("record signals", path.parent / name) for name in signal_files]
    if annotator and path.with_name(f"{path.name}.{annotator}").is_file():
        files.append(("reference annotations", path.with_name(f"{path.name}.{annotator}")))
    return files


def model_inputs(cfg: Mapping) -> list[tuple[str, Path]]:
    """``(role, path)`` of the user amplifier model files a configuration names.

    ``[amplifier] file``, ``design`` (a path, not an inline table) and a
    ``preset = "design:PATH"``.
    """
    from frontend_models.presets import DESIGN_PREFIX

    amp = cfg.get("amplifier", {})
    named = [amp.get("file"), amp.get("design")]
    preset = amp.get("preset")
    if isinstance(preset, str) and preset.startswith(DESIGN_PREFIX):
        named.append(preset[len(DESIGN_PREFIX):])
    return [("amplifier model", Path(p)) for p in named
            if isinstance(p, (str, Path)) and not str(p).lstrip().startswith("{") and Path(p).is_file()]


def collect_inputs(*, given: Mapping | None = None, sources: Iterable[Mapping] = (),
                   configs: Iterable[Mapping] = ()) -> list[tuple[str, Path]]:
    """Every input file of a run, once each: ``given`` (role -> path or None), records, model files."""
    found = [(role, Path(p)) for role, p in (given or {}).items() if p is not None and Path(p).is_file()]
    for source in sources:
        found += record_inputs(source)
    for cfg in configs:
        found += model_inputs(cfg)
    unique = {}
    for role, path in found:
        unique.setdefault(path.resolve(), (role, path))
    return list(unique.values())


def seeds_of(cfg: Mapping) -> dict:
    """The seeds a configuration uses: ``run.seed`` (noise, drift) and ``source.seed`` (synthetic ECG)."""
    return {"run.seed": int(cfg["run"]["seed"]), "source.seed": int(cfg["source"]["seed"])}


def provenance_document(run: RunInfo, inputs: Iterable[tuple[str, Path]], seeds: Mapping | None,
                        **details) -> dict:
    """The ``provenance.json`` document; ``duration_s`` runs from ``run``'s start to now.

    Parameters
    ----------
    run : RunInfo
    inputs : iterable of (role, path)
        Input files (:func:`collect_inputs`), hashed now.
    seeds : dict or None
        Name -> seed (:func:`seeds_of`); None when the result does not carry its configuration.
    **details
        Further top-level keys (``source``, ``preset``, ...).
    """
    commit, dirty = git_state()
    return {
        "schema": SCHEMA,
        "command": run.command,
        "tool_version": __version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": library_versions(),
        "inputs": [{"role": role, "path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path)}
                   for role, path in inputs],
        "seeds": None if seeds is None else dict(seeds),
        **details,
        "started_utc": run.started_utc,
        "duration_s": round(time.monotonic() - run.started_monotonic_s, 3),
    }


def configured_record(source_cfg: Mapping) -> dict:
    """The provenance a configured ``[source]`` loads with (``path``, ``database``), without loading it.

    The loader's resolution (:func:`acquire.sources.loader.load_recording`):
    ``{}`` for ``synthetic``, ``{"path"}`` for a local WFDB record,
    ``{"database", "path"}`` for a PhysioNet name in the data directory.
    """
    from acquire.sources.physionet import data_dir, get_database

    name = str(source_cfg["name"])
    if name == "synthetic":
        return {}
    if Path(f"{name}.hea").is_file():
        return {"path": name}
    slug, _, record = name.partition("/")
    db = get_database(slug)
    return {"database": db.slug, "path": str(data_dir() / db.slug / db.version / record)}


def begin_output(out, overwrite: bool, argv: Sequence[str], *, config=None, reads: Iterable = (),
                 resume: str | None = None) -> dict:
    """Start a command that writes ``out``: check it before any work, start the clock; ``save``'s options.

    Parameters
    ----------
    out : path
        The ``--out`` directory (:func:`acquire.output.files.check_output_dir`).
    overwrite : bool
        ``--overwrite``.
    argv : sequence of str
        The command line (``sys.argv``), stated in ``provenance.json``.
    config : path, optional
        The ``--config`` file: an input (checked and hashed).
    reads : iterable of path or record name
        Other inputs the output must not contain (the source record, a standard's file).
    resume : {"sweep", "montecarlo"}, optional
        A resumable run, written in place into its own directory
        (:data:`acquire.output.files.RESUMABLE`).

    Returns
    -------
    dict
        ``overwrite``, ``run`` (:class:`RunInfo`) and ``inputs`` (``{"config": config}``) for the result's ``save``.

    Raises
    ------
    ValueError
        A refused ``out`` (exit 2 in the CLI).
    OutputError
        ``out`` cannot be created (exit 1).
    """
    from acquire.output.files import RESUMABLE, check_output_dir

    run = RunInfo.begin(argv)
    check_output_dir(out, overwrite=overwrite, inputs=(config, *reads), resume=RESUMABLE[resume] if resume else ())
    return {"overwrite": overwrite, "run": run, "inputs": {"config": config}}


def write_provenance(out: Path, run, inputs, cfg: Mapping | None, configs=(), sources=(), **details) -> None:
    """Write ``out/provenance.json`` for a result on ``cfg`` (and ``configs``, ``sources``); no ``cfg``: seeds null.

    ``run`` is a :class:`RunInfo` (None: begun now), ``inputs`` role -> path of
    input files to hash besides the records and models the configurations name;
    ``details`` are extra top-level fields of the document.
    """
    from acquire.output.files import write_json

    files = collect_inputs(given=inputs, sources=sources, configs=[c for c in (cfg, *configs) if c is not None])
    write_json(out / "provenance.json", provenance_document(run or RunInfo.begin(), files,
                                                            None if cfg is None else seeds_of(cfg), **details))
