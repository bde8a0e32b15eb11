"""Where the units of a study run: this process, a local process pool, or a Dask distributed cluster.

Sweeps, batches and Monte Carlo subsets hand :func:`execute` a picklable
module-level function and its tasks; every backend calls that same function
on the same arguments, so the results do not depend on where they ran (the
Dask test checks bit-for-bit equality with the local pool).

- ``--scheduler local`` (the default): ``jobs`` worker processes of a spawned
  :class:`multiprocessing.pool.Pool` (one job runs in this process).
- ``--scheduler tcp://HOST:PORT`` (or ``tls://``, ``ws://``, ``wss://``, ``inproc://``): the
  tasks are submitted to an existing Dask ``distributed`` scheduler (optional
  dependency, ``pip install 'ecgfe[dask]'``); ``jobs`` is then the cluster's
  business and is ignored. Tasks carry configurations only: each worker loads
  its source by name (a PhysioNet record through the verified cache of its
  ``ECGFE_DATA_DIR``, which may be a shared directory), so no signal array
  goes through the scheduler.

SIGINT and SIGTERM raise :class:`Interrupted` in the main thread while units
run (:func:`interruptible`); :func:`execute` then terminates the pool's
worker processes (or cancels the cluster's futures) before re-raising, so no
worker outlives the command, and every unit finished before the signal stays
on disk for a rerun to resume from.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from multiprocessing import get_context

LOCAL = "local"
#: URL schemes of a Dask scheduler address.
SCHEMES = ("tcp", "tls", "ws", "wss", "inproc")
#: How long to try to reach a Dask scheduler before giving up, s.
CONNECT_TIMEOUT_S = 10.0


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived while units were running.

    Attributes
    ----------
    signum : int
    name : str
        ``"SIGINT"`` or ``"SIGTERM"``.
    exit_code : int
        128 + the signal number, the shell's convention (130, 143).
    """

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + self.signum


class SchedulerUnreachable(OSError):
    """The Dask scheduler named by ``--scheduler`` could not be reached (a runtime error, exit 1)."""


def check_scheduler(spec: str) -> str:
    """``"local"`` or a Dask scheduler address ``SCHEME://HOST:PORT``, as given; else ValueError."""
    spec = str(spec).strip()
    scheme, sep, rest = spec.partition("://")
    if spec == LOCAL or (sep and scheme in SCHEMES and rest):
        return spec
    raise ValueError(f"--scheduler expects 'local' or a Dask scheduler address such as tcp://HOST:8786; "
                     f"got {spec!r}.")


@contextlib.contextmanager
def connect(spec: str, *, timeout_s: float | None = None):
    """A Dask client of the scheduler at ``spec`` (closed on exit); None for ``"local"``.

    Raises
    ------
    ValueError
        A malformed ``spec``, or ``dask``/``distributed`` not installed (with the install command).
    SchedulerUnreachable
        Nothing answered at ``spec`` within ``timeout_s`` (default :data:`CONNECT_TIMEOUT_S`).
    """
    if check_scheduler(spec) == LOCAL:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise ValueError(f"--scheduler {spec} needs Dask: pip install 'ecgfe[dask]' "
                         f"(or use --scheduler local).") from None
    timeout_s = CONNECT_TIMEOUT_S if timeout_s is None else timeout_s
    try:
        client = Client(spec, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {spec} within {timeout_s:g} s "
                                   f"({type(exc).__name__}); start one ('dask scheduler') or use "
                                   f"--scheduler local.") from None
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def interruptible():
    """While inside, SIGINT and SIGTERM raise :class:`Interrupted` (main thread only; handlers restored)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while inside (main thread), so that processes started here begin with it ignored.

    An ignored disposition survives ``exec`` and Python keeps it at start-up, so a
    spawned worker still importing when a terminal's Ctrl-C reaches the whole
    process group does not die with a traceback: the parent handles SIGINT alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _pool_initializer(initializer, initargs) -> None:
    """In a pool worker: leave SIGINT to the parent (it terminates the pool), then the caller's initializer.

    (Workers the pool starts again later did not inherit :func:`_sigint_ignored`.)
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


def _star(args):
    fn, task = args
    return fn(*task)


def execute(fn, tasks: list[tuple], finished, *, jobs: int = 1, client=None, initializer=None,
            initargs: tuple = ()) -> None:
    """Call ``fn(*task)`` for every task and ``finished(result)`` here as each completes (any order).

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function.
    tasks : list of tuple
    finished : callable(result)
        Called in this process, in completion order.
    jobs : int
        Local worker processes; 1 (or a single task) runs in this process.
    client : distributed.Client, optional
        Run on that cluster instead (``jobs`` ignored; ``initializer`` must be None:
        a cluster's workers set themselves up lazily).
    initializer, initargs
        Run once in each local worker (and here, for one job) before its tasks.
    """
    if client is not None:
        if initializer is not None:
            raise ValueError("a Dask cluster's workers take no initializer; name the source in the config.")
        _execute_dask(client, fn, tasks, finished)
    elif jobs == 1 or len(tasks) <= 1:
        if initializer is not None:
            initializer(*initargs)
        for task in tasks:
            finished(fn(*task))
    else:
        with _sigint_ignored():
            pool = get_context("spawn").Pool(min(jobs, len(tasks)), _pool_initializer, (initializer, initargs))
        try:
            for result in pool.imap_unordered(_star, [(fn, t) for t in tasks]):
                finished(result)
        except BaseException:
            pool.terminate()  # SIGTERM to every worker, then joined: none outlives the command
            raise
        finally:
            pool.close()
            pool.join()


def _execute_dask(client, fn, tasks, finished) -> None:
    from distributed import as_completed

    futures = [client.submit(fn, *task, pure=False) for task in tasks]
    try:
        for future in as_completed(futures, loop=client.loop):
            finished(future.result())
    except BaseException:
        client.cancel(futures)
        raise
