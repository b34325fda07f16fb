"""What a report section writes: an ordered list of items, files and parameters.

A section function receives a :class:`SectionContext` and adds, in the order
they should appear in the report, text, figures, tables, numbers with
uncertainties and units, validity fractions and saved result files. Long
steps run inside :meth:`SectionContext.step`, which prints progress and
records every warning (Python ``warnings`` and HyperSpy/RosettaSciIO log
warnings) raised during the step at that place in the report.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Item", "Number", "SectionContext"]

#: Resolution of every figure embedded in the report (dots per inch).
FIGURE_DPI = 150

#: Loggers whose warnings are shown in the report.
_LOGGERS = ("hyperspy", "rsciio", "exspy", "lumispy", "pyxem", "hyperspy_perovskite")


@dataclass
class Number:
    """A reported value with its standard error and unit."""

    name: str
    value: float
    std: float | None = None
    unit: str = ""
    note: str = ""

    def text(self):
        """``"359.05 ± 0.12 nm"``: the std sets the number of digits shown."""
        v = float(self.value)
        if not np.isfinite(v):
            return "not available"
        if self.std is not None and np.isfinite(self.std) and self.std > 0:
            digits = max(0, 1 - int(np.floor(np.log10(self.std))))
            text = f"{v:.{digits}f} ± {self.std:.{digits}f}"
        else:
            text = f"{v:.4g}"
        return f"{text} {self.unit}".strip()


@dataclass
class Item:
    """One element of a section, in report order."""

    kind: str  # "text", "figure", "table", "numbers", "warning", "files", "step"
    payload: object
    caption: str = ""


class _LogCapture(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@dataclass
class SectionContext:
    """Collects what one section of the report shows.

    Parameters
    ----------
    key : str
        The section's name in the experiment file (``cl``, ``insitu``...).
    title : str
        Heading of the section.
    results_dir : pathlib.Path
        Folder for the saved results.
    file_format : {"zspy", "hspy"}
        Format of saved signals.
    stream : file-like
        Where progress is printed.
    """

    key: str
    title: str
    results_dir: Path
    file_format: str = "zspy"
    stream: object = sys.stdout
    items: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    saved: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    failed: str | None = None

    # -- progress and warnings ----------------------------------------------
    def progress(self, message):
        """Print a progress line ``[key] message``."""
        print(f"[{self.key}] {message}", file=self.stream, flush=True)

    @contextlib.contextmanager
    def step(self, name):
        """Run a step: print its start and duration, keep its warnings in place.

        Warnings are recorded (not printed) and shown in the report where the
        step's output appears, each once.
        """
        self.progress(f"{name} ...")
        handler = _LogCapture()
        loggers = [logging.getLogger(n) for n in _LOGGERS]
        for lg in loggers:
            lg.addHandler(handler)
        saved_propagate = [lg.propagate for lg in loggers]
        for lg in loggers:
            lg.propagate = False
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                warnings.filterwarnings("ignore", category=DeprecationWarning)
                warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
                warnings.filterwarnings("ignore", message=".*VisibleDeprecation.*")
                warnings.filterwarnings("ignore", message="Importing `")
                # zarr 2's notice about its own next major version (saving .zspy)
                warnings.filterwarnings("ignore", message="The NestedDirectoryStore")
                yield self
        finally:
            for lg, prop in zip(loggers, saved_propagate, strict=True):
                lg.removeHandler(handler)
                lg.propagate = prop
            dt = time.perf_counter() - t0
            self.timings[name] = round(dt, 2)
            self.progress(f"{name}: {dt:.1f} s")
        seen = set()
        for w in caught:
            text = f"{w.category.__name__}: {w.message}"
            if text not in seen:
                seen.add(text)
                self.items.append(Item("warning", text, caption=name))
        for r in handler.records:
            text = f"{r.name}: {r.getMessage()}"
            if text not in seen:
                seen.add(text)
                self.items.append(Item("warning", text, caption=name))

    # -- content --------------------------------------------------------------
    def text(self, text):
        """A paragraph (plain text)."""
        self.items.append(Item("text", str(text)))

    def figure(self, fig, caption):
        """Embed a matplotlib figure as a PNG at :data:`FIGURE_DPI` and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        self.items.append(Item("figure", data, caption=caption))

    def table(self, table, caption=""):
        """A :class:`~hyperspy_perovskite.results.ResultTable`."""
        self.items.append(Item("table", table, caption=caption or table.title))

    def numbers(self, numbers, caption=""):
        """A list of :class:`Number` shown as a two-column table."""
        self.items.append(Item("numbers", list(numbers), caption=caption))

    def validity(self, name, mask, caption=""):
        """Report the fraction of valid pixels of a boolean mask (True = valid)."""
        mask = np.asarray(mask, dtype=bool)
        n = int(mask.size)
        k = int(mask.sum())
        frac = k / n if n else float("nan")
        self.numbers(
            [Number(f"valid pixels: {name}", 100.0 * frac, None, "%", f"{k} of {n}")],
            caption=caption,
        )
        return frac

    def warn(self, text, step=""):
        """A warning written by the section itself, shown in place."""
        self.items.append(Item("warning", str(text), caption=step))

    def save(self, obj, name):
        """Save a signal or model under the results folder; return the path.

        Signals are saved as ``<section>_<name>.<file_format>``; a HyperSpy
        model is stored with its signal (``m.save``), so ``hs.load`` then
        ``s.models.restore(name)`` gives it back.
        """
        self.results_dir.mkdir(parents=True, exist_ok=True)
        path = self.results_dir / f"{self.key}_{name}.{self.file_format}"
        is_model = hasattr(obj, "components") and hasattr(obj, "signal")
        if self.file_format == "zspy":
            _plain_original_metadata(obj.signal if is_model else obj)
        if is_model:
            obj.save(path, name=name, overwrite=True)
        else:
            obj.save(path, overwrite=True)
        self.saved.append(path)
        return path


def _plain(value):
    if isinstance(value, bytes):  # the .zspy writer turns bytes into numpy.void
        return value.hex()
    if isinstance(value, np.void):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _plain_original_metadata(signal):
    """Make ``original_metadata`` storable in .zspy (JSON attributes).

    Some readers (Digital Surf .sur) keep raw ``bytes`` header fields there;
    RosettaSciIO's .zspy writer turns them into ``numpy.void``, which zarr
    cannot write as JSON (the save fails). They become hex strings. Only the
    copy being saved (a result of the report) is touched, never an input file.
    """
    from hyperspy.misc.utils import DictionaryTreeBrowser

    def walk(node):
        for key, entry in list(node.__dict__.items()):
            if isinstance(entry, DictionaryTreeBrowser):
                walk(entry)
            elif isinstance(entry, dict) and "_dtb_value_" in entry:
                value = entry["_dtb_value_"]
                if isinstance(value, DictionaryTreeBrowser):
                    walk(value)
                else:
                    plain = _plain(value)
                    if plain is not value:
                        node.set_item(key, plain)

    walk(signal.original_metadata)
