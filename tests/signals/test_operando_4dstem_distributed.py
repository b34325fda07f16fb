"""The same analysis on a 2-worker dask.distributed cluster equals the local one."""

import numpy as np
import pytest

from hyperspy_perovskite.data.operando_4dstem_simulation import simulate_operando_4dstem

distributed = pytest.importorskip("dask.distributed")


def test_distributed_equals_local():
    s, _ = simulate_operando_4dstem(
        n_time=2,
        scan_shape=(6, 24),
        pattern_size=48,
        lazy=True,
        chunks=(1, 3, 24),
        seed=4,
    )
    local = s.analyse(phases=("Pb",))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster),
    ):
        remote = s.analyse(phases=("Pb",))
    np.testing.assert_array_equal(local._strain, remote._strain)
    np.testing.assert_array_equal(local.offsets, remote.offsets)
    assert local.interface_strain == remote.interface_strain
