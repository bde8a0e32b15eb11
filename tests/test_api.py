"""The public API: README's code blocks and every docstring example run; CLI and API resolve alike."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import acquire
from acquire import api

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_readme_python_blocks_run():
    blocks = python_blocks(README.read_text())
    assert blocks, "README has no ```python block"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    # The example's own numbers: the INA128 run measured a finite effective CMRR below its 106 dB part CMRR
    # (worst-case polarity, IEC imbalance), and the comparison has one row per preset.
    assert 60 < namespace["acq"]["cmrr_effective_db"] < 106
    assert [r["preset"] for r in namespace["cmp"].rows] == ["ad8232", "ina128"]


def test_api_docstring_examples_run():
    from acquire import design

    for module in (api, design):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert result.attempted >= 2 and result.failed == 0


@pytest.mark.parametrize("name", acquire.__all__)
def test_every_public_function_has_a_numpydoc_docstring_with_examples(name):
    doc = getattr(acquire, name).__doc__
    for section in ("Returns", "Examples"):
        assert f"{section}\n    -------" in doc, f"{name} lacks {section}"


def test_cli_and_api_resolve_one_configuration(tmp_path):
    from typer.testing import CliRunner

    import tomllib
    from cli import app

    r = CliRunner().invoke(app, ["config", "show", "--preset", "ad8232", "--set", "mains.frequency_hz=50",
                                 "--set", "electrodes.imbalance=20e3"])
    assert r.exit_code == 0, r.output
    cli_cfg = tomllib.loads(r.stdout)
    api_cfg = acquire.load_config(preset="ad8232", mains__frequency_hz=50, electrodes__imbalance=20e3)
    # config show adds the preset's [post] and [adc] as the chain builder completes them (acquire.commands.run_config)
    assert {k: v for k, v in cli_cfg.items() if k not in ("post", "adc")} == {
        k: v for k, v in api_cfg.items() if k not in ("post", "adc")}
    from acquire.commands import run_config

    assert cli_cfg == run_config(preset="ad8232", mains__frequency_hz=50, electrodes__imbalance=20e3)
    assert api_cfg == acquire.load_config(config={"mains": {"frequency_hz": 50}, "amplifier": {"preset": "ad8232"},
                                                  "electrodes": {"imbalance": 20e3}})


def test_api_argument_errors_name_the_fix():
    with pytest.raises(TypeError, match="section__key"):
        acquire.load_config(cmrr_db=90)
    with pytest.raises(ValueError, match="unknown key amplifier.cmrr.*Did you mean 'cmrr_db'"):
        acquire.load_config(amplifier__cmrr=90)
    with pytest.raises(ValueError, match="at least two presets"):
        acquire.compare(["ina128"])


def test_a_50_hz_grid_implies_230_v_unless_the_voltage_is_given():
    assert acquire.load_config(mains__frequency_hz=50)["mains"]["mains_v_rms"] == 230.0
    assert acquire.load_config()["mains"]["mains_v_rms"] == 120.0
    assert acquire.load_config(mains__frequency_hz=50, mains__mains_v_rms=120.0)["mains"]["mains_v_rms"] == 120.0
    # an explicit notch frequency is never retuned: a user's own [[digital]] list is kept as written
    cfg = acquire.load_config(mains__frequency_hz=50, config={"digital": [{"kind": "notch", "f0_hz": 60.0}]})
    assert cfg["digital"][0]["f0_hz"] == 60.0
