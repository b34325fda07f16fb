"""One self-contained HTML file: figures embedded, no external resources."""

from __future__ import annotations

import html
from importlib import metadata

from hyperspy_perovskite.report._context import Number

__all__ = ["package_versions", "render_html"]

#: Packages whose versions the provenance lists.
PACKAGES = (
    "hyperspy-perovskite",
    "hyperspy",
    "exspy",
    "lumispy",
    "pyxem",
    "holospy",
    "rosettasciio",
    "numpy",
    "scipy",
    "numba",
    "dask",
    "matplotlib",
    "pint",
)

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #aaa;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left;vertical-align:top}
th{background:#f2f2f2}figure{margin:1em 0}figure img{max-width:100%}
figcaption{font-size:.92em;color:#444}
.warning{background:#fff4ce;border-left:4px solid #d9a400;padding:.4em .8em;
margin:.4em 0;font-size:.92em}
.failed{background:#fde2e1;border-left:4px solid #c62828;padding:.4em .8em}
.small{font-size:.85em;color:#555}code{background:#f4f4f4;padding:0 .2em}
nav li{margin:.1em 0}
"""


def package_versions():
    """``{distribution: version}`` of :data:`PACKAGES` (missing ones omitted)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _esc(x):
    return html.escape(str(x))


def _numbers_html(numbers, caption):
    rows = "".join(
        f"<tr><th>{_esc(n.name)}</th><td>{_esc(n.text())}</td>"
        f"<td class='small'>{_esc(n.note)}</td></tr>"
        for n in numbers
        if isinstance(n, Number)
    )
    cap = f"<caption>{_esc(caption)}</caption>" if caption else ""
    return f"<table class='numbers'>{cap}{rows}</table>"


def _item_html(item):
    if item.kind == "text":
        return f"<p>{_esc(item.payload)}</p>"
    if item.kind == "figure":
        return (
            f"<figure><img alt='{_esc(item.caption)}' "
            f"src='data:image/png;base64,{item.payload}'>"
            f"<figcaption>{_esc(item.caption)}</figcaption></figure>"
        )
    if item.kind == "table":
        return item.payload._repr_html_()
    if item.kind == "numbers":
        return _numbers_html(item.payload, item.caption)
    if item.kind == "warning":
        where = f" (during: {_esc(item.caption)})" if item.caption else ""
        return f"<div class='warning'><b>Warning</b>{where}: {_esc(item.payload)}</div>"
    raise ValueError(f"Unknown report item {item.kind!r}.")


def _section_html(ctx, root):
    parts = [f"<h2 id='{_esc(ctx.key)}'>{_esc(ctx.title)}</h2>"]
    if ctx.failed:
        parts.append(
            f"<div class='failed'><b>This section failed:</b> {_esc(ctx.failed)}</div>"
        )
    parts.extend(_item_html(i) for i in ctx.items)
    if ctx.saved:
        files = "".join(
            f"<li><code>{_esc(_rel(p, root))}</code></li>" for p in ctx.saved
        )
        parts.append(
            f"<p>Results saved (open with <code>hs.load</code>):</p><ul>{files}</ul>"
        )
    return "\n".join(parts)


def _rel(path, root):
    try:
        return path.relative_to(root)
    except ValueError:
        return path


def _provenance_html(provenance, contexts):
    p = provenance
    rows = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in p["run"].items()
    )
    versions = "".join(
        f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>"
        for k, v in p["versions"].items()
    )
    files = "".join(
        f"<tr><td>{_esc(f['section'])}.{_esc(f['option'])}</td>"
        f"<td><code>{_esc(f['path'])}</code></td><td>{f['bytes']}</td>"
        f"<td><code>{_esc(f['sha256'])}</code></td></tr>"
        for f in p["inputs"]
    )
    params = "".join(
        f"<tr><td>{_esc(c.key)}</td><td>{_esc(k)}</td><td><code>{_esc(v)}</code></td></tr>"
        for c in contexts
        for k, v in c.parameters.items()
    )
    timings = "".join(
        f"<tr><td>{_esc(c.key)}</td><td>{_esc(k)}</td><td>{v:.1f}</td></tr>"
        for c in contexts
        for k, v in c.timings.items()
    )
    return (
        "<h2 id='provenance'>Provenance</h2>"
        f"<table>{rows}</table><h3>Package versions</h3><table>{versions}</table>"
        "<h3>Input files</h3><table><tr><th>option</th><th>path</th><th>bytes</th>"
        f"<th>SHA-256</th></tr>{files}</table>"
        "<h3>Parameters (every option, defaults included)</h3><table><tr>"
        f"<th>section</th><th>option</th><th>value</th></tr>{params}</table>"
        "<h3>Step times</h3><table><tr><th>section</th><th>step</th><th>s</th></tr>"
        f"{timings}</table>"
    )


def render_html(title, contexts, provenance, root):
    """The report page.

    Parameters
    ----------
    title : str
    contexts : list of SectionContext
    provenance : dict
        ``run`` (dict), ``versions`` (dict), ``inputs`` (list of dict with
        ``section, option, path, bytes, sha256``).
    root : pathlib.Path
        Output folder (saved files are listed relative to it).

    Returns
    -------
    str
    """
    nav = "".join(
        f"<li><a href='#{_esc(c.key)}'>{_esc(c.title)}</a>"
        + (" (failed)" if c.failed else "")
        + "</li>"
        for c in contexts
    )
    body = "\n".join(_section_html(c, root) for c in contexts)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        f"<p class='small'>Written by hyperspy-perovskite "
        f"{_esc(provenance['versions'].get('hyperspy-perovskite', ''))} on "
        f"{_esc(provenance['run']['date (UTC)'])}.</p>"
        f"<nav><ul>{nav}<li><a href='#provenance'>Provenance</a></li></ul></nav>"
        f"{body}{_provenance_html(provenance, contexts)}</body></html>"
    )
