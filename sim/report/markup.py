"""HTML pieces of the report: escaped text, a figure with its caption, a table."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


def e(x: Any) -> str:
    """Text escaped for HTML."""
    return html.escape(str(x), quote=True)


@dataclass
class Chart:
    """A chart embedded as a PNG data URI, with its caption."""

    id: str
    title: str
    alt: str
    uri: str
    caption: str = ""

    def html(self) -> str:
        """The <figure> element."""
        cap = f"<figcaption><strong>{e(self.title)}.</strong> {e(self.caption)}</figcaption>"
        return (f'<figure id="{e(self.id)}-figure"><img id="{e(self.id)}" src="{self.uri}" '
                f'alt="{e(self.alt)}">{cap}</figure>')


def table(headers: list[str], rows: list[list[str]], num_cols: set[int] | None = None,
           cls: str = "", raw: bool = False) -> str:
    """An HTML table; cells are escaped unless raw (then they are HTML already)."""
    num_cols = num_cols or set()
    th = "".join(f'<th{" class=num" if k in num_cols else ""}>{e(h)}</th>' for k, h in enumerate(headers))
    body = []
    for r in rows:
        if len(r) == 1:  # a section row spanning the table
            body.append(f'<tr class="section"><td colspan="{len(headers)}">{r[0] if raw else e(r[0])}</td></tr>')
            continue
        tds = "".join(f'<td{" class=num" if k in num_cols else ""}>{c if raw else e(c)}</td>'
                      for k, c in enumerate(r))
        body.append(f"<tr>{tds}</tr>")
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table>'
