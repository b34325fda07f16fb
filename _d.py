from hyperspy_perovskite.data.operando_4dstem_simulation import simulate_operando_4dstem as sim
import numpy as np
for seed in (0,1,2,3):
    s,tr=sim(seed=seed); r=s.analyse(phases=("Pb",))
    sx = np.arange(40.0)[None, None, :] + tr["offset"][:, 1, None, None]
    band = np.broadcast_to(np.abs(sx - 28) <= 1.5, tr['pb'].shape)
    frac = (tr["pb"] & band).sum(axis=(1, 2)) / band.sum(axis=(1, 2))
    f,e=r._fractions[("CsPbBr2Cl/TPBi","Pb")]
    pres=r.present['Pb']; pb=tr['pb']
    print(seed, np.round(frac,2), np.round(f,2), 'hit', round(pres[pb].mean(),2), 'false', round(pres[~pb].mean(),4), r.onsets['onset_at'][1])
