"""The one table type."""

import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.results import ResultTable


def _table():
    return ResultTable(
        {"Jsc": [23.6, 23.5], "Voc": [1.04, 0.93], "state": ["initial", "aged"]},
        units={"Jsc": "mA/cm^2", "Voc": "V"},
        std={"Voc": [0.01, 0.02]},
        title="FoM",
    )


def test_columns_units_std():
    t = _table()
    assert t.column_names == ["Jsc", "Voc", "state"]
    assert t["Voc"][1] == 0.93 and t.units["Voc"] == "V"
    assert "0.93 ± 0.02" in str(t)
    assert "<th>Jsc (mA/cm^2)</th>" in t._repr_html_()
    assert t.row("1")["state"] == "aged"


def test_csv(tmp_path):
    t = _table()
    t.to_csv(tmp_path / "t.csv")
    lines = (tmp_path / "t.csv").read_text().splitlines()
    assert lines[0] == "row,Jsc (mA/cm^2),Voc (V),Voc_std (V),state"
    assert lines[2].startswith("1,23.5,0.93,0.02,aged")


@pytest.mark.parametrize("ext", ["hspy", "zspy"])
def test_survives_save_load(tmp_path, ext):
    t = _table()
    s = hs.signals.Signal1D(np.zeros(3))
    t.to_metadata(s.metadata, "Figures_of_merit")
    s.save(tmp_path / f"t.{ext}")
    back = ResultTable.from_metadata(
        hs.load(tmp_path / f"t.{ext}").metadata, "Figures_of_merit"
    )
    assert back == t


def test_bad_tables_refused():
    with pytest.raises(ValueError, match="same length"):
        ResultTable({"a": [1, 2], "b": [1]})
    with pytest.raises(KeyError, match="columns are"):
        _table()["PCE"]
