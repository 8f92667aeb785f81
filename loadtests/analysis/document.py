"""A report as a list of blocks (headings, paragraphs, tables, images), rendered twice: Markdown and a
self-contained HTML page (PNG plots inlined), so the two can never disagree."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Table:
    headers: list[str]
    rows: list[list[object]]


@dataclass
class Image:
    path: Path
    alt: str


Block = Heading | Paragraph | Table | Image

STYLE = (
    "body{font:14px/1.45 system-ui,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.2em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
    "th{background:#f4f4f4}img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:0 3px}"
    "h2{margin-top:1.6em;border-bottom:1px solid #ddd}"
)


@dataclass
class Doc:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def h2(self, text: str) -> None:
        self.blocks.append(Heading(text))

    def p(self, text: str) -> None:
        self.blocks.append(Paragraph(text))

    def table(self, headers: list[str], rows: list[list[object]]) -> None:
        self.blocks.append(Table(headers, rows))

    def img(self, path: Path, alt: str) -> None:
        self.blocks.append(Image(path, alt))

    def markdown(self, base: Path) -> str:
        out = [f"# {self.title}", ""]
        for b in self.blocks:
            if isinstance(b, Heading):
                out += [f"## {b.text}", ""]
            elif isinstance(b, Paragraph):
                out += [b.text, ""]
            elif isinstance(b, Table):
                out.append("| " + " | ".join(b.headers) + " |")
                out.append("|" + "|".join("---" for _ in b.headers) + "|")
                out += [
                    "| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |"
                    for row in b.rows
                ]
                out.append("")
            else:
                out += [f"![{b.alt}]({b.path.relative_to(base).as_posix()})", ""]
        return "\n".join(out)

    def html(self) -> str:
        out = [
            "<!doctype html><html lang=en><head><meta charset=utf-8>",
            f"<title>{html.escape(self.title)}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{html.escape(self.title)}</h1>",
        ]
        for b in self.blocks:
            if isinstance(b, Heading):
                out.append(f"<h2>{html.escape(b.text)}</h2>")
            elif isinstance(b, Paragraph):
                # Inline code spans are the only Markdown the paragraphs use.
                parts = html.escape(b.text).split("`")
                out.append(
                    "<p>"
                    + "".join(f"<code>{s}</code>" if i % 2 else s for i, s in enumerate(parts))
                    + "</p>"
                )
            elif isinstance(b, Table):
                out.append(
                    "<table><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in b.headers)
                    + "</tr>"
                )
                for row in b.rows:
                    out.append(
                        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                    )
                out.append("</table>")
            else:
                data = base64.b64encode(b.path.read_bytes()).decode()
                out.append(
                    f'<p><img alt="{html.escape(b.alt)}" src="data:image/png;base64,{data}"></p>'
                )
        out.append("</body></html>")
        return "\n".join(out)

    def write(self, out_dir: Path) -> None:
        (out_dir / "report.md").write_text(self.markdown(out_dir))
        (out_dir / "report.html").write_text(self.html())
