"""report.md: the report blocks as Markdown, images linked by their path inside the report folder."""

from __future__ import annotations

from autoseg.benchmark.report_content import Block


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "list":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "code":
            lines += ["```", block[1], "```", ""]
        elif kind == "table":
            headers, rows, note = block[1], block[2], block[3]
            lines.append("| " + " | ".join(map(_cell, headers)) + " |")
            lines.append("|" + "---|" * len(headers))
            lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
            lines += ["", f"*{note}*" if note else "", ""]
        elif kind == "images":
            for path, caption in block[1]:
                lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"
