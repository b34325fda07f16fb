"""Doctest collection: skip the hyperspyUI plugin when the gui extra is missing."""

import importlib.util

collect_ignore = []
if any(importlib.util.find_spec(m) is None for m in ("hyperspyui", "PyQt5")):
    collect_ignore.append("hyperspyui_plugin.py")
