"""Tests for the stage protocol and the chain."""

import numpy as np
import pytest

from acquire.stage import Chain, Chunk, Stage
from tests.contract import check_stage_contract


class Scale:
    """A minimal stateful stage: a one-sample delay times a gain, y[n] = g x[n-1]."""

    def __init__(self, gain, fs_hz=100.0, fs_out_hz=None):
        self.gain, self.fs_in_hz = gain, fs_hz
        self.fs_out_hz = fs_hz if fs_out_hz is None else fs_out_hz
        self.reset()

    def reset(self):
        self.last_ = None

    def process(self, chunk):
        x = chunk.diff_v * self.gain
        last = np.zeros((x.shape[0], 1)) if self.last_ is None else self.last_
        y = np.concatenate([last, x], axis=-1)
        self.last_ = y[:, -1:]
        return Chunk(y[:, :-1], start_sample=chunk.start_sample)


def test_chain_is_a_stage_and_composes_in_order():
    x = Chunk(np.arange(12.0).reshape(2, 6))
    chain = Chain([("a", Scale(2.0)), ("b", Scale(0.5))])
    assert isinstance(chain, Stage)
    # Oracle: two one-sample delays and a net gain of 1, by hand.
    expected = np.concatenate([np.zeros((2, 2)), x.diff_v[:, :-2]], axis=-1)
    np.testing.assert_array_equal(chain.process(x).diff_v, expected)
    assert chain["b"].gain == 0.5


def test_chain_passes_contract():
    x = Chunk(np.random.default_rng(0).standard_normal((2, 500)))
    check_stage_contract(lambda: Chain([("a", Scale(2.0)), ("b", Scale(0.5))]), x)


def test_chain_rejects_inconsistent_rates():
    with pytest.raises(ValueError, match="'a' outputs 100 Hz but 'b' expects 200 Hz"):
        Chain([("a", Scale(1.0, 100.0)), ("b", Scale(1.0, 200.0))])


def test_chain_rejects_duplicate_names_and_empty():
    with pytest.raises(ValueError, match="unique"):
        Chain([("a", Scale(1.0)), ("a", Scale(1.0))])
    with pytest.raises(ValueError, match="at least one"):
        Chain([])
