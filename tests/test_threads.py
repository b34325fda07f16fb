"""The one threaded pass over rows (hyperspy_perovskite._threads)."""

import threading

import numpy as np
import pytest

from hyperspy_perovskite._threads import MIN_ROWS, on_threads


@pytest.mark.parametrize("n_rows", [0, 1, MIN_ROWS, 5 * MIN_ROWS + 7])
@pytest.mark.parametrize("num_workers", [1, 2, 3])
def test_every_row_once_in_blocks_within_the_bounds(n_rows, num_workers):
    seen = np.zeros(n_rows, int)
    sizes, lock = [], threading.Lock()

    def run(rows):
        seen[rows] += 1
        with lock:
            sizes.append(rows.stop - rows.start)

    on_threads(run, n_rows, max_rows=300, num_workers=num_workers)
    assert (seen == 1).all()
    if n_rows > MIN_ROWS:
        assert max(sizes) <= 300 and min(sizes[:-1]) >= MIN_ROWS


def test_blocks_run_on_the_threads_asked_for():
    names = set()

    def run(rows):
        names.add(threading.current_thread().name)

    on_threads(run, 8 * MIN_ROWS, num_workers=2)
    assert len(names) >= 1 and threading.main_thread().name not in names
    names.clear()
    on_threads(run, 8 * MIN_ROWS, num_workers=1)
    assert names == {threading.main_thread().name}
