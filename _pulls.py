from hyperspy_perovskite.data.operando_4dstem_simulation import simulate_operando_4dstem as sim, strain_field
import numpy as np, time
allp=[]
for seed in range(4):
    s,tr=sim(seed=seed)
    r=s.analyse()
    tab=r.interface_strain
    W=tr['interfaces']; width=40.0
    for name in ['PEDOT:PSS/CsPbBr2Cl','CsPbBr2Cl/TPBi']:
        rows=[i for i,n in enumerate(tab['interface']) if n==name]
        t=np.asarray(tab['time'])[rows]
        # truth: the band is inside the emitter next to the interface
        x=W[name]+(-0.5 if name.endswith('TPBi') else 0.5)
        for c,comp in enumerate(['exx','eyy','exy','theta']):
            tru=np.array([strain_field(np.array([x]),tt,width,45.0,60.0)[c][0] for tt in t])
            m=np.asarray(tab[comp])[rows]; e=np.asarray(tab.std[comp])[rows]
            allp+=list((m-tru)/e)
    print(seed, 'drift err', np.round(np.abs(r.offsets-tr['offset']).max(),3), r.onsets['onset_after'][3], r.onsets['onset_at'][3], tr['pb_onset'])
p=np.array(allp); p=p[np.isfinite(p)]
print(len(p), p.mean(), p.std(), (np.abs(p)<1).mean(), (np.abs(p)<2).mean())
