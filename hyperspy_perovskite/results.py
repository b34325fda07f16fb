"""The one table type of the suite.

Every tabular result (per-particle statistics, per-region onsets, per-condition
device figures of merit, timelines) is a :class:`ResultTable`: named columns
of equal length, each with its unit and an optional uncertainty column, a
description, and text, HTML, CSV and dict forms. A table that belongs to a
signal is stored under ``metadata.Results.<Name>`` and survives ``.hspy`` and
``.zspy`` files.

Examples
--------
>>> import numpy as np
>>> from hyperspy_perovskite.results import ResultTable
>>> t = ResultTable({"Jsc": [23.6, 23.5], "Voc": [1.04, 0.93]},
...                 units={"Jsc": "mA/cm^2", "Voc": "V"},
...                 std={"Voc": [0.01, 0.01]}, index=["initial", "aged"],
...                 title="Device figures of merit")
>>> float(t["Voc"][1]), t.units["Jsc"], len(t)
(0.93, 'mA/cm^2', 2)
>>> print(t)  # doctest: +NORMALIZE_WHITESPACE
Device figures of merit
         Jsc (mA/cm^2)  Voc (V)
initial  23.6           1.04 ± 0.01
aged     23.5           0.93 ± 0.01
"""

from __future__ import annotations

import csv
import html
import io
import json

import numpy as np

__all__ = ["ResultTable"]

_NODE = "Results"


def _fmt(value, std=None):
    if isinstance(value, (float, np.floating)):
        text = f"{value:.4g}"
    else:
        text = str(value)
    if std is not None and np.isfinite(std):
        text += f" ± {std:.2g}"
    return text


class ResultTable:
    """A table of named columns with units and uncertainties.

    Parameters
    ----------
    columns : dict of str to array-like
        Column name -> values (all of the same length).
    units : dict of str to str, optional
        Column name -> unit ("" for dimensionless or text columns).
    std : dict of str to array-like, optional
        Column name -> standard error of each value.
    index : sequence of str, optional
        Row labels (default ``0..n-1``).
    title, description : str, optional
    """

    def __init__(
        self, columns, units=None, std=None, index=None, title="", description=""
    ):
        self.columns = {str(k): np.asarray(v) for k, v in dict(columns).items()}
        lengths = {len(v) for v in self.columns.values()}
        if len(lengths) > 1:
            raise ValueError(
                "All columns of a table must have the same length, got "
                + ", ".join(f"{k}: {len(v)}" for k, v in self.columns.items())
            )
        n = lengths.pop() if lengths else 0
        self.units = {k: str((units or {}).get(k, "")) for k in self.columns}
        self.std = {str(k): np.asarray(v, dtype=float) for k, v in (std or {}).items()}
        for k, v in self.std.items():
            if k not in self.columns or len(v) != n:
                raise ValueError(f"std column {k!r} must match a column of length {n}.")
        self.index = [str(i) for i in (index if index is not None else range(n))]
        if len(self.index) != n:
            raise ValueError(f"{len(self.index)} row labels for {n} rows.")
        self.title = str(title)
        self.description = str(description)

    # -- access ----------------------------------------------------------------
    def __len__(self):
        return len(self.index)

    def __getitem__(self, name):
        if name not in self.columns:
            raise KeyError(f"No column {name!r}; the columns are {list(self.columns)}.")
        return self.columns[name]

    def __contains__(self, name):
        return name in self.columns

    @property
    def column_names(self):
        """The column names, in order."""
        return list(self.columns)

    def row(self, label):
        """One row as ``{column: value}``."""
        i = self.index.index(str(label))
        return {k: v[i] for k, v in self.columns.items()}

    # -- forms -----------------------------------------------------------------
    def _header(self, name):
        unit = self.units.get(name, "")
        return f"{name} ({unit})" if unit else name

    def _cells(self):
        rows = []
        for i in range(len(self)):
            rows.append(
                [
                    _fmt(v[i], self.std[k][i] if k in self.std else None)
                    for k, v in self.columns.items()
                ]
            )
        return rows

    def __str__(self):
        head = [""] + [self._header(k) for k in self.columns]
        body = [
            [label] + cells
            for label, cells in zip(self.index, self._cells(), strict=True)
        ]
        widths = [max(len(r[j]) for r in [head, *body]) for j in range(len(head))]
        lines = [self.title] if self.title else []
        for r in [head, *body]:
            lines.append(
                "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
            )
        return "\n".join(lines)

    def __repr__(self):
        return f"<ResultTable {self.title!r}: {len(self)} rows, columns {self.column_names}>"

    def _repr_html_(self):
        esc = html.escape
        out = ["<table>"]
        if self.title:
            out.append(f"<caption>{esc(self.title)}</caption>")
        out.append(
            "<tr><th></th>"
            + "".join(f"<th>{esc(self._header(k))}</th>" for k in self.columns)
            + "</tr>"
        )
        for label, cells in zip(self.index, self._cells(), strict=True):
            out.append(
                f"<tr><th>{esc(label)}</th>"
                + "".join(f"<td>{esc(c)}</td>" for c in cells)
                + "</tr>"
            )
        out.append("</table>")
        if self.description:
            out.append(f"<p>{esc(self.description)}</p>")
        return "".join(out)

    def to_dict(self):
        """Plain-Python form (lists), with units, std, index, title."""
        return {
            "title": self.title,
            "description": self.description,
            "index": list(self.index),
            "columns": {k: v.tolist() for k, v in self.columns.items()},
            "units": dict(self.units),
            "std": {k: v.tolist() for k, v in self.std.items()},
        }

    @classmethod
    def from_dict(cls, d):
        """Inverse of :meth:`to_dict`."""
        return cls(
            d["columns"],
            d.get("units"),
            d.get("std"),
            d.get("index"),
            d.get("title", ""),
            d.get("description", ""),
        )

    def to_csv(self, path=None):
        """Write CSV (units in the header, ``<name>_std`` columns); return the text
        when ``path`` is None."""
        buf = io.StringIO()
        w = csv.writer(buf)
        header = ["row"]
        for k in self.columns:
            header.append(self._header(k))
            if k in self.std:
                header.append(
                    f"{k}_std ({self.units[k]})" if self.units[k] else f"{k}_std"
                )
        w.writerow(header)
        for i, label in enumerate(self.index):
            row = [label]
            for k, v in self.columns.items():
                row.append(v[i].item() if hasattr(v[i], "item") else v[i])
                if k in self.std:
                    row.append(self.std[k][i].item())
            w.writerow(row)
        text = buf.getvalue()
        if path is None:
            return text
        with open(path, "w", newline="", encoding="utf-8") as f:
            f.write(text)
        return None

    def to_pandas(self):
        """A ``pandas.DataFrame`` (pandas must be installed); units in ``attrs``."""
        import pandas as pd

        df = pd.DataFrame({k: v for k, v in self.columns.items()}, index=self.index)
        for k, v in self.std.items():
            df[f"{k}_std"] = v
        df.attrs["units"] = dict(self.units)
        df.attrs["title"] = self.title
        return df

    # -- persistence ---------------------------------------------------------------
    def to_metadata(self, metadata, name):
        """Store under ``metadata.Results.<name>`` (survives .hspy and .zspy)."""
        metadata.set_item(
            f"{_NODE}.{name}", json.dumps(self.to_dict(), default=_jsonable)
        )

    @classmethod
    def from_metadata(cls, metadata, name):
        """Read ``metadata.Results.<name>``."""
        key = f"{_NODE}.{name}"
        if not metadata.has_item(key):
            have = (
                list(metadata.get_item(_NODE).keys())
                if metadata.has_item(_NODE)
                else []
            )
            raise KeyError(f"No table {name!r} in metadata.Results (have {have}).")
        return cls.from_dict(json.loads(metadata.get_item(key)))

    def __eq__(self, other):
        if not isinstance(other, ResultTable):
            return NotImplemented

        def key(t):
            return json.dumps(t.to_dict(), sort_keys=True, default=_jsonable)

        return key(self) == key(other)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
