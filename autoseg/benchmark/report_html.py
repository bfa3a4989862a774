"""report.html: the report blocks as one self-contained page (inline CSS, images embedded as base64), so it can
be mailed or archived as a single file."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from autoseg.benchmark.report_content import Block

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
       padding: 0 1rem; color: #1d2329; line-height: 1.45; }
h1 { border-bottom: 2px solid #2b6cb0; padding-bottom: .3rem; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #cbd5e0; padding-bottom: .2rem; }
h3 { margin-top: 1.6rem; color: #2c5282; }
table { border-collapse: collapse; margin: .6rem 0 .2rem; font-size: .9rem; }
th, td { border: 1px solid #cbd5e0; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #edf2f7; }
tr:nth-child(even) td { background: #f7fafc; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #4a5568; font-size: .85rem; margin: 0 0 1rem; max-width: 60rem; }
pre { background: #f7fafc; border: 1px solid #e2e8f0; padding: .6rem; overflow-x: auto; white-space: pre-wrap;
      word-break: break-all; }
figure { margin: 1rem 0; }
figure img { max-width: min(100%, 900px); border: 1px solid #e2e8f0; }
figcaption { color: #4a5568; font-size: .9rem; }
.failed { color: #c53030; font-weight: 600; }
"""


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _cell(text: str, tag: str) -> str:
    text = str(text)
    css = ' class="num"' if tag == "td" and _is_number(text) else ""
    if tag == "td" and text.startswith("failed"):
        css = ' class="failed"'
    return f"<{tag}{css}>{html.escape(text)}</{tag}>"


def _list_item(text: str) -> str:
    css = ' class="failed"' if text.startswith("FAILED") else ""
    return f"<li{css}>{html.escape(text)}</li>"


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def render_html(blocks: list[Block], report_dir: Path, title: str = "autoseg benchmark") -> str:
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>"
    ]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "list":
            items = "".join(_list_item(str(item)) for item in block[1])
            parts.append(f"<ul>{items}</ul>")
        elif kind == "code":
            parts.append(f"<pre>{html.escape(block[1])}</pre>")
        elif kind == "table":
            headers, rows, note = block[1], block[2], block[3]
            head = "".join(_cell(h, "th") for h in headers)
            body = "".join("<tr>" + "".join(_cell(c, "td") for c in row) + "</tr>" for row in rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            if note:
                parts.append(f'<p class="note">{html.escape(note)}</p>')
        elif kind == "images":
            for path, caption in block[1]:
                source = report_dir / path
                if source.is_file():
                    parts.append(
                        f'<figure><img src="{_image(source)}" alt="{html.escape(caption)}">'
                        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
                    )
    parts.append("</body></html>")
    return "\n".join(parts)
