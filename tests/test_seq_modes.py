"""The forward/reverse KL picture: one bump fitted to two peaks covers both by forward KL and sits on one
by reverse KL."""
import math

import pytest

from lab.seq.modes import fit_one_mode, two_modes


def test_forward_kl_covers_and_reverse_kl_seeks():
    target = two_modes()
    forward, reverse = fit_one_mode(target, 0.0), fit_one_mode(target, 1.0)
    assert forward["centre"] == pytest.approx(0.5, abs=0.03) and forward["width"] > 0.2
    assert min(abs(reverse["centre"] - 0.25), abs(reverse["centre"] - 0.75)) < 0.03 and reverse["width"] < 0.1
    # On one of two equal peaks, reverse KL is log 2: the student misses half the teacher, at no cost to itself
    assert reverse["divergence"] == pytest.approx(math.log(2), abs=0.01)
    assert sum(forward["student"]) == pytest.approx(1) and len(forward["x"]) == len(forward["teacher"])
