"""HTML building blocks of the report: escaping, number formatting, tables (also of any small
JSON), embedded figures and the page itself. Self-contained: no external CSS, script or image."""

from __future__ import annotations

import base64
import html
import json
import math
import re
from typing import Any

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1f3b57;color:#fff;padding:18px 32px}
header h1{margin:0 0 4px;font-size:24px} header p{margin:0;opacity:.85}
nav{display:flex;flex-wrap:wrap;row-gap:2px;background:#fff;border-bottom:1px solid #dde1e6;padding:8px 32px;position:sticky;top:0;z-index:2}
nav a{margin-right:14px;color:#1f5c99;text-decoration:none;font-size:14px;white-space:nowrap}
main{max-width:1200px;margin:0 auto;padding:8px 32px 48px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:20px 0;padding:6px 22px 16px}
h2{border-bottom:2px solid #1f3b57;padding-bottom:4px} h3{margin:18px 0 6px;color:#1f3b57}
table{border-collapse:collapse;margin:8px 0 14px;font-size:13.5px}
th,td{border:1px solid #d5d9de;padding:3px 9px;text-align:right}
th{background:#eef1f5} td:first-child,th:first-child{text-align:left}
tr.hl td{background:#fff4d6}
.cols{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
figure{margin:14px 0 22px} figure img{max-width:100%;height:auto;border:1px solid #e3e6ea}
figcaption{font-size:13.5px;color:#444;max-width:1000px} figcaption b{color:#1d2330}
.note{color:#555;font-size:13.5px} .missing{color:#9a3412}
code,pre{background:#f0f2f5;padding:1px 4px;border-radius:3px;font-size:13px}
pre{padding:8px;overflow:auto}
"""


def esc(x: Any) -> str:
    return html.escape(str(x))


def strip_tags(s: str) -> str:
    """Plain text of a small HTML fragment (for the missing list the flow prints)."""
    return html.unescape(re.sub(r"<[^>]+>", "", s))


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:,.{digits}g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"
    return esc(v)


class Raw(str):
    """Already-escaped HTML for a table cell."""


def table(header: list[str], rows: list[list[Any]], highlight: set[int] | None = None) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        cls = ' class="hl"' if highlight and k in highlight else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{c if isinstance(c, Raw) else fmt(c)}</td>"
                                           for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (int, float, str, bool))


def _records(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    cols: list[str] = []
    for v in rows:
        cols += [c for c in v if c not in cols]
    return cols, [[v.get(c) for c in cols] for v in rows]


def json_html(obj: Any, depth: int = 0) -> str:
    """Any small JSON as tables where it has a table's shape, else nested headings / <pre>."""
    def flat_dicts(vs: Any) -> bool:
        return all(isinstance(v, dict) and all(_scalar(x) for x in v.values()) for v in vs)

    if isinstance(obj, dict) and obj and flat_dicts(obj.values()):
        cols, rows = _records(list(obj.values()))
        return table(["", *cols], [[k, *row] for k, row in zip(obj, rows, strict=True)])
    if isinstance(obj, dict) and obj and all(_scalar(v) for v in obj.values()):
        return table(["", "value"], [[k, v] for k, v in obj.items()])
    if isinstance(obj, list) and obj and flat_dicts(obj):
        return table(*_records(obj))
    if isinstance(obj, dict) and depth < 3:
        parts = []
        scalars = {k: v for k, v in obj.items() if _scalar(v)}
        if scalars:
            parts.append(json_html(scalars, depth + 1))
        for k, v in obj.items():
            if not _scalar(v):
                parts.append(f"<h4>{esc(k)}</h4>{json_html(v, depth + 1)}")
        return "".join(parts)
    return f"<pre>{esc(json.dumps(obj, indent=1)[:4000])}</pre>"


def figure_html(png: bytes, title: str, caption: str) -> str:
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{b64}" alt="{esc(title)}">'
            f"<figcaption><b>{esc(title)}.</b> {esc(caption)}</figcaption></figure>")


def page(run: str, subtitle: str, sections: list[tuple[str, str, list[str]]]) -> str:
    """The whole document: header, a navigation bar, one <section> per (id, heading, parts)."""
    nav = "".join(f'<a href="#{k}">{esc(h)}</a>' for k, h, _ in sections)
    parts = [f'<section id="{k}"><h2>{esc(h)}</h2>{"".join(body)}</section>'
             for k, h, body in sections]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>zspace report: {esc(run)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>zspace report: {esc(run)}</h1><p>{esc(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{''.join(parts)}</main></body></html>")
