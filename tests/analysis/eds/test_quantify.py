"""Cliff-Lorimer quantification of line intensities (analysis.eds.quantify)."""

import numpy as np
import pytest

from hyperspy_perovskite.analysis.eds.quantify import (
    atomic_k_factors,
    quantify_intensities,
)

LINES = ["Pb_La", "I_La", "Br_Ka"]
K = [1.9, 1.1, 1.0]  # exSpy weight-fraction convention
WEIGHTS = {"Pb": 207.2, "I": 126.90447, "Br": 79.904}  # IUPAC standard weights


def test_atomic_k_factors_divide_by_atomic_weight():
    got = atomic_k_factors(LINES, K)
    want = [k / WEIGHTS[ln.split("_")[0]] for ln, k in zip(LINES, K, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_composition_recovered_with_honest_errors():
    """Intensities of a known composition (I_i ~ c_i / (k_i / A_i)), Poisson
    draws: exact noise-free, and pulls of the at% with mean ~0, std ~1."""
    c = np.array([0.2, 0.65, 0.15])  # atomic fractions of ABX3-like mix
    kk = np.array(
        [k / WEIGHTS[ln.split("_")[0]] for ln, k in zip(LINES, K, strict=True)]
    )
    mean = 2e4 * (c / kk) / np.sum(c / kk)
    v, _, names = quantify_intensities(mean[:, None], mean[:, None], LINES, K)
    assert names == LINES
    np.testing.assert_allclose(v[0], 100 * c, rtol=1e-3)
    counts = np.random.default_rng(0).poisson(mean[:, None], (3, 4000)).astype(float)
    v, var, _ = quantify_intensities(counts, counts, LINES, K)
    pull = (v - 100 * c) / np.sqrt(var)
    assert np.all(np.abs(pull.mean(axis=0)) < 0.1)
    np.testing.assert_allclose(pull.std(axis=0), 1.0, atol=0.06)
    assert np.mean(np.abs(pull) < 1) == pytest.approx(0.683, abs=0.03)
