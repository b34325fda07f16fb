"""Example data: physics-based simulators with known ground truth."""

from hyperspy_perovskite.data.emission_map import simulated_emission_map

__all__ = ["simulated_emission_map"]
