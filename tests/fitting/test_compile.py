"""Each model structure gets its own compiled function, under its own name."""

import hyperspy.api as hs

from hyperspy_perovskite.fitting._compile import for_components

c1d = hs.model.components1D


def test_model_functions_have_distinct_names_per_structure():
    # Machine code loaded from the cache keeps the symbol names it was
    # compiled with: two structures sharing a name would resolve to one code.
    structures = [
        [c1d.Gaussian(), c1d.Offset()],
        [c1d.Lorentzian(), c1d.Offset()],
        [c1d.Offset(), c1d.Gaussian()],
    ]
    names = {
        for_components(comps)[0].model_block.py_func.__name__ for comps in structures
    }
    assert len(names) == len(structures)
    # the same structure gets the same (cached) function
    again = for_components([c1d.Gaussian(), c1d.Offset()])[0]
    assert again is for_components(structures[0])[0]
