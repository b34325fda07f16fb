"""Doctest configuration: ``np`` and ``hs`` in every docstring example."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import matplotlib

matplotlib.use("Agg")

import hyperspy.api as hs  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

hs.preferences.General.show_progressbar = False


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["np"] = np
    doctest_namespace["hs"] = hs
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
