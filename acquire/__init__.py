"""ecgfe: simulate ECG acquisition front ends.

The Python API (the same operations as the ``ecgfe`` command line, on the
same configuration)::

    import acquire
    sim = acquire.simulate("mitdb/100", preset="ad8232", mains__frequency_hz=50)
    sim.metrics["channels"]["MLII"]["acquired"]["cmrr_effective_db"]
    sim.save("run1")

Functions: :func:`simulate`, :func:`compare`, :func:`sweep`,
:func:`montecarlo`, :func:`comply`, :func:`load_config`, :func:`presets`
(documented in :mod:`acquire.api`). They are imported on first use, so
``import acquire`` does not load numpy, scipy or matplotlib.

Sub-packages follow the signal path: ``sources`` -> ``analog`` ->
``digital`` -> ``evaluation`` -> ``output``, with ``studies`` (sweeps,
Monte Carlo, compliance) on top; the stage protocol, runner, front-end
builder and configuration live at this level.
"""

from acquire._version import __version__

#: The public API, resolved lazily from :mod:`acquire.api`.
__all__ = ["batch", "compare", "comply", "load_config", "montecarlo", "presets", "simulate", "sweep"]


def __getattr__(name: str):
    if name in __all__:
        from acquire import api

        return getattr(api, name)
    raise AttributeError(f"module 'acquire' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
