"""Sphinx configuration of hyperspy-perovskite."""

import os
import sys

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, os.path.abspath(".."))

import hyperspy_perovskite  # noqa: E402

project = "hyperspy-perovskite"
author = "The hyperspy-perovskite developers"
copyright = "2026, The hyperspy-perovskite developers"
version = release = hyperspy_perovskite.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = []
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/**/*.ipynb"]
html_theme = "pydata_sphinx_theme"
html_title = "hyperspy-perovskite"
html_theme_options = {"navigation_with_keys": False}

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
# No network on the build machines: intersphinx inventories are not fetched.
intersphinx_mapping = {}

# Examples run in the test suite (tests/test_examples.py); the gallery executes
# them too unless plot_gallery=0 is passed (the docs test does).
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
}
nitpicky = False
suppress_warnings = ["config.cache"]
