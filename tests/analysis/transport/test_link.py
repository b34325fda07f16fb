"""The structure-device link table and figure."""

from dataclasses import dataclass

import numpy as np
import pytest

from hyperspy_perovskite.analysis.transport.link import StructureDeviceLink
from hyperspy_perovskite.data.jv_simulation import simulate_electrical_log
from hyperspy_perovskite.results import ResultTable
from hyperspy_perovskite.signals.electrical import electrical_log


@dataclass
class _Kinetics:  # the attributes of signals.kinetics.KineticsResult used here
    onset: np.ndarray
    onset_std: np.ndarray
    time_units: str
    bias_on: float | None


def test_table_and_figure():
    d = simulate_electrical_log(seed=0)
    log = electrical_log({"time": d["time"], "Bias": (d["voltage"], "V"),
                          "Current": (d["current"], "A")})  # fmt: skip
    link = StructureDeviceLink()
    link.add_onset(
        "region B",
        "perovskite (001) fringes",
        _Kinetics(np.array([1.5, 1.6]), np.array([0.1, 0.1]), "min", 5.0),
    )
    saed = ResultTable({"onset": [95.0]}, units={"onset": "s"}, std={"onset": [3.0]})
    link.add_onset("region B", "SAED {001} family", saed)
    link.add_onset("device", "conductance", log)
    link.add_onset("region B", "I accumulation at SnO2", (2.0, 0.5), time_units="min")
    fom = ResultTable(
        {"Jsc": [23.6], "PCE": [18.7]},
        std={"PCE": [0.1]},
        units={"Jsc": "mA/cm^2", "PCE": "%"},
        index=["initial"],
    )
    link.add_figures_of_merit("device", "before", fom, row="initial")
    t = link.table()
    assert len(t) == 6
    assert link.bias_on == 300.0  # the kinetics result's bias_on, 5 min
    np.testing.assert_allclose(t["onset"][:2], [90.0, 96.0])
    np.testing.assert_allclose(t.std["onset"][:2], [6.0, 6.0])
    assert t["kind"][3] == "electrical" and t["kind"][5] == "J-V"
    assert abs(t["onset"][3] - 80.0) < 3 * t.std["onset"][3]
    assert float(t["PCE"][5]) == 18.7 and np.isnan(t["onset"][5])
    assert t.units["onset_after_bias"] == "s"
    fig = link.plot(electrical=log)
    ax = fig.axes[0]
    assert "(s)" in ax.get_xlabel() and ax.get_legend() is not None
    assert fig.axes[1].get_ylabel() == "PCE (%)"
    assert fig.dpi >= 150


def test_bad_source():
    link = StructureDeviceLink(bias_on="1 min")
    assert link.bias_on == 60.0
    with pytest.raises(TypeError, match="Cannot read an onset"):
        link.add_onset("x", "y", object())
    with pytest.raises(ValueError, match="no 'onset' column"):
        link.add_onset("x", "y", ResultTable({"t": [1.0]}))


def test_real_kinetics_result_joins_the_link():
    import hyperspy.api as hs

    from hyperspy_perovskite.analysis.kinetics import jmak
    from hyperspy_perovskite.signals.kinetics import fit_kinetics

    t = np.linspace(0.0, 300.0, 151)
    rng = np.random.default_rng(0)
    y = 0.2 + jmak(t, 1.0, 0.02, 1.5, 90.0) + rng.normal(0, 0.01, (2, t.size))
    s = hs.signals.Signal1D(y)
    ax = s.axes_manager[-1]
    ax.scale, ax.units, ax.name = t[1], "s", "time"
    k = fit_kinetics(s, bias_on=10.0, onset_uncertainty="covariance")
    link = StructureDeviceLink()
    link.add_onset("region B", "(001) fringes", k)
    link.add_onset("region B", "(001) fringes, table", k.table())
    tab = link.table()
    assert link.bias_on == 10.0 and len(tab) == 4
    np.testing.assert_allclose(tab["onset"][:2], k.onset.ravel())
    np.testing.assert_allclose(tab["onset"][2:], k.onset.ravel())
    np.testing.assert_allclose(tab.std["onset"][:2], k.onset_std.ravel())
    np.testing.assert_allclose(tab["onset_after_bias"][:2], k.onset_after_bias.ravel())
