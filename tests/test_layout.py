"""The small core: import layers along the signal path, module and function sizes, a fast ``import acquire``."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("acquire", "frontend_models")

#: Layers, lowest first. A module may import its own layer and those below, never one above.
#: (sources, analog, digital and the amplifier models are the signal path's boxes; the
#: runner and front-end builder chain them; evaluation scores runs; output writes them;
#: studies run many; the API and its result objects sit on top.)
LAYERS = [
    ("acquire._check", "acquire._version", "acquire.noise", "acquire.stage", "acquire.config_types"),
    ("acquire.sources", "acquire.analog", "acquire.digital", "frontend_models", "acquire.config"),
    ("acquire.frontend", "acquire.runner"),
    ("acquire.evaluation",),
    ("acquire.output",),
    ("acquire.studies",),
    ("acquire.api", "acquire.design", "acquire.results", "acquire.compliance_results", "acquire.commands", "acquire"),
]

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def layer_of(module: str) -> int:
    """Index of the most specific layer prefix that ``module`` falls under."""
    best, best_len = None, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    if best is None:
        raise AssertionError(f"module {module} is in no layer; add it to LAYERS")
    return best


def modules():
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path


def imported(path: Path) -> set[str]:
    """Every project module that ``path`` imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from acquire.output import figures`` imports the module acquire.output.figures
            out |= {f"{node.module}.{a.name}" if (REPO / node.module.replace(".", "/") / a.name).exists()
                    or (REPO / node.module.replace(".", "/") / f"{a.name}.py").exists() else node.module
                    for a in node.names}
    return {m for m in out if m.split(".")[0] in PACKAGES}


def test_every_module_is_in_a_layer_and_the_layers_cover_the_signal_path():
    names = [name for name, _ in modules()]
    for name in names:
        layer_of(name)
    for box in ("acquire.sources", "acquire.analog", "acquire.digital", "acquire.evaluation",
                "acquire.studies", "acquire.output"):
        assert box in names, f"{box} is missing"


def test_lower_layers_never_import_higher_ones():
    violations = [f"{name} (layer {layer_of(name)}) imports {dep} (layer {layer_of(dep)})"
                  for name, path in modules() for dep in sorted(imported(path))
                  if layer_of(dep) > layer_of(name)]
    assert violations == []


def test_the_layer_check_catches_an_upward_import(tmp_path):
    # The checker itself: an analog module importing evaluation is reported.
    bad = tmp_path / "bad.py"
    bad.write_text("from acquire.evaluation.metrics import snr_db\n")
    deps = imported(bad)
    assert deps == {"acquire.evaluation.metrics"}
    assert layer_of("acquire.analog.mains") < layer_of("acquire.evaluation.metrics")


def _function_code_lines(node) -> int:
    """Lines of a function without its docstring."""
    total = node.end_lineno - node.lineno + 1
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        total -= first.end_lineno - first.lineno + 1
    return total


@pytest.mark.parametrize("path", [p for _, p in modules()] + [REPO / "cli.py"], ids=lambda p: p.name)
def test_modules_and_functions_are_small(path):
    lines = path.read_text().splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{path} has {len(lines)} lines"
    long = [(n.name, _function_code_lines(n)) for n in ast.walk(ast.parse("\n".join(lines)))
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and _function_code_lines(n) > MAX_FUNCTION_LINES]
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines of code (docstring excluded) in {path}"


def test_import_acquire_loads_no_heavy_module():
    # The API is lazy: importing the package must not pull in numpy, scipy, matplotlib or wfdb
    # (bench/bench_import.py measures the time; this checks the cause).
    code = "import sys, acquire; print(sorted(m for m in ('numpy','scipy','matplotlib','wfdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves():
    import acquire
    from acquire import api

    for name in acquire.__all__:
        assert getattr(acquire, name) is getattr(api, name)
    with pytest.raises(AttributeError, match="no attribute 'simulat'"):
        acquire.simulat
