"""Normal equations of the weighted least-squares problem of one spectrum.

``_residual_and_normal`` reduces a model and its gradients (from the
model's compiled ``model_block``) to chi-squared, ``J^T W J`` and ``J^T W
r``. It is compiled into each model's ``evaluate`` function
(:mod:`hyperspy_perovskite.fitting._compile`), which the solver calls
through a pointer.
"""

from numba import njit

from hyperspy_perovskite._numba_cache import njit_internal
from hyperspy_perovskite._numba_ops import min2
from hyperspy_perovskite.fitting._linalg import _contract


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _expand(theta, P, src, scale, shift):
    """Write the free vector ``theta`` into the full parameter vector ``P``."""
    for i in range(P.shape[0]):
        s = src[i]
        if s >= 0:
            P[i] = scale[i] * theta[s] + shift[i]


# Reassociation lets LLVM vectorise the channel reductions; NaN/inf semantics
# are kept (no "nnan"/"ninf"), so a non-finite chi-squared is still seen.

# Reassociation lets LLVM vectorise the channel reductions; NaN/inf semantics
_REDUCE = {"reassoc", "contract"}


@njit_internal(nogil=True, error_model="numpy", fastmath=_REDUCE, _nrt=False)
def _normal_products(G, rb, active, M, Mr):
    """``M = G_a G_a^T`` and ``Mr = G_a rb`` over the ``active`` rows of ``G``.

    The rows are taken four at a time: one sweep over the channels gives a
    diagonal 4 x 4 tile (10 products) and the four products with ``rb``, one
    sweep per off-diagonal tile gives 16 products, so every load of a row
    serves several products and the accumulators vectorise (Gaussian +
    Offset: one sweep in all). A last tile of three rows has loops of its
    own (:func:`_three_row_tile`, :func:`_tile_four_by_three`: two bands,
    a continuous tail and an offset have 11 active rows, 77 products
    instead of 90; 0.52 -> 0.45 us on 128 channels, 3.5-3.6 -> 3.35-3.5 us
    on 1024); past a last row of one or two, rows are repeats of it,
    computed and not stored. Every tile is stored at one call site of
    :func:`_store_tile` (each inlined copy took numba about 0.2 s to
    compile: three sites, 1.05 s for this function on a fresh install, one
    site 0.64 s; 0.45 -> 0.47-0.49 us on 128 channels). Weights are applied
    to ``G`` and ``rb`` before (:func:`_residual_and_normal`): one code path
    for weighted and unweighted fits.
    """
    na = active.shape[0]
    n_ch = G.shape[1]
    last = na - 1
    for ti in range(0, na, 4):
        a0 = active[ti]
        a1 = active[min2(ti + 1, last)]
        a2 = active[min2(ti + 2, last)]
        a3 = active[min2(ti + 3, last)]
        # the diagonal tile (tj == ti), then the off-diagonal ones; one store
        # site for all (each inlined copy of _store_tile costs numba about
        # 0.2 s to compile)
        for tj in range(ti, na, 4):
            r0 = r1 = r2 = r3 = 0.0
            if tj == ti and na - ti == 3:  # a last tile of three rows
                r0, r1, r2, m00, m01, m02, m11, m12, m22 = _three_row_tile(
                    G, rb, active, ti
                )
                t00, t01, t02, t03 = m00, m01, m02, 0.0
                t10, t11, t12, t13 = m01, m11, m12, 0.0
                t20, t21, t22, t23 = m02, m12, m22, 0.0
                t30 = t31 = t32 = t33 = 0.0
            elif tj == ti:
                m00 = m01 = m02 = m03 = m11 = m12 = m13 = m22 = m23 = m33 = 0.0
                for j in range(n_ch):
                    g0 = G[a0, j]
                    g1 = G[a1, j]
                    g2 = G[a2, j]
                    g3 = G[a3, j]
                    rj = rb[j]
                    r0 += g0 * rj
                    r1 += g1 * rj
                    r2 += g2 * rj
                    r3 += g3 * rj
                    m00 += g0 * g0
                    m01 += g0 * g1
                    m02 += g0 * g2
                    m03 += g0 * g3
                    m11 += g1 * g1
                    m12 += g1 * g2
                    m13 += g1 * g3
                    m22 += g2 * g2
                    m23 += g2 * g3
                    m33 += g3 * g3
                t00, t01, t02, t03 = m00, m01, m02, m03
                t10, t11, t12, t13 = m01, m11, m12, m13
                t20, t21, t22, t23 = m02, m12, m22, m23
                t30, t31, t32, t33 = m03, m13, m23, m33
            elif na - tj == 3:
                t00, t01, t02, t10, t11, t12, t20, t21, t22, t30, t31, t32 = (
                    _tile_four_by_three(G, active, ti, tj)
                )
                t03 = t13 = t23 = t33 = 0.0
            else:
                b0 = active[tj]
                b1 = active[min2(tj + 1, last)]
                b2 = active[min2(tj + 2, last)]
                b3 = active[min2(tj + 3, last)]
                t00 = t01 = t02 = t03 = t10 = t11 = t12 = t13 = 0.0
                t20 = t21 = t22 = t23 = t30 = t31 = t32 = t33 = 0.0
                for j in range(n_ch):
                    g0 = G[a0, j]
                    g1 = G[a1, j]
                    g2 = G[a2, j]
                    g3 = G[a3, j]
                    h0 = G[b0, j]
                    h1 = G[b1, j]
                    h2 = G[b2, j]
                    h3 = G[b3, j]
                    t00 += g0 * h0
                    t01 += g0 * h1
                    t02 += g0 * h2
                    t03 += g0 * h3
                    t10 += g1 * h0
                    t11 += g1 * h1
                    t12 += g1 * h2
                    t13 += g1 * h3
                    t20 += g2 * h0
                    t21 += g2 * h1
                    t22 += g2 * h2
                    t23 += g2 * h3
                    t30 += g3 * h0
                    t31 += g3 * h1
                    t32 += g3 * h2
                    t33 += g3 * h3
            _store_tile(
                M, Mr, ti, tj, na, r0, r1, r2, r3,
                t00, t01, t02, t03, t10, t11, t12, t13,
                t20, t21, t22, t23, t30, t31, t32, t33,
            )  # fmt: skip


@njit(nogil=True, error_model="numpy", fastmath=_REDUCE, inline="always", _nrt=False)
def _three_row_tile(G, rb, active, ti):
    """Sums of the diagonal tile of the last three rows ``ti .. ti + 2``:
    ``(r0, r1, r2, m00, m01, m02, m11, m12, m22)``, six products and three
    with ``rb`` (not the ten and four of a tile with a repeated row)."""
    a0 = active[ti]
    a1 = active[ti + 1]
    a2 = active[ti + 2]
    r0 = r1 = r2 = 0.0
    m00 = m01 = m02 = m11 = m12 = m22 = 0.0
    for j in range(G.shape[1]):
        g0 = G[a0, j]
        g1 = G[a1, j]
        g2 = G[a2, j]
        rj = rb[j]
        r0 += g0 * rj
        r1 += g1 * rj
        r2 += g2 * rj
        m00 += g0 * g0
        m01 += g0 * g1
        m02 += g0 * g2
        m11 += g1 * g1
        m12 += g1 * g2
        m22 += g2 * g2
    return r0, r1, r2, m00, m01, m02, m11, m12, m22


@njit(nogil=True, error_model="numpy", fastmath=_REDUCE, inline="always", _nrt=False)
def _tile_four_by_three(G, active, ti, tj):
    """Sums of the off-diagonal tile of rows ``ti .. ti + 3`` by the last
    three rows ``tj .. tj + 2``, row by row (twelve products, not sixteen)."""
    a0 = active[ti]
    a1 = active[ti + 1]
    a2 = active[ti + 2]
    a3 = active[ti + 3]
    b0 = active[tj]
    b1 = active[tj + 1]
    b2 = active[tj + 2]
    t00 = t01 = t02 = t10 = t11 = t12 = 0.0
    t20 = t21 = t22 = t30 = t31 = t32 = 0.0
    for j in range(G.shape[1]):
        g0 = G[a0, j]
        g1 = G[a1, j]
        g2 = G[a2, j]
        g3 = G[a3, j]
        h0 = G[b0, j]
        h1 = G[b1, j]
        h2 = G[b2, j]
        t00 += g0 * h0
        t01 += g0 * h1
        t02 += g0 * h2
        t10 += g1 * h0
        t11 += g1 * h1
        t12 += g1 * h2
        t20 += g2 * h0
        t21 += g2 * h1
        t22 += g2 * h2
        t30 += g3 * h0
        t31 += g3 * h1
        t32 += g3 * h2
    return t00, t01, t02, t10, t11, t12, t20, t21, t22, t30, t31, t32


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _store_tile(
    M, Mr, ti, tj, na, r0, r1, r2, r3,
    t00, t01, t02, t03, t10, t11, t12, t13,
    t20, t21, t22, t23, t30, t31, t32, t33,
):  # fmt: skip
    """Store the valid entries of a 4 x 4 tile (and, on the diagonal, of ``Mr``)."""
    tile = (
        (t00, t01, t02, t03),
        (t10, t11, t12, t13),
        (t20, t21, t22, t23),
        (t30, t31, t32, t33),
    )
    rr = (r0, r1, r2, r3)
    for i in range(4):
        if ti + i >= na:
            break
        if ti == tj:
            Mr[ti + i] = rr[i]
        for k in range(4):
            if tj + k >= na:
                break
            M[ti + i, tj + k] = tile[i][k]
            M[tj + k, ti + i] = tile[i][k]


@njit(nogil=True, error_model="numpy", fastmath=_REDUCE, inline="always", _nrt=False)
def _residual_and_normal(
    f, G, rb, bw, bw2, unit_weights, active, M, Mr, JtJ, Jtr, y, w, binw, src, scale
):
    """chi-squared, ``J^T W J`` (full, symmetric) and ``J^T W r`` of a model.

    ``f`` holds the model and ``G`` (n_params, n_channels) its gradients
    (from the model's ``model_block``). The weighted Jacobian column of free
    parameter ``s`` is ``sum_i scale[i] G[i] bw`` over the parameters ``i``
    with ``src[i] == s`` (``bw`` = bin width x weight), so the normal
    equations are reductions over the rows ``G bw`` of the ``active``
    (non-fixed) parameters with the weighted residual ``rb``
    (:func:`_normal_products`), contracted to the free parameters through
    ``src`` and ``scale``. The rows of ``G`` are scaled in place. With
    ``unit_weights`` (unbinned, unweighted) the weights are skipped; ``bw2``
    is not used.
    """
    n_ch = y.shape[0]
    chi2 = 0.0
    if unit_weights:
        for j in range(n_ch):
            rj = y[j] - f[j]
            rb[j] = rj
            chi2 += rj * rj
    else:
        for j in range(n_ch):
            rj = (y[j] - f[j] * binw[j]) * w[j]
            rb[j] = rj
            chi2 += rj * rj
    _weighted_normal(G, rb, bw, unit_weights, active, M, Mr, src, scale, JtJ, Jtr)
    return chi2


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _weighted_normal(G, rb, bw, unit_weights, active, M, Mr, src, scale, JtJ, Jtr):
    """``J^T W J`` and ``J^T W r`` from the model's gradient rows ``G`` and
    the weighted residual ``rb`` (:func:`_residual_and_normal`, or a trial
    step's normal equations made only once it is accepted): the rows of the
    ``active`` parameters scaled in place by ``bw`` (unless
    ``unit_weights``: the model's gradients are not used after this),
    reduced (:func:`_normal_products`) and contracted to the free
    parameters through ``src`` and ``scale``.

    Measured and not pursued (session 15, main 17043dc, bench_cl_fit's
    scene 64 x 64 seed 0, true Eu 25 / 50 meV): a values-only trial
    evaluation (:func:`~._levenberg_marquardt._evaluate`), the gradient
    rows of a trial step computed only once it is accepted, from what the
    value pass left in them (prototype split kernels
    of the Gaussian and continuous Urbach blocks: values and rows
    bit-identical to the blocks'). The rows are a small part of the model:
    0.18 of 1.34 us on the 128 binned channels (two Gaussians, the
    continuous tail and the wavelength offset on the converted axis) and
    1.23 of 10.34 us on 1024 (the exponentials and ``erfcx`` are the
    values); trial steps rejected: 33 / 34 % in the binned pass, 28 / 29 %
    in its second start, 27 / 23 % at full resolution, 0.4 % in the
    one-step fits, 11 % in the Urbach refits. At most 2-3 us of CPU per
    spectrum of 185-240 (about 1 %), for two more kernels per component in
    the registry's contract and a third code path compiled into every
    model's ``evaluate`` (cold first call).
    """
    if not unit_weights:
        for a in range(active.shape[0]):
            q = active[a]
            for j in range(bw.shape[0]):
                G[q, j] *= bw[j]
    _normal_products(G, rb, active, M, Mr)
    _contract(M, Mr, active, src, scale, JtJ, Jtr)


@njit(nogil=True, error_model="numpy", inline="always", _nrt=False)
def _channel_weights(binw, w, bw, bw2):
    """``bw = binw * w`` and ``bw2 = bw ** 2``; True when all are one (no weights)."""
    n_other = 0
    for j in range(w.shape[0]):
        bw[j] = binw[j] * w[j]
        bw2[j] = bw[j] * bw[j]
        n_other += (bw[j] != 1.0) | (w[j] != 1.0)
    return n_other == 0
