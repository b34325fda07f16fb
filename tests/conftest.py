"""Shared test configuration: no progress bars, no windows."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import matplotlib

matplotlib.use("Agg")

import hyperspy.api as hs  # noqa: E402
import pytest  # noqa: E402

hs.preferences.General.show_progressbar = False

REALDATA = os.path.join(os.path.dirname(__file__), "data")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
