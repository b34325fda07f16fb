"""The one options resolver and result wrapper."""

import dask.array as da
import hyperspy.api as hs
import numpy as np
import pytest

from hyperspy_perovskite.signals._base import (
    OPTIONS_PARAMETERS,
    Options,
    as_requested,
    compute,
    resolve_options,
    wrap_navigation_map,
)
from hyperspy_perovskite.validity import Validity


@pytest.mark.parametrize("lazy", [False, True])
def test_lazy_output_follows_signal(lazy):
    s = hs.signals.Signal1D(np.zeros((2, 3, 4)))
    s = s.as_lazy() if lazy else s
    assert resolve_options(s).lazy_output is lazy
    assert resolve_options(s, lazy_output=not lazy).lazy_output is (not lazy)


def test_refusals():
    s = hs.signals.Signal1D(np.zeros(4))
    with pytest.raises(ValueError, match="cannot be combined"):
        resolve_options(s, inplace=True, lazy_output=True)
    with pytest.raises(ValueError, match="positive integer"):
        resolve_options(s, num_workers=0)


def test_compute_respects_options(capsys):
    x = da.ones((4, 4), chunks=2)
    assert isinstance(compute(x, Options(lazy_output=True)), da.Array)
    out = compute(x, Options(show_progressbar=False, num_workers=1))
    assert isinstance(out, np.ndarray) and capsys.readouterr().out == ""
    # numpy input: nothing to compute, never a progress bar
    y = np.ones(3)
    assert compute(y, Options(show_progressbar=True)) is y
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("lazy_in", [False, True])
@pytest.mark.parametrize("lazy_out", [None, False, True])
def test_wrap_map_lazy_equals_eager(lazy_in, lazy_out):
    s = hs.signals.Signal1D(np.zeros((3, 4, 8)))
    s.axes_manager[0].units = "nm"
    s.axes_manager[0].scale = 2.0
    s = s.as_lazy() if lazy_in else s
    opts = resolve_options(s, lazy_output=lazy_out)
    data = np.arange(12.0).reshape(3, 4)
    data = da.from_array(data) if lazy_in else data
    v = Validity(np.arange(12).reshape(3, 4) % 2 == 0)
    m = wrap_navigation_map(
        data, s, title="T", quantity="Q", units="eV", options=opts, validity=v
    )
    assert m._lazy is opts.lazy_output
    m_data = m.data.compute() if m._lazy else m.data
    assert np.isnan(m_data[0, 1]) and m_data[0, 2] == 2
    assert m.axes_manager[0].units == "nm" and m.axes_manager[0].scale == 2
    assert m.metadata.Signal.quantity == "Q (eV)"
    assert Validity.from_metadata(m.metadata).fraction == 0.5


def test_wrap_refuses_wrong_shape():
    s = hs.signals.Signal1D(np.zeros((3, 4, 8)))
    with pytest.raises(ValueError, match="navigation"):
        wrap_navigation_map(
            np.ones((4, 3)), s, title="", quantity="", units="", options=Options()
        )


def test_as_requested():
    s = hs.signals.Signal1D(np.zeros(4))
    assert as_requested(s, Options(lazy_output=True))._lazy
    assert not as_requested(s.as_lazy(), Options())._lazy


def test_docstring_fragments_are_hyperspys():
    assert OPTIONS_PARAMETERS["lazy_output"].startswith("lazy_output : None or bool")
    assert "inplace" in OPTIONS_PARAMETERS["inplace"]
