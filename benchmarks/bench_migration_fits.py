"""Migration-profile fits: fast_multifit vs m.multifit, in one run.

Simulates ``n`` iodine line scans (Poisson counts) across a 400 nm layer
closed by blocking electrodes, ``t`` seconds after switching on 1 V, with the
finite-volume drift-diffusion solver (truth: mobility, and ``D`` from the
Einstein relation), and fits the transient drift-diffusion profile
(:class:`~hyperspy_perovskite.components.DriftDiffusionTransient`) to every
profile:

* our way: :func:`hyperspy_perovskite.signals.migration_fit.fit_migration_profile`
  (vectorised estimates + compiled ``fast_multifit``) on all profiles;
* HyperSpy's way: the same model and starting values with ``m.multifit()``
  (bounded, Poisson-weighted) on the first ``crop`` profiles; its
  per-profile throughput is extrapolated (one Python fit per profile).

Also times the blurred closed-layer transient (40 profiles of a 60 nm
layer with a 1.5 nm probe blur, the 48-node Gauss-Legendre kernel) in wall
and CPU time.

Prints one JSON line: profiles per second of each, their ratio, the median
relative error of ``D`` and ``mu`` against the truth and the mean pull
``(fit - truth) / std`` of each way, and the peak memory (tracemalloc) of the
fast fit.

Usage::

    python benchmarks/bench_migration_fits.py            # 4096 profiles
    python benchmarks/bench_migration_fits.py --n 256 --crop 32
"""

from __future__ import annotations

import argparse
import json
import os
import time
import tracemalloc
import warnings

import numpy as np


def simulate(n, seed=0, thickness=400.0, bias=1.0, time_s=100.0, mobility=1e-16):
    import hyperspy.api as hs

    from hyperspy_perovskite.analysis import drift_diffusion as dd

    field = bias / (thickness * 1e-9)
    D = dd.einstein_diffusion_coefficient(mobility, 300.0)
    z, c = dd.transient_profile_layer(
        thickness, time_s, D, mobility * field, n_cells=400
    )
    x = np.arange(0.0, thickness, 2.0) + 1.0
    truth = np.interp(x, z, c)
    rng = np.random.default_rng(seed)
    counts = rng.poisson(250.0 * truth, size=(n, x.size)).astype(float)
    s = hs.signals.Signal1D(counts)
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.units = 2.0, 1.0, "nm"
    return s, {"D": D, "mobility": mobility, "field": field, "time": time_s}


def simulate_blurred(n, seed=1, blur=1.5, cell=0.1, bin_nm=1.0):
    """A closed 60 nm layer (lambda = 2.6 nm) blurred by ``blur`` nm: the
    finite-volume solution (0.1 nm cells), zero in the electrodes, blurred
    with scipy's Gaussian filter and averaged into 1 nm bins."""
    import hyperspy.api as hs
    from scipy.ndimage import gaussian_filter1d

    from hyperspy_perovskite.analysis import drift_diffusion as dd

    mu, field, t, L = 1e-16, 1e7, 20.0, 60.0
    D = dd.einstein_diffusion_coefficient(mu, 300.0)
    _, c = dd.transient_profile_layer(L, t, D, mu * field, n_cells=int(L / cell))
    pad = np.zeros(int(20 / cell))
    c = gaussian_filter1d(np.concatenate([pad, c, pad]), blur / cell, mode="nearest")
    mean = 300.0 * c.reshape(-1, int(round(bin_nm / cell))).mean(axis=1)
    counts = np.random.default_rng(seed).poisson(mean, size=(n, mean.size))
    s = hs.signals.Signal1D(counts.astype(float))
    ax = s.axes_manager[-1]
    ax.scale, ax.offset, ax.units = bin_nm, -20.0 + bin_nm / 2, "nm"
    kw = dict(wall=0.0, field=field, time=t, thickness=L, resolution=blur)
    return s, kw, {"D": D, "mobility": mu}


def bench_blurred(n=40):
    """The blurred closed-layer transient (issue 12): warm wall and CPU time."""
    from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

    s, kw, truth = simulate_blurred(n)
    fit_migration_profile(s.inav[:2], "transient", **kw)  # compile / warm up
    t0, c0 = time.perf_counter(), time.process_time()
    fit = fit_migration_profile(s, "transient", **kw)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "n_profiles": n,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "profiles_per_cpu_s": round(n / cpu, 1),
        "valid_fraction": float(fit.validity.fraction),
        **_stats(fit, truth),
    }


def _stats(fit, truth):
    out = {}
    for k in ("D", "mobility"):
        v = np.asarray(fit[k].value)
        e = np.asarray(fit[k].std)
        out[f"{k}_median_rel_error"] = float(np.median(np.abs(v - truth[k]) / truth[k]))
        out[f"{k}_mean_pull"] = float(np.mean((v - truth[k]) / e))
    return out


def main(argv=None):
    from hyperspy_perovskite.signals.migration_fit import fit_migration_profile

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=4096, help="number of profiles")
    p.add_argument("--crop", type=int, default=64, help="profiles for m.multifit")
    args = p.parse_args(argv)
    warnings.simplefilter("ignore")

    s, truth = simulate(args.n)
    kw = dict(wall=0.0, field=truth["field"], time=truth["time"])
    # compile once (numba cache) outside the timing
    fit_migration_profile(s.inav[:2], "transient", **kw)

    tracemalloc.start()
    t0 = time.perf_counter()
    fast = fit_migration_profile(s, "transient", **kw)
    t_fast = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    crop = s.inav[: args.crop]
    t0 = time.perf_counter()
    slow = fit_migration_profile(crop, "transient", method="multifit", **kw)
    t_slow = time.perf_counter() - t0

    fast_rate = args.n / t_fast
    slow_rate = args.crop / t_slow
    result = {
        "benchmark": "migration_transient_profile_fits",
        "n_profiles": args.n,
        "n_channels": int(s.axes_manager.signal_shape[0]),
        "fast_profiles_per_s": fast_rate,
        "multifit_profiles_per_s": slow_rate,
        "multifit_profiles_fitted": args.crop,
        "speedup": fast_rate / slow_rate,
        "fast_converged": int(fast.result.n_converged),
        "fast_peak_memory_MB": peak / 1e6,
        "fast": _stats(fast, truth),
        "multifit": _stats(slow, truth),
        "truth": {"D_m2_s": truth["D"], "mobility_m2_Vs": truth["mobility"]},
        "blurred_closed_layer": bench_blurred(),
        "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
