"""Operando 4D-STEM array algorithms (numpy/dask, compiled where hot).

- :mod:`.calibration`: 1/A per pixel from the camera or a known reflection;
- :mod:`.peaks`: sub-pixel spot fits (compiled 2D Gaussian, Poisson ML);
- :mod:`.strain`: strain tensor and rotation with covariance;
- :mod:`.virtual`: virtual detectors and masked radial profiles;
- :mod:`.phases`: ring-template phase matching;
- :mod:`.pipeline`: one pass over the patterns for all of the above;
- :mod:`.interfaces`: bands at interfaces, onsets, profiles along the stack.
"""
