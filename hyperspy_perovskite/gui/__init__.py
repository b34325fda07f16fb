"""Graphical front-ends: the hyperspyUI plugin.

The plugin itself, :mod:`hyperspy_perovskite.gui.hyperspyui_plugin`, needs the
``gui`` extra (``pip install 'hyperspy-perovskite[gui]'``: hyperspyUI and
PyQt5); :func:`install_hyperspyui_plugin` registers it with hyperspyUI.
"""

from hyperspy_perovskite.gui._install import (
    default_plugin_directory,
    install_hyperspyui_plugin,
    uninstall_hyperspyui_plugin,
)

__all__ = [
    "default_plugin_directory",
    "install_hyperspyui_plugin",
    "uninstall_hyperspyui_plugin",
]
