"""Orientation-selective fringe power at the strongest spot of every tile.

Grains of one phase take every orientation across a film: a fixed spot
direction suits one grain only. Here every requested d-spacing is measured
in ``K`` overlapping angular sectors (centres ``0, w, 2w, ... < 180`` degrees,
half-width ``w``, so a spot always lies wholly inside one of them) and, per
tile:

1. every sector direction is given to the d-spacing whose time-averaged
   power there is the most significant (mean / its standard error): a spot
   of one phase leaks radially into the band of a close d-spacing (PbI2
   (001), 6.96 A, into perovskite (001), 6.36 A) but is always stronger in its
   own band, so it is never counted for the other phase;
2. each d-spacing takes, among its sectors, the one of highest significance:
   its spot direction;
3. the power and standard deviation of that sector are reported for every
   frame.

The choice is made on the mean over all frames, so the power of one frame
is nearly independent of it (its share of the mean is ``1 / n_frames``). A
tile whose chosen sector is not significant (below ``n_sigma``) has no spot
of that d-spacing: its direction is NaN and its validity False; its power
(the largest of the noise sectors) is then biased upwards by the selection.
A d-spacing that owns no sector at all (the window sidelobes of another
phase's strong spot dominate every direction) is measured in the sector
where it is least dominated, and flagged the same way.
"""

import numpy as np

__all__ = ["sector_directions", "strongest_spot"]


def sector_directions(angular_width):
    """Centres (degrees) of the overlapping sectors that cover 0-180 degrees.

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.fringe_spots import sector_directions
    >>> sector_directions(30.0).tolist()
    [0.0, 30.0, 60.0, 90.0, 120.0, 150.0]
    """
    if not 0 < angular_width <= 90:
        raise ValueError(
            f"angular_width must be in (0, 90] degrees, got {angular_width}."
        )
    return np.arange(0.0, 180.0 - 1e-9, float(angular_width))


def strongest_spot(p, n_bands, n_sigma=3.0):
    """Select, per tile and d-spacing, the sector of the strongest spot.

    Parameters
    ----------
    p : numpy.ndarray or dask.array.Array, shape (t, ny, nx, n_bands * K, 2)
        :func:`~hyperspy_perovskite.analysis.fringes.fringe_power` of the
        ``n_bands`` d-spacings each in the ``K`` sectors of
        :func:`sector_directions` (band-major: all sectors of the first
        d-spacing first).
    n_bands : int
    n_sigma : float
        Significance of the time-averaged power that makes a spot.

    Returns
    -------
    power : array, shape (t, ny, nx, n_bands, 2)
        Power and standard deviation of the chosen sector.
    sector : array of int, shape (ny, nx, n_bands)
        Index of the chosen sector.
    significant : array of bool, shape (ny, nx, n_bands)

    Examples
    --------
    >>> from hyperspy_perovskite.analysis.fringe_spots import strongest_spot
    >>> p = np.zeros((4, 1, 1, 6, 2))
    >>> p[..., 1] = 1.0
    >>> p[:, 0, 0, 1, 0] = 50.0  # band 0 strongest in sector 1
    >>> p[:, 0, 0, 5, 0] = 20.0  # band 1 (columns 3-5) in its sector 2
    >>> power, sector, sig = strongest_spot(p, 2)
    >>> sector[0, 0].tolist(), power[0, 0, 0, :, 0].tolist(), sig[0, 0].tolist()
    ([1, 2], [50.0, 20.0], [True, True])
    """
    import dask.array as da

    xp = da if isinstance(p, da.Array) else np
    t, ny, nx, nk, _ = p.shape
    K = nk // n_bands
    if K * n_bands != nk:
        raise ValueError(f"{nk} columns are not {n_bands} bands x K sectors.")
    q = p.reshape(t, ny, nx, n_bands, K, 2)
    mean = q[..., 0].mean(axis=0)  # (ny, nx, nb, K)
    se = xp.sqrt((q[..., 1] ** 2).sum(axis=0)) / t
    sig = mean / xp.where(se > 0, se, np.inf)
    # each sector direction belongs to the most significant d-spacing there
    owner = sig.argmax(axis=2)  # (ny, nx, K)
    mine = owner[:, :, None, :] == np.arange(n_bands)[None, None, :, None]
    score = xp.where(mine, sig, -np.inf)
    owns = mine.any(axis=3)  # (ny, nx, nb)
    # a d-spacing that owns no sector (another phase's spot and its window
    # sidelobes dominate every direction) takes the sector where it is least
    # dominated: never the other phase's spot
    if n_bands > 1:
        other = xp.stack(
            [
                xp.stack([sig[:, :, j] for j in range(n_bands) if j != i]).max(axis=0)
                for i in range(n_bands)
            ],
            axis=2,
        )
        fallback = (sig - other).argmax(axis=3)
    else:
        fallback = xp.zeros(owns.shape, dtype=int)  # dask: 2nd arg is chunks
    sector = xp.where(owns, score.argmax(axis=3), fallback)  # (ny, nx, nb)
    onehot = sector[..., None] == np.arange(K)  # (ny, nx, nb, K)
    power = (q * onehot[None, ..., None]).sum(axis=4)
    best = xp.where(onehot & mine, sig, 0.0).sum(axis=3)
    return power, sector, best > n_sigma
