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


def test_threads_are_kept_and_a_call_inside_a_block_runs_there():
    names, inner = set(), []

    def run(rows):
        names.add(threading.current_thread().name)

    for _ in range(5):  # a pool per call would name new threads each time
        on_threads(run, 8 * MIN_ROWS, num_workers=2)
    assert 1 <= len(names) <= 2 and threading.current_thread().name not in names

    def nested(rows):  # every block of the inner call on the outer's thread
        me, seen = threading.get_ident(), set()
        on_threads(lambda r: seen.add(threading.get_ident()), 8 * MIN_ROWS)
        inner.append(seen == {me})

    on_threads(nested, 8 * MIN_ROWS, num_workers=2)
    assert len(inner) == 8 and all(inner)


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork")
def test_a_forked_child_gets_threads_of_its_own():
    import multiprocessing

    on_threads(lambda rows: None, 8 * MIN_ROWS, num_workers=2)  # the parent's
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        assert pool.apply(_rows_done_in_child, (8 * MIN_ROWS,)) == 8 * MIN_ROWS


def _rows_done_in_child(n):
    done = np.zeros(n, int)

    def run(rows):
        done[rows] += 1

    on_threads(run, n, num_workers=2)
    return int(done.sum())


def test_the_fit_s_background_check_runs_on_one_kept_thread():
    from hyperspy_perovskite.signals._cl_fit import _in_background

    first = _in_background(threading.get_ident)()
    second = _in_background(threading.get_ident)()
    assert first == second != threading.get_ident()
    with pytest.raises(ZeroDivisionError):  # raised where the result is read
        _in_background(lambda: 1 / 0)()


def test_submit_inside_a_block_runs_there_and_errors_reach_the_caller():
    from hyperspy_perovskite._threads import submit

    def outer(rows):  # e.g. fast_multifit's blocks called from a block
        me = threading.get_ident()
        return [submit(2, threading.get_ident).result() == me for _ in range(4)]

    assert all(submit(2, outer, slice(0, 1)).result())
    with pytest.raises(ZeroDivisionError):
        submit(2, lambda: 1 / 0).result()
    with pytest.raises(ValueError, match="block 3"):

        def run(rows):
            if rows.start == 3 * MIN_ROWS:
                raise ValueError("block 3")

        on_threads(run, 8 * MIN_ROWS, num_workers=2)
