"""Plain-text output: tables and the one-screen summary of a run, for the terminal."""

from __future__ import annotations


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with an ellipsis (full text is in the files)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def format_table(rows: list[dict], columns: list[str]) -> str:
    """A plain-text table of ``rows`` with the given columns."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return "-" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def metrics_summary(doc: dict) -> str:
    """A short human summary of a metrics document."""
    keys = ["residual_mains_uv_rms", "cmrr_effective_db", "mains_rejection_db", "snr_out_db", "prdn_percent",
            "qrs_sensitivity", "qrs_ppv", "saturated_fraction"]
    rows = [{"channel": ch, "tap": tap, **{k: taps[tap].get(k) for k in keys}}
            for ch, taps in doc["channels"].items() for tap in ("acquired", "recovered")]
    src = doc["provenance"]["source"]
    name = src.get("record") and f"{src.get('database')}/{src.get('record')}" or src.get("generator", "?")
    head = (f"source {name}, preset {doc['provenance']['preset']}, mains {doc['mains_hz']:g} Hz, "
            f"body common mode {doc['body_cm_v_rms']:.3g} V rms (input-referred values)")
    return head + "\n" + format_table(rows, ["channel", "tap", *keys])
