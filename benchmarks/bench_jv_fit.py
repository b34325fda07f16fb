"""Single-diode fits of J-V curves: fast_multifit vs m.multifit, in one run.

Simulates ``n`` noisy J-V curves (the "open-circuit aging, initial" cell of
Table S1 of "Imaging real-time amorphization of hybrid perovskite solar cells
under electrical biasing", 5 mV steps from -0.1 to 1.2 V, 0.05 mA/cm² noise;
the implicit diode equation solved with brentq for 64 distinct clean curves
whose Jph and Rs vary by a few per cent, tiled), and fits the
:class:`~hyperspy_perovskite.components.SingleDiode` to every curve from the
same starting values (``estimate_parameters``):

* our way: :meth:`~hyperspy_perovskite.models.jv.JVModel.fit_single_diode`
  with the compiled :func:`~hyperspy_perovskite.fitting.fast_multifit`, all
  curves, timed cold (first call: compilation included) and warm;
* HyperSpy's way: ``m.multifit(bounded=True)`` on the first ``crop`` curves
  (its throughput, one Python fit per curve, extrapolates linearly);
* the figures of merit (local fits, compiled) of all curves, eager and lazy.

Prints one JSON line: curves per second of each way, the ratio, the mean
pull and pull std of n, Rs and Rsh for each way, and the CPU count and load.

Usage::

    python benchmarks/bench_jv_fit.py            # 20,000 curves

Measured (5000 curves, 2 shared cores at load 11): fast_multifit 408
curves/s, m.multifit 9.2 curves/s, ratio 44; pull std of n, Rs, Rsh 1.00-1.01
(fast).
    python benchmarks/bench_jv_fit.py --n 2000 --crop 20
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np


def simulate(n, seed=0, distinct=64):
    from hyperspy_perovskite.data.jv_simulation import simulate_jv, table_s1_params
    from hyperspy_perovskite.readers import jv_curve

    rng = np.random.default_rng(seed)
    p0 = table_s1_params("open-circuit aging", "initial")
    v = np.round(np.arange(-0.1, 1.2 + 1e-9, 0.005), 12)
    params, clean = [], []
    for _ in range(distinct):
        p = dict(p0, jph=p0["jph"] * rng.uniform(0.97, 1.03),
                 rs=p0["rs"] * rng.uniform(0.9, 1.1))  # fmt: skip
        params.append(p)
        clean.append(simulate_jv(v, **p))
    idx = np.arange(n) % distinct
    J = np.array(clean)[idx] + rng.normal(0.0, 0.05, (n, v.size))
    truth = {k: np.array([params[i][k] for i in idx]) for k in ("n", "rs", "rsh")}
    return jv_curve(v, J), truth


def _pulls(m, truth, n):
    d = m.diode
    out = {}
    for name, key in (("n", "n"), ("Rs", "rs"), ("Rsh", "rsh")):
        val = np.asarray(getattr(d, name).map["values"]).ravel()[:n]
        std = np.asarray(getattr(d, name).map["std"]).ravel()[:n]
        pull = (val - truth[key][:n]) / std
        ok = np.isfinite(pull)
        out[f"{name}_pull_mean"] = round(float(np.mean(pull[ok])), 3)
        out[f"{name}_pull_std"] = round(float(np.std(pull[ok])), 3)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="number of curves")
    ap.add_argument("--crop", type=int, default=40, help="curves for m.multifit")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    import hyperspy.api as hs

    hs.preferences.General.show_progressbar = False
    s, truth = simulate(args.n)
    out = {"n_curves": args.n, "n_voltages": s.axes_manager[-1].size,
           "cpu_count": os.cpu_count(), "load_1min": os.getloadavg()[0]}  # fmt: skip

    # our way, cold (compilation) then warm
    for label in ("cold", "warm"):
        m = s.create_model()
        t0 = time.perf_counter()
        m.fit_single_diode(n=1.5, method="fast")
        out[f"fast_{label}_s"] = round(time.perf_counter() - t0, 3)
    out["fast_curves_per_s"] = round(args.n / out["fast_warm_s"], 1)
    out.update({f"fast_{k}": v for k, v in _pulls(m, truth, args.n).items()})

    # HyperSpy's way on the first crop curves
    sc = s.inav[: args.crop]
    mh = sc.create_model()
    t0 = time.perf_counter()
    mh.fit_single_diode(n=1.5, method="multifit")
    out["multifit_s"] = round(time.perf_counter() - t0, 3)
    out["multifit_curves_per_s"] = round(args.crop / out["multifit_s"], 2)
    out.update({f"multifit_{k}": v for k, v in _pulls(mh, truth, args.crop).items()})
    out["ratio_fast_over_multifit"] = round(
        out["fast_curves_per_s"] / out["multifit_curves_per_s"], 1
    )

    # figures of merit: eager and lazy, same numbers
    t0 = time.perf_counter()
    f = s.figures_of_merit()
    out["fom_eager_curves_per_s"] = round(args.n / (time.perf_counter() - t0), 1)
    t0 = time.perf_counter()
    fl = s.as_lazy().figures_of_merit(lazy_output=False)
    out["fom_lazy_curves_per_s"] = round(args.n / (time.perf_counter() - t0), 1)
    out["fom_lazy_equals_eager"] = bool(np.array_equal(f["pce"].data, fl["pce"].data))
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
