"""ecgfe benchmarks: each module exposes ``run() -> list[(name, value, unit)]``.

Run all with ``python -m bench`` (or ``make bench``), or some with
``python -m bench ecgsyn qrs``. Benchmarks print ratios measured in one run,
since machines are shared and noisy; they are not tests and never fail CI.
"""
