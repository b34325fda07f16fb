"""The in situ pipeline at real scale: drift -> fringe tiles -> kinetics.

A 4096 x 4096 uint16 movie (default 400 frames, 13 GB uncompressed) is
written to a zarr store frame by frame (never held in memory), opened lazily
and analysed with the same calls on the threaded scheduler and on a 2-worker
``dask.distributed.LocalCluster``:

1. ``shifts = s.estimate_drift()`` (binned phase correlation + crop
   refinement, one frame per chunk);
2. ``tiles = s.fringe_intensity(6.36, tile_size=256, shifts=shifts,
   lazy_output=True)`` (tiles follow the specimen, no resampling), reduced to
   the mean power of the tiles inside the fading grain per frame;
3. ``fit_kinetics(trace)`` (JMAK, profile-likelihood onset).

The movie (simulated here): a textured specimen (contrast 10 % of 200
counts/px), a perovskite grain (6.36 A fringes at 0.5 A/px, amplitude 6
counts) whose fringes fade by JMAK kinetics (onset 40 % into the movie),
integer drift of up to 12 px, Poisson counts.

Reported: wall time, frames/s of each step, peak resident memory of the
process (``ru_maxrss``) and, on the cluster, of each worker, the onset
against the truth. Run: ``python benchmarks/bench_pipeline.py [n_frames]
[store]``.
"""

import json
import os
import resource
import sys
import tempfile
import time

import numpy as np

D = 6.36
PX = 0.5
N = 4096


def _truth(n_frames):
    t = np.arange(n_frames) * 0.04
    t0 = 0.4 * t[-1]
    k = 3.0 / t[-1]
    amp = np.where(t > t0, np.exp(-((k * (t - t0)) ** 2)), 1.0)
    drift = np.round(np.linspace(0, 12, n_frames)).astype(int)
    return t, t0, k, amp, drift


def write_movie(path, n_frames, seed=0):
    import dask.array as da
    import scipy.ndimage

    rng = np.random.default_rng(seed)
    pad = 32
    base = scipy.ndimage.gaussian_filter(
        rng.normal(size=(N + pad, N + pad)).astype(np.float32), 8
    )
    base = base / base.std() * 20 + 200
    y, x = np.mgrid[: N + pad, : N + pad].astype(np.float32) * PX
    fringe = 6.0 * np.cos(2 * np.pi * (0.8 * x + 0.6 * y) / D).astype(np.float32)
    grain = np.zeros((N + pad, N + pad), bool)
    grain[: (N + pad) // 2, : (N + pad) // 2] = True
    fringe *= grain
    _, _, _, amp, drift = _truth(n_frames)

    def frame(block, block_info=None):
        i = block_info[0]["chunk-location"][0]
        d = drift[i]
        img = base[d : d + N, d : d + N] + amp[i] * fringe[d : d + N, d : d + N]
        g = np.random.default_rng(seed + 1 + i)
        # shot noise: the normal limit of Poisson counts (200 counts/px:
        # skewness 0.07), drawn in float32, 10x faster than g.poisson at 16 Mpx
        z = g.standard_normal(img.shape, dtype=np.float32)
        img = np.rint(img + np.sqrt(np.clip(img, 0, None)) * z)
        return np.clip(img, 0, 65535)[None].astype(np.uint16)

    movie = da.map_blocks(
        frame,
        da.zeros((n_frames, N, N), dtype=np.uint16, chunks=(1, N, N)),
        dtype=np.uint16,
    )
    import dask

    with dask.config.set(scheduler="threads", num_workers=2):
        movie.to_zarr(path, overwrite=True)


def open_movie(path):
    import dask.array as da
    import hyperspy.api as hs

    s = hs.signals.Signal2D(da.from_zarr(path)).as_lazy()
    s.set_signal_type("insitu_image_series")
    s.axes_manager[0].units, s.axes_manager[0].scale = "s", 0.04
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale = "A", PX
    return s


def pipeline(s):
    import dask
    import hyperspy.api as hs

    from hyperspy_perovskite.signals.kinetics import fit_kinetics

    out = {}
    t0, c0 = time.perf_counter(), time.process_time()
    sh = s.estimate_drift(show_progressbar=False, lazy_output=False)
    out["drift_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    # non-overlapping tiles: their noise is independent, so the variance of
    # the grain's mean is the sum of the tile variances / n^2
    tiles = s.fringe_intensity(D, tile_size=256, step=256, shifts=sh, lazy_output=True)
    # tiles wholly inside the grain (rows and columns < N / 2 + 16 px of the
    # reference frame): tile centres + half a tile
    ax_x, ax_y = tiles.axes_manager.signal_axes
    iy, ix = (int(np.sum(a.axis / PX + 128 <= N // 2 + 16)) for a in (ax_y, ax_x))
    grain = (slice(None), slice(None, iy), slice(None, ix))
    var = tiles.metadata.Signal.Noise_properties.variance.data[grain]
    inside = tiles.data[grain]
    n_tiles = inside.shape[1] * inside.shape[2]
    mean, var_sum = dask.compute(inside.mean(axis=(1, 2)), var.sum(axis=(1, 2)))
    out["fringe_tiles_s"] = time.perf_counter() - t1
    trace = hs.signals.Signal1D(np.asarray(mean))
    trace.metadata.set_item(
        "Signal.Noise_properties.variance",
        hs.signals.Signal1D(np.asarray(var_sum) / n_tiles**2),
    )
    ax = trace.axes_manager[0]
    ax.units, ax.scale = "s", 0.04
    t2 = time.perf_counter()
    r = fit_kinetics(trace, bias_on=None, show_progressbar=False)
    out["kinetics_s"] = time.perf_counter() - t2
    n = s.axes_manager.navigation_size
    out["drift_fps"] = n / out["drift_s"]
    out["fringe_fps"] = n / out["fringe_tiles_s"]
    out["total_s"] = time.perf_counter() - t0
    out["cpu_s_this_process"] = time.process_time() - c0
    t, t_on, _, _, drift = _truth(n)
    out["onset_s"] = float(r.onset)
    out["onset_interval_s"] = np.asarray(r.onset_interval).tolist()
    out["onset_truth_s"] = float(t_on)
    out["onset_pull"] = float(
        (t_on - r.onset)
        / (
            r.onset_interval[1] - r.onset
            if t_on > r.onset
            else r.onset - r.onset_interval[0]
        )
    )
    out["avrami_n"] = float(r.avrami_n)
    out["fit_valid"] = bool(np.all(r.validity.mask))
    out["reduced_chisq"] = float(np.ravel(r.reduced_chisq.data)[0])
    out["tiles_in_grain"] = int(n_tiles)
    out["_trace"] = np.asarray(mean).tolist()
    out["_shifts"] = np.asarray(sh.data).tolist()
    out["drift_rms_px"] = float(
        np.sqrt(np.mean((np.asarray(sh.data).T / PX - drift[:, None]) ** 2))
    )
    return out


def main(n_frames=400, store=None):
    store = store or os.path.join(tempfile.mkdtemp(), "movie.zarr")
    res = {"n_frames": n_frames, "frame_shape": [N, N], "store": store}
    t = time.perf_counter()
    write_movie(store, n_frames)
    res["write_s"] = time.perf_counter() - t
    res["load_average_1min_start"] = os.getloadavg()[0]
    import dask

    with dask.config.set(scheduler="threads", num_workers=2):
        res["threads"] = pipeline(open_movie(store))
    res["threads"]["peak_rss_GB"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    )
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as client:
            cpu0 = sum(client.run(time.process_time).values())
            res["cluster"] = pipeline(open_movie(store))
            res["cluster"]["cpu_s_workers"] = (
                sum(client.run(time.process_time).values()) - cpu0
            )
            res["cluster"]["worker_peak_rss_GB"] = list(
                client.run(
                    lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
                ).values()
            )
    res["load_average_1min_end"] = os.getloadavg()[0]
    a, b = res["threads"], res["cluster"]
    res["cluster_vs_threads_max_abs_diff"] = {
        "shifts_px": float(np.max(np.abs(np.subtract(a["_shifts"], b["_shifts"]))))
        / PX,
        "trace_relative": float(
            np.max(np.abs(np.subtract(a["_trace"], b["_trace"])))
            / np.max(np.abs(a["_trace"]))
        ),
    }
    for r in (a, b):
        r.pop("_trace"), r.pop("_shifts")
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 400,
        sys.argv[2] if len(sys.argv) > 2 else None,
    )
