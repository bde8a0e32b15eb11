"""One self-contained HTML report: headings, text, tables, figures, config and provenance.

The report is a single file with no external references: figures are
embedded as base64 ``data:`` URIs, the style sheet is inline, and there is no
script. All text is HTML-escaped; links are relative (the files beside the
report). :func:`report_from_dir` builds ``report.html`` from the files an
``ecgfe simulate/compare/sweep --out DIR`` run leaves behind, with links to
its data files and to the runs in its sub-directories.
"""

from __future__ import annotations

import base64
import html
import json
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acquire._version import __version__
from acquire.output.figures import figure_bytes
from acquire.output.files import atomic_write

_CSS = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #1f77b4; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
div.table { overflow-x: auto; margin: 1em 0; }
table { border-collapse: collapse; font-size: .9em; }
caption { text-align: left; font-weight: bold; padding: .3em 0; }
th, td { border: 1px solid #ccc; padding: .25em .6em; vertical-align: top; }
td.long { overflow-wrap: anywhere; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { font-size: .85em; color: #555; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
nav ul { columns: 2; }
.meta { color: #666; font-size: .85em; }
"""

#: Text cells longer than this may break anywhere (URLs, paths), characters; shorter ones break at spaces only.
LONG_CELL_CHARS = 40

_MIME = {".png": "image/png", ".svg": "image/svg+xml"}

#: The result files :func:`report_from_dir` turns into tables, with their section headings.
RESULT_FILES = {"metrics.json": "Metrics", "comparison.json": "Preset comparison",
                "sweep.json": "Sweep", "montecarlo.json": "Monte Carlo tolerance analysis",
                "batch.json": "Database batch"}
#: Documents :func:`report_from_dir` links, in this order, then the data files (:data:`DATA_SUFFIXES`).
LINKED_FILES = ("report.html", *RESULT_FILES, "config.toml", "provenance.json")
#: Suffixes of the data files linked: WFDB headers, signals and detections (``.qrs``, ``.qrsb``, ...), CSV.
DATA_SUFFIXES = (".hea", ".dat", ".qrs", ".csv")


@dataclass(frozen=True)
class Section:
    """One section of a report.

    Parameters
    ----------
    heading : str
    paragraphs : sequence of str
        Plain-text paragraphs (escaped, not HTML).
    tables : dict of str to sequence of dict
        Caption -> rows; the columns are the union of the rows' keys in
        first-seen order. Numbers are formatted to 4 significant digits.
    figures : sequence of Figure or path
        matplotlib Figures (embedded as PNG) or ``.png``/``.svg`` files.
    preformatted : dict of str to str
        Caption -> text shown verbatim (e.g. the TOML config, provenance JSON).
    links : dict of str to dict of str to str
        Item label -> (link text -> relative href), one list item per label
        (e.g. a run's directory -> its report and files). An href must be
        relative: no scheme, host or leading ``/``.
    """

    heading: str
    paragraphs: Sequence[str] = ()
    tables: Mapping[str, Sequence[Mapping[str, object]]] = field(default_factory=dict)
    figures: Sequence[object] = ()
    preformatted: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.heading, str) or not self.heading:
            raise TypeError(f"Section.heading must be a non-empty str; got {self.heading!r}.")
        for name in ("paragraphs", "figures"):
            value = getattr(self, name)
            if isinstance(value, (str, Path)) or not isinstance(value, Sequence):
                raise TypeError(f"Section.{name} must be a list or tuple; got "
                                f"{type(value).__name__} {value!r:.60}.")
        for name in ("tables", "preformatted", "links"):
            if not isinstance(getattr(self, name), Mapping):
                raise TypeError(f"Section.{name} must be a dict of caption -> content; got "
                                f"{type(getattr(self, name)).__name__}.")
        for caption, rows in self.tables.items():
            if isinstance(rows, Mapping) or not all(isinstance(r, Mapping) for r in rows):
                raise TypeError(f"Section.tables[{caption!r}] must be a list of dicts (rows).")
        for label, items in self.links.items():
            if not isinstance(items, Mapping):
                raise TypeError(f"Section.links[{label!r}] must be a dict of link text -> href.")
            for href in items.values():
                parts = urllib.parse.urlsplit(str(href))
                if parts.scheme or parts.netloc or str(href).startswith("/"):
                    raise ValueError(f"Section.links[{label!r}]: links must be relative to the report; "
                                     f"got {href!r}.")
        for fig in self.figures:
            if isinstance(fig, (str, Path)):
                if Path(fig).suffix.lower() not in _MIME:
                    raise ValueError(f"figure files must be .png or .svg; got {str(fig)!r}.")
            elif not hasattr(fig, "savefig"):
                raise TypeError(f"Section.figures items must be matplotlib Figures or .png/.svg "
                                f"paths; got {type(fig).__name__}.")


def format_value(v) -> str:
    """A table cell: floats to 4 significant digits, lists joined, None as a dash."""
    if v is None:
        return "\u2014"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return ", ".join(format_value(x) for x in v)
    return str(v)


def _breakable(name: str) -> str:
    """``name`` escaped, with line-break opportunities after ``_`` and ``.`` (long snake-case column names)."""
    return "".join(html.escape(c) + ("<wbr>" if c in "_." else "") for c in name)


def _table_html(caption: str, rows: Sequence[Mapping[str, object]]) -> str:
    """The table in a ``div.table`` that scrolls sideways if it cannot fit (the page itself never does)."""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{_breakable(str(c))}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for c in columns:
            v = row.get(c)
            text = format_value(v)
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            cls = ' class="num"' if num else ' class="long"' if len(text) > LONG_CELL_CHARS else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<div class="table"><table>{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table></div>")


def _figure_html(fig, index: int) -> str:
    if isinstance(fig, (str, Path)):
        path = Path(fig)
        data, mime, caption = path.read_bytes(), _MIME[path.suffix.lower()], path.name
    else:
        data, mime = figure_bytes(fig, "png"), _MIME[".png"]
        caption = fig.get_suptitle()
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    alt = html.escape(caption or f"Figure {index}", quote=True)
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{alt}">{cap}</figure>'


def _section_html(section: Section, anchor: str, first_figure: int) -> str:
    parts = [f'<section id="{anchor}"><h2>{html.escape(section.heading)}</h2>']
    parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    parts += [_table_html(c, rows) for c, rows in section.tables.items()]
    parts += [_figure_html(f, first_figure + i) for i, f in enumerate(section.figures)]
    parts += [f"<h3>{html.escape(c)}</h3><pre>{html.escape(text)}</pre>"
              for c, text in section.preformatted.items()]
    if section.links:
        items = ["<li>" + html.escape(label) + ": " + " ".join(
            f'<a href="{html.escape(str(href), quote=True)}">{html.escape(text)}</a>' for text, href in links.items())
            + "</li>" for label, links in section.links.items()]
        parts.append(f"<ul>{''.join(items)}</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def render_html(*, title: str, sections: Sequence[Section]) -> str:
    """The report as one HTML string (see :func:`write_html_report`)."""
    toc = "".join(f'<li><a href="#s{i}">{html.escape(s.heading)}</a></li>'
                  for i, s in enumerate(sections, 1))
    body, n_fig = [], 1
    for i, s in enumerate(sections, 1):
        body.append(_section_html(s, f"s{i}", n_fig))
        n_fig += len(s.figures)
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">Generated by ecgfe {html.escape(__version__)}.</p>',
        f"<nav><ul>{toc}</ul></nav>", *body, "</body>", "</html>", ""])


def write_html_report(path: str | Path, *, title: str, sections: Sequence[Section]) -> Path:
    """Write a self-contained HTML report and return its path.

    Parameters
    ----------
    path : path
        Output file; written to a temporary name in the same directory and
        renamed when complete.
    title : str
        Page title and top heading.
    sections : sequence of Section

    Returns
    -------
    Path
    """
    if not all(isinstance(s, Section) for s in sections):
        raise TypeError(f"sections must be a list of Section; got "
                        f"{sorted({type(s).__name__ for s in sections})}.")
    return atomic_write(path, render_html(title=title, sections=sections).encode("utf-8"))


def _flatten(obj, prefix: str = "") -> dict[str, object]:
    """Nested dicts to one level with dotted keys; other values unchanged."""
    if not isinstance(obj, Mapping):
        return {prefix: obj}
    out: dict[str, object] = {}
    for k, v in obj.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _is_rows(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(r, Mapping) for r in v)


def _is_keyed_rows(v) -> bool:
    """A non-empty dict whose values are all dicts: one row per key."""
    return isinstance(v, Mapping) and bool(v) and all(isinstance(x, Mapping) for x in v.values())


def _is_metrics_documents(v) -> bool:
    """A dict of metrics documents (name -> a document with ``channels``), e.g. a comparison's ``metrics``."""
    return _is_keyed_rows(v) and all(isinstance(d.get("channels"), Mapping) for d in v.values())


def _rows(v) -> list[dict]:
    """Flat table rows from a list of dicts or a dict of dicts (key in a "name" column)."""
    if isinstance(v, Mapping):
        return [{"name": k, **_flatten(r)} for k, r in v.items()]
    return [_flatten(r) for r in v]


def _per_channel_rows(stage: str, block) -> list[dict]:
    """Rows ``{stage, channel, metric...}`` from one stage's per-channel metrics.

    Accepts a list of per-channel dicts, a dict channel -> metrics, or a dict
    metric -> list of per-channel values (scalars apply to every channel).
    """
    if _is_rows(block):
        return [{"stage": stage, "channel": i, **_flatten(r)} for i, r in enumerate(block)]
    if _is_keyed_rows(block):
        return [{"stage": stage, "channel": ch, **_flatten(m)} for ch, m in block.items()]
    if isinstance(block, Mapping):
        n = max((len(v) for v in block.values() if isinstance(v, list)), default=1)
        return [{"stage": stage, "channel": i,
                 **{k: (v[i] if isinstance(v, list) and len(v) == n else v)
                    for k, v in block.items()}} for i in range(n)]
    return [{"stage": stage, "value": block}]


def _metric_rows(channels: Mapping) -> list[dict]:
    """One row per metric, one column per channel and tap (``channels[ch][tap][metric]``)."""
    columns = {f"{ch} {tap}": _flatten(m) for ch, taps in channels.items() for tap, m in taps.items()}
    names = list(dict.fromkeys(k for flat in columns.values() for k in flat))
    return [{"metric": k, **{col: flat.get(k) for col, flat in columns.items()}} for k in names]


def json_tables(name: str, obj) -> dict[str, list[dict]]:
    """Tables (caption -> rows) for one ecgfe result JSON document.

    ``metrics.json``: the metrics of every channel at ``acquired`` and
    ``recovered`` in one table (one row per metric; ``channels`` layout of
    :data:`acquire.evaluate.SCHEMA`, or per-tap blocks). Otherwise a list of dicts, or a dict of dicts
    (one row per key, e.g. preset -> metrics), is one table; inside a dict,
    each such value (e.g. sweep ``points``) is its own table, and the
    remaining values go to a key/value "Summary" table.
    """
    stages = [s for s in ("acquired", "recovered") if isinstance(obj, Mapping) and s in obj]
    if name == "metrics.json" and isinstance(obj, Mapping) and "channels" in obj:
        rest = {k: v for k, v in obj.items() if k not in ("channels", "provenance", "files")}
        tables = {"Metrics per channel and tap point": _metric_rows(obj["channels"])}
    elif name == "metrics.json" and stages:
        rest = dict(obj)
        tables = {"Per-channel metrics": [row for s in stages
                                          for row in _per_channel_rows(s, rest.pop(s))]}
    elif _is_rows(obj) or _is_keyed_rows(obj):
        return {name: _rows(obj)}
    elif isinstance(obj, Mapping):
        rest, tables = dict(obj), {}
    else:
        return {name: [{"value": obj}]}
    for key, value in list(rest.items()):
        if _is_metrics_documents(value):  # one column per document, channel and tap; provenance left out
            tables[f"{key} per channel and tap point"] = _metric_rows(
                {f"{name} {ch}": taps for name, doc in rest.pop(key).items() for ch, taps in doc["channels"].items()})
        elif _is_rows(value) or _is_keyed_rows(value):
            tables[key] = _rows(rest.pop(key))
    if rest:
        tables["Summary"] = [{"key": k, "value": v} for k, v in _flatten(rest).items()]
    return tables


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run the ecgfe command that "
                         f"wrote it.") from None


def _file_links(directory: Path, prefix: str = "") -> dict[str, str]:
    """Link text -> href of the documents and data files in ``directory`` (hrefs start with ``prefix``)."""
    names = [n for n in LINKED_FILES if (directory / n).is_file() and (prefix or n != "report.html")]
    names += sorted(p.name for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
                    and p.suffix.startswith(DATA_SUFFIXES))
    return {n: urllib.parse.quote(prefix + n) for n in names}


def _file_sections(out: Path) -> list[Section]:
    """"Files" (this directory's documents and data, the samples clipped to the WFDB range) and
    "Runs" (each sub-directory holding a run: its report and files)."""
    sections = []
    own = _file_links(out)
    if own:
        notes = []
        if (out / "metrics.json").is_file():
            records = (_read_json(out / "metrics.json").get("files") or {}).get("records") or {}
            if records:
                notes.append("Samples clipped to the WFDB format's range: " + ", ".join(
                    f"{tap} {r['clipped_samples']}" for tap, r in records.items()) + ".")
        sections.append(Section("Files", paragraphs=notes, links={"this directory": own}))
    runs = {d.name: _file_links(d, d.name + "/") for d in sorted(out.iterdir())
            if d.is_dir() and not d.name.startswith(".") and (d / "metrics.json").is_file()}
    if runs:
        sections.append(Section("Runs", paragraphs=["One directory per run, each a complete run with its "
                                                    "own configuration, metrics, records and report."],
                                links=runs))
    return sections


def report_from_dir(out_dir: str | Path, *, title: str | None = None) -> Path:
    """Build ``report.html`` in an ecgfe output directory; return its path.

    Includes whatever is present: tables from ``metrics.json``,
    ``comparison.json`` and ``sweep.json``, every ``*.png``/``*.svg`` figure
    (the PNG when both exist for one name), links to the directory's
    documents and data files and to the runs in its sub-directories (a
    comparison's presets), ``config.toml`` and ``provenance.json``.

    Raises
    ------
    ValueError
        ``out_dir`` is not a directory, or holds no result JSON and no figure.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise ValueError(f"out_dir must be an existing directory; got {str(out)!r}.")
    sections = [Section(heading, tables=json_tables(name, _read_json(out / name)))
                for name, heading in RESULT_FILES.items() if (out / name).is_file()]
    figs = {p.stem: p for p in sorted(out.glob("*.svg"))}
    figs.update({p.stem: p for p in sorted(out.glob("*.png"))})
    if not sections and not figs:
        raise ValueError(f"no ecgfe results in {out}; run ecgfe simulate/compare/sweep "
                         f"--out {out} first.")
    if figs:
        sections.append(Section("Figures", figures=[figs[k] for k in sorted(figs)]))
    sections += _file_sections(out)
    blocks = {}
    if (out / "config.toml").is_file():
        blocks["config.toml"] = (out / "config.toml").read_text(encoding="utf-8")
    if (out / "provenance.json").is_file():
        blocks["provenance.json"] = json.dumps(_read_json(out / "provenance.json"), indent=2)
    if blocks:
        sections.append(Section("Configuration and provenance", preformatted=blocks))
    return write_html_report(out / "report.html", title=title or f"ecgfe report: {out.name}",
                             sections=sections)
