"""Pixels whose binned fit found no Urbach tail
(:mod:`hyperspy_perovskite.signals._cl_settle`); their passes through a
whole fit are tested in ``test_cl_start.py``."""

import numpy as np

from hyperspy_perovskite.signals import _cl_settle


def test_tail_absent_only_with_a_free_tail():
    """Held or shared shape (the band does not wait for the tail), or no
    continuous tail: every pixel gets its full-resolution fit."""

    class Settings:
        tail, eu_mode = "continuous", "held"

    assert _cl_settle.tail_absent(None, Settings(), np.ones(3, bool)) is None
    Settings.tail, Settings.eu_mode = "step", None
    assert _cl_settle.tail_absent(None, Settings(), np.ones(3, bool)) is None
