import numpy as np, sys
sys.path.insert(0,'tests/analysis/diffraction')
from test_peaks_strain import _disk_pattern
from hyperspy_perovskite.analysis.diffraction.peaks import fit_spots
from hyperspy_perovskite.analysis.diffraction.strain import fit_strain
g0 = np.array([[14.0, 0], [0, 14.0], [-14.0, 0], [0, -14.0], [14, 14], [-14, 14.0]]); g0 = np.vstack([g0, -g0[4:]])
eps = np.array([[0.012, 0.003], [0.003, -0.006]]); th=0.004
rot = np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]); f = rot @ (np.eye(2) + eps)
beam = np.array([31.7, 32.2]); g = (np.linalg.inv(f).T @ g0.T).T
lam = _disk_pattern([beam] + list(beam + g), [3000.0] + [600.0] * len(g), size=64, radius=float(sys.argv[1]))
sp = fit_spots(lam[None], beam.round(), g0, half_window=4)
print(sp[0,:,:2]-np.vstack([beam,beam+g]))
print(fit_strain(sp,g0)[0,:4], [0.012,-0.006,0.003,th])
