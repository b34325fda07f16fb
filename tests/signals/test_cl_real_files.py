"""Real CL files (RosettaSciIO test data, GPL-3.0-or-later; provenance in
tests/data/README.md): every model's valid pixels hold no garbage.

Over the pixels marked valid: no parameter at a bound, no band narrower than
a channel (a spike), centres inside the fitted range, Urbach energies in
2-200 meV with a significant tail amplitude, and NaN in every map outside
validity. The Delmic files hold no emission (flat dark counts): no pixel may
be valid there (a negative control the look-elsewhere threshold must pass).
"""

import os
import warnings

import hyperspy.api as hs
import numpy as np
import pytest

CL_DATA = os.path.join(os.path.dirname(__file__), "..", "data", "cl")
FILES = {
    "monarc": ("test-MonarcCL_spectrum-SI.dm4", {}, "CL_STEM_perovskite"),
    "monocl": ("test-MonoCL_spectrum-SI.dm4", {}, "CL_STEM_perovskite"),
    "attolight": ("test_spectral_map.sur", {}, "CL_SEM_perovskite"),
    "sparc": ("sparc-hyperspectral.h5", {"file_format": "Delmic"}, "CL_SEM_perovskite"),
    "delmic": ("test_hyperspectral.h5", {"file_format": "Delmic"}, "CL_SEM_perovskite"),
}
MODELS = {
    "asymmetric": dict(band="asymmetric"),
    "two": dict(n_peaks=2),
    "tail": dict(tail=True, axis="energy"),
}
# (file, model) -> least number of valid pixels (measured: the check bites)
CASES = {
    ("monarc", "two"): 1,
    ("monocl", "asymmetric"): 20,
    # 30 of 67 (was 53, then 38): 15 band fits whose tail is not resolved
    # (amplitude 0.1-1.5 std) are "band tail not identified": refit with
    # tail=False; 8 more whose Eu (about 17 meV) the data do not resolve
    # below the band width (signals/_cl_urbach.py)
    ("monocl", "tail"): 27,
    ("attolight", "asymmetric"): 120,
    ("attolight", "tail"): 120,
    ("sparc", "two"): 0,
    ("delmic", "tail"): 0,
}


def _load(name):
    fname, kw, stype = FILES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hs.load(os.path.join(CL_DATA, fname), signal_type=stype, **kw)


def _at_bound(p, valid):
    hits = 0
    vals = np.asarray(p.map["values"], float)
    for b in (p.bmin, p.bmax):
        if b is not None:
            hits += int(np.sum(np.isclose(vals, b, rtol=1e-6, atol=1e-12) & valid))
    return hits


@pytest.mark.parametrize("name, model", list(CASES))
def test_real_file_valid_pixels_hold_no_garbage(name, model):
    s = _load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m = s.fit_emission(**MODELS[model])
        maps = s.emission_maps(m)
    v = maps["valid"].data
    least = CASES[(name, model)]
    if least == 0:  # no emission in the file: nothing is a band
        assert not v.any()
    assert v.sum() >= least
    x = m.signal.axes_manager.signal_axes[0].axis
    for key in ("centre", "sigma", "area"):
        assert np.all(np.isnan(maps[key].data[~v]))
        assert np.all(np.isfinite(maps[key].data[v]))
        assert np.all(np.isfinite(maps[f"{key}_std"].data[v]))
    assert np.all(
        (maps["centre"].data[v] >= x.min()) & (maps["centre"].data[v] <= x.max())
    )
    assert np.all(maps["sigma"].data[v] >= np.min(np.abs(np.diff(x))))
    band = m["Emission"]
    for p in band.parameters:
        if p.free and p.twin is None:
            assert _at_bound(p, v) == 0, (p.name, name, model)
    if "urbach_energy" in maps:
        tv = maps["urbach_valid"].data
        eu = maps["urbach_energy"].data
        assert np.array_equal(np.isfinite(eu), tv)  # NaN wherever not valid
        assert np.all((eu[tv] >= 2.0) & (eu[tv] <= 200.0))  # meV
        tail = m["Urbach"]
        z = tail.A.map["values"] / tail.A.map["std"]
        assert np.all(z[tv] > 3.0)
        for p in tail.parameters:
            if p.free and p.twin is None:
                assert _at_bound(p, tv) == 0, (p.name, name, model)
