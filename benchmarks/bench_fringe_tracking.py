"""Tile-wise lattice-fringe tracking vs the straightforward HyperSpy way.

Data: a simulated in situ HRTEM movie of 1024 x 1024 frames (perovskite and
PbI2 grains, shot noise, drift; :func:`hyperspy_perovskite.data.insitu_simulation.
simulate_insitu_hrtem`, grains scaled to the frame).

* our way: ``s.fringe_intensity([6.36, 6.96], tile_size=64)``: half-overlapping
  64-px tiles (31 x 31 per frame), Hann-apodised tile FFTs (compiled batched
  radix-4 kernels, float32) and the power summed over the two annuli with
  their background rings; dask chunks along time on the threaded scheduler.
* the straightforward HyperSpy way, as the issue defines it (``s.fft()`` of
  each frame and an annulus mask, whole frame, no tiles; the issue quotes
  about 3.4 frames/s at 1024 x 1024), timed in three forms:

  1. ``hyperspy_fft_roi`` (the primary reference, HyperSpy API only): for each
     frame ``p = abs(s.inav[i].fft(shift=True, apodization=True)) ** 2`` (a
     signal) and, per d-spacing, HyperSpy's annular region of interest
     ``hs.roi.CircleROI(cx=0, cy=0, r=1.02 / d, r_inner=0.98 / d)(p)`` summed
     with ``nansum`` over the signal axes.
  2. ``hyperspy_fft_numpy_mask`` (a stricter reference): the same ``s.fft()``
     per frame, but the power ``np.abs(f.data) ** 2`` summed in numpy under a
     boolean annulus mask ``|k - 1/d| <= 0.02 / d`` built once per frame from
     the signal axes.
  3. ``hyperspy_tilewise``: the numpy-mask way per 64-px half-overlapping tile
     (``frame.isig[...].fft()`` for each of the 961 tiles), timed on one frame.

  The two whole-frame ways should give the same traces (their correlation
  is reported).

Accuracy: the mean tile power inside the control perovskite grain against the
simulation's truth ``(c * counts)**2 / 2``, and the agreement of our
whole-frame traces with the HyperSpy way's (correlation of the normalised
6.36 A traces).

Memory: tracemalloc peak of our eager run; and, in a subprocess, the peak
resident set size (``ru_maxrss``) of a lazy run over a large lazily generated
series (dask Poisson frames, never held in memory at once).

Each way is timed twice (best run kept). Wall-clock throughput depends on the
load of the machine (reported as ``load_average_1min``); CPU time per frame
(all threads of the process) is reported beside it. Prints one JSON line with
our speed-up over each reference (``ratio_vs_*``). Timings are measurements,
never pass/fail tests. Usage::

    python benchmarks/bench_fringe_tracking.py                 # 24 frames, lazy 600
    python benchmarks/bench_fringe_tracking.py --frames 16 --lazy-frames 0
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings

import numpy as np

PX = 1.5  # A per pixel
D = [6.36, 6.96]  # perovskite (001), PbI2 (001), the amorphization-under-bias study


def simulate(n_frames, size):
    from hyperspy_perovskite.data.insitu_simulation import (
        D_PBI2_001,
        D_PEROVSKITE_001,
        simulate_insitu_hrtem,
    )

    r = 0.17 * size
    grains = [
        dict(
            name="perovskite_B",
            phase="perovskite",
            d=D_PEROVSKITE_001,
            centre=(0.27 * size, 0.25 * size),
            radius=r,
            angle=20.0,
            region="B",
            amorphizes=True,
        ),
        dict(
            name="PbI2_B",
            phase="PbI2",
            d=D_PBI2_001,
            centre=(0.73 * size, 0.25 * size),
            radius=r,
            angle=75.0,
            region="B",
            amorphizes=False,
        ),
        dict(
            name="perovskite_A",
            phase="perovskite",
            d=D_PEROVSKITE_001,
            centre=(0.5 * size, 0.75 * size),
            radius=r,
            angle=-35.0,
            region="A",
            amorphizes=False,
        ),
    ]
    return simulate_insitu_hrtem(
        n_frames=n_frames,
        frame_interval=300.0 / max(n_frames - 1, 1),
        shape=(size, size),
        pixel_size=PX,
        grains=grains,
    )


TOL = 0.02  # relative half-width of the whole-frame annuli of the HyperSpy ways


def hyperspy_way(s, frames):
    """HyperSpy API only: s.fft(), abs()**2 and an annular CircleROI per d."""
    import hyperspy.api as hs

    rois = [
        hs.roi.CircleROI(cx=0.0, cy=0.0, r=(1 + TOL) / d, r_inner=(1 - TOL) / d)
        for d in D
    ]
    out = np.empty((len(D), len(frames)))
    for j, i in enumerate(frames):
        p = abs(s.inav[i].fft(shift=True, apodization=True)) ** 2
        for b, roi in enumerate(rois):
            ring = roi(p)
            total = ring.nansum(axis=ring.axes_manager.signal_axes)
            out[b, j] = float(np.real(total.data).squeeze())
    return out


def hyperspy_numpy_mask_way(s, frames):
    """s.fft() of each frame and a numpy boolean annulus mask per d-spacing."""
    out = np.empty((len(D), len(frames)))
    for j, i in enumerate(frames):
        f = s.inav[i].fft(shift=True, apodization=True)
        p = np.abs(f.data) ** 2
        ky, kx = (ax.axis for ax in f.axes_manager.signal_axes[::-1])
        k = np.hypot(ky[:, None], kx[None, :])
        for b, d in enumerate(D):
            out[b, j] = p[np.abs(k - 1 / d) <= TOL / d].sum()
    return out


def time_way(way, s, frames):
    """Best-of-two frames/s and CPU ms per frame of a whole-frame way."""
    way(s, frames[:1])  # warm-up
    fps, cpu = 0.0, np.inf
    for _ in range(2):
        c0 = time.process_time()
        t0 = time.perf_counter()
        res = way(s, frames)
        fps = max(fps, len(frames) / (time.perf_counter() - t0))
        cpu = min(cpu, 1000 * (time.process_time() - c0) / len(frames))
    return res, fps, cpu


def trace_correlation(a, b):
    """Correlation of two 6.36 A traces, each normalised to its first frame."""
    if len(a) <= 2:
        return float("nan")
    return float(np.corrcoef(a / a[0], b / b[0])[0, 1])


def hyperspy_tiles_way(s, i, tile=64):
    """The same per 64-px tile, half-overlapping (961 tiles per 1024 frame)."""
    frame = s.inav[i]
    n = frame.axes_manager.signal_shape[0]
    res = []
    for y0 in range(0, n - tile + 1, tile // 2):
        for x0 in range(0, n - tile + 1, tile // 2):
            f = frame.isig[x0 : x0 + tile, y0 : y0 + tile].fft(
                shift=True, apodization=True
            )
            p = np.abs(f.data) ** 2
            ky, kx = (ax.axis for ax in f.axes_manager.signal_axes[::-1])
            k = np.hypot(ky[:, None], kx[None, :])
            res.append(
                [p[np.abs(k - 1 / d) <= 0.02 / d + 1 / (tile * PX)].sum() for d in D]
            )
    return np.asarray(res)


def lazy_run(n_frames, size, chunk):
    """Fringe tracking over a lazily generated Poisson series; returns stats."""
    import dask.array as da
    import hyperspy.api as hs

    hs.preferences.General.show_progressbar = False
    rng = da.random.default_rng(0)
    y, x = np.mgrid[:size, :size] * PX
    fringe = 1 + 0.3 * np.cos(2 * np.pi * x / D[0])
    lam = da.from_array((18.0 * fringe).astype(np.float32), chunks=-1)
    data = rng.poisson(lam[None], size=(n_frames, size, size), chunks=(chunk, -1, -1))
    data = data.astype(np.float32)
    s = hs.signals.Signal2D(data).as_lazy()
    s.set_signal_type("insitu_image_series")
    for ax in s.axes_manager.signal_axes:
        ax.units, ax.scale = "A", PX
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = s.fringe_intensity(D, tile_size=64, lazy_output=False)
    dt = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB
    return {
        "lazy_frames": n_frames,
        "lazy_series_GiB": n_frames * size * size * 4 / 1024**3,
        "lazy_seconds": dt,
        "lazy_frames_per_s": n_frames / dt,
        "lazy_peak_rss_GiB": rss,
        "lazy_mean_tile_power": float(np.mean(out.data[0])),
        "lazy_truth_tile_power": float((0.3 * 18.0) ** 2 / 2),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument(
        "--hs-frames", type=int, default=6, help="frames timed in the HyperSpy ways"
    )
    ap.add_argument("--lazy-frames", type=int, default=600)
    ap.add_argument("--lazy-chunk", type=int, default=8)
    ap.add_argument("--lazy-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.lazy_only:
        print(json.dumps(lazy_run(a.lazy_frames, a.size, a.lazy_chunk)))
        return

    import hyperspy.api as hs

    hs.preferences.General.show_progressbar = False
    s, truth = simulate(a.frames, a.size)
    warnings.simplefilter("ignore")

    # warm-up (imports, FFT plans) on 2 frames, then the timed run
    s.inav[:2].fringe_intensity(D, tile_size=64)
    # best of two timed runs, for both ways (the machine is shared)
    t_ours = cpu_ours = np.inf
    for rep in range(2):
        if rep == 1:
            tracemalloc.start()
        c0 = time.process_time()
        t0 = time.perf_counter()
        tiles = s.fringe_intensity(D, tile_size=64)
        t_ours = min(t_ours, time.perf_counter() - t0)
        cpu_ours = min(cpu_ours, time.process_time() - c0)
    mem_peak = tracemalloc.get_traced_memory()[1] / 1024**2
    tracemalloc.stop()
    fps_ours = a.frames / t_ours

    frames = list(range(min(a.hs_frames, a.frames)))
    ref, fps_hs, cpu_hs = time_way(hyperspy_way, s, frames)
    ref_np, fps_np, cpu_np = time_way(hyperspy_numpy_mask_way, s, frames)
    t0 = time.perf_counter()
    hyperspy_tiles_way(s, 0)
    fps_hs_tiles = 1.0 / (time.perf_counter() - t0)

    # accuracy: tiles fully inside the control grain (constant), vs truth
    g = truth["grains"][2]
    cy, cx = g["centre"]
    n_t = tiles.axes_manager.signal_shape[0]
    centres = 31.5 + 32 * np.arange(n_t)
    inside = (centres[:, None] - cy) ** 2 + (centres[None, :] - cx) ** 2 <= (
        g["radius"] - 46
    ) ** 2
    tile_ratio = float(np.mean(tiles.data[0][:, inside]) / truth["fringe_power"])
    ours_whole = s.inav[: len(frames)].fringe_intensity(D).data

    result = {
        "benchmark": "fringe_tracking",
        "frame_shape": [a.size, a.size],
        "frames": a.frames,
        "tiles_per_frame": int(n_t * n_t),
        "d_spacings_A": D,
        "ours_frames_per_s": fps_ours,
        "ours_cpu_ms_per_frame": 1000 * cpu_ours / a.frames,
        "load_average_1min": os.getloadavg()[0],
        "hyperspy_frames_timed": len(frames),
        "hyperspy_fft_roi_frames_per_s": fps_hs,
        "hyperspy_fft_roi_cpu_ms_per_frame": cpu_hs,
        "ratio_vs_hyperspy_fft_roi": fps_ours / fps_hs,
        "hyperspy_fft_numpy_mask_frames_per_s": fps_np,
        "hyperspy_fft_numpy_mask_cpu_ms_per_frame": cpu_np,
        "ratio_vs_hyperspy_fft_numpy_mask": fps_ours / fps_np,
        "hyperspy_tilewise_frames_per_s": fps_hs_tiles,
        "ratio_vs_hyperspy_tilewise": fps_ours / fps_hs_tiles,
        "tile_power_over_truth_control_grain": tile_ratio,
        "whole_frame_trace_correlation_vs_hyperspy": trace_correlation(
            ours_whole[0], ref[0]
        ),
        "whole_frame_trace_correlation_hyperspy_roi_vs_numpy_mask": (
            trace_correlation(ref[0], ref_np[0])
        ),
        "ours_tracemalloc_peak_MiB": mem_peak,
        "cores": os.cpu_count(),
    }
    if a.lazy_frames:
        p = subprocess.run(
            [
                sys.executable,
                __file__,
                "--lazy-only",
                "--lazy-frames",
                str(a.lazy_frames),
                "--size",
                str(a.size),
                "--lazy-chunk",
                str(a.lazy_chunk),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result.update(json.loads(p.stdout.strip().splitlines()[-1]))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
