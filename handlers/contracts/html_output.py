"""HTML rendering of a contract document (shown in the browser and fed to the PDF renderer).

Printed (WeasyPrint), every page carries the contract number and 第 X 页 共 Y 页 in its bottom
margin (CSS page counters), an appendix starts a new page, and the signature block does not break.
"""

from __future__ import annotations

from html import escape

from handlers.contracts.document import (
    Block,
    Clause,
    ContractDocument,
    Heading,
    Item,
    Paragraph,
    Signatures,
    Span,
    Table,
)
from handlers.contracts.docx_output import ITEM_INDENT_PT, PAGE_MARGIN_MM

# WenQuanYi Zen Hei is what the Debian package fonts-wqy-zenhei installs; without a CJK font
# every Chinese character in the PDF would be an empty box.
FONT_FAMILY = '"WenQuanYi Zen Hei", "Noto Sans CJK SC", sans-serif'

_STYLE = f"""
@page {{ size: A4; margin: {PAGE_MARGIN_MM}mm;
  @bottom-center {{ font-family: {FONT_FAMILY}; font-size: 9pt; }} }}
body {{ font-family: {FONT_FAMILY}; font-size: 10.5pt; line-height: 1.6; color: #000; }}
h1 {{ text-align: center; font-size: 18pt; margin: 0 0 12pt; }}
h2 {{ font-size: 12pt; margin: 12pt 0 4pt; break-after: avoid; }}
h2.new-page {{ break-before: page; }}
p {{ margin: 3pt 0; text-align: justify; }}
p.clause .number {{ font-weight: bold; }}
p.item {{ margin-left: {ITEM_INDENT_PT}pt; }}
table.grid {{ border-collapse: collapse; width: 100%; margin: 6pt 0; }}
table.grid td, table.grid th {{ border: 1px solid #000; padding: 3pt 6pt; text-align: left;
  vertical-align: top; }}
table.grid th {{ background: #eee; }}
table.grid tr > :first-child {{ width: 20%; }}
strong.em {{ text-decoration: underline; }}
table.grid tr {{ break-inside: avoid; }}
div.signatures {{ break-inside: avoid; margin-top: 18pt; }}
table.signatures {{ width: 100%; margin-top: 12pt; }}
table.signatures td {{ vertical-align: top; padding: 0 6pt; }}
table.signatures p {{ margin: 6pt 0; }}
"""


def render_html(document: ContractDocument) -> str:
    """Return a complete, self-contained HTML page for ``document``."""
    body = "\n".join(_block(block) for block in document.blocks)
    title = escape(document.title)
    footer = (
        f'@page {{ @bottom-center {{ content: {_css_string(f"合同编号：{document.number}　　第 ")} counter(page) '
        '" 页 共 " counter(pages) " 页"; } }\n'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n<style>{_STYLE}{footer}</style>\n</head>\n"
        f"<body>\n<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
    )


def _css_string(text: str) -> str:
    """``text`` as a quoted CSS string that cannot end the string or the style element."""
    return '"' + "".join(c if c.isalnum() or c in " 　：-_" else f"\\{ord(c):x} " for c in text) + '"'


def _spans(spans: tuple[Span, ...]) -> str:
    # WeasyPrint cannot embolden a CJK font without a bold face: the underline carries the emphasis there.
    return "".join(f'<strong class="em">{escape(s.text)}</strong>' if s.bold else escape(s.text) for s in spans)


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{_spans(block.spans)}</p>"
    if isinstance(block, Item):
        return f'<p class="item">{_spans(block.spans)}</p>'
    if isinstance(block, Heading):
        css = ' class="new-page"' if block.new_page else ""
        return f"<h2{css}>{escape(block.text)}</h2>"
    if isinstance(block, Clause):
        return (
            f'<p class="clause"><span class="number">{escape(block.label)}</span>'
            f"{_spans(block.spans)}</p>"
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
    lead = "".join(f"<p>{_spans(paragraph.spans)}</p>" for paragraph in block.lead)
    width = 100 // max(len(block.parties), 1)
    columns = []
    for party in block.parties:
        lines = "".join(f"<p>{escape(line)}</p>" for line in party.lines)
        columns.append(f'<td style="width: {width}%"><p><strong>{escape(party.title)}</strong></p>{lines}</td>')
    return (
        f'<div class="signatures">{lead}<table class="signatures"><tr>'
        + "".join(columns)
        + "</tr></table></div>"
    )
