"""Register the hyperspyUI plugin where hyperspyUI looks for plugins.

hyperspyUI (2.0) imports every ``*.py`` file (not starting with ``_``) of the
directories listed in its setting ``General/extra_plugin_directories``
(``os.pathsep``-separated, stored in the ``QSettings`` of organisation
"Hyperspy", application "HyperSpyUI"; also editable in hyperspyUI's
Settings dialog) and loads every subclass of its ``Plugin`` class that the
import defines. Installing writes a one-line module that imports
:class:`~hyperspy_perovskite.gui.hyperspyui_plugin.PerovskitePlugin` into a
plugin directory and adds that directory to the setting.
"""

import os
import pathlib

__all__ = ["install_hyperspyui_plugin", "uninstall_hyperspyui_plugin"]

SHIM_NAME = "hyperspy_perovskite_plugin.py"
SETTING = "General/extra_plugin_directories"
_SHIM = (
    '"""hyperspy-perovskite actions for hyperspyUI (written by '
    'hyperspy_perovskite.gui.install_hyperspyui_plugin)."""\n\n'
    "from hyperspy_perovskite.gui.hyperspyui_plugin import PerovskitePlugin  "
    "# noqa: F401\n"
)


def _settings():
    try:
        from qtpy.QtCore import QSettings
    except ImportError as err:  # qtpy is a dependency of hyperspyui
        raise ImportError(
            "hyperspyUI is not installed: pip install 'hyperspy-perovskite[gui]'."
        ) from err
    # the organisation and application names hyperspyUI sets in __main__.py
    return QSettings("Hyperspy", "HyperSpyUI")


def default_plugin_directory():
    """Per-user directory of the plugin shim (``~/.hyperspy_perovskite/hyperspyui``)."""
    return pathlib.Path.home() / ".hyperspy_perovskite" / "hyperspyui"


def _directories(settings):
    value = settings.value(SETTING) or ""
    if isinstance(value, (list, tuple)):  # QSettings may split on commas
        value = ",".join(value)
    return [p for p in str(value).split(os.pathsep) if p]


def install_hyperspyui_plugin(directory=None):
    """Make hyperspyUI load the hyperspy-perovskite plugin at its next start.

    Writes ``hyperspy_perovskite_plugin.py`` (one import line) into
    ``directory`` and adds ``directory`` to hyperspyUI's setting
    ``extra_plugin_directories``. Running it again changes nothing.

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        Where to write the plugin module (default
        :func:`default_plugin_directory`). hyperspyUI imports every
        public ``*.py`` of this directory, so use a directory of its own.

    Returns
    -------
    pathlib.Path
        The plugin module written.

    Examples
    --------
    >>> from hyperspy_perovskite.gui import install_hyperspyui_plugin
    >>> path = install_hyperspyui_plugin()  # doctest: +SKIP
    """
    directory = pathlib.Path(
        default_plugin_directory() if directory is None else directory
    ).expanduser()
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"{directory} is a file; give a directory for the plugin.")
    settings = _settings()
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / SHIM_NAME
    shim.write_text(_SHIM)
    dirs = _directories(settings)
    if str(directory) not in dirs:
        dirs.append(str(directory))
    settings.setValue(SETTING, os.pathsep.join(dirs))
    settings.sync()
    return shim


def uninstall_hyperspyui_plugin(directory=None):
    """Undo :func:`install_hyperspyui_plugin`: remove the module and the setting.

    Parameters
    ----------
    directory : str or pathlib.Path, optional
        The directory given at installation (default
        :func:`default_plugin_directory`).

    Returns
    -------
    bool
        Whether anything was removed.
    """
    directory = pathlib.Path(
        default_plugin_directory() if directory is None else directory
    ).expanduser()
    settings = _settings()
    removed = False
    shim = directory / SHIM_NAME
    if shim.is_file():
        shim.unlink()
        removed = True
    dirs = _directories(settings)
    if str(directory) in dirs:
        dirs.remove(str(directory))
        if dirs:
            settings.setValue(SETTING, os.pathsep.join(dirs))
        else:  # leave no empty setting behind
            settings.remove(SETTING)
        settings.sync()
        removed = True
    return removed
