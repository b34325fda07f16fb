"""Whether two trees give the same CL fits, bit for bit.

Dumps every parameter map (values, std, is_set), chi-squared, degrees of
freedom, the validity (mask, reasons, names) of every band and tail, the
shared-shape record and the Urbach-test record of ``fit_emission`` on 38
cases: ``bench_cl_fit.simulate`` 64 x 64 seeds 0-1, true Eu 12 / 25 / 50
meV, free, held (25 meV, edge 20 meV) and shared (edge 20 meV); 32 x 32 at
50 meV held with a std (45 +- 5 meV, carried into the errors), weighted
(``poisson=True``) free, shared and held with std; a map half 50 / half 12
meV, shared (the per-pixel consistency test); asymmetric bands on the
energy and wavelength axes (the Gaussian limit and the second reading,
``signals/_cl_limits``) and Voigt lines, weighted and not. Then compares two
dumps (refactors that must not change a number: ``signals/_cl_refit``)::

    PYTHONPATH=/work/wt/old python benchmarks/cl_same_maps.py dump /tmp/old.npz
    PYTHONPATH=$PWD python benchmarks/cl_same_maps.py dump /tmp/new.npz
    python benchmarks/cl_same_maps.py cmp /tmp/old.npz /tmp/new.npz

Session 13 (one refit helper, ``signals/_cl_refit``): 1770 arrays in 38
cases, 0 differ.
"""

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _dump(m, key, out):
    from hyperspy_perovskite.signals._cl_statistics import emission_validity

    for c in m:
        for p in c.parameters:
            for f in ("values", "std", "is_set"):
                out[f"{key}|{c.name}.{p.name}.{f}"] = np.array(p.map[f])
    out[f"{key}|chisq"] = np.array(m.chisq.data)
    out[f"{key}|dof"] = np.array(m.dof.data)
    for name in ("_shape_consistent", "_eu_tested"):
        r = getattr(m, name, None)
        if r is not None:
            out[f"{key}|{name}"] = np.array(r, float)
    comps = [c.name for c in m if c.name.startswith("Emission")]
    for comp in comps:
        v = emission_validity(m, component=comp)
        for i, x in enumerate(v[:2]):
            if x is None:
                continue
            out[f"{key}|valid{comp}{i}.mask"] = np.array(x.mask)
            out[f"{key}|valid{comp}{i}.reasons"] = np.array(x.reasons)
            out[f"{key}|valid{comp}{i}.names"] = np.array(
                list(x.reason_names), dtype="U200"
            )
    sh = getattr(m, "shared_urbach_energy", None)
    if sh:
        out[f"{key}|shared"] = np.array([sh["Eu"], sh["Eu_std"]])


def dump(path):
    import hyperspy.api as hs
    from bench_cl_fit import simulate

    out = {}
    modes = {
        "free": {},
        "held": dict(urbach_energy="25 meV", urbach_edge="20 meV"),
        "shared": dict(urbach_energy="shared", urbach_edge="20 meV"),
    }
    for seed in (0, 1):
        for eu in (0.012, 0.025, 0.05):
            s, _ = simulate((64, 64), 1024, seed, eu=eu)
            for mode, kw in modes.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    m = s.fit_emission(n_peaks=2, tail=True, axis="energy", **kw)
                _dump(m, f"bench{seed}_{eu}_{mode}", out)
                print(seed, eu, mode, flush=True)
        # held with a given std (carried), and weighted (poisson) free / shared
        s, _ = simulate((32, 32), 1024, seed, eu=0.05)
        for mode, kw in {
            "heldstd": dict(urbach_energy=("45 meV", "5 meV"), urbach_edge="20 meV"),
            "poisfree": dict(poisson=True),
            "poisshared": dict(
                poisson=True, urbach_energy="shared", urbach_edge="20 meV"
            ),
            "poisheldstd": dict(
                poisson=True, urbach_energy=("45 meV", "5 meV"), urbach_edge="20 meV"
            ),
        }.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = s.fit_emission(n_peaks=2, tail=True, axis="energy", **kw)
            _dump(m, f"small{seed}_{mode}", out)
            print(seed, mode, flush=True)
        # half 50 / half 12 meV (consistency test)
        a, _ = simulate((64, 64), 1024, seed, eu=0.05)
        b, _ = simulate((64, 64), 1024, seed + 10, eu=0.012)
        d = np.concatenate([a.data[:32], b.data[32:]])
        s = hs.signals.Signal1D(d)
        s.set_signal_type("CL_STEM_perovskite")
        ax, ax0 = s.axes_manager.signal_axes[0], a.axes_manager.signal_axes[0]
        ax.offset, ax.scale, ax.units, ax.name = (
            ax0.offset,
            ax0.scale,
            ax0.units,
            ax0.name,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = s.fit_emission(
                n_peaks=2,
                tail=True,
                axis="energy",
                urbach_energy="shared",
                urbach_edge="20 meV",
            )
        _dump(m, f"half{seed}_shared", out)
        print(seed, "half", flush=True)
    # asymmetric bands: gaussian_limit (_refit_fixed_limit) and second_reading
    from hyperspy_perovskite.data.emission_simulation import simulate_emission_spectra

    common = dict(dark_counts=5.0, n_spikes=6, band_photons=2.0e5)
    for seed in (4, 5):
        s, _ = simulate_emission_spectra(
            n_pixels=300,
            asymmetry=0.04,
            band_sigma=(0.02, 0.03),
            second_band=0.1,
            second_shift=0.12,
            seed=seed,
            **common,
        )
        for pois in (True, False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = s.fit_emission(
                    axis="energy", band="asymmetric", n_peaks=2, poisson=pois
                )
            _dump(m, f"asymE{seed}_{pois}", out)
    for seed in (21, 22):
        s, _ = simulate_emission_spectra(
            n_pixels=300,
            space="wavelength",
            band_energy=(700, 720),
            band_sigma=(8, 12),
            asymmetry=10.0,
            second_band=0.15,
            second_shift=40,
            seed=seed,
            **common,
        )
        for pois in (True, False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = s.fit_emission(band="asymmetric", n_peaks=2, poisson=pois)
            _dump(m, f"asymW{seed}_{pois}", out)
    for seed in (5,):
        s, _ = simulate_emission_spectra(
            n_pixels=100,
            space="wavelength",
            wavelength_range=(660, 680),
            n_channels=800,
            band_energy=(668, 672),
            band_sigma=(0.08, 0.12),
            line_gamma=0.15,
            band_photons=2.0e4,
            dark_counts=5.0,
            n_spikes=6,
            seed=seed,
        )
        for pois in (True, False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = s.fit_emission(band="voigt", poisson=pois)
            _dump(m, f"voigt{seed}_{pois}", out)
    np.savez_compressed(path, **out)
    print("arrays", len(out))


def cmp(a, b):
    A, B = np.load(a), np.load(b)
    ka, kb = set(A.files), set(B.files)
    bad = sorted(ka ^ kb)
    diff = []
    for k in sorted(ka & kb):
        x, y = A[k], B[k]
        eq = x.shape == y.shape and (
            np.array_equal(x, y, equal_nan=True)
            if x.dtype.kind == "f"
            else np.array_equal(x, y)
        )
        if not eq:
            diff.append(k)
    cases = sorted({k.split("|")[0] for k in ka})
    print(
        f"{len(ka & kb)} arrays in {len(cases)} cases compared; "
        f"{len(diff)} differ; {len(bad)} present in one only"
    )
    for k in diff[:40] + bad[:10]:
        print("  ", k)
    # a summary of what the cases exercise
    for c in cases:
        v = [k for k in ka if k.startswith(c + "|validEmission0.mask")]
        if v:
            print(f"   {c}: band-valid {int(A[v[0]].sum())}", end="")
        if c + "|_shape_consistent" in ka:
            r = A[c + "|_shape_consistent"]
            print(f", consistency rejects {int((r == 0).sum())}", end="")
        print()


if __name__ == "__main__":
    {"dump": dump, "cmp": cmp}[sys.argv[1]](*sys.argv[2:])
