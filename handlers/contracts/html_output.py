"""HTML rendering of a contract document (shown in the browser and fed to the PDF renderer)."""

from __future__ import annotations

from html import escape

from handlers.contracts.document import (
    Block,
    Clause,
    ContractDocument,
    Heading,
    Paragraph,
    Signatures,
    Table,
)

# WenQuanYi Zen Hei is what the Debian package fonts-wqy-zenhei installs; without a CJK font
# every Chinese character in the PDF would be an empty box.
FONT_FAMILY = '"WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif'

_STYLE = f"""
@page {{ size: A4; margin: 20mm 18mm; }}
body {{ font-family: {FONT_FAMILY}; font-size: 11pt; line-height: 1.6; color: #000; }}
h1 {{ text-align: center; font-size: 18pt; margin: 0 0 12pt; }}
h2 {{ font-size: 13pt; margin: 14pt 0 6pt; }}
p.clause .number {{ font-weight: bold; margin-right: 0.5em; }}
table.grid {{ border-collapse: collapse; width: 100%; margin: 6pt 0; }}
table.grid td, table.grid th {{ border: 1px solid #000; padding: 3pt 6pt; text-align: left;
  vertical-align: top; }}
table.grid th {{ background: #eee; }}
table.grid tr > :first-child {{ width: 24%; }}
table.signatures {{ width: 100%; margin-top: 24pt; }}
table.signatures td {{ width: 50%; vertical-align: top; padding: 0 6pt; }}
table.signatures p {{ margin: 4pt 0; }}
"""


def render_html(document: ContractDocument) -> str:
    """Return a complete, self-contained HTML page for ``document``."""
    body = "\n".join(_block(block) for block in document.blocks)
    title = escape(document.title)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    )


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{escape(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h2>{escape(block.text)}</h2>"
    if isinstance(block, Clause):
        return (
            f'<p class="clause"><span class="number">{escape(block.number)}</span>'
            f"{escape(block.text)}</p>"
        )
    if isinstance(block, Table):
        rows = []
        for row in block.rows:
            cells = "".join(
                f"<th>{escape(cell.text)}</th>" if cell.header else f"<td>{escape(cell.text)}</td>"
                for cell in row
            )
            rows.append(f"<tr>{cells}</tr>")
        return '<table class="grid">\n' + "\n".join(rows) + "\n</table>"
    return _signatures(block)


def _signatures(block: Signatures) -> str:
    columns = []
    for party in block.parties:
        lines = "".join(f"<p>{escape(line)}</p>" for line in party.lines)
        columns.append(f"<td><p><strong>{escape(party.title)}</strong></p>{lines}</td>")
    return '<table class="signatures"><tr>' + "".join(columns) + "</tr></table>"
